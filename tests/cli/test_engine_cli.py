"""CLI: ``backtest`` prints the leaderboard (or JSON); ``events``/``exclusions`` manage windows;
``runs``, ``train`` and ``status`` on a stored service."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from forecaster.cli import app
from forecaster.settings import get_settings
from forecaster.storage.db import open_database
from forecaster.storage.failures import DAMAGED
from forecaster.storage.orm import Sample, Service
from forecaster.training.forecasting import forecast_each
from tests.helpers import damage_sqlite_file, ending_now, synthetic_traffic

runner = CliRunner()


def _csv(path: Path, days: float = 6, *, seed: int = 2, recent: bool = False) -> Path:
    """Hourly synthetic traffic as a CSV; ``recent``: ending at the last whole hour."""
    series = synthetic_traffic(days=days, step_seconds=3600, seed=seed)
    if recent:
        series = ending_now(series, step="1h")
    pd.DataFrame(
        {"timestamp": series.index.strftime("%Y-%m-%dT%H:%M:%SZ"), "value": series.to_numpy()}
    ).to_csv(path, index=False)
    return path


def test_backtest_prints_the_leaderboard(tmp_path: Path) -> None:
    csv = _csv(tmp_path / "h.csv")
    models = "seasonal_naive_daily,holt_winters,mstl"
    result = runner.invoke(
        app, ["backtest", "--input", str(csv), "--horizon", "12h", "--models", models]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    top = next(i for i, line in enumerate(lines) if line.startswith("model"))
    assert lines[top].split()[:6] == ["model", "MASE", "pinball", "p90", "cov", "p95"]
    rows = [line.split() for line in lines[top + 1 : -1]]
    assert {row[0] for row in rows} >= set(models.split(","))
    assert "champion" in lines[top + 1]  # a leaderboard: the champion first, then by MASE
    scored = [float(row[1]) for row in rows[1:] if row[1] != "-"]
    assert scored == sorted(scored)
    assert "champion:" in lines[-1]


def test_backtest_json_is_machine_readable(tmp_path: Path) -> None:
    csv = _csv(tmp_path / "h.csv")
    result = runner.invoke(
        app,
        [
            "backtest",
            "--input",
            str(csv),
            "--horizon",
            "6h",
            "--models",
            "seasonal_naive_daily,holt_winters",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["champion"] in {"seasonal_naive_daily", "holt_winters", "ensemble"}
    assert {row["model"] for row in payload["models"]} >= {"seasonal_naive_daily", "holt_winters"}
    assert all(0 <= row["coverage"]["p90"] <= 1 for row in payload["models"])


def test_a_fallback_is_a_row_of_the_leaderboard_as_the_service_lists_it(tmp_path: Path) -> None:
    """Found by a QA pass: a constant history's JSON listed no models, so a script reading
    ``models`` found no champion (the service's runs list the fallback as one)."""
    index = pd.date_range("2024-01-01", periods=200, freq="5min", tz="UTC")
    csv = tmp_path / "constant.csv"
    pd.DataFrame({"timestamp": index.strftime("%Y-%m-%dT%H:%M:%SZ"), "value": 7.0}).to_csv(
        csv, index=False
    )
    result = runner.invoke(app, ["backtest", "--input", str(csv), "--json"])
    assert result.exit_code == 0, result.output
    [row] = [row for row in json.loads(result.output)["models"] if row["champion"]]
    assert (row["model"], row["status"]) == ("seasonal_naive_daily", "fallback")
    assert "constant history" in row["message"]


def test_backtest_refuses_unknown_models(tmp_path: Path) -> None:
    csv = _csv(tmp_path / "h.csv", days=3)
    result = runner.invoke(app, ["backtest", "--input", str(csv), "--models", "nope"])
    assert result.exit_code == 2 and "unknown" in result.output
    result = runner.invoke(app, ["backtest", "--input", str(csv), "--models", "mstl,ensemble"])
    assert result.exit_code == 2 and "the ensemble is not a candidate" in result.output


@pytest.fixture
def cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("FORECASTER_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear()
    profile = tmp_path / "profile.yaml"
    profile.write_text("step_seconds: 3600\ncapacity_per_replica: 10\n")
    csv = _csv(tmp_path / "h.csv", days=2)
    result = runner.invoke(
        app, ["ingest", str(csv), "--service", "chat", "--profile", str(profile)]
    )
    assert result.exit_code == 0, result.output
    yield
    get_settings.cache_clear()


def _ingest_and_train_fresh(tmp_path: Path) -> None:
    """Store three days of hourly load up to now as service "fresh" (the profile of
    ``cli_database``) and train it with seasonal-naive through the CLI."""
    csv = _csv(tmp_path / "recent.csv", days=3, recent=True)
    ingest = ["ingest", str(csv), "--service", "fresh", "--profile", str(tmp_path / "profile.yaml")]
    assert runner.invoke(app, ingest).exit_code == 0
    result = runner.invoke(app, ["train", "--service", "fresh", "--model", "seasonal_naive_daily"])
    assert result.exit_code == 0, result.output


def test_runs_of_an_untrained_service_says_to_train_it(cli_database: None) -> None:
    result = runner.invoke(app, ["runs", "--service", "chat"])
    assert result.exit_code == 2
    assert 'service "chat" has no model runs yet; train it first' in result.output


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling only")
def test_train_fits_at_the_priority_of_the_person_waiting(
    cli_database: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At idle priority any busy process on the host could starve a command a person waits on
    (the demo took 10 minutes beside a benchmark); the scheduled trainings keep yielding."""
    policies = []

    def watched(*args: Any, **kwargs: Any) -> Any:
        policies.append(os.sched_getscheduler(0))
        return forecast_each(*args, **kwargs)

    monkeypatch.setattr("forecaster.training.train.forecast_each", watched)
    _ingest_and_train_fresh(tmp_path)
    assert policies == [os.sched_getscheduler(0)] and policies[0] != os.SCHED_IDLE


def test_a_database_that_fails_under_a_command_is_one_line(
    cli_database: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """QA: on a full disk ``forecaster train`` printed screens of SQL traceback. Here the
    file is opened read-only, as SQLite would refuse any write the disk has no room for."""
    from forecaster.cli import main

    read_only = f"sqlite:///file:{tmp_path / 'cli.db'}?mode=ro&uri=true"
    monkeypatch.setenv("FORECASTER_DATABASE_URL", read_only)
    get_settings.cache_clear()
    monkeypatch.setattr(
        "sys.argv", ["forecaster", "train", "--service", "chat", "--model", "seasonal_naive_daily"]
    )
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 1
    assert capsys.readouterr().err.splitlines() == [
        "error: the database failed: attempt to write a readonly database; what the command "
        "had not committed is not stored; the service may not write the database: give the "
        "user it runs as write access to the SQLite file and its folder (or open it read-write)"
    ]


def test_a_table_gone_from_the_database_is_named_with_its_fix(
    cli_database: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A table dropped by hand (or a file swapped for an old backup at the same revision): the
    command's start-up migration finds nothing to do, and its failure says what to do."""
    from forecaster.cli import main

    with sqlite3.connect(tmp_path / "cli.db") as connection:
        connection.execute("DROP TABLE events")
    monkeypatch.setattr("sys.argv", ["forecaster", "events", "list", "--service", "chat"])
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 1
    assert capsys.readouterr().err.splitlines() == [
        "error: the database failed: no such table: events; what the command had not committed "
        "is not stored; the schema lacks a table or column this forecaster reads: restart it, as "
        "it migrates the database at start-up (/readyz names the schema's revision), or restore "
        "a backup if that revision is already the newest"
    ]


def test_a_damaged_database_file_is_named_with_its_fix(
    cli_database: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """SQLite reads a file's header as a connection opens: a damaged one stopped a command at
    "cannot connect", naming the URL's variable and nothing to do about the file."""
    from forecaster.cli import main

    path = tmp_path / "cli.db"
    damage_sqlite_file(path, header=True)
    monkeypatch.setattr("sys.argv", ["forecaster", "events", "list", "--service", "chat"])
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 2  # as for any database it cannot connect to
    assert capsys.readouterr().err.splitlines() == [
        f"error: cannot connect to the database sqlite:///{path} (FORECASTER_DATABASE_URL): "
        f"file is not a database; {DAMAGED}"
    ]


def test_train_says_what_is_wrong_with_a_model_or_service(cli_database: None) -> None:
    """An unknown model is refused before anything trains; an unknown service is reported by
    name like any service that cannot train (it was a NameError traceback)."""
    unknown_model = runner.invoke(app, ["train", "--service", "chat", "--model", "nope"])
    assert unknown_model.exit_code == 2
    assert 'unknown model "nope"; known: auto, ' in unknown_model.output
    unknown_service = runner.invoke(app, ["train", "--service", "nobody", "--model", "mstl"])
    assert unknown_service.exit_code == 1
    assert 'nobody: service "nobody" does not exist' in unknown_service.output
    assert unknown_service.exception is None or isinstance(unknown_service.exception, SystemExit)


def test_events_add_list_remove(cli_database: None) -> None:
    added = runner.invoke(
        app,
        [
            "events",
            "add",
            "--service",
            "chat",
            "--name",
            "launch",
            "--start",
            "2030-01-01T10:00Z",
            "--end",
            "2030-01-01T12:00Z",
            "--multiplier",
            "3",
        ],
    )
    assert added.exit_code == 0, added.output
    event_id = added.output.split()[1]
    listed = runner.invoke(app, ["events", "list", "--service", "chat"])
    assert "launch" in listed.output and " 3 " in listed.output
    bad = runner.invoke(
        app,
        [
            "events",
            "add",
            "--service",
            "chat",
            "--name",
            "x",
            "--start",
            "2030-01-02",
            "--end",
            "2030-01-01",
        ],
    )
    assert bad.exit_code == 2 and "after start" in bad.output
    removed = runner.invoke(app, ["events", "remove", event_id, "--service", "chat"])
    assert removed.exit_code == 0
    assert "launch" not in runner.invoke(app, ["events", "list", "--service", "chat"]).output


def test_text_that_is_not_utf8_is_refused_with_a_message(
    cli_database: None, tmp_path: Path
) -> None:
    """A byte that is not UTF-8 in an argument reaches Python as half a surrogate pair, which
    no database driver encodes: it was a UnicodeEncodeError traceback (exit 1)."""
    window = ["--start", "2030-01-01T10:00Z", "--end", "2030-01-01T12:00Z"]
    named = runner.invoke(
        app, ["events", "add", "--service", "chat", "--name", "launch\udcff", *window]
    )
    assert named.exit_code == 2 and "event name: text must not contain" in named.output
    reason = runner.invoke(
        app, ["exclusions", "add", "--service", "chat", "--reason", "INC\udcff", *window]
    )
    assert reason.exit_code == 2 and "reason: text must not contain" in reason.output
    # elsewhere (a service name on its way to a query) the entry point says what is wrong
    # ingest caught it as a ValueError: "error: 'utf-8' codec can't encode character '\\udcff'"
    csv = _csv(tmp_path / "chat.csv", days=1)
    for command in (["events", "list"], ["ingest", str(csv)]):
        argv = [sys.executable, "-m", "forecaster", *command, "--service", b"chat\xff"]
        listed = subprocess.run(argv, capture_output=True, text=True, env=os.environ.copy())
        assert listed.returncode == 2, listed.stderr
        assert "an argument is not UTF-8 text (bytes ff)" in listed.stderr


def test_exclusions_add_list_remove(cli_database: None) -> None:
    added = runner.invoke(
        app,
        [
            "exclusions",
            "add",
            "--service",
            "chat",
            "--start",
            "2024-01-01T03:00Z",
            "--end",
            "2024-01-01T05:00Z",
            "--reason",
            "outage",
        ],
    )
    assert added.exit_code == 0, added.output
    assert "outage" in runner.invoke(app, ["exclusions", "list", "--service", "chat"]).output
    exclusion_id = added.output.split()[1]
    assert (
        runner.invoke(app, ["exclusions", "remove", exclusion_id, "--service", "chat"]).exit_code
        == 0
    )
    missing = runner.invoke(app, ["exclusions", "remove", exclusion_id, "--service", "chat"])
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_forecast_takes_a_holiday_calendar_and_refuses_unknown_ones(tmp_path: Path) -> None:
    csv = _csv(tmp_path / "h.csv", days=4)
    out = tmp_path / "f.csv"
    base = ["forecast", "--input", str(csv), "--output", str(out), "--horizon", "6h"]
    good = runner.invoke(app, [*base, "--model", "seasonal_naive_daily", "--holidays", "us"])
    assert good.exit_code == 0, good.output
    assert len(pd.read_csv(out)) == 6
    bad = runner.invoke(app, [*base, "--holidays", "XX"])
    assert bad.exit_code == 2 and "unknown holiday country" in bad.output


def test_forecast_takes_a_holiday_subdivision_and_refuses_an_unknown_one(tmp_path: Path) -> None:
    csv = _csv(tmp_path / "h.csv", days=4)
    out = tmp_path / "f.csv"
    base = ["forecast", "--input", str(csv), "--output", str(out), "--horizon", "6h"]
    good = runner.invoke(app, [*base, "--model", "seasonal_naive_daily", "--holidays", "de-by"])
    assert good.exit_code == 0, good.output
    bad = runner.invoke(app, [*base, "--holidays", "DE-XX"])
    assert bad.exit_code == 2
    assert 'unknown subdivision "XX" of DE; use one of BB, BE, BW, BY,' in bad.output


def test_forecast_takes_a_holiday_code_with_spaces_or_in_alpha_3(tmp_path: Path) -> None:
    """`--holidays " DE-BY "` (a quoted paste) was refused as country " DE"; the package's
    alpha-3 codes read as their alpha-2 ones: the same forecast for every spelling."""
    csv = _csv(tmp_path / "h.csv", days=4)
    forecasts = []
    for i, code in enumerate((" DE-BY ", "DEU-BY", "de-by")):
        out = tmp_path / f"f{i}.csv"
        base = ["forecast", "--input", str(csv), "--output", str(out), "--horizon", "6h"]
        done = runner.invoke(app, [*base, "--model", "seasonal_naive_daily", "--holidays", code])
        assert done.exit_code == 0, done.output
        forecasts.append(out.read_text())
    assert forecasts[0] == forecasts[1] == forecasts[2]
    bad = runner.invoke(app, [*base, "--holidays", " xx "])
    assert bad.exit_code == 2 and 'unknown holiday country "xx"' in bad.output


def _stored_samples() -> int:
    with open_database(get_settings().database_url) as database, database.session() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(Sample)) or 0)


def test_ingest_reads_the_layouts_forecast_reads_and_refuses_a_bad_file_whole(
    cli_database: None, tmp_path: Path
) -> None:
    before = _stored_samples()
    start = int(pd.Timestamp("2020-01-01", tz="UTC").timestamp())
    headerless = tmp_path / "epoch.csv"
    headerless.write_text("".join(f"{start + 3600 * i},{10 + i}\n" for i in range(5)))
    result = runner.invoke(app, ["ingest", str(headerless), "--service", "chat"])
    assert result.exit_code == 0, result.output
    assert "no header row" in result.output and "stored 5 points" in result.output
    assert _stored_samples() == before + 5

    bad = tmp_path / "bad.csv"
    rows = [f"2021-01-01T0{i}:00:00Z,{i}" for i in range(4)] + ["2021-01-01T05:00:00Z,lots"]
    bad.write_text("time,rps\n" + "\n".join(rows) + "\n")
    result = runner.invoke(app, ["ingest", str(bad), "--service", "chat"])
    assert result.exit_code != 0
    assert "lots" in result.output and "nothing stored" in result.output
    assert _stored_samples() == before + 5


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        ("timestamp,value\n", "no rows after the header"),
        ("timestamp,value\n2026-01-01T00:00Z,\n2026-01-01T01:00Z,NaN\n", "no readable rows"),
    ],
    ids=["header", "blank"],
)
def test_ingest_refuses_a_file_without_a_value_and_stores_nothing(
    cli_database: None, tmp_path: Path, text: str, refusal: str
) -> None:
    """It printed "stored 0 points" and exited 0, and --profile had created the service (the
    blank values: found in review)."""
    before = _stored_samples()
    header = tmp_path / "header.csv"
    header.write_text(text)
    profile = str(tmp_path / "profile.yaml")
    result = runner.invoke(app, ["ingest", str(header), "--service", "new", "--profile", profile])
    assert result.exit_code == 2
    assert f"{header}: {refusal}" in result.output and "; nothing stored" in result.output
    assert _stored_samples() == before
    with open_database(get_settings().database_url) as database, database.session() as session:
        assert session.scalar(sa.select(Service).where(Service.name == "new")) is None


