"""Structured JSON logs with the current request id, for every entry point (API, worker, CLI).

``configure_logging`` is called once at start-up; ``request_id`` is a context variable the API
middleware sets per request so every line logged while serving it carries the same id.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_LEVEL_VARIABLE = "FORECASTER_LOG_LEVEL"

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

# record attributes that are not extras; uvicorn's color_message repeats the message with ANSI codes
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"color_message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and any extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            # a URL's password (FORECASTER_PROMETHEUS_URL=http://user:pw@...) is never written:
            # httpx logs every request's URL
            "message": without_password(record.getMessage()),
        }
        current = request_id.get()
        if current is not None:
            entry["request_id"] = current
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = without_password(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


def without_password(text: str) -> str:
    """Text as it may be shown: a URL's password (``scheme://user:password@host``, which may
    hold ``/``) and a ``password=`` query parameter masked."""
    # a ':' followed by digits that end where a path, query or the text does is a port
    masked = re.sub(r"(://[^:/@\s]*):(?!\d*(?:[/?#]|\s|$))[^@\s]*@", r"\1:***@", text)
    return re.sub(r"([?&]password=)[^&\s'\"]*", r"\1***", masked, flags=re.IGNORECASE)


def log_level(value: str) -> str:
    """A log level as ``logging`` spells it, from any case; ValueError naming the levels that
    exist (a typo such as ``WARN`` or ``verbose`` must not quietly log at another level)."""
    level = value.strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"not a log level; use one of {', '.join(LOG_LEVELS)} (any case)")
    return level


def configure_logging(level: str | None = None) -> None:
    """Route forecaster's and uvicorn's logs through the JSON formatter on stderr, at ``level``
    or else FORECASTER_LOG_LEVEL (INFO). Read here, not from the settings: logging is set up
    before them, so that what they warn of is a JSON line too."""
    if level is None:
        from forecaster.errors import ConfigurationError

        wanted = os.environ.get(LOG_LEVEL_VARIABLE, "INFO")
        try:
            level = log_level(wanted)
        except ValueError as error:
            raise ConfigurationError(f"{LOG_LEVEL_VARIABLE}={wanted!r}: {error}") from None
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # our middleware logs requests
    # alembic lists each plugin it sets up at import, seven lines at every start
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
