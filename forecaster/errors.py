"""Errors the core raises on purpose; the API maps each to a 4xx with the message as detail."""

from __future__ import annotations

from pydantic import ValidationError


class ForecasterError(Exception):
    """Base of all deliberate errors: the message is meant for the user."""


class NotFoundError(ForecasterError):
    """A named thing (service, series, plan) does not exist. API: 404."""


class InvalidInputError(ForecasterError):
    """Input that cannot be accepted as a whole; nothing was stored. API: 422."""


class PayloadTooLargeError(ForecasterError):
    """A request exceeds a configured size limit. API: 413."""


class NotReadyError(ForecasterError):
    """Something needed has not been computed yet (no forecast, no plan). API: 409."""


def validation_problems(error: ValidationError, whole: str) -> str:
    """A pydantic error as one line, ``field: problem; ...`` (``whole`` names a problem of the
    object as a whole), without pydantic's input echo and links: meant for a user's message."""
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or whole}: "
        f"{problem['msg'].removeprefix('Value error, ')}"
        for problem in error.errors(include_url=False)
    )