def test_ingest_leaves_out_rows_without_a_value_as_forecast_reads_them(
    cli_database: None, tmp_path: Path
) -> None:
    """``forecaster forecast`` reads a blank value as a gap; ingest refused the same file."""
    before = _stored_samples()
    gappy = tmp_path / "gappy.csv"
    gappy.write_text(
        "timestamp,value\n2022-01-01T00:00:00Z,1\n2022-01-01T01:00:00Z,\n"
        "2022-01-01T02:00:00Z,NaN\n2022-01-01T03:00:00Z,4\n"
    )
    result = runner.invoke(app, ["ingest", str(gappy), "--service", "chat"])
    assert result.exit_code == 0, result.output
    assert "2 rows without a value left out (gaps)" in result.output
    assert "stored 2 points" in result.output
    assert _stored_samples() == before + 2


def test_ingest_refuses_a_profile_with_an_unknown_field_as_the_api_does(
    cli_database: None, tmp_path: Path
) -> None:
    """The profile is stored: a mistyped ``min_replica`` was left out with a note, storing a
    profile with 1 replica as its floor (and actuating it, with ``forecast_only: false``)."""
    before = _stored_samples()
    profile = tmp_path / "typo.yaml"
    profile.write_text("capacity_per_replica: 10\nmin_replica: 5\nforecast_only: false\n")
    csv = _csv(tmp_path / "typo.csv", days=1)
    result = runner.invoke(
        app, ["ingest", str(csv), "--service", "typo", "--profile", str(profile)]
    )
    assert result.exit_code != 0
    assert 'unknown field "min_replica" (did you mean "min_replicas"?)' in result.output
    assert _stored_samples() == before
    with open_database(get_settings().database_url) as database, database.session() as session:
        assert session.scalar(sa.select(Service).where(Service.name == "typo")) is None


