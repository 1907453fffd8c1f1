"""The bulk write path: 100k points set-based and atomic, on SQLite and PostgreSQL.

A real failure is forced inside the database, halfway through the write (a trigger that
aborts on one sentinel value), and the test checks that nothing of the batch landed.
"""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from forecaster.errors import InvalidInputError
from forecaster.ingestion.batch import SeriesPoints, ingest_batch
from forecaster.profiles import ScalingProfile
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.samples import read_samples, sample_count, write_samples
from forecaster.storage.services import upsert_service

SENTINEL = 666.25
START = 1_700_000_000


@pytest.fixture
def service(database: Database) -> str:
    with database.session() as session:
        upsert_service(session=session, name="chat", profile=ScalingProfile(capacity_per_replica=5))
    return "chat"


def _series(count: int, points: int, offset: int = 0) -> list[SeriesPoints]:
    stamps = np.arange(START + offset, START + offset + points, dtype="float64")
    return [
        SeriesPoints(
            service="chat",
            metric="requests_per_second",
            labels={"instance": str(n)},
            timestamps=stamps,
            values=np.full(points, float(n)),
        )
        for n in range(count)
    ]


def _abort_on_sentinel(database: Database) -> None:
    """A trigger that fails the statement when it meets the sentinel value."""
    with database.engine.begin() as connection:
        if database.is_sqlite:
            connection.execute(
                text(
                    "CREATE TRIGGER abort_sentinel BEFORE INSERT ON samples "
                    f"WHEN NEW.value = {SENTINEL} BEGIN SELECT RAISE(ABORT, 'forced'); END"
                )
            )
        else:
            connection.execute(
                text(
                    "CREATE FUNCTION abort_sentinel() RETURNS trigger LANGUAGE plpgsql AS $$ "
                    f"BEGIN IF NEW.value = {SENTINEL} THEN RAISE EXCEPTION 'forced'; END IF; "
                    "RETURN NEW; END $$"
                )
            )
            connection.execute(
                text(
                    "CREATE TRIGGER abort_sentinel BEFORE INSERT ON samples "
                    "FOR EACH ROW EXECUTE FUNCTION abort_sentinel()"
                )
            )


def test_100k_points_land_whole_and_resending_replaces(
    database: Database, settings: Settings, service: str
) -> None:
    batch = _series(10, 10_000)
    with database.session() as session:
        result = ingest_batch(session=session, batch=batch, settings=settings)
    assert (result.stored, result.series) == (100_000, 10)
    # the same points again, new values, overlapping the stored ones: the upsert path
    again = [
        SeriesPoints(
            service=s.service,
            metric=s.metric,
            labels=s.labels,
            timestamps=s.timestamps,
            values=np.asarray(s.values) + 1,
        )
        for s in _series(10, 10_000, offset=5_000)
    ]
    with database.session() as session:
        assert ingest_batch(session=session, batch=again, settings=settings).stored == 100_000
        assert sample_count(session=session) == 150_000
        frame = read_samples(session=session, series_ids=[1])
    assert frame["value"].tolist() == [0.0] * 5_000 + [1.0] * 10_000


@pytest.mark.parametrize("overlapping", [False, True], ids=["copy", "upsert"])
def test_a_batch_failing_halfway_leaves_nothing_behind(
    database: Database, settings: Settings, service: str, overlapping: bool
) -> None:
    if overlapping:  # one stored point inside the batch's span sends the write to the upsert
        with database.session() as session:
            ingest_batch(session=session, batch=_series(1, 1, offset=50), settings=settings)
    before = _count(database)
    _abort_on_sentinel(database)
    batch = _series(10, 10_000)
    values = np.asarray(batch[6].values).copy()
    values[5_000] = SENTINEL  # 65,000 points into the sorted write
    batch[6] = SeriesPoints(
        service="chat",
        metric="requests_per_second",
        labels=batch[6].labels,
        timestamps=batch[6].timestamps,
        values=values,
    )
    with pytest.raises(Exception, match="forced"), database.session() as session:
        ingest_batch(session=session, batch=batch, settings=settings)
    assert _count(database) == before
    with database.engine.connect() as connection:
        series = connection.execute(text("SELECT count(*) FROM series")).scalar_one()
    assert series == (1 if overlapping else 0)  # the new series rolled back with the points


def _count(database: Database) -> int:
    with database.session() as session:
        return sample_count(session=session)


def test_deleting_a_service_deletes_its_samples_and_orphans_are_refused(
    database: Database, settings: Settings, service: str
) -> None:
    with database.session() as session:
        ingest_batch(session=session, batch=_series(3, 100), settings=settings)
    with database.engine.begin() as connection:
        connection.execute(text("DELETE FROM services WHERE name = 'chat'"))
    assert _count(database) == 0  # the cascade survives migration 0002 on PostgreSQL
    refused = InvalidInputError if not database.is_sqlite else IntegrityError
    with pytest.raises(refused), database.session() as session:
        write_samples(
            session=session, series_id=np.array([999]), ts_ms=np.array([0]), value=np.array([1.0])
        )
    assert _count(database) == 0
