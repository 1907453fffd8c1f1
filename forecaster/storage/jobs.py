"""Job-run records: every train, plan or actuate run leaves one, listed at ``GET /v1/jobs``."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from forecaster.errors import AlreadyRunningError, in_words, quoted
from forecaster.storage.db import hold_until_commit, write_lock_now
from forecaster.storage.orm import JobRun, Service
from forecaster.telemetry import JOB_DURATION, SERVICE_JOB_FAILURES
from forecaster.timeutil import utc_now

log = logging.getLogger(__name__)

# the job names runs are recorded under, and the scheduler's job ids that record under another
RECORDED_JOBS = ("train", "forecast", "actuate", "pull_prometheus", "retention", "prune")
RECORDED_AS = {"train-resume": "train", "pull": "pull_prometheus"}

ABANDONED = "abandoned: the process running it stopped before it finished"
SHUT_DOWN = (
    "stopped: the process was shut down while it ran; services it had not finished keep "
    "their previous champion, forecast and plan"
)
# the runs this process has open (for a shutdown to close), with the sessions they live in
_running_here: dict[int, sessionmaker[Session]] = {}
_running_lock = threading.Lock()
_heartbeat: threading.Thread | None = None  # renews their heartbeats while there are any
_renewing = threading.Lock()  # held while a renewal reads the open runs and writes their beats
# how often a running run's heartbeat is renewed; one older than STALE_BEATS of these marks a
# run whose process is gone (killed, frozen, cut off), which a leader closes as abandoned
HEARTBEAT_SECONDS = 30.0
STALE_BEATS = 4
# how long a run's end waits for a renewal in flight: one takes milliseconds, but one stuck on
# a database that stopped answering (a connection half-open after a failover) held up the end
# of every run in the process for as long
RENEWAL_WAIT_SECONDS = 10.0


class RunDetails(dict[str, Any]):
    """A job run's details, which the block may also write out before the run ends
    (:meth:`save`): a pass that is killed part-way then still says whom it had done."""

    def __init__(self, sessions: sessionmaker[Session], run_id: int, details: dict[str, Any]):
        super().__init__(details)
        self._sessions, self._run_id = sessions, run_id

    def save(self) -> None:
        with self._sessions.begin() as session:
            run = _open_run(session, self._run_id)
            if run is not None:
                run.details = dict(self)


@contextmanager
def recorded_job(
    sessions: sessionmaker[Session],
    job: str,
    service: str | None = None,
    *,
    covers: Sequence[str] = (),
    noted: Mapping[str, Any] | None = None,
    alone: bool = False,
) -> Iterator[RunDetails]:
    """Record a job run around a block: running, then ok or failed with the error.

    The record is written in its own transactions so it survives the job's own rollback.
    Yields a dict the block may fill with details (counts, model names) and save on the way
    (:class:`RunDetails`). A pass over many
    services names them in ``covers`` from the start, so a pass that crashes or is killed
    before it records each one's outcome still says whom it failed; ``noted`` details are
    recorded from the start too (a pass's trigger, which :func:`unfinished_pass` reads).
    ``alone``: AlreadyRunningError, naming the run, while ``job`` runs for ``service`` already;
    for a pass, the services ``job`` runs for on its own already are left out of ``covers``
    and named in ``running_alone`` with their runs (the block reads ``details["covers"]``).
    """
    details: dict[str, Any] = {}
    with sessions.begin() as session:
        if alone:
            _hold_runs_of(session, job)
        if alone and service is not None:
            _refuse_a_second(session, job, service)
        busy = _running_alone(session, job, covers) if alone and covers else {}
        if covers:
            details["covers"] = [name for name in covers if name not in busy]
        if busy:
            details["running_alone"] = busy
        details.update(noted or {})
        run = JobRun(
            job=job,
            service=service,
            status="running",
            details=dict(details),
            heartbeat_at=utc_now(),
        )
        session.add(run)
        session.flush()
        run_id = run.id
    _beat_for(run_id, sessions)
    started = time.perf_counter()
    details = RunDetails(sessions, run_id, details)
    try:
        yield details
    except BaseException as error:
        JOB_DURATION.labels(forecaster_job=job, status="failed").observe(
            time.perf_counter() - started
        )
        # a pass counts its services' own failures; the ones it never got to failed with it
        failed = [service] if service is not None else not_reached(details)
        for name in failed:
            SERVICE_JOB_FAILURES.labels(forecaster_job=job, service=name).inc()
        _finish(sessions, run_id, "failed", in_words(error), details)
        raise
    finally:
        _stop_beating(run_id)
    JOB_DURATION.labels(forecaster_job=job, status="ok").observe(time.perf_counter() - started)
    _finish(sessions, run_id, "ok", details.pop("message", None), details)


def _hold_runs_of(session: Session, job: str) -> None:
    """Lock ``job``'s runs until the transaction ends (SQLite's write lock, a PostgreSQL
    advisory lock): what is running is checked and the new run recorded under it, so of two
    starting at once the second sees the first."""
    write_lock_now(session)
    if session.get_bind().dialect.name == "postgresql":
        hold_until_commit(session, f"forecaster:run:{job}")


def _running(session: Session, job: str, runs: ColumnElement[bool]) -> Sequence[JobRun]:
    """Those of ``job``'s ``runs`` going on now, in any process (a few at most: a pass's
    ``covers`` are read in Python, not in SQL)."""
    return session.scalars(
        select(JobRun)
        .where(
            JobRun.job == job,
            runs,
            JobRun.status == "running",
            _heard_from_since(_stale_before(utc_now())),
        )
        .order_by(JobRun.id)
    ).all()


def _running_alone(session: Session, job: str, services: Sequence[str]) -> dict[str, int]:
    """Of ``services``, those ``job`` runs for on its own now (an on-demand training), with
    the run: a pass leaves them to it rather than fit the same models beside it."""
    wanted = set(services)
    return {
        run.service: run.id
        for run in _running(session, job, JobRun.service.is_not(None))
        if run.service is not None and run.service in wanted
    }


def _refuse_a_second(session: Session, job: str, service: str) -> None:
    """AlreadyRunningError when ``job`` runs for ``service`` now, in any process, alone or in a
    pass that covers it (the scheduled training of every service), so of two requests at
    once one runs and the other is told which run to wait for (under :func:`_hold_runs_of`)."""
    runs = (JobRun.service == service) | JobRun.service.is_(None)
    for run in _running(session, job, runs):
        covers = (run.details or {}).get("covers", ())
        if run.service == service:
            whose, listed = "", f"service={service}&status=running"
        elif service in covers:
            whose = f" (a pass over {len(covers)} service{'' if len(covers) == 1 else 's'})"
            listed = "status=running"
        else:
            continue
        raise AlreadyRunningError(
            f"{job} of service {quoted(service)} is already running: job run {run.id}{whose}, "
            f"started {run.started_at:%Y-%m-%dT%H:%M:%SZ}; wait for it to end "
            f"(GET /v1/jobs?{listed})"
        )


def _stale_before(now: datetime) -> datetime:
    """A running run not heard from since this time has lost its process (killed, frozen)."""
    return now - timedelta(seconds=STALE_BEATS * HEARTBEAT_SECONDS)


def _heard_from_since(moment: datetime) -> Any:
    """SQL: the run's heartbeat (or, before its first, its start) is at ``moment`` or later."""
    return func.coalesce(JobRun.heartbeat_at, JobRun.started_at) >= moment


