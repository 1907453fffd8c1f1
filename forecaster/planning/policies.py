"""The replay simulator's capacity policies other than the reactive HPA itself.

Static peak and the oracle are whole-array numpy; the predictive policy re-forecasts as
simulated time advances and turns each forecast into a plan (our planner, unchanged) whose rows
become the HPA's minReplicas floor until the next re-plan. Every policy except the oracle sees
only ticks before the moment it decides. Called by :mod:`forecaster.planning.simulate`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecaster.planning.burst import peak_to_mean
from forecaster.planning.hpa import Timeline
from forecaster.planning.planner import plan_capacity, replicas_for_load
from forecaster.planning.replay import Trace, step_means
from forecaster.planning.shaping import forward_max
from forecaster.profiles import ScalingProfile
from forecaster.timeutil import epoch_ns
from forecaster.training.forecasting import make_forecast
from models.base import ForecastModel, quantile_name


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
            profile.max_replicas,
        )
    )
    constant = np.full(n_ticks, replicas, dtype="int64")
    return Timeline(spec=constant, ready=constant.copy())


def oracle(load: np.ndarray, tick_seconds: float, profile: ScalingProfile) -> Timeline:
    """Perfect foresight: exactly the replicas each tick needs at the target utilisation, each
    started its start-up time ahead (and billed from then), removed the moment it is idle."""
    need = np.clip(replicas_for_load(load, profile), profile.min_replicas, profile.max_replicas)
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
    peak_seconds: float = 30.0


def predictive_floor(
    trace: Trace, replay_start: int, profile: ScalingProfile, settings: ForecastSettings
) -> np.ndarray:
    """minReplicas per replay tick: re-plan every ``replan_seconds`` from a forecast made on
    complete plan steps before the decision; refit every ``refit_seconds``, else ``update``."""
    step = float(profile.step_seconds)
    history_all = step_means(trace, step)
    step_ns = int(step * 1e9)
    tick = trace.tick_seconds
    n_replay = len(trace.load) - replay_start
    replan_ticks = max(1, round(settings.replan_seconds / tick))
    refit_every = max(1, round(settings.refit_seconds / settings.replan_seconds))
    quantile = quantile_name(profile.risk_quantile)
    lead = max([profile.startup_seconds] + [t.startup_seconds for t in profile.tiers])
    horizon = (
        math.ceil((settings.replan_seconds + lead + profile.scale_down_delay_seconds) / step) + 2
    )
    keep = max(2, round(settings.history_days * 86_400 / step))
    peak_ticks = keep * round(step / tick)
    floor = np.empty(n_replay, dtype="int64")
    tick_ns = epoch_ns(trace.index)
    model: ForecastModel | None = None
    factor = 1.0
    for number, begin in enumerate(range(0, n_replay, replan_ticks)):
        decided = replay_start + begin
        decided_ns = trace.start.value + int(decided * tick * 1e9)
        complete = int((decided_ns - trace.start.value) // step_ns)
        history = history_all.iloc[max(0, complete - keep) : complete]
        if len(history) < 2:
            raise ValueError("the predictive policy needs at least two plan steps of history")
        if model is None or number % refit_every == 0:
            model = make_forecast(history, horizon, model=settings.model).fitted
            past = trace.load[max(0, decided - peak_ticks) : decided]
            factor = peak_to_mean(
                pd.Series(past, index=trace.index[decided - len(past) : decided]),
                step_seconds=step,
                peak_seconds=settings.peak_seconds,
            )
        else:
            model = model.update(history)
        forecast = model.predict(horizon, (profile.risk_quantile,))
        plan = plan_capacity(forecast[quantile], profile, step_seconds=step, peak_factor=factor)
        end = min(begin + replan_ticks, n_replay)
        rows = (
            np.searchsorted(
                epoch_ns(plan.index),
                tick_ns[replay_start + begin : replay_start + end],
                side="right",
            )
            - 1
        )
        floor[begin:end] = plan["replicas"].to_numpy()[np.clip(rows, 0, len(plan) - 1)]
    return floor
