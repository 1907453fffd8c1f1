"""Time the dashboard's overview (``GET /v1/dashboard/overview``) on a varied fleet, and dump its
JSON for a fixed ``now`` so two versions of the code can be compared byte for byte.

    python scripts/bench_overview.py [--services 1100] [--database-url URL] [--dump FILE]
        [--repeats 5] [--profile]

Seeds a fresh database (default: a temporary SQLite file) straight into the tables: services
with one or three label sets (and their derived sum), samples finer than the step and at odd
seconds, gaps, silent and disabled services, forecasts covering now, run out or carrying a risk
quantile, load that left the band, plans in force, run out or too old, failed and dry-run
actuations, retired targets, failed jobs and an unreadable profile. Prints the median
milliseconds and the queries of building the overview's JSON (as the route does, in process);
``--profile`` adds the slowest queries and the top of a cProfile. Exits non-zero when the
overview fails.

Comparing dumps on PostgreSQL: a parallel plan sums a bucket's ``avg`` in any order, so at
1,100 services the same code's sparklines differ run to run in their last digits; run both
with ``PGOPTIONS="-c max_parallel_workers_per_gather=0"``. ``--seeded`` reuses a database.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import event, insert, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.schemas import OverviewPublic, ServiceSummaryPublic
from forecaster.labels import AGGREGATE_LABELS_KEY
from forecaster.profiles import ScalingProfile
from forecaster.review.overview import summarize_services
from forecaster.review.plan_now import DEFAULT_MAX_PLAN_AGE
from forecaster.storage.db import Database
from forecaster.storage.orm import (
    Actuation,
    Forecast,
    ForecastPoint,
    JobRun,
    ModelRun,
    Plan,
    PlanStep,
    Sample,
    Series,
    Service,
)
from forecaster.training.selection import FAILED_IN_BACKTEST

NOW = datetime(2026, 3, 2, 12, 2, 17, tzinfo=UTC)  # not on a step: points move to their marks
KINDS = 12  # the variants a service takes by turns (:func:`_service_rows`)


def _profile(kind: int, name: str) -> dict[str, Any]:
    step = {8: 3600, 11: 60}.get(kind, 300)
    targets = [
        {"kind": "kubernetes-hpa", "name": own, "config": {"namespace": "ml", "name": own}}
        for own in [f"{name}-{n}" for n in range(2 if kind == 9 else 1)]
    ]
    profile = ScalingProfile(
        capacity_per_replica=10,
        step_seconds=step,
        forecast_only=kind not in (4, 9),
        targets=targets if kind in (4, 9) else [],
        risk_quantile=0.975 if kind == 5 else 0.9,
    ).model_dump(mode="json")
    if kind == 10:
        profile["capacity_per_replica"] = -1  # no longer validates
    return profile


class Fleet:
    """The rows of the seeded fleet, by table, with the ids handed out so far."""

    def __init__(self) -> None:
        self.rows: dict[type[Any], list[dict[str, Any]]] = {}
        self.ids: dict[type[Any], int] = {}

    def add(self, table: type[Any], **row: Any) -> int:
        self.ids[table] = self.ids.get(table, 0) + 1
        self.rows.setdefault(table, []).append({"id": self.ids[table], **row})
        return self.ids[table]

    def extend(self, table: type[Any], rows: list[dict[str, Any]]) -> None:
        self.rows.setdefault(table, []).extend(rows)


def _samples(series_id: int, rng: np.random.Generator, kind: int, lag: int) -> list[dict[str, Any]]:
    """Ten hours of load up to (about) now, at the variant's spacing, ``lag`` seconds short."""
    spacing = {8: 3600, 11: 60}.get(kind, 60)
    end = NOW - timedelta(seconds=lag + (5 * 3600 if kind == 3 else 0))
    count = 10 * 3600 // spacing
    stamps = [end - timedelta(seconds=spacing * k + 7) for k in range(count)]
    if kind == 11:  # an outage of 40 minutes an hour ago
        outage = (NOW - timedelta(minutes=100), NOW - timedelta(hours=1))
        stamps = [ts for ts in stamps if not outage[0] < ts < outage[1]]
    level = 50.0 if kind == 5 else 8.0
    values = rng.gamma(4.0, level / 4.0, len(stamps))
    return [
        {"series_id": series_id, "ts_ms": int(ts.timestamp() * 1000), "value": float(value)}
        for ts, value in zip(stamps, values, strict=True)
    ]


