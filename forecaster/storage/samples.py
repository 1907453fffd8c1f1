"""Series and samples: find-or-create series, bulk upsert points, read history back.

Writes are set-based (PostgreSQL binary ``COPY``, straight into ``samples`` for new points or
through a temporary table and one upsert; SQLite one ``executemany`` upsert in WAL mode) inside
the caller's transaction, so a batch lands whole or not at all.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from itertools import chain
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from psycopg.errors import UniqueViolation
from sqlalchemy import BigInteger, Select, func, literal_column, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from forecaster.errors import InvalidInputError, json_text, quoted
from forecaster.labels import AGGREGATE_LABELS_KEY, labels_key
from forecaster.storage.db import hold_until_commit, write_lock_now
from forecaster.storage.inserts import insert_if_absent
from forecaster.storage.numbers import number_rows_in_chunks
from forecaster.storage.orm import Sample, Series, Service
from forecaster.timeutil import from_epoch_ms

SeriesKey = tuple[int, str, str]  # (service_id, metric, labels_key)
Key = TypeVar("Key", bound=Hashable)


def ensure_series(
    *,
    session: Session,
    keys: Iterable[tuple[int, str, dict[str, str], str | None]],
) -> dict[SeriesKey, int]:
    """Ids of the series named by (service_id, metric, labels, unit), creating missing ones."""
    wanted: dict[SeriesKey, tuple[dict[str, str], str | None]] = {}
    for service_id, metric, labels, given_unit in keys:
        # a blank unit says none: stored as "", it refused every later batch naming one
        unit = given_unit.strip() or None if given_unit is not None else None
        key = (service_id, metric, labels_key(labels))
        said = wanted.get(key, (labels, None))[1]
        if said is not None and unit is not None and said != unit:  # one batch, two units
            raise InvalidInputError(
                f"batch refused, nothing stored: {_named(session, key, labels)} is sent in "
                f"{quoted(said)} and in {quoted(unit)}: send each series in one unit"
            )
        wanted[key] = (labels, unit if unit is not None else said)
    service_ids = {key[0] for key in wanted}
    stored = _stored_series(session, service_ids)
    _check_units(session, wanted, stored)
    missing = sorted(key for key in wanted if key not in stored)
    if missing:  # concurrent requests may create the same series: the database decides
        rows = [
            {
                "service_id": service_id,
                "metric": metric,
                "labels": wanted[(service_id, metric, key)][0] or {},
                "labels_key": key,
                "unit": wanted[(service_id, metric, key)][1],
            }
            for service_id, metric, key in missing
        ]
        insert_if_absent(
            session=session,
            table=Series,
            rows=rows,
            key=["service_id", "metric", "labels_key"],
            owner_gone="a service of this batch was deleted while the batch was stored; "
            "nothing was stored",
        )
        stored = _stored_series(session, service_ids)
        # a concurrent batch may have created one first, in another unit
        _check_units(session, {key: wanted[key] for key in missing}, stored)
    return {key: stored[key][0] for key in wanted}


def _stored_series(
    session: Session, service_ids: set[int]
) -> dict[SeriesKey, tuple[int, str | None]]:
    """Id and unit of every series of ``service_ids``, by (service_id, metric, labels_key)."""
    # a raw DBAPI cursor: SQLAlchemy's row objects cost ~15 us a series on every request,
    # which dominated remote-write requests of a thousand series (ids are ints: safe inline)
    with _raw_cursor(session) as cursor:
        cursor.execute(
            "SELECT id, service_id, metric, labels_key, unit FROM series WHERE service_id IN "
            f"({', '.join(str(int(i)) for i in service_ids)})"
        )
        rows = cursor.fetchall()
    # tuple unpacking: attribute access per row cost ~20 us a series at thousands of series
    return {(sid, metric, key): (id_, unit) for id_, sid, metric, key, unit in rows}


def _check_units(
    session: Session,
    wanted: dict[SeriesKey, tuple[dict[str, str], str | None]],
    stored: dict[SeriesKey, tuple[int, str | None]],
) -> None:
    """A unit given for a stored series without one is kept; another unit than the stored one
    refuses the batch, since points in two units would mix in one series without a word."""
    for key, (labels, unit) in wanted.items():
        if unit is None or key not in stored or stored[key][1] == unit:
            continue
        series_id, stored_unit = stored[key]
        if stored_unit is None:
            # only while it has none: of two batches giving it a unit at once, the second
            # finds the first's and is refused, where the last one's had won
            claim = update(Series).where(Series.id == series_id, Series.unit.is_(None))
            claimed = session.execute(claim.values(unit=unit))
            if claimed.rowcount == 1:  # type: ignore[attr-defined]
                continue
            read = select(Series.unit).where(Series.id == series_id)
            stored_unit = session.execute(read).scalar_one()
            if stored_unit is None or stored_unit == unit:
                continue
        raise InvalidInputError(
            f"batch refused, nothing stored: {_named(session, key, labels)} is stored in "
            f"{quoted(stored_unit)}, this batch says {quoted(unit)}: convert the values, or use "
            "another metric or labels"
        )


def _named(session: Session, key: SeriesKey, labels: dict[str, str]) -> str:
    """A series as a refusal names it: its service too, since a batch may carry the same
    metric for several (read only when refusing)."""
    service = session.get(Service, key[0])
    owner = f" of service {quoted(service.name)}" if service is not None else ""
    return f"series {key[1]}{json_text(labels or {})}{owner}"


def write_samples(
    *, session: Session, series_id: np.ndarray, ts_ms: np.ndarray, value: np.ndarray
) -> int:
    """Upsert points given as three aligned arrays; a re-sent point replaces the stored one.

    Returns the number of distinct points written; duplicates inside the batch keep the last.
    Everything happens in the caller's transaction, so a failure anywhere stores nothing.
    """
    if len(ts_ms) == 0:
        return 0
    series_id, ts_ms, value = _last_per_key(
        np.asarray(series_id, dtype="int64"),
        np.asarray(ts_ms, dtype="int64"),
        np.asarray(value, dtype="float64"),
    )
    dialect = session.get_bind().dialect
    try:
        if dialect.name == "postgresql":
            _write_postgres(session, series_id, ts_ms, value)
        else:
            _executemany_upsert(session, series_id, ts_ms, value)
    except dialect.loaded_dbapi.Error as error:
        # raw DBAPI cursors skip SQLAlchemy's wrapping; wrap here so callers (and the API's
        # 503 handler for a database that went away) see the usual SQLAlchemy errors
        raise DBAPIError.instance(
            None, None, error, dialect.loaded_dbapi.Error, dialect=dialect
        ) from error
    return len(ts_ms)


def _last_per_key(
    series_id: np.ndarray, ts_ms: np.ndarray, value: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort by (series, time) and keep the last of duplicates: ordered writes, no self-conflict."""
    order = np.lexsort((ts_ms, series_id))  # stable: among equal keys, later input stays later
    series_id, ts_ms, value = series_id[order], ts_ms[order], value[order]
    last = np.ones(len(ts_ms), dtype=bool)
    last[:-1] = (series_id[1:] != series_id[:-1]) | (ts_ms[1:] != ts_ms[:-1])
    return series_id[last], ts_ms[last], value[last]


