"""Property tests for every parser on the ingest path: timestamps, JSON points, CSV, PromQL
``query_range`` answers and remote-write payloads. Valid input round-trips exactly; any other
input raises the parser's own clear error (a 4xx upstream), never anything else."""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import struct
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import cramjam
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forecaster.errors import ForecasterError, InvalidInputError
from forecaster.ingestion.batch import epoch_ms, numbers
from forecaster.ingestion.json_batch import parse_general, parse_metrics_json, split_points
from forecaster.ingestion.json_points import split_body
from forecaster.ingestion.prometheus import (
    FIRST_CHUNK_STEPS,
    MAX_POINTS_PER_CHUNK,
    PrometheusError,
    chunk_windows,
    parse_matrix,
    steps_per_chunk,
)
from forecaster.ingestion.remote_write import decode_write_request
from forecaster.ingestion.remote_write_proto import WriteRequest
from forecaster.offline import read_text_columns
from forecaster.settings import Settings

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MAX_BYTES = 1 << 20

seconds = st.floats(min_value=0, max_value=4e9, allow_nan=False)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
label_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=10)


@FAST
@given(st.lists(seconds, max_size=30))
def test_epoch_seconds_become_rounded_milliseconds(values: list[float]) -> None:
    got = epoch_ms(np.array(values, dtype="float64"))
    assert got.tolist() == [float(round(v * 1000)) for v in values]
    assert epoch_ms(values).tolist() == got.tolist()  # the list path agrees with the array path


@FAST
@given(
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_iso_text_with_any_offset_is_the_same_instant(moment: datetime, offset_min: int) -> None:
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    zone = timezone(timedelta(minutes=offset_min))
    text = moment.replace(tzinfo=UTC).astimezone(zone).isoformat()
    assert epoch_ms([text]).tolist() == [round(moment.replace(tzinfo=UTC).timestamp() * 1000)]


@FAST
@given(st.lists(json_values, max_size=10))
def test_any_timestamp_or_value_is_read_or_marked_never_raises(raw: list[Any]) -> None:
    stamps, values = epoch_ms(raw), numbers(raw)
    assert len(stamps) == len(values) == len(raw)
    for item, number in zip(raw, values, strict=True):
        if isinstance(item, bool) or not isinstance(item, int | float | str):
            assert math.isnan(number)


@FAST
@given(
    st.lists(
        st.tuples(st.integers(0, 10**10) | seconds, st.floats() | st.integers(-(10**6), 10**6))
    )
)
def test_numeric_points_split_into_exact_columns(points: list[tuple[Any, Any]]) -> None:
    pairs = [list(point) for point in points]
    timestamps, values = split_points(0, pairs)
    assert [float(t) for t, _ in pairs] == list(timestamps)
    np.testing.assert_array_equal(np.asarray(values, dtype="float64"), [float(v) for _, v in pairs])


@FAST
@given(json_values)
def test_any_json_body_parses_or_is_a_clear_invalid_input(document: Any) -> None:
    body = json.dumps({"series": [{"service": "s", "metric": "m", "points": document}]})
    for candidate in (body, json.dumps(document)):
        with contextlib.suppress(InvalidInputError):
            parse_metrics_json(candidate.encode())


@FAST
@given(st.binary(max_size=64))
def test_any_bytes_as_json_body_are_refused_clearly(body: bytes) -> None:
    with contextlib.suppress(InvalidInputError):
        parse_metrics_json(body)


@FAST
@given(
    st.lists(
        st.tuples(st.integers(0, 4 * 10**9), st.floats(allow_nan=False, allow_infinity=False)),
        max_size=20,
    )
)
def test_csv_round_trips(rows: list[tuple[int, float]]) -> None:
    text = "timestamp,value\n" + "".join(f"{t},{v!r}\n" for t, v in rows)
    columns = read_text_columns(text.encode())
    assert epoch_ms(columns.timestamps.tolist()).tolist() == [t * 1000.0 for t, _ in rows]
    assert numbers(columns.values.tolist()).tolist() == [v for _, v in rows]


@FAST
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_csv_upload_is_read_or_refused_clearly(content: bytes) -> None:
    try:
        columns = read_text_columns(content)
    except InvalidInputError:
        return
    assert len(columns.timestamps) == len(columns.values)


matrix_values = st.floats(allow_nan=True, allow_infinity=True)


@FAST
@given(
    st.lists(
        st.tuples(
            st.dictionaries(label_text, label_text, max_size=3),
            st.lists(st.tuples(st.integers(0, 4 * 10**9), matrix_values), max_size=15),
        ),
        max_size=4,
    )
)
def test_query_range_answers_round_trip(
    series: list[tuple[dict[str, str], list[tuple[int, float]]]],
) -> None:
    def prom_text(value: float) -> str:  # how Prometheus writes sample values
        return (
            "NaN"
            if math.isnan(value)
            else ("+Inf" if value == math.inf else "-Inf" if value == -math.inf else repr(value))
        )

    payload = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                {"metric": labels, "values": [[t, prom_text(v)] for t, v in samples]}
                for labels, samples in series
            ],
        },
    }
    parsed = parse_matrix(json.loads(json.dumps(payload)))
    assert len(parsed) == len(series)
    for got, (labels, samples) in zip(parsed, series, strict=True):
        assert got.labels == labels
        assert got.timestamps.tolist() == [float(t) for t, _ in samples]
        np.testing.assert_array_equal(
            got.values, np.array([v for _, v in samples], dtype="float64")
        )


