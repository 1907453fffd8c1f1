"""SQLAlchemy 2 typed tables: the single source of truth for forecaster's state.

Alembic revisions in ``migrations/`` create these tables; code never calls ``create_all``.
Samples keep their time as epoch milliseconds (fast bulk writes on both databases); every other
timestamp is a timezone-aware UTC datetime.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from forecaster.labels import LABELS_KEY_LENGTH
from forecaster.storage.failures import DamagedValueError
from forecaster.timeutil import as_utc, utc_now


class UTCDateTime(TypeDecorator[datetime]):
    """A datetime column that only ever holds and returns timezone-aware UTC values."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a timezone")
        return as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[Any], datetime | None] | None:
        """SQLite keeps a time as text, which SQLAlchemy parses: text that is no time (a row
        changed by hand) raised its ValueError, a bare 500, where it is damaged data; so did
        a number or a blob there (an epoch written by hand), with a TypeError."""
        process = super().result_processor(dialect, coltype)
        if process is None:
            return None

        def read(value: Any) -> datetime | None:
            try:
                return process(value)
            except (ValueError, TypeError) as error:
                raise DamagedValueError(f"a stored time is malformed: {error}") from None

        return read


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: UTCDateTime}


class Service(Base):
    """A scaled inference service and its scaling profile (validated by ``ScalingProfile``)."""

    __tablename__ = "services"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    profile: Mapped[dict[str, Any]]
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # targets taken out of the profile, until the actuation pass has restored their baselines
    retired_targets: Mapped[list[Any]] = mapped_column(default=list, server_default=text("'[]'"))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)

    series: Mapped[list[Series]] = relationship(back_populates="service")