def _beat_for(run_id: int, sessions: sessionmaker[Session]) -> None:
    """Keep ``run_id``'s heartbeat renewed until it ends (one thread for all of the process's
    runs, started with the first)."""
    global _heartbeat
    with _running_lock:
        _running_here[run_id] = sessions
        if _heartbeat is None:
            _heartbeat = threading.Thread(
                target=_renew_heartbeats, name="forecaster-job-heartbeat", daemon=True
            )
            _heartbeat.start()


def _stop_beating(run_id: int) -> None:
    """Take ``run_id`` off the heartbeat, after any renewal in flight: one that had read the
    run just before it ended went on writing through its sessions once the caller had
    disposed of their engine, and left a connection open in a pool nobody would close (CI: a
    PostgreSQL connection collected while still open, a later test's ResourceWarning). A
    renewal stuck past :data:`RENEWAL_WAIT_SECONDS` is not waited for further."""
    waited = _renewing.acquire(timeout=RENEWAL_WAIT_SECONDS)
    try:
        with _running_lock:
            _running_here.pop(run_id, None)
    finally:
        if waited:
            _renewing.release()
    if not waited:
        log.warning(
            "job run %d ended while a heartbeat renewal was stuck for %gs; not waited for",
            run_id,
            RENEWAL_WAIT_SECONDS,
        )


