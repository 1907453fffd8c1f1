"""The train job for one service: history from SQL, forecast, champion run, plan, all stored.

Called by the scheduler, ``POST /v1/services/{name}/train`` and ``forecaster train``. The slow
part (fitting) runs outside any transaction; results are written in one transaction at the end,
so a failure leaves the previous champion, forecast and plan in force.
"""

from __future__ import annotations

import logging
import pickle
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import NamedTuple

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from forecaster.errors import CandidatesFailedError, ForecasterError, NotReadyError, quoted
from forecaster.idle_priority import run_at_idle_priority
from forecaster.labels import AGGREGATE_LABELS, AGGREGATE_LABELS_KEY
from forecaster.leadership import check_leading
from forecaster.planning.planner import plan_capacity, plan_cost
from forecaster.planning.reactive import CHECK_DAYS, check_floor
from forecaster.profiles import ScalingProfile
from forecaster.settings import Settings
from forecaster.storage.calendar import list_events
from forecaster.storage.db import Database
from forecaster.storage.forecasts import (
    champion_run,
    forecast_frame,
    latest_forecast,
    latest_training_runs,
    quantile_series,
    save_forecast,
    save_model_run,
)
from forecaster.storage.orm import Exclusion, Forecast, ModelRun, Plan, Series, Service
from forecaster.storage.plans import latest_plan, save_plan
from forecaster.storage.samples import (
    ensure_series,
    latest_metric_ms,
    read_samples,
)
from forecaster.storage.services import get_service, profile_of
from forecaster.timeutil import as_utc, utc_now
from forecaster.training.forecasting import ForecastOutcome, forecast_many, make_forecast
from forecaster.training.history import (
    exclude_windows,
    regularise,
    without_outages,
)
from models.calendar import Calendar, EventWindow
from models.conformal import Calibrated

EPOCH = pd.Timestamp(0, tz="UTC")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    service: str
    model: str
    run_id: int
    forecast_id: int
    plan_id: int
    message: str

    def run_details(self) -> dict[str, object]:
        """What a job-run record keeps of this outcome: the model, the plan and, when there
        is one, the message saying why it fell back, refitted or kept the champion."""
        details: dict[str, object] = {"model": self.model, "plan_id": self.plan_id}
        if self.message:
            details["message"] = self.message
        return details


class _Champion(NamedTuple):
    """A stored champion that may forecast again without a refit."""

    service: str
    series_id: int
    run_id: int
    model: str
    artifact: bytes


def _stored_champion(run: ModelRun, service: str, profile: ScalingProfile) -> _Champion | None:
    """``run`` as a champion that may forecast again without a refit: it kept its fitted
    model, at the step the profile plans at. None otherwise."""
    if run.artifact is None or run.step_seconds != profile.step_seconds:
        return None
    return _Champion(service, run.series_id, run.id, run.model, run.artifact)


def driving_series_id(*, session: Session, service: Service, profile: ScalingProfile) -> int:
    """The series that holds the service's runs and forecasts, created if need be (training).

    With one label set it is that series; with several, a derived series (labels ``{"*": "sum"}``)
    stands for their sum.
    """
    found = find_driving_series_id(session=session, service=service, profile=profile)
    if found is not None:
        return found
    keys = [(service.id, profile.metric, AGGREGATE_LABELS, None)]
    return next(iter(ensure_series(session=session, keys=keys).values()))


def find_driving_series_id(
    *, session: Session, service: Service, profile: ScalingProfile
) -> int | None:
    """:func:`driving_series_id` without writing, for reads: None when it would be a summed
    series not made yet (then nothing was trained on it, so there is nothing to show)."""
    rows = session.execute(
        select(Series.id, Series.labels_key).where(
            Series.service_id == service.id, Series.metric == profile.metric
        )
    ).all()
    ids = [row.id for row in rows if row.labels_key != AGGREGATE_LABELS_KEY]
    if len(ids) == 1:
        return int(ids[0])
    return next((int(row.id) for row in rows if row.labels_key == AGGREGATE_LABELS_KEY), None)


