"""Model fitting runs at idle CPU priority in its own thread; the caller's thread is untouched."""

from __future__ import annotations

import os
import threading

import pytest

from forecaster.idle_priority import at_caller_priority, run_at_idle_priority

pytestmark = pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling only")


def _policy_and_thread() -> tuple[int, int]:
    return os.sched_getscheduler(0), threading.get_ident()


def test_work_runs_idle_in_another_thread_and_returns_its_result() -> None:
    caller_policy = os.sched_getscheduler(0)
    policy, worker = run_at_idle_priority(_policy_and_thread)
    assert policy == os.SCHED_IDLE
    assert worker != threading.get_ident()
    assert os.sched_getscheduler(0) == caller_policy  # the caller keeps its priority


def test_arguments_pass_through_and_errors_reach_the_caller() -> None:
    assert run_at_idle_priority(divmod, 17, 5) == (3, 2)
    with pytest.raises(ZeroDivisionError):
        run_at_idle_priority(divmod, 1, 0)


def test_within_at_caller_priority_work_runs_here_at_the_callers_priority() -> None:
    with at_caller_priority():
        policy, worker = run_at_idle_priority(_policy_and_thread)
    assert policy == os.sched_getscheduler(0) != os.SCHED_IDLE
    assert worker == threading.get_ident()
    assert run_at_idle_priority(_policy_and_thread)[0] == os.SCHED_IDLE  # only within the block