@contextmanager
def _raw_cursor(session: Session) -> Iterator[Any]:
    """A cursor on the session's own DBAPI connection, inside its transaction: it skips
    SQLAlchemy's per-row work on the hot write paths."""
    connection = session.connection().connection.dbapi_connection
    assert connection is not None
    cursor = connection.cursor()
    try:
        yield cursor
    finally:
        cursor.close()


def _executemany_upsert(
    session: Session, series_id: np.ndarray, ts_ms: np.ndarray, value: np.ndarray
) -> None:
    # the raw DBAPI cursor skips SQLAlchemy's per-row parameter processing: ~5x faster here
    with _raw_cursor(session) as cursor:
        cursor.executemany(
            "INSERT INTO samples (series_id, ts_ms, value) VALUES (?, ?, ?) "
            "ON CONFLICT (series_id, ts_ms) DO UPDATE SET value = excluded.value",
            # sqlite3 takes any iterator: the rows stream without a list of 100k tuples
            zip(series_id.tolist(), ts_ms.tolist(), value.tolist(), strict=True),
        )


_COPY_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("series_len", ">i4"),
        ("series_id", ">i4"),
        ("ts_len", ">i4"),
        ("ts_ms", ">i8"),
        ("value_len", ">i4"),
        ("value", ">f8"),
    ]
)
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8  # signature, flags, no extension
_COPY_TRAILER = b"\xff\xff"


