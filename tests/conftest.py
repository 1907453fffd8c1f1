"""Shared fixtures: a real, migrated database per test on SQLite and on PostgreSQL.

PostgreSQL tests use ``FORECASTER_TEST_POSTGRES_URL`` (default: the local server); each test gets
its own schema. They are skipped when no server answers, unless FORECASTER_REQUIRE_POSTGRES=1
(CI sets it), in which case they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from forecaster.settings import Settings
from forecaster.storage.db import Database
from tests.prometheus_server import start_prometheus  # noqa: F401 - a fixture, for every test

POSTGRES_URL = os.environ.get(
    "FORECASTER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_available() -> bool:
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not available"
        return False


@pytest.fixture(scope="session")
def postgres_available() -> bool:
    available = _postgres_available()
    if not available and os.environ.get("FORECASTER_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL required but not reachable at {POSTGRES_URL}")
    return available


@pytest.fixture
def postgres_schema_url(postgres_available: bool) -> Iterator[str]:
    """A URL whose connections live in a fresh schema, dropped after the test."""
    if not postgres_available:
        pytest.skip("PostgreSQL not reachable")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database URL on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'forecaster.db'}"
    url: str = request.getfixturevalue("postgres_schema_url")
    return url


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """A migrated database."""
    db = Database(database_url)
    db.migrate()
    yield db
    db.dispose()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, auth_enabled=False)
