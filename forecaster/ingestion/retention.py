"""Retention: roll raw points older than ``retention_raw_days`` up to each service's step.

The scheduler (and ``forecaster retention``) calls :func:`apply_retention`. What training
needs is the mean load per step on the epoch-anchored grid over ``training_days``
(``forecaster.training.service_data.load_history``); one mean per bucket, stored at the bucket
start, gives exactly that, so the roll-up may reach inside the training window without
changing a single value training reads. Two rules keep that true: the cutoff is aligned down
to the step grid (no bucket is ever half raw, half rolled up), and every metric of a service
rolls up at that service's own ``step_seconds``. Each service is one transaction: a failure changes
nothing for it, is recorded, and the next service still rolls up (unless the scheduler's
process lost the leader lock: then the pass stops, :mod:`forecaster.leadership`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pandas as pd
from sqlalchemy.orm import Session

from forecaster.errors import in_words, log_failure
from forecaster.leadership import check_leading
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.jobs import recorded_job
from forecaster.storage.samples import read_samples, roll_up_samples
from forecaster.storage.services import read_services, readable_profiles, series_ids_of
from forecaster.timeutil import utc_now
from forecaster.training.history import early_allowance, infer_step_seconds

log = logging.getLogger(__name__)


@dataclass
class ServiceRetention:
    service: str
    step_seconds: int
    cutoff_ms: int
    buckets: int = 0
    deleted: int = 0
    error: str | None = None  # why this service's roll-up failed (nothing of it changed)


@dataclass
class RetentionSummary:
    """Per service: the cutoff used, buckets written, raw points deleted."""

    services: list[ServiceRetention] = field(default_factory=list)

    @property
    def deleted(self) -> int:
        return sum(item.deleted for item in self.services)

    @property
    def buckets(self) -> int:
        return sum(item.buckets for item in self.services)


def retention_cutoff_ms(now_s: float, raw_days: float, step_seconds: int) -> int:
    """The newest instant (epoch ms) before which points are rolled up, on the step grid."""
    step_ms = step_seconds * 1000
    return int((now_s - raw_days * 86400) * 1000) // step_ms * step_ms


def early_by_series(
    session: Session, series_ids: list[int], step_seconds: int, cutoff_ms: int
) -> dict[int, int]:
    """Per series, how early a point may be stamped and still count for the next mark of its
    own step, finer than ``step_seconds`` and dividing it: training moves points to their
    nearest own mark before it averages them (:func:`forecaster.training.history.regularise`),
    and the roll-up must put each point in the bucket training does. The own step is read
    from the last day before the cutoff, the points rolled up next."""
    end = datetime.fromtimestamp(cutoff_ms / 1000, tz=UTC)
    points = read_samples(
        session=session, series_ids=series_ids, start=end - timedelta(days=1), end=end
    )
    step_ms = step_seconds * 1000
    early: dict[int, int] = {}
    for series_id, group in points.groupby("series_id"):
        if group["ts"].nunique() < 2:
            continue
        own_ms = round(infer_step_seconds(pd.DatetimeIndex(group["ts"])) * 1000)
        if allowance := early_allowance(own_ms, step_ms):
            early[int(series_id)] = allowance
    return early


def _failed(database: Database, name: str, failure: Exception) -> ServiceRetention:
    """A service whose roll-up could not start (its row is damaged), recorded as its own
    failed run and logged, as one that failed part-way is."""
    try:
        with recorded_job(database.sessions, "retention", name):
            raise failure
    except Exception as error:  # noqa: BLE001 - recorded by recorded_job
        log_failure(log, error, "retention of %s", name)
    return ServiceRetention(service=name, step_seconds=0, cutoff_ms=0, error=in_words(failure))


def apply_retention(
    database: Database, settings: Settings, *, now: float | None = None
) -> RetentionSummary:
    """Roll up every service's old raw points; one transaction and one job record per service."""
    moment = utc_now().timestamp() if now is None else now
    summary = RetentionSummary()
    with database.session() as session:
        rows = read_services(session=session)
        services = [
            (s.name, s.id, profile.step_seconds) for s, profile in readable_profiles(rows.loaded)
        ]
    for name, row in rows.damaged.items():  # recorded, logged; the others roll up
        summary.services.append(_failed(database, name, row.failure))
    for done, (name, service_id, step) in enumerate(services):
        item = ServiceRetention(
            service=name,
            step_seconds=step,
            cutoff_ms=retention_cutoff_ms(moment, settings.retention_raw_days, step),
        )
        summary.services.append(item)
        try:
            with recorded_job(database.sessions, "retention", name) as details:
                check_leading(done, len(services))
                with database.session() as session:
                    ids = series_ids_of(session=session, service_id=service_id)
                    if ids:
                        item.buckets, item.deleted = roll_up_samples(
                            session=session,
                            series_ids=ids,
                            step_ms=step * 1000,
                            cutoff_ms=item.cutoff_ms,
                            early_ms=early_by_series(session, ids, step, item.cutoff_ms),
                        )
                details.update(cutoff_ms=item.cutoff_ms, buckets=item.buckets, deleted=item.deleted)
        except Exception as error:  # noqa: BLE001 - recorded, logged; the next service still runs
            log_failure(log, error, "retention of %s", name)
            item.error = in_words(error)
            item.buckets = item.deleted = 0  # its transaction was rolled back
            continue
        log.info("retention %s: %d raw points -> %d buckets", name, item.deleted, item.buckets)
    return summary
