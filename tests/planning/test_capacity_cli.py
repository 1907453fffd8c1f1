"""The capacity CLI: ``forecaster simulate`` and the offline ``forecaster plan`` contract."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner, Result

from forecaster.cli import app
from forecaster.cli.capacity_commands import verdict
from forecaster.planning.tiers import parse_mix
from forecaster.profiles import load_profile
from forecaster.settings import get_settings

runner = CliRunner()
PROFILE = {
    "capacity_per_replica": 10,
    "target_utilization": 0.5,
    "min_replicas": 1,
    "max_replicas": 200,
    "startup_seconds": 600,
    "scale_down_delay_seconds": 0,
    "step_seconds": 300,
    "gpus_per_replica": 2,
}
TIERS = [
    {"name": "CPU", "capacity_per_replica": 4, "cost_per_replica_hour": 0.1, "startup_seconds": 60},
    {
        "name": "L4",
        "capacity_per_replica": 40,
        "cost_per_replica_hour": 0.8,
        "startup_seconds": 600,
        "gpus_per_replica": 1,
    },
]


def write_csv(path: Path, index: pd.DatetimeIndex, values: np.ndarray) -> Path:
    stamps = index.tz_localize(None).strftime("%Y-%m-%d %H:%M:%S")
    pd.DataFrame({"timestamp": stamps, "value": values}).to_csv(path, index=False)
    return path


def daily_ramps(path: Path, days: int = 3) -> Path:
    index = pd.date_range("2024-01-01", periods=days * 288, freq="5min", tz="UTC")
    values = np.where((index.hour >= 8) & (index.hour < 18), 200.0, 20.0)
    return write_csv(path, index, values)


def write_profile(path: Path, **extra: object) -> Path:
    path.write_text(yaml.safe_dump({**PROFILE, **extra}))
    return path


def test_simulate_writes_a_report_and_a_plot(tmp_path: Path) -> None:
    trace = daily_ramps(tmp_path / "trace.csv")
    args = [
        "simulate",
        "--input",
        str(trace),
        "--profile",
        str(write_profile(tmp_path / "p.yaml")),
        "--output",
        str(tmp_path / "report.json"),
        "--plot",
        str(tmp_path / "plot.svg"),
        "--model",
        "seasonal_naive_daily",
        "--train-fraction",
        "0.6667",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "predictive" in result.output and "reactive_equal_spend" in result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["policies"]["predictive"]["under_provisioned_pct"] == 0
    assert report["policies"]["reactive"]["under_provisioned_pct"] > 0
    assert report["forecast"]["model"] == "seasonal_naive_daily"
    reactive_pct = report["policies"]["reactive"]["under_provisioned_pct"]
    assert (
        f"under-provisioned 0.000 % of the time against {reactive_pct:.3f} % for the reactive"
        in (result.output)
    )
    assert "at equal spend (target utilisation lowered to" in result.output
    svg = ElementTree.parse(tmp_path / "plot.svg").getroot()
    assert svg.tag.endswith("svg")
    assert len(svg.findall("{http://www.w3.org/2000/svg}path")) == 2 * 5  # load + capacity each


def test_simulate_refuses_bad_input(tmp_path: Path) -> None:
    trace = daily_ramps(tmp_path / "trace.csv", days=1)
    base = ["simulate", "--input", str(trace), "--output", str(tmp_path / "r.json")]
    bad_profile = tmp_path / "bad.yaml"
    bad_profile.write_text("capacity_per_replica: -1\n")
    result = runner.invoke(app, [*base, "--profile", str(bad_profile)])
    assert result.exit_code == 2 and "capacity_per_replica" in result.output
    good = str(write_profile(tmp_path / "p.yaml"))
    result = runner.invoke(app, [*base, "--profile", good, "--policies", "static,psychic"])
    assert result.exit_code == 2 and "unknown policies" in result.output
    result = runner.invoke(app, [*base, "--profile", good, "--replan", "soon"])
    assert result.exit_code == 2 and "duration" in result.output
    bad_profile.write_text("capacity_per_replica: [1, 2\n")
    result = runner.invoke(app, [*base, "--profile", str(bad_profile)])
    assert result.exit_code == 2 and "not valid YAML" in result.output
    assert result.stderr.count("\n") == 1  # one line, where and what (PyYAML's spans five)
    assert "line 2, column 1" in result.stderr
    bad_profile.write_bytes(b"\xff\xfecapacity_per_replica: 5\n")  # UTF-16, say
    result = runner.invoke(app, [*base, "--profile", str(bad_profile)])
    assert result.exit_code == 2 and f"{bad_profile}: not UTF-8 text (byte 0)" in result.output
    result = runner.invoke(app, [*base, "--profile", good, "--plot", str(tmp_path / "p.png")])
    assert (
        result.exit_code == 2
        and "--plot writes SVG: give a file name ending in .svg" in result.output
    )
    assert not (tmp_path / "p.png").exists()
    frame = pd.read_csv(trace)
    frame.loc[[100, 200], "value"] = -3.0  # a counter reset exported as a negative delta
    frame.to_csv(tmp_path / "negative.csv", index=False)
    result = runner.invoke(
        app, [*base[:2], str(tmp_path / "negative.csv"), *base[3:], "--profile", good]
    )
    assert result.exit_code == 2
    assert "not negative (the first of 2: -3 at 2024-01-01T08:20:00+00:00)" in result.stderr
    (tmp_path / "taken").mkdir()
    result = runner.invoke(app, [*base[:-1], str(tmp_path / "taken"), "--profile", good])
    assert result.exit_code == 2 and "is a directory" in result.output


def test_simulate_refuses_replay_days_that_are_not_positive(tmp_path: Path) -> None:
    """0 or -1 said "nothing left to replay", inf ended in a traceback."""
    trace = daily_ramps(tmp_path / "trace.csv", days=1)
    args = ["simulate", "--input", str(trace), "--output", str(tmp_path / "r.json")]
    args += ["--profile", str(write_profile(tmp_path / "p.yaml"))]
    for days in ("-1", "0", "inf"):
        result = runner.invoke(app, [*args, f"--replay-days={days}"])
        assert result.exit_code == 2, result.output
        assert "--replay-days must be a positive number of days" in result.stderr


def invoke_plan(history: Path, profile: Path, out: Path, *extra: str) -> Result:
    """``forecaster plan`` offline, 24 h ahead with seasonal-naive unless ``extra`` says else."""
    args = ["plan", "--input", str(history), "--profile", str(profile), "--output", str(out)]
    return runner.invoke(
        app, [*args, "--horizon", "24h", "--model", "seasonal_naive_daily", *extra]
    )


def plan_csv(tmp_path: Path, history: Path, profile: Path, *extra: str) -> pd.DataFrame:
    out = tmp_path / "plan.csv"
    result = invoke_plan(history, profile, out, *extra)
    assert result.exit_code == 0, result.output
    assert "model: seasonal_naive_daily" in result.output  # the forecast under the plan
    return pd.read_csv(out)


def test_offline_plan_contract(tmp_path: Path) -> None:
    history = daily_ramps(tmp_path / "history.csv")
    plan = plan_csv(tmp_path, history, write_profile(tmp_path / "p.yaml"))
    nested = tmp_path / "new" / "folder" / "plan.csv"  # the output's folder is created
    assert invoke_plan(history, tmp_path / "p.yaml", nested).exit_code == 0
    assert pd.read_csv(nested).equals(plan)
    assert list(plan.columns) == ["timestamp", "replicas", "gpus"]
    assert len(plan) == 288
    assert (plan["gpus"] == plan["replicas"] * 2).all()
    stamps = pd.to_datetime(plan["timestamp"])
    # 200 needs 40 replicas at 5 per replica, requested 600 s (two steps) before 08:00
    assert plan.loc[stamps == pd.Timestamp("2024-01-04 07:50"), "replicas"].item() == 40
    assert plan.loc[stamps == pd.Timestamp("2024-01-04 07:30"), "replicas"].item() == 4


def test_offline_plan_without_a_horizon_plans_the_profiles_or_a_day(tmp_path: Path) -> None:
    history = daily_ramps(tmp_path / "history.csv")
    out = tmp_path / "plan.csv"
    # a sixth of an hour is two 5-minute steps, as the service counts it (its 6-digit text,
    # 0.166667h, was 600.0012 s: three)
    for extra, steps in (({"horizon_hours": 6}, 72), ({"horizon_hours": 1 / 6}, 2), ({}, 288)):
        profile = write_profile(tmp_path / "p.yaml", **extra)
        args = ["plan", "--input", str(history), "--profile", str(profile), "--output", str(out)]
        result = runner.invoke(app, [*args, "--model", "seasonal_naive_daily"])
        assert result.exit_code == 0, result.output
        assert len(pd.read_csv(out)) == steps


def test_offline_plan_notes_and_leaves_out_fields_it_does_not_know(tmp_path: Path) -> None:
    history = daily_ramps(tmp_path / "history.csv")
    profile = write_profile(tmp_path / "p.yaml", min_replica=30, cost_per_gpu_hour=2.5)
    plan = plan_csv(tmp_path, history, profile)
    assert plan["replicas"].min() == 4  # min_replica (a typo) did not count
    result = invoke_plan(history, profile, tmp_path / "again.csv")
    assert 'ignored unknown field "min_replica" (did you mean "min_replicas"?)' in result.output
    assert 'ignored unknown field "cost_per_gpu_hour"' in result.output
    # a known field with a bad value is still refused
    bad = write_profile(tmp_path / "bad.yaml", min_replicas=-3)
    result = invoke_plan(history, bad, tmp_path / "bad.csv")
    assert result.exit_code == 2 and "min_replicas" in result.output


def test_offline_plan_leaves_out_unknown_tier_fields_and_refuses_a_key_given_twice(
    tmp_path: Path,
) -> None:
    """QA: a typo inside a tier was refused with pydantic's "Extra inputs are not permitted"
    while the same typo at the top was left out with a note; and a key given twice took the
    second value without a word (``capacity_per_replica`` 5, then 50)."""
    history = daily_ramps(tmp_path / "history.csv")
    tier = {"name": "L4", "capacity_per_replica": 5, "cost_per_replica_hour": 0.8}
    profile = write_profile(tmp_path / "p.yaml", tiers=[{**tier, "startup": 30}])
    result = invoke_plan(history, profile, tmp_path / "plan.csv")
    assert result.exit_code == 0, result.output
    assert 'ignored unknown field "startup" in tiers.0 (did you mean "startup_seconds"?)' in (
        result.output
    )
    twice = tmp_path / "twice.yaml"
    twice.write_text("capacity_per_replica: 5\nstartup_seconds: 60\ncapacity_per_replica: 50\n")
    result = invoke_plan(history, twice, tmp_path / "twice.csv")
    assert result.exit_code == 2
    assert '"capacity_per_replica" is given twice' in result.output
    assert not (tmp_path / "twice.csv").exists()


def test_a_profile_may_share_a_block_through_a_yaml_merge_key(tmp_path: Path) -> None:
    """QA: tiers sharing a block through ``<<: *gpu`` were refused as "not valid YAML" (the
    key check read the merge key as a key), though YAML and ``yaml.safe_load`` allow it."""
    merged = tmp_path / "merged.yaml"
    merged.write_text(
        "capacity_per_replica: 10\n"
        "tiers:\n"
        "  - &gpu {name: L4, capacity_per_replica: 40, cost_per_replica_hour: 0.8,"
        " gpus_per_replica: 2}\n"
        "  - <<: *gpu\n    name: A100\n    capacity_per_replica: 150\n"
    )
    tiers = load_profile(merged).tiers
    assert [(t.name, t.capacity_per_replica, t.gpus_per_replica) for t in tiers] == [
        ("L4", 40, 2),
        ("A100", 150, 2),  # its own keys override the merged ones; the rest are shared
    ]
    twice = tmp_path / "twice.yaml"
    twice.write_text("tiers:\n  - &gpu {name: L4}\n  - <<: *gpu\n    name: A\n    name: B\n")
    with pytest.raises(ValueError, match='"name" is given twice'):
        load_profile(twice)


def test_a_profile_reads_numbers_and_words_as_yaml_1_2_does(tmp_path: Path) -> None:
    """PyYAML reads YAML 1.1: ``max_replicas: 010`` was octal 8, ``startup_seconds: 3:00`` base
    60 (180), and ``holiday_country: NO`` (Norway) the boolean False, refused as "not a valid
    string". Written as YAML 1.2 and every other parser today reads them, or refused by name."""
    written = tmp_path / "p.yaml"
    written.write_text(
        "capacity_per_replica: 10\nmax_replicas: 010\nholiday_country: NO\nforecast_only: yes\n"
    )
    profile = load_profile(written)
    assert (profile.max_replicas, profile.holiday_country, profile.forecast_only) == (
        10,
        "NO",
        True,
    )
    clock = tmp_path / "clock.yaml"
    clock.write_text("capacity_per_replica: 10\nstartup_seconds: 3:00\n")
    with pytest.raises(ValueError, match="startup_seconds"):
        load_profile(clock)


