"""insert_if_absent through its two callers, on SQLite and PostgreSQL: rows are created once,
more rows than fit one statement are all created, and a second call finds them all present."""

from __future__ import annotations

from sqlalchemy import func, select

from forecaster.profiles import ScalingProfile
from forecaster.storage.db import Database
from forecaster.storage.inserts import CHUNK_ROWS
from forecaster.storage.orm import Series
from forecaster.storage.samples import ensure_series
from forecaster.storage.services import upsert_service

PROFILE = ScalingProfile(capacity_per_replica=10)


def test_upsert_service_creates_once_then_replaces(database: Database) -> None:
    with database.session() as session:
        first, replaced = upsert_service(session=session, name="chat", profile=PROFILE)
        assert replaced is None
    changed = PROFILE.model_copy(update={"max_replicas": 7})
    with database.session() as session:
        again, replaced = upsert_service(
            session=session, name="chat", profile=changed, enabled=False
        )
        assert replaced == PROFILE and again.id == first.id
        assert again.profile["max_replicas"] == 7 and not again.enabled


def test_ensure_series_creates_more_series_than_one_statement_holds(database: Database) -> None:
    with database.session() as session:
        service, _ = upsert_service(session=session, name="chat", profile=PROFILE)
    keys = [
        (service.id, "requests_per_second", {"pod": f"p{number}"}, "rps")
        for number in range(2 * CHUNK_ROWS + 5)
    ]
    with database.session() as session:
        ids = ensure_series(session=session, keys=keys)
    with database.session() as session:
        assert ensure_series(session=session, keys=keys) == ids  # found, not created again
        assert session.execute(select(func.count(Series.id))).scalar_one() == len(keys)
        pod = session.get(Series, ids[(service.id, "requests_per_second", '{"pod":"p7"}')])
        assert pod is not None and pod.labels == {"pod": "p7"} and pod.unit == "rps"
    assert len(set(ids.values())) == len(keys)
