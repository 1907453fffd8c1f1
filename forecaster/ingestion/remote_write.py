"""Prometheus remote-write 1.0 receiver core: snappy + protobuf in, one ingest batch out.

``POST /api/v1/write`` (``api/routes/remote_write.py``) hands the raw body here. Series are
mapped to services and metrics by configurable label names; series that map to no known
service or metric are counted and ignored (a Prometheus ships everything it scrapes), staleness
markers (NaN) are dropped, and the rest goes through the same validation and bulk write as
every other ingestion path, atomically.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

import cramjam
import numpy as np
from google.protobuf.message import DecodeError
from sqlalchemy.orm import Session

from forecaster.errors import ForecasterError, PayloadTooLargeError
from forecaster.ingestion.batch import SeriesPoints, ingest_batch, is_load
from forecaster.ingestion.remote_write_proto import WriteRequest
from forecaster.labels import label_problems
from forecaster.profiles import KNOWN_METRICS
from forecaster.settings import Settings
from forecaster.storable_text import unstorable_in
from forecaster.storage.services import services_by_name
from forecaster.telemetry import REMOTE_WRITE_LEFT_OUT

log = logging.getLogger(__name__)


class BadPayloadError(ForecasterError):
    """The body is not a snappy-compressed remote-write protobuf. API: 400."""


@dataclass(frozen=True)
class RemoteSeries:
    """One decoded time series: all its labels, timestamps (epoch ms) and values."""

    labels: dict[str, str]
    timestamps_ms: np.ndarray
    values: np.ndarray
    nan_count: int = 0  # staleness markers among the values


@dataclass
class RemoteWriteResult:
    stored: int = 0
    series: int = 0
    ignored_series: int = 0  # of unknown services or metrics, or with labels no push may have
    ignored_samples: int = 0
    dropped_stale: int = 0  # staleness markers
    dropped_not_load: int = 0  # infinite, negative or above MAX_VALUE
    # why the first ignored series was (logged, not answered: Prometheus reads no answer)
    ignored_example: str | None = None


def decode_write_request(body: bytes, *, max_bytes: int) -> list[RemoteSeries]:
    """Decompress (snappy block format) and parse a WriteRequest, refusing bombs and garbage."""
    size = snappy_length(body)
    if size > max_bytes:
        raise PayloadTooLargeError(
            f"remote-write payload decompresses to {size} bytes (> {max_bytes})"
        )
    try:
        raw = bytes(cramjam.snappy.decompress_raw(body))
    except Exception as error:  # noqa: BLE001 - cramjam raises its own DecompressionError
        raise BadPayloadError(f"body is not snappy-compressed (block format): {error}") from None
    try:
        request = WriteRequest.FromString(raw)
    except DecodeError as error:
        raise BadPayloadError(
            f"body is not a remote-write WriteRequest protobuf: {error}"
        ) from None
    # one flat pass over all samples, then a view per series: Prometheus sends many series
    # with one or a few samples each, so per-series numpy calls would dominate
    messages = request.timeseries
    lengths = [len(message.samples) for message in messages]
    every = [sample for message in messages for sample in message.samples]
    stamps = np.fromiter((sample.timestamp for sample in every), dtype="int64", count=len(every))
    values = np.fromiter((sample.value for sample in every), dtype="float64", count=len(every))
    bounds = np.cumsum([0, *lengths])
    nans = np.r_[0, np.cumsum(np.isnan(values))]
    nan_counts = (nans[bounds[1:]] - nans[bounds[:-1]]).tolist()
    edges = bounds.tolist()
    return [
        RemoteSeries(
            labels={label.name: label.value for label in message.labels},
            timestamps_ms=stamps[start:end],
            values=values[start:end],
            nan_count=nan_count,
        )
        for message, start, end, nan_count in zip(
            messages, edges[:-1], edges[1:], nan_counts, strict=True
        )
    ]


def snappy_length(body: bytes) -> int:
    """The uncompressed length a snappy block announces (a varint), read before inflating."""
    length = 0
    for shift, byte in zip(range(0, 35, 7), body[:5], strict=False):
        length |= (byte & 0x7F) << shift
        if byte < 0x80:
            return length
    raise BadPayloadError("body is not snappy-compressed: no valid length header")


def map_series(
    decoded: Iterable[RemoteSeries], settings: Settings, known_services: set[str]
) -> tuple[list[SeriesPoints], RemoteWriteResult]:
    """Our series for the decoded ones, and what was left out of them, counted.

    Prometheus drops a whole request it is refused, every series of every service in it, and
    retrying cannot help: so what one series or sample cannot be (labels no push may have, a
    value that is not load) is left out and counted, never a reason to refuse the request."""
    batch: list[SeriesPoints] = []
    counts = RemoteWriteResult()
    metric_label = settings.remote_write_metric_label
    reserved = {settings.remote_write_service_label, metric_label, "__name__"}
    shared = shared_targets(settings.remote_write_metric_map)
    metrics: dict[str | None, str | None] = {}  # a few names repeat across many series
    for series in decoded:
        service = series.labels.get(settings.remote_write_service_label)
        name = series.labels.get(settings.remote_write_metric_label)
        if name not in metrics:
            metrics[name] = metric_for(name, settings)
        metric = metrics[name]
        labels = {k: v for k, v in series.labels.items() if k not in reserved}
        if metric in shared:  # vLLM's and TGI's rate of one pod: two series, not one
            labels[metric_label] = series.labels[metric_label]
        # text no database can store (a NUL on PostgreSQL): ignored on either one
        why = _ignored_because(series, service, name, metric, labels, known_services, settings)
        if why is not None:
            counts.ignored_series += 1
            counts.ignored_samples += len(series.values)
            counts.ignored_example = counts.ignored_example or why
            continue
        assert service is not None and metric is not None  # or it would have been ignored
        stamps, values = series.timestamps_ms, series.values
        if not len(values):  # no float samples (a native histogram only): nothing to store
            continue
        if series.nan_count:  # staleness markers are a NaN bit pattern: not data
            counts.dropped_stale += series.nan_count
        load = is_load(values)
        if not load.all():
            counts.dropped_not_load += int(len(load) - load.sum()) - series.nan_count
            stamps, values = stamps[load], values[load]
            if not len(values):
                continue
        batch.append(
            SeriesPoints(
                service=service,
                metric=metric,
                labels=labels,
                timestamps=stamps / 1000.0,
                values=values,
            )
        )
    return batch, counts


def _ignored_because(
    series: RemoteSeries,
    service: str | None,
    name: str | None,
    metric: str | None,
    labels: dict[str, str],
    known_services: set[str],
    settings: Settings,
) -> str | None:
    """Why a decoded series cannot be stored, or None when it can."""
    if service is None:
        return f"a series without a {settings.remote_write_service_label!r} label"
    if service not in known_services:
        return f"service {service[:64]!r} is not known (create it with PUT /v1/services/...)"
    if metric is None:
        return (
            f"{name!r} is no metric: name a known one, or map it with "
            "FORECASTER_REMOTE_WRITE_METRIC_MAP"
        )
    problems = label_problems(labels)
    if unstorable_in(series.labels) is not None or problems:
        return f"labels no push may have ({'; '.join(problems) or 'text no database stores'})"
    return None


def shared_targets(metric_map: dict[str, str]) -> set[str]:
    """Metrics several names map to: their series keep the name among their labels, or the
    series of one name would replace the other's points at every shared timestamp."""
    targets = list(metric_map.values())
    return {target for target in targets if targets.count(target) > 1}


