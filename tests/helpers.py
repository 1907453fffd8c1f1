"""Test helpers: a seeded synthetic traffic generator, real-trace slices, a live HTTP server,
a stand-in for Prometheus's query_range answer."""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs

import numpy as np
import pandas as pd
import uvicorn
from distributed import Client, LocalCluster
from fastapi import FastAPI, Request, Response
from sqlalchemy import text

from forecaster.jobs.leader import LeaderLock
from forecaster.profiles import ScalingProfile
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.timeutil import utc_now


def synthetic_traffic(
    days: float = 14,
    step_seconds: int = 300,
    *,
    base: float = 100.0,
    daily_amplitude: float = 0.5,
    weekly_amplitude: float = 0.2,
    noise: float = 0.05,
    seed: int = 0,
    start: str = "2024-01-01",
) -> pd.Series:
    """Inference-like load: a daily and weekly cycle times noise, seeded, never negative."""
    rng = np.random.default_rng(seed)
    periods = int(days * 86400 / step_seconds)
    index = pd.date_range(start, periods=periods, freq=f"{step_seconds}s", tz="UTC")
    seconds = (index - index[0]).total_seconds().to_numpy()
    daily = 1 + daily_amplitude * np.sin(2 * np.pi * seconds / 86400)
    weekly = 1 + weekly_amplitude * np.sin(2 * np.pi * seconds / (7 * 86400))
    values = base * daily * weekly * (1 + noise * rng.standard_normal(periods))
    return pd.Series(np.maximum(values, 0), index=index, name="value")


def afternoon_peaks(
    index: pd.DatetimeIndex, clock: pd.DatetimeIndex, *, noise: float = 3.0, seed: int = 0
) -> pd.Series:
    """Load at the UTC ``index`` peaking at 14:00 on ``clock`` (each step's local time: the
    index on a zone's clock, or moved by a fixed offset), with seeded noise."""
    hours = np.asarray(clock.hour + clock.minute / 60)
    peak = 80 * np.exp(-0.5 * ((hours - 14) / 1.5) ** 2)
    noisy = 100 + peak + np.random.default_rng(seed).normal(0, noise, len(index))
    return pd.Series(noisy, index=index, name="value")


def with_end_scaled(factor: float, seconds: float, *, step: int, days: float) -> pd.Series:
    """Seeded traffic (8 % noise) whose last ``seconds`` are multiplied by ``factor``: a level
    that rose, or a dip, at the end of the history."""
    history = synthetic_traffic(days=days, step_seconds=step, seed=5, noise=0.08)
    history.iloc[len(history) - round(seconds / step) :] *= factor
    return history


def demo_trace_slice(days: float = 14) -> pd.Series:
    """The first ``days`` of the bundled real trace (tweets per 5 minutes), UTC-indexed."""
    with resources.files("forecaster.data").joinpath("twitter_volume_fb_5min.csv").open() as f:
        frame = pd.read_csv(f)
    index = pd.DatetimeIndex(pd.to_datetime(frame["timestamp"], utc=True))
    series = pd.Series(frame["value"].to_numpy(dtype="float64"), index=index)
    return series[series.index < series.index[0] + pd.Timedelta(days=days)]


def ending_now(trace: pd.Series, step: str = "5min") -> pd.Series:
    """The trace shifted in time so its last point is the latest whole ``step`` before now."""
    shifted = trace.copy()
    shifted.index = shifted.index + (pd.Timestamp(utc_now()).floor(step) - shifted.index[-1])
    return shifted


def store_points(
    database: Database,
    settings: Settings,
    service: str,
    trace: pd.Series,
    metric: str = "requests_per_second",
    labels: dict[str, str] | None = None,
) -> int:
    """Ingest a series' points (of one label set) through the real ingestion path; returns how
    many were stored."""
    from forecaster.ingestion.batch import SeriesPoints, ingest_batch

    with database.session() as session:
        return ingest_batch(
            session=session,
            batch=[
                SeriesPoints(
                    service=service,
                    metric=metric,
                    timestamps=(trace.index.as_unit("ms").asi8 / 1000).tolist(),
                    values=trace.tolist(),
                    labels=labels or {},
                )
            ],
            settings=settings,
        ).stored


def store_service(
    database: Database,
    settings: Settings,
    service: str,
    trace: pd.Series,
    profile: ScalingProfile,
) -> None:
    """Create (or replace) a service and store its load history."""
    from forecaster.storage.services import upsert_service

    with database.session() as session:
        upsert_service(session=session, name=service, profile=profile)
    store_points(database, settings, service, trace, profile.metric)