def _renew_heartbeats() -> None:
    """Every HEARTBEAT_SECONDS, :func:`renew_heartbeats`, until this process has no run open."""
    global _heartbeat
    while True:
        time.sleep(HEARTBEAT_SECONDS)
        with _running_lock:
            if not _running_here:
                _heartbeat = None
                return
        renew_heartbeats()


def renew_heartbeats() -> None:
    """Renew the heartbeat of each run this process has open that is still ``running``; a run
    closed meanwhile (a leader took it for abandoned while this process was frozen) is let go,
    and still records its real outcome when it ends. A run ends only between renewals
    (:func:`_stop_beating`), so none is written to after its ``recorded_job`` returned."""
    with _renewing:
        _renew_open_runs()


def _renew_open_runs() -> None:
    """The renewal itself, under :data:`_renewing`."""
    with _running_lock:
        open_runs = dict(_running_here)
    by_database: dict[sessionmaker[Session], list[int]] = {}
    for run_id, sessions in open_runs.items():
        by_database.setdefault(sessions, []).append(run_id)
    for sessions, ids in by_database.items():
        try:
            with sessions.begin() as session:
                running = set(
                    session.execute(
                        select(JobRun.id).where(JobRun.id.in_(ids), JobRun.status == "running")
                    ).scalars()
                )
                session.execute(
                    update(JobRun).where(JobRun.id.in_(running)).values(heartbeat_at=utc_now())
                )
        except Exception:  # the database may be away for a while: retried at the next beat
            log.warning("could not renew the heartbeat of job runs %s", ids, exc_info=True)
            continue
        with _running_lock:
            for run_id in set(ids) - running:
                _running_here.pop(run_id, None)


def _finish(
    sessions: sessionmaker[Session],
    run_id: int,
    status: str,
    message: str | None,
    details: dict[str, Any],
) -> None:
    with sessions.begin() as session:
        run = _open_run(session, run_id)
        if run is None:
            return
        run.status = status
        run.message = message
        run.details = details
        run.finished_at = utc_now()


def _open_run(session: Session, run_id: int) -> JobRun | None:
    """Run ``run_id``, or None when its row is gone, deleted with its service's records while
    it ran (as a replica of an older release still does): closing it then failed with a lookup
    error that hid the job's own outcome (QA: a 500 instead of the 404 saying the service was
    deleted while it trained)."""
    run = session.get(JobRun, run_id)
    if run is None:
        log.info("job run %d was deleted while it ran; its outcome is not recorded", run_id)
    return run


def list_job_runs(
    *,
    session: Session,
    limit: int = 100,
    job: str | None = None,
    service: str | None = None,
    status: str | None = None,
) -> list[JobRun]:
    """Recent job runs, newest first; each filter given keeps the runs that match it."""
    query = select(JobRun).order_by(JobRun.id.desc()).limit(limit)
    for column, wanted in ((JobRun.job, job), (JobRun.service, service), (JobRun.status, status)):
        if wanted is not None:
            query = query.where(column == wanted)
    return list(session.execute(query).scalars())