def test_ingest_refuses_a_target_another_service_scales_as_the_api_does(
    cli_database: None, tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    cluster = {"name": "c", "cluster": {"server": "https://10.0.0.1"}}
    context = {"name": "c", "context": {"cluster": "c", "user": "u"}}
    kubeconfig.write_text(
        json.dumps({"clusters": [cluster], "contexts": [context], "current-context": "c"})
    )
    profile = tmp_path / "hpa.yaml"
    profile.write_text(
        "capacity_per_replica: 10\ntargets:\n- kind: kubernetes-hpa\n"
        f"  config: {{namespace: ml, name: chat, kubeconfig: {kubeconfig}}}\n"
    )
    csv = _csv(tmp_path / "hpa.csv", days=1)
    ingest = ["ingest", str(csv), "--profile", str(profile), "--service"]
    assert runner.invoke(app, [*ingest, "chat"]).exit_code == 0
    result = runner.invoke(app, [*ingest, "chat2"])
    assert result.exit_code != 0
    assert 'scales the object that service "chat" already scales' in result.output
    with open_database(get_settings().database_url) as database, database.session() as session:
        assert session.scalar(sa.select(Service).where(Service.name == "chat2")) is None


def test_ingest_with_a_changed_profile_replans_as_the_api_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORECASTER_DATABASE_URL", f"sqlite:///{tmp_path / 'replan.db'}")
    get_settings.cache_clear()
    csv = _csv(tmp_path / "recent.csv", days=4, seed=3, recent=True)
    profile = tmp_path / "profile.yaml"
    profile.write_text("step_seconds: 3600\ncapacity_per_replica: 10\n")
    ingest = ["ingest", str(csv), "--service", "chat", "--profile", str(profile)]

    first = runner.invoke(app, ingest)
    assert first.exit_code == 0 and "re-planned" not in first.output, first.output
    profile.write_text("step_seconds: 3600\ncapacity_per_replica: 5\n")
    untrained = runner.invoke(app, ingest)
    assert "not re-planned" in untrained.output and "train it first" in untrained.output

    trained = runner.invoke(app, ["train", "--service", "chat", "--model", "seasonal_naive_daily"])
    assert trained.exit_code == 0, trained.output
    profile.write_text("step_seconds: 3600\ncapacity_per_replica: 2.5\n")
    changed = runner.invoke(app, ingest)
    assert "re-planned from the latest forecast" in changed.output, changed.output
    unchanged = runner.invoke(app, ingest)
    assert "re-planned" not in unchanged.output
    get_settings.cache_clear()


def test_ingest_counts_a_request_log_per_second(cli_database: None, tmp_path: Path) -> None:
    before = _stored_samples()
    log = tmp_path / "requests.csv"
    log.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2023-11-16 18:00:00.1,10,1\n2023-11-16 18:00:00.9,10,1\n2023-11-16 18:00:02.5,10,1\n"
    )
    result = runner.invoke(app, ["ingest", str(log), "--service", "chat"])
    assert result.exit_code == 0, result.output
    assert "request log" in result.output and "stored 3 points" in result.output
    with open_database(get_settings().database_url) as database, database.session() as session:
        start = int(pd.Timestamp("2023-11-16 18:00", tz="UTC").timestamp() * 1000)
        in_log = sa.select(Sample.value).where(Sample.ts_ms.between(start, start + 9999))
        values = session.scalars(in_log.order_by(Sample.ts_ms)).all()
    assert _stored_samples() == before + 3
    assert list(values) == [2.0, 0.0, 1.0]


