"""One summary per service for the dashboard's overview: load, forecast, plan, champion, health.

Everything a person needs to decide where to look first, including the warnings: no recent
data, a stale forecast or plan (with the plan route's note on why), recent load outside the
forecast band, a failed actuation. The service page (``detail.py``) shows the same summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from forecaster.errors import NotReadyError
from forecaster.profiles import ScalingProfile
from forecaster.review.accuracy import BandCheck
from forecaster.review.history import nullable
from forecaster.review.leaderboard import headline_scores
from forecaster.review.plan_now import DEFAULT_MAX_PLAN_AGE, PlanNow
from forecaster.review.summary_rows import SummaryRows, summary_rows
from forecaster.storage.actuations import last_actuations
from forecaster.storage.jobs import FailedRun, latest_failures
from forecaster.storage.orm import Actuation, Service
from forecaster.storage.services import forecast_only, profile_of, read_services
from forecaster.timeutil import from_epoch_us
from forecaster.training.selection import FAILED_IN_BACKTEST

MIN_SILENCE_SECONDS = 900  # quieter than this (and 3 steps) is not yet "no new samples"
# the refresh runs every 15 minutes: a forecast older than this means it is not running (the
# threshold of deploy/prometheus-rules.yaml's ForecasterForecastStale)
OLD_FORECAST_SECONDS = 3600
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
    read = read_services(session=session)  # a damaged row is shown as such: it hides no other
    services = read.loaded
    actuations = last_actuations(session=session, service_ids=[s.id for s in services])
    failures = failed_jobs(session=session, now=now)
    profiles: dict[int, ScalingProfile] = {}
    problems: dict[int, str] = {}
    for service in services:
        try:
            profiles[service.id] = profile_of(service)
        except NotReadyError as error:  # one such service must not hide every other
            problems[service.id] = str(error)
    readable = [(service, profiles[service.id]) for service in services if service.id in profiles]
    rows = summary_rows(
        session=session, services=readable, now=now, max_plan_age_seconds=max_plan_age_seconds
    )
    summaries = [
        unreadable_summary(service, problems[service.id])
        if service.id in problems
        else summary_of(
            service,
            profiles[service.id],
            rows[service.id],
            now=now,
            last_actuation=actuations.get(service.id),
            failures=failures.get(service.name, []),
        )
        for service in services
    ]
    damaged = [problem_summary(n, d.enabled, str(d.failure)) for n, d in read.damaged.items()]
    if not damaged:  # the database's order by name, as listed
        return summaries
    return sorted(summaries + damaged, key=lambda summary: summary.name)


def unreadable_summary(service: Service, problem: str) -> ServiceSummary:
    """A service whose stored profile no longer validates, as far as its stored document says:
    nothing is trained, planned or pushed for it until a corrected profile is PUT."""
    raw = service.profile
    return problem_summary(
        service.name,
        service.enabled,
        problem,
        forecast_only=forecast_only(service),
        targets=[str(t.get("name") or t.get("kind")) for t in raw.get("targets") or []],
        metric=str(raw.get("metric") or ""),
    )


def problem_summary(
    name: str,
    enabled: bool,
    problem: str,
    *,
    forecast_only: bool = True,
    targets: Sequence[str] = (),
    metric: str = "",
) -> ServiceSummary:
    """A service nothing is trained, planned or pushed for until ``problem`` is mended, with
    what is known of it; a damaged row's profile is not (its plans reach no target)."""
    return ServiceSummary(
        name=name,
        enabled=enabled,
        forecast_only=forecast_only,
        targets=list(targets),
        metric=metric,
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
    rows = summary_rows(
        session=session,
        services=[(service, profile)],
        now=now,
        max_plan_age_seconds=max_plan_age_seconds,
    )
    return summary_of(
        service,
        profile,
        rows[service.id],
        now=now,
        last_actuation=last_actuation,
        failures=failures,
    )


def summary_of(
    service: Service,
    profile: ScalingProfile,
    rows: SummaryRows,
    *,
    now: datetime,
    last_actuation: Actuation | None,
    failures: Sequence[FailedRun] = (),
) -> ServiceSummary:
    """Where one service stands now, from its :func:`summary_rows`."""
    recent = rows.recent
    current = next((value for value in reversed(recent.mean) if value is not None), None)
    run = rows.champion
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
    forecast, ahead = rows.forecast, rows.ahead
    sparkline = Sparkline(actual_ts=recent.ts, actual=recent.mean)
    if ahead is not None:
        sparkline = Sparkline(
            actual_ts=recent.ts,
            actual=recent.mean,
            forecast_ts=list(from_epoch_us(ahead.ts_us).to_pydatetime()),
            p50=nullable(ahead.column("p50")),
            p95=nullable(ahead.column("p95")),
        )
    summary = ServiceSummary(
        name=service.name,
        enabled=service.enabled,
        forecast_only=profile.forecast_only,
        targets=[target.name or target.kind for target in profile.targets],
        metric=profile.metric,
        unit=rows.unit,
        current_load=current,
        last_sample_at=rows.last_sample,
        sample_spacing_seconds=rows.spacing,
        champion=champion,
        forecast_id=forecast.id if forecast else None,
        forecast_created_at=forecast.created_at if forecast else None,
        forecast_stale=ahead is None or not len(ahead),
        plan=rows.plan,
        sparkline=sparkline,
        last_actuation=last_actuation,
        band=rows.band,
        warnings=[],
    )
    summary.warnings.extend(
        warnings_for(summary, profile=profile, now=now, failures=failures, pushes=rows.pushes)
    )
    return summary


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
