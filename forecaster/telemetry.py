"""Prometheus metrics about forecaster itself, exposed at ``/metrics``.

Counters and histograms are updated where the work happens (ingestion, jobs, actuation, HTTP);
forecast staleness is read from the database when Prometheus scrapes.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

INGESTED_POINTS = Counter(
    "forecaster_ingested_points", "Points accepted for storage (REST, CSV, Prometheus)."
)
INGEST_REFUSED = Counter(
    "forecaster_ingest_refused_batches", "Batches refused whole because a point was invalid."
)
JOB_DURATION = Histogram(
    "forecaster_job_duration_seconds",
    "Duration of scheduled or requested jobs.",
    ["job", "status"],
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800),
)
SERVICE_JOB_FAILURES = Counter(
    "forecaster_service_job_failures",
    "Job runs that failed for a service, by job and service (why: the logs, GET /v1/jobs).",
    ["job", "service"],
)
ACTUATIONS = Counter(
    "forecaster_actuations", "Actuation attempts by target kind and outcome.", ["kind", "outcome"]
)
HTTP_DURATION = Histogram(
    "forecaster_http_request_duration_seconds",
    "HTTP request latency by route template and status class.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
FORECAST_AGE = Gauge(
    "forecaster_forecast_age_seconds", "Seconds since each service's newest forecast.", ["service"]
)
