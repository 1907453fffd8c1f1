"""Free text a client gives that is stored as it is: service and metric names, labels, reasons."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator


def _without_nul(text: str) -> str:
    """PostgreSQL text cannot hold NUL and SQLite can: refused on both, named by its field."""
    if "\x00" in text:
        raise ValueError("must not contain NUL (\\x00) characters")
    return text


StoredText = Annotated[str, AfterValidator(_without_nul)]
