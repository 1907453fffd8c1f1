"""Whether a database failure passes if the work is tried again (a restart, a failover, a lock
held a moment, every pooled connection busy) or waits for an operator (a schema not migrated, a
file the service cannot write, a full disk, a damaged file, a stored value changed by hand), or
is no failure of the database at all but a mistake in our own SQL. The API's 503, the key
check, ``/metrics`` and the command line word each from :func:`classify`, so a client is not
told to retry what retrying cannot mend.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import (
    DatabaseError,
    InternalError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

MIGRATE = (
    "the schema lacks a table or column this forecaster reads: restart it, as it migrates the "
    "database at start-up (/readyz names the schema's revision), or restore a backup if that "
    "revision is already the newest"
)
READ_ONLY = (
    "the service may not write the database: give the user it runs as write access to the "
    "SQLite file and its folder (or open it read-write)"
)
FULL = "the database's disk is full: free space or grow the volume"
TOO_LARGE = (
    "a statement this needs is beyond SQLite's limits: ask for less at once, or run the "
    "service on PostgreSQL"
)
DAMAGED = (
    "the SQLite file is damaged or is not a SQLite database: check it with "
    "`sqlite3 FILE 'PRAGMA integrity_check'`, then stop the service and restore the file from a "
    "backup (or point FORECASTER_DATABASE_URL at the right file)"
)
DAMAGED_DATA = (
    "a value stored in the database is not in the form this forecaster writes (a row changed "
    "by hand or by another tool): find its row (the README's Security and operations section "
    "gives the queries), then mend or delete it, or restore a backup"
)
POSTGRES_DAMAGED = (
    "PostgreSQL found damaged data or a damaged index: REINDEX the index its log names "
    "(index_corrupted), or restore the database from a backup (data_corrupted), and check "
    "the server's disk"
)

# what the driver says (SQLite's words, lower case) or PostgreSQL's SQLSTATE, and its fix
FIX_BY_WORDS: dict[str, str] = {
    "no such table": MIGRATE,
    "no such column": MIGRATE,
    "has no column named": MIGRATE,  # an INSERT's words: "table t has no column named c"
    "readonly database": READ_ONLY,
    "database or disk is full": FULL,
    "too many sql variables": TOO_LARGE,
    "expression tree is too large": TOO_LARGE,
    "parser stack overflow": TOO_LARGE,
    "string or blob too big": TOO_LARGE,
    "is not a database": DAMAGED,  # older SQLite: "file is encrypted or is not a database"
    "database disk image is malformed": DAMAGED,
    "malformed database schema": DAMAGED,  # before any statement of ours: "... syntax error"
    "malformed json": DAMAGED_DATA,  # a JSON function (json_extract, ->>) read a stored text
}
FIX_BY_SQLSTATE: dict[str, str] = {
    "42P01": MIGRATE,  # undefined_table
    "42703": MIGRATE,  # undefined_column
    "53100": FULL,  # disk_full
    "XX001": POSTGRES_DAMAGED,  # data_corrupted (filed as an internal error)
    "XX002": POSTGRES_DAMAGED,  # index_corrupted (likewise)
}
# SQLite's words for a statement it cannot run as written, which it files as an operational
# error: a mistake in our SQL that neither a retry nor an operator mends (a 500, traced)
OUR_MISTAKES = (
    "syntax error",
    "unrecognized token",
    "incomplete input",
    "no such function",
    "wrong number of arguments to function",
    "ambiguous column name",
    "misuse of aggregate",
    "misuse of window function",
    # the path is ours: a JSON function's second argument ("JSON path error near 'a'"; from
    # SQLite 3.45 "bad JSON path: 'a'", which read as "retry shortly")
    "json path error",
    "bad json path",
)
# a failure PostgreSQL's driver files as an internal error that passes: a write sent to a
# standby (a failover not finished: the old primary, or a DNS name not yet moved)
PASSING_INTERNAL_SQLSTATES = {"25006"}  # read_only_sql_transaction


class DamagedValueError(Exception):
    """A stored value this forecaster cannot read as what it wrote (a JSON column's text that
    is not JSON, on SQLite a time or a number that is none): read after the driver, by
    SQLAlchemy or numpy, whose ValueError was a bare 500, where SQLite's JSON functions say
    "malformed JSON" of the same row. No ValueError itself: the handlers of a client's bad
    value (a 422, "nothing stored") must not take it for one."""


def stored_json(text: str) -> Any:
    """A JSON column's stored text read as JSON (the engines' deserializer), or
    :class:`DamagedValueError` in the decoder's words; the text itself is not repeated."""
    try:
        return json.loads(text)
    except ValueError as error:
        raise DamagedValueError(f"a stored JSON value is malformed: {error}") from None


