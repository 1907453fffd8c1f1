"""Process-wide settings, read once from the environment (prefix ``FORECASTER_``).

The API, the CLI and the scheduled jobs all call :func:`get_settings`; tests build their own
:class:`Settings` and pass it explicitly so nothing leaks between them.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from forecaster.errors import ConfigurationError
from forecaster.logs import log_level, without_password

ENV_PREFIX = "FORECASTER_"
log = logging.getLogger(__name__)


MAX_DAYS = 36_500  # a hundred years: "keep forever" without overflowing a date
HOUR = 3600  # the longest wait: a timeout, a back-off, the scheduler's waits
MAX_INTERVAL_DAYS = 366  # the longest interval (schedules too): a next run within a date's reach
MAX_INTERVAL_SECONDS = MAX_INTERVAL_DAYS * 86_400


class Settings(BaseSettings):
    """Configuration grouped by topic; every field can be set as ``FORECASTER_<NAME>``."""

    # inf and nan are no settings: each became a traceback deep in a job (a timedelta of inf)
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", allow_inf_nan=False)

    # --- database ---
    database_url: str = "sqlite:///forecaster.db"
    # a request finding every pooled connection busy waits this long, then gets a 503 with
    # Retry-After: SQLAlchemy's 30 s held requests past most clients' and proxies' timeouts
    database_pool_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=HOUR,
        description="how long an API request waits for a pooled connection when all are busy",
    )

    # --- API server ---
    host: str = Field(default="127.0.0.1", min_length=1)  # "" listened on every interface
    port: int = Field(default=8000, ge=1, le=65535)
    auth_enabled: bool = True
    # read by configure_logging before the settings; here so a bad value stops every command
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR")

    # --- ingestion limits ---
    max_points_per_batch: int = Field(default=200_000, gt=0)
    max_series_per_request: int = Field(default=1_000, gt=0)
    max_body_bytes: int = Field(default=32 * 1024 * 1024, gt=0)
    max_future_seconds: int = Field(default=3_600, ge=0)

    # --- Prometheus remote-write receiver (POST /api/v1/write) ---
    remote_write_service_label: str = Field(
        default="service", min_length=1, description="label naming the forecaster service"
    )
    remote_write_metric_label: str = Field(
        default="__name__", min_length=1, description="label naming the metric"
    )
    remote_write_metric_map: dict[str, str] = Field(
        default_factory=dict,
        description="Prometheus metric name -> forecaster metric (JSON in the environment)",
    )

    # --- Prometheus pull (forecaster pull; per-service queries live in the profile) ---
    prometheus_url: str | None = Field(default=None, description="e.g. http://prometheus:9090")
    prometheus_step_seconds: int = Field(default=60, ge=1, le=3600)
    prometheus_backfill_days: float = Field(
        default=14.0, gt=0, le=MAX_DAYS, description="first-run history"
    )
    prometheus_max_points_per_query: int = Field(
        default=10_000, ge=2, le=11_000, description="per series; Prometheus refuses > 11,000"
    )
    prometheus_lag_seconds: float = Field(
        default=60.0, ge=0, description="leave the newest seconds until scrapes have landed"
    )
    prometheus_timeout_seconds: float = Field(default=30.0, gt=0, le=HOUR)
    prometheus_retries: int = Field(default=3, ge=0, le=10)
    prometheus_backoff_seconds: float = Field(default=1.0, ge=0, le=HOUR)

    # --- retention: raw points older than this are rolled up to the training step ---
    retention_raw_days: float = Field(default=7.0, gt=0, le=MAX_DAYS)
    retention_records_days: float = Field(
        default=30.0,
        gt=0,
        le=MAX_DAYS,
        description="job runs and 'unchanged' actuation records kept this long",
    )
    retention_forecast_days: float = Field(
        default=7.0,
        gt=0,
        le=MAX_DAYS,
        description="forecasts, plans and model runs kept this long (those in use are kept)",
    )

    # --- forecasting and planning ---
    max_horizon_hours: float = Field(default=24.0 * 14, gt=0, le=MAX_DAYS * 24)
    training_days: float = Field(default=35.0, gt=0, le=MAX_DAYS)
    training_workers: int = Field(
        default=0,
        ge=0,
        le=64,
        description="processes that train series side by side; 0: one per CPU, at most 4",
    )
    dask_scheduler: str | None = Field(
        default=None,
        max_length=256,
        description="a Dask scheduler (tcp://host:8786) whose workers train the series instead",
    )

    # --- what-if simulations (POST /v1/simulations; the offline CLI is not limited) ---
    # a forecast of the default model takes ~0.1 s, an autoscaler tick ~0.3-1 us: the defaults
    # keep a request to a minute or two of CPU and admit a week's replay at 15-min re-plans
    simulation_max_forecasts: int = Field(
        default=1_000, gt=0, description="forecasts the predictive policy may make per request"
    )
    simulation_max_tick_steps: int = Field(
        default=20_000_000, gt=0, description="replay ticks x autoscaler runs per request"
    )
    # a refit is a full training (for auto: every candidate's backtest), seconds each: hourly
    # LightGBM refits over a week's replay kept a request busy for three minutes
    simulation_max_refits: int = Field(
        default=14, gt=0, description="model refits the predictive policy may make per request"
    )
    # each replay holds a core: without a cap, clients' retries pile up on the cores
    simulation_max_running: int = Field(
        default=2, gt=0, description="simulations replaying at once; one more gets a 429"
    )

    # --- scheduled jobs (forecaster worker, forecaster serve --scheduler) ---
    # a schedule is a crontab line in UTC ("*/5 * * * *") or an interval ("every 15min")
    run_scheduler: bool = Field(default=False, description="run the jobs inside the API process")
    train_schedule: str = "0 3 * * *"
    forecast_schedule: str = "every 15min"
    actuate_schedule: str = "*/5 * * * *"
    pull_schedule: str = "every 1min"  # Prometheus sources of the profiles: only what is new
    retention_schedule: str = "30 2 * * *"
    # one per job that may run at once, so a long training or a slow Prometheus never holds
    # back the five-minute actuation
    scheduler_threads: int = Field(default=5, ge=1, le=32)
    worker_nice: int = Field(
        default=10, ge=0, le=19, description="CPU niceness of `forecaster worker` (0: none)"
    )
    scheduler_misfire_grace_seconds: int = Field(default=300, ge=1, le=MAX_INTERVAL_SECONDS)
    scheduler_lock_retry_seconds: float = Field(default=15.0, gt=0, le=HOUR)
    scheduler_stop_grace_seconds: float = Field(
        default=20.0,
        ge=0,
        le=HOUR,
        description="on SIGTERM, how long running jobs may go on (Kubernetes kills after 30 s); "
        "after losing the leader lock, how long they are waited for before contending again",
    )

    # --- actuation ---
    actuation_interval_seconds: float = Field(
        default=300,
        gt=0,
        le=MAX_INTERVAL_SECONDS,
        description="how often actuate runs: each push covers this long",
    )
    actuation_lead_seconds: float = Field(
        default=60,
        ge=0,
        le=MAX_INTERVAL_SECONDS,
        description="extra margin for the push to take effect",
    )
    actuation_max_plan_age_hours: float = Field(
        default=6,
        gt=0,
        le=MAX_DAYS * 24,
        description="older plans are stale: targets go back to their baseline",
    )
    actuator_connect_timeout_seconds: float = Field(default=3, gt=0, le=HOUR)
    actuator_read_timeout_seconds: float = Field(default=10, gt=0, le=HOUR)
    actuator_credential_timeout_seconds: float = Field(
        default=30,
        gt=0,
        le=HOUR,
        description="how long a kubeconfig's exec plugin, or AWS's credential chain, may take",
    )
    actuator_retry_attempts: int = Field(default=4, ge=1, le=10)
    actuator_retry_base_seconds: float = Field(default=0.5, ge=0, le=HOUR)
    actuator_retry_max_seconds: float = Field(default=8, ge=0, le=HOUR)

    @property
    def actuation_max_plan_age_seconds(self) -> float:
        """``actuation_max_plan_age_hours`` in seconds, as the plan windows read it."""
        return self.actuation_max_plan_age_hours * 3600

    @property
    def training_processes(self) -> int:
        """How many processes train series side by side (each takes ~300 MB once started)."""
        if self.training_workers:
            return self.training_workers
        return max(1, min(4, len(os.sched_getaffinity(0))))

    @field_validator(
        "train_schedule",
        "forecast_schedule",
        "actuate_schedule",
        "pull_schedule",
        "retention_schedule",
    )
    @classmethod
    def _check_schedule(cls, value: str) -> str:
        from forecaster.jobs.triggers import parse_schedule

        parse_schedule(value)  # raises ValueError naming the problem
        return value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        return log_level(value)

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        from forecaster.storage.db import normalise_url

        try:
            url = make_url(normalise_url(value))
            url.get_dialect()
        except (ArgumentError, NoSuchModuleError, ValueError):
            raise ValueError(
                "not a database URL: use sqlite:///path/file.db or "
                "postgresql+psycopg://user@host:5432/database"
            ) from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError(f"{url.get_backend_name()} is not supported: use SQLite or PostgreSQL")
        return value

    @field_validator("remote_write_metric_map")
    @classmethod
    def _check_metric_map(cls, value: dict[str, str]) -> dict[str, str]:
        """A target that is no metric would ignore every series of that name without a word."""
        from forecaster.profiles import KNOWN_METRICS

        unknown = sorted({target for target in value.values() if target not in KNOWN_METRICS})
        if unknown:
            raise ValueError(
                f"maps to {', '.join(map(repr, unknown))}, which is no metric; "
                f"metrics are {', '.join(sorted(KNOWN_METRICS))}"
            )
        return value

    @field_validator("prometheus_url")
    @classmethod
    def _check_prometheus_url(cls, value: str | None) -> str | None:
        if value is not None and (problem := prometheus_url_problem(value)):
            raise ValueError(problem)
        return value

    @field_validator("dask_scheduler")
    @classmethod
    def _check_dask_scheduler(cls, value: str | None) -> str | None:
        """Dask reads only ``protocol://host:port``: anything else failed at the first
        training (which then ran here, with a warning), not at start-up."""
        if value is None:
            return None
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError as error:
            raise ValueError(f"not an address ({error})") from None
        if not parts.scheme or not parts.hostname or port is None or parts.path not in ("", "/"):
            raise ValueError("not a Dask scheduler address such as tcp://dask-scheduler:8786")
        return value


def prometheus_url_problem(value: str) -> str | None:
    """What is wrong with a Prometheus base URL, or None: the one check of
    FORECASTER_PROMETHEUS_URL and ``forecaster pull --prometheus-url`` (an option applied with
    ``model_copy`` skips the validators, and a URL that cannot work was retried for seconds)."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as error:
        return f"not a URL ({error})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "not an http(s) URL such as http://prometheus:9090"
    return None


