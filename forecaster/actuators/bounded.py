"""Waiting a bounded time on client-library code that has no timeout of its own.

The Kubernetes client runs a kubeconfig's exec credential plugin (when it loads the kubeconfig,
and again when the plugin's token expires mid-call) and waits for it without a timeout: a hung
plugin held the actuate pass, and every service after it, until a restart. botocore waits
for a ``credential_process`` the same way. Used by :mod:`forecaster.actuators.kube` and
:mod:`forecaster.actuators.aws`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import TypeVar

T = TypeVar("T")

# calls that outlived their wait, by key: the thread still waiting and when it started
_overdue: dict[Hashable, tuple[threading.Thread, float]] = {}
_lock = threading.Lock()


class OverdueError(Exception):
    """A call gave no answer in time. Not transient: a retry would only start another."""


def bounded(call: Callable[[], T], *, seconds: float, key: Hashable, what: str) -> T:
    """``call()``'s result (or error), or :class:`OverdueError` after ``seconds``.

    Nothing can stop the call, so it is left to end on its daemon thread; while it runs, every
    call with the same ``key`` fails at once, so a plugin that never ends costs one thread
    (and its process) per key, not one more each pass.
    """
    with _lock:
        earlier = _overdue.get(key)
        if earlier is not None and earlier[0].is_alive():
            raise OverdueError(
                f"{what} is still running from an earlier call (started "
                f"{time.monotonic() - earlier[1]:.0f} s ago): not started again until it ends"
            )
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(call())
        except Exception as error:  # noqa: BLE001 - handed to the caller
            future.set_exception(error)

    started = time.monotonic()
    thread = threading.Thread(target=run, name=f"bounded: {what}", daemon=True)
    thread.start()
    try:
        return future.result(timeout=seconds)
    except TimeoutError:
        if future.done():  # the call's own TimeoutError, or it ended just now
            return future.result()
        with _lock:
            _overdue[key] = (thread, started)
        raise OverdueError(
            f"{what} gave no answer within {seconds:g} s: left running, and not started "
            "again until it ends"
        ) from None
