"""Does a plan's floor earn its cost? The reactive autoscaler alone, replayed on recent history.

A floor under an HPA pays off only where the HPA is late: load rising faster than it can add
replicas within the start-up time. On smooth traffic the HPA keeps up by itself, and a floor
sized on the forecast's risk quantile (wide when the level is uncertain a day ahead) only adds
replica-hours. With ``reactive_tolerance_pct`` set, plans replay the last week of history through
the HPA the profile implies (:mod:`forecaster.planning.hpa`); when it was under-provisioned at
most that share of the time, the floor stays at ``min_replicas``. The simulator's predictive
policy makes the same check at every decision from the ticks before it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecaster.planning.hpa import Timeline, hpa_config, run_hpa, steady_replicas, trailing_mean
from forecaster.planning.replay import Trace, to_ticks
from forecaster.planning.scoring import short_ticks
from forecaster.profiles import ScalingProfile

CHECK_DAYS = 7.0  # a week: every day of the week's peaks, recent enough to follow changes
TICK_SECONDS = 15.0  # the HPA's sync period


def reactive_timeline(trace: Trace, profile: ScalingProfile) -> Timeline:
    """The profile's HPA alone over a whole trace, starting steady on its first minute."""
    first_minute = trace.load[: max(1, round(60 / trace.tick_seconds))]
    return run_hpa(
        trace.load,
        tick_seconds=trace.tick_seconds,
        config=hpa_config(profile),
        initial_replicas=steady_replicas(first_minute, trace.tick_seconds, profile),
    )


def trailing_short_pct(trace: Trace, profile: ScalingProfile, ticks: np.ndarray) -> np.ndarray:
    """% of the week before each of ``ticks`` (not including it) the HPA alone was short.

    The replay's first start-up time (plus a metric window and a sync) does not count: the HPA
    starts in an assumed state there and could not have added a replica yet. 100 where no tick
    counts yet (nothing to judge the HPA by: keep the floor).
    """
    config = hpa_config(profile)
    warm_up = config.startup_seconds + config.metric_window_seconds + config.sync_seconds
    counted = np.arange(len(trace.load)) >= np.ceil(warm_up / trace.tick_seconds)
    short = short_ticks(trace.load, reactive_timeline(trace, profile), profile) & counted
    window = max(1, round(CHECK_DAYS * 86_400 / trace.tick_seconds))
    at = np.asarray(ticks, dtype="int64")
    # both means are over the same window, so their ratio is short ticks / counted ticks
    short_mean, counted_mean = (
        trailing_mean(np.append(flags.astype("float64"), 0.0), window)[at]
        for flags in (short, counted)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = 100 * short_mean / counted_mean
    return np.where(counted_mean > 0, shares, 100.0)


def reactive_short_pct(history: pd.Series, profile: ScalingProfile) -> float:
    """% of the last week of ``history`` (timestamp -> load) the HPA alone was short."""
    # an offline file may hold negative values (noted, and forecast as given); no load is
    values = history.dropna().clip(lower=0.0)
    if len(values) < 2:
        return 100.0  # nothing to judge the HPA by: keep the floor
    recent = values[values.index >= values.index[-1] - pd.Timedelta(days=CHECK_DAYS)]
    trace = to_ticks(recent if len(recent) >= 2 else values, tick_seconds=TICK_SECONDS)
    return float(trailing_short_pct(trace, profile, np.array([len(trace.load)]))[0])


def floor_needed(short_pct: np.ndarray, tolerance: float) -> np.ndarray:
    """Per measurement: False where the HPA alone was short at most ``tolerance`` %."""
    return np.asarray(short_pct, dtype="float64") > tolerance


def check_floor(plan: pd.DataFrame, history: pd.Series, profile: ScalingProfile) -> pd.DataFrame:
    """A plan as it is, or with every row at ``min_replicas`` (and the reason why) when the
    profile's HPA alone kept within ``reactive_tolerance_pct`` on the last week of history."""
    if profile.reactive_tolerance_pct is None or plan.empty:
        return plan
    short_pct = reactive_short_pct(history, profile)
    if floor_needed(np.array([short_pct]), profile.reactive_tolerance_pct)[0]:
        return plan
    floor = profile.min_replicas
    checked = plan.copy()
    checked["replicas"] = floor
    checked["gpus"] = floor * profile.gpus_per_replica
    checked["cost_per_hour"] = floor * profile.cost_per_replica_hour
    note = (
        f"; the reactive autoscaler alone was short {short_pct:.3g}% of the last "
        f"{CHECK_DAYS:g} days at {profile.startup_seconds:g}s start-up (tolerance "
        f"{profile.reactive_tolerance_pct:g}%): floor left at min_replicas {floor}"
    )
    checked["reason"] = checked["reason"] + note
    return checked
