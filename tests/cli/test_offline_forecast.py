"""The offline contract: ``forecaster forecast`` reads timestamp,value and writes quantiles."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from forecaster.cli import app
from forecaster.errors import InvalidInputError
from forecaster.offline import read_series_csv
from tests.helpers import synthetic_traffic

runner = CliRunner()


def write_history(path: Path, days: float = 10, step: int = 300) -> pd.Series:
    series = synthetic_traffic(days=days, step_seconds=step, seed=3)
    frame = pd.DataFrame(
        {
            "timestamp": series.index.tz_localize(None).strftime("%Y-%m-%d %H:%M:%S"),
            "value": series.to_numpy(),
        }
    )
    frame.to_csv(path, index=False)
    return series


def test_forecast_writes_one_row_per_step_with_quantile_columns(tmp_path: Path) -> None:
    history = write_history(tmp_path / "history.csv")
    out = tmp_path / "forecast.csv"
    result = runner.invoke(
        app,
        [
            "forecast",
            "--input",
            str(tmp_path / "history.csv"),
            "--horizon",
            "48h",
            "--output",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "model:" in result.output
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["timestamp", "p50", "p90", "p95", "p99"]
    assert len(frame) == 576
    first = pd.Timestamp(frame["timestamp"].iloc[0], tz="UTC")
    assert first == history.index[-1] + pd.Timedelta(minutes=5)
    assert "+" not in frame["timestamp"].iloc[0]  # naive in, naive out
    assert (frame["p50"] <= frame["p90"]).all() and (frame["p95"] <= frame["p99"]).all()


def test_a_freq_finer_than_the_rows_is_noted(tmp_path: Path) -> None:
    """Found by a QA pass: daily rows forecast at 6 h quietly had three steps in four made up
    between rows. It still runs (a user may want the finer grid) and says so; a coarser one
    says nothing."""
    write_history(tmp_path / "history.csv", days=40, step=86_400)
    for freq, noted in (("6h", True), ("2d", False)):
        out = tmp_path / f"forecast-{freq}.csv"
        args = ["forecast", "--input", str(tmp_path / "history.csv"), "--horizon", "4d"]
        result = runner.invoke(app, [*args, "--output", str(out), "--freq", freq])
        assert result.exit_code == 0, result.output
        note = "--freq 6h is finer than the data's step of 24 h: 3 of every 4 steps have no row"
        assert (note in result.output) is noted
        assert len(pd.read_csv(out)) == (16 if noted else 2)


def test_rows_repeating_a_timestamp_are_noted(tmp_path: Path) -> None:
    """Found by a QA pass: repeated timestamps (an export run twice) were merged without a
    word. The forecast averages them, ingestion keeps the last; both now say so."""
    from forecaster.offline import points_to_store

    rows = "timestamp,value\n" + "".join(
        f"2024-01-01 {minute // 60:02d}:{minute % 60:02d}:00,{minute % 7}\n"
        for minute in range(0, 600, 5)
    )
    path = tmp_path / "history.csv"
    path.write_text(rows + "2024-01-01 09:55:00,50\n2024-01-01 09:50:00,60\n")
    out = tmp_path / "forecast.csv"
    result = runner.invoke(
        app, ["forecast", "--input", str(path), "--horizon", "1h", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "2 rows repeat an earlier row's timestamp: the values of a timestamp are averaged" in (
        result.output
    )
    points, note = points_to_store(path, service="s", metric="m")
    assert len(points.values) == 122  # all go to the batch, which keeps the last of each
    assert note == "2 rows repeat an earlier row's timestamp: the last row of each is stored"
    single = tmp_path / "single.csv"
    single.write_text(rows)
    assert points_to_store(single, service="s", metric="m")[1] is None


def test_forecast_with_freq_model_and_quantiles(tmp_path: Path) -> None:
    write_history(tmp_path / "history.csv", days=4, step=60)
    out = tmp_path / "forecast.csv"
    result = runner.invoke(
        app,
        [
            "forecast",
            "--input",
            str(tmp_path / "history.csv"),
            "--horizon",
            "6h",
            "--output",
            str(out),
            "--freq",
            "15min",
            "--model",
            "seasonal_naive_daily",
            "--quantiles",
            "0.5,0.8",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "model: seasonal_naive_daily" in result.output
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["timestamp", "p50", "p80"]
    assert len(frame) == 24
    stamps = pd.to_datetime(frame["timestamp"])
    assert (stamps.dt.minute % 15 == 0).all()


def test_two_columns_by_other_names_or_without_a_header_are_read_and_noted(
    tmp_path: Path,
) -> None:
    rows = "".join(f"2024-01-01T{h:02d}:00:00Z,{10 + h}\n" for h in range(12))
    outputs = []
    for name, header, note in (
        ("plain.csv", "timestamp,value\n", None),
        ("named.csv", "time,requests\n", 'read columns "time","requests" as timestamp,value'),
        ("bare.csv", "", "no header row"),
    ):
        (tmp_path / name).write_text(header + rows)
        out = tmp_path / f"{name}.out"
        result = runner.invoke(
            app,
            ["forecast", "--input", str(tmp_path / name), "--output", str(out), "--horizon", "3h"],
        )
        assert result.exit_code == 0, result.output
        if note is None:
            assert "note:" not in result.output
        else:
            assert note in result.output
        outputs.append(pd.read_csv(out))
    assert outputs[0].equals(outputs[1]) and outputs[0].equals(outputs[2])
    assert len(outputs[0]) == 3


def test_a_request_log_is_read_as_requests_per_second(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    start = pd.Timestamp("2023-11-16 18:00:00")
    per_second = rng.poisson(3, size=2 * 3600)
    per_second[100:160] = 0  # a quiet minute: zeros, not a gap
    offsets = np.repeat(np.arange(len(per_second)), per_second) + rng.random(per_second.sum())
    stamps = (start + pd.to_timedelta(np.sort(offsets), unit="s")).strftime("%Y-%m-%d %H:%M:%S.%f")
    log = tmp_path / "requests.csv"
    tokens = rng.integers(10, 500, size=len(stamps))
    pd.DataFrame({"TIMESTAMP": stamps, "ContextTokens": tokens, "GeneratedTokens": tokens}).to_csv(
        log, index=False
    )
    seconds = pd.date_range(start, periods=len(per_second), freq="s")
    counted = tmp_path / "counted.csv"
    pd.DataFrame({"timestamp": seconds.strftime("%Y-%m-%d %H:%M:%S"), "value": per_second}).iloc[
        : int(np.nonzero(per_second)[0].max()) + 1
    ].to_csv(counted, index=False)
    outputs = []
    for source in (log, counted):
        out = tmp_path / f"{source.stem}.out.csv"
        command = ["forecast", "--input", str(source), "--output", str(out), "--horizon", "10min"]
        result = runner.invoke(app, [*command, "--freq", "1min", "--model", "seasonal_naive_daily"])
        assert result.exit_code == 0, result.output
        outputs.append(pd.read_csv(out))
    assert outputs[0].equals(outputs[1])
    assert len(outputs[0]) == 10
    log_run = runner.invoke(
        app,
        ["forecast", "--input", str(log), "--output", str(tmp_path / "o.csv"), "--horizon", "1h"],
    )
    assert log_run.exit_code == 0, log_run.output
    assert f"read {len(stamps)} rows as a request log: requests per second" in log_run.output


def test_a_request_log_sums_a_named_column_per_second(tmp_path: Path) -> None:
    log = tmp_path / "requests.csv"
    log.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2023-11-16 18:00:00.1,100,5\n2023-11-16 18:00:00.9,100,7\n2023-11-16 18:00:02.5,100,3\n"
    )
    tokens = read_series_csv(log, "generatedtokens")
    assert tokens.points.tolist() == [12.0, 0.0, 3.0]
    assert "GeneratedTokens per second" in (tokens.note or "")
    assert read_series_csv(log).points.tolist() == [2.0, 0.0, 1.0]
    with pytest.raises(InvalidInputError, match='no column "tokens"; the columns are TIMESTAMP, '):
        read_series_csv(log, "tokens")


def test_a_wide_metrics_export_is_not_counted_as_requests(tmp_path: Path) -> None:
    """Rows every 5 minutes with several metrics and no value column are a series, not a log
    of requests: refused with a hint, then read with --value-column."""
    stamps = pd.date_range("2024-01-01", periods=48, freq="5min").strftime("%Y-%m-%dT%H:%M:%SZ")
    wide = tmp_path / "metrics.csv"
    pd.DataFrame({"timestamp": stamps, "cpu": 0.5, "rps": np.arange(48.0)}).to_csv(
        wide, index=False
    )
    out = tmp_path / "o.csv"
    command = ["forecast", "--input", str(wide), "--output", str(out), "--horizon", "1h"]
    refused = runner.invoke(app, command)
    assert refused.exit_code == 2
    assert "expected columns timestamp,value, got timestamp, cpu, rps; name the value column" in (
        refused.output
    )
    read = runner.invoke(app, [*command, "--value-column", "rps"])
    assert read.exit_code == 0, read.output
    assert 'read columns "timestamp","rps" as timestamp,value' in read.output
    assert read_series_csv(wide, "RPS").points.tolist() == list(np.arange(48.0))


def test_a_wide_export_with_jittered_rows_is_a_series_not_a_request_log(tmp_path: Path) -> None:
    """QA: 5-minute rows up to 60 s off their marks (read as a 300 s step elsewhere) were
    counted as requests per second: 864 CPU readings near 50 % became 258,894 points, most 0."""
    rng = np.random.default_rng(4)
    marks = pd.date_range("2024-01-01", periods=288, freq="5min")
    stamps = marks + pd.to_timedelta(rng.uniform(-60, 60, len(marks)), unit="s")
    wide = tmp_path / "jittered.csv"
    cpu = 50 + rng.normal(0, 5, len(marks))
    pd.DataFrame(
        {"timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%SZ"), "cpu": cpu, "mem": 1.0}
    ).to_csv(wide, index=False)
    read = read_series_csv(wide, "cpu")
    assert len(read.points) == len(marks) and "request log" not in (read.note or "")
    assert read.points.mean() == pytest.approx(cpu.mean())


def test_a_request_log_with_an_unreadable_timestamp_is_refused_naming_it(tmp_path: Path) -> None:
    log = tmp_path / "requests.csv"
    rows = ["18:00:00.5", "yesterday", "18:00:01.2", "18:00:01.3", "18:00:04.9", "18:00:05"]
    log.write_text(
        "TIMESTAMP,in,out\n"
        + "".join(f"2023-11-16 {r},3,1\n".replace("2023-11-16 y", "y") for r in rows)
    )
    result = runner.invoke(app, ["forecast", "--input", str(log), "--output", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "unreadable rows in a request log, first at line 3: yesterday" in result.output


def test_forecast_refuses_bad_input_clearly(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("time,val,host\n1,2,a\n")
    result = runner.invoke(
        app, ["forecast", "--input", str(tmp_path / "bad.csv"), "--output", str(tmp_path / "o.csv")]
    )
    assert result.exit_code == 2
    assert "expected columns timestamp,value" in result.output
    result = runner.invoke(
        app,
        [
            "forecast",
            "--input",
            str(tmp_path / "bad.csv"),
            "--output",
            str(tmp_path / "o.csv"),
            "--model",
            "nope",
        ],
    )
    assert result.exit_code == 2


def test_a_file_that_is_not_utf8_is_refused_with_what_to_do(tmp_path: Path) -> None:
    """Spreadsheets save "Unicode text" as UTF-16; the decoder's message named only a byte."""
    text = "timestamp,value\n" + "".join(f"2024-01-01T{h:02d}:00:00Z,{h}\n" for h in range(12))
    for encoding in ("utf-16", "utf-16-le"):  # with and without a byte-order mark
        path = tmp_path / f"{encoding}.csv"
        path.write_bytes(text.encode(encoding))
        args = ["forecast", "--input", str(path), "--output", str(tmp_path / "o.csv")]
        result = runner.invoke(app, args)
        assert result.exit_code == 2, encoding
        assert "is not UTF-8 text" in result.stderr and "save it as a UTF-8 CSV" in result.stderr
    packed = tmp_path / "packed.csv"  # read as text, this one was "not UTF-8 (UTF-16?)" (QA)
    packed.write_bytes(gzip.compress(text.encode()))
    result = runner.invoke(
        app, ["forecast", "--input", str(packed), "--output", str(tmp_path / "o.csv")]
    )
    assert result.exit_code == 2 and "is gzip-compressed; decompress it first" in result.stderr