def driving_forecast_or_not_ready(
    *, session: Session, service: Service, profile: ScalingProfile
) -> Forecast:
    """The newest forecast of the driving metric, for what cannot go on without one (the
    forecast route, re-planning); NotReadyError (API 409) when nothing was trained on it yet."""
    series_id = find_driving_series_id(session=session, service=service, profile=profile)
    forecast = None if series_id is None else latest_forecast(session=session, series_id=series_id)
    if forecast is None:
        raise NotReadyError(
            f"service {quoted(service.name)} has no forecast of {quoted(profile.metric)} yet; "
            "train it first"
        )
    return forecast


def driving_training_runs(
    *, session: Session, service: Service, profile: ScalingProfile
) -> tuple[int | None, list[ModelRun]]:
    """The driving series and the runs of its latest training, champion first (leaderboards);
    ``(None, [])`` while it does not exist (nothing trained: an empty board, not an error)."""
    series_id = find_driving_series_id(session=session, service=service, profile=profile)
    if series_id is None:
        return None, []
    return series_id, latest_training_runs(session=session, series_id=series_id)


def load_history(
    *, session: Session, service: Service, profile: ScalingProfile, days: float
) -> pd.Series:
    """The driving metric, summed over label sets, on the profile's step, exclusions blanked."""
    series_ids = list(
        session.execute(
            select(Series.id).where(
                Series.service_id == service.id,
                Series.metric == profile.metric,
                Series.labels_key != AGGREGATE_LABELS_KEY,
            )
        ).scalars()
    )
    if not series_ids:
        raise NotReadyError(f"service {quoted(service.name)} has no {profile.metric} samples yet")
    start = utc_now() - pd.Timedelta(days=days)
    samples = read_samples(session=session, series_ids=series_ids, start=start)
    if samples.empty:  # all older: say how old, so the fix (recent samples) is plain
        latest_ms = latest_metric_ms(session=session, service_id=service.id, metric=profile.metric)
        latest = "" if latest_ms is None else f"; its latest is from {_iso_ms(latest_ms)}"
        raise NotReadyError(
            f"service {quoted(service.name)} has no {profile.metric} samples in the last "
            f"{days:g} days{latest}; send recent samples"
        )
    per_series = [
        regularise(group.set_index("ts")["value"], profile.step_seconds, anchor=EPOCH)
        for _, group in samples.groupby("series_id")
    ]
    history = pd.concat(per_series, axis=1).sum(axis=1, min_count=1)
    history.index.freq = per_series[0].index.freq
    windows = session.execute(
        select(Exclusion.start, Exclusion.end).where(Exclusion.service_id == service.id)
    ).all()
    history = exclude_windows(history, [(row.start, row.end) for row in windows])
    if history.notna().sum() == 0:
        raise NotReadyError(
            f"service {quoted(service.name)}: every {profile.metric} sample of the last "
            f"{days:g} days lies in an exclusion window; delete or shorten an exclusion to train"
        )
    return history


def _iso_ms(epoch_ms: int) -> str:
    """An epoch-millisecond instant as ISO-8601 UTC text, for messages."""
    return pd.Timestamp(epoch_ms, unit="ms", tz="UTC").isoformat()


def history_reach(last_step: pd.Timestamp, profile: ScalingProfile) -> tuple[datetime, datetime]:
    """When a history whose last step starts at ``last_step`` ends, and how far a forecast
    from it reaches (its ``horizon_steps`` steps follow the last one)."""
    step = pd.Timedelta(seconds=profile.step_seconds)
    end = pd.Timestamp(last_step) + step
    return end.to_pydatetime(), (end + profile.horizon_steps * step).to_pydatetime()


def past_history_message(*, name: str, profile: ScalingProfile, last_step: pd.Timestamp) -> str:
    """Why a forecast from this history would be no use: it ends before now. Shared by the
    train refusal and the plan route's note, so both say it in the same words."""
    end, reach = history_reach(last_step, profile)
    return (
        f"the {profile.metric} history of {quoted(name)} ends at {end.isoformat()}: a "
        f"{profile.horizon_hours:g}h forecast from there reaches only {reach.isoformat()}, "
        "already past; send recent samples, then train again"
    )


def check_reaches_future(*, name: str, profile: ScalingProfile, history: pd.Series) -> None:
    """NotReadyError when a forecast from ``history`` would end before now: storing it would
    replace the plan in force with one that has no step from now on."""
    if history_reach(history.index[-1], profile)[1] <= utc_now():
        raise NotReadyError(
            past_history_message(name=name, profile=profile, last_step=history.index[-1])
        )


