"""The shared traffic traces the benchmarks run on: each one in ``../shared/data`` with a step
of 1 hour or finer (the daily ones are too coarse to plan capacity with)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if not DATA.is_dir():  # a clone on its own: say where the traces are looked for
    raise SystemExit(
        f"the benchmarks replay the shared traces, looked for in {DATA} (../shared/data beside "
        "the repository); put them there to run them"
    )
TRACES = (
    "twitter_volume_crm_5min.csv",
    "twitter_volume_fb_5min.csv",
    "twitter_volume_ibm_5min.csv",
    "twitter_volume_ko_5min.csv",
    "twitter_volume_ups_5min.csv",
    "bike_share_hourly_users.csv",
    "victoria_electricity_halfhourly_mw.csv",
    "taylor_halfhourly_demand_mw.csv",
    "azure_llm_2023_code_requests_per_second.csv",
    "azure_llm_2023_conv_requests_per_second.csv",
)


def forecast_origins(
    history: pd.Series, origins: int, horizon_seconds: float, skip_last: float = 0.0
) -> tuple[list[int], int] | None:
    """Where the benchmarks forecast from: the positions of the last known step of each origin
    (latest first) and the horizon in steps, or ``None`` when the trace keeps under two weeks
    of history before its first origin.

    Origins sit in the held-out end, half a horizon apart but at least 9 hours and never a
    whole number of days (so they fall at different times of day); an hour of 1-s data holds
    only three 10-minute forecasts. ``skip_last`` moves them earlier by that fraction."""
    step = pd.Timedelta(history.index.freq).total_seconds()
    span_days = len(history) * step / 86_400
    shift = round(len(history) * skip_last)
    if span_days >= 4:
        horizon, day = max(1, round(horizon_seconds / step)), round(86_400 / step)
        spacing, count = max(1, horizon // 2, round(9 * 3_600 / step)), origins
        spacing += day // 3 if spacing % day == 0 else 0
    else:
        horizon = round(min(horizon_seconds, 600) / step)
        spacing, count = horizon, min(origins, 3)
    ends = [len(history) - 1 - shift - horizon - spacing * j for j in range(count)]
    if span_days >= 4 and ends[-1] * step < 14 * 86_400:
        return None
    return ends, horizon


def plan_step(source_step: float) -> int:
    """Plan at the trace's own step, but at least every 5 minutes (1 minute for 1-s traces)."""
    if source_step < 60:
        return 60
    return int(min(max(source_step, 300), 3600))