@FAST
@given(json_values)
def test_any_query_range_answer_parses_or_is_a_prometheus_error(payload: Any) -> None:
    for candidate in (
        payload,
        {"status": "success", "data": {"resultType": "matrix", "result": payload}},
        {
            "status": "success",
            "data": {"resultType": "matrix", "result": [{"metric": {}, "values": payload}]},
        },
    ):
        with contextlib.suppress(PrometheusError):
            parse_matrix(candidate)


@FAST
@given(
    st.lists(
        st.tuples(
            st.dictionaries(label_text, label_text, max_size=3),
            st.lists(
                st.tuples(st.integers(-(2**63), 2**63 - 1), st.integers(0, 2**64 - 1)), max_size=10
            ),
        ),
        max_size=5,
    )
)
def test_remote_write_payloads_round_trip(
    series: list[tuple[dict[str, str], list[tuple[int, int]]]],
) -> None:
    message = WriteRequest()
    for labels, samples in series:
        added = message.timeseries.add()
        for name, value in labels.items():
            added.labels.add(name=name, value=value)
        for timestamp, bits in samples:  # any 64-bit pattern, staleness-marker NaNs included
            added.samples.add(
                timestamp=timestamp, value=struct.unpack("<d", struct.pack("<Q", bits))[0]
            )
    body = bytes(cramjam.snappy.compress_raw(message.SerializeToString()))
    decoded = decode_write_request(body, max_bytes=MAX_BYTES)
    assert len(decoded) == len(series)
    for got, (labels, samples) in zip(decoded, series, strict=True):
        assert got.labels == labels
        assert got.timestamps_ms.tolist() == [t for t, _ in samples]
        assert got.values.view("uint64").tolist() == [b for _, b in samples]


@FAST
@given(st.binary(max_size=300))
def test_any_remote_write_body_decodes_or_is_refused_clearly(body: bytes) -> None:
    for candidate in (body, bytes(cramjam.snappy.compress_raw(body))):
        with contextlib.suppress(ForecasterError):
            decode_write_request(candidate, max_bytes=MAX_BYTES)


def test_float_text_csv_values_keep_precision() -> None:
    columns = read_text_columns(b"timestamp,value\n2024-01-01T00:00:00Z,0.1\n")
    assert numbers(columns.values.tolist()).tolist() == [0.1]
    assert pd.Timestamp(
        epoch_ms(columns.timestamps.tolist())[0], unit="ms", tz="UTC"
    ) == pd.Timestamp("2024-01-01", tz="UTC")


json_numbers = st.integers(-(10**12), 10**12) | st.floats(allow_nan=False, allow_infinity=False)
point_lists = st.lists(st.tuples(json_numbers, json_numbers).map(list), max_size=12)


