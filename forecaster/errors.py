"""Errors the core raises on purpose; the API maps each to a 4xx with the message as detail."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import numpy as np
from pydantic import ValidationError
from pydantic_core import ErrorDetails


class Worded:
    """Mixin of errors whose message is meant for the user as it stands: reports of them (job
    runs, status) leave out the class name, which only an unexpected error needs."""


def in_words(error: BaseException) -> str:
    """An error as a report shows it: a worded one's message alone, any other with its type,
    which says what broke (``KeyError: 'x'``)."""
    return str(error) if isinstance(error, Worded) else f"{type(error).__name__}: {error}"


def log_failure(logger: logging.Logger, error: BaseException, what: str, *args: object) -> None:
    """Log that ``what`` failed: a worded error with its words (they say why), any other with
    its traceback (which says where)."""
    if isinstance(error, Worded):
        logger.error(f"{what} failed: %s", *args, error)
    else:
        logger.error(f"{what} failed", *args, exc_info=error)


class ForecasterError(Worded, Exception):
    """Base of all deliberate errors: the message is meant for the user."""


class NotFoundError(ForecasterError):
    """A named thing (service, series, plan) does not exist. API: 404."""


class InvalidInputError(ForecasterError):
    """Input that cannot be accepted as a whole; nothing was stored. API: 422."""


class PayloadTooLargeError(ForecasterError):
    """A request exceeds a configured size limit. API: 413."""


class NotReadyError(ForecasterError):
    """Something needed has not been computed yet (no forecast, no plan). API: 409."""


class InUseError(ForecasterError):
    """A change refused while something still depends on the thing changed (a service whose
    autoscaler targets forecaster still holds, an autoscaler another service's target
    scales). API: 409."""


class AlreadyRunningError(ForecasterError):
    """The same job for the same service is going on already (a training someone else asked
    for): a second would fit the same models again and race it to store them. API: 409."""


class CandidatesFailedError(ForecasterError):
    """Every candidate model of a training failed with an error: the last good champion (its
    forecast refreshed) and its plan stay in force. API: 503, the server cannot train until
    its models work again."""


class ConfigurationError(Exception):
    """A ``FORECASTER_*`` setting the service cannot start with (a bad value, a database that
    cannot be reached): the message names the variable. Not a ForecasterError: it stops a
    process at start-up, it is never a request's answer."""


def validation_problems(error: ValidationError, whole: str) -> str:
    """A pydantic error as one line, ``field: problem; ...`` (``whole`` names a problem of the
    object as a whole), without pydantic's input echo and links: meant for a user's message."""
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or whole}: "
        f"{problem['msg'].removeprefix('Value error, ')}{_unquoted_scalar(problem)}"
        for problem in error.errors(include_url=False)
    )


def _unquoted_scalar(problem: ErrorDetails) -> str:
    """Why a number or a boolean was refused where text belongs: YAML reads ``gpu_type: 4090``,
    ``0x10`` or ``true`` unquoted as one, and a profile file or a target's config was refused
    as "Input should be a valid string" without a word on why (QA)."""
    value = problem.get("input")
    if problem["type"] != "string_type" or not isinstance(value, int | float):
        return ""
    kind = "boolean" if isinstance(value, bool) else "number"
    return f" (read as the {kind} {json_text(value)}, not text: put it in quotes)"


def listing(values: Iterable[Any]) -> str:
    """Names or numbers as a user writes them, ``a, b, c``: a message that quoted a Python list
    read ``['a', 'b']``, and numbers ``[1.0, 15.0]`` or ``np.float64(1.0)``."""
    return ", ".join(_text(value) for value in values)


def quoted(text: str) -> str:
    """A name in double quotes as a user writes it, ``"café"``: Python's repr wrote ``'café'``, or
    ``"it's"`` when the name holds a quote. Quotes, backslashes and control characters inside are
    escaped as JSON escapes them."""
    return _json_dumps(text)


def json_text(value: Any) -> str:
    """A value as the JSON a client sent or would send (numpy and pandas scalars as numbers and
    ISO times, NaN and infinities as text, anything else as its ``str``)."""
    return _json_dumps(_jsonable(value))


def _json_dumps(value: Any) -> str:
    # non-ASCII stays readable
    return utf8_writable(json.dumps(value, ensure_ascii=False))


def utf8_writable(text: str) -> str:
    """``text`` with each half of a surrogate pair (a CLI argument that was not UTF-8, a JSON
    ``"\\ud800"``) as its escape: a message or answer holding one cannot be written as UTF-8."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


# nesting a message quotes in full: a point nested 600 deep overflowed the recursion (a 500)
QUOTED_DEPTH = 8


def _jsonable(value: Any, depth: int = 0) -> Any:
    value = value.item() if isinstance(value, np.generic) else value
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(item, depth + 1) for item in value] if depth < QUOTED_DEPTH else "[...]"
    if isinstance(value, dict):
        if depth >= QUOTED_DEPTH:
            return "{...}"
        return {str(key): _jsonable(item, depth + 1) for key, item in value.items()}
    return str(value)


def _text(value: Any) -> str:
    value = _jsonable(value)
    if isinstance(value, float):
        return f"{value:g}"
    return value if isinstance(value, str) else json.dumps(value)