def newest_detail(
    *, session: Session, job: str, service: str, match: Mapping[str, Any], key: str
) -> Any | None:
    """``key`` of the details of the newest of the last ``DETAIL_RUNS`` runs of ``job`` for
    ``service`` whose details hold ``match`` and ``key`` (None when none does)."""
    recent = (
        select(JobRun.details)
        .where(JobRun.job == job, JobRun.service == service)
        .order_by(JobRun.id.desc())
        .limit(DETAIL_RUNS)
    )
    for details in session.execute(recent).scalars():
        if key in details and all(details.get(name) == value for name, value in match.items()):
            return details[key]
    return None


DETAIL_RUNS = 200  # a service's pulls of each of its sources every 15 minutes: days of them


@dataclass(frozen=True)
class FailedRun:
    """A service's latest run of a job, which failed."""

    job: str
    at: datetime
    error: str


# how far back the latest runs are looked for: the daily training and the 15-minute refresh
# both run within it, and it keeps the look-up to an index range on a fleet's many records
RECENT_RUNS = timedelta(hours=36)


def latest_failures(
    *,
    session: Session,
    now: datetime,
    jobs: Sequence[str],
    service: str | None = None,
) -> dict[str, list[FailedRun]]:
    """Per service (or for ``service`` alone), each of ``jobs`` whose latest finished run for
    it (within :data:`RECENT_RUNS`) failed, with why: a training that keeps failing leaves the
    old champion forecasting, so nothing else would show it. A pass over many services records
    each one's outcome in its details (``services``), or, stopped before it could, the services
    it set out to do (``covers``); the newest run that covered a service counts, if it started
    after the service was created (:func:`_made_at`). Measured on
    192,000 runs (1,000 services' refreshes over two days) and two passes over all of them:
    96 ms on SQLite, 176 ms on PostgreSQL for all services; 37 ms for one."""
    recent = and_(
        JobRun.job.in_(jobs), JobRun.status != "running", JobRun.started_at >= now - RECENT_RUNS
    )
    own = JobRun.service.is_not(None) if service is None else JobRun.service == service
    newest_own = select(func.max(JobRun.id)).where(recent, own).group_by(JobRun.job, JobRun.service)
    passes = and_(recent, JobRun.service.is_(None))  # few (daily), each covering some services
    # the window bounds the outer scan too: on PostgreSQL it walked every run ever kept
    # (1.5 million: 497 ms, 44 ms bounded; QA)
    runs = session.execute(
        select(JobRun)
        .where(JobRun.started_at >= now - RECENT_RUNS, JobRun.id.in_(newest_own) | passes)
        .order_by(JobRun.id)
    )
    made = _made_at(session=session, service=service)
    latest: dict[tuple[str, str], FailedRun | None] = {}
    for run in runs.scalars():  # oldest first: a later run replaces what an earlier one said
        at = run.finished_at or run.started_at
        for name, error in _outcomes(run):
            if name in made and run.started_at < made[name]:
                continue  # a run of a deleted service of that name: not this one's
            latest[(name, run.job)] = None if error is None else FailedRun(run.job, at, error)
    failures: dict[str, list[FailedRun]] = {}
    for (name, _), failed in sorted(latest.items()):
        if failed is not None and service in (None, name):
            failures.setdefault(name, []).append(failed)
    return failures


def _made_at(*, session: Session, service: str | None) -> dict[str, datetime]:
    """When each service (or ``service`` alone) was created: runs name a service, and one
    made again under a deleted one's name inherited the failures of the deleted one's runs
    that ended after the delete (QA: "the last training failed: ... deleted while it
    trained" for the new service)."""
    query = select(Service.name, Service.created_at)
    if service is not None:
        query = query.where(Service.name == service)
    return {name: created_at for name, created_at in session.execute(query)}


