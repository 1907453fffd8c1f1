"""Job schedules as people write them: a UTC crontab line or ``every <duration>``.

Settings validate them at start-up with :func:`parse_schedule`, so a typo stops the process
with a clear message instead of silently never running a job.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from forecaster.errors import quoted
from forecaster.settings import MAX_INTERVAL_DAYS, MAX_INTERVAL_SECONDS
from forecaster.timeutil import parse_duration


def parse_schedule(text: str) -> BaseTrigger:
    """``"*/5 * * * *"`` (five crontab fields, UTC) or ``"every 15min"``; ValueError otherwise."""
    value = text.strip()
    if value.lower().startswith("every "):
        seconds = parse_duration(value[len("every ") :])
        if seconds > MAX_INTERVAL_SECONDS:  # the next run would overflow a date
            raise ValueError(
                f"schedule {quoted(text)}: an interval of at most {MAX_INTERVAL_DAYS} days"
            )
        return IntervalTrigger(seconds=seconds, timezone="UTC")
    if len(value.split()) != 5:
        raise ValueError(
            f"schedule {quoted(text)}: use a crontab line with five fields (minute hour day month "
            'weekday, UTC) such as "*/5 * * * *", or an interval such as "every 15min"'
        )
    minute, hour, day, month, weekday = value.split()
    try:
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=crontab_weekdays(weekday),
            timezone="UTC",
        )
    except ValueError as error:
        raise ValueError(f"schedule {quoted(text)}: {error}") from None


WEEKDAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def crontab_weekdays(field: str) -> str:
    """A crontab weekday field in APScheduler's words. Crontab numbers days from Sunday (0 or
    7); APScheduler 3 numbers them from Monday, so its own ``from_crontab`` ran "1-5" from
    Tuesday to Saturday. Numbers, ranges and steps become day names; names stay as written."""
    parts = []
    for part in field.split(","):
        days, _, step = part.partition("/")
        if not any(char.isdigit() for char in days) and not (days == "*" and step):
            parts.append(part)  # "*", "mon-fri", "sat"
            continue
        first, _, last = days.partition("-")
        if days == "*":
            first, last = "0", "6"
        try:
            numbers = range(int(first), int(last or first) + 1, int(step or 1))
        except ValueError:
            raise ValueError(f"weekday {part!r}: use 0-7 (0 and 7 are Sunday) or names") from None
        if not numbers or min(numbers) < 0 or max(numbers) > 7:
            raise ValueError(f"weekday {part!r}: use 0-7 (0 and 7 are Sunday) or names")
        parts.extend(WEEKDAY_NAMES[number % 7] for number in numbers)
    return ",".join(parts)


# two weeks and a day: any wait of a weekly schedule lies inside, wherever the look starts
GAP_LOOKAHEAD = timedelta(days=15)
MAX_FIRES_EXAMINED = 25_000  # "* * * * *" fires 21,600 times in 15 days


# a day-of-month or month field waits weeks or months, past the fifteen days: the wait from
# each day's start (of a year and a month) to the next run is probed too
DAYS_PROBED = 400


def longest_gap_seconds(schedule: str, start: datetime | None = None) -> float:
    """The longest wait between two runs of ``schedule`` over the next fifteen days from
    ``start`` (now), or from a day's start to the next run within the next year and more
    (``"*/5 * 20 * *"`` waits a month: it read as 300 s)."""
    trigger = parse_schedule(schedule)
    now = start or datetime.now(UTC)
    longest = 0.0
    for day in range(DAYS_PROBED):
        probe = now + timedelta(days=day)
        following = trigger.get_next_fire_time(None, probe)
        if following is None:
            break
        longest = max(longest, (following - probe).total_seconds())
    previous: datetime | None = None
    fire = trigger.get_next_fire_time(None, now)
    for _ in range(MAX_FIRES_EXAMINED):
        if fire is None or fire > now + GAP_LOOKAHEAD:
            break
        if previous is not None:
            longest = max(longest, (fire - previous).total_seconds())
        previous, fire = fire, trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return longest


def actuation_gap_problem(schedule: str, interval_seconds: float) -> str | None:
    """Why each push would not hold until the next one, or None when it does.

    A push sets the floor for ``interval_seconds`` (FORECASTER_ACTUATION_INTERVAL_SECONDS) ahead;
    a schedule with longer waits between runs leaves the plan's later rises unpushed until the
    next run. Changing one setting without the other used to pass silently.
    """
    gap = longest_gap_seconds(schedule)
    if gap <= interval_seconds:
        return None
    return (
        f"actuate schedule {quoted(schedule)} waits up to {gap:.0f}s between runs, but each push "
        f"covers FORECASTER_ACTUATION_INTERVAL_SECONDS={interval_seconds:g}s: rises in the plan "
        "between runs are pushed late; set the interval to the longest wait"
    )
