"""``forecaster pull`` and ``forecaster retention`` run the ingestion jobs once."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forecaster.cli import app
from forecaster.profiles import PrometheusSource, ScalingProfile
from forecaster.settings import get_settings
from forecaster.storage.db import Database
from forecaster.storage.failures import DAMAGED_DATA
from forecaster.storage.services import list_services, upsert_service
from tests.helpers import free_port, live_server, prometheus_answering


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("FORECASTER_DATABASE_URL", url)
    monkeypatch.setenv("FORECASTER_PROMETHEUS_BACKOFF_SECONDS", "0")
    get_settings.cache_clear()
    db = Database(url)
    db.migrate()
    source = PrometheusSource(metric="requests_per_second", query="sum(up)")
    with db.session() as session:
        upsert_service(
            session=session,
            name="chat",
            profile=ScalingProfile(capacity_per_replica=5, prometheus=[source]),
        )
    yield db
    db.dispose()
    get_settings.cache_clear()


def test_pull_reports_an_unreachable_prometheus_and_exits_non_zero(database: Database) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(app, ["pull", "--prometheus-url", url])
    assert result.exit_code == 1
    assert "chat requests_per_second: 0 points" in result.output
    assert "unreachable after" in result.output


def test_pull_says_which_series_it_ignored_for_their_labels(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORECASTER_PROMETHEUS_BACKFILL_DAYS", "1")
    answer = prometheus_answering([{"region": "eu"}, {"region": "us", "*": "sum"}])
    with live_server(answer) as url:
        result = CliRunner().invoke(app, ["pull", "--prometheus-url", url])
    assert result.exit_code == 0, result.output
    assert re.search(r": (\d+) points in \d+ chunks \(1 series, \1 points ignored", result.output)
    assert 'label name "*" is reserved' in result.output


def test_a_profile_whose_prometheus_source_names_a_reserved_label_is_refused(
    database: Database, tmp_path: Path
) -> None:
    profile = tmp_path / "profile.yaml"
    profile.write_text(
        "capacity_per_replica: 5\n"
        "prometheus:\n"
        "  - {metric: requests_per_second, query: sum(up), labels: {'*': everything}}\n"
    )
    csv = tmp_path / "load.csv"
    csv.write_text("timestamp,value\n1704067200,1.0\n")
    result = CliRunner().invoke(
        app, ["ingest", str(csv), "--service", "new", "--profile", str(profile)]
    )
    assert result.exit_code == 2
    assert 'profile.yaml: prometheus.0.labels: label name "*" is reserved' in result.output
    with database.session() as session:
        assert [service.name for service in list_services(session=session)] == ["chat"]


@pytest.mark.parametrize("name", ["my svc", "a/b", "ünï", "-lead", "x" * 129])
def test_ingest_refuses_a_service_name_the_api_could_not_address(
    database: Database, tmp_path: Path, name: str
) -> None:
    profile = tmp_path / "profile.yaml"
    profile.write_text("capacity_per_replica: 5\n")
    csv = tmp_path / "load.csv"
    csv.write_text("timestamp,value\n1704067200,1.0\n")
    result = CliRunner().invoke(
        app, ["ingest", str(csv), "--service", name, "--profile", str(profile)]
    )
    assert result.exit_code != 0
    assert "is not allowed: use letters, digits" in result.output
    with database.session() as session:
        assert [service.name for service in list_services(session=session)] == ["chat"]


def test_retention_runs_once_and_says_what_it_did(database: Database) -> None:
    result = CliRunner().invoke(app, ["retention", "--raw-days", "3"])
    assert result.exit_code == 0, result.output
    assert "chat: 0 raw points rolled up into 0 300s buckets" in result.output
    for days in ("nan", "inf", "0", "1e9"):  # nan and inf were tracebacks
        refused = CliRunner().invoke(app, ["retention", "--raw-days", days])
        assert refused.exit_code == 2, days
        assert "--raw-days must be a positive number of days, at most 36500" in refused.output


def test_retention_over_a_damaged_json_value_names_the_fix_and_not_a_retry(
    database: Database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Pruning old model runs reads their params through SQLite's JSON functions, which say
    "malformed JSON" of a row changed by hand: an operational error, read as passing ("run it
    again shortly", the API's "retry shortly"), though every run fails on the same row."""
    from forecaster.cli import main

    path = database.engine.url.database
    assert path is not None
    with sqlite3.connect(path) as connection:
        connection.execute(
            "INSERT INTO series (service_id, metric, labels, labels_key) "
            "VALUES (1, 'requests_per_second', '{}', '')"
        )
        for params in ('{"training": "a"}', '{"training": '):  # the champion, a run damaged
            connection.execute(
                "INSERT INTO model_runs (series_id, model, params, step_seconds, scores, "
                "calibration, status, is_champion, created_at) VALUES (1, 'mstl', ?, 300, '{}', "
                "'{}', 'ok', ?, '2020-01-01 00:00:00.000000')",
                (params, params.endswith('"a"}')),
            )
    monkeypatch.setattr("sys.argv", ["forecaster", "retention"])
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: the database failed: malformed JSON; what the command had not committed is not "
        f"stored; {DAMAGED_DATA}"
    )


