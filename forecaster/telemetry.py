"""Prometheus metrics about forecaster itself, exposed at ``/metrics``.

Counters and histograms are updated where the work happens (ingestion, jobs, actuation, HTTP);
forecast staleness is read from the database when Prometheus scrapes. What each service's plan
in force says for now is :func:`plans_exposition`, served behind a key.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    Metric,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from forecaster.storage.plans import StepInForce

INGESTED_POINTS = Counter(
    "forecaster_ingested_points", "Points accepted for storage (REST, CSV, Prometheus)."
)
REMOTE_WRITE_LEFT_OUT = Counter(
    "forecaster_remote_write_left_out_samples",
    "Remote-write samples not stored, by reason: ignored (their series maps to no known service "
    "or metric, or has labels no push may have), stale (staleness markers), not_load.",
    ["reason"],
)
INGEST_REFUSED = Counter(
    "forecaster_ingest_refused_batches", "Batches refused whole because a point was invalid."
)
# the job's label is ``forecaster_job``: a scraped ``job`` label would collide with the scrape
# job's own and Prometheus would rename it ``exported_job``
JOB_DURATION = Histogram(
    "forecaster_job_duration_seconds",
    "Duration of scheduled or requested jobs.",
    ["forecaster_job", "status"],
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800),
)
SERVICE_JOB_FAILURES = Counter(
    "forecaster_service_job_failures",
    "Job runs that failed for a service, by job and service (why: the logs, GET /v1/jobs).",
    ["forecaster_job", "service"],
)
ACTUATIONS = Counter(
    "forecaster_actuations",
    "Actuation attempts by target kind and outcome; dry runs, which push nothing, as dry_run.",
    ["kind", "outcome"],
)
HTTP_DURATION = Histogram(
    "forecaster_http_request_duration_seconds",
    "HTTP request latency by route template and status class.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
# set by `forecaster serve --workers N` for its worker processes: each scrape reaches one of
# them, and each counted only its own requests (counters that fell back between scrapes)
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


def own_metrics() -> bytes:
    """forecaster's own metrics in Prometheus text format: this process's, or with several
    server processes, all of theirs summed (prometheus_client's multiprocess mode)."""
    if not os.environ.get(MULTIPROCESS_DIR):
        return generate_latest()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def forecast_age_exposition(ages: Mapping[str, timedelta]) -> bytes:
    """Seconds since each of these services' newest forecast, in Prometheus text format: built
    per scrape, so a service disabled since the last one is simply absent (with a process-wide
    gauge it kept its last age, and its stale-forecast alert, for as long as it stayed off)."""
    age = GaugeMetricFamily(
        "forecaster_forecast_age_seconds",
        "Seconds since each service's newest forecast.",
        labels=["service"],
    )
    for service, elapsed in ages.items():
        age.add_metric([service], elapsed.total_seconds())
    return _exposition([age])


def plans_exposition(
    steps: Sequence[StepInForce],
    services: Sequence[str],
    failing: Mapping[str, Collection[str]],
    jobs: Sequence[str],
    shown_only: Collection[str] = (),
) -> bytes:
    """Each service's plan step in force now, in Prometheus text format: the replica and GPU
    floor (already ahead of start-up) and the forecast it covers, by quantile, so a graph can
    set the forecast beside the real load and an alert can fire when the load outruns it; for
    every one of ``services`` whether a plan is in force at all (0: its actuators have
    restored their baselines, and scaling is reactive alone; ``shown_only``, forecast-only
    services, are left out: nothing pushes their plans, by choice, so 1 would claim a push and
    0 fire the alert for good); and whether its latest run of
    each of ``jobs`` failed (``failing``: service -> jobs). Read from the database, that gauge
    holds wherever the jobs ran: a separate ``forecaster worker`` serves no metrics of its own,
    so its failure counters never reach a scrape, and a counter that first appears at 1 gives
    ``increase()`` nothing to see.

    Built per scrape: a service whose plan ran out is simply not in the floor's gauges, where
    process-wide gauges would repeat its last value."""
    in_force = GaugeMetricFamily(
        "forecaster_plan_in_force",
        "1 when a plan step the actuators push is in force now, 0 when the plan ran out, is too "
        "old or none exists; forecast-only services are left out.",
        labels=["service"],
    )
    replicas = GaugeMetricFamily(
        "forecaster_planned_replicas",
        "The replica floor each service's plan in force sets now (already ahead of start-up).",
        labels=["service"],
    )
    gpus = GaugeMetricFamily(
        "forecaster_planned_gpus",
        "The GPUs each service's plan in force sets now.",
        labels=["service"],
    )
    load = GaugeMetricFamily(
        "forecaster_forecast_load",
        "Each service's forecast of its driving metric for the step running now, by quantile.",
        labels=["service", "metric", "quantile"],
    )
    job_failing = GaugeMetricFamily(
        "forecaster_service_job_failing",
        "1 when the service's latest run of the job (train, forecast, actuate) within 36 h failed.",
        labels=["service", "forecaster_job"],
    )
    pushed = {step.service for step in steps if step.pushed}
    for service in services:
        if service not in shown_only:
            in_force.add_metric([service], 1 if service in pushed else 0)
        for job in jobs:
            job_failing.add_metric([service, job], 1 if job in failing.get(service, ()) else 0)
    for step in steps:
        replicas.add_metric([step.service], step.replicas)
        gpus.add_metric([step.service], step.gpus)
        for quantile, value in step.quantiles.items():
            load.add_metric([step.service, str(step.metric), str(quantile)], value)
    return _exposition([in_force, replicas, gpus, load, job_failing])


class _Families(Collector):
    """Metric families made for one scrape, for a registry of their own."""

    def __init__(self, families: Sequence[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def _exposition(families: Sequence[Metric]) -> bytes:
    """Families made for one scrape, as text. Families, not Gauges: under ``serve --workers N``
    every Gauge writes to the processes' shared files, so per-scrape Gauges also showed on the
    open /metrics (the plans a read key guards, keyed by pid, never cleared)."""
    registry = CollectorRegistry()
    registry.register(_Families(families))
    return generate_latest(registry)
