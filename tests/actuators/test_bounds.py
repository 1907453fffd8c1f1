"""The safety rules on hand-computed cases."""

from __future__ import annotations

from forecaster.actuators.bounds import bound_floor
from tests.actuators.conftest import profile


def bound(
    floor: int, current: int = 2, low: int = 2, high: int = 10, **fields: object
) -> tuple[int, int]:
    result = bound_floor(
        floor, current_min=current, baseline_min=low, baseline_max=high, profile=profile(**fields)
    )
    return result.minimum, result.maximum


def test_plan_floor_within_bounds_is_taken_as_is() -> None:
    assert bound(6) == (6, 10)


def test_never_below_the_baseline_unless_allowed() -> None:
    assert bound(1) == (2, 10)
    allowed = bound_floor(
        1,
        current_min=2,
        baseline_min=2,
        baseline_max=10,
        profile=profile(),
        allow_below_baseline=True,
    )
    assert (allowed.minimum, allowed.maximum) == (1, 10)


def test_lowest_accepted_minimum_is_respected() -> None:
    result = bound_floor(
        0, current_min=0, baseline_min=0, baseline_max=5, profile=profile(), lowest=1
    )
    assert result.minimum == 1


def test_max_is_honored_or_raised_by_at_most_the_buffer() -> None:
    assert bound(30) == (10, 10)
    assert bound(11, max_capacity_breach="increase", max_capacity_buffer_pct=10) == (11, 11)
    assert bound(30, max_capacity_breach="increase", max_capacity_buffer_pct=10) == (11, 11)
    assert bound(30, max_capacity_breach="increase", max_capacity_buffer_pct=0) == (10, 10)


def test_step_up_is_capped_from_the_current_minimum_and_falls_are_not() -> None:
    assert bound(9, current=2, max_step_up=3) == (5, 10)
    assert bound(3, current=8, max_step_up=3) == (3, 10)


def test_step_cap_never_leaves_the_target_below_its_baseline() -> None:
    """A person raised the minimum 2 -> 8 after the first read: counting the step from 2 would
    write 5 and undercut their 8."""
    assert bound(10, current=2, low=8, high=20, max_step_up=3) == (8, 20)
    assert bound(12, current=8, low=8, high=20, max_step_up=3) == (11, 20)