def _same(fast: list[Any], general: list[Any]) -> None:
    assert len(fast) == len(general)
    for a, b in zip(fast, general, strict=True):
        assert (a.service, a.metric, a.labels, a.unit) == (b.service, b.metric, b.labels, b.unit)
        np.testing.assert_array_equal(epoch_ms(a.timestamps), epoch_ms(b.timestamps))
        np.testing.assert_array_equal(numbers(a.values), numbers(b.values))
        assert [a.raw_point(i) for i in range(len(a.timestamps))] == [
            b.raw_point(i) for i in range(len(b.timestamps))
        ]


def _outcome(parse: Any, body: bytes) -> Any:
    try:
        return parse(body)
    except InvalidInputError as error:
        return str(error)


@FAST
@given(
    st.lists(point_lists, min_size=1, max_size=4),
    st.sampled_from(["", " ", "\n  "]),
    st.data(),
)
def test_the_fast_json_path_reads_exactly_what_the_general_path_reads(
    series_points: list[list[list[Any]]], space: str, data: st.DataObject
) -> None:
    series = [
        {"service": "s", "metric": "requests_per_second", "labels": {"n": str(n)}, "points": p}
        for n, p in enumerate(series_points)
    ]
    separators = (f",{space}", f":{space}")
    body = json.dumps({"series": series}, separators=separators).encode()
    assert split_body(body) is not None  # plain numbers: the fast path takes it
    _same(parse_metrics_json(body), parse_general(body))
    # any single-byte corruption: both paths agree (same series or the same refusal)
    position = data.draw(st.integers(0, len(body) - 1))
    byte = data.draw(st.sampled_from(b'[],.-+eE0 1"x:{}'))
    mutated = body[:position] + bytes([byte]) + body[position + 1 :]
    fast, general = _outcome(parse_metrics_json, mutated), _outcome(parse_general, mutated)
    if isinstance(general, str):
        assert fast == general
    else:
        _same(fast, general)


@FAST
@given(
    st.integers(0, 10**6),
    st.integers(0, 10**5),
    st.integers(1, 3600),
    st.integers(2, 11_000),
)
def test_query_range_chunks_cover_the_window_once_under_the_point_limit(
    start: int, span_steps: int, step: int, max_points: int
) -> None:
    end = start + span_steps * step
    windows = list(chunk_windows(float(start), float(end), float(step), lambda: max_points))
    assert windows[0][0] == start and windows[-1][1] == end
    for (_, last), (following, _) in itertools.pairwise(windows):
        assert following == last + step  # contiguous on the step grid: no gap, no overlap
    for first, last in windows:
        assert (last - first) / step + 1 <= max_points  # Prometheus refuses > 11,000 a series


def test_chunks_of_many_series_are_shorter_so_a_pull_stays_small() -> None:
    """300 series at Prometheus's 10,000 steps each peaked at 937 MB; 234 MB with these."""
    tuned = Settings(prometheus_max_points_per_query=10_000)
    assert steps_per_chunk(tuned, None) == FIRST_CHUNK_STEPS  # before the first answer
    assert steps_per_chunk(tuned, 1) == 10_000
    assert steps_per_chunk(tuned, 300) * 300 <= MAX_POINTS_PER_CHUNK
    assert steps_per_chunk(tuned, 10**7) == 0  # chunk_windows still takes one step a window
    assert list(chunk_windows(0.0, 120.0, 60.0, lambda: 0)) == [
        (0.0, 0.0),
        (60.0, 60.0),
        (120.0, 120.0),
    ]


@pytest.mark.parametrize(
    "points", ["[[1796576187,]]", "[[,5]]", "[[1, ],[2,3]]", "[[1,2],[ ,3]]", "[[1,2] , [3 ,\n]]"]
)
def test_a_pair_missing_a_number_is_invalid_json_on_both_paths(points: str) -> None:
    """numpy read the missing number as -1, so the fast path refused it as a negative value
    or a timestamp before 1970 instead of as the malformed JSON it is."""
    body = b'{"series":[{"service":"s","metric":"m","points":%s}]}' % points.encode()
    fast, general = _outcome(parse_metrics_json, body), _outcome(parse_general, body)
    assert isinstance(general, str) and "JSON" in general
    assert fast == general