def env_name(field: str) -> str:
    """The environment variable that sets a field: ``port`` -> ``FORECASTER_PORT``."""
    return f"{ENV_PREFIX}{field.upper()}"


def settings_problems(error: ValidationError) -> str:
    """A Settings validation error as one line naming each variable, its value and the problem,
    without pydantic's type codes and links: ``FORECASTER_PORT="abc": Input should be ...``."""
    problems = []
    for problem in error.errors(include_url=False):
        field = str(problem["loc"][0]) if problem["loc"] else ""
        value = problem.get("input")
        shown = f"={without_password(value)!r}" if isinstance(value, str) else ""
        message = problem["msg"].removeprefix("Value error, ")
        problems.append(f"{env_name(field)}{shown}: {message}")
    return "; ".join(problems)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment (and ``overrides``); ConfigurationError naming the
    variable when one holds a value the service cannot run with."""
    _warn_of_misspelt_variables()
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise ConfigurationError(settings_problems(error)) from None
    except SettingsError as error:  # a JSON variable (a map) that is not JSON
        found = re.search(r'field "(\w+)"', str(error))
        name = env_name(found.group(1)) if found else "a FORECASTER_ variable"
        raise ConfigurationError(f"{name}: not valid JSON") from None


_WARNED_OF: set[str] = set()  # variables already named: settings are read more than once


def _warn_of_misspelt_variables() -> None:
    """A ``FORECASTER_*`` variable close to a setting's name but not one (a typo) is ignored
    by the settings: say so, once a process, naming the one probably meant, rather than run
    on its default."""
    known = [env_name(field) for field in Settings.model_fields]
    for name in sorted(os.environ):
        if not name.startswith(ENV_PREFIX) or name in known or name in _WARNED_OF:
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
        if close:
            _WARNED_OF.add(name)
            log.warning("%s is not a setting and is ignored; did you mean %s?", name, close[0])


@lru_cache
def get_settings() -> Settings:
    """The settings of this process, parsed from the environment on first use."""
    return load_settings()