def test_a_row_with_more_fields_than_the_header_is_named_with_the_fix(tmp_path: Path) -> None:
    """Found by a QA pass: pandas' "Error tokenizing data. C error: ..." was passed on as is."""
    rows = [f"2024-01-01T{h:02d}:00:00Z,{h}" for h in range(12)]
    rows[4] += ",7"  # the file's line 6, after the header
    path = tmp_path / "extra.csv"
    path.write_text("\n".join(["timestamp,value", *rows]))
    args = ["forecast", "--input", str(path), "--output", str(tmp_path / "o.csv")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "line 6 has 3 fields where the header has 2" in result.stderr
    assert "quote a value that holds a comma" in result.stderr
    assert "tokenizing" not in result.stderr


def test_a_file_separated_by_semicolons_or_tabs_says_so(tmp_path: Path) -> None:
    """Not read (";" files often write decimal commas) but named, with the fix."""
    rows = [f"2024-01-01T{h:02d}:00:00Z,{h},5" for h in range(12)]  # decimal commas
    for name, separator, label in (("semi", ";", '";"'), ("tab", "\t", "a tab")):
        for header in ("timestamp,value", None):
            lines = ([header] if header else []) + rows
            path = tmp_path / f"{name}.csv"
            path.write_text("\n".join(line.replace(",", separator, 1) for line in lines))
            args = ["forecast", "--input", str(path), "--output", str(tmp_path / "o.csv")]
            result = runner.invoke(app, args)
            assert result.exit_code == 2, result.output
            assert f"seems to use {label} as separator" in result.stderr
            assert "save it comma-separated" in result.stderr


def test_a_bare_horizon_shorter_than_a_step_is_refused_not_rounded_up(tmp_path: Path) -> None:
    write_history(tmp_path / "h.csv", days=3)
    args = ["forecast", "--input", str(tmp_path / "h.csv"), "--model", "seasonal_naive_daily"]
    result = runner.invoke(app, [*args, "--horizon", "48", "--output", str(tmp_path / "o.csv")])
    assert result.exit_code == 2
    assert "48 seconds, less than one 300s step; give a unit, such as 48h" in result.output
    assert not (tmp_path / "o.csv").exists()
    result = runner.invoke(app, [*args, "--horizon", "900", "--output", str(tmp_path / "o.csv")])
    assert result.exit_code == 0, result.output  # a bare number of seconds still reads as such
    assert len(pd.read_csv(tmp_path / "o.csv")) == 3


def test_a_horizon_past_what_timestamps_hold_is_refused_clearly(tmp_path: Path) -> None:
    """100000 days from 2024 is past 2262, where pandas' own error named only a number."""
    write_history(tmp_path / "h.csv", days=3, step=86_400)
    for command in ("forecast", "backtest"):
        args = [command, "--input", str(tmp_path / "h.csv"), "--horizon", "100000d"]
        if command == "forecast":
            args += ["--model", "seasonal_naive_daily", "--output", str(tmp_path / "o.csv")]
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert "reaches past 2262-04-11, the last day a timestamp can hold" in result.stderr


def test_blank_values_are_gaps_and_other_text_is_refused(tmp_path: Path) -> None:
    series = write_history(tmp_path / "history.csv", days=4)
    frame = pd.read_csv(tmp_path / "history.csv", dtype=str)
    frame.loc[10:19, "value"] = ""
    frame.loc[30, "value"] = "NaN"
    frame.to_csv(tmp_path / "holes.csv", index=False)
    args = ["forecast", "--input", str(tmp_path / "holes.csv"), "--horizon", "1h"]
    result = runner.invoke(app, [*args, "--output", str(tmp_path / "o.csv")])
    assert result.exit_code == 0, result.output
    assert "11 rows without a value are treated as gaps" in result.output
    first = pd.Timestamp(pd.read_csv(tmp_path / "o.csv")["timestamp"].iloc[0], tz="UTC")
    assert first == series.index[-1] + pd.Timedelta(minutes=5)
    frame.loc[40, "value"] = "lots"
    frame.to_csv(tmp_path / "bad.csv", index=False)
    args[2] = str(tmp_path / "bad.csv")
    result = runner.invoke(app, [*args, "--output", str(tmp_path / "o.csv")])
    assert result.exit_code == 2
    assert "1 unreadable rows, first at line 42: " in result.output and ",lots" in result.output
    frame.to_csv(tmp_path / "bare.csv", index=False, header=False)  # line numbers shift by one
    args[2] = str(tmp_path / "bare.csv")
    result = runner.invoke(app, [*args, "--output", str(tmp_path / "o.csv")])
    assert result.exit_code == 2
    assert "1 unreadable rows, first at line 41: " in result.output
    frame.loc[40, "value"] = "inf"  # not a load: refused, never forecast as NaN bands
    frame.to_csv(tmp_path / "inf.csv", index=False)
    args[2] = str(tmp_path / "inf.csv")
    result = runner.invoke(app, [*args, "--output", str(tmp_path / "o.csv")])
    assert result.exit_code == 2 and "first at line 42: " in result.output
    frame.loc[40, "value"] = "1.7e308"  # finite, but its sums are not: refused as ingest does
    frame.to_csv(tmp_path / "huge.csv", index=False)
    args[2] = str(tmp_path / "huge.csv")
    result = runner.invoke(app, [*args, "--output", str(tmp_path / "o.csv")])
    assert result.exit_code == 2
    assert "1 values above 1e+15 (a unit error?), first at line 42: " in result.output


def test_negative_values_are_noted_on_stderr_not_taken_quietly(tmp_path: Path) -> None:
    """Ingestion and simulate refuse negative load; forecast and plan keep the values (their
    forecasts stop at 0) but say how many there were, so a broken export does not go unseen."""
    write_history(tmp_path / "history.csv", days=3)
    frame = pd.read_csv(tmp_path / "history.csv")
    frame.loc[100:106, "value"] = -4.0
    frame.to_csv(tmp_path / "negative.csv", index=False)
    (tmp_path / "p.yaml").write_text("capacity_per_replica: 10\n")
    for command, extra in (("forecast", []), ("plan", ["--profile", str(tmp_path / "p.yaml")])):
        out = tmp_path / f"{command}.csv"
        args = [command, "--input", str(tmp_path / "negative.csv"), "--horizon", "1h", *extra]
        args += ["--model", "seasonal_naive_daily", "--output", str(out)]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "note: 7 values are negative" in result.stderr
        assert len(pd.read_csv(out)) == 12


@pytest.mark.parametrize(
    ("step", "jitter", "stamp"),
    [("1s", 0.3, "12:00:01Z"), ("500ms", 0.0, "12:00:00.500Z"), ("5min", 0.9, "12:05:00Z")],
)
def test_jittered_and_sub_second_steps_give_distinct_rows_on_the_grid(
    tmp_path: Path, step: str, jitter: float, stamp: str
) -> None:
    grid = pd.date_range(end="2024-03-20 12:00", periods=3000, freq=step, tz="UTC")
    late = np.random.default_rng(5).uniform(0, jitter, len(grid))  # scrapes land a bit late
    stamps = (grid + pd.to_timedelta(late, unit="s")).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    pd.DataFrame({"timestamp": stamps, "value": 5.0}).to_csv(tmp_path / "h.csv", index=False)
    out = tmp_path / "o.csv"
    args = ["forecast", "--input", str(tmp_path / "h.csv"), "--horizon", "10min"]
    result = runner.invoke(app, [*args, "--output", str(out), "--model", "seasonal_naive_daily"])
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out)["timestamp"]
    assert written.iloc[0] == f"2024-03-20T{stamp}"
    assert written.is_unique and len(written) == 600 / pd.Timedelta(step).total_seconds()


