"""The work behind each scheduled job: one pass over the services, one job-run record each.

A failure in one service is recorded (``GET /v1/jobs``) and logged, and the pass goes on to the
next service; a lost leader lock stops the pass, recorded on the service it did not run. Heavy
modules (training) are imported when a job runs, not when the worker starts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from forecaster.errors import ForecasterError, Worded, listing, log_failure
from forecaster.leadership import check_leading, term_lock
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.failures import DamagedValueError
from forecaster.storage.jobs import recorded_job, unfinished_pass
from forecaster.storage.services import (
    damaged_service,
    enabled_service_names,
    get_service,
    read_services,
    readable_profiles,
)
from forecaster.telemetry import SERVICE_JOB_FAILURES
from forecaster.timeutil import utc_now

if TYPE_CHECKING:
    from forecaster.training.train import TrainResult

log = logging.getLogger(__name__)


class TargetsFailedError(Worded, Exception):
    """Some targets of a service could not be actuated (each is in the actuation audit)."""


def enabled_services(database: Database) -> list[str]:
    """The names of the enabled services, by name: read without their profiles, so one
    damaged profile (:class:`DamagedValueError`) fails its own service's work, not the pass."""
    with database.session() as session:
        return enabled_service_names(session=session)


def services_with_targets(database: Database) -> list[str]:
    """Every service with actuation targets, enabled or not: disabled ones get restored, as
    do targets taken out of a profile (``retired_targets``).

    Read from the stored document, not the validated profile: one profile that no longer
    loads must fail its own service's run (which records why), not the whole pass. A service
    whose row is damaged is in: it may hold targets above their baselines, and its own run
    fails, naming the fix.
    """
    with database.session() as session:
        rows = read_services(session=session)
    held = {s.name for s in rows.loaded if s.profile.get("targets") or s.retired_targets}
    return sorted(held | rows.damaged.keys())


def each_service(
    database: Database, job: str, names: list[str], work: Callable[[str], dict[str, object]]
) -> int:
    """Run ``work`` for each service inside a job-run record; returns how many failed."""
    failed = 0
    for done, name in enumerate(names):
        try:
            with recorded_job(database.sessions, job, name) as details:
                check_leading(done, len(names))
                try:
                    details.update(work(name))
                except DamagedValueError as error:  # its row changed by hand: recorded as such
                    raise damaged_service(name, error) from None
        except Exception as error:  # noqa: BLE001 - recorded and logged; the next one still runs
            log_failure(log, error, "%s of service %s", job, name)
            failed += 1
    return failed


class TrainingFailedError(Worded, Exception):
    """Some services could not be trained; their previous champions and plans stay in force."""


# a pass's outcomes so far are written to its run at most this often: a pass killed between
# two writes is resumed for those few services again, and a 1,000-service pass does not
# rewrite its growing record 1,000 times
PROGRESS_SAVE_SECONDS = 1.0
# the scheduled pass and its resume never train side by side (they fire together after a
# restart that missed the pass, or when the train schedule meets the refresh's): they take
# this lock of their leadership term, which a pass an earlier term left behind does not hold
TRAINING_PASS = "training pass"


def train_all(database: Database, settings: Settings) -> None:
    """Refit every enabled service's models, forecast and plan (the daily job)."""
    with term_lock(TRAINING_PASS):
        train_pass(database, enabled_services(database), settings, {"trigger": "schedule"})


def resume_training(database: Database, settings: Settings) -> None:
    """Finish a scheduled training pass that stopped part-way (a rollout's SIGTERM, a killed
    worker, the database gone for a while): the services it never got to are trained now,
    in one pass, instead of keeping yesterday's models and warning until the next day's.
    Checked at every refresh; nothing to do is one query (:func:`unfinished_pass`), and
    nothing either while a pass runs."""
    training_pass = term_lock(TRAINING_PASS)
    if not training_pass.acquire(blocking=False):
        return
    try:
        with database.session() as session:
            unfinished = unfinished_pass(session=session, job="train", now=utc_now())
        if unfinished is None:
            return
        enabled = set(enabled_services(database))
        names = [name for name in unfinished.left if name in enabled]
        if names:
            log.info(
                "resuming training pass %d for the services it had not trained: %s",
                unfinished.run_id,
                listing(names),
            )
            noted = {"trigger": "resume", "resumes": unfinished.run_id}
            train_pass(database, names, settings, noted)
    finally:
        training_pass.release()


def train_pass(
    database: Database, names: Sequence[str], settings: Settings, noted: dict[str, object]
) -> None:
    """A scheduled training pass (:func:`train_recorded`), logged, never raised: the
    scheduler keeps running."""
    try:
        train_recorded(database, names, settings, noted=noted)
    except Exception:  # recorded by train_recorded
        log.exception("training pass failed")