def test_a_profile_reads_1_000_0b101_and_0x10_as_numbers_and_says_so_where_text_belongs(
    tmp_path: Path,
) -> None:
    """A number written with underscores, in binary or in hex is the number a person means where
    a number belongs. Where text belongs (``gpu_type: 0x10``, a tier named 4090) it was refused as
    "Input should be a valid string", without a word on why: YAML had read a number (QA)."""
    numbers = tmp_path / "numbers.yaml"
    numbers.write_text("capacity_per_replica: 1_000\nmax_replicas: 0b101\nstartup_seconds: 0x10\n")
    profile = load_profile(numbers)
    assert (profile.capacity_per_replica, profile.max_replicas, profile.startup_seconds) == (
        1000,
        5,
        16,
    )
    text = tmp_path / "text.yaml"
    text.write_text(
        "capacity_per_replica: 10\ngpu_type: 0x10\nholiday_country: true\n"
        "tiers:\n- {name: 4090, capacity_per_replica: 10, cost_per_replica_hour: 1}\n"
    )
    with pytest.raises(ValueError) as refused:
        load_profile(text)
    said = "Input should be a valid string (read as the"
    assert str(refused.value).split(": ", 1)[1].split("; ") == [
        f"gpu_type: {said} number 16, not text: put it in quotes)",
        f"tiers.0.name: {said} number 4090, not text: put it in quotes)",
        f"holiday_country: {said} boolean true, not text: put it in quotes)",
    ]
    target = tmp_path / "target.yaml"  # a target's config is read by its actuator (review)
    target.write_text(
        "capacity_per_replica: 10\n"
        "targets:\n- {kind: kubernetes-hpa, config: {namespace: ml, name: 2024}}\n"
    )
    with pytest.raises(ValueError, match=r"name: Input should be a valid string \(read as the "):
        load_profile(target)
    quoted = tmp_path / "quoted.yaml"
    quoted.write_text('capacity_per_replica: 10\ngpu_type: "0x10"\n')
    assert load_profile(quoted).gpu_type == "0x10"


