"""The job scheduler: APScheduler 3 with its job store in our database, run by the leader only.

``forecaster worker`` runs it alone; ``forecaster serve --scheduler`` runs it inside the API
process. Every process may start one; each stands by until it takes the leader lock
(:mod:`forecaster.jobs.leader`), then runs the jobs listed in :mod:`forecaster.jobs.registry` on
a thread pool (threads, not processes: LightGBM hangs after fork). Stopping waits for running
jobs before the lock is released, so a standby never starts a job the old leader still runs: a
pass stops at its next service, and one still inside a service (a training fit) after
``scheduler_stop_grace_seconds`` has its run marked failed and is left to stop at its next
check, once the lock is gone. A lock lost under a running job (the database dropped its
connection) stops the job at its next service the same way (:mod:`forecaster.leadership`), and
is waited for the same grace before the process contends for the lock again: one that checks
nothing for longer (a fit inside a library call) is named in a warning and left behind. A job
runs only in the leadership term it was queued in: one still queued when its term ends is
skipped, and one left behind stores nothing more once its term has ended, even once the
process leads again (its checks ask for the lock *in its term*). Each term runs its jobs on a
pool of its own, so one left behind holds a thread of its term's pool, never one of the next's,
and has locks of its own (:func:`forecaster.leadership.term_lock`), so one left behind holding
the training pass's does not hold up the next term's training.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import UTC

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from forecaster.errors import listing
from forecaster.jobs.leader import LeaderLock
from forecaster.jobs.registry import JOBS, JobSpec
from forecaster.jobs.triggers import actuation_gap_problem, parse_schedule
from forecaster.leadership import LeadershipLostError, TermLocks, leading
from forecaster.settings import Settings
from forecaster.storage import jobs
from forecaster.storage.db import Database
from forecaster.storage.jobs import close_abandoned_job_runs, close_runs_of_this_process
from forecaster.timeutil import utc_now

log = logging.getLogger(__name__)
TABLE = "apscheduler_jobs"  # created by the 0001 migration; APScheduler's own create is a no-op
LEASE_CHECK_SECONDS = 5.0
# how long a stop waits for the scheduler's thread beyond the jobs' grace: marking a job's run
# failed, shutting APScheduler down and releasing the lock
STOP_MARGIN_SECONDS = 40.0
JOBSTORE_RETRY_SECONDS = 10.0  # APScheduler's default pause after a job store error

_leading: JobScheduler | None = None  # the scheduler whose jobs run in this process
_pool = threading.local()  # the leadership term whose job pool this thread belongs to


class SharedEngineJobStore(SQLAlchemyJobStore):  # type: ignore[misc]
    """APScheduler's SQLAlchemy job store on our engine, which it must not dispose on shutdown:
    the API and the leader lock share that engine, and APScheduler's loop may still be
    returning a connection while it shuts down."""

    def shutdown(self) -> None:
        pass


class ResilientScheduler(BackgroundScheduler):  # type: ignore[misc]
    """APScheduler's background scheduler whose loop outlives a job store error.

    APScheduler retries a failed read of the due jobs, but an error later in the same round
    (saving a job's next run time, reading the next wake-up: a dropped connection, SQLite busy
    past its timeout, "too many clients") ended its loop thread. The process then stayed the
    leader, lock held, and no job ran again. Such a round is now retried the same way.
    """

    def _process_jobs(self) -> float | None:
        try:
            wait: float | None = super()._process_jobs()
        except Exception:
            log.exception("job store failed; retrying in %gs", JOBSTORE_RETRY_SECONDS)
            return JOBSTORE_RETRY_SECONDS
        return wait


def run_job(job_id: str) -> None:
    """What the job store points at (``forecaster.jobs.scheduler:run_job``): look the job up in
    the leading scheduler of this process and run it, in the term it was queued in. Only the
    id is persisted, never settings or credentials."""
    leader = _leading
    if leader is None:
        log.warning("job %s fired without a leading scheduler in this process; skipped", job_id)
        return
    leader.run(job_id, term=getattr(_pool, "term", 0))


def _join_term(term: int) -> None:
    """Start a thread of ``term``'s job pool: each term has a pool of its own, so a job runs
    on a thread of the term it was queued in (:meth:`JobScheduler.run`)."""
    _pool.term = term


class JobScheduler:
    """Stand by until this process holds the leader lock, then run the scheduled jobs."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        jobs: Sequence[JobSpec] = JOBS,
        *,
        lease_check_seconds: float = LEASE_CHECK_SECONDS,
    ) -> None:
        self.database = database
        self.settings = settings
        self.jobs = {spec.id: spec for spec in jobs}
        self.lease_check_seconds = lease_check_seconds
        self.lock = LeaderLock(database)
        self._stop = threading.Event()
        self._leading = threading.Event()
        self._thread: threading.Thread | None = None
        # jobs running now, with their terms (the end of a term waits for them, up to its grace)
        self._running: list[tuple[str, int]] = []
        self._idle = threading.Condition()  # a stop, a term's start, a job's start: one at once
        self.terms = 0  # how many times this process has become leader; the current term's number
        self._ended = 0  # the last term that has ended: its jobs may no longer write
        self._locks = TermLocks()  # the current term's (leadership.term_lock)

    @property
    def is_leader(self) -> bool:
        return self._leading.is_set()

    def start(self) -> None:
        """Start standing by (in a background thread); returns at once."""
        global _leading
        if _leading is not None and _leading is not self:
            raise RuntimeError("a job scheduler is already running in this process")
        _leading = self
        if "actuate" in self.jobs:  # eight days of its schedule are walked: only when it runs
            problem = actuation_gap_problem(
                self.settings.actuate_schedule, self.settings.actuation_interval_seconds
            )
            if problem is not None:
                log.warning(problem)
        self._thread = threading.Thread(target=self._loop, name="forecaster-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> bool:
        """Stop: running jobs stop at their next service; wait for them (at most
        ``scheduler_stop_grace_seconds``), then release the lock. False when a job was still
        running then (its run is marked failed), or when the scheduler's own thread outlasted
        ``timeout`` (it may still hold the lock and write): the process should then exit without
        waiting for them. Once a stop has begun no term begins (one being set up is given up)
        and no job starts, even if it returns before its thread ends."""
        global _leading
        with self._idle:  # from here on no term begins and no job starts (_begin_term, run)
            self._stop.set()
            self._leading.clear()
        if self._thread is not None:  # by default the grace and a margin: a fixed 60 s gave up
            # on a grace set longer, and the worker exited before the runs were marked failed
            self._thread.join(
                self.settings.scheduler_stop_grace_seconds + STOP_MARGIN_SECONDS
                if timeout is None
                else timeout
            )
        if _leading is self:
            _leading = None
        ended = self._thread is None or not self._thread.is_alive()
        with self._idle:
            return ended and not self._running

    def wait_until_leader(self, timeout: float) -> bool:
        return self._leading.wait(timeout)

    def wait_until_idle(self, timeout: float | None) -> bool:
        """Wait until no job runs (None: however long); whether none does."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._running, timeout=timeout)

    def run(self, job_id: str, term: int) -> None:
        """Run a job queued in leadership ``term``, unless that term has ended (even if a new
        one has begun since): taken from the pool late (queued behind a busy thread, or just
        before a stop or the loss of the lock), nothing waited for it, and it would write after
        the lock went, through an engine disposed of since, or beside the next term's run."""
        spec = self.jobs.get(job_id)
        if spec is None:
            log.warning("job %s is in the job store but not registered; skipped", job_id)
            return
        with self._idle:
            if term != self.terms or not self._leading.is_set():
                log.debug(
                    "job %s was queued in leadership term %d, which has ended; skipped",
                    job_id,
                    term,
                )
                return
            self._running.append((job_id, term))
            locks = self._locks
        try:
            with leading(lambda: self._holds(term), stopping=self._stop.is_set, locks=locks):
                spec.run(self.database, self.settings)
        except LeadershipLostError as lost:  # recorded by the run it stopped
            log.error("job %s stopped: %s", job_id, lost)
        finally:
            with self._idle:
                self._running.remove((job_id, term))
                self._idle.notify_all()

    def _holds(self, term: int) -> bool:
        """Whether the lock is held in ``term``: a job left running after its term ended
        (:meth:`_wait_for_running_jobs`) must not write as if it belonged to a later one. The
        lock is read first: held then, with the term not yet ended, it was held in that term,
        since a term is marked ended before its lock is released and taken again."""
        held = self.lock.still_held()
        with self._idle:
            return held and term > self._ended

    def _loop(self) -> None:
        said_standby = False  # once per spell: a standby that logs nothing looks broken
        said_failure = False  # a traceback once per outage, not one every retry
        while not self._stop.is_set():
            try:
                if self.lock.try_acquire():
                    said_standby = said_failure = False
                    self._lead()
                    continue
                said_failure = False
                if not said_standby:
                    log.info(
                        "another process leads the scheduled jobs: standing by, trying the "
                        "lock every %gs",
                        self.settings.scheduler_lock_retry_seconds,
                    )
                    said_standby = True
            except Exception as error:  # the database may be down: stand by and retry
                if said_failure:
                    log.warning("still cannot take the scheduler lock: %s", error)
                else:
                    log.exception("could not take the scheduler lock")
                    said_failure = True
                self.lock.release()
            self._stop.wait(self.settings.scheduler_lock_retry_seconds)

    def _lead(self) -> None:
        log.info("this process leads: running scheduled jobs %s", sorted(self.jobs))
        term = self.terms + 1
        scheduler = ResilientScheduler(
            jobstores={
                "default": SharedEngineJobStore(engine=self.database.engine, tablename=TABLE)
            },
            executors={
                "default": ThreadPoolExecutor(
                    self.settings.scheduler_threads,
                    pool_kwargs={"initializer": _join_term, "initargs": (term,)},
                )
            },
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": self.settings.scheduler_misfire_grace_seconds,
            },
            timezone=UTC,
            jobstore_retry_interval=JOBSTORE_RETRY_SECONDS,
        )
        try:
            self._close_abandoned_runs()
            scheduler.start(paused=True)
            self._register(scheduler)
            if not self._begin_term(term):
                return
            scheduler.resume()
            swept = time.monotonic()
            while not self._stop.wait(self.lease_check_seconds):
                if not self.lock.still_held():
                    log.error("lost the scheduler lock: stopping jobs and standing by")
                    break
                if time.monotonic() - swept >= jobs.HEARTBEAT_SECONDS:
                    swept = time.monotonic()
                    self._close_abandoned_runs()
        finally:
            self._leading.clear()
            if scheduler.running:
                scheduler.shutdown(wait=False)
            self._wait_for_running_jobs()
            with self._idle:  # before the lock goes: what still runs of the term stops writing
                self._ended = self.terms  # (the term that began: a failed start began none)
            self.lock.release()

    def _begin_term(self, term: int) -> bool:
        """Lead, before the first job can start (:meth:`run` checks it), unless a stop has
        begun while the term was starting: then the stop wins (False) and no job starts."""
        with self._idle:
            if self._stop.is_set():
                return False
            self.terms = term
            self._locks = TermLocks()  # none a job left behind by an earlier term holds
            self._leading.set()
            return True

    def _wait_for_running_jobs(self) -> None:
        """Running jobs finish before the lock goes, so a standby never overlaps them, for at
        most the grace period: a training fit may take minutes, longer than a pod is given to
        stop. On a shutdown what still runs then has its run marked failed, here, while the
        database is still ours; releasing the lock afterwards stops it before it stores more.
        A lost lock was waited for without a limit: a job that checks nothing (a fit inside a
        library call) kept the process from ever leading again, even once the new leader had
        died. What still runs after the grace is named and left behind, its run open: once the
        term has ended its checks fail (:meth:`_holds`) and it records its own end."""
        grace = self.settings.scheduler_stop_grace_seconds
        if self.wait_until_idle(grace):
            return
        with self._idle:
            still = listing(f"{job} (term {term})" for job, term in self._running)
        if not self._stop.is_set():
            log.warning(
                "jobs still running %gs after the lock was lost: %s; left behind (they store "
                "nothing more once they check), contending for the lock again",
                grace,
                still,
            )
            return
        try:
            closed = close_runs_of_this_process(self.database.sessions)
        except Exception:  # the database may be gone too: the next leader closes them
            log.exception("could not mark the job runs still going as stopped")
            return
        log.warning(
            "stopping with jobs still running after %gs: %s; %d runs marked failed; they stop "
            "at their next check without storing more",
            grace,
            still,
            closed,
        )

    def _close_abandoned_runs(self) -> None:
        """Runs whose process stopped renewing their heartbeat (a previous leader killed, a
        replica frozen or cut off from the database) are marked failed, so ``GET /v1/jobs``
        does not show them running forever; runs going on elsewhere are left alone."""
        try:
            with self.database.session() as session:
                closed = close_abandoned_job_runs(session=session, now=utc_now())
        except Exception:  # the database may be away: the next sweep tries again
            log.exception("could not close abandoned job runs")
            return
        if closed:
            log.warning("%d job runs whose process stopped are marked failed", closed)

    def _register(self, scheduler: BackgroundScheduler) -> None:
        """Make the job store match ``self.jobs``, keeping next run times that still apply."""
        stored = {job.id: job for job in scheduler.get_jobs()}
        for job_id in set(stored) - set(self.jobs):
            scheduler.remove_job(job_id)
        for spec in self.jobs.values():
            trigger = parse_schedule(spec.schedule(self.settings))
            # None: however late (a daily training missed across an outage was skipped for
            # the day, without a record; coalesced, a missed job runs once)
            grace = None if spec.catch_up else self.settings.scheduler_misfire_grace_seconds
            existing = stored.get(spec.id)
            if existing is not None and str(existing.trigger) == str(trigger):
                # same schedule: keep its next run time (a restart must not skip it)
                if existing.misfire_grace_time != grace:
                    scheduler.modify_job(spec.id, misfire_grace_time=grace)
                continue
            scheduler.add_job(
                run_job,
                trigger=trigger,
                args=[spec.id],
                id=spec.id,
                name=spec.id,
                replace_existing=True,
                misfire_grace_time=grace,
            )