def _outcomes(run: JobRun) -> Iterator[tuple[str, str | None]]:
    """Each service a run covered and its error (None when it went well)."""
    failed = (run.message or "failed") if run.status == "failed" else None
    if run.service is not None:
        yield run.service, failed
        return
    details = run.details or {}
    for service, outcome in details.get("services", {}).items():
        yield service, outcome.get("error") if isinstance(outcome, dict) else None
    if failed:  # stopped before it got to these: they failed with it
        for service in not_reached(details):
            yield service, failed


def not_reached(details: Mapping[str, Any]) -> list[str]:
    """The services a pass set out to do (``covers``) with no outcome (``services``) yet."""
    done = details.get("services", {})
    return [service for service in details.get("covers", []) if service not in done]


@dataclass(frozen=True)
class UnfinishedPass:
    """A scheduled pass that stopped part-way: its run and the services it never got to."""

    run_id: int
    left: list[str]


def unfinished_pass(*, session: Session, job: str, now: datetime) -> UnfinishedPass | None:
    """The newest pass of ``job`` within :data:`RECENT_RUNS`, when it stopped before it got to
    some of its services (``covers`` with no outcome in ``services``) and may be resumed.

    A scheduled pass (``trigger: schedule``) may be; a resume (``resumes``) only when it got
    somewhere itself, so a service that kills the process is not retried forever. Passes run
    by hand (``forecaster train`` of many, stopped with Ctrl-C) are left to whoever ran them.
    """
    run = session.execute(
        select(JobRun)
        .where(JobRun.job == job, JobRun.service.is_(None), JobRun.started_at >= now - RECENT_RUNS)
        .order_by(JobRun.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if run is None or run.status != "failed":
        return None
    details = run.details or {}
    left = not_reached(details)
    got_somewhere = bool(details.get("services"))
    resumable = details.get("trigger") == "schedule" or ("resumes" in details and got_somewhere)
    return UnfinishedPass(run.id, left) if left and resumable else None


def close_abandoned_job_runs(*, session: Session, now: datetime) -> int:
    """Mark runs still ``running`` whose heartbeat stopped as failed; returns how many.

    A leader calls this when it takes over and then every HEARTBEAT_SECONDS: such runs were
    left by a process that stopped before it could record their end (killed mid-training,
    frozen, or cut off from the database), and would read "running" at ``GET /v1/jobs``
    forever (pruning keeps unfinished runs). A run whose process still renews its heartbeat
    (an on-demand training on another replica) is left alone. A run that does end after all
    still records its real outcome over this one.
    """
    result = session.execute(
        update(JobRun)
        .where(JobRun.status == "running", ~_heard_from_since(_stale_before(now)))
        .values(status="failed", message=ABANDONED, finished_at=utc_now())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def close_runs_of_this_process(sessions: sessionmaker[Session]) -> int:
    """Mark the runs this process still has open as failed (:data:`SHUT_DOWN`): a shutdown
    that cannot wait for them calls this before it lets go of the leader lock, so they do not
    read "running" until some leader starts again. Returns how many."""
    with _running_lock:
        ids = sorted(_running_here)
    if not ids:
        return 0
    with sessions.begin() as session:
        result = session.execute(
            update(JobRun)
            .where(JobRun.id.in_(ids), JobRun.status == "running")
            .values(status="failed", message=SHUT_DOWN, finished_at=utc_now())
        )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def prune_job_runs(*, session: Session, before: datetime) -> int:
    """Delete finished job runs that started before ``before`` (a minutely Prometheus pull
    alone leaves 1,440 a day per source); runs still going are kept. Returns how many."""
    result = session.execute(
        delete(JobRun).where(JobRun.started_at < before, JobRun.finished_at.is_not(None))
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