def test_no_command_writes_its_output_over_an_input(tmp_path: Path) -> None:
    """QA: ``--output`` naming the history replaced it by the plan."""
    history = daily_ramps(tmp_path / "history.csv")
    profile = write_profile(tmp_path / "p.yaml")
    kept = history.read_text()
    for target in (history, profile, tmp_path / "." / "history.csv"):
        result = invoke_plan(history, profile, target)
        assert result.exit_code == 2 and "it is an input of this run" in result.output
    forecast = ["forecast", "--input", str(history), "--output", str(history)]
    assert "it is an input of this run" in runner.invoke(app, forecast).output
    assert history.read_text() == kept and "capacity_per_replica" in profile.read_text()


def test_offline_plan_names_the_profiles_bad_fields_in_one_line(tmp_path: Path) -> None:
    # pydantic's own text spread over lines, echoed the input and linked its docs
    history = daily_ramps(tmp_path / "history.csv")
    bad = write_profile(tmp_path / "bad.yaml", min_replicas=10, max_replicas=5)
    result = invoke_plan(history, bad, tmp_path / "bad.csv")
    assert result.exit_code == 2
    assert f"error: {bad}: profile: min_replicas (10) exceeds max_replicas (5)\n" in result.output
    bad = write_profile(tmp_path / "bad.yaml", startup_seconds=200_000)
    result = invoke_plan(history, bad, tmp_path / "bad.csv")
    assert "startup_seconds: Input should be less than or equal to 86400" in result.output
    assert "pydantic" not in result.output and "input_value" not in result.output


