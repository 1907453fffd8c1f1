"""Ingestion routes: JSON batches and CSV uploads of metric points."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from pydantic import BaseModel

from api.content_type import as_sent, is_json, media_type
from api.deps import ONE_FILE_DOC, DecodedBodyDep, OneFileDep, SessionDep, SettingsDep
from api.schemas import CsvIngestPublic, IngestPublic, MetricsBatch
from forecaster.errors import InvalidInputError, PayloadTooLargeError
from forecaster.ingestion.batch import ingest_batch, ingest_long_series
from forecaster.ingestion.json_batch import parse_metrics_json
from forecaster.offline import points_to_store
from forecaster.profiles import METRIC_CHOICES
from forecaster.storable_text import StorableStr

router = APIRouter(prefix="/v1/metrics", tags=["metrics"])


def json_body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI ``requestBody`` for a route that reads its raw body itself (``$defs`` inlined)."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(value) for value in node]
        return node

    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline(schema)}},
        }
    }


@router.post(
    "",
    response_model=IngestPublic,
    openapi_extra=json_body_doc(MetricsBatch),
    responses={415: {"description": "a Content-Encoding other than gzip"}},
)
def post_metrics(
    body: DecodedBodyDep,
    session: SessionDep,
    settings: SettingsDep,
    content_type: Annotated[str | None, Header()] = None,
) -> IngestPublic:
    """Store one batch of points for many series, whole or not at all."""
    try:
        batch = parse_metrics_json(body)
    except InvalidInputError as error:
        raise InvalidInputError(f"{error}{content_type_hint(content_type)}") from None
    result = ingest_batch(session=session, batch=batch, settings=settings)
    return IngestPublic(stored=result.stored, series=result.series)


@router.post("/csv", response_model=CsvIngestPublic, openapi_extra=ONE_FILE_DOC)
def post_metrics_csv(
    file: OneFileDep,
    session: SessionDep,
    settings: SettingsDep,
    service: Annotated[StorableStr, Query(min_length=1, max_length=128)],
    metric: Annotated[
        StorableStr, Query(min_length=1, max_length=64, json_schema_extra=METRIC_CHOICES)
    ],
    unit: Annotated[StorableStr | None, Query(max_length=32)] = None,
    value_column: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=256,
            description="the value column of a wider CSV; in a request log, the column to sum"
            " per second (e.g. GeneratedTokens) instead of counting requests",
        ),
    ] = None,
) -> CsvIngestPublic:
    """Store a CSV as points of one series: the layouts ``forecaster ingest`` reads."""
    content = file.file.read(settings.max_body_bytes + 1)
    if len(content) > settings.max_body_bytes:
        raise PayloadTooLargeError(f"CSV upload exceeds {settings.max_body_bytes} bytes")
    item, note = points_to_store(
        content,
        value_column,
        service=service,
        metric=metric,
        unit=unit,
        name=file.filename or "CSV",
        value_option="value_column=",
    )
    result = ingest_long_series(session=session, item=item, settings=settings)
    return CsvIngestPublic(stored=result.stored, series=result.series, note=note)


def content_type_hint(content_type: str | None) -> str:
    """Why a body may not have been JSON, when the request did not say it was: ``curl -d`` sends
    form encoding, and CSV belongs to ``/v1/metrics/csv``."""
    media = media_type(content_type)
    if is_json(media):
        return ""
    return (
        f" (the request has {as_sent(media)}; send the batch as JSON with Content-Type:"
        " application/json, or a CSV file to /v1/metrics/csv)"
    )
