"""Prometheus remote-write receiver: ``POST /api/v1/write`` (protobuf + snappy, version 1.0).

Point a Prometheus at it with ``remote_write: [{url: http://forecaster/api/v1/write}]``.
Bad payloads get a 400 (Prometheus does not retry 4xx); a database outage gets a 503, which
Prometheus retries with backoff, so nothing acknowledged is lost.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, HTTPException

from api.deps import BodyDep, SessionDep, SettingsDep
from api.schemas import RemoteWritePublic
from forecaster.ingestion.remote_write import ingest_remote_write

router = APIRouter(tags=["metrics"])

PROTOBUF_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-protobuf": {
                "schema": {
                    "type": "string",
                    "format": "binary",
                    "description": "snappy-compressed prometheus.WriteRequest",
                }
            }
        },
    }
}


@router.post(
    "/api/v1/write",
    response_model=RemoteWritePublic,
    openapi_extra=PROTOBUF_BODY,
    responses={415: {"description": "remote-write 2.0 payloads are not supported"}},
)
def remote_write(
    body: BodyDep,
    session: SessionDep,
    settings: SettingsDep,
    content_type: Annotated[str | None, Header()] = None,
) -> RemoteWritePublic:
    """Receive samples pushed by Prometheus remote-write; unknown series are counted, ignored."""
    if content_type and "io.prometheus.write.v2" in content_type:
        # the 2.0 spec asks receivers to refuse message types they do not know with a 415
        raise HTTPException(415, "remote-write 2.0 is not supported; send 1.0 (WriteRequest)")
    result = ingest_remote_write(session=session, body=body, settings=settings)
    return RemoteWritePublic.model_validate(result, from_attributes=True)
