"""Read a ``POST /v1/metrics`` JSON body into columns fast, with errors that name the point.

Called by the REST route before :func:`forecaster.ingestion.batch.ingest_batch`. Validating
every ``[timestamp, value]`` pair through pydantic made Python objects per point and capped
ingest near 50k points/s; here the envelope (service, metric, labels, unit) goes through
pydantic, while the points of each series become float arrays in one pass when they are plain
numbers, and fall back to the general per-column parsing (ISO text, numeric strings) otherwise.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from pydantic import ConfigDict, Field, ValidationError
from pydantic_core import from_json

from forecaster.errors import InvalidInputError, listing, validation_problems
from forecaster.ingestion.batch import SeriesPoints
from forecaster.ingestion.json_points import RawPoints, split_body
from forecaster.json_encoding import utf8_json
from forecaster.profiles import METRIC_CHOICES
from forecaster.storable_text import StorableTextModel

_NUMBER_TYPES = frozenset({int, float})


class SeriesHeader(StorableTextModel):
    """What describes one series in a batch, everything but its points."""

    model_config = ConfigDict(extra="forbid")

    service: str = Field(min_length=1, max_length=128)
    metric: str = Field(min_length=1, max_length=64, json_schema_extra=METRIC_CHOICES)
    labels: dict[str, str] = Field(default_factory=dict)
    unit: str | None = Field(default=None, max_length=32)


def parse_metrics_json(body: bytes) -> list[SeriesPoints]:
    """The series of a ``{"series": [...]}`` body; InvalidInputError (422) says what is wrong.

    Bodies whose points are all plain numbers take the fast path (``json_points``); every
    other body, and every body with a problem, is decoded by :func:`parse_general`. The body
    must be UTF-8, as on the JSON routes, which check it the same way (``utf8_json``).
    """
    body = utf8_json(body)
    fast = split_body(body)
    if fast is not None:
        envelope, arrays = fast
        try:
            document = from_json(envelope)
        except ValueError:
            document = None
        if _points_are_placeholders(document, len(arrays)):
            return [_series(number, item, arrays) for number, item in enumerate(document["series"])]
    return parse_general(body)


def _points_are_placeholders(document: Any, count: int) -> bool:
    """Each series' "points" is the index of its cut-out array, in order, and nothing else is."""
    if not isinstance(document, dict) or set(document) != {"series"}:
        return False
    items = document["series"]
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        return False
    indices = [item.get("points") for item in items]
    return indices == list(range(count)) and all(type(i) is int for i in indices)


def parse_general(body: bytes) -> list[SeriesPoints]:
    """Decode the whole body into Python objects: any shape of points, precise error messages."""
    try:
        document = from_json(body)
    except ValueError as error:
        hint = (  # the parser's words for both leave the sender guessing
            " (a \\u escape takes 4 hex digits, and a lone surrogate such as \\ud800 is "
            "refused: no database can store it)"
            if "hex escape" in str(error)
            else ""
        )
        raise InvalidInputError(f"body is not valid JSON: {error}{hint}") from None
    if not isinstance(document, dict) or set(document) != {"series"}:
        if not isinstance(document, dict):
            keys = type(document).__name__
        else:
            keys = f"keys {listing(sorted(document))}" if document else "an empty object"
        raise InvalidInputError(f'body must be an object {{"series": [...]}}; got {keys}')
    items = document["series"]
    if not isinstance(items, list):
        raise InvalidInputError('"series" must be a list of series objects')
    return [_series(number, item) for number, item in enumerate(items)]


def _series(
    number: int, item: Any, arrays: list[tuple[np.ndarray, RawPoints]] | None = None
) -> SeriesPoints:
    if not isinstance(item, dict):
        raise InvalidInputError(f"series {number}: expected an object, got {type(item).__name__}")
    fields = {key: value for key, value in item.items() if key != "points"}
    try:
        header = SeriesHeader.model_validate(fields)
    except ValidationError as error:
        details = validation_problems(error, "series")
        raise InvalidInputError(f"series {number}: {details}") from None
    if "points" not in item:
        raise InvalidInputError(f'series {number}: field "points" is required')
    points = item["points"]
    if arrays is not None:  # the fast path: already numbers
        pairs, points = arrays[points]
        timestamps, values = pairs[:, 0], pairs[:, 1]
    elif not isinstance(points, list):
        raise InvalidInputError(f'series {number}: "points" must be a list of [timestamp, value]')
    else:
        timestamps, values = split_points(number, points)
    return SeriesPoints(
        service=header.service,
        metric=header.metric,
        labels=header.labels,
        unit=header.unit,
        timestamps=timestamps,
        values=values,
        raw=points,
    )


def split_points(number: int, points: list[Any]) -> tuple[Any, Any]:
    """Timestamps and values of ``[[ts, value], ...]``: float arrays when all are numbers.

    The fast path checks shapes and element types over whole lists (``map`` runs in C) and
    converts with one ``np.fromiter``; anything else (ISO text, numeric strings, booleans,
    malformed pairs) takes the general path, which reports the offending point.
    """
    if not points:
        return np.zeros(0), np.zeros(0)
    try:
        pairs = set(map(type, points)) == {list} and set(map(len, points)) == {2}
        if pairs and set(map(type, itertools.chain.from_iterable(points))) <= _NUMBER_TYPES:
            flat = np.fromiter(
                itertools.chain.from_iterable(points), dtype="float64", count=2 * len(points)
            )
            return flat[0::2], flat[1::2]
    except OverflowError:  # an integer too large for a float: the general path refuses it
        pass
    for position, point in enumerate(points):
        if not _is_pair(point):
            raise InvalidInputError(
                f"series {number} point {position}: expected a [timestamp, value] pair, "
                f"got {str(point)[:80]}"
            )
    return [point[0] for point in points], [point[1] for point in points]


def _is_pair(point: Any) -> bool:
    return type(point) is list and len(point) == 2