def test_status_shows_each_service_and_what_needs_looking_at(
    cli_database: None, tmp_path: Path
) -> None:
    """Before training, "chat" (history from 2024) has warnings and ``--check`` exits 1; a
    trained service with recent samples shows its champion, its floor and no warning."""
    untrained = runner.invoke(app, ["status", "--check"])
    assert untrained.exit_code == 1, untrained.output
    header, chat, *warnings = untrained.output.splitlines()
    assert header.split()[:3] == ["service", "mode", "model"]
    assert chat.split()[:3] == ["chat", "forecast-only", "-"]
    assert "  ! no forecast yet: train the service" in warnings
    assert any(line.startswith("  ! no new requests_per_second samples for ") for line in warnings)

    _ingest_and_train_fresh(tmp_path)
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output  # warnings without --check: still 0
    lines = result.output.splitlines()
    fresh = next(line for line in lines if line.startswith("fresh"))
    _, mode, model, load, floor, peak, *age = fresh.split()
    assert (mode, model) == ("forecast-only", "seasonal_naive_daily")
    assert float(load) > 0 and int(floor) >= 1 and int(peak) >= int(floor)
    assert age[-1] == "ago"
    after = lines[lines.index(fresh) + 1 :]  # services are listed by name: fresh is last
    assert not any(line.startswith("  !") for line in after)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["events", "add", "--name", "x" * 300], "event name must be 1 to 128 characters"),
        (["events", "add", "--name", "early", "--start", "1900-01-01"], "between the years 1970"),
        (["exclusions", "add", "--reason", "r" * 700], "reason must be at most 500 characters"),
    ],
)
def test_the_cli_refuses_what_the_api_refuses(
    cli_database: None, args: list[str], problem: str
) -> None:
    """The commands stored what the API's schemas refuse (and PostgreSQL's columns would)."""
    window = {"--start": "2030-01-01T10:00Z", "--end": "2030-01-01T12:00Z"}
    given = dict(zip(args[2::2], args[3::2], strict=True))
    options = [item for key, value in {**window, **given}.items() for item in (key, value)]
    result = runner.invoke(app, [*args[:2], "--service", "chat", *options])
    assert result.exit_code == 2 and problem in result.output, result.output
    listed = runner.invoke(app, [args[0], "list", "--service", "chat"])
    assert "2030" not in listed.output and "1900" not in listed.output


