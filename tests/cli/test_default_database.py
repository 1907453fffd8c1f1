"""A command run without FORECASTER_DATABASE_URL uses ./forecaster.db, as the README says; the
one that creates it says so on stderr, naming the file and the setting (QA: a command run from
another folder quietly started an empty database there)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecaster.cli import app
from forecaster.settings import get_settings

runner = CliRunner()


@pytest.fixture
def no_database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FORECASTER_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path / "forecaster.db"
    get_settings.cache_clear()


@pytest.mark.parametrize(
    "command", [["status"], ["keys", "list"], ["events", "list", "--service", "chat"]]
)
def test_the_command_creating_the_default_database_says_which_file_once(
    no_database_url: Path, command: list[str]
) -> None:
    first = runner.invoke(app, command)
    assert no_database_url.exists()
    assert first.stderr.splitlines()[0] == (
        f"note: FORECASTER_DATABASE_URL is not set: creating the SQLite database "
        f"{no_database_url}; set FORECASTER_DATABASE_URL to use another"
    )
    assert "FORECASTER_DATABASE_URL" not in first.stdout
    again = runner.invoke(app, ["status"])
    assert again.exit_code == 0 and "FORECASTER_DATABASE_URL" not in again.stderr


def test_a_database_url_given_is_used_without_a_note(
    no_database_url: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORECASTER_DATABASE_URL", "sqlite:///forecaster.db")  # chosen, not default
    get_settings.cache_clear()
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0 and no_database_url.exists()
    assert result.stderr == ""
