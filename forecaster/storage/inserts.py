"""Create rows unless they exist, in one statement the database decides (``INSERT ... ON
CONFLICT DO NOTHING``), for rows concurrent requests may create at once: a service by its
first ``PUT``, a series by its first points. Reading first and inserting what was absent let
two requests both see "absent", and one of them hit the unique constraint (a 500).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from forecaster.errors import NotFoundError
from forecaster.storage.orm import Base

# rows per statement: SQLite allows 32,766 bound parameters in one
CHUNK_ROWS = 1000


def insert_if_absent(
    *,
    session: Session,
    table: type[Base],
    rows: Sequence[dict[str, Any]],
    key: Sequence[str],
    owner_gone: str | None = None,
) -> int:
    """Insert those ``rows`` whose unique ``key`` columns no stored row has; returns how many.

    On PostgreSQL a row another transaction is inserting waits for it to end, then counts as
    present; on SQLite writers take turns. Either way, once this returns every row is there
    for the caller's transaction to read, and none twice. Give rows in one order (sorted by
    ``key``), so two transactions cannot wait on each other's rows (a deadlock).

    ``owner_gone`` is what NotFoundError says when the row a foreign key names (a service)
    was deleted since the caller looked it up: the 404 of a missing service, not the key's
    IntegrityError (a 500); another rule broken still raises.
    """
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    primary_key = inspect(table).primary_key
    inserted = 0
    try:
        for start in range(0, len(rows), CHUNK_ROWS):
            statement = (
                insert(table)
                .values(list(rows[start : start + CHUNK_ROWS]))
                .on_conflict_do_nothing(index_elements=list(key))
                # counted from what RETURNING gives back (only inserted rows): the ORM leaves
                # rowcount at -1 for these statements on PostgreSQL
                .returning(*primary_key)
            )
            inserted += len(session.execute(statement).all())
    except IntegrityError as error:
        if owner_gone is None or not _foreign_key_failed(error):
            raise
        raise NotFoundError(owner_gone) from None
    return inserted


def _foreign_key_failed(error: IntegrityError) -> bool:
    """Whether the row's owner was missing (PostgreSQL's foreign_key_violation, SQLite's
    message), not another rule broken (a NOT NULL, a CHECK), which is no deleted service."""
    code = getattr(error.orig, "sqlstate", None)
    return code == "23503" or "FOREIGN KEY constraint failed" in str(error.orig)
