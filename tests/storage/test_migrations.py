"""Migrations go up and down cleanly on both databases and create every table."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from sqlalchemy import inspect, text

import forecaster.storage.db as db_module
from forecaster.errors import ConfigurationError
from forecaster.profiles import MIN_CAPACITY, MIN_UTILIZATION, ScalingProfile
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.orm import Base, Service
from forecaster.storage.schema_compare import COMPARE_OPTIONS
from forecaster.storage.services import profile_of
from forecaster.training.train import train_service
from tests.helpers import ending_now, store_service, synthetic_traffic

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


def test_downgrade_and_upgrade_again_keep_every_row(database_url: str) -> None:
    """On SQLite a batch migration recreates a table: with foreign keys enforced, dropping the
    old one cascaded deletes into its children (downgrading 0004 emptied every forecast's
    points, 0003 every plan's steps)."""
    database = Database(database_url)
    try:
        database.migrate()
        settings = Settings(database_url=database_url)
        profile = ScalingProfile(capacity_per_replica=10, horizon_hours=2)
        store_service(database, settings, "chat", ending_now(synthetic_traffic(days=2)), profile)
        train_service(database, "chat", settings, model="seasonal_naive_daily")
        stored = row_counts(database)
        assert stored["forecast_points"] > 0 and stored["plan_steps"] > 0
        database.downgrade("0001")
        assert row_counts(database) == stored
        database.migrate()
        assert row_counts(database) == stored
        with database.engine.connect() as connection:  # enforcement is back on afterwards
            if database.is_sqlite:
                assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        database.dispose()


def row_counts(database: Database) -> dict[str, int]:
    tables = ("samples", "model_runs", "forecasts", "forecast_points", "plans", "plan_steps")
    with database.engine.connect() as connection:
        return {
            table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in tables
        }


def test_orm_matches_migrations(database: Database) -> None:
    """Autogenerate (and ``alembic check``) finds nothing to do, with the options env.py
    gives it: the ORM and the revisions describe the same schema, and a generated revision
    would not drop APScheduler's table or restore the foreign key 0002 removed."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts=COMPARE_OPTIONS)
        assert compare_metadata(context, Base.metadata) == []


def test_stored_profiles_are_brought_inside_the_new_bounds(database_url: str) -> None:
    """A profile stored before the bounds of revision 0005 still loads after the upgrade."""
    old = {
        "capacity_per_replica": 1e300,
        "step_seconds": 15,
        "horizon_hours": 0.001,
        "tiers": [
            {
                "name": "idle",
                "capacity_per_replica": 4,
                "cost_per_replica_hour": 1,
                "max_replicas": 0,
            },
            {"name": "L4", "capacity_per_replica": 40, "cost_per_replica_hour": 1e9},
        ],
    }
    profile = _migrated_profile(database_url, old, stored_at="0004")
    assert profile.step_seconds == 60 and profile.horizon_hours == 60 / 3600
    assert profile.capacity_per_replica == 1e12
    assert [tier.name for tier in profile.tiers] == ["L4"]
    assert profile.tiers[0].cost_per_replica_hour == 1e6


def test_stored_prometheus_sources_lose_the_label_names_profiles_now_refuse(
    database_url: str,
) -> None:
    """A source stored with a label named "*" or "" (revision 0006) still loads, without it."""
    source = {"metric": "requests_per_second", "query": "sum(up)"}
    old = {
        "capacity_per_replica": 10,
        "prometheus": [
            source | {"labels": {"*": "all", "": "x", "team": "ml"}, "keep_labels": ["*", "pod"]},
            source | {"metric": "queue_length", "keep_labels": [""]},
        ],
    }
    pulled = _migrated_profile(database_url, old, stored_at="0005").prometheus
    assert [(s.labels, s.keep_labels) for s in pulled] == [({"team": "ml"}, ["pod"]), ({}, [])]


def test_stored_profiles_are_raised_onto_the_new_floors(database_url: str) -> None:
    """A profile stored with values just above 0 (revision 0008) still loads, on the floors."""
    old = {
        "capacity_per_replica": 5e-324,
        "target_utilization": 5e-324,
        "plan_utilization": 0.001,
        "tiers": [{"name": "L4", "capacity_per_replica": 1e-9, "cost_per_replica_hour": 1}],
    }
    profile = _migrated_profile(database_url, old, stored_at="0007")
    assert profile.capacity_per_replica == MIN_CAPACITY
    assert profile.target_utilization == profile.plan_utilization == MIN_UTILIZATION
    assert profile.tiers[0].capacity_per_replica == MIN_CAPACITY


def _migrated_profile(database_url: str, stored: dict, *, stored_at: str) -> ScalingProfile:
    """A profile written as it was at revision ``stored_at``, read back after migrating to head."""
    database = Database(database_url)
    try:
        database.migrate(stored_at)
        with database.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO services (name, profile, enabled, created_at, updated_at) "
                    "VALUES ('old', :profile, :yes, :now, :now)"
                ),
                {"profile": json.dumps(stored), "yes": True, "now": "2026-01-01 00:00:00"},
            )
        database.migrate()
        with database.session() as session:
            return profile_of(session.query(Service).filter_by(name="old").one())
    finally:
        database.dispose()


def test_processes_starting_together_migrate_one_at_a_time(database_url: str) -> None:
    """QA: replicas started together on an empty database each ran the migrations; all but
    one crashed on the tables the first had just made (a crash loop on a first deploy)."""
    code = "import sys; from forecaster.storage.db import Database; Database(sys.argv[1]).migrate()"
    starts = [
        subprocess.Popen(
            [sys.executable, "-c", code, database_url], stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    errors = [process.communicate(timeout=120)[1] for process in starts]
    assert [process.returncode for process in starts] == [0] * 4, errors
    database = Database(database_url)
    try:
        assert database.at_head()
    finally:
        database.dispose()


def test_events_declared_twice_before_0012_are_merged_into_the_newest(database_url: str) -> None:
    """Before 0012 a declaration sent twice was stored twice (and multiplied the forecast
    twice); upgrading keeps one row per window, the newest (its multiplier the latest word)."""
    database = Database(database_url)
    try:
        database.downgrade("base")
        database.migrate("0011")
        with database.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO services (name, profile, enabled, created_at, updated_at) "
                    "VALUES ('chat', '{}', :yes, :at, :at)"
                ),
                {"yes": True, "at": "2030-01-01 00:00:00"},
            )
            for multiplier in (2.0, 3.0):  # the same window twice, then another
                connection.execute(
                    text(
                        'INSERT INTO events (service_id, name, start, "end", multiplier) '
                        "VALUES (1, 'launch', :start, :end, :multiplier)"
                    ),
                    {
                        "start": "2030-01-01 10:00:00",
                        "end": "2030-01-01 12:00:00",
                        "multiplier": multiplier,
                    },
                )
            connection.execute(
                text(
                    'INSERT INTO events (service_id, name, start, "end", multiplier) '
                    "VALUES (1, 'launch', '2030-02-01 10:00:00', '2030-02-01 12:00:00', 5)"
                )
            )
        database.migrate()
        with database.engine.connect() as connection:
            kept = connection.execute(text("SELECT multiplier FROM events ORDER BY id")).all()
        assert [row[0] for row in kept] == [3.0, 5.0]
    finally:
        database.dispose()


def test_a_migration_waiting_on_a_transaction_left_open_gives_up_and_says_so(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA: 0009's ALTER TABLE services waited for as long as a transaction left idle held the
    table, and every later read of services queued behind it (5 s, for as long as it lasted)."""
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's lock queue; SQLite's DDL waits on its one write lock")
    monkeypatch.setattr(db_module, "MIGRATION_LOCK_TIMEOUT_SECONDS", 0.5)
    database = Database(database_url)
    try:
        database.migrate("0008")
        with database.engine.connect() as idle:
            idle.execute(text("SELECT count(*) FROM services"))  # holds it until rollback
            started = time.monotonic()
            with pytest.raises(ConfigurationError, match=r"waited over 0\.5 s for a table"):
                database.migrate()
            assert time.monotonic() - started < 10
            idle.rollback()
        database.migrate()  # nothing was changed: it goes through once the holder ends
        assert database.at_head()
    finally:
        database.dispose()
