"""The job scheduler in one process: job store in our database, jobs recorded, clean stop."""

from __future__ import annotations

import logging
import pickle
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import inspect, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from forecaster.jobs import scheduler as scheduler_module
from forecaster.jobs import tasks
from forecaster.jobs.leader import LeaderLock
from forecaster.jobs.registry import JOBS, JobSpec
from forecaster.jobs.scheduler import (
    JOBSTORE_RETRY_SECONDS,
    TABLE,
    JobScheduler,
    SharedEngineJobStore,
)
from forecaster.jobs.triggers import (
    actuation_gap_problem,
    crontab_weekdays,
    longest_gap_seconds,
    parse_schedule,
)
from forecaster.leadership import check_leading
from forecaster.settings import Settings
from forecaster.storage import jobs
from forecaster.storage.db import Database
from forecaster.storage.jobs import ABANDONED, SHUT_DOWN, list_job_runs, recorded_job
from forecaster.storage.orm import Base, JobRun
from tests.helpers import live_server, lose_lock


def tick(database: Database, _settings: Settings) -> None:
    with recorded_job(database.sessions, "tick"):
        pass


def spec(schedule: str, job_id: str = "tick") -> JobSpec:
    return JobSpec(job_id, tick, lambda _s: schedule)


@pytest.fixture
def quick(settings: Settings) -> Settings:
    return settings.model_copy(update={"scheduler_lock_retry_seconds": 0.2})


@pytest.fixture
def start(database: Database, quick: Settings) -> Iterator[Callable[..., JobScheduler]]:
    running: list[JobScheduler] = []

    def make(*jobs: JobSpec) -> JobScheduler:
        scheduler = JobScheduler(database, quick, jobs, lease_check_seconds=0.2)
        scheduler.start()
        running.append(scheduler)
        assert scheduler.wait_until_leader(30)
        return scheduler

    yield make
    for scheduler in running:
        scheduler.stop()


def stored_jobs(database: Database) -> dict[str, float | None]:
    table = Base.metadata.tables.get(TABLE)
    assert table is None  # not an ORM table: read it by reflection
    with database.engine.connect() as connection:
        rows = connection.exec_driver_sql(f"SELECT id, next_run_time FROM {TABLE}").all()
    return {row[0]: row[1] for row in rows}


def ok_ticks(database: Database) -> list[JobRun]:
    with database.session() as session:
        return [r for r in list_job_runs(session=session, job="tick") if r.status == "ok"]


