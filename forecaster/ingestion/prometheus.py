"""Pull service metrics from Prometheus with ``query_range``: backfill once, then only what is new.

The scheduler (and ``forecaster pull``) calls :func:`pull_prometheus`. For each service and each
PromQL source in its profile, the first run reads ``prometheus_backfill_days`` of history in
chunks under Prometheus's 11,000-points-per-series limit; later runs resume one step after the
newest stored point, on the same step grid, so nothing is fetched twice and nothing is skipped.
Each chunk is stored in its own transaction, oldest first: a failure leaves a clean prefix that
the next run resumes from. Transient failures (connection, timeout, 429, 5xx) are retried with
exponential backoff; a bad query (4xx) is reported at once. A result series whose labels a push
would be refused for (:func:`forecaster.labels.label_problems`) is left out and counted, as
remote-write leaves it out: one odd series must not stop the source.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

from forecaster.errors import ForecasterError, json_text, quoted
from forecaster.ingestion.batch import SeriesPoints, ingest_batch, is_load, summed_by_series
from forecaster.labels import label_problems, labels_key
from forecaster.leadership import check_leading
from forecaster.profiles import PrometheusSource
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.jobs import newest_detail, recorded_job
from forecaster.storage.samples import latest_metric_ms
from forecaster.storage.services import profile_of, read_services, readable_profiles
from forecaster.timeutil import utc_now

log = logging.getLogger(__name__)


class PrometheusError(ForecasterError):
    """Prometheus could not answer, or answered something that is not a query_range matrix."""


@dataclass(frozen=True)
class MatrixSeries:
    """One series of a ``query_range`` result: its labels, times (epoch s) and values."""

    labels: dict[str, str]
    timestamps: np.ndarray
    values: np.ndarray


@dataclass
class SourceSummary:
    service: str
    metric: str
    start: float | None = None
    end: float | None = None
    chunks: int = 0
    stored: int = 0
    skipped_not_load: int = 0  # NaN, infinite, negative or above MAX_VALUE
    ignored_samples: int = 0  # of series left out for their labels
    ignored_example: str | None = None  # the first such series and why
    error: str | None = None
    _ignored_keys: set[str] = field(default_factory=set, init=False, repr=False)

    @property
    def ignored_series(self) -> int:
        """Label sets left out; a series is counted once however many chunks it spans."""
        return len(self._ignored_keys)

    def ignore(self, labels: dict[str, str], problems: list[str], samples: int) -> None:
        """Count a series left out for its labels, and say why the first time it is seen."""
        self.ignored_samples += samples
        key = labels_key(labels)
        if key in self._ignored_keys:
            return
        self._ignored_keys.add(key)
        why = f"{json_text(labels)}: {'; '.join(problems)}"
        self.ignored_example = self.ignored_example or why
        log.warning("pull of %s %s ignores series %s", self.service, self.metric, why)


@dataclass
class PullSummary:
    """What one pull run did, per service source; ``failed`` lists the sources that stopped."""

    sources: list[SourceSummary] = field(default_factory=list)

    @property
    def stored(self) -> int:
        return sum(source.stored for source in self.sources)

    @property
    def failed(self) -> list[SourceSummary]:
        return [source for source in self.sources if source.error]


def parse_matrix(payload: Any) -> list[MatrixSeries]:
    """The series of a ``/api/v1/query_range`` JSON answer; PrometheusError when malformed."""
    if not isinstance(payload, dict) or payload.get("status") != "success":
        detail = payload.get("error") if isinstance(payload, dict) else None
        raise PrometheusError(f"Prometheus query failed: {detail or str(payload)[:200]}")
    data = payload.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "matrix":
        kind = data.get("resultType") if isinstance(data, dict) else None
        raise PrometheusError(f"expected a matrix result from query_range, got {json_text(kind)}")
    result = data.get("result")
    if not isinstance(result, list):
        raise PrometheusError("query_range answer has no result list")
    return [_matrix_series(number, item) for number, item in enumerate(result)]


def _matrix_series(number: int, item: Any) -> MatrixSeries:
    if not isinstance(item, dict) or not isinstance(item.get("metric"), dict):
        raise PrometheusError(f"result series {number} has no metric labels")
    labels = item["metric"]
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise PrometheusError(f"result series {number}: labels must be strings")
    values = item.get("values")
    if not isinstance(values, list):
        raise PrometheusError(f"result series {number} has no values list")
    if not values:
        return MatrixSeries(dict(labels), np.zeros(0), np.zeros(0))
    try:
        pairs = np.array(values, dtype=object)
        if pairs.ndim != 2 or pairs.shape[1] != 2:
            raise ValueError("not [timestamp, value] pairs")
        timestamps = pairs[:, 0].astype("float64")
        numbers = pairs[:, 1].astype(str).astype("float64")  # values come as text: "1.5", "NaN"
    except (ValueError, TypeError) as error:
        raise PrometheusError(f"result series {number}: unreadable values ({error})") from None
    return MatrixSeries(dict(labels), timestamps, numbers)


# points one chunk may hold over all its series (~300 bytes each while parsed): a query of
# 300 series at 10,000 steps each peaked at 937 MB
MAX_POINTS_PER_CHUNK = 200_000


def chunk_windows(
    start: float, end: float, step: float, max_points: Callable[[], int]
) -> Iterator[tuple[float, float]]:
    """Consecutive ``[first, last]`` evaluation windows of at most ``max_points()`` steps each,
    asked anew for each window: a pull shortens its windows once it sees how many series its
    query returns."""
    first = start
    while first <= end:
        last = min(end, first + step * (max(1, max_points()) - 1))
        yield first, last
        first = last + step


FIRST_CHUNK_STEPS = 1_000  # until a query has said how many series it returns


def steps_per_chunk(settings: Settings, series: int | None) -> int:
    """Steps per query: Prometheus's limit a series, and ``MAX_POINTS_PER_CHUNK`` over the
    ``series`` the query returned so far (None: not asked yet)."""
    most = settings.prometheus_max_points_per_query
    if series is None:
        return min(most, FIRST_CHUNK_STEPS)
    return min(most, MAX_POINTS_PER_CHUNK // max(1, series))


class PrometheusClient:
    """``query_range`` over httpx with timeouts and retries with exponential backoff."""

    def __init__(self, settings: Settings, *, url: str | None = None) -> None:
        base = url or settings.prometheus_url
        if not base:
            raise PrometheusError(
                "no Prometheus URL: set FORECASTER_PROMETHEUS_URL "
                "(or pass `forecaster pull --prometheus-url`)"
            )
        self.settings = settings
        # set once a query found Prometheus down: the pass's other sources are not each retried
        # with the whole backoff (twenty sources took minutes, and the next pulls were skipped)
        self.down: str | None = None
        self.http = httpx.Client(
            base_url=base.rstrip("/"), timeout=httpx.Timeout(settings.prometheus_timeout_seconds)
        )

    def close(self) -> None:
        self.http.close()

    def query_range(self, query: str, start: float, end: float, step: float) -> list[MatrixSeries]:
        if self.down is not None:
            raise PrometheusError(f"not asked: an earlier source of this pass found {self.down}")
        params = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        attempts = self.settings.prometheus_retries + 1
        refused = False  # no connection at all, as opposed to a slow or failing query
        for attempt in range(attempts):
            try:
                response = self.http.post("/api/v1/query_range", data=params)
            except httpx.HTTPError as error:
                problem = f"{type(error).__name__}: {error}"
                refused = isinstance(error, httpx.ConnectError | httpx.ConnectTimeout)
            else:
                refused = False
                if response.status_code < 400 or response.status_code in (400, 422):
                    try:
                        payload = response.json()
                    except ValueError:
                        raise PrometheusError(
                            f"Prometheus answered HTTP {response.status_code} with non-JSON"
                        ) from None
                    return parse_matrix(payload)
                problem = f"HTTP {response.status_code}: {_gist(response)}"
                if response.status_code < 500 and response.status_code != 429:
                    raise PrometheusError(f"Prometheus refused the query: {problem}")
            if attempt + 1 < attempts:
                delay = self.settings.prometheus_backoff_seconds * 2**attempt
                log.warning("query_range failed (%s); retrying in %.1fs", problem, delay)
                time.sleep(delay)
        tries = f"{attempts} attempts" if attempts > 1 else "1 attempt"
        if not refused:  # it answered: an error page, a timeout of this query
            raise PrometheusError(f"Prometheus query failed after {tries}: {problem}")
        self.down = f"Prometheus unreachable ({problem})"
        raise PrometheusError(f"Prometheus unreachable after {tries}: {problem}")


def _gist(response: httpx.Response) -> str:
    """An error answer in one short line: an HTML page (a URL that is not Prometheus's API)
    had its markup spread over the job's message."""
    if "html" in response.headers.get("content-type", "") or response.text.lstrip().startswith("<"):
        return "an HTML page, not Prometheus's API: check FORECASTER_PROMETHEUS_URL"
    return " ".join(response.text.split())[:200]


def pull_prometheus(
    database: Database,
    settings: Settings,
    *,
    service: str | None = None,
    now: float | None = None,
    client: PrometheusClient | None = None,
) -> PullSummary:
    """Pull every enabled service's Prometheus sources (or one service's) up to ``now``."""
    summary = PullSummary()
    with database.session() as session:
        rows = read_services(session=session)
        if service in rows.damaged:  # the one asked for: its own error
            raise rows.damaged[service].failure
        for row in rows.damaged.values() if service is None else ():  # the others are pulled
            if row.enabled:
                log.error("%s; its sources are not pulled", row.failure)
        chosen = [s for s in rows.loaded if (s.enabled and service is None) or s.name == service]
        if service is not None and chosen:  # the one asked for: its own error, if it is one
            profile_of(chosen[0])
        services = [(s.name, s.id, profile.prometheus) for s, profile in readable_profiles(chosen)]
    if service is not None and not services:
        raise PrometheusError(f"service {quoted(service)} does not exist")
    wanted = [(name, sid, sources) for name, sid, sources in services if sources]
    if not wanted:
        return summary
    own_client = client is None
    client = client or PrometheusClient(settings)
    moment = utc_now().timestamp() if now is None else now
    pulls = [(name, sid, source) for name, sid, sources in wanted for source in sources]
    try:
        for done, (name, service_id, source) in enumerate(pulls):
            where = (done, len(pulls))
            summary.sources.append(
                _pull_source(database, settings, client, name, service_id, source, moment, where)
            )
    finally:
        if own_client:
            client.close()
    return summary


def _pull_source(
    database: Database,
    settings: Settings,
    client: PrometheusClient,
    service: str,
    service_id: int,
    source: PrometheusSource,
    now: float,
    where: tuple[int, int],
) -> SourceSummary:
    """Pull one source, recorded as one job run; ``where`` is how many of how many sources
    of the pass came before it (a scheduled pass stops there once the leader lock is lost)."""
    summary = SourceSummary(service=service, metric=source.metric)
    step = float(source.step_seconds or settings.prometheus_step_seconds)
    try:
        with recorded_job(database.sessions, "pull_prometheus", service) as details:
            check_leading(*where, "sources")
            # a point pushed ahead of now (allowed up to FORECASTER_MAX_FUTURE_SECONDS) is not
            # where Prometheus's data ends: resuming after it skipped the backfill for good
            with database.session() as session:
                latest_ms = latest_metric_ms(
                    session=session,
                    service_id=service_id,
                    metric=source.metric,
                    until_ms=int(now * 1000),
                )
                # no further than this source's own pulls reached: the metric's newest point
                # may be a push of another label set, fresher than Prometheus's lag lets a pull
                # reach, and resuming after it stored nothing while the pushes went on
                pulled = newest_detail(
                    session=session,
                    job="pull_prometheus",
                    service=service,
                    match={"metric": source.metric, "query": source.query},
                    key="through",
                )
                if latest_ms is not None and pulled is not None:
                    latest_ms = min(latest_ms, int(pulled * 1000))
            if latest_ms is None:
                start = math.ceil((now - settings.prometheus_backfill_days * 86400) / step) * step
            else:  # one step after the newest stored point, on the step grid
                start = (math.floor(latest_ms / 1000 / step) + 1) * step
            end = math.floor((now - settings.prometheus_lag_seconds) / step) * step
            summary.start, summary.end = start, end
            details.update(metric=source.metric, query=source.query, start=start, end=end)
            widest: list[int | None] = [None]  # the most series a chunk returned so far
            for first, last in chunk_windows(
                start, end, step, lambda: steps_per_chunk(settings, widest[0])
            ):
                matrix = client.query_range(source.query, first, last, step)
                widest[0] = max(widest[0] or 0, len(matrix))
                _store_chunk(database, settings, source, matrix, summary)
                summary.chunks += 1
                details["through"] = last
                # so far: a run that fails at a later chunk still says which source it was
                # and what its first chunks stored (its record had no details at all)
                details.update(
                    chunks=summary.chunks,
                    stored=summary.stored,
                    skipped_not_load=summary.skipped_not_load,
                    ignored_series=summary.ignored_series,
                    ignored_samples=summary.ignored_samples,
                )
    except ForecasterError as error:
        summary.error = str(error)
        log.warning("pull of %s %s stopped: %s", service, source.metric, error)
    return summary


def _store_chunk(
    database: Database,
    settings: Settings,
    source: PrometheusSource,
    matrix: list[MatrixSeries],
    summary: SourceSummary,
) -> None:
    """Store one chunk of every series of a result in one transaction, counted in ``summary``."""
    batch = []
    for series in matrix:
        labels = series_labels(series.labels, source)
        problems = label_problems(labels)
        if problems:
            summary.ignore(labels, problems, len(series.values))
            continue
        # NaN/Inf (a rate over no data), a negative difference, a unit error: not load, and
        # refusing the chunk for one such sample stopped the source at it for good
        load = is_load(series.values)
        summary.skipped_not_load += int(len(load) - load.sum())
        if not load.any():
            continue
        batch.append(
            SeriesPoints(
                service=summary.service,
                metric=source.metric,
                labels=labels,
                timestamps=series.timestamps[load],
                values=series.values[load],
            )
        )
    if not batch:
        return
    batch = summed_by_series(batch)  # several result series kept under one label set
    points = sum(len(item.timestamps) for item in batch)
    with database.session() as session:
        result = ingest_batch(
            session=session,
            batch=batch,
            settings=settings,
            max_series=len(batch),
            max_points=points,
        )
    summary.stored += result.stored


def series_labels(labels: dict[str, str], source: PrometheusSource) -> dict[str, str]:
    """Our labels for a result series: its own (all but __name__, or ``keep_labels``) + static."""
    if source.keep_labels is None:
        kept = {k: v for k, v in labels.items() if k != "__name__"}
    else:
        kept = {k: labels[k] for k in source.keep_labels if k in labels}
    return {**kept, **source.labels}
