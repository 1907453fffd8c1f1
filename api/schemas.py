"""Request and response bodies, one group per resource (``XCreate``, ``XPublic``, ``XsPublic``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from forecaster.ingestion.json_batch import SeriesHeader
from forecaster.profiles import ScalingProfile


class SeriesIn(SeriesHeader):
    """Points of one series: ``[timestamp, value]`` pairs, timestamps ISO-8601 or epoch seconds.

    Documents the body; the route reads it with ``forecaster.ingestion.json_batch`` (fast path).
    """

    points: list[tuple[Any, Any]]


class MetricsBatch(BaseModel):
    """One batch of points for many series; stored whole or not at all."""

    model_config = ConfigDict(extra="forbid")

    series: list[SeriesIn]


class IngestPublic(BaseModel):
    stored: int = Field(description="points written (a re-sent point replaces the stored one)")
    series: int


class RemoteWritePublic(IngestPublic):
    ignored_series: int = Field(description="series mapping to no known service or metric")
    ignored_samples: int
    dropped_stale: int = Field(description="Prometheus staleness markers (NaN), not data")


class ServiceCreate(ScalingProfile):
    """A scaling profile, plus whether the service is enabled (disabled: no jobs, no actuation)."""

    enabled: bool = True


class ServicePublic(BaseModel):
    name: str
    enabled: bool
    profile: ScalingProfile
    created_at: datetime
    updated_at: datetime


class ServicesPublic(BaseModel):
    data: list[ServicePublic]
    count: int


class ForecastPointPublic(BaseModel):
    ts: datetime
    p50: float
    p90: float
    p95: float
    p99: float


class ForecastPublic(BaseModel):
    service: str
    series_id: int
    forecast_id: int
    run_id: int
    model: str
    created_at: datetime
    origin: datetime
    step_seconds: int
    points: list[ForecastPointPublic]


class PlanStepPublic(BaseModel):
    ts: datetime = Field(description="from this time until the next step, keep at least:")
    replicas: int
    gpus: int
    load: float = Field(description="the forecast load quantile this step covers")
    tier: str | None
    cost_per_hour: float
    reason: str


class PlanPublic(BaseModel):
    service: str
    plan_id: int
    generated_at: datetime
    forecast_id: int | None
    run_id: int | None
    model: str | None
    quantile: float
    step_seconds: int
    stale: bool = Field(description="the plan ends before now: actuators restore baselines")
    total_cost: float
    steps: list[PlanStepPublic]


class TrainPublic(BaseModel):
    service: str
    model: str
    run_id: int
    forecast_id: int
    plan_id: int
    message: str


class JobRunPublic(BaseModel):
    id: int
    job: str
    service: str | None
    started_at: datetime
    finished_at: datetime | None
    status: str
    message: str | None
    details: dict[str, Any]


class JobRunsPublic(BaseModel):
    data: list[JobRunPublic]
    count: int
