"""Read-optimised, cached views of stored plans: a plan query is one indexed lookup and a slice.

Plans never change once stored (a new forecast makes a new plan), so each plan's steps are read
once, kept in a small LRU cache as JSON-ready rows, and sliced by time with a binary search.
Which plan is in force is re-checked every second off the request path. Called by
``GET /v1/services/{name}/plan``, the hottest route, which almost never waits for a database.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import ScalarSelect, func, select
from sqlalchemy.orm import Session, aliased

from forecaster.errors import NotFoundError, NotReadyError, quoted
from forecaster.storage.db import Database
from forecaster.storage.orm import Forecast, ModelRun, Plan, PlanStep, Service
from forecaster.timeutil import as_utc

CACHE_SIZE = 512


@dataclass(frozen=True)
class PlanView:
    """A stored plan with its steps, ready to slice and serialise."""

    plan_id: int
    generated_at: datetime
    data_until: datetime | None  # where the history under its forecast ends (its origin)
    forecast_id: int | None
    run_id: int | None
    model: str | None
    quantile: float
    step_seconds: int
    total_cost: float
    ends_at: datetime
    step_starts_ms: np.ndarray
    encoded_rows: tuple[bytes, ...]  # each step already JSON-encoded: a query only joins them
    step_costs: np.ndarray  # what each row costs over its step (cost per hour x step hours)

    def window(self, begin: datetime, end: datetime) -> slice:
        """The rows of the steps in force at some time in [begin, end): the one running at
        ``begin`` onwards."""
        first = np.searchsorted(self.step_starts_ms, _ms(begin) - self.step_seconds * 1000, "right")
        last = np.searchsorted(self.step_starts_ms, _ms(end), "left")
        return slice(int(first), int(last))

    def window_json(self, rows: slice) -> bytes:
        """Those rows as a JSON array."""
        return b"[" + b",".join(self.encoded_rows[rows]) + b"]"

    def window_cost(self, rows: slice) -> float:
        """What those rows' steps cost: beside a window of the plan, its total is the window's,
        not the whole stored plan's (48 h, steps already past included)."""
        return float(self.step_costs[rows].sum())


# Which plan is in force is re-checked once a second, in the background: queries meanwhile get
# the plan last seen. Past the stale limit (database trouble) a query waits for the read itself.
LATEST_TTL_SECONDS = 1.0
STALE_LIMIT_SECONDS = 10.0

# A plan is known by its id and when it was made: SQLite hands a deleted service's highest ids
# to the next rows, so a plan made after a delete can carry the id of a plan cached before it.
PlanKey = tuple[int, datetime]

_cache: OrderedDict[tuple[str, PlanKey], PlanView] = OrderedDict()
# per service: when last checked, its plan in force, and whether the service is enabled
_latest: dict[tuple[str, str], tuple[float, PlanKey, bool]] = {}
_loading: dict[tuple[str, PlanKey], threading.Lock] = {}  # plans being read, one reader each
_lock = threading.Lock()


def _database_key(session: Session) -> str:
    """Plan ids are per database: tests (and tools) may use several in one process."""
    return str(session.get_bind().engine.url)


def cached_plan_view(database_key: str, plan: PlanKey) -> PlanView | None:
    """A plan's view if it is cached, else None (then :func:`plan_view` reads it)."""
    with _lock:
        view = _cache.get((database_key, plan))
        if view is not None:
            _cache.move_to_end((database_key, plan))
        return view


def peek_current_plan_view(database: Database, service: str) -> tuple[PlanView | None, bool]:
    """The plan in force from the caches alone (no I/O: safe on an event loop) and whether it
    is due a re-check. None when unknown, or when the last check is too old to trust."""
    key = str(database.engine.url)
    hit = _latest.get((key, service))
    if hit is None:
        return None, True
    age = time.monotonic() - hit[0]
    if age >= STALE_LIMIT_SECONDS:
        return None, True
    return cached_plan_view(key, hit[1]), age >= LATEST_TTL_SECONDS


def service_disabled(database: Database, service: str) -> bool:
    """Whether the service was disabled when its plan in force was last looked up (no I/O:
    call it once the plan view is in hand, which that lookup put in the caches)."""
    hit = _latest.get((str(database.engine.url), service))
    return hit is not None and not hit[2]


def forget_current_plan(database: Database, service: str) -> None:
    """After this process committed a new plan (a changed profile, an on-demand training), its
    next query reads which plan is in force instead of serving the one last seen: whoever
    changed it reads it back at once. Other server processes serve their cached plan for one
    more query after the next re-check is due (a query 1-10 s after the last check starts it
    and is answered from memory; later than that, a query waits for the read), so a client
    polling every few seconds reads a new plan one poll late."""
    _latest.pop((str(database.engine.url), service), None)


def refresh_current_plans(database: Database) -> None:
    """Re-check, in one query, which plan is in force for every service queried here before,
    and read the new ones: the next query for each finds its plan in memory. A service gone
    (or left with no plan) is forgotten, so its next query reads and reports why."""
    with database.session() as session:
        key = _database_key(session)
        known = {service for database_key, service in _latest if database_key == key}
        if not known:
            return
        now = time.monotonic()
        newest: dict[str, tuple[PlanKey, bool]] = {
            name: ((plan_id, generated_at), enabled)
            for name, plan_id, generated_at, enabled in session.execute(
                select(Service.name, Plan.id, Plan.generated_at, Service.enabled)
                .select_from(Service)
                .join(Plan, Plan.id == newest_plan_id())
            )
        }
        for service in known:
            if service in newest:
                plan, enabled = newest[service]
                _latest[(key, service)] = (now, plan, enabled)
                plan_view(session=session, plan=plan)
            else:
                _latest.pop((key, service), None)