def _forecast(
    fleet: Fleet, series_id: int, rng: np.random.Generator, kind: int, origin: datetime, step: int
) -> int:
    """A champion's forecast of 12 h from ``origin`` (ended 2 h ago for a silent service)."""
    status, message = ("ok", None)
    if kind == 7:
        status, message = ("fallback", "every model failed; seasonal naive stands in")
    if kind == 1:
        message = f"prophet {FAILED_IN_BACKTEST}: ValueError"
    run = fleet.add(
        ModelRun,
        series_id=series_id,
        model="seasonal_naive",
        step_seconds=step,
        status=status,
        message=message,
        is_champion=True,
        scores={"mase": float(rng.uniform(0.2, 1.5)), "coverage_95": 0.93},
        fit_seconds=0.5,
        created_at=origin - timedelta(minutes=3),
    )
    fresh = kind in (0, 6, 9)  # refreshed 10 minutes ago; the others not since their origin
    made = NOW - timedelta(minutes=10) if fresh else origin - timedelta(minutes=2)
    forecast = fleet.add(
        Forecast,
        run_id=run,
        series_id=series_id,
        origin=origin,
        step_seconds=step,
        created_at=made,
        risk_quantile=0.975 if kind == 5 else None,
    )
    steps = 12 * 3600 // step
    p50 = rng.gamma(4.0, 2.0, steps)
    fleet.extend(
        ForecastPoint,
        [
            {
                "forecast_id": forecast,
                "ts": origin + timedelta(seconds=step * k),
                "p50": float(mid),
                "p90": float(mid * 1.2),
                "p95": float(mid * 1.3),
                "p99": float(mid * 1.5),
                "risk": float(mid * 1.4) if kind == 5 else None,
            }
            for k, mid in enumerate(p50)
        ],
    )
    return forecast


