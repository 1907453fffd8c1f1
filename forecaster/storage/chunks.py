"""Bulk reads in queries of bounded size: the overview reads every service's rows with one
term per series or service (an ``OR`` of index ranges, a ``CASE`` of per-id bounds), and SQLite
refuses an ``OR`` of 1,000 terms (its expression depth limit) where PostgreSQL plans one slowly.

Callers in :mod:`forecaster.storage` run one query per ``CHUNK`` items (per ``ID_CHUNK`` for
a plain ``IN`` list of ids: series, services, forecasts, model runs), so a fleet of up to
``CHUNK`` services reads in as many queries as one service, and each further chunk adds one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import TypeVar, TypeVarTuple

from sqlalchemy import Row, Select
from sqlalchemy.orm import Session

# terms a query holds: an OR of per-series ranges stays well under SQLite's depth of 1,000
CHUNK = 400
# ids an IN list of a query holds: each is a bound parameter, and PostgreSQL's protocol
# carries at most 65,535 (400 services of 30 pods each had failed the whole overview)
ID_CHUNK = 5_000

Item = TypeVar("Item")
Columns = TypeVarTuple("Columns")


def chunked(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    """``items`` in lists of at most ``size``, in order."""
    remaining = iter(items)
    while part := list(islice(remaining, size)):
        yield part


def rows_in_chunks(
    *,
    session: Session,
    items: Iterable[Item],
    query: Callable[[list[Item]], Select[*Columns]],
    id_list: bool = False,
) -> list[Row[*Columns]]:
    """The rows of ``query`` for each chunk of ``items``, one after the other: for a read whose
    terms are per item, when the result of each item does not depend on the others.
    ``id_list``: the items are the ids of one ``IN`` list, ``ID_CHUNK`` a query."""
    parts = chunked(items, chunk_size(id_list))
    return [row for part in parts for row in session.execute(query(part)).all()]


def chunk_size(id_list: bool) -> int:
    """Items a query holds: ``ID_CHUNK`` ids of one ``IN`` list, else ``CHUNK`` terms (read
    at each call: tests shrink them)."""
    return ID_CHUNK if id_list else CHUNK
