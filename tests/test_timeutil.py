"""Durations as users write them: the short forms, pandas' forms, and clear refusals."""

from __future__ import annotations

import pytest

from forecaster.timeutil import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("5min", 300),
        ("48h", 172_800),
        ("2d", 172_800),
        ("600", 600),
        ("1 day", 86_400),
        ("PT24H", 86_400),
        ("36 hours", 129_600),
        (30, 30),
    ],
)
def test_durations_are_read(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("soon", "cannot read duration"),
        ("-1h", "positive"),
        ("0s", "positive"),
        ("NaT", "positive"),
    ],
)
def test_unreadable_or_non_positive_durations_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(text)
