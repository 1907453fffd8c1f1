"""Retention: old raw points become one mean per training step, and training reads exactly the
same history before and after; re-running changes nothing; a failure changes nothing."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import event, select, text

from forecaster.ingestion.batch import SeriesPoints, ingest_batch
from forecaster.ingestion.retention import apply_retention, retention_cutoff_ms
from forecaster.profiles import ScalingProfile
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.orm import JobRun, Service
from forecaster.storage.samples import read_samples, sample_count
from forecaster.storage.services import upsert_service
from forecaster.timeutil import to_epoch_ms, utc_now
from forecaster.training.service_data import load_history

STEP = 300
DAYS = 10


@pytest.fixture
def filled(database: Database, settings: Settings) -> float:
    return fill(database, settings)


def fill(database: Database, settings: Settings, offset: float = 7.5) -> float:
    """Two series of one service, a point every 60 s (``offset`` s off the minute) for ten
    days; returns now."""
    now = utc_now().timestamp() // 60 * 60
    stamps = np.arange(now - DAYS * 86400, now - 60, 60.0) + offset  # off the step grid
    rng = np.random.default_rng(3)
    with database.session() as session:
        upsert_service(
            session=session,
            name="chat",
            profile=ScalingProfile(capacity_per_replica=5, step_seconds=STEP),
        )
        batch = [
            SeriesPoints(
                service="chat",
                metric="requests_per_second",
                labels={"region": region},
                timestamps=stamps,
                values=rng.uniform(0, 100, len(stamps)).round(3),
            )
            for region in ("eu", "us")
        ]
        ingest_batch(session=session, batch=batch, settings=settings, max_points=10**6)
    return now


def _history(database: Database, settings: Settings, days: float | None = None) -> pd.Series:
    with database.session() as session:
        service = session.execute(select(Service)).scalar_one()
        return load_history(
            session=session,
            service=service,
            profile=ScalingProfile.model_validate(service.profile),
            days=days or settings.training_days,
        )


def test_roll_up_keeps_what_training_reads_and_is_idempotent(
    database: Database, settings: Settings, filled: float
) -> None:
    settings = settings.model_copy(update={"retention_raw_days": 3})
    before_history = _history(database, settings)
    # QA: a window starting inside the rolled-up days lost its first step, kept as one point
    # at the step's start, before the window's start
    before_window = _history(database, settings, days=5.01)
    with database.session() as session:
        before = sample_count(session=session)
    summary = apply_retention(database, settings, now=filled)
    cutoff = retention_cutoff_ms(filled, 3, STEP)
    assert cutoff % (STEP * 1000) == 0
    after_history = _history(database, settings)
    pd.testing.assert_index_equal(after_history.index, before_history.index)
    np.testing.assert_allclose(after_history.to_numpy(), before_history.to_numpy(), rtol=1e-12)
    after_window = _history(database, settings, days=5.01)
    pd.testing.assert_index_equal(after_window.index, before_window.index)
    np.testing.assert_allclose(after_window.to_numpy(), before_window.to_numpy(), rtol=1e-12)
    with database.session() as session:
        assert sample_count(session=session) == before - summary.deleted + summary.buckets
        frame = read_samples(session=session, series_ids=[1])
    stamps = to_epoch_ms(frame["ts"])
    old, recent = stamps[stamps < cutoff], stamps[stamps >= cutoff]
    assert len(old) and np.all(old % (STEP * 1000) == 0)  # one point per bucket, at its start
    assert len(np.unique(old)) == len(old)
    assert np.all(recent % 60_000 == 7_500)  # raw points newer than the cutoff are untouched
    assert summary.deleted > 4 * summary.buckets  # five raw points per five-minute bucket
    again = apply_retention(database, settings, now=filled)
    assert (again.buckets, again.deleted) == (0, 0)


def _store_point(database: Database, settings: Settings, stamp: float, value: float) -> None:
    """One point of chat's "eu" series, stored and committed as a request would."""
    with database.session() as session:
        point = SeriesPoints(
            service="chat",
            metric="requests_per_second",
            labels={"region": "eu"},
            timestamps=np.array([stamp]),
            values=np.array([value]),
        )
        ingest_batch(session=session, batch=[point], settings=settings)


