"""Housekeeping: drop old records that only say a routine job ran.

Job runs (``GET /v1/jobs``) and "unchanged" actuation records pile up with the schedules (a
minutely pull, a five-minute actuation); past ``retention_records_days`` they are deleted.
Actuations that changed, restored or failed stay: they are the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from forecaster.settings import Settings
from forecaster.storage.actuations import prune_unchanged_actuations
from forecaster.storage.db import Database
from forecaster.storage.jobs import prune_job_runs, recorded_job
from forecaster.timeutil import utc_now


@dataclass(frozen=True)
class Pruned:
    job_runs: int
    unchanged_actuations: int


def prune_records(database: Database, settings: Settings) -> Pruned:
    """Delete job runs and unchanged actuations older than ``retention_records_days``; one
    transaction, recorded as a ``prune`` job run (which is itself kept)."""
    before = utc_now() - timedelta(days=settings.retention_records_days)
    with recorded_job(database.sessions, "prune") as details:
        with database.session() as session:
            pruned = Pruned(
                job_runs=prune_job_runs(session=session, before=before),
                unchanged_actuations=prune_unchanged_actuations(session=session, before=before),
            )
        details.update(job_runs=pruned.job_runs, unchanged_actuations=pruned.unchanged_actuations)
    return pruned
