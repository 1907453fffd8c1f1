"""YAML and JSON both have booleans, and pydantic's lax mode reads ``true`` as 1 where a number
is expected: ``capacity_per_replica: true`` meant one request a second per replica and
``min_replicas: true`` one replica, silently. Client models refuse a boolean for a number."""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationInfo, field_validator


class NoBooleanNumbersModel(BaseModel):
    """A model whose int and float fields refuse ``true`` and ``false``."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_boolean_for_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, bool):  # every field of every request passes here
            return value
        field = cls.model_fields.get(info.field_name or "")
        if field is not None and _wants_number(field.annotation):
            raise ValueError(f"expected a number, not {str(value).lower()}")
        return value


def _wants_number(annotation: Any) -> bool:
    """An int or float (or optional one) that does not also take a boolean."""
    options = get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else ()
    options = options or (annotation,)
    return bool not in options and any(option in (int, float) for option in options)