def train_recorded(
    database: Database,
    names: Sequence[str],
    settings: Settings,
    *,
    noted: dict[str, object] | None = None,
) -> dict[str, TrainResult | ForecasterError]:
    """Train services together inside one ``train`` job-run record (the daily pass, or
    ``forecaster train`` of many), each service's model or error in its details and
    ``noted`` (the pass's trigger) from the start.

    Services are trained together so a global LightGBM learns from all of them. A service
    that could not train fails the record but is returned, for the caller to report; one
    training on its own already (``POST .../train``) is left to that run and not returned.
    """
    from forecaster.training.train import TrainResult, train_services

    results: dict[str, TrainResult | ForecasterError] = {}
    try:
        with recorded_job(
            database.sessions, "train", covers=names, noted=noted, alone=True
        ) as details:
            names = details.get("covers", [])  # less those training on their own already
            for name, run_id in details.get("running_alone", {}).items():
                log.info("train of service %s left to job run %d, training it", name, run_id)
            saved_at = time.monotonic()

            def note_done() -> None:
                details["services"] = {
                    name: result.run_details()
                    if isinstance(result, TrainResult)
                    else {"error": str(result)}
                    for name, result in results.items()
                }

            def stored() -> None:  # a killed pass must still say whom it trained
                nonlocal saved_at
                if time.monotonic() - saved_at >= PROGRESS_SAVE_SECONDS:
                    note_done()
                    details.save()
                    saved_at = time.monotonic()

            try:
                results = train_services(database, names, settings, results=results, stored=stored)
            finally:  # stopped part-way, the services done say so; the rest failed with it
                note_done()
            failed = sorted(name for name, r in results.items() if not isinstance(r, TrainResult))
            for name in failed:  # the pass's one run names them; say which and why here too
                log.error("train of service %s failed: %s", name, results[name])
                SERVICE_JOB_FAILURES.labels(forecaster_job="train", service=name).inc()
            if failed:
                raise TrainingFailedError(  # how many trained tells an outage from one bad series
                    f"could not train {', '.join(failed)} ({len(results) - len(failed)} of "
                    f"{len(results)} services trained)"
                )
    except TrainingFailedError:
        pass  # recorded as failed; each service's error is in the results
    return results


def train_on_demand(
    database: Database, name: str, settings: Settings, *, model: str = "auto"
) -> TrainResult:
    """Train one service now (``POST .../train``, ``forecaster train``, the demo), leaving a
    ``train`` job-run record at ``GET /v1/jobs`` as the scheduled pass does; errors are raised
    after being recorded."""
    from forecaster.training.train import train_service

    with database.session() as session:  # a mistyped name is a 404, not a failed training
        get_service(session=session, name=name)
    # alone: two requests at once fitted the same models twice and raced to store them (QA)
    with recorded_job(database.sessions, "train", name, alone=True) as details:
        result = train_service(database, name, settings, model=model)
        details.update(result.run_details(), trigger="on demand")
    return result


def forecast_all(database: Database, settings: Settings) -> None:
    """Refresh every enabled service's forecast and plan from its champion (every 15 min)."""
    from forecaster.training.train import forecast_service

    def work(name: str) -> dict[str, object]:
        return forecast_service(database, name, settings).run_details()

    each_service(database, "forecast", enabled_services(database), work)


def actuate_all(database: Database, settings: Settings) -> None:
    """Push plans (or baselines) to every service's targets (every 5 min); a cluster that
    timed out for one is not waited on again for the next (one context for the pass)."""
    from forecaster.actuators.run import actuate_service, actuator_context

    context = actuator_context(settings)

    def work(name: str) -> dict[str, object]:
        done = actuate_service(database, name, settings, context=context)
        outcomes = {r.target: r.outcome for r in done.records}
        failed = [target for target, outcome in outcomes.items() if outcome == "failed"]
        if failed:
            raise TargetsFailedError(
                f"{len(failed)} of {len(outcomes)} targets failed: {listing(failed)}"
            )
        return {"window": done.window.status.value, "outcomes": outcomes}

    each_service(database, "actuate", services_with_targets(database), work)


def pull_all(database: Database, settings: Settings) -> None:
    """Pull what is new from every enabled service's Prometheus sources (every minute).

    Each source records its own job run (``pull_prometheus``). Sources without
    ``FORECASTER_PROMETHEUS_URL`` are a misconfiguration worth a warning at every pass.
    """
    from forecaster.ingestion.prometheus import pull_prometheus

    if not settings.prometheus_url:
        with database.session() as session:  # a damaged row's sources are unknown: left out
            rows = read_services(session=session)
        sourced = [s.name for s, profile in readable_profiles(rows.loaded) if profile.prometheus]
        if sourced:
            log.warning(
                "services %s have Prometheus sources but FORECASTER_PROMETHEUS_URL is not set",
                sourced,
            )
        return
    try:
        pull_prometheus(database, settings)
    except Exception:  # the scheduler keeps running; sources record their own failures
        log.exception("Prometheus pull pass failed")


def retention_all(database: Database, settings: Settings) -> None:
    """Roll raw points older than ``retention_raw_days`` up to each service's step (one job
    run per service) and drop routine records older than ``retention_records_days`` (daily)."""
    from forecaster.ingestion.retention import apply_retention
    from forecaster.jobs.housekeeping import prune_records

    for work in (apply_retention, prune_records):
        try:
            work(database, settings)
        except Exception:  # recorded; the scheduler keeps running
            log.exception("%s failed", work.__name__)
