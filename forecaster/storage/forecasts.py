"""Repository functions for model runs and the forecasts they produce."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    Select,
    and_,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from forecaster.errors import InvalidInputError
from forecaster.storage.chunks import rows_in_chunks
from forecaster.storage.deletes import delete_with_children
from forecaster.storage.numbers import epoch_us, number_rows_in_chunks
from forecaster.storage.orm import Forecast, ForecastPoint, ModelRun, Plan, Series, UTCDateTime
from forecaster.timeutil import as_utc, from_epoch_us
from forecaster.training.leaderboard import leaderboard_rank
from models.base import quantile_name

FORECAST_COLUMNS = ("p50", "p90", "p95", "p99")
# what :func:`forecast_points` reads of each point, as numbers (``ts``: epoch microseconds)
POINT_COLUMNS = ("forecast_id", "ts", *FORECAST_COLUMNS, "risk")


def save_model_run(
    *,
    session: Session,
    series_id: int,
    model: str,
    step_seconds: int,
    status: str,
    train_start: datetime | None = None,
    train_end: datetime | None = None,
    params: dict[str, Any] | None = None,
    scores: dict[str, Any] | None = None,
    calibration: dict[str, Any] | None = None,
    message: str | None = None,
    fit_seconds: float | None = None,
    artifact: bytes | None = None,
    champion: bool = False,
) -> ModelRun:
    """Store one model run; when it is the champion, the previous champion steps down."""
    if champion:
        session.execute(
            update(ModelRun)
            .where(ModelRun.series_id == series_id, ModelRun.is_champion.is_(True))
            .values(is_champion=False)
        )
    run = ModelRun(
        series_id=series_id,
        model=model,
        step_seconds=step_seconds,
        status=status,
        train_start=train_start,
        train_end=train_end,
        params=params or {},
        scores=scores or {},
        calibration=calibration or {},
        message=message,
        fit_seconds=fit_seconds,
        artifact=artifact,
        is_champion=champion,
    )
    session.add(run)
    session.flush()
    return run


def champion_run(*, session: Session, series_id: int) -> ModelRun | None:
    """The current champion model run of a series, if any."""
    return session.execute(
        select(ModelRun)
        .where(ModelRun.series_id == series_id, ModelRun.is_champion.is_(True))
        .order_by(ModelRun.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def list_runs(*, session: Session, series_id: int, limit: int = 50) -> list[ModelRun]:
    """Recent model runs of a series, newest first (the leaderboard reads these)."""
    return list(
        session.execute(
            select(ModelRun)
            .where(ModelRun.series_id == series_id)
            .order_by(ModelRun.id.desc())
            .limit(limit)
        ).scalars()
    )


def save_forecast(
    *,
    session: Session,
    run_id: int,
    series_id: int,
    step_seconds: int,
    frame: pd.DataFrame,
    risk_quantile: float | None = None,
) -> Forecast:
    """Store a forecast frame (index: UTC step timestamps; columns p50, p90, p95, p99, and the
    ``risk_quantile``'s column when it is none of those)."""
    extra = quantile_name(risk_quantile) if risk_quantile is not None else None
    if extra in FORECAST_COLUMNS:
        extra = None
    columns = [*FORECAST_COLUMNS, *([extra] if extra else [])]
    if not np.isfinite(frame[columns].to_numpy(dtype="float64")).all():
        # a plan sized on it would be nonsense: refuse it, so the last good one stays in force
        raise InvalidInputError(
            "the forecast holds non-finite values (are the history's values sane?); "
            "nothing was stored"
        )
    forecast = Forecast(
        run_id=run_id,
        series_id=series_id,
        origin=frame.index[0].to_pydatetime(),
        step_seconds=step_seconds,
        risk_quantile=risk_quantile if extra else None,
    )
    session.add(forecast)
    session.flush()
    rows = pd.DataFrame({column: frame[column].astype("float64") for column in FORECAST_COLUMNS})
    if extra:
        rows["risk"] = frame[extra].astype("float64")
    rows.insert(0, "ts", list(frame.index.to_pydatetime()))
    rows.insert(0, "forecast_id", forecast.id)
    session.execute(insert(ForecastPoint), rows.to_dict("records"))
    return forecast


def latest_forecast(*, session: Session, series_id: int) -> Forecast | None:
    """The newest forecast of a series."""
    return session.execute(
        select(Forecast)
        .where(Forecast.series_id == series_id)
        .order_by(Forecast.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def forecast_frame(
    *,
    session: Session,
    forecast_id: int,
    after: datetime | None = None,
    before: datetime | None = None,
) -> pd.DataFrame:
    """The points of a stored forecast as a frame indexed by UTC timestamp: p50, p90, p95,
    p99, and the risk quantile's column (``p97.5`` ...) when the forecast carries one.
    ``after`` / ``before`` keep the steps starting in between: the overview shows 6 h of a
    48 h forecast, and read whole it spent 8 ms a service turning times it did not show."""
    return forecast_frames(session=session, windows={forecast_id: (after, before)})[forecast_id]


def forecast_frames(
    *, session: Session, windows: Mapping[int, tuple[datetime | None, datetime | None]]
) -> dict[int, pd.DataFrame]:
    """:func:`forecast_frame` of several forecasts (id: after, before) in one read (one per
    :data:`~forecaster.storage.chunks.CHUNK` forecasts)."""
    if not windows:
        return {}
    read = forecast_points(session=session, windows=windows)
    # one frame for all, cut by forecast: a frame built per forecast was 3 ms a service
    points = pd.DataFrame(
        read.values, columns=list(POINT_COLUMNS[2:]), index=from_epoch_us(read.ts_us).rename("ts")
    )
    plain = points.drop(columns="risk")
    frames: dict[int, pd.DataFrame] = {}
    for forecast_id in windows:
        own = read.rows_of(forecast_id)
        forecast = session.get(Forecast, forecast_id)  # callers have loaded it: no second query
        risk_quantile = forecast.risk_quantile if forecast is not None else None
        frames[forecast_id] = (
            plain.iloc[own]
            if risk_quantile is None
            else points.iloc[own].rename(columns={"risk": quantile_name(risk_quantile)})
        )
    return frames


@dataclass(frozen=True)
class ForecastPoints:
    """Some forecasts' points as numbers, by forecast then time: the overview reads two
    windows of every service's forecast, and cut into frames they cost more than the figures.
    ``values``' columns are :data:`POINT_COLUMNS`' from ``p50`` on (``risk``: NaN if none)."""

    forecast_id: np.ndarray  # int64, ascending
    ts_us: np.ndarray  # step start, epoch microseconds (int64)
    values: np.ndarray  # float, one row a point

    def __len__(self) -> int:
        return len(self.ts_us)

    def rows_of(self, forecast_id: int) -> slice:
        """Where one forecast's points are."""
        ids = self.forecast_id
        return slice(np.searchsorted(ids, forecast_id), np.searchsorted(ids, forecast_id, "right"))

    def of(self, forecast_id: int) -> ForecastPoints:
        """One forecast's points."""
        return self.head(self.rows_of(forecast_id))

    def head(self, rows: slice | int) -> ForecastPoints:
        """Some rows: a slice, or the first ``rows``."""
        own = rows if isinstance(rows, slice) else slice(0, rows)
        return ForecastPoints(self.forecast_id[own], self.ts_us[own], self.values[own])

    def column(self, name: str) -> np.ndarray:
        """``p50``, ``p90``, ``p95``, ``p99`` or ``risk``."""
        return self.values[:, POINT_COLUMNS.index(name) - 2]


def forecast_points(
    *, session: Session, windows: Mapping[int, tuple[datetime | None, datetime | None]]
) -> ForecastPoints:
    """The points of several forecasts (id: after, before, as :func:`forecast_frame`) in one
    read (one per :data:`~forecaster.storage.chunks.CHUNK` forecasts)."""
    array = number_rows_in_chunks(
        session=session, items=windows.items(), query=_points_query, width=len(POINT_COLUMNS)
    )
    # each chunk is ordered by forecast and time, and holds all of a forecast's points
    array = array[np.argsort(array[:, 0], kind="stable")]
    return ForecastPoints(
        forecast_id=array[:, 0].astype("int64"),
        ts_us=array[:, 1].astype("int64"),
        values=array[:, 2:],
    )


Window = tuple[int, tuple[datetime | None, datetime | None]]  # a forecast's id: after, before


def _points_query(windows: list[Window]) -> Select[int, int, float, float, float, float, Any]:
    """:func:`forecast_frames`' read of some forecasts' points, their times in epoch
    microseconds (:data:`POINT_COLUMNS`)."""
    # windows sharing bounds in one term (the sparklines' share a few): a term built per
    # forecast was a tenth of the overview's time
    shared: dict[tuple[datetime | None, datetime | None], list[int]] = {}
    for forecast_id, bounds in windows:
        shared.setdefault(bounds, []).append(forecast_id)
    ranges = []
    for (after, before), ids in shared.items():
        terms: list[ColumnElement[bool]] = [ForecastPoint.forecast_id.in_(ids)]
        terms += [] if after is None else [ForecastPoint.ts > after]
        terms += [] if before is None else [ForecastPoint.ts < before]
        ranges.append(and_(*terms))
    return (
        select(
            ForecastPoint.forecast_id,
            epoch_us(ForecastPoint.ts),
            ForecastPoint.p50,
            ForecastPoint.p90,
            ForecastPoint.p95,
            ForecastPoint.p99,
            ForecastPoint.risk,
        )
        .where(or_(*ranges))
        .order_by(ForecastPoint.forecast_id, ForecastPoint.ts)
    )


def quantile_series(frame: pd.DataFrame, quantile: float) -> pd.Series:
    """A forecast frame's column for ``quantile``; for a forecast made before the profile asked
    for it (until the next refresh), read between its neighbouring quantiles (linearly, held
    at the outermost one beyond them)."""
    name = quantile_name(quantile)
    if name in frame:
        return frame[name]
    known = sorted((float(column[1:]) / 100, column) for column in frame if column[:1] == "p")
    levels = [level for level, _ in known]
    upper = int(np.clip(np.searchsorted(levels, quantile), 1, len(known) - 1))
    (low, low_name), (high, high_name) = known[upper - 1], known[upper]
    weight = float(np.clip((quantile - low) / (high - low), 0.0, 1.0))
    return (frame[low_name] * (1 - weight) + frame[high_name] * weight).rename(name)


def newest_forecast_times(*, session: Session) -> dict[str, datetime]:
    """When each service last got a forecast (for staleness metrics and warnings)."""
    from forecaster.storage.orm import Series, Service

    # per series, one probe of its (series, created_at) index: grouped over every forecast
    # kept, each /metrics scrape read them all (300 ms at 336,000 forecasts on PostgreSQL; QA)
    newest = (
        select(func.max(Forecast.created_at))
        .where(Forecast.series_id == Series.id)
        .correlate(Series)
        .scalar_subquery()
    )
    rows = session.execute(
        select(Service.name, newest).join(Series, Series.service_id == Service.id)
    ).all()
    times: dict[str, datetime] = {}
    for name, created in rows:
        if created is not None:
            times[name] = max(times.get(name, as_utc(created)), as_utc(created))
    return times


@dataclass(frozen=True)
class ForecastSummary:
    """A stored forecast without its points: enough to list and pick it (forecast review)."""

    id: int
    run_id: int
    model: str
    created_at: datetime
    origin: datetime
    end: datetime  # end of the last step
    step_seconds: int
    steps: int


def forecast_summaries(
    *, session: Session, series_id: int, limit: int = 50
) -> list[ForecastSummary]:
    """Recent forecasts of a series with their model and time span, newest first."""
    rows = session.execute(
        select(
            Forecast.id,
            Forecast.run_id,
            ModelRun.model,
            Forecast.created_at,
            Forecast.origin,
            Forecast.step_seconds,
            func.max(ForecastPoint.ts),
            func.count(),
        )
        .join(ModelRun, ModelRun.id == Forecast.run_id)
        .join(ForecastPoint, ForecastPoint.forecast_id == Forecast.id)
        .where(Forecast.series_id == series_id)
        .group_by(
            Forecast.id,
            Forecast.run_id,
            ModelRun.model,
            Forecast.created_at,
            Forecast.origin,
            Forecast.step_seconds,
        )
        .order_by(Forecast.id.desc())
        .limit(limit)
    ).all()
    return [
        ForecastSummary(
            id=row[0],
            run_id=row[1],
            model=row[2],
            created_at=as_utc(row[3]),
            origin=as_utc(row[4]),
            end=as_utc(row[6]) + timedelta(seconds=row[5]),
            step_seconds=row[5],
            steps=int(row[7]),
        )
        for row in rows
    ]


def forecasts_covering(
    *, session: Session, probes: Mapping[int, Sequence[datetime]]
) -> dict[int, Forecast | None]:
    """Per series (id: moments), its newest forecast made from an origin at or before its
    first moment (it forecast that moment blind), else at or before the next, in one query of
    index probes (one per :data:`~forecaster.storage.chunks.CHUNK` series)."""
    if not probes:
        return {}
    rows = rows_in_chunks(session=session, items=probes.items(), query=_covering_query)
    found: dict[int, Forecast | None] = dict.fromkeys(probes)
    found.update({series_id: forecast for series_id, forecast in rows})
    return found


def _covering_query(probes: list[tuple[int, Sequence[datetime]]]) -> Select[int, Forecast]:
    """:func:`forecasts_covering`' read of some series: each one's id and forecast."""
    moments_of = dict(probes)
    depth = max(len(moments) for moments in moments_of.values())
    newest = [
        select(func.max(Forecast.id))
        .where(
            Forecast.series_id == Series.id,
            Forecast.origin
            <= case(
                {
                    series_id: literal(moments[min(turn, len(moments) - 1)], UTCDateTime())
                    for series_id, moments in moments_of.items()
                },
                value=Series.id,
            ),
        )
        .correlate(Series)
        .scalar_subquery()
        for turn in range(depth)
    ]
    return (
        select(Series.id, Forecast)
        .outerjoin(Forecast, Forecast.id == (func.coalesce(*newest) if depth > 1 else newest[0]))
        .where(Series.id.in_(list(moments_of)))
    )


def latest_training_runs(*, session: Session, series_id: int) -> list[ModelRun]:
    """Every candidate run of a series' most recent training (they share ``params.training``),
    champion first, then by MASE: the leaderboard."""
    recent = list_runs(session=session, series_id=series_id, limit=200)
    if not recent:
        return []
    key = recent[0].params.get("training")
    runs = [run for run in recent if key is not None and run.params.get("training") == key]
    runs = runs or recent[:1]
    return sorted(runs, key=lambda run: leaderboard_rank(run.is_champion, run.scores.get("mase")))


def prune_forecasts(*, session: Session, series_ids: list[int], before: datetime) -> int:
    """Delete the forecasts of ``series_ids`` made before ``before``, with their points, in bulk.

    Kept whatever their age: each series' newest forecast (the forecast route, a champion's
    refresh) and every forecast a remaining plan was made from (the plan in force shows its
    load). Returns how many forecasts went.
    """
    newest = (
        select(func.max(Forecast.id))
        .where(Forecast.series_id.in_(series_ids))
        .group_by(Forecast.series_id)
    )
    # an anti-join on the plans' forecast index: as NOT IN (a nullable column) PostgreSQL
    # scanned every plan for each old forecast, 11 s per service at 181,000 plans (QA)
    planned = exists().where(Plan.forecast_id == Forecast.id)
    old = select(Forecast.id).where(
        Forecast.series_id.in_(series_ids),
        Forecast.created_at < before,
        Forecast.id.not_in(newest),
        ~planned,
    )
    ids = list(session.execute(old).scalars())
    delete_with_children(
        session=session, parent_key=Forecast.id, child_key=ForecastPoint.forecast_id, ids=ids
    )
    return len(ids)


def prune_model_runs(*, session: Session, series_ids: list[int], before: datetime) -> int:
    """Delete the model runs of ``series_ids`` stored before ``before``, fitted models included.

    Kept whatever their age: each series' champion (the last good model, which refreshes
    forecasts and stands in when a training fails), the other candidates of its training (the
    leaderboard) and any run a remaining forecast was made by. Returns how many went.
    """
    champion = ModelRun.__table__.alias("champion")
    same_training = exists().where(
        champion.c.series_id == ModelRun.series_id,
        champion.c.is_champion.is_(True),
        champion.c.params["training"].as_string() == ModelRun.params["training"].as_string(),
    )
    forecast_by = exists().where(Forecast.run_id == ModelRun.id)
    result = session.execute(
        delete(ModelRun).where(
            ModelRun.series_id.in_(series_ids),
            ModelRun.created_at < before,
            ModelRun.is_champion.is_(False),
            ~same_training,
            ~forecast_by,
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
