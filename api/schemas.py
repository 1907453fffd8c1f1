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


# --- forecasting engine: events, exclusions, model runs --------------------------------------


class EventCreate(BaseModel):
    """A declared event (launch, campaign, holiday sale) in UTC; naive times are UTC."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    start: datetime
    end: datetime
    multiplier: float | None = Field(
        default=None,
        gt=0,
        le=1000,
        description="expected load factor (2 = double); omit to let Prophet learn the effect",
    )


class EventPublic(BaseModel):
    id: int
    name: str
    start: datetime
    end: datetime
    multiplier: float | None


class EventsPublic(BaseModel):
    data: list[EventPublic]
    count: int


class ExclusionCreate(BaseModel):
    """A window (incident, outage, load test) whose samples training ignores."""

    model_config = ConfigDict(extra="forbid")

    start: datetime
    end: datetime
    reason: str = Field(default="", max_length=500)


class ExclusionPublic(BaseModel):
    id: int
    start: datetime
    end: datetime
    reason: str


class ExclusionsPublic(BaseModel):
    data: list[ExclusionPublic]
    count: int


class ModelRunPublic(BaseModel):
    """One candidate of a training: its backtest scores (calibrated, cross-fitted bands)."""

    id: int
    model: str
    status: str = Field(description="ok, failed, skipped (not enough history) or fallback")
    champion: bool
    mase: float | None = Field(description="MAE over seasonal-naive's in-sample MAE")
    pinball: dict[str, float]
    coverage: dict[str, float] = Field(description="share of actuals at or below each quantile")
    fit_seconds: float | None
    message: str | None
    members: list[str] = Field(description="an ensemble's members")
    train_start: datetime | None
    train_end: datetime | None
    created_at: datetime


class ModelRunsPublic(BaseModel):
    service: str
    series_id: int
    data: list[ModelRunPublic]
    count: int
