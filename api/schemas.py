"""Request and response bodies, one group per resource (``XCreate``, ``XPublic``, ``XsPublic``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from forecaster.profiles import ScalingProfile


class SeriesIn(BaseModel):
    """Points of one series: ``[timestamp, value]`` pairs, timestamps ISO-8601 or epoch seconds."""

    model_config = ConfigDict(extra="forbid")

    service: str = Field(min_length=1, max_length=128)
    metric: str = Field(min_length=1, max_length=64)
    labels: dict[str, str] = Field(default_factory=dict)
    unit: str | None = Field(default=None, max_length=32)
    points: list[tuple[Any, Any]]


class MetricsBatch(BaseModel):
    """One batch of points for many series; stored whole or not at all."""

    model_config = ConfigDict(extra="forbid")

    series: list[SeriesIn]


class IngestPublic(BaseModel):
    stored: int = Field(description="points written (a re-sent point replaces the stored one)")
    series: int


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


class ActuationPublic(BaseModel):
    """One audited push (or dry run) of a plan to one target."""

    id: int
    plan_id: int | None
    target: str
    kind: str
    dry_run: bool
    outcome: str = Field(description="applied | unchanged | restored | failed")
    error: str | None
    actor: str
    created_at: datetime
    before: dict[str, Any] = Field(description="the target's state before")
    after: dict[str, Any] = Field(description="its state after (for a dry run: what it would be)")
    notes: list[str] = Field(description="why the written values differ from the plan's")
    attempts: int = Field(description="API calls made, retries included")
    window: dict[str, Any] = Field(description="the plan window pushed: status, floor, reason")


class ActuationsPublic(BaseModel):
    data: list[ActuationPublic]
    count: int


class ActuationRunPublic(BaseModel):
    service: str
    dry_run: bool
    window: dict[str, Any]
    data: list[ActuationPublic]
    count: int


class KedaMetricPublic(BaseModel):
    """The shape KEDA's metrics-api scaler reads: point its ``valueLocation`` at a field."""

    value: float = Field(description="the field named by ?metric= (default: replicas)")
    replicas: int = Field(description="the plan's replica floor for the coming minute")
    load: float = Field(description="the forecast load quantile the plan covers")
    service: str
    plan_id: int | None
    at: datetime