def test_rows_jittered_either_side_of_the_marks_give_forecasts_on_the_marks(
    tmp_path: Path,
) -> None:
    """Half-hourly rows stamped up to 40 s either side of the marks: their median offset is
    seconds off the mark, and forecasts were written at 12:29:53, 12:59:53, ..."""
    grid = pd.date_range(end="2024-03-20 12:00", periods=150, freq="30min")
    jitter = np.random.default_rng(5).uniform(-40, 40, len(grid))
    stamps = (grid + pd.to_timedelta(jitter.round(), unit="s")).strftime("%Y-%m-%d %H:%M:%S")
    pd.DataFrame({"timestamp": stamps, "value": 5.0}).to_csv(tmp_path / "h.csv", index=False)
    out = tmp_path / "o.csv"
    args = ["forecast", "--input", str(tmp_path / "h.csv"), "--horizon", "2h"]
    result = runner.invoke(app, [*args, "--output", str(out), "--model", "seasonal_naive_daily"])
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out)["timestamp"]
    assert list(written) == [
        f"2024-03-20 {clock}:00" for clock in ("12:30", "13:00", "13:30", "14:00")
    ]


def test_a_new_service_is_not_calibrated_on_the_zeros_before_it_went_live(
    tmp_path: Path,
) -> None:
    """Five days of zeros (exported from before launch), then two days climbing to ~40
    requests a step, forecast 48 h ahead: every backtest origin fell among the zeros, whose
    exact residuals made the first hour's p95 its p50."""
    grid = pd.date_range(end="2024-03-20 12:00", periods=7 * 288, freq="5min")
    climb = np.clip(np.arange(len(grid)) / 288 - 5, 0, 2) / 2
    counts = np.random.default_rng(5).poisson(40 * climb)
    frame = pd.DataFrame({"timestamp": grid.strftime("%Y-%m-%d %H:%M:%S"), "value": counts})
    frame.to_csv(tmp_path / "h.csv", index=False)
    out = tmp_path / "o.csv"
    args = ["forecast", "--input", str(tmp_path / "h.csv"), "--horizon", "48h"]
    result = runner.invoke(app, [*args, "--output", str(out)])
    assert result.exit_code == 0, result.output
    first_hour = pd.read_csv(out).head(12)
    assert (first_hour["p95"] - first_hour["p50"]).min() >= 5  # a Poisson(40)'s sd is 6.3