def test_offline_plan_refuses_a_boolean_where_a_number_belongs(tmp_path: Path) -> None:
    """YAML's ``true`` read as 1 would plan for one request a second per replica, silently."""
    history = daily_ramps(tmp_path / "history.csv")
    bad = write_profile(
        tmp_path / "bad.yaml", capacity_per_replica=True, max_replicas=False, forecast_only=True
    )
    result = invoke_plan(history, bad, tmp_path / "bad.csv")
    assert result.exit_code == 2
    assert "capacity_per_replica: expected a number, not true" in result.output
    assert "max_replicas: expected a number, not false" in result.output
    assert "forecast_only" not in result.output  # a boolean field takes its boolean
    assert not (tmp_path / "bad.csv").exists()


def test_offline_plan_says_when_max_replicas_holds_it_below_the_need(tmp_path: Path) -> None:
    """A plan flat at max_replicas looks like a calm forecast unless it says it was held there."""
    history = daily_ramps(tmp_path / "history.csv")
    result = invoke_plan(history, write_profile(tmp_path / "p.yaml"), tmp_path / "plan.csv")
    assert result.exit_code == 0, result.output
    assert "held at" not in result.stderr  # 40 replicas fit under max_replicas 200
    capped = write_profile(tmp_path / "capped.yaml", max_replicas=30)
    result = invoke_plan(history, capped, tmp_path / "capped.csv")
    assert result.exit_code == 0, result.output
    # 08:00-18:00 and the two steps of start-up before it
    expected = "note: 122 of 288 plan rows are held at max_replicas 30; the p95 load needs up to 40"
    assert expected in result.stderr
    assert pd.read_csv(tmp_path / "capped.csv")["replicas"].max() == 30


