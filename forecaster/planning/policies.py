"""The replay simulator's capacity policies other than the reactive HPA itself.

Static peak and the oracle are whole-array numpy; the predictive policy re-forecasts as
simulated time advances and turns each forecast into a plan (our planner, unchanged) whose rows
become the HPA's minReplicas floor until the next re-plan. Every policy except the oracle sees
only ticks before the moment it decides. Called by :mod:`forecaster.planning.simulate`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecaster.errors import InvalidInputError
from forecaster.planning.burst import PEAK_SECONDS, peak_to_mean
from forecaster.planning.hpa import Timeline
from forecaster.planning.planner import (
    effective_max_replicas,
    hold_steps,
    led_requirement,
    plan_floor,
    replicas_for_load,
)
from forecaster.planning.reactive import floor_needed, trailing_short_pct
from forecaster.planning.replay import Trace, step_means
from forecaster.planning.shaping import as_pushed, forward_max, pace_rises
from forecaster.profiles import ScalingProfile
from forecaster.settings import Settings
from forecaster.timeutil import epoch_ns
from forecaster.training.forecasting import make_forecast, refreshed
from models.base import ForecastModel, quantile_name
from models.calendar import Calendar


def backward_min(values: np.ndarray, window: int) -> np.ndarray:
    """min(values[t - window : t + 1])."""
    if window <= 0 or len(values) == 0:
        return values.copy()
    return pd.Series(values).rolling(window + 1, min_periods=1).min().to_numpy().astype("int64")


def static_peak(train_load: np.ndarray, n_ticks: int, profile: ScalingProfile) -> Timeline:
    """The training window's peak tick, at the target utilisation, provisioned all the time."""
    peak = float(np.max(train_load)) if len(train_load) else 0.0
    replicas = int(
        np.clip(
            replicas_for_load(np.array([peak]), profile)[0],
            profile.min_replicas,
            effective_max_replicas(profile),
        )
    )
    constant = np.full(n_ticks, replicas, dtype="int64")
    return Timeline(spec=constant, ready=constant.copy())


def oracle(load: np.ndarray, tick_seconds: float, profile: ScalingProfile) -> Timeline:
    """Perfect foresight: exactly the replicas each tick needs at the target utilisation, each
    started its start-up time ahead (and billed from then), removed the moment it is idle."""
    ceiling = effective_max_replicas(profile)
    need = np.clip(replicas_for_load(load, profile), profile.min_replicas, ceiling)
    lead = math.ceil(profile.startup_seconds / tick_seconds - 1e-9)
    spec = forward_max(need, lead)
    # a replica serves once it has existed for the start-up time (newest removed first)
    return Timeline(spec=spec, ready=np.maximum(backward_min(spec, lead), need))


@dataclass(frozen=True)
class ForecastSettings:
    """How the predictive policy forecasts: model, cadence and how much history it keeps."""

    model: str = "auto"
    replan_seconds: float = 900.0
    refit_seconds: float = 86_400.0
    history_days: float = 35.0
    peak_seconds: float = PEAK_SECONDS
    # False: forecast once per refit far enough ahead and re-plan from slices of it, for
    # models whose ``update`` is a full refit and too slow to run at every re-plan
    update: bool = True


@dataclass(frozen=True)
class ForecastTrail:
    """Every forecast the predictive policy made during a replay, one row per decision.

    Kept apart from planning so one trail serves several profiles (start-up times) that share
    the step and quantile, as the benchmark does.
    """

    step_seconds: float
    quantile: float
    replan_ticks: int
    origins_ns: np.ndarray  # start of each forecast's first step
    values: np.ndarray  # decisions x horizon steps of the quantile
    peak_factors: np.ndarray  # per decision


# how often the service pushes a plan, and the margin a push is given to take effect
# (FORECASTER_ACTUATION_INTERVAL_SECONDS' and FORECASTER_ACTUATION_LEAD_SECONDS' defaults)
ACTUATION_SECONDS = float(Settings.model_fields["actuation_interval_seconds"].default)
ACTUATION_LEAD_SECONDS = float(Settings.model_fields["actuation_lead_seconds"].default)
MAX_RAMP_SECONDS = 86_400.0  # how far ahead a plan capped by max_step_up looks for a rise