def _plan(fleet: Fleet, service_id: int, forecast_id: int, kind: int, step: int) -> None:
    """A plan of 8 h: in force now, run out an hour ago (silent service) or made days ago."""
    start = NOW - timedelta(hours=2)
    generated = NOW - timedelta(minutes=20)
    if kind == 3:
        start, generated = NOW - timedelta(hours=9), NOW - timedelta(hours=9)
    if kind == 6:
        generated = NOW - timedelta(days=3)
    start = start.replace(second=0, minute=0)
    plan = fleet.add(
        Plan,
        service_id=service_id,
        forecast_id=forecast_id,
        generated_at=generated,
        step_seconds=step,
        quantile=0.9,
    )
    fleet.extend(
        PlanStep,
        [
            {
                "plan_id": plan,
                "ts": start + timedelta(seconds=step * k),
                "replicas": 1 + (k * 7 + service_id) % 9,
                "gpus": (k + service_id) % 3,
                "load": 8.0,
                "tier": "spot" if k % 5 == 0 else None,
            }
            for k in range(8 * 3600 // step)
        ],
    )


def _actuations(fleet: Fleet, service_id: int, name: str, kind: int, passes: int) -> None:
    """``passes`` passes over the service's targets, a dry run every third, some failing."""
    targets = [f"{name}-{n}" for n in range(2 if kind == 9 else 1)] + (
        [f"{name}-old"] if kind == 9 else []
    )
    for turn in range(passes):
        for target in targets:
            failed = (turn + service_id) % 4 == 0
            fleet.add(
                Actuation,
                service_id=service_id,
                target=target,
                kind="kubernetes-hpa",
                dry_run=turn % 3 == 2,
                before={"minReplicas": turn},
                after={"minReplicas": turn + 1},
                outcome="failed" if failed else "applied",
                error="refused" if failed else None,
                created_at=NOW - timedelta(minutes=5 * (passes - turn)),
            )


def seed(database: Database, services: int, actuations: int = 4) -> None:
    """``services`` services taking the ``KINDS`` variants by turns (``actuations``: passes
    of those with targets)."""
    fleet = Fleet()
    for number in range(services):
        kind, name = number % KINDS, f"svc-{number:05d}"
        rng = np.random.default_rng(number)
        profile = _profile(kind, name)
        step = int(profile["step_seconds"])
        service = fleet.add(
            Service,
            name=name,
            profile=profile,
            enabled=kind != 4,
            retired_targets=[{"kind": "kubernetes-hpa", "name": f"{name}-old"}] * (kind == 9),
            created_at=NOW - timedelta(days=30),
            updated_at=NOW - timedelta(days=30),
        )
        metric = profile.get("metric", "requests_per_second")
        if kind == 2:
            continue  # fresh: nothing stored yet
        label_sets = 3 if kind == 1 else 1
        for pod in range(label_sets):
            series = fleet.add(
                Series,
                service_id=service,
                metric=metric,
                labels={"pod": str(pod)} if label_sets > 1 else {},
                labels_key=f"pod={pod}" if label_sets > 1 else "",
                unit="req/s",
            )
            fleet.extend(Sample, _samples(series, rng, kind, lag=120 * pod))
        reading = series
        if label_sets > 1:
            reading = fleet.add(
                Series,
                service_id=service,
                metric=metric,
                labels={},
                labels_key=AGGREGATE_LABELS_KEY,
                unit="req/s",
            )
        origin = (NOW - timedelta(hours=14 if kind == 3 else 2)).replace(minute=0, second=0)
        if number % 5 == 0 and kind != 3:  # an older forecast under the newest
            _forecast(fleet, reading, rng, kind, origin - timedelta(hours=3), step)
        forecast = _forecast(fleet, reading, rng, kind, origin, step)
        _plan(fleet, service, forecast, kind, step)
        if kind in (4, 9):
            _actuations(fleet, service, name, kind, actuations)
        if kind == 7:
            fleet.add(
                JobRun,
                job="train",
                service=name,
                started_at=NOW - timedelta(hours=3),
                finished_at=NOW - timedelta(hours=3) + timedelta(seconds=40),
                status="failed",
                message="MemoryError",
            )
    with database.session() as session:
        for table, rows in fleet.rows.items():
            for start in range(0, len(rows), 20_000):
                session.execute(insert(table), rows[start : start + 20_000])
    with database.engine.begin() as connection:  # as autovacuum would: fresh plans need stats
        connection.execute(text("ANALYZE"))


def overview_json(database: Database, max_plan_age_seconds: float = DEFAULT_MAX_PLAN_AGE) -> str:
    """The overview's JSON at ``NOW``, as the route answers it."""
    with database.session() as session:
        summaries = summarize_services(
            session=session, now=NOW, max_plan_age_seconds=max_plan_age_seconds
        )
        data = [ServiceSummaryPublic.model_validate(summary) for summary in summaries]
    return OverviewPublic(generated_at=NOW, data=data, count=len(data)).model_dump_json()


def count_queries(database: Database, slowest: int = 0) -> int:
    """How many statements one overview runs; prints the ``slowest`` of them."""
    started: list[float] = []
    spent: list[tuple[float, str]] = []

    def start(*args: object) -> None:
        started.append(time.perf_counter())

    def end(*args: object) -> None:
        spent.append(((time.perf_counter() - started[-1]) * 1000, str(args[2])))

    event.listen(database.engine, "before_cursor_execute", start)
    event.listen(database.engine, "after_cursor_execute", end)
    try:
        overview_json(database)
    finally:
        event.remove(database.engine, "before_cursor_execute", start)
        event.remove(database.engine, "after_cursor_execute", end)
    for ms, statement in sorted(spent, reverse=True)[:slowest]:
        print(f"{ms:8.0f} ms  {' '.join(statement.split())[:300]}")
    return len(spent)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--services", type=int, default=1_100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dump", type=Path, help="write the overview's JSON here")
    parser.add_argument("--profile", action="store_true", help="print the top of a cProfile")
    parser.add_argument("--seeded", action="store_true", help="the database is seeded already")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'bench.db'}"
        database = Database(url)
        database.migrate()
        started = time.perf_counter()
        if not args.seeded:
            seed(database, args.services)
        print(
            f"seeded {args.services:,} services in {time.perf_counter() - started:.1f} s "
            f"on {database.engine.dialect.name}"
        )
        try:
            text = overview_json(database)  # warm-up
        except Exception as error:  # noqa: BLE001 - reported, and the exit code says it
            print(f"the overview failed: {error!r}")
            return 1
        if args.dump:
            args.dump.write_text(text)
            print(f"wrote {len(text):,} bytes to {args.dump}")
        timings = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            overview_json(database)
            timings.append((time.perf_counter() - started) * 1000)
        print(
            f"overview: median {statistics.median(timings):.0f} ms of {args.repeats} "
            f"(min {min(timings):.0f}), {count_queries(database)} queries"
        )
        if args.profile:
            count_queries(database, slowest=8)
            profiler = cProfile.Profile()
            profiler.runcall(overview_json, database)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats("forecaster|api", 40)
        database.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
