"""Request and response bodies, one group per resource (``XCreate``, ``XPublic``, ``XsPublic``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

import numpy as np
import pandas as pd
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)

from forecaster.errors import InvalidInputError
from forecaster.ingestion.json_batch import SeriesHeader
from forecaster.planning.replay import DEFAULT_TICK_SECONDS
from forecaster.planning.simulate import POLICIES, TICKS
from forecaster.profiles import ScalingProfile
from forecaster.storable_text import StorableTextModel
from forecaster.storage.calendar import MAX_MULTIPLIER, MIN_MULTIPLIER
from forecaster.storage.orm import Actuation
from forecaster.timeutil import UTC_WORD, coerce_numeric, epoch_ms_from_seconds, utc_within_years
from forecaster.training.forecasting import known_model_names


def _within_years(moment: datetime) -> datetime:
    """UTC; a year outside what samples and plans can hold is refused, not overflowed."""
    try:
        return utc_within_years(moment)
    except InvalidInputError as error:  # pydantic words a ValueError as a field problem
        raise ValueError(str(error)) from None


# a time given by a client (query or body): naive means UTC; pydantic also reads a number as
# epoch seconds, as ingestion does, so the spec says both (it said date-time alone)
MOMENT_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "string", "format": "date-time"}, {"type": "number"}],
    "description": "ISO-8601 (naive means UTC) or epoch seconds",
}


def _as_moment(value: Any) -> Any:
    """A number, or numeric text (as a query gives it), read as epoch seconds by ingestion's
    rule (:func:`coerce_numeric`, milliseconds refused); a trailing " UTC" (as SQL exports
    write times, and as metrics batches take) read as Z. Left to pydantic, ``1e9`` was "input
    is too short" and epoch milliseconds were read as such, where ingestion refuses them."""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        seconds = float(coerce_numeric(pd.Series([value])).iloc[0])
        if not (isinstance(value, str) and np.isnan(seconds)):  # text that is no number: a date
            millis = epoch_ms_from_seconds(np.array([seconds]))[0]
            if not np.isfinite(millis):
                raise ValueError(
                    f"{value!r} is not a time: epoch seconds (milliseconds are refused) or ISO-8601"
                )
            return datetime.fromtimestamp(millis / 1000, tz=UTC)
    return (
        re.sub(UTC_WORD, "Z", value.strip(), flags=re.IGNORECASE)
        if isinstance(value, str)
        else value
    )


Moment = Annotated[
    datetime,
    BeforeValidator(_as_moment),
    AfterValidator(_within_years),
    WithJsonSchema(MOMENT_SCHEMA),
]


class RefusalPublic(BaseModel):
    """Why a request was refused, in one sentence (a 422 may list field problems instead)."""

    detail: str


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


class CsvIngestPublic(IngestPublic):
    note: str | None = Field(
        description="how a file of another layout was read (other column names, no header, a "
        "request log counted per second); null for a plain timestamp,value file"
    )


class RemoteWritePublic(IngestPublic):
    ignored_series: int = Field(
        description="series mapping to no known service or metric, or with labels no push "
        "may have (see POST /v1/metrics)"
    )
    ignored_samples: int
    dropped_stale: int = Field(description="Prometheus staleness markers (NaN), not data")
    dropped_not_load: int = Field(
        description="samples that are not load (infinite, negative, above 1e15), left out"
    )


class ServiceCreate(ScalingProfile):
    """A scaling profile, plus whether the service is enabled (disabled: no jobs, no actuation)."""

    enabled: bool = True


class PlanChange(BaseModel):
    """What a profile change did to the plan in force."""

    plan_id: int | None = Field(description="the new plan, or null when none could be made yet")
    message: str


class ServicePublic(BaseModel):
    name: str
    enabled: bool
    profile: ScalingProfile | None = Field(
        description="null when the stored profile no longer validates (see problem)"
    )
    problem: str | None = Field(
        default=None,
        description="why the stored profile no longer validates (a rule tightened since it "
        "was stored) and what to do: PUT a corrected one; or that the service's stored row is "
        "damaged (a value changed by hand) and how to mend it",
    )
    created_at: datetime | None = Field(description="null when the stored row is damaged")
    updated_at: datetime | None = Field(description="null when the stored row is damaged")
    plan_change: PlanChange | None = Field(
        default=None, description="set when a PUT changed an existing service's profile"
    )


class ServicesPublic(BaseModel):
    data: list[ServicePublic]
    count: int


class ForecastPointPublic(BaseModel):
    ts: datetime
    p50: float
    p90: float
    p95: float
    p99: float
    risk: float | None = Field(
        default=None, description="at the forecast's risk_quantile, when it is none of the four"
    )


class ForecastPublic(BaseModel):
    service: str
    series_id: int
    forecast_id: int
    run_id: int
    model: str
    created_at: datetime
    origin: datetime
    step_seconds: int
    risk_quantile: float | None = None
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
    stale: bool = Field(
        description="the plan ends before now, or is too old to act on (it rests on data older "
        "than FORECASTER_ACTUATION_MAX_PLAN_AGE_HOURS): actuators restore baselines"
    )
    note: str | None = Field(
        default=None, description="when stale: why (e.g. the history ends too long ago)"
    )
    total_cost: float = Field(
        description="what the steps returned cost (sum of cost_per_hour x step hours): the "
        "window asked for, not the whole stored plan"
    )
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