def test_the_demo_refuses_a_busy_port_before_touching_its_database(tmp_path: Path) -> None:
    """QA: a second demo recreated the running one's database under it, trained, printed the
    first one's address, and only then failed to bind."""
    database = tmp_path / "forecaster-demo.db"
    database.write_bytes(b"the running demo's data")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["demo", "--database", str(database), "--port", str(port)])
    assert result.exit_code == 2
    assert f"cannot serve on 127.0.0.1:{port}" in result.output and "--port" in result.output
    assert database.read_bytes() == b"the running demo's data"
    result = runner.invoke(app, ["demo", "--database", str(tmp_path), "--no-serve"])
    assert result.exit_code == 2 and "is a directory" in result.output
    result = runner.invoke(app, ["demo", "--database", str(database), "--host", ""])
    assert result.exit_code == 2 and "--host is empty" in result.output
    assert database.read_bytes() == b"the running demo's data"


def _forecaster_database(path: Path, *, services: tuple[str, ...], key: bool = False) -> Path:
    """A migrated SQLite database at ``path`` holding ``services`` (and an API key)."""
    from forecaster.demo import DEMO_PROFILE
    from forecaster.security.api_keys import create_key
    from forecaster.storage.services import upsert_service

    with open_database(f"sqlite:///{path}") as database, database.session() as session:
        for name in services:
            upsert_service(session=session, name=name, profile=DEMO_PROFILE)
        if key:
            create_key(session=session, name="ops", scopes=["admin"])
    return path


