"""FastAPI dependencies as ``Annotated`` aliases, in one place, so routes stay a few lines."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session

from forecaster.settings import Settings
from forecaster.storage.db import Database


# async: trivial lookups run on the event loop instead of costing a worker-thread hop each
async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """A session per request: committed when the route returns, rolled back if it raises."""
    database: Database = request.app.state.database
    with database.session() as session:
        yield session


async def get_body(request: Request) -> bytes:
    """The raw request body, for ingest routes that parse it themselves (fast JSON, protobuf).

    ``BodySizeLimitMiddleware`` has already refused anything over ``max_body_bytes`` with a 413,
    so this read is bounded.
    """
    return await request.body()


DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
# scope="function": the commit runs before the response is sent, so a 200 means "stored"
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
BodyDep = Annotated[bytes, Depends(get_body)]


def row_id(what: str) -> Any:
    """A path parameter holding a table row's id: ids are 32-bit, so larger numbers get a 422."""
    return Path(ge=1, le=2**31 - 1, description=f"{what} id")
