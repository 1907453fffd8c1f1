"""The scheduled jobs: one entry each, its work and the setting that holds its schedule.

Adding a job (Prometheus pull, retention, ...) is adding one :class:`JobSpec` to ``JOBS`` (and
its schedule to settings); the scheduler registers whatever is listed here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from forecaster.jobs.tasks import (
    actuate_all,
    forecast_all,
    pull_all,
    resume_training,
    retention_all,
    train_all,
)
from forecaster.settings import Settings
from forecaster.storage.db import Database


@dataclass(frozen=True)
class JobSpec:
    id: str
    run: Callable[[Database, Settings], None]
    schedule: Callable[[Settings], str]
    # a daily job missed while no process led (a rollout, an outage across its time) runs
    # when one leads again, however late; the others just wait for their next time
    catch_up: bool = False


JOBS: tuple[JobSpec, ...] = (
    JobSpec("actuate", actuate_all, lambda s: s.actuate_schedule),
    JobSpec("forecast", forecast_all, lambda s: s.forecast_schedule),
    JobSpec("train", train_all, lambda s: s.train_schedule, catch_up=True),
    # a training pass stopped part-way is finished at the next refresh, not the next day
    JobSpec("train-resume", resume_training, lambda s: s.forecast_schedule),
    JobSpec("pull", pull_all, lambda s: s.pull_schedule),
    JobSpec("retention", retention_all, lambda s: s.retention_schedule, catch_up=True),
)
