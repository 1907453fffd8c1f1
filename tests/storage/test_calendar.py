"""Declared events and exclusions: one row per window, however often and however concurrently
a declaration is sent (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from sqlalchemy import func, select

from forecaster.profiles import ScalingProfile
from forecaster.storage.calendar import add_event, add_exclusion
from forecaster.storage.db import Database
from forecaster.storage.orm import Event, Exclusion
from forecaster.storage.services import upsert_service

START, END = datetime(2030, 1, 1, 10, tzinfo=UTC), datetime(2030, 1, 1, 12, tzinfo=UTC)


def test_declarations_sent_at_once_make_one_row(database: Database) -> None:
    """A review found two identical declarations sent together both stored (selected, then
    inserted), and every later one a 500 as the lookup then found two rows."""
    with database.session() as session:
        service_id = upsert_service(
            session=session, name="chat", profile=ScalingProfile(capacity_per_replica=10)
        )[0].id
    together = threading.Barrier(2)
    created: list[bool] = []

    def declare(multiplier: float) -> None:
        together.wait()
        with database.session() as session:
            _event, made = add_event(
                session=session,
                service_id=service_id,
                name="launch",
                start=START,
                end=END,
                multiplier=multiplier,
            )
            _exclusion, _ = add_exclusion(
                session=session, service_id=service_id, start=START, end=END, reason="test"
            )
            time.sleep(0.3)  # the other declaration arrives while this one is uncommitted
        created.append(made)

    threads = [threading.Thread(target=declare, args=(m,)) for m in (2.0, 3.0)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(created) == [False, True]
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 1
        assert session.scalar(select(func.count()).select_from(Exclusion)) == 1
        again, made = add_event(
            session=session, service_id=service_id, name="launch", start=START, end=END
        )
        assert made is False and again.multiplier is None  # replaced: not learned twice