def current_plan_view(database: Database, service: str) -> PlanView:
    """The plan in force: one short read (then cached). NotFound/NotReady name the problem."""
    with database.session() as session:
        return plan_view(session=session, plan=plan_in_force(session=session, service=service))


def newest_plan_id() -> ScalarSelect[int]:
    """The id of the newest plan of the service in the enclosing query: one probe of the
    (service, id) index. Grouped over every plan ever kept (180,000 at 500 services after a
    week of refreshes), the same answer took a scan of them all, once a second in every server
    process and at every plans scrape (QA)."""
    its = aliased(Plan)
    return (
        select(func.max(its.id)).where(its.service_id == Service.id).correlate(Service)
    ).scalar_subquery()


def plan_in_force(*, session: Session, service: str) -> PlanKey:
    """The plan in force for a service: NotFoundError for no service, NotReady for no plan."""
    row = session.execute(
        select(Service.id, Plan.id, Plan.generated_at, Service.enabled)
        .outerjoin(Plan, Plan.id == newest_plan_id())
        .where(Service.name == service)
    ).first()
    if row is None:
        raise NotFoundError(f"service {quoted(service)} does not exist")
    if row[1] is None:
        raise NotReadyError(f"service {quoted(service)} has no plan yet; train it first")
    plan = (int(row[1]), as_utc(row[2]))
    _latest[(_database_key(session), service)] = (time.monotonic(), plan, bool(row[3]))
    return plan


def plan_view(*, session: Session, plan: PlanKey) -> PlanView:
    """The cached view of a plan, read from the database on first use.

    When a new plan lands, every query for that service misses the cache at once: one thread
    reads the plan and the others wait for it rather than all reading it side by side.
    """
    key = _database_key(session)
    plan = (plan[0], as_utc(plan[1]))
    view = cached_plan_view(key, plan)
    if view is not None:
        return view
    with _lock:
        loading = _loading.setdefault((key, plan), threading.Lock())
    with loading:
        view = cached_plan_view(key, plan)
        if view is None:
            view = _load(session, plan[0])
            with _lock:
                _cache[(key, plan)] = view
                while len(_cache) > CACHE_SIZE:
                    _cache.popitem(last=False)
                _loading.pop((key, plan), None)
    return view


def _load(session: Session, plan_id: int) -> PlanView:
    """One read: the plan, its model's name (not the model) and its pre-encoded steps."""
    plan = session.execute(
        select(
            Plan.id,
            Plan.generated_at,
            Plan.forecast_id,
            Forecast.origin,
            Forecast.run_id,
            ModelRun.model,
            Plan.quantile,
            Plan.step_seconds,
            Plan.total_cost,
            Plan.steps_json,
            Plan.step_starts_ms,
        )
        .outerjoin(Forecast, Forecast.id == Plan.forecast_id)
        .outerjoin(ModelRun, ModelRun.id == Forecast.run_id)
        .where(Plan.id == plan_id)
    ).one()
    if plan.steps_json is not None and plan.step_starts_ms is not None:
        rows = tuple(plan.steps_json.split(b"\n")) if plan.steps_json else ()
        starts = np.frombuffer(plan.step_starts_ms, dtype="<i8")
    else:  # written before plans carried their encoded steps (migration 0003)
        rows, starts = encode_steps(
            session.execute(STEP_COLUMNS.where(PlanStep.plan_id == plan_id))
        )
    costs = [step["cost_per_hour"] for step in json.loads(b"[" + b",".join(rows) + b"]")]
    last_start = (
        datetime.fromtimestamp(int(starts[-1]) / 1000, tz=UTC) if len(starts) else plan.generated_at
    )
    return PlanView(
        plan_id=plan.id,
        generated_at=plan.generated_at,
        data_until=as_utc(plan.origin) if plan.origin is not None else None,
        forecast_id=plan.forecast_id,
        run_id=plan.run_id,
        model=plan.model,
        quantile=plan.quantile,
        step_seconds=plan.step_seconds,
        total_cost=plan.total_cost,
        ends_at=last_start + timedelta(seconds=plan.step_seconds),
        step_starts_ms=starts,
        encoded_rows=rows,
        step_costs=np.array(costs, dtype="float64") * plan.step_seconds / 3600,
    )


STEP_COLUMNS = select(
    PlanStep.ts,
    PlanStep.replicas,
    PlanStep.gpus,
    PlanStep.load,
    PlanStep.tier,
    PlanStep.cost_per_hour,
    PlanStep.reason,
).order_by(PlanStep.ts)


def encode_steps(
    steps: Iterable[tuple[datetime, int, int, float, str | None, float, str]],
) -> tuple[tuple[bytes, ...], np.ndarray]:
    """Plan steps (in time order) as the plan route serves them: one JSON object each, and
    their start times in epoch ms. Done once per plan, when it is written."""
    encode = json.JSONEncoder(separators=(",", ":")).encode
    rows: list[bytes] = []
    starts: list[int] = []
    for ts, replicas, gpus, load, tier, cost_per_hour, reason in steps:
        rows.append(
            encode(
                {
                    "ts": as_utc(ts).isoformat(),
                    "replicas": replicas,
                    "gpus": gpus,
                    "load": load,
                    "tier": tier,
                    "cost_per_hour": cost_per_hour,
                    "reason": reason,
                }
            ).encode()
        )
        starts.append(_ms(ts))
    return tuple(rows), np.array(starts, dtype="<i8")


def _ms(moment: datetime) -> int:
    return int(as_utc(moment).timestamp() * 1000)