def test_an_outage_logged_as_zeros_at_the_end_is_read_as_missing_and_said(
    tmp_path: Path,
) -> None:
    """A history ending in an hour of zeros (never a zero before): the forecast still starts a
    step after the last row, near the usual level, and the command says why."""
    series = write_history(tmp_path / "history.csv", days=4)
    frame = pd.read_csv(tmp_path / "history.csv")
    frame.loc[len(frame) - 12 :, "value"] = 0
    frame.to_csv(tmp_path / "down.csv", index=False)
    out = tmp_path / "o.csv"
    args = ["forecast", "--input", str(tmp_path / "down.csv"), "--horizon", "24h"]
    result = runner.invoke(app, [*args, "--output", str(out), "--model", "seasonal_naive_daily"])
    assert result.exit_code == 0, result.output
    assert "the last 1 h of zeros read as an outage" in result.stdout
    written = pd.read_csv(out)
    assert pd.Timestamp(written["timestamp"].iloc[0], tz="UTC") == series.index[-1] + pd.Timedelta(
        minutes=5
    )
    assert written["p50"].mean() > 0.9 * series.mean()


def test_a_spreadsheets_empty_rows_at_the_end_are_skipped_like_blank_lines(
    tmp_path: Path,
) -> None:
    """A spreadsheet saves its empty rows as ``,`` lines: those at the end had refused the
    whole file ("unreadable rows ... ,"); one amid the rows is still refused, by its line."""
    series = write_history(tmp_path / "history.csv", days=2)
    text = (tmp_path / "history.csv").read_text()
    (tmp_path / "sheet.csv").write_text(text + ",\n , \n")
    out = tmp_path / "o.csv"
    args = ["forecast", "--input", str(tmp_path / "sheet.csv"), "--horizon", "1h"]
    result = runner.invoke(app, [*args, "--output", str(out), "--model", "seasonal_naive_daily"])
    assert result.exit_code == 0, result.output
    first = pd.Timestamp(pd.read_csv(out)["timestamp"].iloc[0], tz="UTC")
    assert first == series.index[-1] + pd.Timedelta(minutes=5)
    lines = text.splitlines()
    (tmp_path / "amid.csv").write_text("\n".join([*lines[:5], ",", *lines[5:]]) + "\n")
    args[2] = str(tmp_path / "amid.csv")
    result = runner.invoke(app, [*args, "--output", str(out)])
    assert result.exit_code == 2 and "first at line 6: ," in result.stderr


