"""What a request's Content-Type says, the one reading every refusal that names it uses."""

from __future__ import annotations


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` -> ``application/json``; "" when none was sent."""
    return (content_type or "").split(";")[0].strip().lower()


def is_json(media: str) -> bool:
    """FastAPI reads a body as JSON under these types only."""
    return media == "application/json" or media.endswith("+json")


def as_sent(media: str) -> str:
    """The Content-Type as a refusal names it."""
    return f"Content-Type: {media}" if media else "no Content-Type"