def test_offline_tiered_plan_says_when_its_maxima_hold_it_below_the_need(tmp_path: Path) -> None:
    """The note was written for single-type plans only: a tiered plan held at the fullest mix
    the maxima allow said nothing."""
    history = daily_ramps(tmp_path / "history.csv")
    roomy = write_profile(tmp_path / "roomy.yaml", tiers=TIERS)
    result = invoke_plan(history, roomy, tmp_path / "roomy.csv")
    assert result.exit_code == 0, result.output
    assert "cannot cover" not in result.stderr
    capped = write_profile(tmp_path / "capped.yaml", tiers=TIERS, max_replicas=3)
    result = invoke_plan(history, capped, tmp_path / "capped.csv")
    assert result.exit_code == 0, result.output
    assert "plan rows cannot cover the p95 load within max_replicas 3" in result.stderr


def test_offline_plan_with_tiers(tmp_path: Path) -> None:
    history = daily_ramps(tmp_path / "history.csv")
    plan = plan_csv(tmp_path, history, write_profile(tmp_path / "p.yaml", tiers=TIERS))
    assert list(plan.columns) == ["timestamp", "replicas", "gpus", "tier"]
    mixes = [parse_mix(text) for text in plan["tier"]]
    assert plan["replicas"].tolist() == [sum(mix.values()) for mix in mixes]
    assert plan["gpus"].tolist() == [mix.get("L4", 0) for mix in mixes]
    assert {"L4"} <= set().union(*mixes) and {"CPU"} <= set().union(*mixes)


