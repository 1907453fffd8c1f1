"""Process-wide settings, read once from the environment (prefix ``FORECASTER_``).

The API, the CLI and the scheduled jobs all call :func:`get_settings`; tests build their own
:class:`Settings` and pass it explicitly so nothing leaks between them.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Configuration grouped by topic; every field can be set as ``FORECASTER_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="FORECASTER_", extra="ignore")

    # --- database ---
    database_url: str = "sqlite:///forecaster.db"

    # --- API server ---
    host: str = "127.0.0.1"
    port: int = 8000
    auth_enabled: bool = True

    # --- ingestion limits ---
    max_points_per_batch: int = Field(default=200_000, gt=0)
    max_series_per_request: int = Field(default=1_000, gt=0)
    max_body_bytes: int = Field(default=32 * 1024 * 1024, gt=0)
    max_future_seconds: int = Field(default=3_600, ge=0)

    # --- forecasting and planning ---
    default_horizon_hours: float = Field(default=48.0, gt=0)
    max_horizon_hours: float = Field(default=24.0 * 14, gt=0)
    training_days: float = Field(default=35.0, gt=0)


@lru_cache
def get_settings() -> Settings:
    """The settings of this process, parsed from the environment on first use."""
    return Settings()