def wait_for_ticks(database: Database, count: int, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(ok_ticks(database)) >= count:
            return True
        time.sleep(0.1)
    return False


def test_jobs_run_from_the_store_in_our_database_without_new_tables(
    database: Database, start: Callable[..., JobScheduler]
) -> None:
    tables = set(inspect(database.engine).get_table_names())
    scheduler = start(spec("every 0.3s"))
    assert wait_for_ticks(database, 2)
    assert set(stored_jobs(database)) == {"tick"}
    assert set(inspect(database.engine).get_table_names()) == tables
    assert database.at_head()
    scheduler.stop()
    assert not scheduler.is_leader and not scheduler.lock.held


def test_a_job_store_error_in_the_middle_of_a_round_does_not_stop_the_jobs(
    database: Database, start: Callable[..., JobScheduler], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dropped connection (or SQLite busy past its timeout, or "too many clients") once the
    due jobs are read used to end APScheduler's loop thread: the process stayed the leader,
    with its lock, and no job ran again."""
    broken = threading.Event()
    real = SharedEngineJobStore.get_next_run_time

    def flaky(store: SharedEngineJobStore) -> object:
        if broken.is_set():
            broken.clear()
            raise OperationalError("SELECT next_run_time", {}, Exception("connection lost"))
        return real(store)

    monkeypatch.setattr(SharedEngineJobStore, "get_next_run_time", flaky)
    start(spec("every 0.3s"))
    assert wait_for_ticks(database, 1)
    broken.set()
    ticks = len(ok_ticks(database))
    assert wait_for_ticks(database, ticks + 2, timeout=JOBSTORE_RETRY_SECONDS + 20)
    assert not broken.is_set()


def test_runs_a_previous_leader_left_running_are_closed_by_the_next(
    database: Database, start: Callable[..., JobScheduler]
) -> None:
    """A leader killed mid-training (or that lost the database as a run ended) never recorded
    the end of its run: it read "running" at GET /v1/jobs forever, and pruning keeps it."""
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    with database.session() as session:
        session.add(JobRun(job="train", status="running", started_at=long_ago))
        # an on-demand training another replica is running: its heartbeat is renewed
        session.add(
            JobRun(
                job="train",
                status="running",
                started_at=long_ago,
                heartbeat_at=datetime.now(UTC),
                service="busy",
            )
        )
    start(spec("every 1h"))
    with database.session() as session:
        left, going = sorted(list_job_runs(session=session, job="train"), key=lambda r: r.id)
        assert (left.status, left.message) == ("failed", ABANDONED)
        assert left.finished_at is not None
        assert (going.status, going.finished_at) == ("running", None)


def test_the_leader_closes_runs_whose_process_stops_while_it_leads(
    database: Database, start: Callable[..., JobScheduler], monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA: a replica killed during an on-demand training left its run "running" for as long as
    the leader did not change. The leader now sweeps for runs whose heartbeat stopped."""
    monkeypatch.setattr(jobs, "HEARTBEAT_SECONDS", 0.2)  # stale after 0.8 s
    start(spec("every 1h"))
    now = datetime.now(UTC)
    with database.session() as session:
        session.add(JobRun(job="train", status="running", service="killed", heartbeat_at=now))
        later = now + timedelta(hours=1)  # one whose process renews it, in effect
        session.add(JobRun(job="train", status="running", service="alive", heartbeat_at=later))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with database.session() as session:
            runs = {r.service: r for r in list_job_runs(session=session, job="train")}
        if runs["killed"].status == "failed":
            break
        time.sleep(0.1)
    assert (runs["killed"].status, runs["killed"].message) == ("failed", ABANDONED)
    assert runs["alive"].status == "running"


def test_a_process_renews_the_heartbeat_of_the_runs_it_has_open(database: Database) -> None:
    def heartbeats() -> dict[str | None, datetime | None]:
        with database.session() as session:
            return {r.service: r.heartbeat_at for r in list_job_runs(session=session)}

    with (
        recorded_job(database.sessions, "train", "open"),
        recorded_job(database.sessions, "train", "closed"),
    ):
        with database.sessions.begin() as session:  # a leader took "closed" for abandoned
            session.execute(
                update(JobRun).where(JobRun.service == "closed").values(status="failed")
            )
        before = heartbeats()
        time.sleep(0.01)
        jobs.renew_heartbeats()
        after = heartbeats()
    assert after["open"] > before["open"]
    assert after["closed"] == before["closed"]


class HeldRenewal(sessionmaker[Session]):
    """A run's sessions whose heartbeat renewal, on the thread ``holds``, stops where it
    would start writing until ``go``: as a renewal that had read the run just as it ended."""

    def __init__(self, database: Database) -> None:
        super().__init__(database.engine, expire_on_commit=False)
        self.holds: threading.Thread | None = None
        self.reached, self.go = threading.Event(), threading.Event()

    def begin(self) -> AbstractContextManager[Session]:
        if threading.current_thread() is self.holds:
            self.reached.set()
            assert self.go.wait(30)
        return super().begin()


def test_a_run_ends_after_a_heartbeat_renewing_it_so_its_engine_keeps_no_connection(
    database: Database,
) -> None:
    """CI: a renewal that had read a run just before it ended wrote through its sessions
    after the test had disposed of their engine; the connection it opened on the fresh pool
    stayed open until the garbage collector warned, in a later test (ResourceWarning). The
    end of the run now waits for the renewal."""
    sessions = HeldRenewal(database)
    running, end, disposed = threading.Event(), threading.Event(), threading.Event()

    def job_then_teardown() -> None:
        with recorded_job(sessions, "train", "chat"):
            running.set()
            assert end.wait(30)
        database.dispose()
        disposed.set()

    owner = threading.Thread(target=job_then_teardown)
    sessions.holds = threading.Thread(target=jobs.renew_heartbeats)
    owner.start()
    assert running.wait(30)
    sessions.holds.start()
    assert sessions.reached.wait(30)
    end.set()
    disposed.wait(0.5)  # the run ends and its engine is disposed of at once, unless it waits
    sessions.go.set()
    sessions.holds.join(30)
    owner.join(30)
    assert disposed.is_set()
    assert database.engine.pool.checkedin() == 0


def test_a_renewal_stuck_on_its_database_holds_up_the_end_of_other_runs_only_so_long(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A renewal waits on its database as long as the database makes it (a PostgreSQL
    connection half-open after a failover: the kernel's quarter of an hour), and every run's
    end in the process waited for it: runs that had finished stayed running in the
    scheduler's count, and a shutdown marked them stopped. The end waits a bounded time."""
    monkeypatch.setattr(jobs, "RENEWAL_WAIT_SECONDS", 0.2)
    stuck = HeldRenewal(database)
    running, end = threading.Event(), threading.Event()

    def held_run() -> None:
        with recorded_job(stuck, "train", "chat"):
            running.set()
            assert end.wait(30)

    owner = threading.Thread(target=held_run)
    stuck.holds = threading.Thread(target=jobs.renew_heartbeats)
    owner.start()
    assert running.wait(30)
    stuck.holds.start()
    assert stuck.reached.wait(30)
    release = threading.Timer(5, stuck.go.set)  # what the old code waited for
    release.start()
    try:
        started = time.monotonic()
        with recorded_job(database.sessions, "tick"):
            pass
        took = time.monotonic() - started
    finally:
        stuck.go.set()
        release.cancel()
        end.set()
        stuck.holds.join(30)
        owner.join(30)
    assert took < 3
    assert len(ok_ticks(database)) == 1


def test_a_job_the_pool_starts_after_the_stop_does_not_run(
    database: Database, start: Callable[..., JobScheduler]
) -> None:
    """A job APScheduler had handed to its pool, still queued or just taken, as the leader
    stopped was not waited for: it ran after the lock was released, and after the engine
    was disposed of (a connection left open on the fresh pool). It is skipped."""
    scheduler = start(spec("every 1h"))
    scheduler.stop()
    scheduler.run("tick", term=1)  # what the pool's thread does with it, too late
    assert ok_ticks(database) == []


class Hold(logging.Filter):
    """Holds the first thread that logs a line containing ``line`` there, until ``go``: a
    point in another thread's work (ours or APScheduler's), reached and held without changing
    the code under test."""

    def __init__(self, line: str) -> None:
        super().__init__()
        self.line = line
        self.reached, self.go = threading.Event(), threading.Event()

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.reached.is_set() and self.line in record.getMessage():
            self.reached.set()
            assert self.go.wait(30)
        return True


@contextmanager
def held_at(logger: str, line: str) -> Iterator[Hold]:
    """:class:`Hold` on ``logger``'s records (at INFO and above), let go on the way out."""
    hold, target = Hold(line), logging.getLogger(logger)
    level = target.level
    target.setLevel(logging.INFO)
    target.addFilter(hold)
    try:
        yield hold
    finally:
        hold.go.set()
        target.removeFilter(hold)
        target.setLevel(level)


def test_once_a_stop_has_begun_no_term_and_no_job_starts(
    database: Database, quick: Settings
) -> None:
    """A stop while the process had taken the lock but not yet begun leading (it closes
    abandoned runs and registers the jobs first) did not win: the term began and its jobs
    could start after stop() had begun, and, once stop() stopped waiting for the scheduler's
    thread, after it had returned."""
    scheduler = JobScheduler(database, quick, [spec("every 0.1s")], lease_check_seconds=0.2)
    try:
        with held_at("forecaster.jobs.scheduler", "this process leads") as lead:
            scheduler.start()
            assert lead.reached.wait(30)  # the lock is taken; the term has not begun
            # the held thread outlasts the wait: not a finished stop (it said True, and the
            # worker disposed of the engine under a thread that could still write)
            assert not scheduler.stop(timeout=0.2)
        assert scheduler.stop()  # the thread goes on from where it was held, and ends
        assert scheduler.terms == 0 and not scheduler.is_leader and not scheduler.lock.held
        assert ok_ticks(database) == []
    finally:
        scheduler.stop()


def test_a_job_queued_in_a_term_that_ended_does_not_run_in_the_next(
    database: Database, quick: Settings
) -> None:
    """A job queued behind a busy pool thread when the lock was lost was started by that
    thread once it was free; if the process led again by then, it ran in the new term,
    late and beside the new term's own runs of it. A job runs only in the term it was
    queued in."""
    busy, done = threading.Event(), threading.Event()
    old_pool: list[threading.Thread] = []
    ticked_on: list[threading.Thread] = []

    def first_run_waits(_database: Database, _settings: Settings) -> None:
        if not old_pool:
            old_pool.append(threading.current_thread())
            busy.set()
            assert done.wait(30)

    def tick_on(database: Database, settings: Settings) -> None:
        ticked_on.append(threading.current_thread())
        tick(database, settings)

    one_thread = quick.model_copy(update={"scheduler_threads": 1})
    jobs = [
        JobSpec("busy", first_run_waits, lambda _s: "every 0.2s"),
        JobSpec("tick", tick_on, lambda _s: "every 0.2s"),
    ]
    scheduler = JobScheduler(database, one_thread, jobs, lease_check_seconds=0.2)
    scheduler.start()
    try:
        assert busy.wait(30)
        with held_at("apscheduler.scheduler", 'Execution of job "tick ') as skipped:
            skipped.go.set()
            assert skipped.reached.wait(30)  # a tick is queued behind the busy thread
        before = len(ticked_on)
        with held_at("apscheduler.executors.default", 'Job "busy ') as freed:
            lose_lock(database, scheduler.lock)
            deadline = time.monotonic() + 30
            while scheduler.is_leader and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not scheduler.is_leader  # term 1 has ended: it waits for the busy job
            done.set()
            assert freed.reached.wait(30)  # which has run; its thread is held before the tick
            while scheduler.terms < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert scheduler.wait_until_leader(30) and scheduler.terms == 2
        old_pool[0].join(30)  # the old pool's thread takes the queued tick, then ends
        assert not old_pool[0].is_alive()
        assert old_pool[0] not in ticked_on[before:]
    finally:
        done.set()
        scheduler.stop()


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return predicate()


def test_a_job_that_ignores_a_lost_lock_does_not_keep_the_process_from_leading_again(
    database: Database, quick: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """A job that checks nothing for a while (a fit inside a library call) was waited for
    without end once the lock was lost: the process never contended again, and led nothing
    even once the new leader had died. It is waited for the grace, named, and left behind;
    when it gets to its check it stores nothing, though its process leads again, in a later
    term than its own."""
    grace = 0.5
    stuck, release, ended = threading.Event(), threading.Event(), threading.Event()
    stuck_term: list[int] = []

    def fit_checking_nothing(database: Database, settings: Settings) -> None:
        if stuck.is_set():  # later runs: the jobs of whichever term leads
            tick(database, settings)
            return
        stuck.set()
        stuck_term.append(scheduler_module._pool.term)
        try:
            with recorded_job(database.sessions, "train"):
                assert release.wait(60)
                check_leading(1, 1, finishing=True)  # storing the fit made
        finally:
            ended.set()

    caplog.set_level("WARNING", logger="forecaster.jobs.scheduler")
    scheduler = JobScheduler(
        database,
        quick.model_copy(update={"scheduler_stop_grace_seconds": grace}),
        [JobSpec("fit", fit_checking_nothing, lambda _s: "every 0.2s")],
        lease_check_seconds=0.2,
    )
    other = LeaderLock(database)
    scheduler.start()
    try:
        assert stuck.wait(30)
        _lead_lost_with_a_job_left_behind(database, scheduler, other, caplog, "fit", grace)
        assert not scheduler.is_leader
        other.release()  # the other leader dies
        assert wait_until(lambda: scheduler.terms == 2, grace + 10)
        assert scheduler.wait_until_leader(30) and wait_for_ticks(database, 1)
        assert not ended.is_set() and stuck_term == [1]  # the old job is still there
        release.set()
        assert ended.wait(30)
        with database.session() as session:
            (fit,) = list_job_runs(session=session, job="train")
        assert fit.status == "failed" and "leadership lost" in (fit.message or "")
        assert scheduler.terms == 2 and scheduler.is_leader
    finally:
        release.set()
        other.release()
        scheduler.stop()


def _lead_lost_with_a_job_left_behind(
    database: Database,
    scheduler: JobScheduler,
    other: LeaderLock,
    caplog: pytest.LogCaptureFixture,
    job: str,
    grace: float,
) -> None:
    """The scheduler loses its lock to ``other`` while ``job`` of term 1 is stuck: after the
    grace, the job still running is named in a warning, and no longer waited for."""
    with held_at("forecaster.jobs.scheduler", "lost the scheduler lock") as lost:
        lose_lock(database, scheduler.lock)
        assert lost.reached.wait(30)
        assert other.try_acquire()  # another process leads
    assert wait_until(
        lambda: any(f"{job} (term 1)" in r.getMessage() for r in caplog.records), grace + 10
    ), f"{job}, still running after the grace, is named and no longer waited for"


def test_a_training_pass_left_behind_does_not_hold_up_the_next_terms_training(
    database: Database,
    quick: Settings,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A training pass left behind when the lock was lost (a fit inside a library call)
    held the process's one training-pass lock: once the process led again, its scheduled
    training waited for that fit, however long, whose results its term's end had already
    thrown away. The lock is the term's: the next term trains while the old pass is stuck."""
    grace = 0.5
    stuck, release = threading.Event(), threading.Event()
    passes: list[int] = []  # the term of each pass that got past the lock, in order

    def fit_checking_nothing(
        _database: Database, _names: object, _settings: Settings, _noted: object
    ) -> None:
        passes.append(scheduler_module._pool.term)
        if len(passes) == 1:
            stuck.set()
            assert release.wait(60)

    monkeypatch.setattr(tasks, "train_pass", fit_checking_nothing)
    caplog.set_level("WARNING", logger="forecaster.jobs.scheduler")
    scheduler = JobScheduler(
        database,
        quick.model_copy(update={"scheduler_stop_grace_seconds": grace}),
        [JobSpec("train", tasks.train_all, lambda _s: "every 0.2s")],
        lease_check_seconds=0.2,
    )
    other = LeaderLock(database)
    scheduler.start()
    try:
        assert stuck.wait(30)
        _lead_lost_with_a_job_left_behind(database, scheduler, other, caplog, "train", grace)
        other.release()  # the other leader dies: this process leads again
        assert wait_until(lambda: scheduler.terms == 2, grace + 10)
        assert wait_until(lambda: 2 in passes, 10), "term 2's training waited for term 1's"
        assert passes[0] == 1 and not release.is_set()  # the old pass is still stuck
    finally:
        release.set()
        other.release()
        scheduler.stop()


def test_a_restart_keeps_next_run_times_and_the_store_follows_the_job_list(
    database: Database, start: Callable[..., JobScheduler]
) -> None:
    start(spec("every 1h"), spec("0 3 * * *", "other")).stop()
    before = stored_jobs(database)
    time.sleep(1.1)
    start(spec("every 1h")).stop()  # same schedule: kept; "other" is no longer listed: removed
    after = stored_jobs(database)
    assert after == {"tick": before["tick"]}
    start(spec("every 2h")).stop()  # a changed schedule is replaced
    assert stored_jobs(database)["tick"] != before["tick"]


def stored_graces(database: Database) -> dict[str, float | None]:
    """Each stored job's misfire grace (None: it runs however late)."""
    with database.engine.connect() as connection:
        rows = connection.exec_driver_sql(f"SELECT id, job_state FROM {TABLE}").all()
    return {row[0]: pickle.loads(row[1])["misfire_grace_time"] for row in rows}


def test_a_daily_job_missed_while_no_process_led_runs_however_late(
    database: Database, start: Callable[..., JobScheduler], quick: Settings
) -> None:
    """QA: workers down across 03:00 for more than the 5-minute grace: the day's training was
    skipped ("missed by"), with no run recorded and nothing to resume. Daily jobs catch up;
    one stored before keeps its next run time and gets the new grace."""
    start(spec("0 3 * * *", "daily"), spec("every 5m")).stop()
    before = stored_jobs(database)
    daily = replace(spec("0 3 * * *", "daily"), catch_up=True)
    start(daily, spec("every 5m")).stop()
    assert stored_graces(database) == {
        "daily": None,
        "tick": quick.scheduler_misfire_grace_seconds,
    }
    assert stored_jobs(database)["daily"] == before["daily"]
    assert {job.id for job in JOBS if job.catch_up} == {"train", "retention"}


def test_default_jobs_train_forecast_actuate_pull_and_roll_up(
    database: Database, quick: Settings
) -> None:
    scheduler = JobScheduler(database, quick)
    scheduler.start()
    try:
        assert scheduler.wait_until_leader(30)
        assert set(stored_jobs(database)) == {
            "actuate",
            "forecast",
            "train",
            "train-resume",
            "pull",
            "retention",
        }
    finally:
        scheduler.stop()


def test_only_one_scheduler_per_process(
    database: Database, start: Callable[..., JobScheduler], quick: Settings
) -> None:
    start(spec("every 1h"))
    with pytest.raises(RuntimeError, match="already running"):
        JobScheduler(database, quick).start()


def test_the_lock_admits_one_holder(database: Database) -> None:
    first, second = LeaderLock(database), LeaderLock(database)
    try:
        assert first.try_acquire()
        assert not second.try_acquire()
        assert first.still_held()
        first.release()
        assert second.try_acquire()
        assert not first.try_acquire()
    finally:
        first.release()
        second.release()


def test_a_sqlite_file_reached_through_a_symlink_has_one_leader(tmp_path: Path) -> None:
    """QA: the lock file was named from the URL as written, so a worker given the database
    through a symlink locked a file of its own, and two schedulers pushed to the same HPA."""
    real = Database(f"sqlite:///{tmp_path / 'forecaster.db'}")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "forecaster.db").symlink_to(tmp_path / "forecaster.db")
    linked = Database(f"sqlite:///{tmp_path / 'elsewhere' / 'forecaster.db'}")
    first, second = LeaderLock(real), LeaderLock(linked)
    try:
        assert first.try_acquire()
        assert not second.try_acquire()
    finally:
        first.release()
        second.release()
        real.dispose()
        linked.dispose()


def test_a_database_that_stays_down_gives_one_traceback_not_one_a_retry(
    database: Database,
    quick: Settings,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """QA: with the database away, every retry of the lock (every 2 s there) logged a full
    traceback. The first does; the rest say it is still so, in one line."""
    caplog.set_level("INFO", logger="forecaster.jobs.scheduler")
    down = OperationalError("SELECT 1", {}, Exception("connection refused"))

    def refused(_lock: LeaderLock) -> bool:
        raise down

    monkeypatch.setattr(LeaderLock, "try_acquire", refused)
    scheduler = JobScheduler(database, quick, [spec("every 1h")], lease_check_seconds=0.2)
    try:
        scheduler.start()
        assert not scheduler.wait_until_leader(1.0)  # five tries of the lock
    finally:
        scheduler.stop()
    failures = [r for r in caplog.records if "scheduler lock" in r.message]
    assert len(failures) >= 3
    assert [r.exc_info is not None for r in failures] == [True] + [False] * (len(failures) - 1)
    assert "still cannot take the scheduler lock: " in failures[1].message


def test_a_standby_says_so_once_and_leads_when_the_lock_is_free(
    database: Database, quick: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """A standby that logged nothing could not be told from a broken process."""
    caplog.set_level("INFO", logger="forecaster.jobs.scheduler")
    holder = LeaderLock(database)
    assert holder.try_acquire()
    scheduler = JobScheduler(database, quick, [spec("every 1h")], lease_check_seconds=0.2)
    try:
        scheduler.start()
        assert not scheduler.wait_until_leader(1.0)  # five tries of the lock
        standing_by = [r for r in caplog.records if "standing by, trying the lock" in r.message]
        assert len(standing_by) == 1
        holder.release()
        assert scheduler.wait_until_leader(30)
    finally:
        scheduler.stop()
        holder.release()


def test_serve_with_scheduler_starts_and_stops_it_in_the_lifespan(
    database: Database, quick: Settings
) -> None:
    app = create_app(quick.model_copy(update={"run_scheduler": True}), database)
    with live_server(app) as base:
        assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
        scheduler = app.state.scheduler
        assert isinstance(scheduler, JobScheduler) and scheduler.wait_until_leader(30)
        assert set(stored_jobs(database)) == {job.id for job in JOBS}
    assert not scheduler.is_leader and not scheduler.lock.held  # stopped with the server
    other = LeaderLock(database)
    assert other.try_acquire()  # and the lock was released
    other.release()


def test_longest_gap_between_runs_of_a_schedule() -> None:
    assert longest_gap_seconds("*/5 * * * *") == 300
    assert longest_gap_seconds("every 15min") == 900
    assert longest_gap_seconds("0 3 * * *") == 86_400
    # Friday 23:55 to Monday 00:00, from whichever day the look starts (it looked eight days
    # ahead, so from a Saturday or a Sunday it missed the weekend: a test that failed on Sundays)
    sunday = datetime(2026, 12, 6, 0, 1, tzinfo=UTC)
    for day in range(7):
        start = sunday + timedelta(days=day, hours=3 * day)
        assert longest_gap_seconds("*/5 * * * 1-5", start) == 2 * 86_400 + 300
    # a day of the month or a month waits weeks, past the fifteen days looked at run by run
    # (found by a QA pass: these read as 300 s and 0, and the worker started without a word)
    assert longest_gap_seconds("*/5 * 20 * *", sunday) > 27 * 86_400
    assert longest_gap_seconds("*/5 * * 1 *", sunday) > 300 * 86_400
    assert longest_gap_seconds("*/5 * 31 * *", sunday) > 30 * 86_400


def test_crontab_weekdays_count_from_sunday() -> None:
    """APScheduler 3 numbers weekdays from Monday: its from_crontab ran "1-5" Tuesday to
    Saturday. A crontab line means what cron means by it."""
    sunday = datetime(2026, 12, 6, 0, 1, tzinfo=UTC)
    weekdays = parse_schedule("0 9 * * 1-5")
    fires, fire = [], weekdays.get_next_fire_time(None, sunday)
    while fire is not None and len(fires) < 6:
        fires.append(fire.strftime("%a"))
        fire = weekdays.get_next_fire_time(fire, fire + timedelta(seconds=1))
    assert fires == ["Mon", "Tue", "Wed", "Thu", "Fri", "Mon"]
    assert crontab_weekdays("0,7") == "sun,sun" and crontab_weekdays("*/3") == "sun,wed,sat"
    assert crontab_weekdays("mon-fri") == "mon-fri"
    with pytest.raises(ValueError, match="use 0-7"):
        parse_schedule("0 9 * * 8")


def test_an_actuate_schedule_sparser_than_each_push_covers_is_warned_about(
    database: Database, quick: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    assert actuation_gap_problem("*/5 * * * *", 300) is None
    sparse = quick.model_copy(update={"actuate_schedule": "*/10 * * * *"})
    scheduler = JobScheduler(database, sparse, [spec("every 1h", "actuate")])
    with caplog.at_level("WARNING", logger="forecaster.jobs.scheduler"):
        scheduler.start()
        scheduler.stop()
    warned = [r.getMessage() for r in caplog.records if "waits up to 600s" in r.getMessage()]
    assert warned and "FORECASTER_ACTUATION_INTERVAL_SECONDS=300s" in warned[0]


def test_schedules_are_validated_with_clear_messages() -> None:
    assert "cron" in str(parse_schedule("*/5 * * * *")).lower()
    assert "interval" in str(parse_schedule("every 15min")).lower()
    with pytest.raises(ValueError, match="five fields"):
        parse_schedule("*/5 * * *")
    with pytest.raises(ValueError, match="cannot read duration"):
        parse_schedule("every fortnight")
    with pytest.raises(ValueError, match="every now and then"):
        Settings(actuate_schedule="every now and then")
    with pytest.raises(ValueError):
        Settings(train_schedule="61 * * * *")
    with pytest.raises(ValueError, match="cannot read duration"):
        Settings(pull_schedule="every blue moon")


@pytest.mark.postgres
def test_a_leader_whose_lock_connection_dies_stops_and_leads_again(
    postgres_schema_url: str,
) -> None:
    database = Database(postgres_schema_url)
    database.migrate()
    settings = Settings(database_url=postgres_schema_url, scheduler_lock_retry_seconds=0.2)
    scheduler = JobScheduler(database, settings, [spec("every 1h")], lease_check_seconds=0.2)
    scheduler.start()
    try:
        assert scheduler.wait_until_leader(30)
        assert scheduler.terms == 1
        key = scheduler.lock._key
        with database.engine.connect() as admin:
            pid = admin.execute(
                text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 "
                    "AND ((classid::bigint << 32) | objid::bigint) = :key"
                ),
                {"key": key},
            ).scalar_one()
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        # polling is_leader could miss a short gap on a loaded machine: count terms instead
        deadline = time.monotonic() + 30
        while scheduler.terms < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert scheduler.terms == 2, "the leader noticed it lost its lock and led again"
        assert scheduler.wait_until_leader(30)
    finally:
        scheduler.stop()
        database.dispose()


def test_sigterm_stops_passes_promptly_and_closes_a_run_past_the_grace(
    database: Database, quick: Settings
) -> None:
    """A stop (SIGTERM) waited for every running job: a training fit of minutes kept the
    process past the 30 s Kubernetes gives it, and the kill left its run "running" until some
    leader started again. A pass now ends at its next service; a job still inside one after
    the grace has its run marked failed, and the lock is free for a standby at once."""
    fitting, release = threading.Event(), threading.Event()

    def long_pass(database: Database, _settings: Settings) -> None:
        with recorded_job(database.sessions, "forecast"):
            for done in range(10_000):
                check_leading(done, 10_000)
                time.sleep(0.01)

    def long_fit(database: Database, _settings: Settings) -> None:
        with recorded_job(database.sessions, "train"):
            fitting.set()
            release.wait(60)  # a fit that checks nothing until it ends
            check_leading(1, 2)

    scheduler = JobScheduler(
        database,
        quick.model_copy(update={"scheduler_stop_grace_seconds": 1.0}),
        [
            JobSpec("forecast", long_pass, lambda _s: "every 0.3s"),
            JobSpec("train", long_fit, lambda _s: "every 0.3s"),
        ],
        lease_check_seconds=0.2,
    )
    scheduler.start()
    try:
        assert fitting.wait(30)
        started = time.monotonic()
        finished = scheduler.stop(timeout=30)
        assert time.monotonic() - started < 10
        assert finished is False
        with database.session() as session:
            runs = {run.job: run for run in list_job_runs(session=session)}
        assert runs["train"].status == "failed" and runs["train"].message == SHUT_DOWN
        assert runs["forecast"].status == "failed"
        assert "the process is shutting down" in (runs["forecast"].message or "")
        other = LeaderLock(database)  # a standby takes over now, not after the fit
        assert other.try_acquire()
        other.release()
    finally:
        release.set()
        assert scheduler.wait_until_idle(30)  # the fit ends at its check, storing nothing more
    with database.session() as session:
        train = list_job_runs(session=session, job="train")[0]
    assert train.status == "failed" and "shutting down" in (train.message or "")