def test_offline_plan_covers_bursts_inside_a_step(tmp_path: Path) -> None:
    index = pd.date_range("2024-01-01", periods=3 * 1440, freq="1min", tz="UTC")
    flat = np.full(len(index), 40.0)
    # the same 5-minute means, but all the load arrives in one minute of every five
    bursty = np.where(np.arange(len(index)) % 5 == 0, 200.0, 0.0)
    profile = write_profile(tmp_path / "p.yaml", min_replicas=0)
    calm = plan_csv(
        tmp_path, write_csv(tmp_path / "flat.csv", index, flat), profile, "--freq", "5min"
    )
    spiky = plan_csv(
        tmp_path, write_csv(tmp_path / "bursty.csv", index, bursty), profile, "--freq", "5min"
    )
    assert calm["replicas"].max() == 8  # 40 / 5
    assert spiky["replicas"].min() == 40  # the 200 peak, not the mean


def test_offline_plan_steps_at_the_profiles_step_seconds(tmp_path: Path) -> None:
    index = pd.date_range("2024-01-01", periods=3 * 1440, freq="1min", tz="UTC")
    history = write_csv(tmp_path / "minutes.csv", index, np.full(len(index), 40.0))
    stepped = write_profile(tmp_path / "stepped.yaml")  # step_seconds: 300
    unstepped = {key: value for key, value in PROFILE.items() if key != "step_seconds"}
    (tmp_path / "unstepped.yaml").write_text(yaml.safe_dump(unstepped))

    by_profile = plan_csv(tmp_path, history, stepped)
    pd.testing.assert_frame_equal(
        by_profile, plan_csv(tmp_path, history, stepped, "--freq", "5min")
    )
    assert len(by_profile) == 288
    assert pd.to_datetime(by_profile["timestamp"]).diff().dropna().eq(pd.Timedelta("5min")).all()
    # no step in the profile: the data's own step
    assert len(plan_csv(tmp_path, history, tmp_path / "unstepped.yaml")) == 1440
    # a profile step finer than the data cannot be planned: the data's step
    coarse = write_csv(tmp_path / "hours.csv", index[::60], np.full(72, 40.0))
    assert len(plan_csv(tmp_path, coarse, stepped)) == 24


@pytest.mark.parametrize(("step", "first"), [(300, "05:30"), (900, "05:30"), (3600, "05:00")])
def test_an_offline_plan_starts_with_the_step_the_file_ends_in(
    tmp_path: Path, step: int, first: str
) -> None:
    """Rows to 05:31 (the file covers until 05:32): a first row at 05:35, 05:45 or 06:00
    left the minutes from 05:32 with no floor."""
    index = pd.date_range("2024-01-01", "2024-01-04 05:31", freq="1min", tz="UTC")
    history = write_csv(tmp_path / "minutes.csv", index, np.full(len(index), 40.0))
    plan = plan_csv(tmp_path, history, write_profile(tmp_path / "p.yaml", step_seconds=step))
    stamps = pd.to_datetime(plan["timestamp"])
    assert f"{stamps.iloc[0]:%H:%M}" == first
    assert len(plan) == 86_400 // step  # as many rows as ever
    assert stamps.diff().dropna().eq(pd.Timedelta(seconds=step)).all()


def test_offline_plan_drops_the_floor_only_where_the_hpa_keeps_up(tmp_path: Path) -> None:
    plain = write_profile(tmp_path / "plain.yaml")
    tolerant = write_profile(tmp_path / "tolerant.yaml", reactive_tolerance_pct=0.1)
    # the 08:00 jump outruns a 600 s start-up: the floor stays
    ramps = daily_ramps(tmp_path / "ramps.csv")
    pd.testing.assert_frame_equal(
        plan_csv(tmp_path, ramps, tolerant), plan_csv(tmp_path, ramps, plain)
    )
    index = pd.date_range("2024-01-01", periods=3 * 288, freq="5min", tz="UTC")
    hours = np.arange(len(index)) / 12
    smooth = write_csv(tmp_path / "smooth.csv", index, 100 + 50 * np.sin(2 * np.pi * hours / 24))
    assert plan_csv(tmp_path, smooth, plain)["replicas"].max() > 20
    assert (plan_csv(tmp_path, smooth, tolerant)["replicas"] == 1).all()


