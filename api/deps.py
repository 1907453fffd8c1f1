"""FastAPI dependencies as ``Annotated`` aliases, in one place, so routes stay a few lines."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.content_type import as_sent, media_type
from forecaster.errors import InvalidInputError, PayloadTooLargeError, listing, quoted
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


async def get_decoded_body(request: Request) -> bytes:
    """The request body with its ``Content-Encoding`` undone: a gzip body read as it came was
    refused as unreadable JSON. The size cap applies to the decoded body too (a small gzip can
    hold gigabytes); encodings other than gzip get a 415 rather than a misreading."""
    body = await request.body()
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip"):
        raise HTTPException(
            415, f"Content-Encoding {encoding} is not supported; send the body plain or gzip"
        )
    settings: Settings = request.app.state.settings
    return await run_in_threadpool(gunzip, body, max_bytes=settings.max_body_bytes)


# a form without a "file" part is told the names of this many of its parts, and how many more
NAMED_PARTS = 10
# the request body of a route taking OneFileDep, for OpenAPI: the dependency reads the form
ONE_FILE_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


async def get_one_file(request: Request) -> AsyncIterator[UploadFile]:
    """The uploaded ``file`` part, refused when there are several: FastAPI keeps the last one
    and drops the others without a word. Read from the form here rather than declared as a
    parameter: a CSV sent as the raw body (``curl --data-binary``) got FastAPI's bare
    "body.file: Field required", which does not say that a multipart part was wanted. The
    form's files are closed when the request is done."""
    media = media_type(request.headers.get("content-type"))
    wanted = InvalidInputError(
        'send the CSV as a multipart/form-data file part named "file" '
        f"(curl -F file=@trace.csv); the request has {as_sent(media)}"
    )
    if media != "multipart/form-data":  # not parsed: a large CSV read as a form is a 400
        raise wanted
    async with request.form() as form:
        parts = form.getlist("file")
        if len(parts) > 1:
            raise InvalidInputError(f"send one file part, got {len(parts)}")
        if not parts or not isinstance(parts[0], UploadFile):
            raise _no_file_part(list(form.keys()), has_text_field=bool(parts))
        yield parts[0]


def _no_file_part(names: list[str], *, has_text_field: bool) -> InvalidInputError:
    """The refusal of a multipart form without a ``file`` file part, naming what it has: it
    said "send the CSV as a multipart/form-data file part ...; the request has Content-Type:
    multipart/form-data", which left the sender to guess that the part's name was wrong."""
    how = 'send the CSV as a file part named "file" (curl -F file=@trace.csv)'
    if has_text_field:  # curl -F file=<trace.csv, or a form field: no filename, so text
        return InvalidInputError(f'the form\'s "file" part is text, not a file; {how}')
    more = f" and {len(names) - NAMED_PARTS} more" if len(names) > NAMED_PARTS else ""
    shown = listing(map(quoted, names[:NAMED_PARTS]))
    sent = f"it has {shown}{more}" if names else "it has no parts"
    return InvalidInputError(f'the form has no part named "file" ({sent}); {how}')


def gunzip(body: bytes, *, max_bytes: int) -> bytes:
    """Decompress a gzip body (one or more members), refusing more than ``max_bytes`` of it."""
    parts: list[bytes] = []
    size, rest = 0, body
    while rest:
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            part = decoder.decompress(rest, max_bytes + 1 - size)
        except zlib.error as error:
            raise InvalidInputError(
                f"Content-Encoding is gzip but the body is not: {error}"
            ) from None
        size += len(part)
        if size > max_bytes:
            raise PayloadTooLargeError(f"the gzip body decompresses to more than {max_bytes} bytes")
        if not decoder.eof:
            raise InvalidInputError("Content-Encoding is gzip but the body is cut short")
        parts.append(part)
        rest = decoder.unused_data
    return b"".join(parts)


DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
# scope="function": the commit runs before the response is sent, so a 200 means "stored"
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
BodyDep = Annotated[bytes, Depends(get_body)]
DecodedBodyDep = Annotated[bytes, Depends(get_decoded_body)]
OneFileDep = Annotated[UploadFile, Depends(get_one_file)]


def row_id(what: str) -> Any:
    """A path parameter holding a table row's id: ids are 32-bit, so larger numbers get a 422."""
    return Path(ge=1, le=2**31 - 1, description=f"{what} id")
