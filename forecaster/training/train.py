"""The train job for one service: history from SQL, forecast, champion run, plan, all stored;
and the 15-minute refresh that forecasts again from the stored champion without refitting.

Called by the scheduler, ``POST /v1/services/{name}/train`` and ``forecaster train``. What a
service's history is comes from :mod:`forecaster.training.service_data`, its plans from
:mod:`forecaster.training.replan`. The slow
part (fitting) runs outside any transaction; results are written in one transaction at the end,
so a failure leaves the previous champion, forecast and plan in force.
"""

from __future__ import annotations

import logging
import pickle
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import NamedTuple

import pandas as pd
from sqlalchemy.orm import Session

from forecaster.errors import CandidatesFailedError, ForecasterError, NotFoundError, quoted
from forecaster.idle_priority import run_at_idle_priority
from forecaster.leadership import check_leading
from forecaster.profiles import ScalingProfile
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.failures import DamagedValueError
from forecaster.storage.forecasts import (
    champion_run,
    latest_forecast,
    save_forecast,
    save_model_run,
)
from forecaster.storage.orm import ModelRun, Service
from forecaster.storage.plans import latest_plan
from forecaster.storage.services import damaged_service, get_service, profile_of
from forecaster.timeutil import as_utc
from forecaster.training.forecasting import (
    ForecastOutcome,
    SeriesFailure,
    forecast_each,
    refreshed,
)
from forecaster.training.replan import build_plan, planning_profile
from forecaster.training.service_data import (
    check_reaches_future,
    driving_series_id,
    find_driving_series_id,
    load_history,
    service_calendar,
)
from models.calendar import Calendar

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    service: str
    model: str
    run_id: int
    forecast_id: int
    plan_id: int
    message: str
    trained_on: str = ""

    def run_details(self) -> dict[str, object]:
        """What a job-run record keeps of this outcome: the model, the plan and, when there
        is one, the message saying why it fell back, refitted or kept the champion, and where
        it was trained when a Dask cluster was asked to (a worker, or why not)."""
        details: dict[str, object] = {"model": self.model, "plan_id": self.plan_id}
        if self.message:
            details["message"] = self.message
        if self.trained_on:
            details["trained_on"] = self.trained_on
        return details


class _Champion(NamedTuple):
    """A stored champion that may forecast again without a refit."""

    service: str
    series_id: int
    run_id: int
    model: str
    artifact: bytes


def _refit_reason(run: ModelRun | None, history: pd.Series, profile: ScalingProfile) -> str | None:
    """Why a refresh trains in full instead of forecasting from ``run``, the champion (None:
    it may forecast), in the words its job run records: a refit that said nothing looked
    like any other refresh."""
    if run is None:
        return "no champion yet: trained in full"
    if outgrown(run, history):
        return "the champion learnt from under a day of history, which has since doubled: refitted"
    return _cannot_forecast_again(run, profile)


def _cannot_forecast_again(run: ModelRun, profile: ScalingProfile) -> str | None:
    """Why ``run`` may not forecast again without a refit (None: it may): it must have kept
    its fitted model, at the step the profile plans at."""
    if run.step_seconds != profile.step_seconds:
        return (
            f"the champion forecasts {run.step_seconds}s steps and the profile plans "
            f"{profile.step_seconds}s: refitted"
        )
    if run.artifact is None:
        return "the champion kept no fitted model: refitted"
    return None


def _stored_champion(run: ModelRun, service: str, profile: ScalingProfile) -> _Champion | None:
    """``run`` as a champion that may forecast again without a refit; None otherwise
    (:func:`_cannot_forecast_again`)."""
    if _cannot_forecast_again(run, profile) is not None:
        return None
    assert run.artifact is not None  # or it could not forecast again
    return _Champion(service, run.series_id, run.id, run.model, run.artifact)


@dataclass(frozen=True)
class _Loaded:
    """What training one service needs, read in one short transaction."""

    service_id: int
    name: str
    created_at: datetime  # with the id and name, which service this is (:func:`_still_there`)
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
        return _Loaded(service.id, name, service.created_at, profile, history, calendar)