def _known_models(schema: dict[str, Any]) -> None:
    """The spec lists the models ``forecaster simulate --model`` takes, plugins included, as
    they are when the spec is built; the route refuses others with a message naming them."""
    schema["enum"] = known_model_names()


class SimulationCreate(StorableTextModel):
    """A what-if replay: a profile and the load to replay, inline or a service's history."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    profile: ScalingProfile | None = Field(
        default=None, description="required with points; defaults to the service's own profile"
    )
    points: list[tuple[Any, Any]] | None = Field(
        default=None, description="[timestamp, value] pairs, ISO-8601 or epoch seconds"
    )
    service: str | None = Field(default=None, min_length=1, max_length=128)
    days: float = Field(default=14.0, gt=0, le=90, description="service history to use")
    train_fraction: float = Field(default=0.5, gt=0, lt=1)
    max_replay_days: float = Field(default=7.0, gt=0, le=14)
    model: str = Field(default="auto", max_length=64, json_schema_extra=_known_models)
    policies: list[str] = Field(
        default_factory=lambda: list(POLICIES),
        min_length=1,
        json_schema_extra={"items": {"type": "string", "enum": list(POLICIES)}},
    )
    equal_spend: bool = True
    tick_seconds: float = Field(
        default=DEFAULT_TICK_SECONDS,
        description="replay tick (the HPA syncs every 15 s)",
        json_schema_extra={"enum": list(TICKS)},
    )
    replan_seconds: float = Field(default=900.0, ge=60, le=86_400)
    refit_seconds: float = Field(default=86_400.0, ge=3_600, le=7 * 86_400)
    update: bool = Field(
        default=True, description="condition the model on new data at each re-plan"
    )
    plot: bool = Field(default=False, description="include an SVG of load vs capacity")

    @model_validator(mode="after")
    def _one_source(self) -> SimulationCreate:
        if self.points is not None and self.service is not None:
            raise ValueError("give either points or service, not both")
        if self.points is None and self.service is None:
            raise ValueError("give the load to replay: points, or a service's stored history")
        if self.points is not None and self.profile is None:
            raise ValueError("inline points need a profile")
        return self


class PolicyScorePublic(BaseModel):
    under_provisioned_pct: float = Field(description="% of ticks with load above ready capacity")
    unserved_load_pct: float = Field(description="% of the load above ready capacity")
    replica_hours: float
    gpu_hours: float
    cost: float
    scale_events: int
    peak_replicas: int
    mean_replicas: float


class SimulationPublic(BaseModel):
    trace: dict[str, Any]
    profile: ScalingProfile
    forecast: dict[str, Any]
    equal_spend_target_utilization: float | None
    policies: dict[str, PolicyScorePublic]
    svg: str | None = None


# --- dashboard: history for display, forecast review, overview and service page ---


class _FromAttributes(BaseModel):
    """Read from forecaster's dataclasses and ORM rows as they are."""

    model_config = ConfigDict(from_attributes=True)


class HistoryPublic(_FromAttributes):
    """Load in buckets: ``ts`` are bucket starts; ``null`` marks a gap in the data."""

    service: str
    metric: str
    start: datetime
    end: datetime
    bucket_seconds: int
    resolution_seconds: int = Field(
        description="the spacing the buckets show: their width, or the data's own step where "
        "that is coarser (5-minute data in 1-minute buckets shows 300)"
    )
    ts: list[datetime]
    mean: list[float | None]
    max: list[float | None] = Field(description="the largest point in each bucket: peaks")


class ForecastSummaryPublic(_FromAttributes):
    id: int
    run_id: int
    model: str
    created_at: datetime
    origin: datetime
    end: datetime
    step_seconds: int
    steps: int


class ForecastsPublic(BaseModel):
    data: list[ForecastSummaryPublic]
    count: int


class BandCheckPublic(_FromAttributes):
    steps: int = Field(description="steps with both a forecast and an actual value")
    above_p95: int
    below_p5: int = Field(description="below the estimated p5 (p50 mirrored below: 2 p50 - p95)")
    mae_p50: float | None
    coverage_p95: float | None
    outside_share: float
    left_band: bool


class ForecastReviewPublic(_FromAttributes):
    """A stored forecast and the actual mean load over each of its steps (null: not yet)."""

    id: int
    series_id: int
    run_id: int
    model: str
    created_at: datetime
    origin: datetime
    step_seconds: int
    ts: list[datetime]
    p50: list[float | None]
    p90: list[float | None]
    p95: list[float | None]
    p99: list[float | None]
    actual: list[float | None]
    check: BandCheckPublic


class ChampionPublic(_FromAttributes):
    run_id: int
    model: str
    status: str
    scores: dict[str, float]
    fit_seconds: float | None
    trained_at: datetime
    message: str | None