def test_ingest_with_a_profile_keeps_a_disabled_service_disabled(
    database: Database, tmp_path: Path
) -> None:
    """QA: ``ingest --profile`` turned a service disabled by PUT {"enabled": false} back on and
    said nothing; the file may set ``enabled`` as the PUT body does, and not setting it keeps
    the stored state."""
    with database.session() as session:
        upsert_service(
            session=session,
            name="chat",
            profile=ScalingProfile(capacity_per_replica=5),
            enabled=False,
        )
    csv = tmp_path / "load.csv"
    csv.write_text("timestamp,value\n1704067200,1.0\n")
    profile = tmp_path / "profile.yaml"

    def ingest(text: str) -> tuple[int, str, bool]:
        profile.write_text(text)
        result = CliRunner().invoke(
            app, ["ingest", str(csv), "--service", "chat", "--profile", str(profile)]
        )
        with database.session() as session:
            enabled = next(s.enabled for s in list_services(session=session) if s.name == "chat")
        return result.exit_code, result.output, enabled

    code, output, enabled = ingest("capacity_per_replica: 8\n")
    assert (code, enabled) == (0, False), output
    assert "service is disabled: not re-planned" in output
    assert "note: chat is disabled: nothing trains, plans or actuates it" in output
    code, output, enabled = ingest("capacity_per_replica: 8\nenabled: maybe\n")
    assert code == 2 and "enabled: must be true or false, not 'maybe'" in output
    code, output, enabled = ingest("capacity_per_replica: 8\nenabled: true\n")
    assert (code, enabled) == (0, True), output
    assert "not re-planned: " in output and "is disabled" not in output
    code, output, enabled = ingest("capacity_per_replica: 8\nenabled: false\n")
    assert (code, enabled) == (0, False) and "note: chat is disabled" in output
    code, output, enabled = ingest("capacity_per_replica: 8\nenabled: on\n")
    assert (code, enabled) == (0, True), output  # as the PUT body reads it (review)


def test_pull_checks_its_prometheus_url_as_the_setting_is(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA: --prometheus-url skipped FORECASTER_PROMETHEUS_URL's check (settings.model_copy
    runs no validator): ``notaurl`` was retried for seconds and failed twice over; without any
    URL the error named the variable alone."""
    for url, problem in [
        ("notaurl", "not an http(s) URL such as http://prometheus:9090"),
        ("", "not an http(s) URL"),
        ("http://u:secret@host:99999", "not a URL (Port out of range"),
    ]:
        result = CliRunner().invoke(app, ["pull", "--prometheus-url", url])
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: --prometheus-url "), lines
        assert problem in lines[0] and "secret" not in lines[0]
    monkeypatch.delenv("FORECASTER_PROMETHEUS_URL", raising=False)
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["pull"])
    assert result.exit_code == 2
    assert "set FORECASTER_PROMETHEUS_URL (or pass `forecaster pull --prometheus-url`)" in (
        result.output
    )
