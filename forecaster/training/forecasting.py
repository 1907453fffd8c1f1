"""Backtest candidates, pick a champion, calibrate its quantiles, refit and forecast.

The one code path behind the service's train job (``forecaster.training.train``), the offline
``forecaster forecast`` and ``forecaster backtest`` commands and the benchmark, so what a user
tries on a CSV is what the service does with their metrics. :func:`forecast_many` handles a
whole deployment at once, which lets a global LightGBM learn across its series;
:func:`make_forecast` is the single-series case of the same path.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from datetime import tzinfo
from functools import partial
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from forecaster.errors import CandidatesFailedError, listing, quoted
from forecaster.training.backtest import (
    CandidateBacktest,
    FoldPlan,
    Folds,
    backtest_candidate,
    backtest_global,
    dense_plan,
    plan_folds,
)
from forecaster.training.cluster import Result, chunk_size, on_cluster
from forecaster.training.event_effect import with_learned_levels
from forecaster.training.history import (
    read_as_load,
    without_idle_start,
    without_stray_start,
    zone_problem,
)
from forecaster.training.selection import (
    ENSEMBLE,
    FAILED_IN_BACKTEST,
    Score,
    calibrate,
    choose,
    ensemble_margin,
    mase_of,
    short_backtest,
    with_ensemble,
)
from forecaster.training.weekend import (
    MONDAY,
    PARTLY_SEEN_CONTRAST,
    SATURDAY,
    SHORT_WEEKEND_GAP,
    WEEKEND_CONTRAST,
    day_level_spread,
    day_seconds,
    latest_clock,
    weekend_contrast,
    weekend_gap,
    whole_weekends,
)
from models.base import (
    DAY_SECONDS,
    DEFAULT_QUANTILES,
    WEEK_SECONDS,
    ForecastModel,
    quantile_name,
    season_steps,
    step_seconds_of,
)
from models.calendar import Calendar, without_events
from models.conformal import Calibrated, ConformalBands, whole_numbers
from models.ensemble import Ensemble
from models.lightgbm_model import LightGBMGlobal
from models.naive import SeasonalNaiveDaily
from models.registry import MODELS, create_model
from models.weekend_shift import WeekendShift, WeekendShifted

log = logging.getLogger(__name__)

DAILY_NAIVE = "seasonal_naive_daily"
WEEKLY_NAIVE = "seasonal_naive_weekly"
FALLBACK_MODEL = DAILY_NAIVE
# the single-series ladder; models that need more history than there is are skipped
SINGLE_SERIES = (
    "seasonal_naive_daily",
    "seasonal_naive_weekly",
    "holt_winters",
    "mstl",
    "prophet",
    "lightgbm",
    "recent_level",
)
# many series at once: cheap baselines plus one LightGBM shared by all (fast and accurate)
FLEET = ("seasonal_naive_daily", "seasonal_naive_weekly", "lightgbm_global")
FLEET_THRESHOLD = 20
GLOBAL_MODELS = {"lightgbm_global": LightGBMGlobal}
# the most recent points a model sees: ~4.5 months at 5 min, 4.5 years at 1 h; steps under a
# minute keep at least MIN_HISTORY_DAYS (up to MAX_FINE_HISTORY_POINTS: 4 days at 1 s)
MAX_HISTORY_POINTS = 40_000
MIN_HISTORY_DAYS = 4
MAX_FINE_HISTORY_POINTS = 400_000
# a spawned worker takes ~4 s to start (imports): below this many series, one process is faster
# (4 series x 21 days at 5 min: 13.2 s in one process, 11.1 s in two)
MIN_SERIES_FOR_PROCESSES = 3
# with less history than one backtest at the full horizon, bands are at least this share of
# the level at one standard deviation (as the naive fallback's are)
COLD_START_WIDTH = 0.25
# a short backtest (days of history, fold origins spanning under a week): the champion's bands
# times this. Its few folds say little about the tails and the champion is the candidate they
# flattered: cut to 14 and 21 days, the shared traces' p90 / p95 covered 0.85 / 0.91 and
# 0.87 / 0.93; widened, 0.89 / 0.93 and 0.90 / 0.95, with pinball 2.6 % and 1.1 % lower
SHORT_BACKTEST_WIDEN = 1.2

Progress = Callable[[str], None]


@dataclass
class ForecastOutcome:
    """A forecast frame plus what produced it and why."""

    frame: pd.DataFrame
    model: str
    fitted: ForecastModel
    message: str = ""
    scores: dict[str, Any] = field(default_factory=dict)
    fit_seconds: float = 0.0
    leaderboard: list[Score] = field(default_factory=list)
    calibration: dict[str, Any] = field(default_factory=dict)
    # every other candidate's calibrated forecast, when asked for (benchmarks compare them)
    alternatives: dict[str, ForecastOutcome] = field(default_factory=dict)
    # set when candidates' errors, not a short or constant history, left only the fallback
    # (model "auto" or "ensemble"): training then keeps a stored champion that still forecasts
    # (a library upgrade can break every model at once; seasonal-naive is no replacement)
    errors: list[str] = field(default_factory=list)
    # where a fleet's series was trained when a Dask cluster was asked for: a worker's address,
    # or why this machine trained it; "" otherwise (see _map_series)
    trained_on: str = ""


@dataclass(frozen=True)
class SeriesFailure:
    """Why one series of a batch got no forecast at all: its own work raised, and so did the
    seasonal-naive fallback. It stands in that series' place, so the rest of the batch (every
    service training beside it) still counts."""

    message: str


def known_model_names() -> list[str]:
    """What ``--model`` accepts."""
    return ["auto", ENSEMBLE, *sorted(MODELS)]


def unknown_model(model: str) -> str | None:
    """Why ``model`` is not one ``--model`` accepts, naming those it does; None when it is."""
    if model in known_model_names():
        return None
    return f"unknown model {quoted(model)}; known: {listing(known_model_names())}"


def make_forecast(
    history: pd.Series,
    horizon: int,
    *,
    model: str = "auto",
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    calendar: Calendar | None = None,
    candidates: Sequence[str] | None = None,
    progress: Progress | None = None,
    alternatives: bool = False,
) -> ForecastOutcome:
    """Forecast ``horizon`` steps after ``history`` with the named model, or the best by backtest.

    Quantiles are calibrated on the backtest residuals. Whatever fails falls back (to the next
    candidate, then to seasonal-naive) and the outcome's message says why.
    """
    return forecast_many(
        [history],
        horizon,
        model=model,
        quantiles=quantiles,
        calendars=[calendar] if calendar else None,
        candidates=candidates,
        progress=progress,
        alternatives=alternatives,
    )[0]


def read_for_models(
    history: pd.Series, calendar: Calendar, horizon: int
) -> tuple[pd.Series, Calendar, str, str]:
    """What the models read, and the notes of the reading and of the levels learnt:
    - the levels its past holidays and events ran at
      (:func:`~forecaster.training.event_effect.with_learned_levels`), read on the rows as they
      ran, where the zone's days fall on them;
    - the history as load, on the service's current clock
      (:func:`~forecaster.training.history.read_as_load`), and the calendar moved onto that
      clock as the rows were (``Calendar.on_clock_of``).
    Training and the refresh both read so: training learnt the holidays on rows already moved,
    and the days before a daylight-saving change an hour off (the refresh learnt them on UTC)."""
    zone = calendar.timezone
    if zone_problem(zone):  # read in UTC (the clock note says why), weekends too
        calendar = replace(calendar, timezone=None)
    calendar, levels_note = with_learned_levels(history, calendar, horizon)
    history, note = read_as_load(history, zone)
    if calendar.timezone and len(history):  # past windows move as the rows around them moved
        calendar = calendar.on_clock_of(history.index[-1])
    return history, calendar, note, levels_note


def refreshed(
    model: ForecastModel, history: pd.Series, calendar: Calendar | None, horizon: int
) -> tuple[ForecastModel, str]:
    """``model`` updated with a newer ``history`` without refitting, both read as training
    reads them (:func:`read_for_models`: events declared since training count, and holidays
    and events take the levels the newer history gives them), and the reading's note. The
    service's 15-minute refresh and the replay simulator's re-plans both forecast so, as the
    champion was fitted."""
    history, calendar, note, _ = read_for_models(history, calendar or Calendar(), horizon)
    if isinstance(model, Calibrated):
        # replaced by the declared ones alone, a holiday's 0.4x was forecast as 1x from the
        # first refresh after every training
        model.events = calendar.events
    return model.update(history), note


@dataclass
class _Series:
    """One series on its way through the engine."""

    history: pd.Series
    calendar: Calendar
    plan: FoldPlan | None = None
    folds: Folds | None = None
    dense: Folds | None = None  # short-horizon calibration origins (see ``dense_plan``)
    reason: str = ""
    error: str = ""  # why preparing the history failed (see _prepared_or_not)
    note: str = ""  # what was done to the history first (a trailing outage read as missing)
    # weekends moved onto the weekdays' level (:func:`_weekends_moved`), and why
    weekend: WeekendShift | None = None
    weekend_note: str = ""
    backtests: dict[str, CandidateBacktest] = field(default_factory=dict)
    scored: list[tuple[CandidateBacktest, Score]] = field(default_factory=list)
    # global models refitted on every series at once: this series' handle, or why it failed
    global_finals: dict[str, ForecastModel] = field(default_factory=dict)
    global_failures: dict[str, str] = field(default_factory=dict)

    @property
    def step_seconds(self) -> float:
        return step_seconds_of(pd.DatetimeIndex(self.history.index))


def forecast_many(
    histories: Sequence[pd.Series], horizon: int, **options: Any
) -> list[ForecastOutcome]:
    """:func:`forecast_each`, for callers that want every forecast or none: CandidatesFailedError
    names the first series that got none."""
    outcomes = forecast_each(histories, horizon, **options)
    for number, outcome in enumerate(outcomes, start=1):
        if isinstance(outcome, SeriesFailure):
            which = f"series {number} of {len(outcomes)}: " if len(outcomes) > 1 else ""
            raise CandidatesFailedError(f"{which}{outcome.message}")
    return [outcome for outcome in outcomes if not isinstance(outcome, SeriesFailure)]


def forecast_each(
    histories: Sequence[pd.Series],
    horizon: int,
    *,
    model: str = "auto",
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    calendars: Sequence[Calendar] | None = None,
    candidates: Sequence[str] | None = None,
    progress: Progress | None = None,
    alternatives: bool = False,
    workers: int = 1,
    cluster: str | None = None,
) -> list[ForecastOutcome | SeriesFailure]:
    """Backtest, select, calibrate, fit and forecast every series (all on the same step).

    Global models learn from every series at once, here; everything else is one series' own
    business, done for several series at a time in ``workers`` processes (LightGBM and the
    statsmodels filters use one core each, so processes are what puts more cores to work), or
    on the Dask cluster whose scheduler is at ``cluster``.
    With ``alternatives`` every backtested candidate is also refitted and forecast, for
    side-by-side comparison (the benchmark); the champion is chosen the same way.
    Each series' trouble stays its own (:func:`_complete_or_fall_back`).
    """
    if problem := unknown_model(model):
        raise ValueError(problem)
    if horizon < 1:
        raise ValueError("horizon must be at least one step")
    started = time.perf_counter()
    quantiles = tuple(sorted(quantiles))
    names = _candidate_names(model, candidates, len(histories))
    weekends = model == "auto" and WEEKLY_NAIVE in names  # see _weekends_moved
    series = [
        _prepared_or_not(history, calendar, horizon, weekends)
        for history, calendar in zip(
            histories, calendars or [Calendar()] * len(histories), strict=True
        )
    ]
    shared = [name for name in names if name in GLOBAL_MODELS and len(series) > 1]
    _run_global_backtests(series, names, shared, horizon, progress)
    _fit_global_finals(series, shared, horizon)
    work = partial(
        _complete_or_fall_back,
        names=names,
        shared=shared,
        horizon=horizon,
        quantiles=quantiles,
        model=model,
        alternatives=alternatives,
    )
    # a fleet's own work is the cheap naive baselines: shipping each series' share of the global
    # model to workers costs more than it saves (1,000 series: 13 % faster, twice the memory)
    heavy = any(name not in FLEET for name in names if name not in shared)
    shared_seconds = (time.perf_counter() - started) / max(1, len(series))
    placed = _map_series(
        work, series, workers if heavy else 1, progress, cluster if heavy else None
    )
    for outcome, where in placed:  # its share of the joint work plus its own (by _complete)
        if isinstance(outcome, ForecastOutcome):
            outcome.fit_seconds += shared_seconds
            outcome.trained_on = where
    return [outcome for outcome, _ in placed]


def _map_series(
    work: Callable[..., Result],
    series: list[_Series],
    workers: int,
    progress: Progress | None,
    cluster: str | None = None,
) -> list[tuple[Result, str]]:
    """``work`` on every series: here, on a Dask cluster, or in spawned processes (a forked
    child of a process that has run LightGBM can hang in it) when there are several series
    and workers. A cluster that cannot train them (unreachable, no worker) is noted in the log
    and the series train here instead: slower, not failed. So does a chunk that fails there
    (say its work keeps killing workers); the other chunks' results still count. Each result
    comes with where it was trained when a cluster was asked for (else ""), so the job-run
    record says whether the cluster did the work."""
    here = ""
    if cluster is not None and len(series) >= MIN_SERIES_FOR_PROCESSES:
        try:
            return on_cluster(cluster, partial(_each_in_chunk, work), series)
        except Exception as failure:  # noqa: BLE001 - whatever the cluster raised: train here
            log.warning("Dask cluster %s failed (%s); training on this machine", cluster, failure)
            here = f"this machine: the Dask cluster {cluster} failed ({failure})"
    if workers <= 1 or len(series) < MIN_SERIES_FOR_PROCESSES:
        return [(work(item, progress=progress), here) for item in series]
    context = multiprocessing.get_context("spawn")
    processes = min(workers, len(series))
    # one chunk per process: a global model that many series share is pickled once per chunk
    # (pickle keeps one copy of an object within one message), not once per series
    chunk = chunk_size(len(series), processes)
    try:
        with ProcessPoolExecutor(processes, mp_context=context) as pool:
            return [(result, here) for result in pool.map(work, series, chunksize=chunk)]
    except BrokenProcessPool as failure:  # a worker died (out of memory, killed): go on here
        log.warning("training workers failed (%s); training in this process", failure)
        return [(work(item, progress=progress), here) for item in series]


def _each_in_chunk(work: Callable[[_Series], Result], chunk: list[_Series]) -> list[Result]:
    return [work(item) for item in chunk]


def _complete_or_fall_back(
    item: _Series,
    *,
    horizon: int,
    quantiles: tuple[float, ...],
    model: str,
    **options: Any,
) -> ForecastOutcome | SeriesFailure:
    """:func:`_complete`, its trouble kept to this series. An error no candidate's own guard
    caught (this series' data tripping the engine, or the fallback itself failing) falls back
    to seasonal-naive, marked as an error so training keeps a stored champion that still
    forecasts; if that fails too, a :class:`SeriesFailure`. One such series had failed the
    whole batch: every service training beside it, night after night."""
    # a history that could not be read (item.error) leaves a fallback that is no champion
    try:
        outcome = _complete(item, horizon=horizon, quantiles=quantiles, model=model, **options)
    except Exception as error:  # this series' own: the batch goes on
        problem = f"the engine failed on this series ({type(error).__name__}: {error})"
        log.warning("%s", problem, exc_info=True)
        if item.error:  # the fallback failed on the history preparing it failed on
            return SeriesFailure(f"{item.error}; {problem}")
        try:
            outcome = _fallback(item, horizon, quantiles, problem, model)
        except Exception as again:  # noqa: BLE001 - nothing left to forecast this series with
            fallback = f"{type(again).__name__}: {again}"
            return SeriesFailure(f"{problem}; so did the fallback ({fallback})")
        outcome.errors = [problem]
    outcome.errors = [item.error, *outcome.errors] if item.error else outcome.errors
    return outcome


def _complete(
    item: _Series,
    *,
    names: Sequence[str],
    shared: Sequence[str],
    horizon: int,
    quantiles: tuple[float, ...],
    model: str,
    alternatives: bool,
    progress: Progress | None = None,
) -> ForecastOutcome:
    """One series from its global backtests to its forecast: its own candidates' backtests,
    selection, calibration and refit (and, if asked, every alternative's forecast). The
    outcome's ``fit_seconds`` is this series' own work, the alternatives left out."""
    started = time.perf_counter()
    if item.plan is not None:
        for name in names:
            if name in shared:
                continue
            item.backtests[name] = _backtest_one(name, item, names, horizon)
            if progress is not None:
                progress(name)
        item.backtests = {name: item.backtests[name] for name in names if name in item.backtests}
    outcome = _finish(item, model, horizon, quantiles)
    outcome.message = "; ".join(filter(None, [item.note, outcome.message]))
    outcome.fit_seconds = time.perf_counter() - started
    if alternatives:
        outcome.alternatives = _alternatives(item, horizon, quantiles, outcome)
    return outcome


def default_candidates(series_count: int) -> tuple[str, ...]:
    """The ladder for one series; with a few series the LightGBM is shared (global); with
    many, only the cheap baselines and the global model, so a fleet trains in minutes."""
    if series_count == 1:
        return SINGLE_SERIES
    if series_count <= FLEET_THRESHOLD:
        return tuple("lightgbm_global" if n == "lightgbm" else n for n in SINGLE_SERIES)
    return FLEET


def _candidate_names(model: str, candidates: Sequence[str] | None, count: int) -> list[str]:
    if model not in ("auto", ENSEMBLE):
        return [model]
    names = list(candidates) if candidates else list(default_candidates(count))
    unknown = [name for name in names if name not in MODELS]
    if unknown:
        built = (
            " (the ensemble is not a candidate: it is built from them)"
            if ENSEMBLE in unknown
            else ""
        )
        raise ValueError(
            f"unknown candidate models {listing(unknown)}{built}; known: {listing(sorted(MODELS))}"
        )
    return names


def history_cap(history: pd.Series) -> int:
    """How many of the latest points the models see. At steps under a minute 40,000 points
    are hours (11 h at 1 s), too few to learn a daily cycle: a week of per-second load was
    forecast a day ahead as a flat line (MAE 2.06 on a synthetic week, 1.73 with four days
    kept, 4 s -> 20 s of fitting), so such steps keep ``MIN_HISTORY_DAYS``."""
    step = step_seconds_of(history.index) if len(history) > 1 else DAY_SECONDS
    days = math.ceil(MIN_HISTORY_DAYS * DAY_SECONDS / step)
    return max(MAX_HISTORY_POINTS, min(days, MAX_FINE_HISTORY_POINTS))


def _prepared_or_not(
    history: pd.Series, calendar: Calendar, horizon: int, weekends: bool
) -> _Series:
    """:func:`_prepare`, or when that raises on this series, the series as given with no
    backtest, for the fallback, and why (:func:`_complete_or_fall_back`)."""
    try:
        return _prepare(history, calendar, horizon, weekends)
    except TypeError:
        raise  # a caller's mistake, not the data's
    except Exception as error:  # this series' own: the batch goes on
        problem = f"the engine could not read this series ({type(error).__name__}: {error})"
        log.warning("%s", problem, exc_info=True)
        return _Series(history=history, calendar=calendar, reason=problem, error=problem)


def _prepare(
    history: pd.Series, calendar: Calendar, horizon: int, weekends: bool = False
) -> _Series:
    """Cap the history, spot degenerate series, and plan the backtest folds (with
    ``weekends``, moving weekends the backtest cannot weigh: :func:`_weekends_moved`)."""
    if not isinstance(history.index, pd.DatetimeIndex):
        raise TypeError("history must have a DatetimeIndex")
    history = history.iloc[-history_cap(history) :].astype("float64")
    history, idle_note = without_idle_start(without_stray_start(history))
    history, calendar, note, levels_note = read_for_models(history, calendar, horizon)
    note = "; ".join(filter(None, [idle_note, note, levels_note]))
    item = _Series(history=history, calendar=calendar, note=note)
    observed = history.dropna()
    if len(observed) < 3:
        item.reason = f"only {len(observed)} observed point{'' if len(observed) == 1 else 's'}"
    elif float(observed.max()) == float(observed.min()):
        item.reason = "constant history"
    if item.reason:
        return item
    step = item.step_seconds
    item.plan = plan_folds(len(history), horizon, step)
    if item.plan is None:
        item.reason = f"history too short to backtest ({len(history)} steps)"
        return item
    blanked = without_events(history, calendar.events)
    folds = Folds.of(blanked, item.plan)
    if not np.isfinite(folds.actuals).any():  # no fold can score or calibrate a model
        item.plan = None
        item.reason = "declared events or gaps cover every backtest fold"
        return item
    item.folds = folds
    if weekends and _weekends_moved(item, horizon):
        blanked = without_events(item.history, calendar.events)
        item.folds = Folds.of(blanked, item.plan)
    dense = dense_plan(item.plan, step)
    item.dense = Folds.of(blanked, dense) if dense is not None else None
    return item


def _missing_history(name: str, item: _Series) -> str | None:
    """The cold-start ladder: why a model must wait (``None`` once the history before the
    first fold covers more than it needs: two days for daily seasonal models, eight for
    weekly). More than: MSTL fits a cycle on more than two of its periods, and at exactly two
    days (three days of history, a 24 h horizon) it was admitted, then failed every fold."""
    assert item.plan is not None
    span = (int(item.plan.origins[0]) + 1) * item.step_seconds
    needed = MODELS[name].min_history_seconds
    if span > needed:
        return None
    return f"needs more than {needed / 86_400:g} days of history, has {span / 86_400:.2g}"


def _history_for(name: str, item: _Series) -> pd.Series:
    learns = bool(getattr(MODELS[name], "learns_events", False))
    return without_events(item.history, item.calendar.events, learns_events=learns)


def _factory(name: str, item: _Series, horizon: int) -> Callable[[], ForecastModel]:
    return partial(_new_model, name, item.calendar, horizon)


def _new_model(name: str, calendar: Calendar, horizon: int) -> ForecastModel:
    """A fresh, configured model (a module-level function, so a factory of it pickles)."""
    return create_model(name).configure(calendar=calendar, horizon=horizon)


def _waiting(name: str, item: _Series, names: Sequence[str]) -> CandidateBacktest | None:
    """A skipped backtest when the cold-start ladder says the model must wait (a model asked
    for by name is tried whatever the ladder says), else ``None``."""
    missing = _missing_history(name, item) if len(names) > 1 else None
    return CandidateBacktest(name, error=missing, skipped=True) if missing else None


def _backtest_one(
    name: str, item: _Series, names: Sequence[str], horizon: int
) -> CandidateBacktest:
    """One candidate's backtest on one series, or why it must wait."""
    assert item.plan is not None
    waiting = _waiting(name, item, names)
    if waiting is not None:
        return waiting
    return backtest_candidate(
        name, _factory(name, item, horizon), _history_for(name, item), item.plan
    )


def _run_global_backtests(
    series: Sequence[_Series],
    names: Sequence[str],
    shared: Sequence[str],
    horizon: int,
    progress: Progress | None,
) -> None:
    """Backtest each global model on every series that may have it, with one joint fit."""
    ready = [item for item in series if item.plan is not None]
    for name in shared:
        eligible = []
        for item in ready:
            waiting = _waiting(name, item, names)
            if waiting is not None:
                item.backtests[name] = waiting
            else:
                eligible.append(item)
        cls = GLOBAL_MODELS[name]
        results = backtest_global(
            name,
            lambda cut, cls=cls: cls.fit_many(cut, horizon=horizon),  # type: ignore[misc]
            [_history_for(name, item) for item in eligible],
            [item.plan for item in eligible if item.plan is not None],
        )
        for item, result in zip(eligible, results, strict=True):
            item.backtests[name] = result
        if progress is not None:
            progress(name)


def _fit_global_finals(series: Sequence[_Series], shared: Sequence[str], horizon: int) -> None:
    """Refit each global model on the full histories, once, where some series backtested it
    well enough to pick it; each series keeps its own handle (or why the fit failed)."""
    for name in shared:
        members = [item for item in series if name in item.backtests]
        if not any(item.backtests[name].ok for item in members):
            continue
        try:
            models = GLOBAL_MODELS[name].fit_many(
                [_history_for(name, item) for item in members], horizon=horizon
            )
        except Exception as failure:  # noqa: BLE001 - each series falls down its leaderboard
            for item in members:
                item.global_failures[name] = f"{type(failure).__name__}: {failure}"
            continue
        for item, fitted in zip(members, models, strict=True):
            item.global_finals[name] = fitted


def _fit_final(name: str, members: Sequence[str], item: _Series, horizon: int) -> ForecastModel:
    """The champion refitted on the full history (an ensemble fits each member); a global
    model's refit was made for every series at once (:func:`_fit_global_finals`)."""

    def one(member: str) -> ForecastModel:
        if member in item.global_failures:
            raise RuntimeError(f"the joint refit failed: {item.global_failures[member]}")
        if member in item.global_finals:
            return item.global_finals[member]
        return _factory(member, item, horizon)().fit(_history_for(member, item))

    if name == ENSEMBLE:
        return _averaged([one(member) for member in members], item, horizon)
    return one(name)


def _finish(
    item: _Series,
    model: str,
    horizon: int,
    quantiles: tuple[float, ...],
) -> ForecastOutcome:
    """Select, calibrate and refit for one series, falling back down the leaderboard."""
    if item.folds is None:
        return _fallback(item, horizon, quantiles, item.reason, model)
    candidates, scores = with_ensemble(item.folds, list(item.backtests.values()), quantiles)
    item.scored = list(zip(candidates, scores, strict=True))
    # a forced ensemble goes first; then the champion, then the rest by MASE
    order = [i for i, s in enumerate(scores) if s.model == ENSEMBLE and model == ENSEMBLE]
    ranked = sorted(
        (i for i, s in enumerate(scores) if s.status == "ok"),
        key=lambda i: mase_of(scores[i]),
    )
    margin = ensemble_margin(item.folds.plan, item.step_seconds, len(item.history))
    first = choose(scores, margin)
    order += [i for i in ([first] if first is not None else []) + ranked if i not in order]
    # candidates that raised in the backtest: a broken library leaves seasonal-naive standing,
    # and a champion so downgraded must say why where the run is read, not only in its table
    broken = [
        f"{s.model} {FAILED_IN_BACKTEST} ({s.message})" for s in scores if s.status == "failed"
    ]
    failures: list[str] = []
    partner, why = _blend_partner(item) if model == "auto" else (None, "")
    for index in order:
        chosen, candidate = scores[index], candidates[index]
        blend = partner if partner != chosen.model else None
        try:
            fitted, frame = _calibrated(item, candidate, horizon, quantiles, blend)
        except Exception as failure:  # noqa: BLE001 - next candidate down the leaderboard
            log.warning("final fit of %s failed: %s", chosen.model, failure)
            failures.append(f"{chosen.model} failed ({failure})")
            continue
        chosen.champion = True
        unlearned = _unlearned_events(item, chosen.model, horizon)
        said = _blend_note(item, blend, why)
        message = "; ".join(filter(None, [*broken, *failures, said, unlearned]))
        if model not in ("auto", ENSEMBLE, chosen.model):
            message = f"{model} could not be used; {message}"
        return ForecastOutcome(
            frame=frame,
            model=chosen.model,
            fitted=fitted,
            message=message,
            scores={s.model: s.as_dict() for s in scores} | {"champion": chosen.model},
            leaderboard=scores,
            calibration=_describe(fitted.bands),
        )
    reasons = failures or [f"{s.model}: {s.message}" for s in scores if s.message]
    if model not in ("auto", ENSEMBLE):
        return _uncalibrated(item, model, horizon, quantiles, "; ".join(reasons), scores)
    outcome = _fallback(
        item, horizon, quantiles, "; ".join(reasons) or "no candidate", model, scores
    )
    # skipped candidates wait for more history: only failed ones are errors
    outcome.errors = failures or [f"{s.model}: {s.message}" for s in scores if s.status == "failed"]
    return outcome


def _uncalibrated(
    item: _Series,
    model: str,
    horizon: int,
    quantiles: tuple[float, ...],
    reason: str,
    scores: list[Score],
) -> ForecastOutcome:
    """A model asked for by name that could not be backtested: fitted on the full history with
    its own (uncalibrated) bands, or seasonal-naive if even that fails."""
    try:
        fitted = _factory(model, item, horizon)().fit(_history_for(model, item))
        frame = fitted.predict(horizon, tuple(sorted({0.5, *quantiles})))
    except Exception as failure:  # noqa: BLE001 - last resort below
        return _fallback(item, horizon, quantiles, f"{reason or failure}", model, scores)
    # a model's own bands from a few points can have no width at all: keep the cold-start floor
    width = _cold_width(item)
    for q in quantiles:
        least = frame["p50"] + width * NormalDist().inv_cdf(q)
        bound = np.maximum if q > 0.5 else np.minimum
        frame[quantile_name(q)] = bound(frame[quantile_name(q)], least)
    frame = frame[[quantile_name(q) for q in quantiles]]
    return ForecastOutcome(
        frame=frame,
        model=model,
        fitted=fitted,
        message=f"not backtested ({reason}); its bands are uncalibrated",
        leaderboard=scores,
    )


def _cold_width(item: _Series) -> float:
    """The least band width (one standard deviation) while the backtest cannot vouch for it."""
    return COLD_START_WIDTH * float(np.nanmean(np.abs(item.history.to_numpy())))


def _calibrated(
    item: _Series,
    candidate: CandidateBacktest,
    horizon: int,
    quantiles: tuple[float, ...],
    blend_with: str | None = None,
) -> tuple[Calibrated, pd.DataFrame]:
    """A candidate refitted on the full history, wrapped in bands from its backtest; with
    ``blend_with``, its median averaged with that naive model's (:func:`_blend_partner`)."""
    assert item.folds is not None
    base = _fit_final(candidate.model, candidate.members, item, horizon)
    if blend_with is not None:
        base = _averaged([base, _fit_final(blend_with, (), item, horizon)], item, horizon)
    base = _weekends_back(base, item)
    bands = _bands(item, candidate)
    if short_backtest(item.folds.plan, item.step_seconds, len(item.history)):
        bands.unit *= SHORT_BACKTEST_WIDEN
    reached = item.folds.plan.horizon
    if reached < horizon:
        # cold start: the backtest could not reach the horizon, so keep bands wide
        bands.floor = _cold_width(item)
    covered = len(item.history) * item.step_seconds  # each point stands for its step
    hold = reached < horizon and covered < DAY_SECONDS  # hours of history: hold the median
    fitted = Calibrated(
        base,
        bands,
        events=item.calendar.events,
        counts=whole_numbers(item.history),
        history=item.history,
        hold_after=reached if hold else None,
        zone=item.calendar.timezone,
    )
    return fitted, fitted.predict(horizon, quantiles)


def _blend_partner(item: _Series) -> tuple[str | None, str]:
    """The naive model auto's champion is averaged with, and why: last week's same day when
    the weekends stand apart unweighed (:func:`_weekends_moved`); yesterday when the history
    holds a whole day but no fold had one behind it, so no backtest could weigh a daily
    repeat (seasonal-naive daily then scores as the last value). Cut to 24 and 30 hours, the
    shared traces' next day scored MAE 1.33x and 1.37x yesterday repeated under auto's pick
    alone (Holt's damped trend carried an evening's fall through the night), 0.93x and 1.06x
    with the two averaged, which also guards traffic without a daily cycle."""
    if item.weekend_note:
        return _weekend_partner(item), item.weekend_note
    assert item.plan is not None
    day = season_steps(item.step_seconds, DAY_SECONDS)
    if len(item.history) >= day > int(item.plan.origins[0]) + 1 and day > 1:
        return DAILY_NAIVE, (
            f"{DAILY_NAIVE}: the history holds a whole day, the backtest's folds less, so "
            "the forecast is averaged with yesterday's"
        )
    return None, ""


def _weekends_moved(item: _Series, horizon: int) -> bool:
    """Move the history's weekends onto the weekdays' level (``models.weekend_shift``) when
    they stand apart (:mod:`forecaster.training.weekend`) and the backtest cannot weigh them,
    because weekly naive waits for more history, no fold forecasts a weekend day, the folds
    forecast under a day of weekend while the history holds one weekend, or the forecast
    reaches a Monday or a Saturday no fold forecast (in the last two, only weekends twice as
    far apart: the folds weighed some weekend hours). The champion then learns one kind of
    day, forecasts weekends moved back, and is averaged with last week's same day
    (:func:`_calibrated`). Whether it did so."""
    assert item.folds is not None and item.plan is not None
    zone = item.calendar.timezone
    clock = latest_clock(item.history, zone)  # the rows' and the forecast's, fixed
    least_contrast = WEEKEND_CONTRAST
    short = bool(_missing_history(WEEKLY_NAIVE, item))
    if short:
        why = "the history is too short to backtest a weekly model"
        if _weekend_partner(item) != WEEKLY_NAIVE:
            # under a week, the standard deviation of three to five weekdays is a rough
            # yardstick: twitter's mild weekends passed the usual bar, and one UPS day cut to
            # 5 and 6 days was forecast at 2.3x the error once its weekend was moved
            least_contrast = PARTLY_SEEN_CONTRAST
    elif not (seen := day_seconds(item.folds.seconds, item.step_seconds, clock)):
        why = "no backtest fold forecast a weekend"
    elif seen < DAY_SECONDS and whole_weekends(item.history, zone) < 2:
        # a few weekend hours (a history ending Saturday morning: its quiet night) do not
        # weigh a weekend a model saw once: Prophet half-learnt a 0.3x Saturday and was
        # picked on weekday folds, 15x the error of last week's same day
        why = "the backtest folds forecast under a day of weekend and the history holds one"
        least_contrast = PARTLY_SEEN_CONTRAST
    elif turn := _unweighed_turn(item, horizon, clock):
        # the folds did forecast weekend days, where daily models following the last day's
        # level do well, but never the turn back to weekdays: nine days to Sunday night were
        # forecast Monday like Sunday, 2.5x the error of last Monday repeated (and the turn
        # into the weekend, the same way round: :func:`_unweighed_turn`)
        why = f"the forecast reaches a {turn} and no backtest fold forecast one"
        least_contrast = PARTLY_SEEN_CONTRAST
    else:
        return False
    contrast = weekend_contrast(item.history, zone)
    # under a week with too few weekdays for a standard deviation (three or four days), the
    # weekend's gap from every weekday: taylor's electricity demand cut to three days before a
    # Monday was forecast 17-20 % low, like the Sunday before it
    gap = weekend_gap(item.history, zone) if short and contrast <= least_contrast else 0.0
    if contrast <= least_contrast and abs(gap) <= SHORT_WEEKEND_GAP:
        return False
    # read on the gap (under three whole weekdays), the moved weekend is copies of one or two
    # weekdays' level and most of what the one fold forecasts: bands add how far a day's level
    # strays. With three weekdays or more the folds show some of it: taylor's moved origins at
    # 5 and 7 days covered p95 0.91 and 0.95 already, 0.97 and 0.98 with it added
    spread = day_level_spread(item.history, zone) if contrast <= least_contrast else 0.0
    item.weekend = WeekendShift.of(item.history, zone, spread)
    item.history = item.weekend.removed(item.history)
    if contrast <= least_contrast:
        side = "below" if gap < 0 else "above"
        apart = f"weekend days run {abs(math.expm1(gap)):.0%} {side} the weekdays"
    elif math.isinf(contrast):  # weekdays at one level (a constant series, say)
        apart = "weekends stand apart from weekdays that hold one level"
    else:
        apart = f"weekends stand {contrast:.1f} weekday standard deviations apart"
    item.weekend_note = f"{apart}, and {why}"
    return True


def _unweighed_turn(item: _Series, horizon: int, clock: tzinfo | None) -> str | None:
    """The day the week turns on (back to weekdays, or into the weekend) that the forecast
    reaches and no backtest fold forecast, if any. Into the weekend too, found by a QA pass:
    two weeks of 1-minute office traffic to Friday 09:00 had folds from Sunday to Thursday,
    and the ensemble forecast Saturday's idle night as a weekday's, 1.1x the error of last
    week's same day."""
    assert item.folds is not None
    ahead = _ahead_seconds(item, horizon)
    for name, day in (("Monday", MONDAY), ("Saturday", SATURDAY)):
        seen = day_seconds(item.folds.seconds, item.step_seconds, clock, day)
        if not seen and day_seconds(ahead, item.step_seconds, clock, day):
            return name
    return None


def _blend_note(item: _Series, blend: str | None, why: str) -> str:
    """What the message says of the champion's partner (:func:`_blend_partner`): weekends
    moved are worth a word even when the champion is the partner itself, and then nothing was
    averaged (the message had said "averaged with seasonal_naive_daily" of that champion)."""
    if item.weekend is None:
        return why if blend else ""
    averaged = f", and averaged with {blend}" if blend else ""
    return f"weekends moved to the weekdays' level by time of day and back{averaged}: {why}"


def _weekend_partner(item: _Series) -> str:
    """The naive model a champion fitted with weekends moved is averaged with: last week's
    same day, or under a week of history yesterday's (its weekend moved too, so a Monday after
    a quiet Sunday repeats a weekday's level)."""
    index = item.history.index
    span = (index[-1] - index[0]).total_seconds() + item.step_seconds
    return WEEKLY_NAIVE if span >= WEEK_SECONDS else DAILY_NAIVE


def _unlearned_events(item: _Series, champion: str, horizon: int) -> str:
    """A note naming the declared events ahead that have no multiplier when the champion does
    not learn events (Prophet alone does): their windows were left out of its training, so
    its forecast there is an ordinary day's, and nothing had said so."""
    if champion in MODELS and getattr(MODELS[champion], "learns_events", False):
        return ""
    ahead = _ahead_seconds(item, horizon)
    first, last = (
        pd.Timestamp(ahead[0], unit="s", tz="UTC"),
        pd.Timestamp(ahead[-1], unit="s", tz="UTC"),
    )
    names = sorted(
        {
            e.name
            for e in item.calendar.events
            if e.multiplier is None and e.start <= last and e.end > first
        }
    )
    if not names:
        return ""
    return (
        f"events ahead without a multiplier ({listing(names)}) are forecast as ordinary "
        f"load: {champion} does not learn events (prophet does); declare their multiplier"
    )


def _ahead_seconds(item: _Series, horizon: int) -> np.ndarray:
    """The epoch seconds of the steps a forecast of ``horizon`` steps covers."""
    last = pd.Timestamp(item.history.index[-1]).timestamp()
    return last + item.step_seconds * np.arange(1, horizon + 1)


def _weekends_back(model: ForecastModel, item: _Series) -> ForecastModel:
    """``model``, fitted on the series' history, forecasting weekends where they were (as it
    is when :func:`_weekends_moved` left them alone)."""
    return model if item.weekend is None else WeekendShifted(model, item.weekend)


def _averaged(models: Sequence[ForecastModel], item: _Series, horizon: int) -> Ensemble:
    """The equal-weight average of fitted models, moving on together."""
    ensemble = Ensemble(models)
    ensemble.configure(calendar=item.calendar, horizon=horizon)
    ensemble._remember_grid(item.history)
    return ensemble


def _bands(item: _Series, candidate: CandidateBacktest) -> ConformalBands:
    """Conformal bands from the candidate's members refitted at every fold origin (see
    ``Refits.refitted_at``): their fold residuals and, rolled on from the same fits, their
    residuals at the dense short-horizon origins (an ensemble averages its members)."""
    assert item.folds is not None
    members = candidate.members or (candidate.model,)
    parts = [part for name in members if (part := _fresh_medians(name, item)) is not None]
    if len(parts) < len(members):  # a member with no fits to roll on
        return calibrate(item.folds, candidate)
    fresh = replace(candidate, predictions=np.mean([folds for folds, _ in parts], axis=0))
    dense = [medians for _, medians in parts if medians is not None]
    if item.dense is None or len(dense) < len(parts):
        return calibrate(item.folds, fresh)
    return calibrate(item.folds, fresh, (item.dense, np.mean(dense, axis=0)))


def _fresh_medians(name: str, item: _Series) -> tuple[np.ndarray, np.ndarray | None] | None:
    """One model's medians at the fold origins and at the dense origins (``None`` without
    dense origins), from fits at every fold origin; from the backtest's own fits where that
    fails. ``None`` when the model's backtest kept no fits."""
    backtest = item.backtests.get(name)
    if backtest is None or backtest.refits is None or backtest.predictions is None:
        return None
    assert item.folds is not None
    history, plan = _history_for(name, item), item.folds.plan
    refits, folds = backtest.refits.refitted_at(plan.origins), backtest.predictions
    try:
        if refits is not backtest.refits:  # else the backtest's own medians are fresh already
            folds = refits.rolled_medians(history, plan.origins, plan.horizon)
    except Exception as failure:  # noqa: BLE001 - keep the backtest's own fits
        log.warning("refitting %s at the fold origins failed: %s", name, failure)
        refits = backtest.refits
    if item.dense is None:
        return folds, None
    try:
        dense = refits.rolled_medians(history, item.dense.plan.origins, item.dense.plan.horizon)
    except Exception as failure:  # noqa: BLE001 - calibrate on the folds alone
        log.warning("dense calibration of %s failed: %s", name, failure)
        return folds, None
    return folds, dense


def _alternatives(
    item: _Series,
    horizon: int,
    quantiles: tuple[float, ...],
    champion: ForecastOutcome,
) -> dict[str, ForecastOutcome]:
    """Every successfully backtested candidate's own calibrated forecast."""
    others: dict[str, ForecastOutcome] = {}
    for candidate, scored in item.scored:
        if scored.status != "ok":
            continue
        if scored.model == champion.model:
            others[scored.model] = champion
            continue
        started = time.perf_counter()
        try:
            fitted, frame = _calibrated(item, candidate, horizon, quantiles)
        except Exception as failure:  # noqa: BLE001 - reported, not fatal
            log.warning("alternative %s failed: %s", scored.model, failure)
            continue
        others[scored.model] = ForecastOutcome(
            frame=frame,
            model=scored.model,
            fitted=fitted,
            fit_seconds=time.perf_counter() - started,
        )
    return others


def _fallback(
    item: _Series,
    horizon: int,
    quantiles: tuple[float, ...],
    reason: str,
    model: str,
    scores: list[Score] | None = None,
) -> ForecastOutcome:
    """Seasonal-naive with its own (wide on short histories) bands: the model of last resort."""
    fitted = _weekends_back(SeasonalNaiveDaily().fit(item.history), item)
    frame = fitted.predict(horizon, quantiles)
    named = model not in ("auto", ENSEMBLE, FALLBACK_MODEL) and not reason.startswith(f"{model}:")
    wanted = f"{model}: " if named else ""
    return ForecastOutcome(
        frame=frame,
        model=FALLBACK_MODEL,
        fitted=fitted,
        message=f"{wanted}{reason}; fell back to {FALLBACK_MODEL}",
        scores={"reason": reason},
        leaderboard=scores or [],
    )


def _describe(bands: ConformalBands) -> dict[str, Any]:
    """What the calibration learned, for the model run's ``calibration`` column."""
    return {
        "method": "conformal",
        "horizon_buckets": [int(edge) for edge in bands.edges],
        "residuals": int(sum(len(s) for s in bands.scores)),
        "by_time_of_day": bool(np.ptp(bands.spread) > 0),
        "unit": float(bands.unit),
        "p95_offset": [float(v) for v in bands.score_quantile(0.95) * bands.unit],
    }
