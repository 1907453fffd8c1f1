"""Measure what months of operation leave in the database and what the daily retention job costs.

    python scripts/bench_retention.py [--database-url URL] [--services 20] [--days 10]

Fills a fresh database (default: a temporary SQLite file; a PostgreSQL URL works too, its
tables must not exist yet) as the scheduler would have: 1-minute load per service over
``--sample-days``, a forecast and a plan of ``--horizon-hours`` at 5-minute steps every
15 minutes and a daily training (eight candidate runs, the champion with a fitted model of
``--artifact-kb``) over ``--days``, a pull and a forecast job run per service each minute and
each refresh. Then runs the retention job (roll-up and housekeeping) and prints each table's
rows and size before and after, and the seconds each part took. Exits non-zero when the plan
in force, the newest forecast or a champion went missing, or the job took over --budget-s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import (
    JSON,
    Column,
    MetaData,
    Table,
    func,
    insert,
    literal,
    select,
    text,
    true,
    update,
)

from forecaster.ingestion.retention import apply_retention
from forecaster.jobs.housekeeping import prune_records
from forecaster.profiles import ScalingProfile
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.orm import (
    Forecast,
    ForecastPoint,
    JobRun,
    ModelRun,
    Plan,
    PlanStep,
    Sample,
    UTCDateTime,
)
from forecaster.storage.samples import ensure_series
from forecaster.storage.services import upsert_service
from forecaster.timeutil import utc_now

TABLES = (
    "samples",
    "forecasts",
    "forecast_points",
    "plans",
    "plan_steps",
    "model_runs",
    "job_runs",
)
STEP = 300
REFRESH = timedelta(minutes=15)
CHUNK = 50_000


def chunked_insert(database: Database, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        with database.session() as session:
            session.execute(insert(table), rows[start : start + CHUNK])


def fill(database: Database, args: argparse.Namespace) -> None:
    """Bulk-insert the volume; points and steps are copied from a template in SQL (every
    forecast covers the same instants: sizes and deletes are what this measures)."""
    now = utc_now().replace(second=0, microsecond=0)
    profile = ScalingProfile(capacity_per_replica=20, horizon_hours=args.horizon_hours)
    steps = int(args.horizon_hours * 3600 // STEP)
    artifact = b"\x00" * (args.artifact_kb * 1024)
    now_ms = int(now.timestamp()) * 1000
    metadata = MetaData()
    template = Table("bench_steps", metadata, Column("ts", UTCDateTime))
    minutes = Table("bench_minutes", metadata, Column("at", UTCDateTime))
    metadata.create_all(database.engine)  # scratch tables of this script, dropped below
    chunked_insert(
        database, template, [{"ts": now + timedelta(seconds=STEP * k)} for k in range(steps)]
    )
    chunked_insert(
        database,
        minutes,
        [{"at": now - timedelta(minutes=k)} for k in range(int(args.records_days * 1440))],
    )
    refreshes = int(timedelta(days=args.days) / REFRESH)
    for number in range(args.services):
        name = f"svc-{number}"
        with database.session() as session:
            service, _ = upsert_service(session=session, name=name, profile=profile)
            series_id = next(
                iter(
                    ensure_series(
                        session=session, keys=[(service.id, "requests_per_second", {}, None)]
                    ).values()
                )
            )
        chunked_insert(
            database,
            Sample,
            [
                {"series_id": series_id, "ts_ms": now_ms - k * 60_000, "value": 50.0 + k % 97}
                for k in range(int(args.sample_days * 1440))
            ],
        )
        run_id = 0
        for r in range(refreshes, -1, -1):  # oldest first, so ids grow with time
            made = now - r * REFRESH
            if r == refreshes or (made.hour == 3 and made.minute < 15):  # the daily training
                training = uuid.uuid4().hex
                with database.session() as session:
                    session.execute(
                        update(ModelRun)
                        .where(ModelRun.series_id == series_id)
                        .values(is_champion=False)
                    )
                    for candidate in range(8):
                        run = ModelRun(
                            series_id=series_id,
                            model=f"candidate_{candidate}",
                            step_seconds=STEP,
                            status="ok",
                            params={"training": training},
                            scores={"mase": 0.5 + candidate / 10},
                            is_champion=candidate == 0,
                            artifact=artifact if candidate == 0 else None,
                            created_at=made,
                        )
                        session.add(run)
                        session.flush()
                        if candidate == 0:
                            run_id = run.id
            with database.session() as session:
                forecast = Forecast(
                    run_id=run_id,
                    series_id=series_id,
                    origin=made,
                    step_seconds=STEP,
                    created_at=made,
                )
                session.add(forecast)
                session.flush()
                session.add(
                    Plan(
                        service_id=service.id,
                        forecast_id=forecast.id,
                        step_seconds=STEP,
                        quantile=0.95,
                        generated_at=made,
                        summary={},
                        steps_json=b"{}\n" * steps,
                        step_starts_ms=b"\x00" * 8 * steps,
                    )
                )
        with database.session() as session:
            forecasts = select(Forecast.id).where(Forecast.series_id == series_id).subquery()
            session.execute(
                insert(ForecastPoint).from_select(
                    ["forecast_id", "ts", "p50", "p90", "p95", "p99"],
                    select(
                        forecasts.c.id,
                        template.c.ts,
                        literal(1.0),
                        literal(2.0),
                        literal(3.0),
                        literal(4.0),
                    )
                    .select_from(forecasts)
                    .join(template, true()),
                )
            )
            plans = select(Plan.id).where(Plan.service_id == service.id).subquery()
            session.execute(
                insert(PlanStep).from_select(
                    ["plan_id", "ts", "replicas", "gpus", "load", "cost_per_hour", "reason"],
                    select(
                        plans.c.id,
                        template.c.ts,
                        literal(3),
                        literal(3),
                        literal(40.1),
                        literal(2.4),
                        literal("covers p95 load 40.1/s at 70% utilisation"),
                    )
                    .select_from(plans)
                    .join(template, true()),
                )
            )
            session.execute(
                insert(JobRun).from_select(
                    ["job", "service", "started_at", "finished_at", "status", "details"],
                    select(
                        literal("pull_prometheus"),
                        literal(name),
                        minutes.c.at,
                        minutes.c.at,
                        literal("ok"),
                        literal({}, JSON),
                    ).select_from(minutes),
                )
            )
        print(f"  filled {name}", flush=True)
    metadata.drop_all(database.engine)


def table_figures(database: Database) -> dict[str, tuple[int, float]]:
    """Rows and megabytes per table (SQLite: the whole file's size is under "total")."""
    figures: dict[str, tuple[int, float]] = {}
    with database.engine.connect() as connection:
        for table in TABLES:
            rows = connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            size = 0.0
            if not database.is_sqlite:
                size = (
                    connection.execute(
                        text(f"SELECT pg_total_relation_size('{table}')")
                    ).scalar_one()
                    / 1e6
                )
            figures[table] = (rows, size)
    if database.is_sqlite:
        path = Path(database.url.removeprefix("sqlite:///"))
        total = sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 1e6
        figures["total"] = (0, total)
    return figures


def in_use(database: Database) -> tuple[set[int], set[int], set[int]]:
    """Each service's newest plan, each series' newest forecast, each series' champion."""
    with database.session() as session:
        plans = set(session.execute(select(func.max(Plan.id)).group_by(Plan.service_id)).scalars())
        forecasts = set(
            session.execute(select(func.max(Forecast.id)).group_by(Forecast.series_id)).scalars()
        )
        champions = set(
            session.execute(select(ModelRun.id).where(ModelRun.is_champion.is_(True))).scalars()
        )
    return plans, forecasts, champions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--days", type=float, default=10, help="days of refreshes and trainings")
    parser.add_argument("--sample-days", type=float, default=30, help="days of 1-minute load")
    parser.add_argument("--records-days", type=float, default=35, help="days of pull job runs")
    parser.add_argument("--horizon-hours", type=float, default=48)
    parser.add_argument("--artifact-kb", type=int, default=200)
    parser.add_argument("--budget-s", type=float, default=300)
    parser.add_argument(
        "--without-reference-indexes",
        action="store_true",
        help="drop revision 0007's indexes first, to time the job as it was without them",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{folder}/retention.db"
        database = Database(url)
        database.migrate()
        settings = Settings(database_url=url)
        started = time.perf_counter()
        fill(database, args)
        print(f"filled in {time.perf_counter() - started:.0f} s")
        before = table_figures(database)
        kept = in_use(database)
        if args.without_reference_indexes:
            with database.engine.begin() as connection:
                for index in (
                    "ix_forecasts_run_id",
                    "ix_plans_forecast_id",
                    "ix_actuations_plan_id",
                ):
                    connection.execute(text(f"DROP INDEX {index}"))
        started = time.perf_counter()
        rolled = apply_retention(database, settings)
        roll_up_s = time.perf_counter() - started
        started = time.perf_counter()
        pruned = prune_records(database, settings)
        prune_s = time.perf_counter() - started
        after = table_figures(database)
        print(f"{'table':<16}{'rows before':>14}{'MB':>9}{'rows after':>14}{'MB':>9}")
        for table in before:
            (rows, size), (rows_after, size_after) = before[table], after[table]
            if table == "total":  # SQLite: the file (freed pages are reused, not returned)
                print(f"{'file':<16}{'':>14}{size:>9.1f}{'':>14}{size_after:>9.1f}")
                continue
            sizes = ("", "") if database.is_sqlite else (f"{size:.1f}", f"{size_after:.1f}")
            print(f"{table:<16}{rows:>14,}{sizes[0]:>9}{rows_after:>14,}{sizes[1]:>9}")
        print(
            f"roll-up: {rolled.deleted:,} raw points into {rolled.buckets:,} buckets in "
            f"{roll_up_s:.1f} s; housekeeping: {pruned.forecasts:,} forecasts, "
            f"{pruned.plans:,} plans, {pruned.model_runs:,} model runs, {pruned.job_runs:,} job "
            f"runs in {prune_s:.1f} s"
        )
        plans, forecasts, champions = in_use(database)
        failed = False
        if (plans, forecasts) != kept[:2] or not kept[2] <= champions:
            print("FAILED: a plan in force, a newest forecast or a champion went missing")
            failed = True
        if roll_up_s + prune_s > args.budget_s:
            print(f"FAILED: the retention job took over {args.budget_s:g} s")
            failed = True
        database.dispose()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