def test_the_demo_recreates_only_its_own_database(tmp_path: Path) -> None:
    """QA: ``demo --database PATH`` unlinked whatever PATH named (and its -wal/-shm), so a typo
    wiped a production database; it recreates only an earlier demo's."""
    notes = tmp_path / "notes.txt"
    notes.write_text("precious notes")
    Path(f"{notes}-wal").write_text("kept")
    result = runner.invoke(app, ["demo", "--database", str(notes), "--no-serve"])
    assert result.exit_code == 2, result.output
    assert "is not an earlier demo's: it is not a SQLite file" in result.output
    assert "nothing deleted" in result.output
    assert notes.read_text() == "precious notes" and Path(f"{notes}-wal").read_text() == "kept"
    keyed = _forecaster_database(tmp_path / "prod.db", services=(), key=True)
    result = runner.invoke(app, ["demo", "--database", str(keyed), "--no-serve"])
    assert result.exit_code == 2 and "API key" in result.output, result.output
    from forecaster.demo import DEMO_SERVICE, not_a_demo_database

    other = _forecaster_database(tmp_path / "other.db", services=(DEMO_SERVICE, "chat"))
    assert not_a_demo_database(other) == "it holds other services (chat)"
    foreign = tmp_path / "foreign.db"
    sqlite3.connect(foreign).execute("CREATE TABLE t (x)").connection.close()
    assert "not a forecaster database" in (not_a_demo_database(foreign) or "")
    demo = _forecaster_database(tmp_path / "demo.db", services=(DEMO_SERVICE,))
    assert not_a_demo_database(demo) is None
    (tmp_path / "empty.db").touch()
    assert not_a_demo_database(tmp_path / "empty.db") is None
    assert not_a_demo_database(tmp_path / "absent.db") is None


