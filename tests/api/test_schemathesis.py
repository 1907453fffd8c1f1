"""Hostile input over the whole OpenAPI spec: schemathesis-generated requests never get a 5xx,
and every answer is one the spec documents: its status, and the shape given for that status.

Runs against the real app on a seeded SQLite database (one service with history and a plan, so
read routes reach their real code paths), with a bounded number of examples per operation.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from forecaster.profiles import ScalingProfile
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.training.train import train_service
from tests.helpers import ending_now, store_service, synthetic_traffic

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
    profile = ScalingProfile(capacity_per_replica=10, horizon_hours=6)
    store_service(_DATABASE, _SETTINGS, "chat", ending_now(synthetic_traffic(days=3)), profile)
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
def test_no_server_errors_and_answers_as_documented(case: schemathesis.Case) -> None:
    response = case.call()
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:300]}"
    # every status is documented, and answers in its documented shape (a 422's sentence too)
    case.validate_response(response, checks=[status_code_conformance, response_schema_conformance])
