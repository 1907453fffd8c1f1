"""Text from clients must be storable on both databases: PostgreSQL refuses the NUL character
(``\\u0000``) in text, SQLite keeps it; neither driver can encode half of a UTF-16 surrogate
pair (JSON may escape one, ``"\\ud800"``). Both are refused where input is validated, so the
same request gets the same 422 on either database instead of a 500.

Request models (``ScalingProfile``, ``SeriesHeader``, the API's bodies) derive from
:class:`StorableTextModel` (which also refuses a boolean for a number, see
:mod:`forecaster.plain_numbers`); query parameters are typed :data:`StorableStr`; ingestion paths
that build no model (remote-write) call :func:`unstorable_in`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, field_validator

from forecaster.errors import json_text, quoted
from forecaster.plain_numbers import NoBooleanNumbersModel

NUL = "\x00"
UNSTORABLE = (
    "text must not contain the NUL character (\\u0000) or half of a surrogate pair "
    "(\\ud800-\\udfff)"
)
_SURROGATE = re.compile("[\ud800-\udfff]")
T = TypeVar("T")


def unstorable_in(value: Any) -> str | None:
    """Where in ``value`` (text, or dicts and lists of it, keys too) a NUL or a lone surrogate
    is: ``""`` for the value itself, ``" in key 'a\\x00'"`` or ``" at ['a'][0]"`` inside it; None
    when nowhere."""
    if isinstance(value, str):
        return "" if _unstorable(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and _unstorable(key):
                return f" in key {quoted(key)}"
            inner = unstorable_in(item)
            if inner is not None:
                return f" at [{json_text(key)}]{inner.removeprefix(' at ')}"
    elif isinstance(value, list | tuple):
        for position, item in enumerate(value):
            inner = unstorable_in(item)
            if inner is not None:
                return f" at [{position}]{inner.removeprefix(' at ')}"
    return None


def _unstorable(text: str) -> bool:
    # isascii() is O(1) on CPython: the usual ASCII text skips the search (remote-write calls
    # this for every label of every series)
    return NUL in text or (not text.isascii() and _SURROGATE.search(text) is not None)


def refuse_unstorable(value: T) -> T:
    """``value`` unchanged; ValueError saying where when any text in it cannot be stored."""
    where = unstorable_in(value)
    if where is not None:
        raise ValueError(f"{UNSTORABLE}{where}")
    return value


# a query or path parameter that reaches the database
StorableStr = Annotated[str, AfterValidator(refuse_unstorable)]


class StorableTextModel(NoBooleanNumbersModel):
    """A request model none of whose text (at any depth of its fields) is unstorable; nested
    models check their own fields, so a 422 points at the field, e.g. ``tiers.0.name``."""

    @field_validator("*")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        return refuse_unstorable(value)
