"""Retries with exponential backoff and jitter for calls to autoscaler APIs.

Actuators wrap each outbound call: transient failures (5xx, 429, timeouts, dropped connections)
are retried up to ``attempts`` times; anything else is raised at once. The number of attempts
is counted so it can be audited.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all; delays double from ``base_delay`` up to ``max_delay``."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0

    def delay(self, attempt: int) -> float:
        """Full-jitter backoff before retry number ``attempt`` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)


class AttemptCounter:
    """Counts calls across several retried operations of one actuation."""

    def __init__(self) -> None:
        self.calls = 0
        self.retries = 0


def call_with_retries(
    call: Callable[[], T],
    *,
    policy: RetryPolicy,
    transient: Callable[[BaseException], bool],
    counter: AttemptCounter | None = None,
    what: str = "call",
) -> T:
    """Run ``call``; on a transient error wait and retry, up to ``policy.attempts`` in all."""
    for attempt in range(1, policy.attempts + 1):
        if counter is not None:
            counter.calls += 1
        try:
            return call()
        except Exception as error:
            if not transient(error) or attempt == policy.attempts:
                raise
            pause = policy.delay(attempt)
            log.warning(
                "%s failed (%s); retry %d of %d in %.2fs",
                what,
                describe_error(error),
                attempt,
                policy.attempts - 1,
                pause,
            )
            if counter is not None:
                counter.retries += 1
            time.sleep(pause)
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def describe_error(error: BaseException) -> str:
    """A one-line description of an error for logs and audit records."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")
