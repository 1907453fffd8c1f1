"""Hostile input over the whole OpenAPI spec: schemathesis-generated requests never get a 5xx.

Runs against the real app on a seeded SQLite database (one service with history and a plan, so
read routes reach their real code paths), with a bounded number of examples per operation.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from api.app import create_app
from forecaster.ingestion.batch import SeriesPoints, ingest_batch
from forecaster.profiles import ScalingProfile
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.services import upsert_service
from forecaster.timeutil import utc_now
from forecaster.training.train import train_service
from tests.helpers import synthetic_traffic

MAX_EXAMPLES = 25


@schemathesis.serializer("application/x-protobuf")
def raw_bytes(_context: object, value: object) -> bytes:
    """Remote-write bodies are snappy-compressed protobuf: send whatever bytes were generated."""
    return value if isinstance(value, bytes) else str(value).encode()


# schemathesis collects one test per operation at import time, so the app exists from import
_DIRECTORY = Path(tempfile.mkdtemp(prefix="forecaster-fuzz-"))
_SETTINGS = Settings(
    database_url=f"sqlite:///{_DIRECTORY / 'fuzz.db'}",
    auth_enabled=False,
    max_points_per_batch=5000,
)
_DATABASE = Database(_SETTINGS.database_url)
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(_SETTINGS, _DATABASE))


@pytest.fixture(scope="module", autouse=True)
def seeded_service() -> Iterator[None]:
    """One service with history, a forecast and a plan, so read routes run their real code."""
    history = synthetic_traffic(days=3, step_seconds=300)
    history.index = history.index + (pd.Timestamp(utc_now()).floor("5min") - history.index[-1])
    with _DATABASE.session() as session:
        upsert_service(
            session=session,
            name="chat",
            profile=ScalingProfile(capacity_per_replica=10, horizon_hours=6),
        )
        ingest_batch(
            session=session,
            batch=[
                SeriesPoints(
                    service="chat",
                    metric="requests_per_second",
                    timestamps=(history.index.as_unit("s").asi8).tolist(),
                    values=history.tolist(),
                )
            ],
            settings=_SETTINGS,
        )
    train_service(_DATABASE, "chat", _SETTINGS, model="seasonal_naive_daily")
    yield
    _DATABASE.dispose()
    shutil.rmtree(_DIRECTORY, ignore_errors=True)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors(case: schemathesis.Case) -> None:
    response = case.call()
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:300]}"
