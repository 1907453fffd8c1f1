"""A bounded wait on a call that cannot be stopped: one stuck call per key, never more."""

from __future__ import annotations

import threading

import pytest

from forecaster.actuators.bounded import OverdueError, bounded


def test_an_overdue_call_blocks_its_key_until_it_ends_then_runs_again() -> None:
    release = threading.Event()
    calls: list[str] = []

    def stuck() -> str:
        calls.append("stuck")
        release.wait(10)
        return "late"

    with pytest.raises(OverdueError, match=r"plugin gave no answer within 0\.2 s"):
        bounded(stuck, seconds=0.2, key="a", what="plugin")
    with pytest.raises(OverdueError, match="plugin is still running from an earlier call"):
        bounded(lambda: "fresh", seconds=0.2, key="a", what="plugin")
    assert bounded(lambda: "other", seconds=0.2, key="b", what="plugin") == "other"

    release.set()
    [thread] = [t for t in threading.enumerate() if t.name == "bounded: plugin" and t.is_alive()]
    thread.join(5)
    assert bounded(lambda: "fresh", seconds=0.2, key="a", what="plugin") == "fresh"
    assert calls == ["stuck"]


def test_a_call_s_own_errors_pass_through() -> None:
    def fails() -> None:
        raise TimeoutError("the call's own")

    with pytest.raises(TimeoutError, match="the call's own"):
        bounded(fails, seconds=1, key="c", what="plugin")
