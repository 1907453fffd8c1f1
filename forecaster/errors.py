"""Errors the core raises on purpose; the API maps each to a 4xx with the message as detail."""

from __future__ import annotations


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
