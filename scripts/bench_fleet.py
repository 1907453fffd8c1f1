"""Time the scheduled jobs of a fleet end to end, through the database: the daily training pass
and the 15-minute forecast refresh.

    python scripts/bench_fleet.py [--services 100] [--days 14] [--database-url URL]

Seeds ``--services`` services with ``--days`` of synthetic 5-minute traffic ending now (default
profile: 48 h horizon), then runs the daily training pass (``train_all``: one global LightGBM
across the fleet, every candidate backtested, champions stored, forecasts and plans written)
and one refresh pass (``forecast_all``: each service's champion re-forecasts its newer history,
a forecast and a plan stored). Prints seconds per pass and per service, and the share of the
refresh period one refresh pass takes. Exits non-zero when a service failed or the refresh pass
took longer than its period (the next one would start late).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forecaster.ingestion.batch import SeriesPoints, ingest_batch
from forecaster.jobs.tasks import forecast_all, train_all
from forecaster.profiles import ScalingProfile
from forecaster.settings import Settings
from forecaster.storage.db import Database, open_database
from forecaster.storage.jobs import list_job_runs
from forecaster.storage.services import upsert_service
from tests.helpers import ending_now, synthetic_traffic

REFRESH_PERIOD_SECONDS = 15 * 60


def seed(database: Database, settings: Settings, services: int, days: float) -> list[str]:
    """Services with ``days`` of 5-minute traffic ending now, each on its own seed."""
    names = [f"svc{number:04d}" for number in range(services)]
    for number, name in enumerate(names):
        history = ending_now(synthetic_traffic(days=days, step_seconds=300, seed=number))
        points = SeriesPoints(
            service=name,
            metric="requests_per_second",
            timestamps=history.index.as_unit("s").asi8.tolist(),
            values=history.to_numpy().tolist(),
        )
        with database.session() as session:
            upsert_service(
                session=session, name=name, profile=ScalingProfile(capacity_per_replica=20)
            )
            ingest_batch(session=session, settings=settings, batch=[points])
    return names


def failed_runs(database: Database, job: str) -> int:
    with database.session() as session:
        return sum(run.status == "failed" for run in list_job_runs(session=session, job=job))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--days", type=float, default=14, help="days of 5-minute history")
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        url = args.database_url or f"sqlite:///{scratch}/fleet.db"
        settings = Settings(database_url=url)
        with open_database(url) as database:
            started = time.perf_counter()
            seed(database, settings, args.services, args.days)
            seeded = time.perf_counter() - started
            started = time.perf_counter()
            train_all(database, settings)
            trained = time.perf_counter() - started
            started = time.perf_counter()
            forecast_all(database, settings)
            refreshed = time.perf_counter() - started
            failures = failed_runs(database, "train") + failed_runs(database, "forecast")
    per = args.services
    print(f"{args.services} services x {args.days:g} days at 5 min on {url.split(':')[0]}")
    print(f"seed     {seeded:8.1f} s")
    print(f"train    {trained:8.1f} s  {trained / per:6.3f} s per service")
    print(
        f"refresh  {refreshed:8.1f} s  {refreshed / per:6.3f} s per service, "
        f"{refreshed / REFRESH_PERIOD_SECONDS:.0%} of the 15-minute period"
    )
    if failures:
        print(f"FAILED: {failures} job runs failed")
    if refreshed > REFRESH_PERIOD_SECONDS:
        print("MISS: one refresh pass takes longer than its period")
    return 1 if failures or refreshed > REFRESH_PERIOD_SECONDS else 0


if __name__ == "__main__":
    sys.exit(main())