def metric_for(name: str | None, settings: Settings) -> str | None:
    """Our metric for a Prometheus metric name: through the mapping table, else by its own name."""
    if name is None:
        return None
    mapped = settings.remote_write_metric_map.get(name, name)
    return mapped if mapped in KNOWN_METRICS else None


def ingest_remote_write(*, session: Session, body: bytes, settings: Settings) -> RemoteWriteResult:
    """Decode, map and store one remote-write request in the caller's transaction."""
    decoded = decode_write_request(body, max_bytes=settings.max_body_bytes)
    names = {s.labels.get(settings.remote_write_service_label) for s in decoded}
    storable = {name for name in names if name and unstorable_in(name) is None}
    known = set(services_by_name(session=session, names=storable))
    batch, counts = map_series(decoded, settings, known)
    # remote-write sends one sample per series per shard batch: the point limit is what bounds it
    result = ingest_batch(
        session=session, batch=batch, settings=settings, max_series=settings.max_points_per_batch
    )
    counts.stored, counts.series = result.stored, result.series
    _count_left_out(counts)
    return counts


WARN_EVERY_SECONDS = 60.0
_warned_at: float | None = None  # when ignored series were last logged by this process


def _count_left_out(counts: RemoteWriteResult) -> None:
    """Count what a request left out by reason, and log ignored series once a minute: the
    answer that says so is read by no one (Prometheus drops it), so a wrong service label or
    an unmapped metric name stored nothing with no sign anywhere."""
    global _warned_at
    for reason, samples in (
        ("ignored", counts.ignored_samples),
        ("stale", counts.dropped_stale),
        ("not_load", counts.dropped_not_load),
    ):
        if samples:
            REMOTE_WRITE_LEFT_OUT.labels(reason=reason).inc(samples)
    now = time.monotonic()
    if counts.ignored_series and (_warned_at is None or now - _warned_at >= WARN_EVERY_SECONDS):
        _warned_at = now
        log.warning(
            "remote-write: %d series (%d samples) of a request ignored, the first because %s",
            counts.ignored_series,
            counts.ignored_samples,
            counts.ignored_example,
        )