def test_offline_plan_checks_the_floor_on_a_file_with_negative_values(tmp_path: Path) -> None:
    """Negative values are noted and forecast as given; the HPA check reads them as no load
    instead of refusing the file (it stopped with "values must be ... not negative")."""
    index = pd.date_range("2024-01-01", periods=3 * 288, freq="5min", tz="UTC")
    values = 50 + 50 * np.sin(2 * np.pi * np.arange(len(index)) / 288)
    values[216] = -0.5  # at the first night's trough: a sensor offset, not a drop
    history = write_csv(tmp_path / "negative.csv", index, values)
    tolerant = write_profile(tmp_path / "tolerant.yaml", reactive_tolerance_pct=0.1)
    result = invoke_plan(history, tolerant, tmp_path / "plan.csv")
    assert result.exit_code == 0, result.output
    assert "1 values are negative" in result.stderr
    assert (pd.read_csv(tmp_path / "plan.csv")["replicas"] == 1).all()  # a smooth load: no floor


def test_offline_plan_uses_the_profiles_holiday_country(tmp_path: Path) -> None:
    """Past US holidays ran at a fifth of the usual load; Labor Day is next."""
    import holidays

    index = pd.date_range("2024-05-01", "2024-09-01 23:00", freq="h", tz="UTC")
    us = holidays.country_holidays("US", years=2024)
    quiet = np.array([moment.date() in us for moment in index])
    usual = 100 + 60 * np.sin(2 * np.pi * (index.hour - 6) / 24)
    history = write_csv(tmp_path / "h.csv", index, np.where(quiet, 0.2 * usual, usual))
    totals = {}
    for country in ("US", None):
        profile = tmp_path / f"{country}.yaml"
        fields = {"capacity_per_replica": 10} | ({"holiday_country": country} if country else {})
        profile.write_text(yaml.safe_dump(fields))
        out = tmp_path / f"{country}.csv"
        args = ["plan", "--input", str(history), "--profile", str(profile), "--output", str(out)]
        result = runner.invoke(app, [*args, "--horizon", "24h", "--model", "lightgbm"])
        assert result.exit_code == 0, result.output
        totals[country] = pd.read_csv(out)["replicas"].sum()
    assert totals["US"] < 0.6 * totals[None]


def test_simulate_is_not_held_to_the_apis_work_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API's simulation limits are for shared servers; offline, a long replay is the job."""
    monkeypatch.setenv("FORECASTER_SIMULATION_MAX_FORECASTS", "1")
    monkeypatch.setenv("FORECASTER_SIMULATION_MAX_TICK_STEPS", "1")
    get_settings.cache_clear()
    try:
        args = [
            "simulate",
            *("--input", str(daily_ramps(tmp_path / "trace.csv"))),
            *("--profile", str(write_profile(tmp_path / "p.yaml"))),
            *("--output", str(tmp_path / "report.json")),
            *("--model", "seasonal_naive_daily", "--train-fraction", "0.6667"),
        ]
        result = runner.invoke(app, args)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "predictive" in json.loads((tmp_path / "report.json").read_text())["policies"]


def test_the_verdict_does_not_call_a_spend_it_could_not_reach_equal() -> None:
    """Found by a QA pass: with the load gone (200, then 0 through the replay) no lower target
    adds replicas, and 84 replica-hours read as 'at equal spend' against predictive's 2136."""

    def report(equal_hours: float) -> dict[str, Any]:
        policy = {"under_provisioned_pct": 0.0}
        return {
            "policies": {
                "predictive": {**policy, "replica_hours": 2136.5},
                "reactive_equal_spend": {**policy, "replica_hours": equal_hours},
            },
            "equal_spend_target_utilization": 0.02,
        }

    short = verdict(report(84.2))
    assert short == [
        "no equal-spend comparison: even at a target utilisation of 0.02 the reactive HPA "
        "spends 84.2 replica-hours, against 2136 for predictive"
    ]
    assert verdict(report(2140.0))[0].startswith("at equal spend (target utilisation lowered")
    # the HPA's spend moves in jumps as its target falls: at 1.22x predictive's it said "equal"
    assert verdict(report(2606.5))[0].startswith("at 1.22x predictive's spend (target")


