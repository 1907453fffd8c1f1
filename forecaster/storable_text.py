"""Text from clients must be storable on both databases: PostgreSQL refuses the NUL character
(``\\u0000``) in text, SQLite keeps it. It is refused where input is validated, so the same
request gets the same 422 on either database instead of a 500 on PostgreSQL alone.

Request models (``ScalingProfile``, ``SeriesHeader``, the API's bodies) derive from
:class:`StorableTextModel`; query parameters are typed :data:`StorableStr`; ingestion paths
that build no model (remote-write) call :func:`nul_in`.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, field_validator

NUL = "\x00"
T = TypeVar("T")


def nul_in(value: Any) -> str | None:
    """Where in ``value`` (text, or dicts and lists of it, keys too) a NUL is: ``""`` for the
    value itself, ``" in key 'a\\x00'"`` or ``" at ['a'][0]"`` inside it; None when nowhere."""
    if isinstance(value, str):
        return "" if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and NUL in key:
                return f" in key {key!r}"
            inner = nul_in(item)
            if inner is not None:
                return f" at [{key!r}]{inner.removeprefix(' at ')}"
    elif isinstance(value, list | tuple):
        for position, item in enumerate(value):
            inner = nul_in(item)
            if inner is not None:
                return f" at [{position}]{inner.removeprefix(' at ')}"
    return None


def refuse_nul(value: T) -> T:
    """``value`` unchanged; ValueError saying where when any text in it holds a NUL."""
    where = nul_in(value)
    if where is not None:
        raise ValueError(f"text must not contain the NUL character (\\u0000){where}")
    return value


# a query or path parameter that reaches the database
StorableStr = Annotated[str, AfterValidator(refuse_nul)]


class StorableTextModel(BaseModel):
    """A request model none of whose text (at any depth of its fields) holds a NUL; nested
    models check their own fields, so a 422 points at the field, e.g. ``tiers.0.name``."""

    @field_validator("*")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        return refuse_nul(value)