class Series(Base):
    """One metric of one service with fixed labels, e.g. requests_per_second{region="eu"}."""

    __tablename__ = "series"
    __table_args__ = (UniqueConstraint("service_id", "metric", "labels_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    metric: Mapped[str] = mapped_column(String(64))
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    labels_key: Mapped[str] = mapped_column(String(LABELS_KEY_LENGTH), default="")
    unit: Mapped[str | None] = mapped_column(String(32))

    service: Mapped[Service] = relationship(back_populates="series")


class Sample(Base):
    """One observed point. The primary key makes a re-sent point replace the stored one."""

    __tablename__ = "samples"

    series_id: Mapped[int] = mapped_column(
        ForeignKey("series.id", ondelete="CASCADE"), primary_key=True
    )
    ts_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    value: Mapped[float] = mapped_column(Float)


class ModelRun(Base):
    """One trained (or failed) candidate model for a series, with its backtest scores."""

    __tablename__ = "model_runs"
    __table_args__ = (Index("ix_model_runs_series_champion", "series_id", "is_champion"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    train_start: Mapped[datetime | None]
    train_end: Mapped[datetime | None]
    step_seconds: Mapped[int] = mapped_column(Integer)
    scores: Mapped[dict[str, Any]] = mapped_column(default=dict)
    calibration: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16))  # ok | failed | fallback
    message: Mapped[str | None] = mapped_column(Text)
    is_champion: Mapped[bool] = mapped_column(Boolean, default=False)
    fit_seconds: Mapped[float | None] = mapped_column(Float)
    artifact: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class Forecast(Base):
    """A forecast made by a model run from some origin; its points live in ForecastPoint."""

    __tablename__ = "forecasts"
    __table_args__ = (
        Index("ix_forecasts_series_created", "series_id", "created_at"),
        Index("ix_forecasts_run_id", "run_id"),  # deleting old model runs (housekeeping)
        Index("ix_forecasts_series_newest", "series_id", "id"),  # a series' newest forecast
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("model_runs.id", ondelete="CASCADE"))
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id", ondelete="CASCADE"))
    origin: Mapped[datetime]  # first forecast timestamp
    step_seconds: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    # a profile's risk quantile outside p50/p90/p95/p99, kept in each point's ``risk``
    risk_quantile: Mapped[float | None] = mapped_column(Float)

    points: Mapped[list[ForecastPoint]] = relationship(
        order_by="ForecastPoint.ts", cascade="all, delete-orphan"
    )


class ForecastPoint(Base):
    """The load quantiles forecast for one future step [ts, ts + step)."""

    __tablename__ = "forecast_points"

    forecast_id: Mapped[int] = mapped_column(
        ForeignKey("forecasts.id", ondelete="CASCADE"), primary_key=True
    )
    ts: Mapped[datetime] = mapped_column(primary_key=True)
    p50: Mapped[float] = mapped_column(Float)
    p90: Mapped[float] = mapped_column(Float)
    p95: Mapped[float] = mapped_column(Float)
    p99: Mapped[float] = mapped_column(Float)
    risk: Mapped[float | None] = mapped_column(Float)  # at the forecast's risk_quantile


class Plan(Base):
    """A capacity plan for a service, computed from one forecast."""

    __tablename__ = "plans"
    __table_args__ = (
        Index("ix_plans_service_generated", "service_id", "generated_at"),
        Index("ix_plans_forecast_id", "forecast_id"),  # deleting old forecasts (housekeeping)
        Index("ix_plans_service_newest", "service_id", "id"),  # a service's newest plan
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    forecast_id: Mapped[int | None] = mapped_column(ForeignKey("forecasts.id", ondelete="SET NULL"))
    generated_at: Mapped[datetime] = mapped_column(default=utc_now)
    step_seconds: Mapped[int] = mapped_column(Integer)
    quantile: Mapped[float] = mapped_column(Float)
    total_cost: Mapped[float] = mapped_column(Float, default=0.0)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # the steps as the plan route serves them, encoded once at write time (plan_views.py):
    # JSON rows joined by newlines, and their start times as little-endian int64 epoch ms
    steps_json: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    step_starts_ms: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)

    steps: Mapped[list[PlanStep]] = relationship(
        order_by="PlanStep.ts", cascade="all, delete-orphan"
    )


class PlanStep(Base):
    """From ``ts`` until the next step, the replica floor should be ``replicas``."""

    __tablename__ = "plan_steps"

    plan_id: Mapped[int] = mapped_column(
        ForeignKey("plans.id", ondelete="CASCADE"), primary_key=True
    )
    ts: Mapped[datetime] = mapped_column(primary_key=True)
    replicas: Mapped[int] = mapped_column(Integer)
    gpus: Mapped[int] = mapped_column(Integer)
    load: Mapped[float] = mapped_column(Float)  # the load quantile this step covers
    tier: Mapped[str | None] = mapped_column(String(64))
    cost_per_hour: Mapped[float] = mapped_column(Float, default=0.0)
    reason: Mapped[str] = mapped_column(Text, default="")


class Event(Base):
    """A declared event (launch, campaign) that changes expected load."""

    __tablename__ = "events"
    # one row per name and window: a declaration sent again replaces it (a retry compounded)
    __table_args__ = (Index("ux_events_window", "service_id", "name", "start", "end", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    start: Mapped[datetime]
    end: Mapped[datetime]
    multiplier: Mapped[float | None] = mapped_column(Float)


class Exclusion(Base):
    """A window (incident, outage) whose samples training must ignore."""

    __tablename__ = "exclusions"
    __table_args__ = (Index("ux_exclusions_window", "service_id", "start", "end", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    start: Mapped[datetime]
    end: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text, default="")


class Actuation(Base):
    """An audit record of one push (or dry run) of a plan to one autoscaler target."""

    __tablename__ = "actuations"
    __table_args__ = (
        Index("ix_actuations_service_created", "service_id", "created_at"),
        Index("ix_actuations_service_newest", "service_id", "id"),  # a service's newest
        Index("ix_actuations_plan_id", "plan_id"),  # deleting old plans (housekeeping)
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id", ondelete="SET NULL"))
    target: Mapped[str] = mapped_column(String(256))
    kind: Mapped[str] = mapped_column(String(64))
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    before: Mapped[dict[str, Any]] = mapped_column(default=dict)
    after: Mapped[dict[str, Any]] = mapped_column(default=dict)
    outcome: Mapped[str] = mapped_column(String(32))  # applied | unchanged | restored | failed
    error: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(128), default="scheduler")
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class JobRun(Base):
    """One execution of a scheduled or requested job (train, plan, actuate, ...)."""

    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_started", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(64))
    service: Mapped[str | None] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(default=utc_now)
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))  # running | ok | failed
    message: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # renewed while the run goes on by the process running it (forecaster.storage.jobs)
    heartbeat_at: Mapped[datetime | None]


class ApiKey(Base):
    """An API key: only a hash is stored; ``prefix`` identifies it in listings."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(128))
    scopes: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