def _office_hours_in_new_york(path: Path, *, with_offsets: bool) -> Path:
    """Hourly load on New York's clock (100 from 09:00 to 17:00, else 10) across the spring
    change, written with each row's own offset or in UTC."""
    local = pd.date_range("2026-02-09", "2026-03-14", freq="h", tz="America/New_York")
    values = np.where((local.hour >= 9) & (local.hour < 17), 100.0, 10.0)
    stamps = local.strftime("%Y-%m-%dT%H:%M:%S%z").str.replace(r"(\d\d)$", r":\1", regex=True)
    utc = local.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
    text = stamps if with_offsets else utc
    pd.DataFrame({"timestamp": text, "value": values}).to_csv(path, index=False)
    return path


def test_simulate_forecasts_on_the_clock_the_files_offsets_follow(tmp_path: Path) -> None:
    """Rows at -05:00, then -04:00 and a profile without a zone: replayed on UTC's clock, the
    floor rose an hour late each morning after the change (short where the zone's is not)."""
    args = ["--model", "seasonal_naive_weekly", "--replay-days", "7", "--no-equal-spend"]
    args += ["--policies", "predictive"]
    plain = write_profile(tmp_path / "plain.yaml", step_seconds=3600, max_replicas=20)
    zoned = write_profile(
        tmp_path / "zoned.yaml", step_seconds=3600, max_replicas=20, timezone="America/New_York"
    )
    reports, said = {}, {}
    for name, offsets, profile in (("offsets", True, plain), ("zone", False, zoned)):
        trace = _office_hours_in_new_york(tmp_path / f"{name}.csv", with_offsets=offsets)
        out = tmp_path / f"{name}.json"
        files = ["--input", str(trace), "--profile", str(profile), "--output", str(out)]
        result = runner.invoke(app, ["simulate", *files, *args])
        assert result.exit_code == 0, result.output
        reports[name] = json.loads(out.read_text())["policies"]["predictive"]
        said[name] = result.output
    assert "offsets follow America/" in said["offsets"]  # a zone with New York's rules
    assert reports["offsets"] == reports["zone"]
    assert reports["zone"]["under_provisioned_pct"] == 0


def test_output_dash_writes_to_stdout_and_the_lines_about_it_to_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA: ``--output -`` wrote a file named "-", and ``--output /dev/stdout > f.csv`` mixed the
    "model: ..." and "wrote ..." lines into the CSV."""
    monkeypatch.chdir(tmp_path)
    history = daily_ramps(tmp_path / "history.csv")
    profile = write_profile(tmp_path / "p.yaml")
    plan = plan_csv(tmp_path, history, profile)
    for dash in ("-", "/dev/stdout"):
        piped = invoke_plan(history, profile, Path(dash))
        assert piped.exit_code == 0, piped.output
        assert pd.read_csv(io.StringIO(piped.stdout)).equals(plan)
        assert "model: seasonal_naive_daily" in piped.stderr and f"to {dash}" in piped.stderr
    forecast = ["forecast", "--input", str(history), "--horizon", "1h", "--output", "-"]
    piped = runner.invoke(app, [*forecast, "--model", "seasonal_naive_daily"])
    assert piped.exit_code == 0, piped.output
    assert list(pd.read_csv(io.StringIO(piped.stdout)).columns) == [
        "timestamp",
        *("p50", "p90", "p95", "p99"),
    ]
    simulate = ["simulate", "--input", str(history), "--profile", str(profile), "--output", "-"]
    piped = runner.invoke(app, [*simulate, "--policies", "static,oracle"])
    assert piped.exit_code == 0, piped.output
    assert set(json.loads(piped.stdout)["policies"]) == {"static", "oracle"}
    assert "wrote -" in piped.stderr
    assert not (tmp_path / "-").exists()