def copy_payload(series_id: np.ndarray, ts_ms: np.ndarray, value: np.ndarray) -> bytes:
    """PostgreSQL binary COPY data for (integer, bigint, double) rows, built by numpy at once."""
    rows = np.empty(len(ts_ms), dtype=_COPY_ROW)
    rows["fields"] = 3
    rows["series_len"], rows["ts_len"], rows["value_len"] = 4, 8, 8
    rows["series_id"], rows["ts_ms"], rows["value"] = series_id, ts_ms, value
    return _COPY_HEADER + rows.tobytes() + _COPY_TRAILER


def _write_postgres(
    session: Session, series_id: np.ndarray, ts_ms: np.ndarray, value: np.ndarray
) -> None:
    """COPY straight into ``samples`` when the batch overlaps nothing stored, else upsert.

    New points (the usual case: scrapes and pushes move forward in time) skip the temporary
    table and the conflict check, which is most of the cost. A concurrent writer that slips in
    the same points makes the COPY fail on the primary key; the savepoint then falls back to the
    upsert, so the outcome is the same either way.
    """
    payload = copy_payload(series_id, ts_ms, value)
    with _raw_cursor(session) as cursor:
        _lock_series(cursor, series_id)
        if not _overlaps_stored(cursor, series_id, ts_ms):
            cursor.execute("SAVEPOINT samples_copy")
            try:
                with cursor.copy(
                    "COPY samples (series_id, ts_ms, value) FROM STDIN (FORMAT BINARY)"
                ) as copy:
                    copy.write(payload)
            except UniqueViolation:
                cursor.execute("ROLLBACK TO SAVEPOINT samples_copy")
            else:
                cursor.execute("RELEASE SAVEPOINT samples_copy")
                return
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS samples_incoming "
            "(series_id integer, ts_ms bigint, value double precision) ON COMMIT DELETE ROWS"
        )
        cursor.execute("TRUNCATE samples_incoming")
        with cursor.copy(
            "COPY samples_incoming (series_id, ts_ms, value) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.write(payload)
        cursor.execute(
            "INSERT INTO samples (series_id, ts_ms, value) "
            "SELECT series_id, ts_ms, value FROM samples_incoming "
            "ON CONFLICT (series_id, ts_ms) DO UPDATE SET value = EXCLUDED.value"
        )


def _lock_series(cursor: Any, series_id: np.ndarray) -> None:
    """What the foreign key did per row, once per series: they exist and cannot vanish.

    ``FOR KEY SHARE`` blocks a concurrent delete of these series until this transaction ends
    (migration 0002 dropped the per-row key check on PostgreSQL for speed), and a roll-up of
    them (:func:`_hold_off_writers`); in id order, as the roll-up locks them.
    """
    wanted = np.unique(series_id).tolist()
    cursor.execute(
        "SELECT count(*) FROM (SELECT id FROM series WHERE id = ANY(%s) ORDER BY id "
        "FOR KEY SHARE) AS held",
        (wanted,),
    )
    if cursor.fetchone()[0] != len(wanted):
        raise InvalidInputError("a series was deleted while its points were being written; retry")


def _overlaps_stored(cursor: Any, series_id: np.ndarray, ts_ms: np.ndarray) -> bool:
    """Whether any stored point lies inside a series' time span in this (sorted) batch.

    Written as "the first stored point at or after the span's start" per series: one short
    primary-key probe each. A join with BETWEEN let the planner pick a sequential scan of all
    samples (0.4 s at a million rows, on every request).
    """
    starts = np.flatnonzero(np.r_[True, series_id[1:] != series_id[:-1]])
    ends = np.r_[starts[1:], len(series_id)] - 1
    cursor.execute(
        "SELECT EXISTS (SELECT 1 FROM unnest(%s::integer[], %s::bigint[], %s::bigint[]) "
        "AS span(series_id, lo, hi) WHERE (SELECT min(s.ts_ms) FROM samples s "
        "WHERE s.series_id = span.series_id AND s.ts_ms >= span.lo) <= span.hi)",
        (series_id[starts].tolist(), ts_ms[starts].tolist(), ts_ms[ends].tolist()),
    )
    return bool(cursor.fetchone()[0])


def float_rows(rows: Sequence[Sequence[Any]], width: int) -> np.ndarray:
    """Result rows as a float array, one row each. ``np.asarray`` on SQLAlchemy rows probes
    every row for array attributes (each probe a failed key lookup): 35 ms for 4,000 points,
    a quarter of a forecast refresh; reading their values in one flat pass takes 3-5 ms."""
    flat = np.fromiter(chain.from_iterable(rows), dtype="float64", count=len(rows) * width)
    return flat.reshape(len(rows), width)


def read_samples(
    *,
    session: Session,
    series_ids: list[int],
    start: datetime | None = None,
    end: datetime | None = None,
) -> pd.DataFrame:
    """Points of some series as a time-ordered frame: ``series_id``, ``ts`` (UTC), ``value``."""
    query = select(Sample.series_id, Sample.ts_ms, Sample.value).where(
        Sample.series_id.in_(series_ids)
    )
    if start is not None:
        query = query.where(Sample.ts_ms >= int(start.timestamp() * 1000))
    if end is not None:
        query = query.where(Sample.ts_ms < int(end.timestamp() * 1000))
    rows = session.execute(query.order_by(Sample.ts_ms)).all()
    if not rows:
        return pd.DataFrame(
            {
                "series_id": pd.Series(dtype="int64"),
                "ts": pd.Series(dtype="datetime64[ns, UTC]"),
                "value": pd.Series(dtype="float64"),
            }
        )
    array = float_rows(rows, 3)
    return pd.DataFrame(
        {
            "series_id": array[:, 0].astype("int64"),
            "ts": from_epoch_ms(array[:, 1].astype("int64")),
            "value": array[:, 2],
        }
    )


def sample_count(*, session: Session, series_ids: list[int] | None = None) -> int:
    """How many points are stored (optionally for some series only)."""
    query = select(func.count()).select_from(Sample)
    if series_ids is not None:
        query = query.where(Sample.series_id.in_(series_ids))
    return int(session.execute(query).scalar_one())


def latest_metric_ms(
    *, session: Session, service_id: int, metric: str, until_ms: int | None = None
) -> int | None:
    """Epoch ms of the newest point of any series of one service metric (pulls resume here),
    at or before ``until_ms`` if given.

    The newest point of each series is a primary-key probe (a correlated ``max``); a join
    would read every sample of the metric.
    """
    own = Sample.series_id == Series.id
    if until_ms is not None:
        own = own & (Sample.ts_ms <= until_ms)
    newest = select(func.max(Sample.ts_ms)).where(own).scalar_subquery()
    value = session.execute(
        select(func.max(newest)).where(Series.service_id == service_id, Series.metric == metric)
    ).scalar_one()
    return None if value is None else int(value)


def roll_up_samples(
    *,
    session: Session,
    series_ids: list[int],
    step_ms: int,
    cutoff_ms: int,
    early_ms: Mapping[int, int] | None = None,
) -> tuple[int, int]:
    """Replace the raw points of ``series_ids`` older than ``cutoff_ms`` by one mean per step.

    Buckets are ``[k * step, (k + 1) * step)`` from the epoch, the grid training averages on,
    and each mean is stored at its bucket's start, so training reads the same history before
    and after. A point counts for the bucket it falls in once moved ahead by ``early_ms`` of
    its series (training moves each point to the nearest mark of its own finer step: a
    1-minute point stamped 14:39:58 counts for 14:40, and by its raw time it was rolled into
    14:35). ``cutoff_ms`` must be on that grid, so no bucket is split; points counting for a
    bucket from the cutoff on stay raw. Buckets already reduced to one point at their start
    are left alone: re-running changes nothing. Returns (buckets written, raw points deleted);
    all in the caller's transaction, and points sent for these series wait until it ends.
    """
    if not series_ids or cutoff_ms % step_ms:
        raise ValueError("roll-up needs series and a cutoff on the step grid")
    bind = {"step": step_ms, "cutoff": cutoff_ms}
    ids = ", ".join(str(int(i)) for i in series_ids)  # ints only: safe to inline
    shifts = {int(k): int(v) for k, v in (early_ms or {}).items() if int(v) > 0}
    cases = " ".join(f"WHEN {sid} THEN {shift}" for sid, shift in sorted(shifts.items()))
    ahead = f" + CASE samples.series_id {cases} ELSE 0 END" if shifts else ""  # ints: inlined
    bucket = f"((samples.ts_ms{ahead}) / :step) * :step"

    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:  # two roll-ups at once (a manual one beside the job's) wrote one bucket twice
        hold_until_commit(session, "forecaster-roll-up")
    _hold_off_writers(session, ids, postgres)
    session.execute(text("DROP TABLE IF EXISTS samples_rollup"))
    session.execute(
        text(
            f"CREATE TEMP TABLE samples_rollup {'ON COMMIT DROP ' if postgres else ''}AS "
            "SELECT series_id, bucket, AVG(value) AS value, COUNT(*) AS points FROM ("
            f"  SELECT series_id, ts_ms, value, {bucket} AS bucket FROM samples"
            f"  WHERE series_id IN ({ids}) AND ts_ms < :cutoff"
            ") AS raw WHERE bucket < :cutoff GROUP BY series_id, bucket "
            "HAVING COUNT(*) > 1 OR MIN(ts_ms) <> bucket"
        ),
        bind,
    )
    session.execute(text("CREATE INDEX samples_rollup_key ON samples_rollup (series_id, bucket)"))
    deleted = session.execute(
        text(
            f"DELETE FROM samples WHERE series_id IN ({ids}) AND ts_ms < :cutoff AND EXISTS ("
            "  SELECT 1 FROM samples_rollup r WHERE r.series_id = samples.series_id"
            f"  AND r.bucket = {bucket})"
        ),
        bind,
    )
    written = session.execute(
        text(
            "INSERT INTO samples (series_id, ts_ms, value) "
            "SELECT series_id, bucket, value FROM samples_rollup"
        )
    )
    if not postgres:
        session.execute(text("DROP TABLE samples_rollup"))
    return int(written.rowcount), int(deleted.rowcount)  # type: ignore[attr-defined]


def _hold_off_writers(session: Session, ids: str, postgres: bool) -> None:
    """Keep points out of the series ``ids`` until the roll-up commits, so the raw points it
    deletes are the ones it averaged: the average and the delete are two statements, and a
    point stored between them was deleted uncounted (QA: 1,429 of 19,620 points sent during
    a roll-up lost on PostgreSQL, 1,385 of 28,240 on SQLite).

    PostgreSQL: ``FOR UPDATE`` waits for, and then blocks, the ``FOR KEY SHARE`` a write takes
    on its series (:func:`_lock_series`), both in id order so neither waits on the other's
    rows. SQLite: the database's write lock, taken before the roll-up reads.
    """
    if postgres:
        session.execute(text(f"SELECT id FROM series WHERE id IN ({ids}) ORDER BY id FOR UPDATE"))
    else:
        write_lock_now(session)


def metric_series_ids(*, session: Session, service_id: int, metric: str) -> list[int]:
    """Ids of the stored label sets of one metric of a service (never the derived sum)."""
    return list(
        session.execute(
            select(Series.id)
            .where(
                Series.service_id == service_id,
                Series.metric == metric,
                Series.labels_key != AGGREGATE_LABELS_KEY,
            )
            .order_by(Series.id)
        ).scalars()
    )


@dataclass(frozen=True)
class BucketWindow:
    """Which series to sum, over [start, end), in buckets of ``bucket_ms`` (and how far each
    series' points move ahead first): one chart's or one check's load."""

    series_ids: list[int]
    start_ms: int
    end_ms: int
    bucket_ms: int
    early_ms: Mapping[int, int] | None = None


@dataclass(frozen=True)
class Buckets:
    """A window's summed load per bucket, by bucket start, empty buckets absent: arrays, not a
    frame, since the overview reads two windows a service and a small frame's columns cost
    more than its figures (~1 s of 1,100 services' overview)."""

    bucket_ms: np.ndarray  # bucket start, epoch ms (int64)
    mean: np.ndarray  # the series' bucket means, summed
    max: np.ndarray  # their maxima, summed: an upper bound that keeps peaks visible
    count: np.ndarray  # points (int64)
    series: np.ndarray  # how many of the series have points in the bucket (int64)

    def __len__(self) -> int:
        return len(self.bucket_ms)

    def head(self, rows: int) -> Buckets:
        """The first ``rows`` buckets."""
        return Buckets(*(getattr(self, name)[:rows] for name in BUCKET_COLUMNS))

    def with_empty(self, at: np.ndarray, starts: np.ndarray) -> Buckets:
        """Empty buckets (no figures: NaN) starting at ``starts``, inserted before the rows
        ``at`` (in order: ``starts`` fall between their neighbours)."""
        return Buckets(
            bucket_ms=np.insert(self.bucket_ms, at, starts),
            mean=np.insert(self.mean, at, np.nan),
            max=np.insert(self.max, at, np.nan),
            count=np.insert(self.count, at, 0),
            series=np.insert(self.series, at, 0),
        )

    @classmethod
    def empty(cls) -> Buckets:
        none, no_floats = np.empty(0, dtype="int64"), np.empty(0)
        return cls(bucket_ms=none, mean=no_floats, max=no_floats, count=none, series=none)


BUCKET_COLUMNS = ("bucket_ms", "mean", "max", "count", "series")


def bucketed_samples_of(
    *, session: Session, windows: Mapping[Key, BucketWindow]
) -> dict[Key, Buckets]:
    """Per window, mean and max of its summed series per bucket ``[start + k * bucket, ...)``
    in [start, end): windows of distinct series (the overview's services) read together, one
    query per distinct (start, end, bucket, shift) among their series (the overview's services
    share a window and take few steps and shifts) and per
    :data:`~forecaster.storage.chunks.ID_CHUNK` series of it.

    A point counts for its bucket once moved ahead by its series' ``early_ms`` (training moves
    points of a finer step to their nearest own mark: :func:`roll_up_samples`).

    The database does the grouping, so a month of 1-minute points leaves it as ~1,000 rows.
    Per-series bucket means are added up (the same sum-of-means the train job builds); the max
    is the sum of per-series maxima, an upper bound that keeps peaks visible (:class:`Buckets`).
    """
    groups: dict[BucketGrid, list[int]] = {}
    seen: set[int] = set()
    for window in windows.values():
        if window.end_ms <= window.start_ms:
            continue
        for series_id in window.series_ids:
            if series_id in seen:
                raise ValueError(f"series {series_id} is in two windows")
            seen.add(series_id)
            groups.setdefault(_grid(window, series_id), []).append(series_id)
    if not groups:
        return {key: Buckets.empty() for key in windows}
    array = np.concatenate(
        [
            number_rows_in_chunks(
                session=session,
                items=series_ids,
                query=partial(_bucket_query, grid=grid),
                width=5,
                id_list=True,
            )
            for grid, series_ids in groups.items()
        ]
    )
    return _summed(array, windows)


@dataclass(frozen=True)
class BucketGrid:
    """What a series' buckets depend on: its window's span and width, and its own shift."""

    start_ms: int
    end_ms: int
    bucket_ms: int
    shift_ms: int


def _grid(window: BucketWindow, series_id: int) -> BucketGrid:
    """The grid of one series of ``window`` (a shift of none or less: not moved)."""
    shift = max(int((window.early_ms or {}).get(series_id, 0)), 0)
    return BucketGrid(int(window.start_ms), int(window.end_ms), int(window.bucket_ms), shift)


def _bucket_query(series_ids: list[int], grid: BucketGrid) -> Select[Any]:
    """:func:`bucketed_samples_of`'s per-series buckets of some series sharing one grid, its
    figures inlined (ints): a ``CASE`` of a term per series made PostgreSQL test thousands of
    them per point (12,400 series: the overview ran past 250 s)."""
    width = grid.bucket_ms
    # one bucket further, then back: SQL division truncates a point moved to just before the
    # start towards bucket 0; its numerator stays positive so (floor = truncation)
    offset = grid.shift_ms - grid.start_ms + width
    bucket = ((Sample.ts_ms + _inline(offset)) // _inline(width) - 1).label("bucket")
    return (
        select(
            Sample.series_id,
            bucket,
            func.avg(Sample.value),
            func.max(Sample.value),
            func.count(),
        )
        .where(
            Sample.series_id.in_(series_ids),
            Sample.ts_ms >= grid.start_ms - grid.shift_ms,
            Sample.ts_ms < grid.end_ms,
        )
        .group_by(Sample.series_id, bucket)
    )


def _inline(value: int) -> Any:
    """An integer written into the query's text, so the bucket expression of the select and
    of its ``GROUP BY`` are one and the same to PostgreSQL."""
    return literal_column(str(int(value)), BigInteger)


def _summed(array: np.ndarray, windows: Mapping[Key, BucketWindow]) -> dict[Key, Buckets]:
    """Per window, its per-series buckets (rows of series, bucket, mean, max, count) summed
    over its series, grouped for all windows at once: a small frame grouped per window was
    4 ms a service, 7 of the overview's 18 s at 1,100 services."""
    live = [key for key, window in windows.items() if window.end_ms > window.start_ms]
    if not len(array) or not live:
        return {key: Buckets.empty() for key in windows}
    turns = _turns_of(array[:, 0], [windows[key].series_ids for key in live])
    # buckets from 0 up to the window's end (a point moved past it lands beyond)
    limits = np.array(
        [-(-(windows[k].end_ms - windows[k].start_ms) // windows[k].bucket_ms) for k in live]
    )
    buckets = array[:, 1].astype("int64")
    inside = (buckets >= 0) & (buckets < limits[turns])
    array, turns, buckets = array[inside], turns[inside], buckets[inside]
    # summed in series order: PostgreSQL returns a query of many windows' groups in any order,
    # and a float sum in another order differs in its last digits from one service's read
    order = np.lexsort((buckets, array[:, 0], turns))
    width = int(limits.max()) + 1
    per_series = pd.DataFrame(
        {
            "key": turns[order] * width + buckets[order],
            "mean": array[order, 2],
            "max": array[order, 3],
            "count": array[order, 4].astype("int64"),
        }
    )
    grouped = per_series.groupby("key", sort=True)
    summed = grouped.sum()
    group_keys = summed.index.to_numpy(dtype="int64")
    sizes = grouped.size().to_numpy(dtype="int64")
    mean, peak, count = (summed[name].to_numpy() for name in ("mean", "max", "count"))
    bounds = np.searchsorted(group_keys // width, np.arange(len(live) + 1))
    found: dict[Key, Buckets] = {}
    for turn, key in enumerate(live):
        own = slice(bounds[turn], bounds[turn + 1])
        window = windows[key]
        found[key] = Buckets(
            bucket_ms=window.start_ms + group_keys[own] % width * int(window.bucket_ms),
            mean=mean[own],
            max=peak[own],
            count=count[own],
            series=sizes[own],
        )
    return {key: found[key] if key in found else Buckets.empty() for key in windows}


def _turns_of(series: np.ndarray, windows: list[list[int]]) -> np.ndarray:
    """For each of some rows' ``series`` ids, which of ``windows`` (their series ids, none in
    two) it belongs to."""
    owner = {series_id: turn for turn, ids in enumerate(windows) for series_id in ids}
    ids = np.fromiter(owner, dtype="int64", count=len(owner))
    turn_of = np.fromiter(owner.values(), dtype="int64", count=len(owner))
    order = np.argsort(ids)
    return turn_of[order][np.searchsorted(ids[order], series.astype("int64"))]


NEWEST_STAMPS = 12  # how many of a series' newest points tell how often its rows come


def newest_sample_ms(*, session: Session, series_id: int, count: int = NEWEST_STAMPS) -> np.ndarray:
    """Epoch ms of a series' newest ``count`` points, oldest first (one index scan back from
    its newest point): how often its rows come."""
    stamps = session.execute(
        select(Sample.ts_ms)
        .where(Sample.series_id == series_id)
        .order_by(Sample.ts_ms.desc())
        .limit(count)
    ).scalars()
    return np.asarray(list(stamps), dtype="int64")[::-1]


def latest_sample_ms_of(*, session: Session, series_ids: list[int]) -> int | None:
    """Epoch ms of the newest point among some series (the service's "current" load time)."""
    return _edge_sample_ms(session, series_ids, func.max)


def first_sample_ms_of(*, session: Session, series_ids: list[int]) -> int | None:
    """Epoch ms of the oldest point among some series (where a service's history starts)."""
    return _edge_sample_ms(session, series_ids, func.min)


def _edge_sample_ms(session: Session, series_ids: list[int], edge: Any) -> int | None:
    """``func.min`` or ``func.max`` of the points' epoch ms among some series."""
    if not series_ids:
        return None
    value = session.execute(
        select(edge(Sample.ts_ms)).where(Sample.series_id.in_(series_ids))
    ).scalar_one()
    return None if value is None else int(value)
