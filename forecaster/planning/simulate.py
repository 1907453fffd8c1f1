"""The replay simulator: a real load trace, four capacity policies, the same scores for each.

Splits the trace into a training window and a replay window, replays the latter tick by tick
under static peak, a reactive Kubernetes HPA, our predictive plan as the HPA's minReplicas floor,
and the perfect-foresight oracle (plus, optionally, the HPA with its target utilisation lowered
until it spends what the predictive policy spends). Called by ``forecaster simulate``,
``POST /v1/simulations`` and ``scripts/bench_capacity.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from forecaster.errors import InvalidInputError, listing
from forecaster.planning.hpa import HpaConfig, Timeline, hpa_config, run_hpa, steady_replicas
from forecaster.planning.policies import (
    ForecastSettings,
    ForecastTrail,
    oracle,
    predictive_floor,
    rolling_forecasts,
    static_peak,
    trail_horizon_seconds,
)
from forecaster.planning.replay import DEFAULT_TICK_SECONDS, MAX_TICKS, Trace, to_ticks
from forecaster.planning.scoring import PolicyScore, score
from forecaster.profiles import ScalingProfile
from forecaster.training.history import infer_step_seconds
from models.calendar import Calendar

POLICIES = ("static", "reactive", "predictive", "oracle")
EQUAL_SPEND = "reactive_equal_spend"
TICKS = (1.0, 3.0, 5.0, 15.0, 30.0)
MAX_FORECAST_CELLS = 20_000_000  # decisions x horizon steps kept by the predictive policy
REPLAY_METHOD = (
    "a value at ts is the mean over [ts, ts+step); coarser traces are held flat over their "
    "steps onto the tick grid, finer ones averaged into ticks; gaps replay as 0"
)


@dataclass(frozen=True)
class SimulationOptions:
    """What to replay and how; the defaults are the documented ones."""

    tick_seconds: float = DEFAULT_TICK_SECONDS
    train_fraction: float = 0.5
    max_replay_days: float | None = None
    policies: tuple[str, ...] = POLICIES
    equal_spend: bool = True
    forecast: ForecastSettings = field(default_factory=ForecastSettings)
    # called as (decisions made, decisions in all) while the predictive policy forecasts
    progress: Callable[[int, int], None] | None = None
    # the API's work limit (None: unlimited, as for the offline CLI and the benchmark)
    budget: SimulationBudget | None = None


@dataclass(frozen=True)
class SimulationBudget:
    """How much work one simulation may ask for: a request over it is refused up front."""

    max_forecasts: int  # model fits and updates of the predictive policy
    max_tick_steps: int  # replay ticks x autoscaler runs (the HPA is a Python loop)
    max_refits: int  # full refits (for auto: backtest and selection), seconds each


@dataclass(frozen=True)
class SimulationCost:
    """The work a simulation will do, known before it starts."""

    replay_ticks: int
    autoscaler_runs: int
    forecasts: int
    refits: int

    @property
    def tick_steps(self) -> int:
        return self.replay_ticks * self.autoscaler_runs


@dataclass
class SimulationResult:
    """Timelines and scores per policy over the replay window."""

    trace: Trace
    replay_start: int
    profile: ScalingProfile
    options: SimulationOptions
    timelines: dict[str, Timeline]
    scores: dict[str, PolicyScore]
    equal_spend_utilization: float | None = None

    @property
    def replay(self) -> Trace:
        return self.trace.window(self.replay_start)

    def report(self) -> dict[str, Any]:
        """The JSON report (format documented in docs/capacity.md)."""
        replay = self.replay
        tick = pd.Timedelta(seconds=self.trace.tick_seconds)
        return {
            "trace": {
                "start": _iso(self.trace.start),
                "replay_start": _iso(replay.start),
                "end": _iso(replay.start + tick * len(replay.load)),
                "tick_seconds": self.trace.tick_seconds,
                "source_step_seconds": self.trace.source_step_seconds,
                "train_ticks": self.replay_start,
                "replay_ticks": len(replay.load),
                "missing_ticks": self.trace.missing_ticks,
                "replay_method": REPLAY_METHOD,
            },
            "profile": self.profile.model_dump(mode="json"),
            "forecast": {
                "model": self.options.forecast.model,
                "replan_seconds": self.options.forecast.replan_seconds,
                "refit_seconds": self.options.forecast.refit_seconds,
                "history_days": self.options.forecast.history_days,
                "update": self.options.forecast.update,
            },
            "equal_spend_target_utilization": self.equal_spend_utilization,
            "policies": {name: result.as_dict() for name, result in self.scores.items()},
        }


@dataclass(frozen=True)
class PreparedReplay:
    """A replay that has passed every check and waits to run: what :func:`prepare` returns."""

    trace: Trace
    start: int
    profile: ScalingProfile
    options: SimulationOptions

    def run(self) -> SimulationResult:
        return _replay(self.trace, self.start, self.profile, self.options, None)


def simulate(
    points: pd.Series, profile: ScalingProfile, options: SimulationOptions | None = None
) -> SimulationResult:
    """Replay a ``timestamp -> load`` series (UTC index) under every requested policy."""
    return prepare(points, profile, options).run()


def prepare(
    points: pd.Series, profile: ScalingProfile, options: SimulationOptions | None = None
) -> PreparedReplay:
    """Everything that can refuse a replay, done before it runs: the API answers a bad request
    with its 422 without waiting for (or taking) one of its few replay slots."""
    options = options or SimulationOptions()
    _check(profile, options)
    points = _within_tick_limit(points, options)
    _check_budget(estimate_cost(span_seconds(points), profile, options), options)
    trace = to_ticks(points, tick_seconds=options.tick_seconds)
    start = replay_start(trace, profile, options)
    _check_forecast_cells(len(trace.load) - start, trace.tick_seconds, profile, options)
    return PreparedReplay(trace, start, profile, options)


def _within_tick_limit(points: pd.Series, options: SimulationOptions) -> pd.Series:
    """The trace's latest rows, when it would exceed the replay grid's ``MAX_TICKS`` and only
    its last ``max_replay_days`` are replayed: years before those days only size the static
    peak and feed forecasts that keep far less history, and refusing the file would leave no
    way round (a daily trace of eight years is 17 million ticks of 15 s)."""
    # 90 % of the grid: the span counts one more source step, and a coarse one can be long
    kept = pd.Timedelta(seconds=MAX_TICKS * options.tick_seconds * 0.9)
    if options.max_replay_days is None or pd.Timedelta(days=options.max_replay_days) >= kept:
        return points
    latest = pd.DatetimeIndex(points.index).max()
    return points[pd.DatetimeIndex(points.index) > latest - kept]


def replay_start(trace: Trace, profile: ScalingProfile, options: SimulationOptions) -> int:
    """First replayed tick: after the training fraction (or so the replay is at most
    ``max_replay_days``), on a plan-step boundary so forecasts start on whole steps."""
    return _first_replayed(len(trace.load), trace.tick_seconds, profile, options)


def _first_replayed(
    n: int, tick: float, profile: ScalingProfile, options: SimulationOptions
) -> int:
    """:func:`replay_start` for ``n`` ticks of ``tick`` seconds (also before they exist)."""
    per_step = round(profile.step_seconds / tick)
    start = math.ceil(n * options.train_fraction)
    if options.max_replay_days is not None:
        start = max(start, n - round(options.max_replay_days * 86_400 / tick))
    start = math.ceil(start / per_step) * per_step
    if start < 2 * per_step:
        raise InvalidInputError(
            f"the training window must hold at least two {profile.step_seconds}s steps; "
            "give a longer trace or a larger train_fraction"
        )
    if start >= n:
        raise InvalidInputError("nothing left to replay after the training window")
    return start


def simulate_trace(
    trace: Trace,
    start: int,
    profile: ScalingProfile,
    options: SimulationOptions,
    *,
    trail: ForecastTrail | None = None,
) -> SimulationResult:
    """Replay ticks ``[start, end)`` of a trace; ticks before ``start`` are training data.

    ``trail`` reuses forecasts made for the same trace, step and quantile (see
    :func:`forecast_trail`); by default the predictive policy makes its own.
    """
    _check(profile, options)
    if trail is None:
        _check_forecast_cells(len(trace.load) - start, trace.tick_seconds, profile, options)
    return _replay(trace, start, profile, options, trail)


def _replay(
    trace: Trace,
    start: int,
    profile: ScalingProfile,
    options: SimulationOptions,
    trail: ForecastTrail | None,
) -> SimulationResult:
    """:func:`simulate_trace` once its checks have passed (:func:`prepare` made them)."""
    load = trace.load[start:]
    tick = trace.tick_seconds
    config = hpa_config(profile)
    initial = steady_replicas(trace.load[:start], tick, profile)
    runners: dict[str, Callable[[], Timeline]] = {
        "static": lambda: static_peak(trace.load[:start], len(load), profile),
        "reactive": lambda: run_hpa(
            load, tick_seconds=tick, config=config, initial_replicas=initial
        ),
        "predictive": lambda: run_hpa(
            load,
            tick_seconds=tick,
            config=config,
            initial_replicas=initial,
            floor=predictive_floor(
                trace, start, profile, trail or forecast_trail(trace, start, profile, options)
            ),
        ),
        "oracle": lambda: oracle(load, tick, profile),
    }
    timelines = {name: runners[name]() for name in options.policies}
    utilization = None
    if options.equal_spend and "predictive" in timelines:
        spend = int(timelines["predictive"].spec.sum())
        utilization, timelines[EQUAL_SPEND] = equal_spend_reactive(
            load, tick_seconds=tick, config=config, initial_replicas=initial, replica_ticks=spend
        )
    scores = {
        name: score(load, timeline, tick_seconds=tick, profile=profile)
        for name, timeline in timelines.items()
    }
    return SimulationResult(trace, start, profile, options, timelines, scores, utilization)


def forecast_trail(
    trace: Trace,
    start: int,
    profile: ScalingProfile,
    options: SimulationOptions,
    *,
    horizon_seconds: float | None = None,
) -> ForecastTrail:
    """The predictive policy's forecasts over a replay (``horizon_seconds`` long enough for
    every profile that will share them)."""
    return rolling_forecasts(
        trace,
        start,
        step_seconds=profile.step_seconds,
        quantile=profile.risk_quantile,
        horizon_seconds=horizon_seconds or trail_horizon_seconds(profile, options.forecast),
        settings=options.forecast,
        progress=options.progress,
        calendar=Calendar(holiday_country=profile.holiday_country, timezone=profile.timezone),
    )


def equal_spend_reactive(
    load: np.ndarray,
    *,
    tick_seconds: float,
    config: HpaConfig,
    initial_replicas: int,
    replica_ticks: int,
    iterations: int = 12,
) -> tuple[float, Timeline]:
    """The reactive HPA with its target utilisation lowered (bisection) until it spends at least
    ``replica_ticks``: the fair, equal-cost opponent of the predictive policy."""

    def run(utilization: float) -> Timeline:
        return run_hpa(
            load,
            tick_seconds=tick_seconds,
            config=replace(config, target_utilization=utilization),
            initial_replicas=initial_replicas,
        )

    high = config.target_utilization
    best = run(high)
    if int(best.spec.sum()) >= replica_ticks:
        return high, best
    low = 0.02
    best_utilization, best = low, run(low)
    for _ in range(iterations):
        middle = (low + high) / 2
        timeline = run(middle)
        if int(timeline.spec.sum()) >= replica_ticks:
            low, best_utilization, best = middle, middle, timeline
        else:
            high = middle
    return best_utilization, best


def span_seconds(points: pd.Series) -> float:
    """How long a trace lasts: first to last point plus the last point's step (0 when the
    points cannot be replayed; :func:`to_ticks` then says why)."""
    index = pd.DatetimeIndex(points.dropna().index)
    try:
        step = infer_step_seconds(index)
    except ValueError:
        return 0.0
    return float((index.max() - index.min()).total_seconds() + step)


def estimate_cost(
    span_seconds: float, profile: ScalingProfile, options: SimulationOptions
) -> SimulationCost:
    """The work of replaying a trace spanning ``span_seconds``, from the options alone: the
    replay ticks each autoscaler run steps through, and the forecasts the predictive policy
    makes (one per re-plan, or with ``update`` off one per refit) and the refits among them."""
    tick = options.tick_seconds
    n = max(2, round(span_seconds / tick))
    replay = max(0, n - _first_replayed(n, tick, profile, options))
    predictive = "predictive" in options.policies
    # reactive, predictive, and the equal-spend bisection: two ends and its iterations
    runs = ("reactive" in options.policies) + predictive
    runs += 14 if predictive and options.equal_spend else 0
    forecasts = refits = 0
    if predictive:
        settings = options.forecast
        decisions = math.ceil(replay / max(1, round(settings.replan_seconds / tick)))
        refit_every = max(1, round(settings.refit_seconds / settings.replan_seconds))
        refits = math.ceil(decisions / refit_every)
        forecasts = decisions if settings.update else refits
    return SimulationCost(
        replay_ticks=replay, autoscaler_runs=runs, forecasts=forecasts, refits=refits
    )


def _check_budget(cost: SimulationCost, options: SimulationOptions) -> None:
    """Refuse a simulation over the budget, saying how large it is and what makes it smaller."""
    budget = options.budget
    if budget is None:
        return
    problems = []
    if cost.forecasts > budget.max_forecasts:
        what = "re-plan" if options.forecast.update else "refit"
        problems.append(
            f"the predictive policy would make {cost.forecasts:,} forecasts (one per {what} over "
            f"{cost.replay_ticks * options.tick_seconds / 86_400:.3g} days of replay; at most "
            f"{budget.max_forecasts:,}): use a longer replan_seconds, update false, "
            "a shorter max_replay_days or fewer days"
        )
    if cost.refits > budget.max_refits:  # an update is cheap, a refit takes seconds
        problems.append(
            f"the predictive policy would refit its model {cost.refits:,} times (one per "
            f"refit_seconds over {cost.replay_ticks * options.tick_seconds / 86_400:.3g} days "
            f"of replay; at most {budget.max_refits:,}): use a longer refit_seconds, "
            "a shorter max_replay_days or fewer days"
        )
    if cost.tick_steps > budget.max_tick_steps:
        problems.append(
            f"the autoscaler would step through {cost.tick_steps:,} ticks ({cost.replay_ticks:,} "
            f"ticks of {options.tick_seconds:g} s x {cost.autoscaler_runs} runs; at most "
            f"{budget.max_tick_steps:,}): use a coarser tick_seconds, a shorter max_replay_days "
            "or fewer days, or equal_spend false"
        )
    if problems:
        raise InvalidInputError(
            "simulation too large for the API: "
            + "; and ".join(problems)
            + " (the offline `forecaster simulate` has no such limit)"
        )


def _check_forecast_cells(
    replay_ticks: int, tick: float, profile: ScalingProfile, options: SimulationOptions
) -> None:
    """Refuse a predictive policy whose forecasts would not fit in memory."""
    if "predictive" not in options.policies:
        return
    decisions = math.ceil(replay_ticks * tick / options.forecast.replan_seconds)
    steps = trail_horizon_seconds(profile, options.forecast) / profile.step_seconds + 2
    if decisions * steps > MAX_FORECAST_CELLS:
        raise InvalidInputError(
            f"the predictive policy would keep {decisions * steps:.3g} forecast steps; use a "
            "coarser step_seconds, a shorter start-up or replay, or a longer re-plan interval"
        )


def _check(profile: ScalingProfile, options: SimulationOptions) -> None:
    """Refuse what the simulator cannot replay faithfully, with a message that says why."""
    unknown = set(options.policies) - set(POLICIES)
    if unknown:
        raise InvalidInputError(
            f"unknown policies {listing(sorted(unknown))}; known: {listing(POLICIES)}"
        )
    if not options.policies:
        raise InvalidInputError("choose at least one policy")
    if profile.tiers:
        raise InvalidInputError(
            "the simulator replays one replica type; remove `tiers` from the profile to simulate"
        )
    tick = options.tick_seconds
    if tick not in TICKS:
        raise InvalidInputError(
            f"tick_seconds must be one of {listing(TICKS)} (the HPA syncs every 15 s)"
        )
    if abs(profile.step_seconds / tick - round(profile.step_seconds / tick)) > 1e-9:
        raise InvalidInputError(
            f"step_seconds ({profile.step_seconds}) must be a whole number of {tick:g}s ticks"
        )
    if not 0 < options.train_fraction < 1:
        raise InvalidInputError("train_fraction must lie strictly between 0 and 1")
    if options.forecast.replan_seconds < tick or options.forecast.refit_seconds < tick:
        raise InvalidInputError("replan and refit intervals must be at least one tick")


def _iso(moment: pd.Timestamp) -> str:
    return pd.Timestamp(moment).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
