"""Migrations go up and down cleanly on both databases and create every table."""

from __future__ import annotations

from sqlalchemy import Table, inspect

from forecaster.storage.db import Database
from forecaster.storage.orm import Base

EXPECTED = set(Base.metadata.tables) | {"apscheduler_jobs", "alembic_version"}


def test_upgrade_creates_every_table_then_downgrade_removes_them(database_url: str) -> None:
    database = Database(database_url)
    try:
        database.migrate()
        assert database.at_head()
        assert set(inspect(database.engine).get_table_names()) >= EXPECTED

        database.downgrade("base")
        remaining = set(inspect(database.engine).get_table_names()) - {"alembic_version"}
        assert remaining == set()
        assert not database.at_head()

        database.migrate()  # and back up again: revisions are repeatable
        assert database.at_head()
    finally:
        database.dispose()


def _about_apscheduler_table(diff: object) -> bool:
    """APScheduler's job table is created by our migration but is not part of our ORM."""
    subject = diff[1] if isinstance(diff, tuple) else None
    table = subject if isinstance(subject, Table) else getattr(subject, "table", None)
    return getattr(table, "name", None) == "apscheduler_jobs"


def _samples_key_dropped_on_postgres(diff: object, dialect: str) -> bool:
    """Migration 0002 drops samples' per-row foreign key on PostgreSQL (ingest speed)."""
    return (
        dialect == "postgresql"
        and isinstance(diff, tuple)
        and diff[0] == "add_fk"
        and getattr(getattr(diff[1], "table", None), "name", None) == "samples"
    )


def test_orm_matches_migrations(database: Database) -> None:
    """Autogenerate finds nothing to do: the ORM and the revisions describe the same schema."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = [
            diff
            for diff in compare_metadata(context, Base.metadata)
            if not _about_apscheduler_table(diff)
            and not _samples_key_dropped_on_postgres(diff, connection.dialect.name)
        ]
    assert differences == []