def _store(
    database: Database, loaded: _Loaded, outcome: ForecastOutcome | SeriesFailure
) -> TrainResult:
    """Runs, forecast and plan of one service, written in one transaction; when every
    candidate failed with an error, the stored champion is kept if it still forecasts."""
    if isinstance(outcome, SeriesFailure):  # not even the fallback could forecast it
        _keep_working_champion(database, loaded, [outcome.message])
        raise CandidatesFailedError(
            f"{outcome.message}; no stored champion forecasts, so nothing was stored"
        )
    if outcome.errors:
        _keep_working_champion(database, loaded, outcome.errors)
    with database.session() as session:
        # held until the plan is stored: a profile PUT meanwhile waits and re-plans from this
        # forecast, or commits first and this plan reads its profile (planning_profile)
        service = _still_there(session, loaded, for_update=True)
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
            trained_on=outcome.trained_on,
        )


def _still_there(session: Session, loaded: _Loaded, *, for_update: bool = False) -> Service:
    """The service trained, unless it was deleted while its models fitted: then NotFoundError,
    its own failure, and nothing stored. Its id alone misled: the whole nightly pass stopped
    on the missing row, and on SQLite a service created meanwhile took the deleted one's id
    and was given its runs, forecast and plan (review); with its name too, so did one created
    anew under the same name (QA), which its creation time tells apart."""
    service = session.get(Service, loaded.service_id, with_for_update=for_update)
    if service is None or (service.name, service.created_at) != (loaded.name, loaded.created_at):
        raise NotFoundError(
            f"service {quoted(loaded.name)} was deleted while it trained; nothing was stored"
        )
    return service