def test_a_point_stored_while_the_roll_up_runs_is_kept(
    database: Database, settings: Settings, filled: float
) -> None:
    """QA: the roll-up averaged the buckets in one statement and deleted their raw points in
    the next, which also deleted points stored in between, counted nowhere (1,429 of 19,620
    points sent during a roll-up on PostgreSQL, 1,385 of 28,240 on SQLite)."""
    settings = settings.model_copy(update={"retention_raw_days": 3})
    bucket_ms = retention_cutoff_ms(filled, 3, STEP) - 10 * STEP * 1000  # one it rolls up
    writer = ThreadPoolExecutor(1)
    stored: list[Future[None]] = []

    def store_before_the_delete(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("DELETE FROM samples") and not stored:
            stamp = bucket_ms / 1000 + 30  # a new point, beside the bucket's raw ones
            stored.append(writer.submit(_store_point, database, settings, stamp, 1e6))
            wait(stored, timeout=1)  # stored at once, unless the roll-up holds it off

    event.listen(database.engine, "before_cursor_execute", store_before_the_delete)
    try:
        summary = apply_retention(database, settings, now=filled)
    finally:
        event.remove(database.engine, "before_cursor_execute", store_before_the_delete)
        writer.shutdown()
    assert summary.services[0].error is None and stored
    stored[0].result()  # acknowledged
    with database.session() as session:
        start = pd.Timestamp(bucket_ms, unit="ms", tz="UTC")
        bucket = read_samples(
            session=session, series_ids=[1], start=start, end=start + pd.Timedelta(seconds=STEP)
        )
    assert bucket["value"].max() > 1e5  # kept raw, or counted in its bucket's mean


def test_points_stamped_early_are_rolled_up_where_training_counts_them(
    database: Database, settings: Settings
) -> None:
    """QA: 1-minute points stamped 2 s before their minute (scrape times sit just before the
    marks) count for that minute in training, so 14:39:58 is in the 14:40 bucket; the roll-up
    put it in 14:35 and changed every rolled step (585 of 585, by up to 11)."""
    now = fill(database, settings, offset=-2.0)
    settings = settings.model_copy(update={"retention_raw_days": 3})
    before = _history(database, settings)
    apply_retention(database, settings, now=now)
    after = _history(database, settings)
    pd.testing.assert_index_equal(after.index, before.index)
    np.testing.assert_allclose(after.to_numpy(), before.to_numpy(), rtol=1e-12)
    again = apply_retention(database, settings, now=now + 86400)  # a day on: the next day rolls
    assert again.buckets > 0
    np.testing.assert_allclose(
        _history(database, settings).to_numpy(), before.to_numpy(), rtol=1e-12
    )


def test_a_failing_roll_up_changes_nothing_and_the_next_service_still_rolls_up(
    database: Database, settings: Settings, filled: float
) -> None:
    settings = settings.model_copy(update={"retention_raw_days": 3})
    with database.session() as session:
        upsert_service(
            session=session,
            name="search",
            profile=ScalingProfile(capacity_per_replica=5, step_seconds=STEP),
        )
        stamps = np.arange(filled - DAYS * 86400, filled - 60, 60.0)
        batch = [
            SeriesPoints(
                service="search",
                metric="requests_per_second",
                labels={},
                timestamps=stamps,
                values=np.ones(len(stamps)),
            )
        ]
        ingest_batch(session=session, batch=batch, settings=settings, max_points=10**6)
    bucket = retention_cutoff_ms(filled, 3, STEP) - 10 * STEP * 1000
    # chat's series are 1 and 2: one of its buckets cannot be written
    condition = f"NEW.ts_ms = {bucket} AND NEW.series_id IN (1, 2)"
    with database.engine.begin() as connection:
        if database.is_sqlite:
            connection.execute(
                text(
                    "CREATE TRIGGER abort_bucket BEFORE INSERT ON samples "
                    f"WHEN {condition} BEGIN SELECT RAISE(ABORT, 'forced'); END"
                )
            )
        else:
            connection.execute(
                text(
                    "CREATE FUNCTION abort_bucket() RETURNS trigger LANGUAGE plpgsql AS $$ "
                    f"BEGIN IF {condition} THEN RAISE EXCEPTION 'forced'; END IF; "
                    "RETURN NEW; END $$"
                )
            )
            connection.execute(
                text(
                    "CREATE TRIGGER abort_bucket BEFORE INSERT ON samples "
                    "FOR EACH ROW EXECUTE FUNCTION abort_bucket()"
                )
            )
    with database.session() as session:
        before = read_samples(session=session, series_ids=[1, 2])
    summary = apply_retention(database, settings, now=filled)
    chat, search = summary.services
    assert chat.service == "chat" and "forced" in (chat.error or "")
    assert (chat.buckets, chat.deleted) == (0, 0)
    assert search.error is None and search.deleted > 4 * search.buckets > 0
    with database.session() as session:
        after = read_samples(session=session, series_ids=[1, 2])
        jobs = {job.service: job for job in session.execute(select(JobRun)).scalars()}
    pd.testing.assert_frame_equal(after, before)
    assert jobs["chat"].job == "retention" and jobs["chat"].status == "failed"
    assert jobs["search"].status == "ok"


@pytest.mark.postgres
def test_two_roll_ups_at_once_both_succeed(postgres_schema_url: str, settings: Settings) -> None:
    """QA: a manual ``forecaster retention`` beside the scheduled one failed on PostgreSQL
    with a duplicate key: both had read the same raw points and wrote the same bucket."""
    database = Database(postgres_schema_url)
    database.migrate()
    try:
        settings = settings.model_copy(
            update={"database_url": postgres_schema_url, "retention_raw_days": 3}
        )
        now = fill(database, settings)
        with ThreadPoolExecutor(2) as pool:
            runs = list(pool.map(lambda _: apply_retention(database, settings, now=now), range(2)))
        assert [item.error for run in runs for item in run.services] == [None, None]
        assert sum(item.buckets for run in runs for item in run.services) > 0
        again = apply_retention(database, settings, now=now)
        assert (again.services[0].buckets, again.services[0].deleted) == (0, 0)
    finally:
        database.dispose()