def test_trailing_rows_without_values_still_end_the_history(tmp_path: Path) -> None:
    """The forecast starts one step after the file's last row, valued or not."""
    series = write_history(tmp_path / "history.csv", days=4)
    frame = pd.read_csv(tmp_path / "history.csv", dtype=str)
    frame.loc[len(frame) - 6 :, "value"] = ""  # the last half hour went unrecorded
    frame.to_csv(tmp_path / "late.csv", index=False)
    for command in ("forecast", "plan"):
        out = tmp_path / f"{command}.csv"
        args = [command, "--input", str(tmp_path / "late.csv"), "--horizon", "1h"]
        if command == "plan":
            (tmp_path / "p.yaml").write_text("capacity_per_replica: 10\n")
            args += ["--profile", str(tmp_path / "p.yaml")]
        result = runner.invoke(app, [*args, "--output", str(out)])
        assert result.exit_code == 0, result.output
        written = pd.read_csv(out)
        assert len(written) == 12
        first = pd.Timestamp(written["timestamp"].iloc[0], tz="UTC")
        assert first == series.index[-1] + pd.Timedelta(minutes=5)


def test_outputs_keep_the_inputs_timestamp_style(tmp_path: Path) -> None:
    """Epoch seconds stay epoch seconds, an offset stays that offset, UTC stays Z, a date stays
    a date, a space or a T between date and time stays, a clock without seconds stays so: the
    same instants, written so a script can join our rows to its own as text."""
    start = pd.Timestamp("2024-03-01 00:00", tz="UTC")
    hours = [start + pd.Timedelta(hours=h) for h in range(12)]
    styles = {
        "epoch": ([str(int(t.timestamp())) for t in hours], str(int(hours[-1].timestamp()) + 3600)),
        "offset": (
            [t.tz_convert("America/New_York").isoformat() for t in hours],
            "2024-03-01T07:00:00-05:00",  # New York's offset, at the forecast's instant
        ),
        "utc": ([t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in hours], "2024-03-01T12:00:00Z"),
        "zero offset": ([t.isoformat() for t in hours], "2024-03-01T12:00:00+00:00"),
        "naive": ([t.strftime("%Y-%m-%d %H:%M:%S") for t in hours], "2024-03-01 12:00:00"),
        # as written: pandas' to_csv of aware stamps (a space), ISO naive (a T), no seconds
        "pandas": ([str(t) for t in hours], "2024-03-01 12:00:00+00:00"),
        "naive T": ([t.strftime("%Y-%m-%dT%H:%M:%S") for t in hours], "2024-03-01T12:00:00"),
        "minutes": ([t.strftime("%Y-%m-%d %H:%M") for t in hours], "2024-03-01 12:00"),
        "utc word": ([f"{t:%Y-%m-%d %H:%M:%S} UTC" for t in hours], "2024-03-01 12:00:00 UTC"),
        "date": ([f"2024-02-{day:02d}" for day in range(1, 13)], "2024-02-13"),
        # ISO 8601's basic form, as SQL and spreadsheet exports write days: read as epoch
        # seconds, these were 12 seconds in August 1970 (QA)
        "basic date": ([f"202402{day:02d}" for day in range(1, 13)], "20240213"),
    }
    for name, (stamps, first_out) in styles.items():
        rows = "".join(f"{stamp},{10 + i}\n" for i, stamp in enumerate(stamps))
        (tmp_path / f"{name}.csv").write_text("timestamp,value\n" + rows)
        out = tmp_path / f"{name}.out"
        result = runner.invoke(
            app,
            [
                "forecast",
                "--input",
                str(tmp_path / f"{name}.csv"),
                "--output",
                str(out),
                "--horizon",
                "2d" if "date" in name else "2h",  # two steps either way
            ],
        )
        assert result.exit_code == 0, result.output
        written = pd.read_csv(out, dtype={"timestamp": str})["timestamp"]
        assert len(written) == 2 and written.iloc[0] == first_out, name