class PlanNowPublic(_FromAttributes):
    plan_id: int
    generated_at: datetime
    ends_at: datetime | None
    stale: bool = Field(description="ran out, or too old to push: actuators restore baselines")
    ran_out: bool = Field(description="the plan ends before now")
    since: datetime | None
    replicas: int | None
    gpus: int | None
    tier: str | None
    peak_replicas: int | None
    peak_gpus: int | None
    note: str | None = Field(
        default=None, description="when stale: why, as the plan route's note says it"
    )


class SparklinePublic(_FromAttributes):
    actual_ts: list[datetime]
    actual: list[float | None]
    forecast_ts: list[datetime]
    p50: list[float | None]
    p95: list[float | None]


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

    @model_validator(mode="before")
    @classmethod
    def _from_row(cls, data: Any) -> Any:
        """Read an audit row: its ``after`` column holds the state plus notes, attempts, window."""
        if not isinstance(data, Actuation):
            return data
        after = data.after or {}
        return {
            "id": data.id,
            "plan_id": data.plan_id,
            "target": data.target,
            "kind": data.kind,
            "dry_run": data.dry_run,
            "outcome": data.outcome,
            "error": data.error,
            "actor": data.actor,
            "created_at": data.created_at,
            "before": data.before,
            "after": after.get("state", {}),
            "notes": after.get("notes", []),
            "attempts": after.get("attempts", 0),
            "window": after.get("window", {}),
        }


class ServiceSummaryPublic(_FromAttributes):
    name: str
    enabled: bool
    forecast_only: bool
    targets: list[str]
    metric: str
    unit: str | None
    current_load: float | None
    last_sample_at: datetime | None
    champion: ChampionPublic | None
    forecast_id: int | None
    forecast_created_at: datetime | None
    forecast_stale: bool
    plan: PlanNowPublic | None
    sparkline: SparklinePublic
    last_actuation: ActuationPublic | None
    band: BandCheckPublic | None
    warnings: list[str]


class OverviewPublic(BaseModel):
    generated_at: datetime
    data: list[ServiceSummaryPublic]
    count: int


class LeaderboardRowPublic(_FromAttributes):
    model: str
    champion: bool
    status: str
    scores: dict[str, float]
    fit_seconds: float | None
    message: str | None
    run_id: int
    trained_at: datetime


class EventPublic(_FromAttributes):
    id: int
    name: str
    start: datetime
    end: datetime
    multiplier: float | None


class ExclusionPublic(_FromAttributes):
    id: int
    start: datetime
    end: datetime
    reason: str


class PlanChangePublic(_FromAttributes):
    start: datetime
    end: datetime
    steps: int
    replicas: int
    gpus: int
    tier: str | None
    peak_load: float
    capacity: float
    reason: str


class PlanChartPublic(_FromAttributes):
    """The plan in force as columns; ``capacity`` is the load its replicas carry at target."""

    plan_id: int
    generated_at: datetime
    forecast_id: int | None
    quantile: float
    step_seconds: int
    total_cost: float = Field(description="the whole stored plan's cost, steps gone by included")
    cost_ahead: float = Field(description="what its steps from now on cost")
    ts: list[datetime]
    replicas: list[int]
    gpus: list[int]
    load: list[float]
    capacity: list[float]
    tier: list[str | None]
    reason: list[str]
    changes: list[PlanChangePublic]


class ServiceDetailPublic(_FromAttributes):
    summary: ServiceSummaryPublic
    profile: ScalingProfile
    leaderboard: list[LeaderboardRowPublic]
    events: list[EventPublic]
    exclusions: list[ExclusionPublic]
    actuations: list[ActuationPublic]
    plan: PlanChartPublic | None
    first_sample_at: datetime | None = Field(
        description="the driving metric's oldest stored point (null: none yet)"
    )


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
    load: float = Field(
        description=(
            "the load the replicas serve at the plan's utilisation: replicas x capacity per "
            "replica x utilisation (over tiers: each tier's), led like the replicas"
        )
    )
    service: str
    plan_id: int | None
    at: datetime


# --- forecasting engine: leaderboard, events, exclusions ---


class EventCreate(StorableTextModel):
    """A declared event (launch, campaign, holiday sale) in UTC; naive times are UTC."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field(min_length=1, max_length=128)
    start: Moment
    end: Moment
    multiplier: float | None = Field(
        default=None,
        ge=MIN_MULTIPLIER,
        le=MAX_MULTIPLIER,
        description="expected load factor (2 = double); omit to read it from the level its past "
        "windows of the same name ran at (Prophet also learns it as a regressor)",
    )


class EventsPublic(BaseModel):
    data: list[EventPublic]
    count: int


class ExclusionCreate(StorableTextModel):
    """A window (incident, outage, load test) whose samples training ignores."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    start: Moment
    end: Moment
    reason: str = Field(default="", max_length=500)


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
    series_id: int | None = Field(description="the driving series; null before any training")
    data: list[ModelRunPublic]
    count: int
