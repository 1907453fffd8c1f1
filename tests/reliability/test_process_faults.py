"""Process faults: a training job killed midway, and SIGTERM while a request is in flight.

Both run the real ``forecaster`` command in a child process on a SQLite file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select

from forecaster.profiles import ScalingProfile
from forecaster.settings import Settings
from forecaster.storage.db import open_database
from forecaster.storage.orm import Forecast, JobRun, ModelRun, Plan
from forecaster.training.train import train_service
from tests.helpers import (
    ending_now,
    free_port,
    store_service,
    synthetic_traffic,
    wait_until_ready,
)

FORECASTER = [sys.executable, "-c", "from forecaster.cli import main; main()"]

# The real command, with Holt-Winters' fit made slow and announced: the test kills the child
# while a fit is surely in progress instead of guessing how long imports and the fit take.
SLOW_FIT = """
import sys, time
from pathlib import Path
from models.holt_winters import HoltWinters
fitting = Path(sys.argv.pop(1))
real_fit = HoltWinters.fit
def slow_fit(self, *args, **kwargs):
    fitting.touch()
    time.sleep(60)
    return real_fit(self, *args, **kwargs)
HoltWinters.fit = slow_fit
from forecaster.cli import main
main()
"""


def seeded_database(path: Path, days: float) -> Settings:
    """A SQLite file with one service, ``days`` of 5-minute history, a champion and a plan."""
    settings = Settings(database_url=f"sqlite:///{path}", auth_enabled=False)
    history = ending_now(synthetic_traffic(days=days, step_seconds=300))
    with open_database(settings.database_url) as database:
        profile = ScalingProfile(capacity_per_replica=10)
        store_service(database, settings, "chat", history, profile)
        train_service(database, "chat", settings, model="seasonal_naive_daily")
    return settings


def counts(settings: Settings) -> tuple[int, int, int, int]:
    with open_database(settings.database_url) as database, database.session() as session:
        champion = session.execute(select(ModelRun.id).where(ModelRun.is_champion)).scalar_one()
        return (
            champion,
            session.execute(select(func.count()).select_from(ModelRun)).scalar_one(),
            session.execute(select(func.count()).select_from(Forecast)).scalar_one(),
            session.execute(select(func.max(Plan.id))).scalar_one(),
        )


def train_job_started(settings: Settings) -> bool:
    """Whether a ``train`` job run has been recorded (it is, as running, before training)."""
    with open_database(settings.database_url) as database, database.session() as session:
        found = select(JobRun.id).where(JobRun.job == "train").limit(1)
        return session.execute(found).first() is not None


def test_training_killed_midway_leaves_the_previous_champion_and_plan(tmp_path: Path) -> None:
    settings = seeded_database(tmp_path / "f.db", days=30)
    before = counts(settings)
    env = {**os.environ, "FORECASTER_DATABASE_URL": settings.database_url}
    fitting = tmp_path / "fitting"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SLOW_FIT,
            str(fitting),
            "train",
            "--service",
            "chat",
            "--model",
            "holt_winters",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not fitting.exists():
        assert child.poll() is None, "training ended before its fit began"
        assert time.monotonic() < deadline, "the fit never began"
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert counts(settings) == before
    # and the database is still healthy: a new training succeeds and takes over
    with open_database(settings.database_url) as database:
        result = train_service(database, "chat", settings, model="seasonal_naive_daily")
    assert counts(settings)[0] == result.run_id != before[0]


def test_sigterm_finishes_in_flight_requests_then_exits(tmp_path: Path) -> None:
    # ten days train in a second or two; the fit runs at idle CPU priority, so on a busy host a
    # longer one can outlast uvicorn's 30 s shutdown grace (then the request fails, by design)
    settings = seeded_database(tmp_path / "f.db", days=10)
    port = free_port()
    env = {
        **os.environ,
        "FORECASTER_DATABASE_URL": settings.database_url,
        "FORECASTER_AUTH_ENABLED": "false",
    }
    server = subprocess.Popen(
        [*FORECASTER, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base)
        result: dict[str, int] = {}

        def slow_request() -> None:
            response = httpx.post(f"{base}/v1/services/chat/train", timeout=120)
            result["status"] = response.status_code

        thread = threading.Thread(target=slow_request)
        thread.start()
        # signal once the training is under way (a fixed sleep lost the race on a busy host:
        # the request had not reached the server, which then refused it as it shut down)
        deadline = time.monotonic() + 60
        while not train_job_started(settings):
            assert time.monotonic() < deadline, "the training request never began"
            time.sleep(0.05)
        server.send_signal(signal.SIGTERM)
        thread.join(timeout=120)
        assert result.get("status") == 200, "the in-flight request was dropped"
        # uvicorn re-raises the captured SIGTERM once shutdown is complete (exit status 143)
        assert server.wait(timeout=60) in (0, -signal.SIGTERM)
        assert server.stderr is not None
        log = server.stderr.read().decode()
        assert "Waiting for application shutdown" in log and "Finished server process" in log
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            accepting = True
        except httpx.TransportError:
            accepting = False
        assert not accepting
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        if server.stderr is not None:
            server.stderr.close()


def _plan_requests(exposition: str) -> int:
    """The plan route's answered requests, from /metrics' latency histogram."""
    return sum(
        round(float(line.rsplit(" ", 1)[1]))
        for line in exposition.splitlines()
        if line.startswith("forecaster_http_request_duration_seconds_count")
        and 'route="/v1/services/{name}/plan"' in line
    )


def test_serve_with_several_workers_answers_and_stops(tmp_path: Path) -> None:
    settings = seeded_database(tmp_path / "f.db", days=2)
    port = free_port()
    env = {
        **os.environ,
        "FORECASTER_DATABASE_URL": settings.database_url,
        "FORECASTER_AUTH_ENABLED": "false",
        "FORECASTER_AUTH_ENABLD": "true",  # a typo: ignored, and said so
    }
    server = subprocess.Popen(
        [*FORECASTER, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base)
        plans = [httpx.get(f"{base}/v1/services/chat/plan", timeout=10) for _ in range(20)]
        assert {response.status_code for response in plans} == {200}
        assert len({response.json()["plan_id"] for response in plans}) == 1
        # whichever process answers a scrape counts every process's requests: each counted
        # only its own, so the count fell back between scrapes (a counter reset to Prometheus)
        counted = [_plan_requests(httpx.get(f"{base}/metrics", timeout=10).text) for _ in range(6)]
        assert counted == [20] * 6
        # per-scrape figures stay in their scrape: under several processes every Gauge wrote to
        # their shared files, so the keyed plans showed on the open /metrics, per pid, for ever
        for _ in range(4):
            assert "forecaster_planned_replicas{" in httpx.get(f"{base}/v1/plans/metrics").text
        scraped = httpx.get(f"{base}/metrics", timeout=10).text
        assert "forecaster_planned_replicas" not in scraped
        ages = [line for line in scraped.splitlines() if line.startswith("forecaster_forecast_age")]
        assert len(ages) == 1 and ages[0].startswith(
            'forecaster_forecast_age_seconds{service="chat"}'
        )
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) in (0, -signal.SIGTERM)
        assert server.stderr is not None
        log = server.stderr.read().decode()
        assert log.count("Started server process") == 2  # one per worker
        # every line is JSON, the typo's warning once in each process that reads settings (the
        # parent wrote it twice: as plain text before its logging was set up, then as JSON)
        lines = [json.loads(line) for line in log.splitlines() if line.strip()]
        typo = [line for line in lines if "FORECASTER_AUTH_ENABLD" in line["message"]]
        assert len(typo) == 3 and {line["level"] for line in typo} == {"warning"}
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        if server.stderr is not None:
            server.stderr.close()
