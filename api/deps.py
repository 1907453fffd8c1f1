"""FastAPI dependencies as ``Annotated`` aliases, in one place, so routes stay a few lines."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from forecaster.errors import PayloadTooLargeError
from forecaster.settings import Settings
from forecaster.storage.db import Database


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """A session per request: committed when the route returns, rolled back if it raises."""
    with get_database(request).session() as session:
        yield session


async def get_body(request: Request) -> bytes:
    """The raw request body, refused (413) as soon as it passes ``max_body_bytes``.

    Ingest routes parse bodies themselves (fast paths, protobuf); this keeps memory bounded
    even when a client lies about or omits ``Content-Length``.
    """
    limit = get_settings(request).max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"request body of {declared} bytes exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"request body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
BodyDep = Annotated[bytes, Depends(get_body)]
