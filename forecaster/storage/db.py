"""Engine, sessions and start-up migrations for SQLite (default) and PostgreSQL (psycopg 3).

Every entry point (API, CLI, worker, tests) builds a :class:`Database` and calls
:meth:`Database.migrate`, which runs ``alembic upgrade head``; nothing uses ``create_all``.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

import migrations
from forecaster.errors import ConfigurationError
from forecaster.storage.failures import classify, stored_json

MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent
# PostgreSQL: how long a migration waits for a table lock before start-up gives up
MIGRATION_LOCK_TIMEOUT_SECONDS = 10.0
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's lock_not_available (what lock_timeout raises)
_IN_MEMORY_LOCKS: dict[str, threading.Lock] = {}  # an in-memory database's, per purpose


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _enable_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str, pool_timeout: float | None = None) -> Engine:
    """An engine with sane pool and dialect settings for either database. ``pool_timeout``:
    how long a checkout waits when every pooled connection is busy (None: SQLAlchemy's 30 s,
    for commands and jobs, which may wait; the API passes its setting, and fails fast)."""
    url = normalise_url(url)
    waits = _pool_waits(url, pool_timeout)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            json_deserializer=stored_json,
            **waits,
        )
        event.listen(engine, "connect", _enable_sqlite_pragmas)
        return engine
    engine = create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        json_deserializer=stored_json,
        **waits,
    )
    event.listen(engine, "connect", _detect_lost_peers)
    return engine


def _pool_waits(url: str, pool_timeout: float | None) -> dict[str, float]:
    """``create_engine``'s pool timeout, for a pool that queues checkouts: an in-memory SQLite
    database has one connection per thread, and such a pool refuses the argument."""
    parsed = make_url(url)
    dialect = cast("type[DefaultDialect]", parsed.get_dialect())
    queues = issubclass(dialect.get_pool_class(parsed), QueuePool)
    return {"pool_timeout": pool_timeout} if pool_timeout is not None and queues else {}


def advisory_key(name: str) -> int:
    """A stable, positive 62-bit PostgreSQL advisory-lock key for ``name`` (fits pg_locks
    arithmetic)."""
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 62) - 1)


def hold_until_commit(executor: Connection | Session, name: str) -> None:
    """Wait for PostgreSQL's advisory lock ``name``, then hold it until the transaction ends:
    what it guards runs in one process at a time."""
    executor.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key(name)})


def write_lock_now(session: Session) -> None:
    """On SQLite, take the database's one write lock now, held until the session's transaction
    ends, so no other writer commits between its reads and its writes: Python's sqlite3 begins
    a transaction only at the first INSERT, UPDATE or DELETE, and reads (or DDL such as
    ``CREATE TABLE ... AS SELECT``) before it ran on their own. PostgreSQL: nothing (lock the
    rows there)."""
    if session.get_bind().dialect.name != "sqlite":
        return
    connection = session.connection()
    driver: Any = connection.connection.dbapi_connection
    if not driver.in_transaction:  # one already begun did so at a write: it holds the lock
        connection.exec_driver_sql("BEGIN IMMEDIATE")


# TCP keepalive probes the server sends each PostgreSQL client: the first after 30 s idle,
# then every 10 s, three unanswered ones end the session (about a minute)
KEEPALIVES = {"idle": 30, "interval": 10, "count": 3}


def _detect_lost_peers(dbapi_connection: Any, _record: Any) -> None:
    """Have the server end a session whose client is gone within about a minute: a leader
    whose node lost power or its network kept the scheduler's advisory lock for the kernel's
    two hours of keepalive silence, and no standby took over meanwhile."""
    with dbapi_connection.cursor() as cursor:
        for name, seconds in KEEPALIVES.items():
            cursor.execute(f"SET tcp_keepalives_{name} = {int(seconds)}")
    dbapi_connection.commit()


def alembic_config(url: str) -> Config:
    """Alembic configuration pointing at the packaged migrations, without an ini file."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