def trail_horizon_seconds(profile: ScalingProfile, settings: ForecastSettings) -> float:
    """How far each forecast must reach: the re-plan interval plus the start-up lead (the hold
    looks back, and the steps before a decision are not forecast), plus, under ``max_step_up``,
    the steps a ramp to the max takes (at most a day): a plan ramps up ahead of a rise only if
    it sees it, and the replay's floor had jumped 1 -> 6 replicas in one row with a cap of 1."""
    lead = max([profile.startup_seconds] + [t.startup_seconds for t in profile.tiers])
    ramp = 0.0
    if profile.max_step_up is not None:
        steps = math.ceil(effective_max_replicas(profile) / profile.max_step_up)
        ramp = min(steps * profile.step_seconds, MAX_RAMP_SECONDS)
    return settings.replan_seconds + lead + ramp


def rolling_forecasts(
    trace: Trace,
    replay_start: int,
    *,
    step_seconds: float,
    quantile: float,
    horizon_seconds: float,
    settings: ForecastSettings,
    progress: Callable[[int, int], None] | None = None,
    calendar: Calendar | None = None,
) -> ForecastTrail:
    """Forecast at each decision (every ``replan_seconds`` of the replay) from the complete
    plan steps before it; refit every ``refit_seconds``, in between ``update`` the model (or,
    with ``settings.update`` off, read on in the forecast made at the last refit).
    ``progress(done, total)`` hears of each decision (a long replay takes minutes); ``calendar``
    holds the holidays the models may use."""
    history_all = step_means(trace, step_seconds)
    tick = trace.tick_seconds
    n_replay = len(trace.load) - replay_start
    replan_ticks = max(1, round(settings.replan_seconds / tick))
    refit_every = max(1, round(settings.refit_seconds / settings.replan_seconds))
    horizon = math.ceil(horizon_seconds / step_seconds) + 2
    keep = max(2, round(settings.history_days * 86_400 / step_seconds))
    per_step = round(step_seconds / tick)
    decisions = range(0, n_replay, replan_ticks)
    origins = np.empty(len(decisions), dtype="int64")
    values = np.empty((len(decisions), horizon))
    factors = np.ones(len(decisions))
    model: ForecastModel | None = None
    factor = 1.0
    long_horizon = horizon + math.ceil(settings.refit_seconds / step_seconds) + 1
    ahead = np.empty(0)  # the forecast made at the last refit (settings.update off)
    ahead_from = 0  # its first step, counted from the start of the trace
    ahead_origin = 0
    step_ns = int(step_seconds * 1e9)
    for number, begin in enumerate(decisions):
        if progress is not None:
            progress(number, len(decisions))
        complete = (replay_start + begin) // per_step  # plan steps finished before deciding
        history = history_all.iloc[max(0, complete - keep) : complete]
        if len(history) < 2:
            raise InvalidInputError(
                "the predictive policy needs at least two plan steps of history before the replay"
            )
        refit = model is None or number % refit_every == 0
        if refit:
            model = make_forecast(history, horizon, model=settings.model, calendar=calendar).fitted
            factor = _peak_factor(
                trace, complete * per_step, keep * per_step, step_seconds, settings
            )
        assert model is not None
        factors[number] = factor
        if not settings.update:
            if refit:
                forecast = model.predict(long_horizon, (quantile,))
                ahead = forecast[quantile_name(quantile)].to_numpy()
                ahead_from, ahead_origin = complete, int(epoch_ns(forecast.index[:1])[0])
            offset = complete - ahead_from
            origins[number] = ahead_origin + offset * step_ns
            values[number] = ahead[offset : offset + horizon]
            continue
        if not refit:
            model, _ = refreshed(model, history, calendar, horizon)
        forecast = model.predict(horizon, (quantile,))
        origins[number] = epoch_ns(forecast.index[:1])[0]
        values[number] = forecast[quantile_name(quantile)].to_numpy()
    if progress is not None:
        progress(len(decisions), len(decisions))
    return ForecastTrail(step_seconds, quantile, replan_ticks, origins, values, factors)


