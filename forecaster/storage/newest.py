"""The newest rows of many services at once: each series' newest sample, forecast and champion
run, each service's newest plan. The dashboard's overview reads these for every service.

A correlated ``max`` per series (or service) is one index probe, so one query stands where one
per service had made the overview thousands of round trips on a large fleet.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import QueryableAttribute, Session, defer

from forecaster.labels import AGGREGATE_LABELS_KEY
from forecaster.storage.chunks import rows_in_chunks
from forecaster.storage.numbers import number_rows_in_chunks
from forecaster.storage.orm import Forecast, ModelRun, Plan, PlanStep, Sample, Series, Service
from forecaster.storage.plan_views import newest_plan_id
from forecaster.storage.plans import step_end
from forecaster.storage.samples import NEWEST_STAMPS


@dataclass(frozen=True)
class SeriesNewest:
    """One stored series with its newest sample, forecast and champion run (ids)."""

    id: int
    service_id: int
    metric: str
    labels_key: str
    unit: str | None
    last_ms: int | None
    dozenth_ms: int | None  # its NEWEST_STAMPS-th newest sample: the newest dozen start there
    forecast_id: int | None
    champion_id: int | None

    @property
    def derived(self) -> bool:
        """Whether it stands for the sum of a metric's label sets (what training forecasts
        when there are several), rather than being one of them."""
        return self.labels_key == AGGREGATE_LABELS_KEY


def series_newest(*, session: Session, service_ids: list[int]) -> list[SeriesNewest]:
    """Every series of the services, by id, with its newest rows (a query per
    :data:`~forecaster.storage.chunks.ID_CHUNK` services)."""
    rows = rows_in_chunks(
        session=session, items=service_ids, query=_series_newest_query, id_list=True
    )
    return sorted((SeriesNewest(*row) for row in rows), key=lambda one: one.id)


def _series_newest_query(
    service_ids: list[int],
) -> Select[int, int, str, str, str | None, Any, Any, Any, Any]:
    """:func:`series_newest`' read of some services' series."""
    own_sample = Sample.series_id == Series.id
    dozenth = (
        select(Sample.ts_ms)
        .where(own_sample)
        .order_by(Sample.ts_ms.desc())
        .limit(1)
        .offset(NEWEST_STAMPS - 1)
        .scalar_subquery()
    )
    champion = (ModelRun.series_id == Series.id) & ModelRun.is_champion.is_(True)
    return (
        select(
            Series.id,
            Series.service_id,
            Series.metric,
            Series.labels_key,
            Series.unit,
            select(func.max(Sample.ts_ms)).where(own_sample).scalar_subquery(),
            dozenth,
            select(func.max(Forecast.id)).where(Forecast.series_id == Series.id).scalar_subquery(),
            select(func.max(ModelRun.id)).where(champion).scalar_subquery(),
        )
        .where(Series.service_id.in_(service_ids))
        .order_by(Series.id)
    )


def newest_stamps(*, session: Session, series: Iterable[SeriesNewest]) -> dict[int, np.ndarray]:
    """Epoch ms of each series' newest ``NEWEST_STAMPS`` samples, oldest first (as
    :func:`newest_sample_ms` reads one series), in one read of index ranges (a
    :data:`~forecaster.storage.chunks.CHUNK` of series each)."""
    array = number_rows_in_chunks(
        session=session,
        items={one.id: one for one in series}.values(),
        query=_newest_ranges,
        width=2,
    ).astype("int64")
    # each chunk is ordered by series and time, and holds all of a series' rows: cut by series
    array = array[np.argsort(array[:, 0], kind="stable")]
    ids, firsts = np.unique(array[:, 0], return_index=True)
    stamps = np.split(array[:, 1], firsts[1:]) if len(ids) else []
    return dict(zip(ids.tolist(), stamps, strict=True))


def _newest_ranges(series: list[SeriesNewest]) -> Select[int, int]:
    """:func:`newest_stamps`' read of some series: from each one's ``dozenth_ms`` on."""
    ranges = [
        Sample.series_id == one.id
        if one.dozenth_ms is None
        else and_(Sample.series_id == one.id, Sample.ts_ms >= one.dozenth_ms)
        for one in series
    ]
    return (
        select(Sample.series_id, Sample.ts_ms)
        .where(or_(*ranges))
        .order_by(Sample.series_id, Sample.ts_ms)
    )


@dataclass(frozen=True)
class NewestPlan:
    plan: Plan
    ends_at: datetime | None  # the end of its last step (:func:`plan_end`)


def newest_plans(*, session: Session, service_ids: list[int]) -> dict[int, NewestPlan]:
    """Each service's newest plan (the one in force) and when it runs out, by service id (a
    query per :data:`~forecaster.storage.chunks.ID_CHUNK` services)."""
    rows = rows_in_chunks(
        session=session, items=service_ids, query=_newest_plans_query, id_list=True
    )
    return {
        plan.service_id: NewestPlan(plan=plan, ends_at=step_end(last, plan.step_seconds))
        for plan, last in rows
    }


def _newest_plans_query(service_ids: list[int]) -> Select[Plan, datetime | None]:
    """:func:`newest_plans`' read of some services: each one's newest plan, its last step."""
    last_step = (
        select(func.max(PlanStep.ts))
        .where(PlanStep.plan_id == Plan.id)
        .correlate(Plan)
        .scalar_subquery()
    )
    return (
        select(Plan, last_step)
        .join(Service, Plan.id == newest_plan_id())
        .where(Service.id.in_(service_ids))
    )


Row = TypeVar("Row", Forecast, ModelRun)


def rows_by_id(
    *,
    session: Session,
    entity: type[Row],
    ids: Iterable[int | None],
    unread: Sequence[QueryableAttribute[Any]] = (),
) -> dict[int, Row]:
    """Rows of ``entity`` (forecasts, model runs) by id, in one read (one per
    :data:`~forecaster.storage.chunks.ID_CHUNK` ids); ``unread``: columns not loaded (a model
    run's pickled model: 70 ms of the overview's 100 champions on PostgreSQL)."""
    wanted = sorted({one for one in ids if one is not None})
    rows = rows_in_chunks(
        session=session,
        items=wanted,
        query=lambda part: select(entity).where(entity.id.in_(part)).options(*map(defer, unread)),
        id_list=True,
    )
    return {row.id: row for (row,) in rows}
