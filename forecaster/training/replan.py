"""Plans from stored forecasts: made after each training or refresh, re-made at once when a
profile changes, and the reason a plan in force ran out, in one wording for the plan route and
the dashboard.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session, object_session

from forecaster.errors import NotReadyError, quoted
from forecaster.planning.burst import PEAK_SECONDS, peak_to_mean
from forecaster.planning.planner import (
    hold_steps,
    lead_steps,
    led_requirement,
    plan_capacity,
    plan_cost,
)
from forecaster.planning.reactive import CHECK_DAYS, TICK_SECONDS, check_floor
from forecaster.profiles import ScalingProfile
from forecaster.storage.db import Database
from forecaster.storage.forecasts import forecast_frame, quantile_series
from forecaster.storage.orm import Plan, Service
from forecaster.storage.plans import latest_plan, plan_steps, save_plan
from forecaster.storage.samples import latest_metric_ms, metric_series_ids
from forecaster.storage.services import Replaced, get_service, profile_of
from forecaster.timeutil import as_utc, spoken_duration, utc_now
from forecaster.training.service_data import (
    driving_forecast_or_not_ready,
    history_reach,
    load_history,
    newest_label_set_step,
    past_history_message,
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
    profile = profile_of(service)
    latest_ms = latest_metric_ms(session=session, service_id=service.id, metric=profile.metric)
    return plan_ended_note(name=service.name, profile=profile, ends_at=ends_at, latest_ms=latest_ms)


def plan_ended_note(
    *,
    name: str,
    profile: ScalingProfile,
    ends_at: datetime,
    latest_ms: int | None,
    now: datetime | None = None,
) -> str:
    """:func:`why_plan_ended` with the metric's newest sample read already (epoch ms), as of
    ``now`` (default: the clock), so a page read at a given time says the same every time."""
    note = f"this plan ended at {as_utc(ends_at).isoformat()}; "
    if latest_ms is None:
        return note + f"{quoted(name)} has no {profile.metric} samples: send samples, then train"
    step_ms = profile.step_seconds * 1000
    last_step = pd.Timestamp(latest_ms // step_ms * step_ms, unit="ms", tz="UTC")
    end, reach = history_reach(last_step, profile)
    if reach <= (utc_now() if now is None else as_utc(now)):
        return note + past_history_message(name=name, profile=profile, last_step=last_step)
    return note + (
        f"the {profile.metric} history reaches {end.isoformat()}: the next forecast job "
        "(or a train) makes a new plan"
    )


def planning_profile(*, service: Service, made_for: ScalingProfile) -> ScalingProfile:
    """The profile a forecast just made is planned with: the service's profile as stored now.

    A profile changed while the forecast was being made (a training takes minutes) has been
    re-planned from the previous forecast already; planning with the profile read before the
    fit would undo that change until the next refresh. A change of metric or step, which
    this forecast cannot serve (a new plan needs a forecast of its own), keeps ``made_for``.
    """
    # read again now: on SQLite the storing transaction begins at its first write, so a PUT
    # committed after ``service`` was loaded (and before that write) is seen only now
    session = object_session(service)
    if session is not None:
        session.refresh(service)
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
    # no further than the profile's horizon: a forecast made for a longer one (before an
    # edit shortened it) planned all of it
    frame = forecast_frame(session=session, forecast_id=forecast_id).iloc[: profile.horizon_steps]
    load = quantile_series(frame, profile.risk_quantile)
    # samples finer than the step: plans cover the peaks inside a step, and the reactive check
    # replays the samples as they came, as offline plans and the simulator do
    finer = _finer_than_the_step(session, service, profile)
    factor = peak_factor_of(session=session, service=service, profile=profile) if finer else 1.0
    plan = plan_capacity(
        load,
        profile,
        step_seconds=profile.step_seconds,
        peak_factor=factor,
        led_before=led_in_force_before(
            session=session, service=service, profile=profile, start=load.index[0]
        )
        if len(load)
        else None,
    )
    if history is not None and profile.reactive_tolerance_pct is not None:
        if finer:
            history = samples_as_they_came(session, service, profile, history)
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
        "peak_factor": factor,  # the plan that replaces it holds what it needed (led_before)
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


def led_in_force_before(
    *, session: Session, service: Service, profile: ScalingProfile, start: pd.Timestamp
) -> np.ndarray | None:
    """What the plan in force needed over the steps before ``start`` that the scale-down delay
    reaches back over (:func:`~forecaster.planning.planner.led_requirement` of their loads,
    oldest first): a new plan every 15 minutes whose first steps forecast less must not drop
    replicas the delay still holds (it made the floor a saw-tooth, replicas stopped and
    started again within minutes). None without a delay, with tiers, or with no such plan."""
    hold = hold_steps(profile, profile.step_seconds)
    if not hold or profile.tiers:  # nothing to hold: no read of the plan before
        return None
    previous = latest_plan(session=session, service_id=service.id)
    if previous is None or previous.step_seconds != profile.step_seconds:
        return None
    step = pd.Timedelta(seconds=profile.step_seconds)
    lead = lead_steps(profile.startup_seconds, profile.step_seconds)
    grid = pd.date_range(start - hold * step, periods=hold + lead, freq=step)
    steps = plan_steps(
        session=session,
        plan_id=previous.id,
        start=grid[0].to_pydatetime(),
        end=(grid[-1] + step).to_pydatetime(),
    )
    loads = pd.Series(
        [s.load for s in steps], index=pd.DatetimeIndex([as_utc(s.ts) for s in steps])
    )
    known = loads.reindex(grid).fillna(0.0).to_numpy()  # outside the plan: nothing held
    # its steps store the forecast's load; what they needed covered the peaks inside them too
    factor = float((previous.summary or {}).get("peak_factor", 1.0))
    return led_requirement(known, profile, step_seconds=profile.step_seconds, peak_factor=factor)[
        :hold
    ]


def plan_service(database: Database, name: str) -> int:
    """Re-plan a service from its latest forecast (``forecaster plan --service``)."""
    with database.session() as session:
        service = get_service(session=session, name=name, for_update=True)  # as train's _store
        return replan(session=session, service=service, profile=profile_of(service)).id


PEAK_DAYS = 1.0  # samples the peak factor is read from: 288 five-minute steps, a day's shape


def peak_factor_of(*, session: Session, service: Service, profile: ScalingProfile) -> float:
    """The typical peak inside a plan step over its mean, from the last day's samples (for
    samples finer than the step: :func:`forecaster.planning.burst.peak_to_mean`, as ``forecaster
    plan`` and the simulator learn it). Without it, 1-minute samples planned at 5 minutes were
    covered at their 5-minute mean here and at their peaks offline."""
    try:
        fine = load_history(
            session=session,
            service=service,
            profile=profile,
            days=PEAK_DAYS,
            replay_tick_seconds=PEAK_SECONDS,
        )
    except NotReadyError:  # no samples in the last day: nothing to learn the peaks from
        return 1.0
    return peak_to_mean(fine, step_seconds=profile.step_seconds, peak_seconds=PEAK_SECONDS)


def samples_as_they_came(
    session: Session, service: Service, profile: ScalingProfile, history: pd.Series
) -> pd.Series:
    """The last week of samples finer than the step, as they came (to the HPA's sync period),
    for the reactive check to replay, as ``forecaster plan --input`` replays a file's rows;
    ``history`` when there are none. On step means the HPA alone looked short 4.3 % of the time
    on 1-second traffic it was short 8.1 % of, and the service dropped a floor the offline plan
    of the same history kept."""
    try:
        return load_history(
            session=session,
            service=service,
            profile=profile,
            days=CHECK_DAYS,
            replay_tick_seconds=TICK_SECONDS,
        )
    except NotReadyError:
        return history


def _finer_than_the_step(session: Session, service: Service, profile: ScalingProfile) -> bool:
    """Whether samples come finer than the plan step: one cheap look at the newest label
    set's newest points (:func:`newest_label_set_step`). Most services send samples on the
    plan's step."""
    series_ids = metric_series_ids(session=session, service_id=service.id, metric=profile.metric)
    own = newest_label_set_step(session=session, series_ids=series_ids)
    return own is not None and 2 * own <= profile.step_seconds


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


def replan_after_store(
    *,
    session: Session,
    service: Service,
    profile: ScalingProfile,
    replaced: Replaced | None,
) -> tuple[int | None, str] | None:
    """What storing ``profile`` over what it ``replaced`` does to the plan in force, one rule for
    ``PUT /v1/services`` and ``forecaster ingest --profile``: a changed profile, or one enabled
    again after its plan went unrenewed, is re-planned (:func:`replan_or_why`); a disabled one
    is not, as nothing plans it. None: a new service, or nothing changed."""
    if replaced is None:
        return None
    if replaced.profile == profile and (replaced.was_enabled or not service.enabled):
        return None
    if not service.enabled:  # its plan is stale until it is enabled
        return None, "service is disabled: not re-planned"
    return replan_or_why(session=session, service=service, profile=profile)


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
    steps = int((plan.summary or {}).get("steps", profile.horizon_steps))
    if steps < profile.horizon_steps:
        reach = spoken_duration(steps * profile.step_seconds)
        return plan.id, (
            f"re-planned from the latest forecast, which reaches {reach} of the "
            f"{profile.horizon_hours:g}h horizon: the next refresh or training plans the rest"
        )
    return plan.id, "re-planned from the latest forecast"