def _keep_working_champion(database: Database, loaded: _Loaded, errors: Sequence[str]) -> None:
    """Refresh the stored champion's forecast and plan from the new history, then raise
    CandidatesFailedError naming the errors: a failed training (every candidate broken, say
    by a library upgrade) leaves the last good model and plan in force. Returns, and the
    seasonal-naive fallback replaces it, when there is none or it no longer loads or forecasts.
    """
    profile = loaded.profile
    with database.session() as session:
        service = _still_there(session, loaded)
        series_id = find_driving_series_id(session=session, service=service, profile=profile)
        run = None if series_id is None else champion_run(session=session, series_id=series_id)
        champion = None if run is None else _stored_champion(run, loaded.name, profile)
    if champion is None:
        return
    try:
        frame, _ = run_at_idle_priority(
            _champion_forecast, champion.artifact, loaded.calendar, loaded.history, profile
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
    (outcome,) = run_at_idle_priority(
        forecast_each,
        [loaded.history],
        loaded.profile.horizon_steps,
        model=model,
        quantiles=loaded.profile.forecast_quantiles,
        calendars=[loaded.calendar],
    )
    # a scheduled refresh's fallback whose term ended during the fit stores nothing: the new
    # term's refresh has the service (a no-op on demand, where no term applies)
    check_leading(0, 1, finishing=True)
    return _store(database, loaded, outcome)


def train_services(
    database: Database,
    names: Sequence[str],
    settings: Settings,
    *,
    results: dict[str, TrainResult | ForecasterError] | None = None,
    stored: Callable[[], None] | None = None,
) -> dict[str, TrainResult | ForecasterError]:
    """Train many services together: those sharing a step and horizon are backtested side by
    side with one global LightGBM learning from all of them (faster and, on traffic, more
    accurate than one model each). A service that cannot train is reported, not fatal; a
    scheduled training whose process lost the leader lock stops before storing the next one,
    and one shutting down starts no more fits but stores those made while the lock holds.
    ``results``, when given, is filled as each service is done, so a caller still knows which
    were when the pass stops; ``stored`` is called after each stored service (to record it)."""
    results = {} if results is None else results
    groups: dict[tuple[int, int, tuple[float, ...]], list[_Loaded]] = {}
    for name in names:
        try:
            loaded = _load(database, name, settings)
        except ForecasterError as error:
            results[name] = error
            continue
        except DamagedValueError as error:  # its row changed by hand: the others still train
            results[name] = damaged_service(name, error)
            continue
        profile = loaded.profile
        key = (profile.step_seconds, profile.horizon_steps, profile.forecast_quantiles)
        groups.setdefault(key, []).append(loaded)
    for (_step, horizon, quantiles), group in groups.items():
        check_leading(len(results), len(names))  # a shutdown starts no more fits
        outcomes = run_at_idle_priority(
            forecast_each,
            [loaded.history for loaded in group],
            horizon,
            quantiles=quantiles,
            calendars=[loaded.calendar for loaded in group],
            workers=settings.training_processes,
            cluster=settings.dask_scheduler,
        )
        for loaded, outcome in zip(group, outcomes, strict=True):
            # fits made are stored through a shutdown's grace, while the lock holds (a
            # SIGTERM during the fits had thrown all of them away, for the resume to redo)
            check_leading(len(results), len(names), finishing=True)
            try:
                results[loaded.name] = _store(database, loaded, outcome)
            except ForecasterError as error:  # e.g. a non-finite forecast: the rest still store
                results[loaded.name] = error
            except DamagedValueError as error:  # e.g. its plan in force, changed by hand
                results[loaded.name] = damaged_service(loaded.name, error)
            if stored is not None:
                stored()
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
        refit_because = _refit_reason(run, history, profile)
        champion = None if run is None or refit_because else _stored_champion(run, name, profile)
        calendar = service_calendar(session=session, service=service, profile=profile)
    if champion is None:
        trained = train_service(database, name, settings)
        return replace(trained, message="; ".join(filter(None, [refit_because, trained.message])))
    try:
        frame, note = run_at_idle_priority(
            _champion_forecast, champion.artifact, calendar, history, profile
        )
    except Exception as error:  # noqa: BLE001 - whatever broke the champion, a refit replaces it
        reason = (
            f"champion run {champion.run_id} ({champion.model}) could not forecast "
            f"({type(error).__name__}: {error}); refitted"
        )
        log.warning("service %s: %s", name, reason)
        refitted = train_service(database, name, settings)
        return replace(refitted, message="; ".join(filter(None, [reason, refitted.message])))
    check_leading(0, 1, finishing=True)  # as train_service: not a term late, over a newer one
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


def _champion_forecast(
    artifact: bytes, calendar: Calendar, history: pd.Series, profile: ScalingProfile
) -> tuple[pd.DataFrame, str]:
    """A stored champion's forecast from a newer history, without refitting it, and a note
    when a trailing outage was read as missing or a recent rise levelled (the history read as
    training reads it, :func:`~forecaster.training.forecasting.refreshed`: the 15-min refresh is
    what runs during an outage)."""
    model, note = refreshed(pickle.loads(artifact), history, calendar, profile.horizon_steps)
    frame: pd.DataFrame = model.predict(profile.horizon_steps, profile.forecast_quantiles)
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
    """Store a champion's refreshed forecast (:func:`_champion_forecast`) and plan it, unless
    a training replaced the champion meanwhile (:func:`_replaced`)."""
    with database.session() as session:
        service = get_service(session=session, name=champion.service, for_update=True)  # as _store
        forecast = save_forecast(
            session=session,
            run_id=champion.run_id,
            series_id=champion.series_id,
            step_seconds=profile.step_seconds,
            frame=frame,
            risk_quantile=profile.risk_quantile,
        )
        # checked after the first write: on SQLite the transaction, and its hold on the
        # database, begins there; on PostgreSQL the lock above holds a training's store back
        current = champion_run(session=session, series_id=champion.series_id)
        if current is None:  # its series went with it
            raise _deleted_while_refreshed(champion.service)
        if current.id != champion.run_id:
            # read before the rollback expires them (a row deleted since could not be read)
            service_id, replacing = service.id, (current.id, current.model)
            session.rollback()  # the forecast just written goes; the training's stands
            return _replaced(session, champion, replacing, service_id=service_id)
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


def _deleted_while_refreshed(name: str) -> NotFoundError:
    return NotFoundError(
        f"service {quoted(name)} was deleted while its forecast was refreshed; nothing was stored"
    )


def _replaced(
    session: Session, champion: _Champion, replacing: tuple[int, str], *, service_id: int
) -> TrainResult:
    """The outcome of a refresh whose champion a training (run id, model) replaced while it
    forecast: nothing stored, the training's forecast and plan in force. Stored, the refresh's
    plan (from the old champion) replaced the training's until the next refresh (QA)."""
    run_id, model = replacing
    forecast = latest_forecast(session=session, series_id=champion.series_id)
    plan = latest_plan(session=session, service_id=service_id)
    if forecast is None or plan is None:  # stored with that training: gone with the service
        raise _deleted_while_refreshed(champion.service)
    message = (
        f"champion run {champion.run_id} was replaced by run {run_id} ({model}) "
        "while it forecast; that training's forecast and plan stay, nothing was refreshed"
    )
    log.info("service %s: %s", champion.service, message)
    return TrainResult(
        service=champion.service,
        model=model,
        run_id=run_id,
        forecast_id=forecast.id,
        plan_id=plan.id,
        message=message,
    )
