"""Time the dashboard on a month of 1-minute data: JSON endpoints, pages, and (optionally) the
time until Chromium has drawn each page.

    python scripts/bench_dashboard.py [--database-url URL] [--services 3] [--browser]

Seeds a fresh database (default: a temporary SQLite file) with 30 days of 1-minute load per
service, trains each, serves the API on loopback and prints the median of several requests per
endpoint. Exits non-zero when a request fails or a median exceeds --budget-ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.app import create_app
from forecaster.ingestion.batch import SeriesPoints, ingest_batch
from forecaster.profiles import ScalingProfile
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.services import upsert_service
from forecaster.timeutil import utc_now
from forecaster.training.train import train_service
from tests.helpers import live_server, synthetic_traffic

DAYS = 30
PROFILE = ScalingProfile(capacity_per_replica=20, horizon_hours=48, gpus_per_replica=1)
CHROMIUM = "/usr/bin/chromium"


def seed(database: Database, settings: Settings, services: int) -> float:
    """Store DAYS of 1-minute load per service and train each; returns the seconds it took."""
    started = time.perf_counter()
    now = pd.Timestamp(utc_now()).floor("1min")
    for number in range(services):
        name = f"svc-{number}"
        trace = synthetic_traffic(days=DAYS, step_seconds=60, seed=number)
        trace.index = trace.index + (now - trace.index[-1])
        with database.session() as session:
            upsert_service(session=session, name=name, profile=PROFILE)
            ingest_batch(
                session=session,
                batch=[
                    SeriesPoints(
                        service=name,
                        metric="requests_per_second",
                        timestamps=(trace.index.as_unit("s").asi8).tolist(),
                        values=trace.tolist(),
                    )
                ],
                settings=settings,
            )
        train_service(database, name, settings)
    return time.perf_counter() - started


def time_get(client: httpx.Client, path: str, repeats: int) -> tuple[float, int]:
    """Median milliseconds of ``repeats`` GETs (after one warm-up) and the response size."""
    response = client.get(path)
    if response.status_code != 200:
        raise RuntimeError(f"GET {path}: {response.status_code} {response.text[:200]}")
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return statistics.median(timings), len(response.content)


def time_pages(base: str, paths: list[str]) -> dict[str, float]:
    """Milliseconds from navigation until each page says it has drawn its data."""
    from playwright.sync_api import sync_playwright

    results = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for path in paths:
            page.goto(f"{base}{path}")  # warm the cache (plotly.min.js)
            page.wait_for_selector("body[data-ready='1']", timeout=30_000)
            started = time.perf_counter()
            page.reload()
            page.wait_for_selector("body[data-ready='1']", timeout=30_000)
            results[path] = (time.perf_counter() - started) * 1000
        browser.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--services", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--budget-ms", type=float, default=1000.0)
    parser.add_argument("--browser", action="store_true", help="also time pages in Chromium")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'bench.db'}"
        settings = Settings(database_url=url, auth_enabled=False)
        database = Database(url)
        database.migrate()
        seconds = seed(database, settings, args.services)
        print(
            f"seeded {args.services} services x {DAYS} days of 1-minute load "
            f"({args.services * DAYS * 1440:,} points) and trained them in {seconds:.1f} s "
            f"on {database.engine.dialect.name}"
        )
        now = pd.Timestamp(utc_now())
        month = {"start": (now - pd.Timedelta(days=DAYS)).isoformat(), "end": now.isoformat()}
        two_hours = {"start": (now - pd.Timedelta(hours=2)).isoformat(), "end": now.isoformat()}
        paths = [
            "/",
            "/dashboard/services/svc-0",
            "/v1/dashboard/overview",
            "/v1/dashboard/services/svc-0",
            "/v1/services/svc-0/history",
            f"/v1/services/svc-0/history?{httpx.QueryParams(month)}",
            f"/v1/services/svc-0/history?{httpx.QueryParams(two_hours)}",
            "/v1/services/svc-0/forecast",
            "/v1/services/svc-0/forecasts",
            "/v1/forecasts/1",
        ]
        failed = False
        with (
            live_server(create_app(settings, database)) as base,
            httpx.Client(base_url=base, timeout=60) as client,
        ):
            print(f"\n{'median ms':>10} {'bytes':>9}  GET")
            for path in paths:
                median, size = time_get(client, path, args.repeats)
                over = median > args.budget_ms
                failed |= over
                flag = "  OVER BUDGET" if over else ""
                print(f"{median:10.1f} {size:9,d}  {path}{flag}")
            if args.browser:
                print(f"\n{'ms':>10}  until Chromium has drawn the page (reload, warm cache)")
                for path, ms in time_pages(base, paths[:2]).items():
                    print(f"{ms:10.0f}  {path}")
        database.dispose()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