def stale_plan_note(database: Database, name: str, ends_at: datetime) -> str:
    """Why the plan in force ended before now, for the plan route (in its own session)."""
    with database.session() as session:
        service = get_service(session=session, name=name)
        return why_plan_ended(session=session, service=service, ends_at=ends_at)


def why_plan_ended(*, session: Session, service: Service, ends_at: datetime) -> str:
    """Why a plan ended before now: the history too old to forecast from, no samples at all,
    or a recent history no job has planned from yet. The one wording of the plan route's
    ``note`` and the dashboard's, so a person reads the same reason in both."""
    name = service.name
    profile = profile_of(service)
    latest_ms = latest_metric_ms(session=session, service_id=service.id, metric=profile.metric)
    note = f"this plan ended at {as_utc(ends_at).isoformat()}; "
    if latest_ms is None:
        return note + f"{quoted(name)} has no {profile.metric} samples: send samples, then train"
    step_ms = profile.step_seconds * 1000
    last_step = pd.Timestamp(latest_ms // step_ms * step_ms, unit="ms", tz="UTC")
    end, reach = history_reach(last_step, profile)
    if reach <= utc_now():
        return note + past_history_message(name=name, profile=profile, last_step=last_step)
    return note + (
        f"the {profile.metric} history reaches {end.isoformat()}: the next forecast job "
        "(or a train) makes a new plan"
    )


def service_calendar(*, session: Session, service: Service, profile: ScalingProfile) -> Calendar:
    """The holidays (profile's ``holiday_country``) and declared events models may use."""
    events = tuple(
        EventWindow(
            name=event.name,
            start=pd.Timestamp(event.start),
            end=pd.Timestamp(event.end),
            multiplier=event.multiplier,
        )
        for event in list_events(session=session, service_id=service.id)
    )
    return Calendar(holiday_country=profile.holiday_country, events=events)


@dataclass(frozen=True)
class _Loaded:
    """What training one service needs, read in one short transaction."""

    service_id: int
    name: str
    profile: ScalingProfile
    history: pd.Series
    calendar: Calendar


def _load(database: Database, name: str, settings: Settings) -> _Loaded:
    with database.session() as session:
        service = get_service(session=session, name=name)
        profile = profile_of(service)
        history = load_history(
            session=session, service=service, profile=profile, days=settings.training_days
        )
        check_reaches_future(name=name, profile=profile, history=history)
        calendar = service_calendar(session=session, service=service, profile=profile)
        return _Loaded(service.id, name, profile, history, calendar)


def _store(database: Database, loaded: _Loaded, outcome: ForecastOutcome) -> TrainResult:
    """Runs, forecast and plan of one service, written in one transaction; when every
    candidate failed with an error, the stored champion is kept if it still forecasts."""
    if outcome.errors:
        _keep_working_champion(database, loaded, outcome.errors)
    with database.session() as session:
        service = session.get_one(Service, loaded.service_id)
        profile = loaded.profile
        series_id = driving_series_id(session=session, service=service, profile=profile)
        run = save_outcome_runs(
            session=session,
            series_id=series_id,
            step_seconds=profile.step_seconds,
            history=loaded.history,
            outcome=outcome,
        )
        forecast = save_forecast(
            session=session,
            run_id=run.id,
            series_id=series_id,
            step_seconds=profile.step_seconds,
            frame=outcome.frame,
            risk_quantile=profile.risk_quantile,
        )
        plan = build_plan(
            session=session,
            service=service,
            profile=planning_profile(service=service, made_for=profile),
            forecast_id=forecast.id,
            history=loaded.history,
        )
        return TrainResult(
            service=loaded.name,
            model=outcome.model,
            run_id=run.id,
            forecast_id=forecast.id,
            plan_id=plan.id,
            message=outcome.message,
        )


def _keep_working_champion(database: Database, loaded: _Loaded, errors: Sequence[str]) -> None:
    """Refresh the stored champion's forecast and plan from the new history, then raise
    CandidatesFailedError naming the errors: a failed training (every candidate broken, say
    by a library upgrade) leaves the last good model and plan in force. Returns, and the
    seasonal-naive fallback replaces it, when there is none or it no longer loads or forecasts.
    """
    profile = loaded.profile
    with database.session() as session:
        service = session.get_one(Service, loaded.service_id)
        series_id = find_driving_series_id(session=session, service=service, profile=profile)
        run = None if series_id is None else champion_run(session=session, series_id=series_id)
        champion = None if run is None else _stored_champion(run, loaded.name, profile)
    if champion is None:
        return
    try:
        frame, _ = run_at_idle_priority(
            _refreshed, champion.artifact, loaded.calendar, loaded.history, profile
        )
    except Exception as error:  # noqa: BLE001 - an unusable champion makes way for the fallback
        log.warning(
            "service %s: champion run %d is unusable too: %s", loaded.name, champion.run_id, error
        )
        return
    kept = _store_refreshed(database, champion, profile, frame, loaded.history, message="")
    raise CandidatesFailedError(
        f"every candidate model failed ({'; '.join(errors)}); champion run {kept.run_id} "
        f"({kept.model}) kept, its forecast and plan refreshed (plan {kept.plan_id})"
    )


def train_service(
    database: Database, name: str, settings: Settings, *, model: str = "auto"
) -> TrainResult:
    """Backtest, select, fit, forecast and plan one service; store the outcome atomically.

    Every candidate is stored as a model run of this training (the leaderboard); the champion
    carries the fitted, calibrated model. Nothing is written if anything fails before the end.
    """
    loaded = _load(database, name, settings)
    outcome = run_at_idle_priority(
        make_forecast,
        loaded.history,
        loaded.profile.horizon_steps,
        model=model,
        quantiles=loaded.profile.forecast_quantiles,
        calendar=loaded.calendar,
    )
    return _store(database, loaded, outcome)


def train_services(
    database: Database, names: Sequence[str], settings: Settings
) -> dict[str, TrainResult | ForecasterError]:
    """Train many services together: those sharing a step and horizon are backtested side by
    side with one global LightGBM learning from all of them (faster and, on traffic, more
    accurate than one model each). A service that cannot train is reported, not fatal; a
    scheduled training whose process lost the leader lock stops before storing the next one."""
    results: dict[str, TrainResult | ForecasterError] = {}
    groups: dict[tuple[int, int, tuple[float, ...]], list[_Loaded]] = {}
    for name in names:
        try:
            loaded = _load(database, name, settings)
        except ForecasterError as error:
            results[name] = error
            continue
        profile = loaded.profile
        key = (profile.step_seconds, profile.horizon_steps, profile.forecast_quantiles)
        groups.setdefault(key, []).append(loaded)
    for (_step, horizon, quantiles), group in groups.items():
        outcomes = run_at_idle_priority(
            forecast_many,
            [loaded.history for loaded in group],
            horizon,
            quantiles=quantiles,
            calendars=[loaded.calendar for loaded in group],
            workers=settings.training_processes,
        )
        for loaded, outcome in zip(group, outcomes, strict=True):
            check_leading(len(results), len(names))
            try:
                results[loaded.name] = _store(database, loaded, outcome)
            except ForecasterError as error:  # e.g. a non-finite forecast: the rest still store
                results[loaded.name] = error
    return {name: results[name] for name in names}


def save_outcome_runs(
    *,
    session: Session,
    series_id: int,
    step_seconds: int,
    history: pd.Series,
    outcome: ForecastOutcome,
) -> ModelRun:
    """Store one run per backtested candidate plus the champion; returns the champion's run."""
    training = uuid.uuid4().hex
    window = {
        "train_start": history.index[0].to_pydatetime(),
        "train_end": history.index[-1].to_pydatetime(),
    }
    for row in outcome.leaderboard:
        if row.champion:
            continue
        save_model_run(
            session=session,
            series_id=series_id,
            model=row.model,
            step_seconds=step_seconds,
            status=row.status,
            params={"training": training},
            scores=row.as_dict(),
            message=row.message,
            fit_seconds=row.fit_seconds,
            **window,
        )
    champion = next((row for row in outcome.leaderboard if row.champion), None)
    return save_model_run(
        session=session,
        series_id=series_id,
        model=outcome.model,
        step_seconds=step_seconds,
        status="fallback" if champion is None else "ok",
        params={"training": training},
        scores=champion.as_dict() if champion else outcome.scores,
        calibration=outcome.calibration,
        message=outcome.message or None,
        fit_seconds=champion.fit_seconds if champion else outcome.fit_seconds,
        artifact=pickle.dumps(outcome.fitted),
        champion=True,
        **window,
    )


def planning_profile(*, service: Service, made_for: ScalingProfile) -> ScalingProfile:
    """The profile a forecast just made is planned with: the service's profile as stored now.

    A profile changed while the forecast was being made (a training takes minutes) has been
    re-planned from the previous forecast already; planning with the profile read before the
    fit would undo that change until the next refresh. A change of metric or step, which
    this forecast cannot serve (a new plan needs a forecast of its own), keeps ``made_for``.
    """
    current = profile_of(service)
    if (current.metric, current.step_seconds) != (made_for.metric, made_for.step_seconds):
        return made_for
    return current


def build_plan(
    *,
    session: Session,
    service: Service,
    profile: ScalingProfile,
    forecast_id: int,
    history: pd.Series | None,
) -> Plan:
    """Plan capacity from a stored forecast and store the plan.

    ``history`` (the driving metric) lets a profile with ``reactive_tolerance_pct`` check
    whether its floor is needed at all (:func:`forecaster.planning.reactive.check_floor`).

    Plans are stored whatever the mode; ``summary.forecast_only`` records whether the service
    was in forecast-only mode when the plan was made (actuators must then leave it alone).
    """
    frame = forecast_frame(session=session, forecast_id=forecast_id)
    load = quantile_series(frame, profile.risk_quantile)
    plan = plan_capacity(load, profile, step_seconds=profile.step_seconds)
    if history is not None:
        plan = check_floor(plan, history, profile)
    hours = profile.step_seconds / 3600
    summary = {
        "steps": len(plan),
        "peak_replicas": int(plan["replicas"].max()),
        "peak_gpus": int(plan["gpus"].max()),
        "replica_hours": float(plan["replicas"].sum() * hours),
        "gpu_hours": float(plan["gpus"].sum() * hours),
        "forecast_only": profile.forecast_only,
        "tiers": [tier.name for tier in profile.tiers],
    }
    return save_plan(
        session=session,
        service_id=service.id,
        forecast_id=forecast_id,
        step_seconds=profile.step_seconds,
        quantile=profile.risk_quantile,
        frame=plan,
        total_cost=plan_cost(plan, profile.step_seconds),
        summary=summary,
    )


# a champion that learnt from less than this is refitted whenever the history has doubled
COLD_START_SPAN = pd.Timedelta(days=1)


def outgrown(run: ModelRun, history: pd.Series) -> bool:
    """Whether a cold-start champion should make way for a refit before the nightly training.

    A new service is trained from its first hour (naive, wide bands); refitting each time its
    history doubles (2 h, 4 h, ... 16 h) lets it climb the cold-start ladder the same day
    instead of waiting for the nightly job, at the cost of a handful of cheap short fits.
    """
    if run.train_start is None or run.train_end is None or history.empty:
        return False
    trained = pd.Timestamp(as_utc(run.train_end)) - pd.Timestamp(as_utc(run.train_start))
    if trained >= COLD_START_SPAN:
        return False
    step = pd.Timedelta(seconds=run.step_seconds)
    return history.index[-1] - history.index[0] >= 2 * max(trained, step)


def forecast_service(database: Database, name: str, settings: Settings) -> TrainResult:
    """Refresh the forecast and plan from the champion without refitting it (the 15-min job).

    Falls back to a full :func:`train_service` when the service has no champion yet, when its
    champion learnt from less than a day that has since doubled (:func:`outgrown`), or when the
    stored champion no longer loads or forecasts (a library upgrade can do that to a pickle):
    otherwise the job would fail until the nightly training while the plan in force ran out.
    The result's message then says why.
    """
    with database.session() as session:
        service = get_service(session=session, name=name)
        profile = profile_of(service)
        series_id = driving_series_id(session=session, service=service, profile=profile)
        run = champion_run(session=session, series_id=series_id)
        history = load_history(
            session=session, service=service, profile=profile, days=settings.training_days
        )
        check_reaches_future(name=name, profile=profile, history=history)
        if run is None or outgrown(run, history):  # none yet, or refitted once history grew
            champion = None
        else:
            champion = _stored_champion(run, name, profile)
        calendar = service_calendar(session=session, service=service, profile=profile)
    if champion is None:
        return train_service(database, name, settings)
    try:
        frame, note = run_at_idle_priority(
            _refreshed, champion.artifact, calendar, history, profile
        )
    except Exception as error:  # noqa: BLE001 - whatever broke the champion, a refit replaces it
        reason = (
            f"champion run {champion.run_id} ({champion.model}) could not forecast "
            f"({type(error).__name__}: {error}); refitted"
        )
        log.warning("service %s: %s", name, reason)
        refitted = train_service(database, name, settings)
        return replace(refitted, message="; ".join(filter(None, [reason, refitted.message])))
    return _store_refreshed(
        database,
        champion,
        profile,
        frame,
        history,
        message="; ".join(
            filter(None, [note, "forecast refreshed from the champion without refitting"])
        ),
    )


def _refreshed(
    artifact: bytes, calendar: Calendar, history: pd.Series, profile: ScalingProfile
) -> tuple[pd.DataFrame, str]:
    """A stored champion's forecast from a newer history, without refitting it, and a note
    when a trailing outage was read as missing (as training does, :func:`without_outages`: the
    15-min refresh is what runs during an outage)."""
    history, note = without_outages(history)
    model = pickle.loads(artifact)
    if isinstance(model, Calibrated):
        model.events = calendar.events  # events declared since training count too
    frame: pd.DataFrame = model.update(history).predict(
        profile.horizon_steps, profile.forecast_quantiles
    )
    return frame, note


def _store_refreshed(
    database: Database,
    champion: _Champion,
    profile: ScalingProfile,
    frame: pd.DataFrame,
    history: pd.Series,
    *,
    message: str,
) -> TrainResult:
    """Store a champion's refreshed forecast (:func:`_refreshed`) and plan it."""
    with database.session() as session:
        service = get_service(session=session, name=champion.service)
        forecast = save_forecast(
            session=session,
            run_id=champion.run_id,
            series_id=champion.series_id,
            step_seconds=profile.step_seconds,
            frame=frame,
            risk_quantile=profile.risk_quantile,
        )
        plan = build_plan(
            session=session,
            service=service,
            profile=planning_profile(service=service, made_for=profile),
            forecast_id=forecast.id,
            history=history,
        )
        return TrainResult(
            service=champion.service,
            model=champion.model,
            run_id=champion.run_id,
            forecast_id=forecast.id,
            plan_id=plan.id,
            message=message,
        )


def plan_service(database: Database, name: str) -> int:
    """Re-plan a service from its latest forecast (``forecaster plan --service``)."""
    with database.session() as session:
        service = get_service(session=session, name=name)
        return replan(session=session, service=service, profile=profile_of(service)).id


def replan(*, session: Session, service: Service, profile: ScalingProfile) -> Plan:
    """A new plan for ``profile`` from the latest forecast of its driving metric, so a profile
    change (capacity, bounds, risk) takes effect without waiting for the next forecast job.

    NotReadyError when no stored forecast fits the profile: none yet of its metric, or one on
    another step (a plan must follow the forecast's own steps).
    """
    forecast = driving_forecast_or_not_ready(session=session, service=service, profile=profile)
    if forecast.step_seconds != profile.step_seconds:
        raise NotReadyError(
            f"the latest forecast of {quoted(service.name)} is on {forecast.step_seconds}s steps "
            f"and the profile on {profile.step_seconds}s; train it first"
        )
    history = (
        None
        if profile.reactive_tolerance_pct is None
        else load_history(session=session, service=service, profile=profile, days=CHECK_DAYS)
    )
    return build_plan(
        session=session,
        service=service,
        profile=profile,
        forecast_id=forecast.id,
        history=history,
    )


def replan_or_why(
    *, session: Session, service: Service, profile: ScalingProfile
) -> tuple[int | None, str]:
    """Re-plan a changed profile at once (:func:`replan`), or say why not and what stays in
    force: the new plan's id, or None, and a sentence for the API answer or the CLI."""
    try:
        plan = replan(session=session, service=service, profile=profile)
    except NotReadyError as error:
        kept = latest_plan(session=session, service_id=service.id) is not None
        tail = "; the previous profile's plan stays in force until then" if kept else ""
        return None, f"not re-planned: {error}{tail}"
    return plan.id, "re-planned from the latest forecast"