# what may be the database's state (:func:`classify` tells): the handlers catch these. A
# damaged SQLite file is a plain DatabaseError, a pool with every connection busy for its
# timeout is SQLAlchemy's own TimeoutError, and a stored value we cannot read is our own
# DamagedValueError: each was a bare 500
DATABASE_ERRORS = (DatabaseError, PoolTimeoutError, DamagedValueError)
# the kinds whose words may tell the database's state: a plain DatabaseError (SQLite's damaged
# file) and these; a broken rule or a value a column cannot hold (IntegrityError, DataError)
# repeats a client's values in PostgreSQL's words, and "is not a database" there is no damage
STATE_ERRORS = (OperationalError, ProgrammingError, InternalError)
MAX_REASON_CHARS = 200


@dataclass(frozen=True)
class DatabaseFailure:
    """A database failure: the driver's words on one line, and what an operator must do when
    trying again cannot help (None: it passes, as a restart or a lock does)."""

    reason: str
    fix: str | None = None

    @property
    def passes(self) -> bool:
        """Whether the same work may succeed if tried again shortly."""
        return self.fix is None


def classify(error: BaseException) -> DatabaseFailure | None:
    """``error`` as a :class:`DatabaseFailure`, or None when it is not the database's state: a
    ``ProgrammingError`` other than a missing table or column (PostgreSQL's way of saying a
    schema is not migrated; any other is a mistake in our SQL), SQLite's words for one of our
    mistakes, or another kind of error (a broken constraint, not a database at all). An
    ``OperationalError`` not known to last is taken to pass: a client told to retry loses a
    moment, one told an operator must act when the database was merely restarting loses far
    more. An ``InternalError`` is one only for a write sent to a standby (a failover under
    way: it was a bare 500, where a retry reaches the new primary) or damaged data. A pool
    with no connection free in time passes too: the requests holding them end. A stored
    value damaged (malformed JSON, read by SQLite's JSON functions or by our decoder, a time
    or a number that is none) waits for an operator to mend its row."""
    if isinstance(error, DamagedValueError):
        return DatabaseFailure(_one_line(error), DAMAGED_DATA)
    if isinstance(error, PoolTimeoutError):  # its words without SQLAlchemy's link to the docs
        return DatabaseFailure(_one_line(error.args[0]))
    if not isinstance(error, DatabaseError):
        return None
    if not (type(error) is DatabaseError or isinstance(error, STATE_ERRORS)):
        return None  # a broken rule or a bad value: its words repeat a client's values
    driver = error.orig or error
    sqlstate = getattr(driver, "sqlstate", None) or ""
    known = PASSING_INTERNAL_SQLSTATES | FIX_BY_SQLSTATE.keys()
    if isinstance(error, InternalError) and sqlstate not in known:
        return None
    reason = _one_line(driver)
    words = reason.lower()
    fix = FIX_BY_SQLSTATE.get(sqlstate) or next(
        (fix for said, fix in FIX_BY_WORDS.items() if said in words), None
    )
    if fix is not None:
        return DatabaseFailure(reason, fix)
    if not isinstance(error, OperationalError | InternalError):
        return None
    if any(mistake in words for mistake in OUR_MISTAKES):
        return None
    return DatabaseFailure(reason)


def _one_line(said: object) -> str:
    """What the driver said on one line, cut to :data:`MAX_REASON_CHARS`."""
    return " ".join(str(said).split())[:MAX_REASON_CHARS]
