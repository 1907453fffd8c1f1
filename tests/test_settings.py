"""A ``FORECASTER_*`` variable the service cannot run with stops start-up with one line naming
it: a bad number, a bad schedule or URL, a database that cannot be reached; a misspelt one is
named rather than silently ignored."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

import forecaster.settings
from forecaster.errors import ConfigurationError
from forecaster.logs import without_password
from forecaster.settings import load_settings
from forecaster.storage.db import Database
from tests.conftest import POSTGRES_URL

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("FORECASTER_PORT", "abc", "valid integer"),
        ("FORECASTER_PORT", "70000", "less than or equal to 65535"),
        ("FORECASTER_TRAINING_DAYS", "-3", "greater than 0"),
        ("FORECASTER_MAX_POINTS_PER_BATCH", "lots", "valid integer"),
        ("FORECASTER_AUTH_ENABLED", "maybe", "valid boolean"),
        ("FORECASTER_TRAIN_SCHEDULE", "61 * * * *", "higher than the maximum"),
        ("FORECASTER_RETENTION_FORECAST_DAYS", "0", "greater than 0"),
        ("FORECASTER_DATABASE_URL", "notaurl", "not a database URL"),
        ("FORECASTER_DATABASE_URL", "mysql://app@db/forecaster", "mysql is not supported"),
        ("FORECASTER_PROMETHEUS_URL", "prometheus:9090", "not an http(s) URL"),
        ("FORECASTER_PROMETHEUS_URL", "http://prometheus:99999", "not a URL"),
        ("FORECASTER_REMOTE_WRITE_METRIC_MAP", "{vllm: rps", "not valid JSON"),
        # each of these was a traceback deep in a job: a date or a timer overflowed
        ("FORECASTER_RETENTION_RAW_DAYS", "inf", "finite number"),
        ("FORECASTER_TRAINING_DAYS", "nan", "finite number"),
        ("FORECASTER_RETENTION_RECORDS_DAYS", "1e6", "less than or equal to 36500"),
        ("FORECASTER_SCHEDULER_STOP_GRACE_SECONDS", "inf", "finite number"),
        ("FORECASTER_SCHEDULER_LOCK_RETRY_SECONDS", "1e9", "less than or equal to 3600"),
        ("FORECASTER_TRAIN_SCHEDULE", "every 3000000d", "an interval of at most 366 days"),
        # accepted, these failed later: an overflow in a push, training elsewhere than asked
        ("FORECASTER_ACTUATION_INTERVAL_SECONDS", "1e300", "less than or equal to 31622400"),
        ("FORECASTER_ACTUATOR_READ_TIMEOUT_SECONDS", "1e9", "less than or equal to 3600"),
        ("FORECASTER_DASK_SCHEDULER", "foo", "not a Dask scheduler address"),
        ("FORECASTER_DASK_SCHEDULER", "tcp://dask", "not a Dask scheduler address"),
        ("FORECASTER_HOST", "", "at least 1 character"),  # served every interface
        ("FORECASTER_LOG_LEVEL", "WARN", "use one of DEBUG, INFO, WARNING, ERROR"),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    message = str(raised.value)
    assert message.startswith(name) and problem in message
    assert "\n" not in message and "pydantic" not in message


def test_a_password_in_a_bad_url_is_not_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORECASTER_DATABASE_URL", "oracle://app:s3cret@db/forecaster")
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    assert "s3cret" not in str(raised.value) and "app:***@db" in str(raised.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://app:Sl/sh5ecret@db/forecaster", "app:***@db"),
        ("postgresql+psycopg://app@db/forecaster?password=Query5ecret", "?password=***"),
    ],
)
def test_a_password_sqlalchemy_reads_is_masked_too(url: str, shown: str) -> None:
    """SQLAlchemy takes a '/' in a URL's password and a password query parameter: both were
    shown whole in start-up errors (found by a security review)."""
    assert "5ecret" not in without_password(f"cannot connect to the database {url}: refused")
    assert shown in without_password(url)


def test_a_port_followed_by_an_at_later_is_not_taken_for_a_password() -> None:
    """The mask runs over every log line: a URL with a port and an '@' further on (an email in
    a path, PromQL's @ modifier) was cut as if it held a password (review)."""
    for text in (
        "GET https://git.example:443/users/bob@example.com/keys",
        "http://prom:9090/api/v1/query?query=rate(x[5m])@1700000000",
    ):
        assert without_password(text) == text


def test_a_misspelt_variable_is_named_once_however_often_settings_are_read(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(forecaster.settings, "_WARNED_OF", set())  # whatever ran before
    monkeypatch.setenv("FORECASTER_TRAIN_SCHEDUEL", "0 4 * * *")
    with caplog.at_level(logging.WARNING, logger="forecaster.settings"):
        load_settings()
        load_settings()
    assert "did you mean FORECASTER_TRAIN_SCHEDULE?" in caplog.text
    assert caplog.text.count("FORECASTER_TRAIN_SCHEDUEL is not a setting") == 1


def test_a_database_that_cannot_be_reached_is_one_line(
    postgres_available: bool, tmp_path: Path
) -> None:
    urls = [f"sqlite:///{tmp_path / 'missing-folder' / 'forecaster.db'}"]
    if postgres_available:  # a real server, a database that does not exist on it
        urls.append(POSTGRES_URL.rsplit("/", 1)[0] + "/no_such_database_here")
    for url in urls:
        database = Database(url)
        try:
            with pytest.raises(ConfigurationError) as raised:
                database.migrate()
        finally:
            database.dispose()
        assert "FORECASTER_DATABASE_URL" in str(raised.value)
        assert "\n" not in str(raised.value)
        if url.startswith("sqlite"):  # SQLite's own words do not say which of two it was
            assert f"the folder {tmp_path / 'missing-folder'} does not exist" in str(raised.value)


def test_a_schema_newer_than_this_code_is_one_line(tmp_path: Path) -> None:
    """A rollback after a newer version migrated the database crash-looped every pod with a
    hundred-line Alembic traceback."""
    database = Database(f"sqlite:///{tmp_path / 'forecaster.db'}")
    try:
        database.migrate()
        with database.engine.begin() as connection:
            connection.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
        with pytest.raises(ConfigurationError) as raised:
            database.migrate()
    finally:
        database.dispose()
    assert "Can't locate revision identified by '9999'" in str(raised.value)
    assert "a newer version migrated" in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FORECASTER_PORT", "-1"),
        ("FORECASTER_DATABASE_URL", "postgresql://forecaster:pw@127.0.0.1:9/forecaster"),
        ("FORECASTER_LOG_LEVEL", "verbose"),  # read as logging is set up, before the settings
    ],
)
def test_serve_stops_with_one_line_not_a_traceback(name: str, value: str) -> None:
    env = {**os.environ, name: value, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", "from forecaster.cli import main; main()", "serve"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and name in lines[0], done.stderr
    assert "pw@" not in lines[0]