def _peak_factor(
    trace: Trace, end: int, ticks: int, step_seconds: float, settings: ForecastSettings
) -> float:
    """The peak-to-mean factor over the ``ticks`` before ``end``: 1 when the trace itself is
    not finer than the plan step (it shows no shape within a step: the replay holds each row
    flat over its step)."""
    if trace.source_step_seconds * 2 > step_seconds:
        return 1.0
    first = max(0, end - ticks)
    past = pd.Series(trace.load[first:end], index=trace.index_of(first, end))
    return peak_to_mean(past, step_seconds=step_seconds, peak_seconds=settings.peak_seconds)


def _step_ns(trail: ForecastTrail) -> int:
    return int(trail.step_seconds * 1e9)


def _in_force(
    rows: np.ndarray,
    trail: ForecastTrail,
    replay_ticks: np.ndarray,
    times_ns: np.ndarray,
    missing: int | None = None,
) -> np.ndarray:
    """Each time's entry of ``rows`` (decisions x steps) from the decision in force then (at
    ``replay_ticks`` into the replay), at the step it had reached. A time before the replay
    gets ``missing`` (None: the first decision's first step, as the replay starts with it)."""
    decision = np.clip(replay_ticks // trail.replan_ticks, 0, len(rows) - 1)
    step = (times_ns - trail.origins_ns[decision]) // _step_ns(trail)
    found = rows[decision, np.clip(step, 0, rows.shape[1] - 1)]
    return found if missing is None else np.where(replay_ticks >= 0, found, missing)


def predictive_floor(
    trace: Trace, replay_start: int, profile: ScalingProfile, trail: ForecastTrail
) -> np.ndarray:
    """minReplicas per replay tick as the service pushes it: every push holds the highest row
    of the plan in force then until the next push has landed (or ``min_replicas`` while the
    HPA alone kept within the profile's reactive tolerance)."""
    if trail.step_seconds != profile.step_seconds or trail.quantile != profile.risk_quantile:
        raise ValueError("the forecast trail was made for another step or quantile")
    loads = trail.values * trail.peak_factors[:, None]
    led = led_requirement(loads, profile, step_seconds=trail.step_seconds)
    # the steps the scale-down delay reaches back over before each decision, oldest first
    before = trail.origins_ns[:, None] - _step_ns(trail) * np.arange(
        hold_steps(profile, trail.step_seconds), 0, -1
    )
    before_ticks = (before - trace.start.value) // int(trace.tick_seconds * 1e9) - replay_start
    replicas = plan_floor(
        loads,
        profile,
        step_seconds=trail.step_seconds,
        led_before=_in_force(led, trail, before_ticks, before, missing=0),
    )
    offsets = np.arange(len(trace.load) - replay_start)
    tick_ns = trace.start.value + ((replay_start + offsets) * trace.tick_seconds * 1e9).astype(
        "int64"
    )
    # the service pushes the plan in force at each push, holding its highest row until the
    # next push has taken effect (replayed row by row, the floor cost 6.8 % fewer
    # replica-hours than pushed on a day of fb tweets)
    push_ns = int(ACTUATION_SECONDS * 1e9)
    push = tick_ns // push_ns
    new_push = np.r_[True, np.diff(push) != 0]
    number = np.cumsum(new_push) - 1
    pushed_at = np.flatnonzero(new_push)
    floor = as_pushed(
        _in_force(replicas, trail, pushed_at[number], tick_ns),
        _in_force(replicas, trail, pushed_at[np.maximum(number - 1, 0)], tick_ns),
        tick_ns - push * push_ns < ACTUATION_LEAD_SECONDS * 1e9,
        push,
    )
    tolerance = profile.reactive_tolerance_pct
    if tolerance is not None:
        decision_ticks = replay_start + np.arange(len(trail.origins_ns)) * trail.replan_ticks
        held = floor_needed(trailing_short_pct(trace, profile, decision_ticks), tolerance)
        floor = np.where(held[offsets // trail.replan_ticks], floor, profile.min_replicas)
    if profile.max_step_up is None:
        return floor
    # a re-plan's first row may be far above the floor in force: the actuators add at most
    # the cap per push, so the replay does too
    return pace_rises(floor, push, profile.max_step_up)
