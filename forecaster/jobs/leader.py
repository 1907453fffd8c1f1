"""Only one process runs the scheduled jobs: the holder of a leader lock.

PostgreSQL: a session-level advisory lock held on a dedicated connection (it goes away with the
connection, so a crashed leader frees it); the key is derived from the schema, so deployments
sharing a database server do not block each other. SQLite: an exclusive ``flock`` on a file
beside the database, so a second worker on the same file stands by instead of doubling jobs.
Jobs check the lock before each service (:mod:`forecaster.leadership`), from their own threads.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from typing import IO

from sqlalchemy import Connection, text

from forecaster.storage.db import Database, advisory_key

log = logging.getLogger(__name__)


class LeaderLock:
    """Try to become the leader, check the lock still holds, let it go."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._connection: Connection | None = None
        self._file: IO[str] | None = None
        self._key: int | None = None
        self._in_memory = False
        self._mutex = threading.Lock()  # jobs' threads check the lock on its one connection

    @property
    def held(self) -> bool:
        return self._connection is not None or self._file is not None or self._in_memory

    def try_acquire(self) -> bool:
        """Take the lock if it is free; never waits."""
        if self.held:
            return True
        if self.database.is_sqlite:
            return self._try_file()
        connection = self.database.engine.connect()
        try:
            scope = connection.execute(text("SELECT current_database() || '.' || current_schema()"))
            self._key = advisory_key(f"forecaster-scheduler:{scope.scalar_one()}")
            got = connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key}
            ).scalar_one()
            connection.commit()  # the lock is session-level: it outlives the transaction
        except Exception:
            connection.invalidate()
            raise
        if not got:
            connection.close()
            return False
        self._connection = connection
        return True

    def still_held(self) -> bool:
        """Whether the lock is still ours (False if the lock connection died or the lock file
        was removed); safe to call from any thread."""
        with self._mutex:
            return self._still_held()

    def _still_held(self) -> bool:
        if self._in_memory:
            return True
        if self._file is not None:
            return self._file_still_ours(self._file)
        if self._connection is None:
            return False
        try:
            count = self._connection.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND pid = pg_backend_pid() "
                    "AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = :key"
                ),
                {"key": self._key},
            ).scalar_one()
            self._connection.commit()
            return bool(count)
        except Exception:  # a dead connection means the lock is gone
            log.exception("leader lock connection failed")
            self._drop_connection()
            return False

    def release(self) -> None:
        """Give the lock up (idempotent)."""
        with self._mutex:
            self._release()

    def _release(self) -> None:
        self._in_memory = False
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        if self._connection is not None:
            try:
                self._connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": self._key}
                )
                self._connection.commit()
                self._connection.close()
            except Exception:  # noqa: BLE001 - closing the session frees the lock anyway
                self._drop_connection()
            self._connection = None

    def _drop_connection(self) -> None:
        if self._connection is not None:
            self._connection.invalidate()
            self._connection.close()
            self._connection = None

    @staticmethod
    def _file_still_ours(handle: IO[str]) -> bool:
        """A flock is never taken away, but its file can be: once the path is deleted or
        replaced, a standby opens a new file there and locks that one."""
        try:
            on_disk = os.stat(handle.name)
        except FileNotFoundError:
            return False
        ours = os.fstat(handle.fileno())
        return (on_disk.st_dev, on_disk.st_ino) == (ours.st_dev, ours.st_ino)

    def _try_file(self) -> bool:
        path = self.database.lock_path("scheduler")
        if path is None:
            self._in_memory = True  # an in-memory database lives in one process anyway
            return True
        handle = path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True