def test_daily_rows_at_local_midnight_continue_past_a_dst_change(tmp_path: Path) -> None:
    """Berlin's midnight is 23:00 UTC before 31 March and 22:00 after: the forecast continues
    the latest rows' midnight, not the earlier majority's (which wrote 01:00+02:00)."""
    days = pd.date_range("2024-03-20", periods=20, freq="D", tz="Europe/Berlin")
    rows = "".join(f"{day.isoformat()},{100 + i % 7}\n" for i, day in enumerate(days))
    (tmp_path / "daily.csv").write_text("timestamp,value\n" + rows)
    out = tmp_path / "out.csv"
    args = ["forecast", "--input", str(tmp_path / "daily.csv"), "--horizon", "2d"]
    result = runner.invoke(app, [*args, "--output", str(out), "--model", "seasonal_naive_weekly"])
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out, dtype={"timestamp": str})
    assert list(written["timestamp"]) == ["2024-04-09T00:00:00+02:00", "2024-04-10T00:00:00+02:00"]
    assert list(written["p50"]) == [106, 100]  # a week before each, on the right days


def test_unreadable_files_say_what_is_wrong(tmp_path: Path) -> None:
    """Epoch milliseconds are named as such (not guessed), and a file of blanks, an empty file
    and one with only a header say so."""
    write_history(tmp_path / "history.csv", days=1)
    frame = pd.read_csv(tmp_path / "history.csv")
    seconds = (pd.to_datetime(frame["timestamp"]) - pd.Timestamp("1970-01-01")) // pd.Timedelta(
        "1s"
    )
    frame.assign(timestamp=seconds * 1000).to_csv(tmp_path / "millis.csv", index=False)
    frame.assign(value="").to_csv(tmp_path / "blank.csv", index=False)
    frame.assign(timestamp=seconds).to_csv(tmp_path / "seconds.csv", index=False)
    # spreadsheet serial dates (days since 1899-12-30) read as seconds of 1 January 1970
    serial = (seconds / 86_400 + 25_569).round(6)
    frame.assign(timestamp=serial).to_csv(tmp_path / "serial.csv", index=False)
    outcomes = {}
    for name in ("millis", "blank", "seconds", "serial"):
        args = ["forecast", "--input", str(tmp_path / f"{name}.csv"), "--horizon", "1h"]
        outcomes[name] = runner.invoke(app, [*args, "--output", str(tmp_path / "o.csv")])
    assert outcomes["millis"].exit_code == 2
    assert f"{len(frame)} unreadable rows, first at line 2" in outcomes["millis"].output
    assert "epoch milliseconds?" in outcomes["millis"].output
    assert outcomes["blank"].exit_code == 2
    assert "every value is blank" in outcomes["blank"].output
    assert outcomes["seconds"].exit_code == 0, outcomes["seconds"].output
    assert outcomes["serial"].exit_code == 2  # a 1-hour forecast wrote 360,000 rows
    assert "spreadsheet serial dates (days since 1899-12-30)?" in outcomes["serial"].output
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("timestamp,value\n")
    for name, message in (("empty", "the file is empty"), ("header", "no rows after the header")):
        args = ["forecast", "--input", str(tmp_path / f"{name}.csv"), "--horizon", "1h"]
        result = runner.invoke(app, [*args, "--output", str(tmp_path / "o.csv")])
        assert result.exit_code == 2 and message in result.output


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux's /proc")
def test_an_output_that_cannot_be_written_is_a_one_line_error(tmp_path: Path) -> None:
    """/proc takes no new files, even from root: the run ended in a traceback at the write."""
    write_history(tmp_path / "history.csv", days=2)
    (tmp_path / "p.yaml").write_text("capacity_per_replica: 10\n")
    for command, extra in (("forecast", []), ("plan", ["--profile", str(tmp_path / "p.yaml")])):
        args = [command, "--input", str(tmp_path / "history.csv"), "--horizon", "1h", *extra]
        args += ["--model", "seasonal_naive_daily", "--output", "/proc/forecaster-out.csv"]
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith("error: cannot write /proc/forecaster-out.csv: ")
        assert result.exception is None or isinstance(result.exception, SystemExit)