def wait_until_ready(base: str, timeout: float = 60.0) -> None:
    """Poll ``/readyz`` until the server at ``base`` answers 200."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"server at {base} did not become ready in {timeout:g} s")
        time.sleep(0.2)


def clear_of_step_turn(step_seconds: int, margin_seconds: float) -> datetime:
    """Now, after sleeping past the next step boundary if it is within ``margin_seconds``: a
    test comparing what was in force at two moments must not see the step turn between them."""
    to_turn = step_seconds - utc_now().timestamp() % step_seconds
    if to_turn < margin_seconds:
        time.sleep(to_turn + 0.1)
    return utc_now()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def prometheus_answering(label_sets: list[dict[str, str]]) -> FastAPI:
    """Prometheus's HTTP answer to query_range: one series per label set, 1 at every step. A
    Prometheus 3 (UTF-8 label names) can name a label "*" with label_replace; the 2.x Debian
    ships cannot, hence this stand-in (serve it with :func:`live_server`)."""
    app = FastAPI()

    @app.post("/api/v1/query_range")
    async def query_range(request: Request) -> Response:
        form = parse_qs((await request.body()).decode())
        start, end, step = (float(form[name][0]) for name in ("start", "end", "step"))
        stamps = np.arange(start, end + step / 2, step)
        values = [[stamp, "1"] for stamp in stamps.tolist()]
        result = [{"metric": labels, "values": values} for labels in label_sets]
        payload = {"status": "success", "data": {"resultType": "matrix", "result": result}}
        return Response(json.dumps(payload), media_type="application/json")  # escapes \ud800

    return app


class BrokenModel:
    """Every forecasting model after a bad library upgrade: it configures, then cannot fit
    (monkeypatched in as ``forecasting.create_model``: fault injection)."""

    def configure(self, **_settings: object) -> BrokenModel:
        return self

    def fit(self, _history: object) -> BrokenModel:
        raise RuntimeError("the upgraded library broke me")


def chunks_trained(address: str) -> int:
    """Chunks of series the Dask cluster at ``address`` has trained so far (the scheduler's
    counts only grow)."""
    with Client(address, set_as_default=False) as client:
        prefixes = client.run_on_scheduler(
            lambda dask_scheduler: {
                name: prefix.state_counts.get("memory", 0)
                for name, prefix in dask_scheduler.task_prefixes.items()
            }
        )
    return int(prefixes.get("each_in_chunk", 0))  # task names drop the leading "_"


def dask_workers(address: str) -> set[str]:
    """The addresses of the workers of the Dask cluster at ``address``."""
    with Client(address, set_as_default=False) as client:
        return set(client.scheduler_info()["workers"])


def local_dask_cluster(workers: int, *, processes: bool = True) -> LocalCluster:
    """A Dask scheduler and ``workers`` worker processes of two threads on this machine. Its
    HTTP server (health checks; no dashboard) takes a free port: the default 8787 would clash
    with another cluster's and warn."""
    return LocalCluster(
        n_workers=workers,
        threads_per_worker=2,
        processes=processes,
        dashboard_address="127.0.0.1:0",
        scheduler_kwargs={"dashboard": False},
    )


def failed_job_warnings(
    database: Database, *, later: timedelta = timedelta()
) -> dict[str, list[str]]:
    """Each service's warnings that its last training or refresh failed, as the overview
    gives them ``later`` from now; how long ago, to the second, is the machine's business."""
    from forecaster.review.overview import summarize_services

    with database.session() as session:
        summaries = summarize_services(session=session, now=utc_now() + later)
    return {
        s.name: [
            re.sub(r"\(\d+ s ago\)", "(ago)", w) for w in s.warnings if w.startswith("the last ")
        ]
        for s in summaries
    }


def service_warnings(
    database: Database, name: str, prefix: str = "", *, now: datetime | None = None
) -> list[str]:
    """The overview's warnings for service ``name`` (at ``now``) that start with ``prefix``."""
    from forecaster.review.overview import summarize_service
    from forecaster.storage.services import get_service

    with database.session() as session:
        service = get_service(session=session, name=name)
        summary = summarize_service(
            session=session, service=service, now=now or utc_now(), last_actuation=None
        )
    return [warning for warning in summary.warnings if warning.startswith(prefix)]


def lose_lock(database: Database, lock: LeaderLock) -> None:
    """What a PostgreSQL restart (or a removed lock file) does to the leader's lock."""
    if database.is_sqlite:
        Path(f"{database.engine.url.database}.scheduler.lock").unlink()
        return
    with database.engine.connect() as admin:
        pid = admin.execute(
            text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 "
                "AND ((classid::bigint << 32) | objid::bigint) = :key"
            ),
            {"key": lock._key},
        ).scalar_one()
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


# SQLite's header is the file's first 100 bytes; its pages are 4,096 bytes by default
SQLITE_HEADER_BYTES = 100
SQLITE_PAGE_BYTES = 4096


def damage_sqlite_file(path: Path, *, header: bool) -> None:
    """Write garbage over a SQLite file, as a failing disk or a half-finished copy does: over
    its header (SQLite then says "file is not a database") or over every page after the first
    ("database disk image is malformed"). Its write-ahead log is folded in first, so the
    garbage is what a connection opened afterwards reads (one already open reads its cache)."""
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    start, end = (0, SQLITE_HEADER_BYTES) if header else (SQLITE_PAGE_BYTES, path.stat().st_size)
    with path.open("r+b") as file:
        file.seek(start)
        file.write((bytes(range(256)) * (end // 256 + 1))[: end - start])
