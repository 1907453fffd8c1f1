"""The label sets a stored series may have, and their canonical text (a series' key).

One rule for every ingestion path: a push (``POST /v1/metrics``, CSV, remote-write) is refused
with :func:`label_problems`, a Prometheus pull skips and counts such a series, and a Prometheus
source whose own labels break :func:`label_name_problems` is refused when a profile is stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from forecaster.storable_text import UNSTORABLE, unstorable_in

AGGREGATE_LABEL = "*"  # the derived "sum of label sets" series is {"*": "sum"}: never written
AGGREGATE_LABELS = {AGGREGATE_LABEL: "sum"}
LABELS_KEY_LENGTH = 512  # the series table's column for labels_key


def labels_key(labels: Mapping[str, str] | None) -> str:
    """Canonical text of a label set, so {"a":1,"b":2} and {"b":2,"a":1} are one series."""
    if not labels:
        return "{}"
    try:
        return _labels_key(tuple(sorted(labels.items())))
    except TypeError:  # unhashable or unorderable values: not from an ingest path
        return json.dumps(dict(labels), sort_keys=True, separators=(",", ":"))


@lru_cache(maxsize=65_536)
def _labels_key(items: tuple[tuple[str, Any], ...]) -> str:
    # remote-write and pulls send the same label sets every time: encode each once
    return json.dumps(dict(items), separators=(",", ":"))


AGGREGATE_LABELS_KEY = labels_key(AGGREGATE_LABELS)


def label_name_problems(names: Iterable[str]) -> list[str]:
    """What is wrong with label names: an empty one names nothing (Prometheus refuses it too),
    and the aggregate marker would make the series pass for, or be mixed into, the sum over
    label sets that training derives."""
    names = set(names)
    problems = []
    if "" in names:
        problems.append("a label name is empty; every label needs a name")
    if AGGREGATE_LABEL in names:
        problems.append(
            f'label name "{AGGREGATE_LABEL}" is reserved: it marks the sum over label sets that '
            "forecaster derives for training; rename the label"
        )
    return problems


def label_problems(labels: Mapping[str, str]) -> list[str]:
    """Why a series with ``labels`` cannot be stored: its names, text no database keeps, or a
    key longer than its column."""
    problems = label_name_problems(labels)
    where = unstorable_in(dict(labels))
    if where is not None:
        problems.append(f"labels: {UNSTORABLE}{where}")
    length = len(labels_key(labels))
    if length > LABELS_KEY_LENGTH:
        problems.append(f"labels take {length} characters as JSON; at most {LABELS_KEY_LENGTH}")
    return problems
