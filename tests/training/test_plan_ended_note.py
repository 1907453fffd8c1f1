"""Why a plan ended, said as of the time the page was read, not the wall clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from forecaster.profiles import ScalingProfile
from forecaster.training.replan import plan_ended_note

PROFILE = ScalingProfile(capacity_per_replica=10, step_seconds=300, horizon_hours=24)
LAST_SAMPLE = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _note(now: datetime | None) -> str:
    latest_ms = int(LAST_SAMPLE.timestamp() * 1000)
    return plan_ended_note(
        name="chat", profile=PROFILE, ends_at=LAST_SAMPLE, latest_ms=latest_ms, now=now
    )


def test_a_history_whose_forecast_still_reaches_now_waits_for_the_next_job() -> None:
    # read an hour after the last sample, a 24 h forecast from it still reaches ahead: the
    # note said "already past" because it compared with the wall clock, years later
    note = _note(LAST_SAMPLE + timedelta(hours=1))
    assert "the next forecast job" in note and "already past" not in note


def test_a_history_whose_forecast_ends_before_now_asks_for_recent_samples() -> None:
    assert "already past" in _note(LAST_SAMPLE + timedelta(days=2))
    assert "already past" in _note(None)  # the clock: years after the sample
