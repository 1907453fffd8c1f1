"""Durations and timestamps as users write them: the short forms, pandas' forms, RFC 3339's
lowercase, and clear refusals."""

from __future__ import annotations

import pandas as pd
import pytest

from forecaster.timeutil import parse_duration, parse_timestamps


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


def test_rfc3339_lowercase_t_and_z_read_as_uppercase_and_bad_text_stays_unread() -> None:
    lower = ["2026-12-01t10:00:00z", "2026-12-01t10:00:00.250+01:00", "not a time", "t10z"]
    upper = ["2026-12-01T10:00:00Z", "2026-12-01T09:00:00.250Z", None, None]
    parsed = parse_timestamps(pd.Series(lower, dtype=object))
    expected = pd.to_datetime(pd.Series(upper), format="ISO8601", utc=True)
    pd.testing.assert_series_equal(parsed, expected.astype("datetime64[ns, UTC]"))


def test_a_trailing_utc_as_sql_exports_write_it_reads_as_z() -> None:
    """BigQuery and other SQL exports write "2026-12-01 10:00:00 UTC": refused before."""
    written = ["2026-12-01 10:00:00 UTC", "2026-12-01T10:00:00utc", "2026-12-01 10:00 GMT", "UTC"]
    upper = ["2026-12-01T10:00:00Z", "2026-12-01T10:00:00Z", "2026-12-01T10:00:00Z", None]
    parsed = parse_timestamps(pd.Series(written, dtype=object))
    expected = pd.to_datetime(pd.Series(upper), format="ISO8601", utc=True)
    pd.testing.assert_series_equal(parsed, expected.astype("datetime64[ns, UTC]"))


def test_words_pandas_reads_as_times_are_not_timestamps() -> None:
    """QA: "now" and "today" were stored at the server's clock; ISO-8601 starts with a year."""
    parsed = parse_timestamps(pd.Series(["now", "today", " 2024-01-01T00:00:00Z"], dtype=object))
    assert parsed.isna().tolist() == [True, True, False]


def test_a_column_of_basic_dates_reads_as_days_and_epoch_seconds_stay_seconds() -> None:
    """A daily export's 20261101 read as epoch seconds was a moment in August 1970 (QA). The
    column decides: epoch seconds of a 1970 trace are not all YYYYMMDD dates."""
    days = parse_timestamps(pd.Series(["20261130", "20261201", 20261202], dtype=object))
    assert days.dt.strftime("%Y-%m-%d").tolist() == ["2026-11-30", "2026-12-01", "2026-12-02"]
    seconds = parse_timestamps(pd.Series([20261130, 20261130 + 3600], dtype=object))
    assert seconds.iloc[0] == pd.Timestamp(20261130, unit="s", tz="UTC")
    # one impossible day among real ones is unreadable (the batch is refused naming it), not
    # the cue to read the whole column as 1970 seconds (review)
    days = [20261101 + day for day in range(20)] + [20261131]
    one_bad = parse_timestamps(pd.Series(days, dtype=object))
    assert one_bad.iloc[:-1].dt.year.eq(2026).all() and pd.isna(one_bad.iloc[-1])
