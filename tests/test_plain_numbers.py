"""``NoBooleanNumbersModel``: ``true``/``false`` are refused where an int or float belongs."""

from __future__ import annotations

from typing import Optional

import pytest
from pydantic import ValidationError

from forecaster.plain_numbers import NoBooleanNumbersModel


class Knobs(NoBooleanNumbersModel):
    count: int = 0
    ratio: float | None = None
    legacy: Optional[int] = None  # noqa: UP045 - the older spelling, a typing.Union
    enabled: bool = False
    either: bool | int = 0  # takes a boolean on purpose
    name: str = ""


@pytest.mark.parametrize("field", ["count", "ratio", "legacy"])
@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_is_refused_for_a_number(field: str, value: bool) -> None:
    with pytest.raises(ValidationError) as refused:
        Knobs.model_validate({field: value})
    (error,) = refused.value.errors()
    assert error["loc"] == (field,)
    assert f"expected a number, not {str(value).lower()}" in error["msg"]


def test_numbers_and_fields_that_take_booleans_are_left_alone() -> None:
    knobs = Knobs.model_validate(
        {"count": 3, "ratio": 0.5, "legacy": None, "enabled": True, "either": True, "name": "x"}
    )
    assert (knobs.count, knobs.ratio, knobs.legacy, knobs.enabled, knobs.either) == (
        3,
        0.5,
        None,
        True,
        True,
    )
    assert Knobs.model_validate({"ratio": 2}).ratio == 2.0  # an int is a number
