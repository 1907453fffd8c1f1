"""The demo: an empty SQLite file, a real trace, a trained forecaster and a plan, ready to serve.

``forecaster demo`` calls :func:`prepare_demo`, then serves the API. The trace is shifted in time
so it ends now, which makes the plan cover the coming hours.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd
from sqlalchemy import URL

from forecaster.ingestion.batch import SeriesPoints, ingest_batch
from forecaster.jobs.tasks import train_on_demand
from forecaster.profiles import ScalingProfile
from forecaster.settings import load_settings
from forecaster.storage.db import Database
from forecaster.storage.services import upsert_service
from forecaster.timeutil import epoch_ns, utc_now
from forecaster.training.train import TrainResult

DEMO_SERVICE = "demo-chat"
DEMO_TRACE = "twitter_volume_fb_5min.csv"
DEMO_PROFILE = ScalingProfile(
    metric="requests_per_second",
    step_seconds=300,
    horizon_hours=48,
    capacity_per_replica=20,
    target_utilization=0.7,
    min_replicas=2,
    max_replicas=40,
    startup_seconds=180,
    scale_down_delay_seconds=600,
    risk_quantile=0.95,
    gpus_per_replica=1,
    gpu_type="nvidia-l4",
    cost_per_replica_hour=0.8,
    forecast_only=True,
)


@dataclass(frozen=True)
class DemoResult:
    database_url: str
    points: int
    train: TrainResult


def demo_trace() -> pd.DataFrame:
    """The bundled trace, shifted so its last point is the latest whole 5 minutes."""
    with resources.files("forecaster.data").joinpath(DEMO_TRACE).open("r") as handle:
        frame = pd.read_csv(handle)
    stamps = pd.to_datetime(frame["timestamp"], utc=True)
    now = pd.Timestamp(utc_now()).floor("5min")
    shifted = stamps + (now - stamps.iloc[-1])
    frame["timestamp"] = epoch_ns(pd.DatetimeIndex(shifted)) / 1e9
    return frame


SQLITE_HEADER = b"SQLite format 3\x00"


def not_a_demo_database(database_file: Path) -> str | None:
    """Why ``database_file`` must not be recreated, or None when it may be: absent, empty, or
    an earlier demo's (a forecaster database whose only service is the demo's and that holds
    no API key). The demo deletes the file first, and a typo in --database wiped whatever
    it named, a production database included."""
    if not database_file.exists() or database_file.stat().st_size == 0:
        return None
    with database_file.open("rb") as handle:
        if handle.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            return "it is not a SQLite file"
    try:  # read-only: nothing is changed, not even a journal is created
        with contextlib.closing(
            sqlite3.connect(f"{database_file.resolve().as_uri()}?mode=ro", uri=True)
        ) as connection:
            services = {row[0] for row in connection.execute("SELECT name FROM services")}
            keys = connection.execute("SELECT count(*) FROM api_keys").fetchone()[0]
    except sqlite3.Error as error:
        return f"it is not a forecaster database the demo made ({error})"
    if others := sorted(services - {DEMO_SERVICE}):
        more = ", ..." if len(others) > 3 else ""
        return f"it holds other services ({', '.join(others[:3])}{more})"
    if keys:
        return f"it holds {keys} API key(s), which the demo never makes"
    return None


def prepare_demo(database_file: Path) -> DemoResult:
    """Start from an empty SQLite file: create the service, ingest the trace, train and plan.
    The caller checks :func:`not_a_demo_database` first: the file is deleted here."""
    database_file.unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        Path(f"{database_file}{suffix}").unlink(missing_ok=True)
    url = URL.create("sqlite", database=str(database_file)).render_as_string()
    settings = load_settings(database_url=url, auth_enabled=False)
    database = Database(url)
    database.migrate()
    trace = demo_trace()
    with database.session() as session:
        upsert_service(session=session, name=DEMO_SERVICE, profile=DEMO_PROFILE)
        result = ingest_batch(
            session=session,
            batch=[
                SeriesPoints(
                    service=DEMO_SERVICE,
                    metric=DEMO_PROFILE.metric,
                    timestamps=trace["timestamp"].tolist(),
                    values=trace["value"].tolist(),
                    unit="req/s",
                )
            ],
            settings=settings,
        )
    trained = train_on_demand(database, DEMO_SERVICE, settings)
    database.dispose()
    return DemoResult(database_url=url, points=result.stored, train=trained)
