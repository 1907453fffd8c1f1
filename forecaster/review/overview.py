"""One summary per service for the dashboard's overview: load, forecast, plan, champion, health.

Everything a person needs to decide where to look first, including the warnings: no recent
data, a stale forecast or plan (with the plan route's note on why), recent load outside the
forecast band, a failed actuation. The service page (``detail.py``) shows the same summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy.orm import Session

from forecaster.actuators.window import disabled_note, too_old_note, too_old_reason
from forecaster.errors import NotReadyError
from forecaster.profiles import ScalingProfile
from forecaster.review.accuracy import BandCheck, recent_band_check
from forecaster.review.history import display_history, nullable
from forecaster.review.leaderboard import headline_scores
from forecaster.settings import Settings
from forecaster.storage.actuations import last_actuations, latest_pushes
from forecaster.storage.forecasts import champion_run, forecast_frame, latest_forecast
from forecaster.storage.jobs import FailedRun, latest_failures
from forecaster.storage.orm import Actuation, Forecast, Series, Service
from forecaster.storage.plans import latest_plan, plan_end, plan_glance
from forecaster.storage.samples import (
    latest_sample_ms_of,
    metric_series_ids,
)
from forecaster.storage.services import forecast_only, list_services, profile_of
from forecaster.timeutil import as_utc, from_epoch_ms
from forecaster.training.replan import why_plan_ended
from forecaster.training.selection import FAILED_IN_BACKTEST
from forecaster.training.service_data import newest_step_seconds, reading_series_id

SPARK_HOURS = 6  # the overview shows this much history and forecast around now
MIN_SILENCE_SECONDS = 900  # quieter than this (and 3 steps) is not yet "no new samples"
# the refresh runs every 15 minutes: a forecast older than this means it is not running (the
# threshold of deploy/prometheus-rules.yaml's ForecasterForecastStale)
OLD_FORECAST_SECONDS = 3600
# FORECASTER_ACTUATION_MAX_PLAN_AGE_HOURS's default: callers with settings pass theirs
DEFAULT_MAX_PLAN_AGE = Settings.model_fields["actuation_max_plan_age_hours"].default * 3600
# how a warning names a job whose last run failed, and what stays in force meanwhile
FAILED_JOBS = {
    "train": ("training", "the champion and plan before it stay in force"),
    "forecast": ("forecast refresh", "the plan in force runs on until it ends"),
}
# what /v1/plans/metrics tells of too: a push that fails at every pass (the page and status
# name those from the actuation records), so an alert can be had on it
ALERTED_JOBS = (*FAILED_JOBS, "actuate")


@dataclass(frozen=True)
class ChampionInfo:
    run_id: int
    model: str
    status: str
    scores: dict[str, float]
    fit_seconds: float | None
    trained_at: datetime
    message: str | None


@dataclass(frozen=True)
class PlanNow:
    """The plan row in force now (or the next one, before a plan starts) and the peak ahead."""

    plan_id: int
    generated_at: datetime
    ends_at: datetime | None
    stale: bool  # ran out, too old to push or disabled: the actuators restored their baselines
    ran_out: bool
    since: datetime | None
    replicas: int | None
    gpus: int | None
    tier: str | None
    peak_replicas: int | None
    peak_gpus: int | None
    note: str | None  # when stale: why, in the plan route's words


@dataclass(frozen=True)
class Sparkline:
    """Recent actual load and the coming forecast, for a small chart."""

    actual_ts: list[datetime] = field(default_factory=list)
    actual: list[float | None] = field(default_factory=list)
    forecast_ts: list[datetime] = field(default_factory=list)
    p50: list[float | None] = field(default_factory=list)
    p95: list[float | None] = field(default_factory=list)


@dataclass(frozen=True)
class ServiceSummary:
    name: str
    enabled: bool
    forecast_only: bool
    targets: list[str]
    metric: str
    unit: str | None
    current_load: float | None
    last_sample_at: datetime | None
    sample_spacing_seconds: float | None  # how often rows come (daily rows: 86,400)
    champion: ChampionInfo | None
    forecast_id: int | None
    forecast_created_at: datetime | None
    forecast_stale: bool
    plan: PlanNow | None
    sparkline: Sparkline
    last_actuation: Actuation | None
    band: BandCheck | None
    warnings: list[str]


def summarize_services(
    *, session: Session, now: datetime, max_plan_age_seconds: float = DEFAULT_MAX_PLAN_AGE
) -> list[ServiceSummary]:
    """A summary of every service, by name; ``max_plan_age_seconds``: the actuators' limit
    (``FORECASTER_ACTUATION_MAX_PLAN_AGE_HOURS``), past which a plan is stale."""
    services = list_services(session=session)
    actuations = last_actuations(session=session, service_ids=[s.id for s in services])
    failures = failed_jobs(session=session, now=now)
    summaries = []
    for service in services:
        try:
            profile_of(service)
        except NotReadyError as error:  # one such service must not hide every other
            summaries.append(unreadable_summary(service, str(error)))
            continue
        summaries.append(
            summarize_service(
                session=session,
                service=service,
                now=now,
                last_actuation=actuations.get(service.id),
                failures=failures.get(service.name, []),
                max_plan_age_seconds=max_plan_age_seconds,
            )
        )
    return summaries


def unreadable_summary(service: Service, problem: str) -> ServiceSummary:
    """A service whose stored profile no longer validates, as far as its stored document says:
    nothing is trained, planned or pushed for it until a corrected profile is PUT."""
    raw = service.profile
    return ServiceSummary(
        name=service.name,
        enabled=service.enabled,
        forecast_only=forecast_only(service),
        targets=[str(t.get("name") or t.get("kind")) for t in raw.get("targets") or []],
        metric=str(raw.get("metric") or ""),
        unit=None,
        current_load=None,
        last_sample_at=None,
        sample_spacing_seconds=None,
        champion=None,
        forecast_id=None,
        forecast_created_at=None,
        forecast_stale=True,
        plan=None,
        sparkline=Sparkline(),
        last_actuation=None,
        band=None,
        warnings=[problem],
    )


def summarize_service(
    *,
    session: Session,
    service: Service,
    now: datetime,
    last_actuation: Actuation | None,
    failures: Sequence[FailedRun] = (),
    max_plan_age_seconds: float = DEFAULT_MAX_PLAN_AGE,
) -> ServiceSummary:
    """Where one service stands now; ``failures``: its jobs whose latest run failed."""
    profile = profile_of(service)
    series_id = reading_series_id(session=session, service=service, profile=profile)
    actual_ids = metric_series_ids(session=session, service_id=service.id, metric=profile.metric)
    last_ms = latest_sample_ms_of(session=session, series_ids=actual_ids)
    last_sample = from_epoch_ms([last_ms])[0].to_pydatetime() if last_ms is not None else None
    window = timedelta(hours=SPARK_HOURS)
    recent = display_history(
        session=session,
        series_ids=actual_ids,
        start=now - window,
        end=now,
        bucket_seconds=profile.step_seconds,
        live=True,
    )
    current = next((value for value in reversed(recent.mean) if value is not None), None)

    run = None if series_id is None else champion_run(session=session, series_id=series_id)
    champion = None
    if run is not None:
        champion = ChampionInfo(
            run_id=run.id,
            model=run.model,
            status=run.status,
            scores=headline_scores(run),
            fit_seconds=run.fit_seconds,
            trained_at=run.created_at,
            message=run.message,
        )

    forecast = None if series_id is None else latest_forecast(session=session, series_id=series_id)
    sparkline = Sparkline(actual_ts=recent.ts, actual=recent.mean)
    forecast_stale = True
    if forecast is not None:
        step = pd.Timedelta(seconds=forecast.step_seconds)
        # the steps still running at now and those starting within the window: none still
        # running means the forecast ran out
        ahead = forecast_frame(
            session=session, forecast_id=forecast.id, after=now - step, before=now + window
        )
        forecast_stale = ahead.empty
        sparkline = Sparkline(
            actual_ts=recent.ts,
            actual=recent.mean,
            forecast_ts=list(ahead.index.to_pydatetime()),
            p50=nullable(ahead["p50"]),
            p95=nullable(ahead["p95"]),
        )

    band = None
    if last_sample is not None and series_id is not None:
        band = recent_band_check(
            session=session,
            series_id=series_id,
            series_ids=actual_ids,
            last_sample=last_sample,
            step_seconds=profile.step_seconds,
        )
    plan = plan_now(
        session=session,
        service=service,
        now=now,
        window=window,
        max_age_seconds=max_plan_age_seconds,
    )
    summary = ServiceSummary(
        name=service.name,
        enabled=service.enabled,
        forecast_only=profile.forecast_only,
        targets=[target.name or target.kind for target in profile.targets],
        metric=profile.metric,
        unit=session.get_one(Series, actual_ids[0]).unit if actual_ids else None,
        current_load=current,
        last_sample_at=last_sample,
        sample_spacing_seconds=_rows_spacing(session, actual_ids),
        champion=champion,
        forecast_id=forecast.id if forecast else None,
        forecast_created_at=forecast.created_at if forecast else None,
        forecast_stale=forecast_stale,
        plan=plan,
        sparkline=sparkline,
        last_actuation=last_actuation,
        band=band,
        warnings=[],
    )
    pushes = latest_pushes(
        session=session,
        service_id=service.id,
        targets=len(profile.targets) + len(service.retired_targets),
    )
    summary.warnings.extend(
        warnings_for(summary, profile=profile, now=now, failures=failures, pushes=pushes)
    )
    return summary


def _rows_spacing(session: Session, series_ids: list[int]) -> float | None:
    """How often the metric's rows come (its first label set's newest dozen), as training
    reads a step (:func:`infer_step_seconds`); ``None`` with fewer than two rows."""
    return newest_step_seconds(session=session, series_id=series_ids[0]) if series_ids else None


def plan_now(
    *,
    session: Session,
    service: Service,
    now: datetime,
    window: timedelta,
    max_age_seconds: float = DEFAULT_MAX_PLAN_AGE,
) -> PlanNow | None:
    """The newest plan's row in force at ``now``, its peak over the next ``window``, and why
    it is stale when it is: the service is disabled, the plan ran out, or it is too old to
    push (as the actuators and the plan route judge it: nothing holds such a floor)."""
    plan = latest_plan(session=session, service_id=service.id)
    if plan is None:
        return None
    glance = plan_glance(
        session=session,
        plan_id=plan.id,
        now=now,
        step=timedelta(seconds=plan.step_seconds),
        window=window,
    )
    in_force = glance.in_force
    ends_at = plan_end(session=session, plan_id=plan.id)
    ran_out = ends_at is None or ends_at <= now
    forecast = session.get(Forecast, plan.forecast_id) if plan.forecast_id is not None else None
    too_old = too_old_reason(
        plan_id=plan.id,
        generated_at=as_utc(plan.generated_at),
        data_until=as_utc(forecast.origin) if forecast is not None else None,
        now=now,
        max_age_seconds=max_age_seconds,
    )
    note = None
    if not service.enabled:
        note = disabled_note(service.name)
    elif ran_out:  # a plan without steps covers nothing after it was made
        ended = plan.generated_at if ends_at is None else ends_at
        note = why_plan_ended(session=session, service=service, ends_at=ended)
    elif too_old is not None:
        note = too_old_note(too_old)
    return PlanNow(
        plan_id=plan.id,
        generated_at=plan.generated_at,
        ends_at=ends_at,
        stale=ran_out or too_old is not None or not service.enabled,
        ran_out=ran_out,
        since=in_force.ts if in_force else None,
        replicas=in_force.replicas if in_force else None,
        gpus=in_force.gpus if in_force else None,
        tier=in_force.tier if in_force else None,
        peak_replicas=glance.peak_replicas,
        peak_gpus=glance.peak_gpus,
        note=note,
    )


def failed_jobs(
    *,
    session: Session,
    now: datetime,
    service: str | None = None,
    jobs: Sequence[str] = tuple(FAILED_JOBS),
) -> dict[str, list[FailedRun]]:
    """Per service (or for ``service`` alone), the ``jobs`` (by default those a warning names,
    :data:`FAILED_JOBS`) whose latest run failed."""
    return latest_failures(session=session, now=now, jobs=tuple(jobs), service=service)


def warnings_for(
    summary: ServiceSummary,
    *,
    profile: ScalingProfile,
    now: datetime,
    failures: Sequence[FailedRun] = (),
    pushes: Sequence[Actuation] = (),
) -> list[str]:
    """What a person should look at, most urgent first; ``pushes``: the records of the
    latest actuation pass, one per target. A disabled service is off by choice: only a failed
    restore of its targets' baselines is news (no samples, forecast or plan is expected)."""
    found: list[str] = []
    if not summary.enabled:
        return _failed_pushes(pushes)
    for failed in failures:
        what, meanwhile = FAILED_JOBS[failed.job]
        if summary.plan is None:  # a service that never trained has nothing to keep in force
            meanwhile = "it has no plan yet"
        ago = format_age((now - failed.at).total_seconds())
        found.append(f"the last {what} ({ago} ago) failed: {failed.error}; {meanwhile}")
    if summary.band is not None and summary.band.left_band:
        band = summary.band
        found.append(
            f"recent load left the forecast band: {band.above_p95} of the last {band.steps} "
            f"steps above p95, {band.below_p5} below p5"
        )
    if summary.last_sample_at is None:
        found.append(f"no {summary.metric} samples yet")
    else:
        silence = (now - summary.last_sample_at).total_seconds()
        # daily rows are a day apart: a day's silence is the usual wait, two is a missed row
        usual_wait = 2 * (summary.sample_spacing_seconds or 0.0)
        if silence > max(3 * profile.step_seconds, MIN_SILENCE_SECONDS, usual_wait):
            found.append(f"no new {summary.metric} samples for {format_age(silence)}")
    if summary.forecast_id is None:
        found.append("no forecast yet: train the service")
    elif summary.forecast_stale:
        found.append("the forecast has run out: are the forecast jobs running?")
    elif summary.forecast_created_at is not None:
        age = (now - summary.forecast_created_at).total_seconds()
        if age > OLD_FORECAST_SECONDS:
            found.append(f"no new forecast for {format_age(age)}: are the forecast jobs running?")
    if summary.plan is not None and summary.plan.ran_out:
        found.append("the plan has run out: actuators fall back to their baselines")
    elif summary.plan is not None and summary.plan.stale:
        found.append(f"the plan is too old to push: {summary.plan.note}")
    champion = summary.champion
    if champion is not None and champion.status != "ok":
        found.append(f"champion {champion.status}: {champion.message or ''}")
    elif champion is not None and FAILED_IN_BACKTEST in (champion.message or ""):
        # a library upgrade that breaks every model but one changes no run's status
        found.append(f"champion {champion.model} won while others broke: {champion.message}")
    return found + _failed_pushes(pushes)


def _failed_pushes(pushes: Sequence[Actuation]) -> list[str]:
    return [
        f"last actuation of {push.target} failed: {push.error or ''}"
        for push in reversed(pushes)
        if push.outcome == "failed"
    ]


def format_age(seconds: float) -> str:
    """A duration the way a person says it: 45 s, 12 min, 3 h 5 min, 2 d 4 h."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, _ = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"
