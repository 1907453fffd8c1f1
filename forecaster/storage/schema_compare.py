"""What ``alembic check`` and autogenerate compare: the ORM's tables, less two known
differences the revisions make on purpose. Without this filter a generated revision dropped
APScheduler's job table and put back the samples foreign key migration 0002 removed."""

from __future__ import annotations

from typing import Any

SCHEDULER_TABLE = "apscheduler_jobs"  # created by a revision for APScheduler, not in our ORM


def include_object(
    item: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic's ``include_object`` hook: leave out APScheduler's table (and its index), and
    samples' foreign key where the database has none (migration 0002 drops it on PostgreSQL
    for ingest speed; on SQLite it stays, and is compared)."""
    table = item if type_ == "table" else getattr(item, "table", None)
    if getattr(table, "name", None) == SCHEDULER_TABLE:
        return False
    dropped_on_purpose = type_ == "foreign_key_constraint" and compare_to is None
    return not (dropped_on_purpose and getattr(table, "name", None) == "samples")


# the options env.py configures autogenerate with, and the schema test compares with
COMPARE_OPTIONS: dict[str, Any] = {"compare_type": True, "include_object": include_object}
