"""insert_if_absent through its two callers, on SQLite and PostgreSQL: rows are created once,
more rows than fit one statement are all created, and a second call finds them all present."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from forecaster.errors import InvalidInputError, NotFoundError
from forecaster.profiles import ScalingProfile
from forecaster.storage.db import Database
from forecaster.storage.inserts import CHUNK_ROWS, insert_if_absent
from forecaster.storage.orm import Series
from forecaster.storage.samples import ensure_series
from forecaster.storage.services import upsert_service

PROFILE = ScalingProfile(capacity_per_replica=10)
KEY = ["service_id", "metric", "labels_key"]


def test_upsert_service_creates_once_then_replaces(database: Database) -> None:
    with database.session() as session:
        first, replaced = upsert_service(session=session, name="chat", profile=PROFILE)
        assert replaced is None
    changed = PROFILE.model_copy(update={"max_replicas": 7})
    with database.session() as session:
        again, replaced = upsert_service(
            session=session, name="chat", profile=changed, enabled=False
        )
        assert replaced is not None and replaced.profile == PROFILE and again.id == first.id
        assert replaced.was_enabled
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


def _racing_units(database: Database, service_id: int) -> BaseException | None:
    """Batch A gives the series "req/s" and holds its transaction open while batch B, in
    another thread, gives it "tokens/s"; A commits, then B finishes. What B raised."""
    key = [(service_id, "queue_length", {"k": "1"}, "req/s")]
    other = [(service_id, "queue_length", {"k": "1"}, "tokens/s")]
    raised: list[BaseException] = []

    def batch_b() -> None:
        try:
            with database.session() as session:
                ensure_series(session=session, keys=other)
        except BaseException as error:  # noqa: BLE001 - handed to the test
            raised.append(error)

    with database.session() as session:
        ensure_series(session=session, keys=key)
        racer = threading.Thread(target=batch_b)
        racer.start()
        time.sleep(0.5)  # B has read the series table and waits for A's write
    racer.join(timeout=30)
    return raised[0] if raised else None


def test_of_two_batches_racing_to_set_a_series_unit_the_second_is_refused(
    database: Database,
) -> None:
    """Found by a QA fuzzing pass: both were stored, in one series, under the last unit."""
    with database.session() as session:
        service, _ = upsert_service(session=session, name="chat", profile=PROFILE)
    created = _racing_units(database, service.id)  # both create the series
    assert isinstance(created, InvalidInputError) and "stored in" in str(created)
    with database.session() as session:
        session.execute(update(Series).values(unit=None))  # a series stored without a unit
    claimed = _racing_units(database, service.id)  # both give it one
    assert isinstance(claimed, InvalidInputError) and "stored in" in str(claimed)
    with database.session() as session:
        assert session.execute(select(Series.unit)).scalars().all() == ["req/s"]


def test_only_a_missing_owner_is_read_as_a_deleted_service(database: Database) -> None:
    """Review: any rule an insert broke was reported as the 404 of a service deleted meanwhile;
    a NOT NULL broken is a bug to see, not a race to explain away."""
    gone = "the service was deleted"
    with database.session() as session:
        service, _ = upsert_service(session=session, name="chat", profile=PROFILE)
        row = {"service_id": service.id + 1000, "metric": "rps", "labels": {}, "labels_key": ""}
        with pytest.raises(NotFoundError, match=gone), session.begin_nested():
            insert_if_absent(session=session, table=Series, rows=[row], key=KEY, owner_gone=gone)
        broken = {**row, "service_id": service.id, "metric": None}
        with pytest.raises(IntegrityError), session.begin_nested():
            insert_if_absent(session=session, table=Series, rows=[broken], key=KEY, owner_gone=gone)


@pytest.mark.postgres
def test_a_batch_creates_a_series_while_a_profile_update_holds_its_service(
    postgres_schema_url: str,
) -> None:
    """Review: the profile update locked its service ``FOR UPDATE``, which also waits for
    every insert naming the service: ``forecaster ingest --profile`` (update, then create the
    file's series) and a batch creating the same series deadlocked, one of them refused. It
    holds the row as its UPDATE does (``FOR NO KEY UPDATE``): the batch goes on meanwhile."""
    database = Database(postgres_schema_url)
    database.migrate()
    try:
        with database.session() as session:
            service, _ = upsert_service(session=session, name="chat", profile=PROFILE)
        keys = [(service.id, "requests_per_second", {"pod": "p1"}, "rps")]
        raised: list[BaseException] = []

        def batch() -> None:
            try:
                with database.session() as session:
                    ensure_series(session=session, keys=keys)
            except BaseException as error:  # noqa: BLE001 - handed to the test
                raised.append(error)

        with database.session() as session:  # as `forecaster ingest --profile` does
            upsert_service(session=session, name="chat", profile=PROFILE)
            racer = threading.Thread(target=batch)
            racer.start()
            racer.join(timeout=0.5)
            waited = racer.is_alive()
            ensure_series(session=session, keys=keys)  # the file's series: the batch's too
        racer.join(timeout=30)
        assert not raised and not waited
    finally:
        database.dispose()