@pytest.mark.parametrize(
    ("host", "warned"),
    [("0.0.0.0", True), ("127.0.0.1", False), ("127.0.0.2", False), ("0:0:0:0:0:0:0:1", False)],
)
def test_serve_without_authentication_off_loopback_warns(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, host: str, warned: bool
) -> None:
    """QA: ``serve`` with FORECASTER_AUTH_ENABLED=false on 0.0.0.0 said nothing (the demo warns)."""
    import forecaster.cli.service_commands as commands
    import forecaster.logs

    served: list[tuple[str, bool]] = []
    monkeypatch.setattr(forecaster.logs, "configure_logging", lambda: None)  # keep caplog's
    monkeypatch.setattr(
        commands, "_run_server", lambda host, port, auth, **_: served.append((host, auth))
    )
    monkeypatch.setenv("FORECASTER_AUTH_ENABLED", "false")
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["serve", "--host", host])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert served == [(host, False)]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    expected = f"FORECASTER_AUTH_ENABLED=false: serving on {host} without authentication"
    assert any(w.startswith(expected) for w in warnings) is warned, warnings


def test_train_with_nothing_to_train_and_ingest_for_a_new_service_say_so(
    cli_database: None, tmp_path: Path
) -> None:
    """QA: ``train`` with no enabled service printed nothing, and ``ingest`` for a service that
    does not exist did not say that --profile creates it."""
    csv = _csv(tmp_path / "new.csv", days=1)
    result = runner.invoke(app, ["ingest", str(csv), "--service", "new"])
    assert result.exit_code == 2
    assert 'service "new" does not exist; nothing stored: pass --profile' in result.output
    with open_database(get_settings().database_url) as database, database.session() as session:
        session.execute(sa.update(Service).values(enabled=False))
    result = runner.invoke(app, ["train"])
    assert result.exit_code == 0
    assert result.output.startswith("nothing to train: no service is enabled"), result.output