def _office_hours(days: int, zone: str) -> pd.Series:
    """Hourly load that follows a city's clock (a peak at 14:00 local), through a DST change."""
    local = pd.date_range("2026-02-20", periods=days * 24, freq="h", tz=zone)
    return pd.Series(np.where(local.hour == 14, 100.0, 10.0), index=local)


@pytest.mark.parametrize(
    ("written_in", "option", "peak_utc"),
    [
        ("America/New_York", [], 18),  # the rows' own offsets say which clock
        ("UTC", ["--timezone", "America/New_York"], 18),  # the user says which clock
        ("America/New_York", ["--timezone", "America/New_York"], 18),  # not read twice
        ("UTC", [], 18),  # the daily cycle moved with New York's clock: read on it
    ],
)
def test_rows_at_an_earlier_utc_offset_are_read_on_the_latest_clock(
    tmp_path: Path, written_in: str, option: list[str], peak_utc: int
) -> None:
    """Traffic follows its users' clocks: after New York's change to -04:00 on 8 March, last
    week's 14:00 peak is forecast at 14:00 local (18:00Z), not at 19:00Z where UTC put it."""
    series = _office_hours(days=21, zone="America/New_York")
    written = series.tz_convert(written_in)
    path = tmp_path / "history.csv"
    pd.DataFrame({"timestamp": [t.isoformat() for t in written.index], "value": series}).to_csv(
        path, index=False
    )
    output = tmp_path / "f.csv"
    arguments = ["--input", str(path), "--horizon", "24h", "--output", str(output), *option]
    result = runner.invoke(app, ["forecast", *arguments, "--model", "seasonal_naive_weekly"])
    assert result.exit_code == 0, result.output
    assert ("clock" in result.output) is (peak_utc == 18)
    forecast = pd.read_csv(output)
    peak = pd.Timestamp(forecast.loc[forecast["p50"].idxmax(), "timestamp"]).tz_convert("UTC")
    assert peak.hour == peak_utc  # last week's peak, 14:00 at -05:00 = 19:00Z


def _write_utc(path: Path, series: pd.Series) -> None:
    stamps = series.index.tz_convert("UTC").tz_localize(None).strftime("%Y-%m-%d %H:%M:%S")
    pd.DataFrame({"timestamp": stamps, "value": series.to_numpy()}).to_csv(path, index=False)


