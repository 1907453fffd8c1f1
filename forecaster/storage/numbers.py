"""Bulk reads as plain numbers, straight from the driver: the overview reads tens of thousands of
sample buckets and forecast points, and SQLAlchemy's rows, with a Python datetime made and
checked per point, cost three times the queries themselves (1,100 services: ~2 s of ~5 s).

Called by :mod:`forecaster.storage.samples` and :mod:`forecaster.storage.forecasts`. A
statement read this way selects numbers only (ints, floats, NULL); a time is selected as its
epoch microseconds, computed by the database (:class:`epoch_us`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar, TypeVarTuple

import numpy as np
from sqlalchemy import BigInteger, Select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.util import find_tables

from forecaster.storage.chunks import chunk_size, chunked
from forecaster.storage.failures import DamagedValueError

Item = TypeVar("Item")
Columns = TypeVarTuple("Columns")


class epoch_us(FunctionElement[int]):  # noqa: N801 - an SQL function, named as SQL's are
    """Microseconds since the epoch of a UTC datetime column, as a BIGINT: a number to read in
    bulk rather than one Python datetime per row."""

    type = BigInteger()
    name = "epoch_us"
    inherit_cache = True


@compiles(epoch_us)
def _epoch_us(element: epoch_us, compiler: SQLCompiler, **kw: Any) -> str:
    """PostgreSQL's ``timestamptz``: its epoch is exact (a numeric), microseconds included."""
    (column,) = element.clauses
    return f"CAST(EXTRACT(EPOCH FROM {compiler.process(column, **kw)}) * 1000000 AS BIGINT)"


@compiles(epoch_us, "sqlite")
def _epoch_us_sqlite(element: epoch_us, compiler: SQLCompiler, **kw: Any) -> str:
    """SQLite holds SQLAlchemy's text ``YYYY-MM-DD HH:MM:SS.ffffff`` (UTC): whole seconds from
    ``strftime`` of the text up to the fraction (given the fraction, it rounds to the
    millisecond first: ``.9999`` was a second late), and the microseconds from the text
    (``julianday``'s float days are a few microseconds off)."""
    (column,) = element.clauses
    text = compiler.process(column, **kw)
    return (
        f"(CAST(strftime('%s', substr({text}, 1, 19)) AS INTEGER) * 1000000"
        f" + CAST(substr({text}, 21, 6) AS INTEGER))"
    )


def number_rows(*, session: Session, statement: Select[*Columns], width: int) -> np.ndarray:
    """The rows of a statement selecting ``width`` numbers, as a float array (NULL: NaN). Ints
    up to 2**53 stay exact: ids, and epoch microseconds until the year 2255."""
    result = session.connection().execute(statement)
    try:
        rows = result.cursor.fetchall()  # the driver's tuples: no Row, no result processing
    finally:
        result.close()
    try:
        numbers = np.array(rows, dtype="float64")
    except ValueError as error:  # SQLite keeps a text given to a number's column (by hand)
        read = ", ".join(sorted({table.name for table in find_tables(statement)}))
        raise DamagedValueError(f"a stored number in {read} is not a number: {error}") from None
    return numbers.reshape(len(rows), width)


def number_rows_in_chunks(
    *,
    session: Session,
    items: Iterable[Item],
    query: Callable[[list[Item]], Select[*Columns]],
    width: int,
    id_list: bool = False,
) -> np.ndarray:
    """:func:`number_rows` of ``query`` for each chunk of ``items``, one after the other (as
    :func:`~forecaster.storage.chunks.rows_in_chunks`)."""
    parts = [
        number_rows(session=session, statement=query(part), width=width)
        for part in chunked(items, chunk_size(id_list))
    ]
    return np.concatenate(parts) if parts else np.empty((0, width))