@pytest.mark.parametrize("port", ["0", "99999"])
def test_serve_checks_its_port_option(monkeypatch: pytest.MonkeyPatch, port: str) -> None:
    """QA: ``serve --port 0`` served on FORECASTER_PORT without a word, and ``--port 99999`` was
    refused as a bad FORECASTER_PORT."""
    import forecaster.cli.service_commands as commands
    import forecaster.logs

    monkeypatch.setattr(forecaster.logs, "configure_logging", lambda: None)
    monkeypatch.setattr(commands, "_run_server", lambda *args, **kwargs: None)
    result = runner.invoke(app, ["serve", "--port", port])
    assert result.exit_code == 2
    assert "Invalid value for '--port'" in result.output, result.output
    assert "FORECASTER_PORT" not in result.output.replace("default FORECASTER_PORT", "")


def test_version_prints_the_installed_version() -> None:
    """QA: there was no ``--version``; a bug report could not say which release it was."""
    from forecaster import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output == f"forecaster {__version__}\n"
    assert runner.invoke(app, ["--version", "status", "--check"]).exit_code == 0  # eager


def test_train_of_every_service_fails_a_damaged_row_alone(
    cli_database: None, tmp_path: Path
) -> None:
    """Review: ``train`` without a service read every enabled service's profile to name them,
    and one whose stored text is not JSON (an UPDATE by hand) stopped it: none trained."""
    profile = tmp_path / "profile.yaml"
    csv = _csv(tmp_path / "b.csv", days=2, recent=True)
    for name in ("broken", "chat"):
        result = runner.invoke(
            app, ["ingest", str(csv), "--service", name, "--profile", str(profile)]
        )
        assert result.exit_code == 0, result.output
    with open_database(get_settings().database_url) as database, database.session() as session:
        session.execute(sa.text("UPDATE services SET profile = '{not json' WHERE name = 'broken'"))
    result = runner.invoke(app, ["train", "--model", "seasonal_naive_daily"])
    assert result.exit_code == 1, result.output
    broken, chat = result.output.splitlines()
    assert broken.startswith('broken: a stored value of service "broken" is damaged')
    assert chat.startswith("chat: model seasonal_naive_daily")
