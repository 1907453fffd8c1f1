"""Bulk deletes of parent rows with their child rows, for the housekeeping job's pruning."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete
from sqlalchemy.orm import InstrumentedAttribute, Session

# ids per statement: well inside the bound-parameter limits of SQLite and PostgreSQL
ID_CHUNK = 5_000


def delete_with_children(
    *,
    session: Session,
    parent_key: InstrumentedAttribute[int],
    child_key: InstrumentedAttribute[int],
    ids: Sequence[int],
) -> None:
    """Delete the parent rows whose ``parent_key`` is one of ``ids`` and, first (the foreign
    key points at them), the child rows whose ``child_key`` points at those: a forecast with
    its points, a plan with its steps. In slices, so the statements stay within limits."""
    for start in range(0, len(ids), ID_CHUNK):
        chunk = ids[start : start + ID_CHUNK]
        session.execute(delete(child_key.class_).where(child_key.in_(chunk)))
        session.execute(delete(parent_key.class_).where(parent_key.in_(chunk)))
