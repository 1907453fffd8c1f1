"""Job schedules as people write them: a UTC crontab line or ``every <duration>``.

Settings validate them at start-up with :func:`parse_schedule`, so a typo stops the process
with a clear message instead of silently never running a job.
"""

from __future__ import annotations

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from forecaster.errors import quoted
from forecaster.timeutil import parse_duration


def parse_schedule(text: str) -> BaseTrigger:
    """``"*/5 * * * *"`` (five crontab fields, UTC) or ``"every 15min"``; ValueError otherwise."""
    value = text.strip()
    if value.lower().startswith("every "):
        seconds = parse_duration(value[len("every ") :])
        return IntervalTrigger(seconds=seconds, timezone="UTC")
    if len(value.split()) != 5:
        raise ValueError(
            f"schedule {quoted(text)}: use a crontab line with five fields (minute hour day month "
            'weekday, UTC) such as "*/5 * * * *", or an interval such as "every 15min"'
        )
    try:
        return CronTrigger.from_crontab(value, timezone="UTC")
    except ValueError as error:
        raise ValueError(f"schedule {quoted(text)}: {error}") from None
