"""Commands run in one process with the API's tests and the scheduler: each gives its
database connections back when it ends."""

from __future__ import annotations

import gc
import warnings

import pytest
from typer.testing import CliRunner

from forecaster.cli import app
from forecaster.settings import get_settings


@pytest.mark.postgres
@pytest.mark.parametrize(
    "command",
    [
        ["pull"],
        ["retention"],
        ["actuate"],
        ["events", "list", "--service", "chat"],
        ["exclusions", "list", "--service", "chat"],
        ["runs", "--service", "chat"],
        ["train"],
        ["train", "--service", "chat"],
        ["plan", "--service", "chat"],
        ["status"],
        ["keys", "list"],
    ],
)
def test_a_command_leaves_no_connection_open(
    command: list[str], postgres_schema_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An engine the command dropped without disposing of kept an idle PostgreSQL connection
    until the garbage collector found it, which then warned in whatever test was running."""
    monkeypatch.setenv("FORECASTER_DATABASE_URL", postgres_schema_url)
    get_settings.cache_clear()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = CliRunner().invoke(app, command)
            gc.collect()
    finally:
        get_settings.cache_clear()
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    left_open = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert left_open == []