def test_a_daily_cycle_that_moved_with_a_zone_s_clock_is_read_on_it(tmp_path: Path) -> None:
    """Found by a QA pass: on four histories of local-clock traffic stored in UTC across a
    daylight-saving change, ``auto`` lost to "yesterday repeated" by 1.15-1.64x, and nothing
    hinted that --timezone would help. The offline commands now read such a file on the zone
    whose change the cycle followed, and say so; a profile's own timezone still decides."""
    _write_utc(tmp_path / "history.csv", _office_hours(days=21, zone="America/New_York"))
    (tmp_path / "p.yaml").write_text("capacity_per_replica: 10\n")
    (tmp_path / "zoned.yaml").write_text("capacity_per_replica: 10\ntimezone: UTC\n")
    moved = "note: the daily cycle moved an hour at 2026-03-08T07:00Z as America/New_York's clock"
    runs = {
        "forecast": ["forecast", "--model", "seasonal_naive_weekly"],
        "backtest": ["backtest", "--models", "seasonal_naive_weekly"],
        "plan": ["plan", "--model", "seasonal_naive_weekly", "--profile", "p.yaml"],
        "zoned": ["plan", "--model", "seasonal_naive_weekly", "--profile", "zoned.yaml"],
    }
    results = {}
    for name, command in runs.items():
        command = [str(tmp_path / part) if part.endswith(".yaml") else part for part in command]
        output = [] if name == "backtest" else ["--output", str(tmp_path / f"{name}.csv")]
        arguments = [*command, "--input", str(tmp_path / "history.csv"), "--horizon", "24h"]
        results[name] = runner.invoke(app, [*arguments, *output])
        assert results[name].exit_code == 0, results[name].output
    choose = {"forecast": "pass --timezone", "backtest": "pass --timezone"}
    choose["plan"] = "set the profile's timezone"
    for name, how in choose.items():
        assert f"{moved} did: read on that clock ({how} to choose)" in results[name].stderr
    assert "moved an hour" not in results["zoned"].stderr
    peaks = {}
    for name in ("forecast", "plan", "zoned"):
        frame = pd.read_csv(tmp_path / f"{name}.csv")
        column = "p50" if name == "forecast" else "replicas"
        peaks[name] = pd.Timestamp(frame.loc[frame[column].idxmax(), "timestamp"]).hour
    assert peaks["forecast"] == 18  # 14:00 at -04:00, as the traffic will come
    assert peaks["zoned"] - peaks["plan"] == 1  # the plan's ramp an hour earlier than UTC's


def test_a_daily_cycle_on_utc_s_clock_is_read_in_utc(tmp_path: Path) -> None:
    _write_utc(tmp_path / "history.csv", _office_hours(days=21, zone="UTC"))
    arguments = ["--input", str(tmp_path / "history.csv"), "--horizon", "24h"]
    result = runner.invoke(
        app, ["forecast", *arguments, "--output", str(tmp_path / "f.csv"), "--model", "mstl"]
    )
    assert result.exit_code == 0, result.output
    assert "clock" not in result.output


def test_a_file_at_one_utc_offset_is_read_as_written(tmp_path: Path) -> None:
    series = _office_hours(days=3, zone="Asia/Kolkata")  # +05:30 all year
    path = tmp_path / "history.csv"
    pd.DataFrame({"timestamp": [t.isoformat() for t in series.index], "value": series}).to_csv(
        path, index=False
    )
    loaded = read_series_csv(path)
    assert loaded.clock_shift is None and loaded.note is None
    assert loaded.on_latest_clock() is loaded.points


def test_rows_ending_with_a_trailing_comma_are_read(tmp_path: Path) -> None:
    """Found by a QA sweep: rows ending with a separator the header lacks (``t,5,``, as some
    exporters write) refused the whole file; so did the same with no header row. The blank
    field is dropped; a row whose extra field holds something still refuses the file."""
    rows = [f"2024-01-01 00:{minute:02d}:00,{minute % 7}," for minute in range(0, 60, 5)]
    files = {
        "header": "timestamp,value\n" + "\n".join(rows) + "\n",
        "no_header": "\n".join(rows) + "\n",
    }
    for name, text in files.items():
        (tmp_path / f"{name}.csv").write_text(text)
        series_file = read_series_csv(tmp_path / f"{name}.csv")
        assert list(series_file.points) == [minute % 7 for minute in range(0, 60, 5)], name
    (tmp_path / "extra.csv").write_text(
        "timestamp,value\n" + "\n".join(rows) + "\n" + rows[0] + "7\n"
    )
    with pytest.raises(InvalidInputError, match="more fields than the header"):
        read_series_csv(tmp_path / "extra.csv")


def test_dates_and_numbers_in_a_spreadsheet_locale_are_named(tmp_path: Path) -> None:
    """Found by a QA sweep: ``03/04/2024 00:05`` or ``04.03.2024`` timestamps and ``"10,063"``
    values were refused as unreadable rows without saying why; the refusal now names the
    likely form (day or month first is ambiguous, so it is not guessed)."""
    cases = {
        "03/04/2024 00:05,12": "a day-first or month-first date? write ISO-8601",
        "04.03.2024 00:05,12": "a day-first or month-first date? write ISO-8601",
        '2024-03-04 00:05,"10,063"': "a thousands separator or a decimal comma?",
        '2024-03-04 00:05,"10,5"': "a thousands separator or a decimal comma?",
        "2024-03-04 00:05,12 req/s": "unreadable rows, first at line 2: 2024-03-04 00:05,12 req/s",
    }
    for row, message in cases.items():
        (tmp_path / "local.csv").write_text(f"timestamp,value\n{row}\n{row}\n")
        with pytest.raises(InvalidInputError, match="unreadable rows") as refused:
            read_series_csv(tmp_path / "local.csv")
        assert message in str(refused.value), row
    assert "(" not in str(refused.value).rsplit("req/s", 1)[1]  # no hint where none fits
