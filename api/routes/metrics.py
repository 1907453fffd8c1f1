"""Ingestion routes: JSON batches and CSV uploads of metric points."""

from __future__ import annotations

import io

import pandas as pd
from fastapi import APIRouter, Query, UploadFile

from api.deps import SessionDep, SettingsDep
from api.schemas import IngestPublic, MetricsBatch
from forecaster.errors import InvalidInputError, PayloadTooLargeError
from forecaster.ingestion.batch import SeriesPoints, ingest_batch

router = APIRouter(prefix="/v1/metrics", tags=["metrics"])


@router.post("", response_model=IngestPublic)
def post_metrics(batch: MetricsBatch, session: SessionDep, settings: SettingsDep) -> IngestPublic:
    """Store one batch of points for many series, whole or not at all."""
    items = [
        SeriesPoints(
            service=item.service,
            metric=item.metric,
            labels=item.labels,
            unit=item.unit,
            timestamps=[point[0] for point in item.points],
            values=[point[1] for point in item.points],
        )
        for item in batch.series
    ]
    result = ingest_batch(session=session, batch=items, settings=settings)
    return IngestPublic(stored=result.stored, series=result.series)


@router.post("/csv", response_model=IngestPublic)
def post_metrics_csv(
    file: UploadFile,
    session: SessionDep,
    settings: SettingsDep,
    service: str = Query(min_length=1, max_length=128),
    metric: str = Query(min_length=1, max_length=64),
    unit: str | None = Query(default=None, max_length=32),
) -> IngestPublic:
    """Store a CSV file with columns ``timestamp,value`` as points of one series."""
    content = file.file.read(settings.max_body_bytes + 1)
    if len(content) > settings.max_body_bytes:
        raise PayloadTooLargeError(f"CSV upload exceeds {settings.max_body_bytes} bytes")
    frame = read_points_csv(content)
    item = SeriesPoints(
        service=service,
        metric=metric,
        unit=unit,
        timestamps=frame["timestamp"].tolist(),
        values=frame["value"].tolist(),
    )
    result = ingest_batch(session=session, batch=[item], settings=settings)
    return IngestPublic(stored=result.stored, series=result.series)


def read_points_csv(content: bytes) -> pd.DataFrame:
    """Parse uploaded CSV text into raw ``timestamp`` and ``value`` columns (validated later)."""
    try:
        frame = pd.read_csv(io.BytesIO(content), dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise InvalidInputError(f"cannot read CSV: {error}") from None
    missing = {"timestamp", "value"} - set(frame.columns)
    if missing:
        raise InvalidInputError(
            f"CSV needs columns timestamp,value; missing {sorted(missing)} "
            f"(got {list(frame.columns)})"
        )
    return frame