class Database:
    """One database: its engine, a session factory and its migrations."""

    def __init__(self, url: str, pool_timeout: float | None = None) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, pool_timeout)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema up to ``revision`` (start-up runs this with ``head``). A schema
        this code does not know (a newer forecaster migrated it, then was rolled back) stops
        start-up in one line rather than a traceback in every pod."""
        from forecaster.logs import without_password

        try:
            self._run_revisions(command.upgrade, revision)
        except CommandError as error:
            raise ConfigurationError(
                f"database {without_password(self.url)}: {error}: a schema this forecaster does "
                "not know, such as one a newer version migrated; run that version, or restore "
                "a backup taken before the upgrade"
            ) from None
        except OperationalError as error:
            if getattr(error.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                raise
            raise ConfigurationError(
                f"database {without_password(self.url)}: a migration waited over "
                f"{MIGRATION_LOCK_TIMEOUT_SECONDS:g} s for a table another transaction holds (one "
                "left idle in a transaction, a long query): nothing was changed; start again "
                "once it ends"
            ) from None

    def downgrade(self, revision: str = "base") -> None:
        """Take the schema down to ``revision`` (used by migration tests)."""
        self._run_revisions(command.downgrade, revision)

    def _run_revisions(self, step: Callable[[Config, str], None], revision: str) -> None:
        """Run Alembic's ``step`` to ``revision`` in one transaction on one of our connections.

        On SQLite, without foreign key enforcement while it runs (as on Alembic's own command
        line): a batch migration recreates a table, and with enforcement on, dropping the old
        table cascaded deletes into its children (every forecast's points, every plan's steps).
        The pragma only takes effect outside a transaction, so it is set before one begins.
        """
        with self._connect_at_start_up() as connection, self._migrating_alone():
            if self.is_sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
                connection.commit()
            try:
                with connection.begin():
                    if not self.is_sqlite:
                        hold_until_commit(connection, "forecaster-migrate")
                        # a table change waiting on a transaction left open queues every
                        # later read of that table behind it: give up, and say so, instead
                        seconds = MIGRATION_LOCK_TIMEOUT_SECONDS
                        connection.exec_driver_sql(
                            f"SET LOCAL lock_timeout = '{seconds * 1000:.0f}ms'"
                        )
                    config = alembic_config(self.url)
                    config.attributes["connection"] = connection
                    step(config, revision)
            finally:
                if self.is_sqlite:
                    connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                    connection.commit()

    @contextmanager
    def _migrating_alone(self) -> Iterator[None]:
        """One process migrates at a time; the others wait, then find the schema at head.
        Replicas started together had each run the migrations, and all but one crashed on the
        tables the first had just made (on PostgreSQL an advisory lock in the migration's
        transaction does it; on SQLite, whose DDL does not wait for a transaction, a lock file
        beside the database)."""
        if not self.is_sqlite:
            yield
            return
        with self._file_lock("migrate"):
            yield

    @contextmanager
    def one_at_a_time(self, name: str) -> Iterator[None]:
        """Run the block while holding the lock ``name``, waiting for it, across processes
        and threads: on PostgreSQL a session-level advisory lock on a connection of its own
        (a holder that dies frees it), on SQLite an exclusive lock on a file beside the
        database (one for every name: SQLite serves one node, and what it guards is short)."""
        if self.is_sqlite:
            with self._file_lock("exclusive"):
                yield
            return
        key = {"key": advisory_key(f"forecaster:{name}")}
        with self.engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), key)
            connection.commit()  # session-level: it outlives the transaction
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), key)
                connection.commit()

    def lock_path(self, purpose: str) -> Path | None:
        """``<database>.<purpose>.lock`` beside a SQLite file, from the file's real path: a
        process reaching it through a symlink had locked another file, and two schedulers
        led at once. None for an in-memory database."""
        name = self.engine.url.database
        if not name or name == ":memory:":
            return None
        return Path(f"{os.path.realpath(name)}.{purpose}.lock")

    @contextmanager
    def _file_lock(self, purpose: str) -> Iterator[None]:
        """An exclusive flock on ``<database>.<purpose>.lock`` while the block runs (flocks
        of separate opens exclude each other within one process too); an in-memory
        database, or a read-only folder where nothing can change, needs none."""
        path = self.lock_path(purpose)
        if path is None:
            with _IN_MEMORY_LOCKS.setdefault(purpose, threading.Lock()):
                yield
            return
        try:
            handle = path.open("a")
        except OSError:
            yield
            return
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
            yield

    def _connect_at_start_up(self) -> Connection:
        """A connection for the start-up migration; ConfigurationError in one line when the
        database cannot be reached (down, wrong host or credentials, a SQLite file in a folder
        that does not exist), not a driver traceback, with the fix of one no retry mends (a
        damaged file: SQLite reads its header as a connection opens)."""
        from forecaster.logs import without_password

        try:
            return self.engine.connect()
        except DBAPIError as error:
            reason = " ".join(str(error.orig or error).split()) + self._sqlite_folder_problem()
            if (failure := classify(error)) is not None and failure.fix is not None:
                reason = f"{reason}; {failure.fix}"
            raise ConfigurationError(
                f"cannot connect to the database {without_password(self.url)} "
                f"(FORECASTER_DATABASE_URL): {reason}"
            ) from None

    def _sqlite_folder_problem(self) -> str:
        """Why SQLite could not open its file, which its own words ("unable to open database
        file") leave open: the folder is missing, or not writable."""
        name = self.engine.url.database
        if not self.is_sqlite or not name or name == ":memory:":
            return ""
        folder = Path(name).resolve().parent
        if not folder.is_dir():
            return f" (the folder {folder} does not exist)"
        if not os.access(folder, os.W_OK):
            return f" (the folder {folder} is not writable by this process)"
        return ""

    def at_head(self) -> bool:
        """Whether the schema is at the newest revision."""
        return self.schema_problem() is None

    def schema_problem(self) -> tuple[str, str] | None:
        """Why the schema is not at the newest revision this code knows, as ``(status,
        reason)``, or None when it is (``/readyz`` says it): ``migrating`` while it is still
        to migrate, ``unknown_schema`` when a newer forecaster migrated it."""
        scripts = ScriptDirectory.from_config(alembic_config(self.url))
        head = scripts.get_current_head()
        with self.engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
        if current == head:
            return None
        known = {script.revision for script in scripts.walk_revisions()}
        if current is not None and current not in known:
            return "unknown_schema", (
                f"schema at revision {current}, which this version does not know (a newer "
                f"forecaster migrated it; this one's newest is {head}): run that version"
            )
        return "migrating", f"schema at revision {current or 'none'}, not yet at {head}: migrating"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success and rolled back on any error: all or nothing."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def open_database(url: str) -> Iterator[Database]:
    """A migrated database for one command or job, disposed of afterwards."""
    database = Database(url)
    try:
        database.migrate()
        yield database
    finally:
        database.dispose()
