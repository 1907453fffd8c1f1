"""Robustness sweep of the offline contract (``forecaster forecast``, ``plan``, ``simulate``) on
inputs the shared traces do not cover: odd steps, timestamp styles, CSV dialects, odd values,
short histories. Each case runs the installed command as a subprocess and is checked against
the documented format; the script prints one row per case and exits 1 when any case fails.

    python scripts/sweep_offline_cli.py [--only NAME_SUBSTRING] [--jobs 2] [--timeout 300]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FAST = ["--model", "seasonal_naive_daily"]  # for cases that test reading, not the models
PROFILE = (
    "capacity_per_replica: 40\ntarget_utilization: 0.7\nmin_replicas: 2\nmax_replicas: 40\n"
    "startup_seconds: 180\ngpus_per_replica: 1\ncost_per_replica_hour: 0.8\n"
)


@dataclass
class Case:
    """One run: the command, the input's bytes, extra arguments, and what the input holds
    (its last instant, step and values) for judging the output."""

    name: str
    command: str
    text: bytes
    args: list[str] = field(default_factory=list)
    last: pd.Timestamp | None = None
    step: float | None = None
    horizon: float = 86_400.0
    values: np.ndarray | None = None
    expect_error: bool = False
    profile: str = PROFILE


@dataclass
class Finding:
    case: Case
    code: int
    seconds: float
    verdict: str
    detail: str


def traffic(
    days: float, step: float, *, base: float = 100.0, seed: int = 0, start: str = "2024-03-04"
) -> pd.Series:
    """A daily cycle times noise on a regular UTC grid (seeded), never negative."""
    periods = max(int(days * 86_400 / step), 1)
    index = pd.date_range(start, periods=periods, freq=pd.Timedelta(seconds=step), tz="UTC")
    seconds = (index - index[0]).total_seconds().to_numpy()
    noise = np.random.default_rng(seed).normal(0, 0.05, periods)
    daily = 1 + 0.5 * np.sin(2 * np.pi * seconds / 86_400)
    return pd.Series(np.maximum(base * daily * (1 + noise), 0), index=index)


def csv_text(
    stamps: list[str], values: list[str], *, header: str = "timestamp,value", sep: str = ","
) -> bytes:
    """Rows as given, joined by ``sep``, under ``header`` (none when empty)."""
    lines = ([header] if header else []) + [
        f"{t}{sep}{v}" for t, v in zip(stamps, values, strict=True)
    ]
    return ("\n".join(lines) + "\n").encode()


def naive(series: pd.Series) -> list[str]:
    return list(series.index.tz_localize(None).strftime("%Y-%m-%d %H:%M:%S"))


def numbers(series: pd.Series) -> list[str]:
    return [f"{v:.6g}" for v in series.to_numpy()]


def simple(name: str, command: str, series: pd.Series, **kwargs: object) -> Case:
    """A case of ``series`` written as naive UTC timestamp,value rows."""
    step = (series.index[1] - series.index[0]).total_seconds() if len(series) > 1 else None
    base = dict(
        text=csv_text(naive(series), numbers(series)),
        last=series.index[-1],
        step=step,
        values=series.to_numpy(),
    )
    base.update(kwargs)
    return Case(name=name, command=command, **base)  # type: ignore[arg-type]


def shared(file: str, days: float | None = None) -> pd.Series:
    """A shared trace (UTC), its last ``days`` only when given."""
    frame = pd.read_csv(DATA / file)
    series = pd.Series(
        frame["value"].to_numpy(float), index=pd.to_datetime(frame["timestamp"], utc=True)
    )
    if days is not None:
        series = series[series.index > series.index[-1] - pd.Timedelta(days=days)]
    return series


def forecast_cases() -> list[Case]:
    """Variants of step, timestamp style, dialect, values and length, for ``forecast``."""
    cases: list[Case] = []
    base = traffic(14, 300)
    cases.append(simple("base 5min 14d", "forecast", base))
    for label, days, step, horizon in (
        ("1s 6h", 0.25, 1, 600),
        ("10s 2d", 2, 10, 3600),
        ("1min 7d", 7, 60, 86_400),
        ("15min 28d", 28, 900, 86_400),
        ("1h 60d", 60, 3600, 172_800),
        ("1d 400d", 400, 86_400, 14 * 86_400),
    ):
        series = traffic(days, step)
        args = ["--horizon", f"{horizon}s"]
        cases.append(simple(f"step {label}", "forecast", series, args=args, horizon=horizon))
    rng = np.random.default_rng(1)
    jitter = base.index + pd.to_timedelta(rng.uniform(-40, 40, len(base)), unit="s")
    kept = rng.random(len(base)) > 0.1
    jittered = pd.Series(base.to_numpy()[kept], index=jitter[kept])
    cases.append(
        Case(
            "irregular: jitter +-40s, 10% dropped",
            "forecast",
            csv_text(naive(jittered), numbers(jittered)),
            last=base.index[kept][-1],
            step=300,
            values=base.to_numpy(),
        )
    )
    spacing = np.cumsum(rng.exponential(300, len(base)))
    random_times = pd.Timestamp("2024-03-04", tz="UTC") + pd.to_timedelta(spacing, unit="s")
    cases.append(
        Case(
            "irregular: exponential spacing ~300s",
            "forecast",
            csv_text(naive(pd.Series(0, index=random_times)), numbers(base)),
            values=base.to_numpy(),
        )
    )
    stamps = base.index
    styles: dict[str, list[str]] = {
        "iso Z": list(stamps.strftime("%Y-%m-%dT%H:%M:%SZ")),
        "iso +02:00": list(stamps.tz_convert("Etc/GMT-2").strftime("%Y-%m-%dT%H:%M:%S") + "+02:00"),
        "iso with ms Z": list(stamps.strftime("%Y-%m-%dT%H:%M:%S.000Z")),
        "epoch seconds": [str(int(t.timestamp())) for t in stamps],
        "epoch seconds float": [f"{t.timestamp():.3f}" for t in stamps],
    }
    for label, rows in styles.items():
        cases.append(
            Case(
                f"timestamps {label}",
                "forecast",
                csv_text(rows, numbers(base)),
                args=FAST,
                last=base.index[-1],
                step=300,
                values=base.to_numpy(),
            )
        )
    cases.append(
        Case(
            "timestamps epoch ms (refused)",
            "forecast",
            csv_text([str(int(t.timestamp() * 1000)) for t in stamps], numbers(base)),
            expect_error=True,
        )
    )
    for label, start in (("spring", "2024-03-03"), ("autumn", "2024-10-27")):
        dst = traffic(14, 300, start=start)
        local = dst.index.tz_convert("America/New_York")
        cases.append(
            Case(
                f"naive local times across {label} DST",
                "forecast",
                csv_text(list(local.strftime("%Y-%m-%d %H:%M:%S")), numbers(dst)),
                values=dst.to_numpy(),
                step=300,
            )
        )
        offsets = [t.isoformat() for t in local]
        cases.append(
            Case(
                f"offsets across {label} DST",
                "forecast",
                csv_text(offsets, numbers(dst)),
                last=dst.index[-1],
                step=300,
                values=dst.to_numpy(),
            )
        )
    order = np.random.default_rng(2).permutation(len(base))
    cases.append(
        Case(
            "unsorted rows",
            "forecast",
            csv_text([naive(base)[i] for i in order], [numbers(base)[i] for i in order]),
            args=FAST,
            last=base.index[-1],
            step=300,
            values=base.to_numpy(),
        )
    )
    doubled = pd.concat([base, base.iloc[::7] * 1.1]).sort_index()
    cases.append(
        Case(
            "duplicated timestamps",
            "forecast",
            csv_text(naive(doubled), numbers(doubled)),
            args=FAST,
            last=base.index[-1],
            step=300,
            values=base.to_numpy(),
        )
    )
    for label, hours in (("6h", 6), ("3 days", 72)):
        middle = len(base) // 2
        gap = base.drop(base.index[middle : middle + hours * 12])
        cases.append(simple(f"gap of {label} in the middle", "forecast", gap, step=300))
    old_gap = base.drop(base.index[len(base) - 36 :])
    old_gap = pd.concat([old_gap, base.iloc[-6:]])
    cases.append(simple("gap of 2.5h just before the end", "forecast", old_gap, step=300))
    plain = csv_text(naive(base), numbers(base))
    dialects = {
        "blank lines around": b"\n\n" + plain + b"\n\n\n",
        "BOM": b"\xef\xbb\xbf" + plain,
        "CRLF": plain.replace(b"\n", b"\r\n"),
        "BOM + CRLF": b"\xef\xbb\xbf" + plain.replace(b"\n", b"\r\n"),
        "semicolons": csv_text(naive(base), numbers(base), header="timestamp;value", sep=";"),
        "semicolons, decimal commas": csv_text(
            naive(base),
            [f"{v:.3f}".replace(".", ",") for v in base],
            header="timestamp;value",
            sep=";",
        ),
        "tabs": csv_text(naive(base), numbers(base), header="timestamp\tvalue", sep="\t"),
        "quoted fields": csv_text(
            [f'"{t}"' for t in naive(base)], [f'"{v}"' for v in numbers(base)]
        ),
        "header with spaces": csv_text(naive(base), numbers(base), header="timestamp, value"),
        "capitalised header": csv_text(naive(base), numbers(base), header="Timestamp,Value"),
        "other names (ts,requests)": csv_text(naive(base), numbers(base), header="ts,requests"),
        "no header": csv_text(naive(base), numbers(base), header=""),
        "trailing comma": csv_text(naive(base), [v + "," for v in numbers(base)]),
        "integer counts": csv_text(naive(base), [str(int(round(v))) for v in base]),
        "floats with 1.0": csv_text(naive(base), [f"{round(v)}.0" for v in base]),
        "scientific notation": csv_text(naive(base), [f"{v:.4e}" for v in base]),
    }
    refused = ("semicolons", "semicolons, decimal commas", "tabs")  # with a hint, on purpose
    for label, text in dialects.items():
        cases.append(
            Case(
                f"csv {label}" + (" (refused)" if label in refused else ""),
                "forecast",
                text,
                args=FAST,
                last=base.index[-1],
                step=300,
                values=base.to_numpy(),
                expect_error=label in refused,
            )
        )
    extra = "timestamp,value,host\n" + "".join(
        f"{t},{v},web-1\n" for t, v in zip(naive(base), numbers(base), strict=True)
    )
    cases.append(
        Case(
            "extra column",
            "forecast",
            extra.encode(),
            args=FAST,
            last=base.index[-1],
            step=300,
            values=base.to_numpy(),
        )
    )
    wide = "time,host,requests,errors\n" + "".join(
        f"{t},web-1,{v},0\n" for t, v in zip(naive(base), numbers(base), strict=True)
    )
    cases.append(Case("wide, no --value-column", "forecast", wide.encode(), expect_error=True))
    cases.append(
        Case(
            "wide, --value-column requests",
            "forecast",
            wide.encode(),
            args=["--value-column", "requests", *FAST],
            last=base.index[-1],
            step=300,
            values=base.to_numpy(),
        )
    )
    for label, scale in (("1e9", 1e7), ("1e-6", 1e-8), ("1e12", 1e10)):
        scaled = base * scale
        cases.append(simple(f"values ~{label}", "forecast", scaled))
    zeros = base * 0
    cases.append(simple("all zeros", "forecast", zeros))
    cases.append(simple("constant 42", "forecast", base * 0 + 42))
    sparse = base.copy()
    sparse[np.random.default_rng(3).random(len(base)) < 0.9] = 0
    cases.append(simple("mostly zeros (sparse counts)", "forecast", sparse))
    cases.append(simple("single day", "forecast", traffic(1, 300)))
    cases.append(simple("3 hours", "forecast", traffic(0.125, 300)))
    cases.append(simple("20 minutes at 1min", "forecast", traffic(20 / 1440, 60)))
    cases.append(simple("20 minutes at 5min", "forecast", traffic(20 / 1440, 300)))
    cases.append(simple("one row", "forecast", traffic(300 / 86_400, 300), expect_error=True))
    two_days = traffic(2, 300)
    cases.append(
        simple(
            "horizon 7d on 2 days",
            "forecast",
            two_days,
            args=["--horizon", "7d"],
            horizon=7 * 86_400,
        )
    )
    trend = base * np.linspace(1, 5, len(base))
    cases.append(simple("trend 5x", "forecast", trend))
    shift = base.copy()
    shift.iloc[-288:] *= 3
    cases.append(simple("level shift x3 last day", "forecast", shift))
    drop = base.copy()
    drop.iloc[-36:] *= 0.2
    cases.append(simple("level drop /5 last 3h", "forecast", drop))
    spikes = base.copy()
    spikes.iloc[::500] *= 50
    cases.append(simple("rare spikes x50", "forecast", spikes))
    with_nan = csv_text(
        naive(base), ["" if i % 50 == 0 else v for i, v in enumerate(numbers(base))]
    )
    cases.append(
        Case(
            "blank values (gaps)",
            "forecast",
            with_nan,
            last=base.index[-1],
            step=300,
            values=base.to_numpy(),
        )
    )
    negative = base - 90
    cases.append(
        Case(
            "some negative values",
            "forecast",
            csv_text(naive(negative), numbers(negative)),
            last=base.index[-1],
            step=300,
            values=np.maximum(negative.to_numpy(), 0),
        )
    )
    cases.append(
        simple(
            "--freq 15min on 5min",
            "forecast",
            base,
            args=["--freq", "15min"],
            step=900,
            last=base.index[-1] - pd.Timedelta(minutes=10),
        )
    )
    cases.append(
        simple("--quantiles 0.5,0.975", "forecast", base, args=["--quantiles", "0.5,0.975"])
    )
    cases.append(
        simple("--horizon 90min", "forecast", base, args=["--horizon", "90min"], horizon=5400)
    )
    cases.append(
        simple(
            "--horizon 1 (refused)", "forecast", base, args=["--horizon", "1"], expect_error=True
        )
    )
    cases.append(Case("empty file", "forecast", b"", expect_error=True))
    cases.append(Case("header only", "forecast", b"timestamp,value\n", expect_error=True))
    for file, days in (
        ("twitter_volume_fb_5min.csv", 14),
        ("twitter_volume_ups_5min.csv", None),
        ("bike_share_hourly_users.csv", 60),
        ("victoria_electricity_halfhourly_mw.csv", None),
        ("azure_llm_2023_code_requests_per_second.csv", None),
        ("wikipedia_daily_views.csv", None),
        ("website_daily_users.csv", None),
    ):
        trace = shared(file, days)
        step = float(pd.Series(trace.index).diff().median().total_seconds())
        horizon = 600.0 if step < 60 else 7 * 86_400.0 if step >= 86_400 else 86_400.0
        label = f"shared {file.removesuffix('.csv')}" + (f" last {days}d" if days else "")
        cases.append(
            simple(
                label,
                "forecast",
                trace,
                step=step,
                horizon=horizon,
                args=["--horizon", f"{int(horizon)}s"],
            )
        )
    return cases


def more_forecast_cases() -> list[Case]:
    """Odd steps, more timestamp and header spellings, odd horizons and long gaps."""
    cases = []
    for label, days, step in (
        ("7min", 14, 420),
        ("13min", 14, 780),
        ("45s", 2, 45),
        ("90min", 30, 5400),
        ("2h", 30, 7200),
        ("6h", 60, 21_600),
        ("1s 2d", 2, 1),
        ("1min 30d", 30, 60),
    ):
        cases.append(simple(f"odd step {label}", "forecast", traffic(days, step)))
    base = traffic(14, 300)
    spellings = {
        "T, no seconds": list(base.index.strftime("%Y-%m-%dT%H:%M")),
        "slashes Y/m/d": list(base.index.strftime("%Y/%m/%d %H:%M:%S")),
        "US m/d/Y": list(base.index.strftime("%m/%d/%Y %H:%M")),
        "German d.m.Y": list(base.index.strftime("%d.%m.%Y %H:%M")),
        "postgres +00": list(base.index.strftime("%Y-%m-%d %H:%M:%S+00")),
        "microseconds +00:00": list(base.index.strftime("%Y-%m-%d %H:%M:%S.%f+00:00")),
        "trailing UTC": list(base.index.strftime("%Y-%m-%d %H:%M:%S UTC")),
    }
    ambiguous = ("US m/d/Y", "German d.m.Y")  # day or month first: named, not guessed
    for label, rows in spellings.items():
        cases.append(
            Case(
                f"timestamps {label}" + (" (refused)" if label in ambiguous else ""),
                "forecast",
                csv_text(rows, numbers(base)),
                args=FAST,
                last=base.index[-1],
                step=300,
                values=base.to_numpy(),
                expect_error=label in ambiguous,
            )
        )
    headers = {
        "ds,y": csv_text(naive(base), numbers(base), header="ds,y"),
        "value,timestamp": csv_text(numbers(base), naive(base), header="value,timestamp"),
        "whitespace in values": csv_text(naive(base), [f" {v} " for v in numbers(base)]),
        "plus signs": csv_text(naive(base), [f"+{v}" for v in numbers(base)]),
        "quoted thousands": csv_text(naive(base), [f'"{v * 100:,.0f}"' for v in base]),
    }
    for label, text in headers.items():
        cases.append(
            Case(
                f"csv {label}" + (" (refused)" if label == "quoted thousands" else ""),
                "forecast",
                text,
                args=FAST,
                last=base.index[-1],
                step=300,
                values=base.to_numpy(),
                expect_error=label == "quoted thousands",
            )
        )
    for horizon, ok in (("1w", True), ("24H", True), ("1.5h", True), ("0", False), ("-1h", False)):
        cases.append(
            simple(
                f"--horizon {horizon}",
                "forecast",
                base,
                args=["--horizon", horizon, *FAST],
                horizon=pd.Timedelta(horizon.lower().replace("w", "W")).total_seconds()
                if ok
                else 0,
                expect_error=not ok,
            )
        )
    for freq, step in (("5m", 300), ("300s", 300), ("1H", 3600), ("15 min", 900)):
        freq_args = ["--freq", freq, *FAST]
        last = base.index[-1].floor(f"{step}s")  # steps from epoch
        cases.append(
            simple(f"--freq {freq}", "forecast", base, args=freq_args, step=step, last=last)
        )
    cases.append(
        simple("--freq 5T (refused)", "forecast", base, args=["--freq", "5T"], expect_error=True)
    )
    old = traffic(14, 300, start="2023-01-02")
    cases.append(simple("a year-old chunk, then 14d", "forecast", pd.concat([old, base])))
    trailing = csv_text(naive(base), numbers(base)[:-20] + [""] * 20)
    cases.append(
        Case(
            "20 trailing blank values",
            "forecast",
            trailing,
            last=base.index[-1],
            step=300,
            values=base.to_numpy(),
        )
    )
    return cases


def plan_cases() -> list[Case]:
    """``plan`` on a few of the inputs above and odd profiles."""
    base = traffic(14, 300)
    cases = [
        simple("base 5min 14d", "plan", base),
        simple("1min 7d", "plan", traffic(7, 60)),
        simple("1h 60d", "plan", traffic(60, 3600), step=3600),
        simple("1s 6h", "plan", traffic(0.25, 1), args=["--horizon", "10min"], horizon=600),
        simple("values ~1e9 (capped at max)", "plan", base * 1e7),
        simple("values ~1e-6", "plan", base * 1e-8),
        simple("all zeros", "plan", base * 0),
        simple("constant", "plan", base * 0 + 42),
        simple("20 minutes at 1min", "plan", traffic(20 / 1440, 60)),
        simple("trend 5x", "plan", base * np.linspace(1, 5, len(base))),
        simple(
            "profile step 900 on 5min",
            "plan",
            base,
            step=900,
            profile=PROFILE + "step_seconds: 900\n",
        ),
        simple(
            "profile min=max=5",
            "plan",
            base,
            profile=PROFILE.replace("min_replicas: 2", "min_replicas: 5").replace(
                "max_replicas: 40", "max_replicas: 5"
            ),
        ),
        simple(  # capacity_per_replica is required beside tiers too: a clear refusal
            "profile tiers without capacity_per_replica (refused)",
            "plan",
            base,
            profile="min_replicas: 1\ntiers:\n  - {name: CPU, capacity_per_replica: 5}\n",
            expect_error=True,
        ),
        simple(
            "profile tiers",
            "plan",
            base,
            profile="capacity_per_replica: 40\nmin_replicas: 1\nmax_replicas: 50\ntiers:\n"
            "  - {name: CPU, capacity_per_replica: 5, cost_per_replica_hour: 0.1,\n"
            "     max_replicas: 10}\n"
            "  - {name: L4, capacity_per_replica: 40, cost_per_replica_hour: 0.8,\n"
            "     gpus_per_replica: 1}\n",
        ),
        simple(
            "profile timezone + holidays",
            "plan",
            base,
            profile=PROFILE + "timezone: Europe/Berlin\nholiday_country: DE\n",
        ),
        simple(
            "profile capacity 1e-6",
            "plan",
            base,
            profile=PROFILE.replace("capacity_per_replica: 40", "capacity_per_replica: 0.000001"),
        ),
        simple(
            "profile missing capacity", "plan", base, profile="min_replicas: 1\n", expect_error=True
        ),
        simple("profile empty", "plan", base, profile="", expect_error=True),
        simple("profile not a mapping", "plan", base, profile="- 1\n- 2\n", expect_error=True),
        simple(
            "profile min > max",
            "plan",
            base,
            profile=PROFILE.replace("min_replicas: 2", "min_replicas: 50"),
            expect_error=True,
        ),
    ]
    offsets = base.index.tz_convert("Etc/GMT-2")
    cases.append(
        Case(
            "timestamps +02:00",
            "plan",
            csv_text(list(offsets.strftime("%Y-%m-%dT%H:%M:%S+02:00")), numbers(base)),
            last=base.index[-1],
            step=300,
            values=base.to_numpy(),
        )
    )
    cases.append(
        Case(
            "epoch seconds",
            "plan",
            csv_text([str(int(t.timestamp())) for t in base.index], numbers(base)),
            last=base.index[-1],
            step=300,
            values=base.to_numpy(),
        )
    )
    return cases


def simulate_cases() -> list[Case]:
    """``simulate`` (fast model, short replay) on a few shapes."""
    quick = ["--model", "seasonal_naive_daily", "--replay-days", "2", "--no-equal-spend"]
    base = traffic(6, 300)
    cases = [
        simple("base 5min 6d", "simulate", base, args=quick),
        simple("base 5min 6d auto", "simulate", base, args=["--replay-days", "1"]),
        simple("1h 30d", "simulate", traffic(30, 3600), args=quick),
        simple("1s 2h", "simulate", traffic(2 / 24, 1), args=quick),
        simple("all zeros", "simulate", base * 0, args=quick),
        simple("constant", "simulate", base * 0 + 42, args=quick),
        simple("values ~1e9", "simulate", base * 1e7, args=quick),
        simple("values ~1e-6", "simulate", base * 1e-8, args=quick),
        simple("3 hours", "simulate", traffic(0.125, 300), args=quick),
        simple("20 minutes at 1min", "simulate", traffic(20 / 1440, 60), args=quick),
        simple("gap of 1 day", "simulate", base.drop(base.index[800:1088]), args=quick),
    ]
    offsets = base.index.tz_convert("America/New_York")
    cases.append(
        Case(
            "offsets (New York)",
            "simulate",
            csv_text([t.isoformat() for t in offsets], numbers(base)),
            args=quick,
        )
    )
    cases.append(
        Case(
            "epoch seconds",
            "simulate",
            csv_text([str(int(t.timestamp())) for t in base.index], numbers(base)),
            args=quick,
        )
    )
    return cases


def read_stamps(column: pd.Series) -> pd.DatetimeIndex:
    """Output timestamps in any documented style, as UTC."""
    text = column.astype(str)
    if text.str.fullmatch(r"\d+(\.\d+)?").all():
        return pd.DatetimeIndex(pd.to_datetime(text.astype(float), unit="s", utc=True))
    return pd.DatetimeIndex(pd.to_datetime(text, utc=True, format="mixed"))


def check_grid(case: Case, stamps: pd.DatetimeIndex, rows: int) -> list[str]:
    """Contiguous steps, starting one step after the history, as many as the horizon needs."""
    problems = []
    if rows == 0:
        return ["no rows"]
    steps = pd.Series(stamps).diff().dt.total_seconds().to_numpy()[1:]
    if len(steps) and (steps != steps[0]).any():
        problems.append(f"steps not contiguous: {sorted(set(steps.tolist()))[:4]}")
    if case.step and len(steps) and steps[0] != case.step:
        problems.append(f"step {steps[0]} != input step {case.step}")
    if case.last is not None and case.step:
        expected = case.last + pd.Timedelta(seconds=case.step)
        if case.command == "plan":
            # a plan row may start at the step the file ends in
            ok = case.last - pd.Timedelta(seconds=case.step) < stamps[0] <= expected
        else:
            ok = stamps[0] == expected
        if not ok:
            problems.append(f"first {stamps[0]} but history ends {case.last}")
    if case.step and case.command == "forecast":
        wanted = math.ceil(case.horizon / case.step)
        if rows != wanted:
            problems.append(f"{rows} rows, horizon needs {wanted}")
    return problems


def check_forecast(case: Case, out: Path) -> list[str]:
    frame = pd.read_csv(out, dtype={"timestamp": str})
    columns = list(frame.columns)
    if columns[0] != "timestamp" or not all(c.startswith("p") for c in columns[1:]):
        return [f"header {columns}"]
    problems = check_grid(case, read_stamps(frame["timestamp"]), len(frame))
    values = frame[columns[1:]].to_numpy(float)
    if not np.isfinite(values).all():
        problems.append("NaN/inf")
    if (values < 0).any():
        problems.append("negative")
    if (np.diff(values, axis=1) < -1e-9 * np.abs(values[:, 1:]).clip(1)).any():
        problems.append("quantiles out of order")
    if case.values is not None and len(case.values):
        top = float(np.nanmax(case.values))
        recent = case.values[-max(len(case.values) // 7, 1) :]
        if top > 0 and values.max() > 20 * top:
            problems.append(f"p99 max {values.max():.3g} > 20x history max {top:.3g}")
        if np.median(recent) > 0 and values[:, 0].max() <= 0:
            problems.append("p50 all zero on busy traffic")
        if top == 0 and values.max() > 0:
            problems.append(f"history all zero, forecast up to {values.max():.3g}")
        if np.ptp(case.values) == 0 and top > 0 and np.ptp(values[:, 0]) > 1e-6 * top:
            problems.append(f"constant history, p50 varies {np.ptp(values[:, 0]):.3g}")
    return problems


def check_plan(case: Case, out: Path) -> list[str]:
    frame = pd.read_csv(out, dtype={"timestamp": str})
    columns = list(frame.columns)
    if columns[:3] != ["timestamp", "replicas", "gpus"]:
        return [f"header {columns}"]
    problems = check_grid(case, read_stamps(frame["timestamp"]), len(frame))
    replicas = frame["replicas"].to_numpy(float)
    if not np.isfinite(replicas).all() or (replicas != np.round(replicas)).any():
        problems.append("replicas not integers")
    fields = dict(line.split(": ", 1) for line in case.profile.splitlines() if ": " in line)
    low, high = int(fields.get("min_replicas", 1)), int(fields.get("max_replicas", 100))
    if len(replicas) and (replicas.min() < low or replicas.max() > high):
        span = f"{replicas.min():.0f}..{replicas.max():.0f}"
        problems.append(f"replicas {span} outside {low}..{high}")
    return problems


def check_simulate(case: Case, out: Path) -> list[str]:
    report = json.loads(out.read_text())
    problems = []
    for name, scores in report.get("policies", {}).items():
        for key, value in scores.items():
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                problems.append(f"{name}.{key}={value}")
        for key in ("under_provisioned_pct", "unserved_load_pct"):
            if not 0 <= scores.get(key, 0) <= 100:
                problems.append(f"{name}.{key}={scores[key]}")
    if not report.get("policies"):
        problems.append("no policies")
    return problems


CHECKS: dict[str, Callable[[Case, Path], list[str]]] = {
    "forecast": check_forecast,
    "plan": check_plan,
    "simulate": check_simulate,
}


def run(case: Case, workdir: Path, timeout: float) -> Finding:
    """Run one case as a subprocess and judge what it wrote."""
    folder = Path(tempfile.mkdtemp(dir=workdir))
    source = folder / "input.csv"
    source.write_bytes(case.text)
    out = folder / ("report.json" if case.command == "simulate" else "out.csv")
    argv = [sys.executable, "-m", "forecaster", case.command, "--input", str(source)]
    argv += ["--output", str(out), *case.args]
    if case.command in ("plan", "simulate"):
        (folder / "profile.yaml").write_text(case.profile)
        argv += ["--profile", str(folder / "profile.yaml")]
    if case.command != "simulate" and "--horizon" not in case.args:
        argv += ["--horizon", "24h"]
    started = time.monotonic()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Finding(case, -1, timeout, "FAIL", f"timed out after {timeout:.0f}s")
    seconds = time.monotonic() - started
    stderr = done.stderr.strip()
    last_line = stderr.splitlines()[-1] if stderr else ""
    if "Traceback" in stderr:
        return Finding(case, done.returncode, seconds, "FAIL", f"traceback: {last_line[:150]}")
    if done.returncode != 0:
        verdict = "ok" if case.expect_error and done.returncode == 2 else "FAIL"
        lines = [line for line in stderr.splitlines() if line.strip()]
        detail = f"exit {done.returncode}: " + " | ".join(lines[-2:])[:160]
        if done.returncode == 2 and len(lines) > 3:
            detail += f" ({len(lines)} lines)"
        return Finding(case, done.returncode, seconds, verdict, detail)
    if case.expect_error:
        return Finding(case, 0, seconds, "FAIL", "expected a refusal, ran")
    try:
        problems = CHECKS[case.command](case, out)
    except Exception as error:  # noqa: BLE001 - any unreadable output is a finding
        problems = [f"output unreadable: {type(error).__name__}: {error}"[:160]]
    warnings = [line for line in stderr.splitlines() if "Warning" in line]
    if warnings:
        problems.append(f"warning printed: {warnings[0][:120]}")
    notes = [line for line in stderr.splitlines() if line.startswith("note")]
    detail = "; ".join(problems) or (notes[0][:120] if notes else "")
    slow = seconds > 60
    verdict = "FAIL" if problems else "slow" if slow else "ok"
    return Finding(case, 0, seconds, verdict, detail)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run cases whose name contains this (a|b)")
    parser.add_argument("--commands", default="forecast,plan,simulate")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600)
    options = parser.parse_args()
    wanted = options.commands.split(",")
    cases = [
        case
        for make in (forecast_cases, more_forecast_cases, plan_cases, simulate_cases)
        for case in make()
        if case.command in wanted and any(part in case.name for part in options.only.split("|"))
    ]
    width = max(len(case.name) for case in cases)

    def line(f: Finding) -> str:
        return (
            f"{f.case.command:9} {f.case.name:{width}} {f.code:>4} {f.seconds:6.1f}  "
            f"{f.verdict:7}  {f.detail}"
        )

    def run_and_tell(case: Case) -> Finding:
        finding = run(case, Path(workdir), options.timeout)
        print(line(finding), file=sys.stderr, flush=True)  # progress, as each case ends
        return finding

    with tempfile.TemporaryDirectory() as workdir, ThreadPoolExecutor(options.jobs) as pool:
        findings = list(pool.map(run_and_tell, cases))
    print(f"{'command':9} {'case':{width}} {'exit':>4} {'secs':>6}  verdict  detail")
    for f in findings:
        print(line(f))
    failed = [f for f in findings if f.verdict == "FAIL"]
    print(f"\n{len(findings)} cases, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
