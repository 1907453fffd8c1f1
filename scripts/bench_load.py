"""Load benchmark: plan queries and ingest batches against a real server while training runs.

Starts `forecaster serve` (auth on, a real API key) on a seeded database, a training loop in a
second process, and an open-loop load generator (requests are timed from their scheduled send
time, so a slow server cannot hide its queueing). Prints throughput, p50/p99 latency and errors,
and exits non-zero when errors occur or plan p99 misses the target.

    python scripts/bench_load.py --rate 500 --seconds 30 [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forecaster.ingestion.batch import SeriesPoints, ingest_batch
from forecaster.profiles import ScalingProfile
from forecaster.security.api_keys import create_key
from forecaster.settings import Settings
from forecaster.storage.db import open_database
from forecaster.storage.services import upsert_service
from forecaster.timeutil import utc_now
from forecaster.training.train import train_service

FORECASTER = [sys.executable, "-c", "from forecaster.cli import main; main()"]
# the worker's daily train job (backtest, select, fit, plan every service), over and over
TRAIN_LOOP = """
import sys
from forecaster.jobs.tasks import train_all
from forecaster.settings import Settings
from forecaster.storage.db import Database
settings = Settings()
database = Database(settings.database_url)
while True:
    train_all(database, settings)
    with open(sys.argv[1], "a") as passes:
        passes.write("pass\\n")
"""


def seed(url: str, services: int) -> str:
    """Services with 14 days of 5-minute traffic, trained and planned; returns an admin key."""
    settings = Settings(database_url=url)
    rng = np.random.default_rng(0)
    end = pd.Timestamp(utc_now()).floor("5min")
    index = pd.date_range(end=end, periods=14 * 288, freq="5min")
    seconds = (index - index[0]).total_seconds().to_numpy()
    with open_database(url) as database:
        for number in range(services):
            values = 100 * (1 + 0.5 * np.sin(2 * np.pi * seconds / 86400 + number))
            values = values * (1 + 0.05 * rng.standard_normal(len(values)))
            with database.session() as session:
                upsert_service(
                    session=session,
                    name=f"svc{number}",
                    profile=ScalingProfile(capacity_per_replica=20, horizon_hours=24),
                )
                ingest_batch(
                    session=session,
                    settings=settings,
                    batch=[
                        SeriesPoints(
                            service=f"svc{number}",
                            metric="requests_per_second",
                            timestamps=(index.as_unit("s").asi8).tolist(),
                            values=values.tolist(),
                        )
                    ],
                )
            train_service(database, f"svc{number}", settings, model="seasonal_naive_weekly")
        with database.session() as session:
            return create_key(session=session, name="bench", scopes=["admin"]).secret


async def wait_ready(base: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                if (await client.get(f"{base}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("server did not become ready")


class Connections:
    """A pool of keep-alive HTTP/1.1 connections with a minimal client.

    A general-purpose client (httpx) costs more CPU per request than the server's route does;
    on 2 shared cores that would measure the client. This one writes the request bytes and
    reads the status line, headers and ``Content-Length`` body: nothing else.
    """

    def __init__(self, host: str, port: int, size: int) -> None:
        self.host, self.port, self.size = host, port, size
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )

    async def open(self) -> None:
        for _ in range(self.size):
            self.idle.put_nowait(await asyncio.open_connection(self.host, self.port))

    async def request(self, head: bytes, body: bytes = b"") -> int:
        """Send one request; returns the status code (0 when it failed twice)."""
        reader, writer = await self.idle.get()
        for attempt in range(2):  # the server closes connections idle for 5 s: reconnect once
            try:
                writer.write(head + body)
                status_line = await reader.readline()
                if not status_line:
                    raise ConnectionResetError("closed by the server")
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                self.idle.put_nowait((reader, writer))
                return int(status_line.split()[1])
            except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
                writer.close()
                reader, writer = await asyncio.open_connection(self.host, self.port)
                if attempt == 1:
                    break
        self.idle.put_nowait((reader, writer))
        return 0

    def close(self) -> None:
        while not self.idle.empty():
            self.idle.get_nowait()[1].close()


async def run_load(
    base: str,
    key: str,
    rate: float,
    seconds: float,
    services: int,
    ingest_rate: float,
    batch_points: int,
    warmup: float = 3.0,
) -> dict[str, list[float]]:
    """Open loop: plan queries at ``rate``/s and ingest batches at ``ingest_rate``/s.

    Latency counts from each request's scheduled send time, so queueing anywhere is measured.
    The first ``warmup`` seconds (connections, caches, first plan reads) are not recorded.
    """
    host, port = base.removeprefix("http://").split(":")
    connections = Connections(host, int(port), size=48)
    await connections.open()
    auth = f"Authorization: Bearer {key}\r\nHost: {host}\r\n"
    results: dict[str, list[float]] = {
        "plan": [],
        "ingest": [],
        "plan_errors": [],
        "ingest_errors": [],
    }
    counter = {"points": 0}

    async def plan(scheduled: float, number: int) -> None:
        head = (
            f"GET /v1/services/svc{number % services}/plan?horizon=6h HTTP/1.1\r\n{auth}\r\n"
        ).encode()
        ok = await connections.request(head) == 200
        if scheduled >= measured_from:
            results["plan" if ok else "plan_errors"].append(time.perf_counter() - scheduled)

    async def ingest(scheduled: float, number: int) -> None:
        now = int(time.time()) - 3600
        points = [[now - i - number * batch_points, 50.0] for i in range(batch_points)]
        body = json.dumps(
            {
                "series": [
                    {
                        "service": f"svc{number % services}",
                        "metric": "requests_per_second",
                        "labels": {"bench": "load"},
                        "points": points,
                    }
                ]
            }
        ).encode()
        head = (
            f"POST /v1/metrics HTTP/1.1\r\n{auth}Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        ok = await connections.request(head, body) == 200
        if scheduled >= measured_from:
            results["ingest" if ok else "ingest_errors"].append(time.perf_counter() - scheduled)
            counter["points"] += batch_points if ok else 0

    total = warmup + seconds
    gc.disable()  # the generator's own collection pauses would be counted as server latency
    schedule = sorted(
        [(number / rate, plan, number) for number in range(int(rate * total))]
        + [(number / ingest_rate, ingest, number) for number in range(int(ingest_rate * total))],
        key=lambda item: item[0],
    )
    start = time.perf_counter()
    measured_from = start + warmup
    tasks = []
    for offset, send, number in schedule:  # start each request at its time, not before
        delay = start + offset - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(start + offset, number)))
    await asyncio.gather(*tasks)
    gc.enable()
    results["elapsed"] = [time.perf_counter() - measured_from]
    results["points"] = [float(counter["points"])]
    connections.close()
    return results


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def summarise(name: str, latencies: list[float], errors: list[float], elapsed: float) -> str:
    if not latencies:
        return f"{name:7s} no successful requests, {len(errors)} errors"
    ms = np.array(latencies) * 1000
    return (
        f"{name:7s} {len(latencies) / elapsed:8.1f} req/s  p50 {np.percentile(ms, 50):7.2f} ms  "
        f"p99 {np.percentile(ms, 99):7.2f} ms  max {ms.max():8.2f} ms  errors {len(errors)}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=500, help="plan queries per second")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--ingest-rate", type=float, default=5, help="ingest batches per second")
    parser.add_argument("--batch-points", type=int, default=1000)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--no-training", action="store_true", help="skip the concurrent training")
    parser.add_argument("--target-p99-ms", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    args = parser.parse_args()

    directory = Path(tempfile.mkdtemp(prefix="forecaster-load-"))
    url = args.database_url or f"sqlite:///{directory / 'load.db'}"
    print(f"seeding {args.services} services on {url.split('@')[-1]} ...")
    key = seed(url, args.services)
    port = 18000 + os.getpid() % 1000
    env = {**os.environ, "FORECASTER_DATABASE_URL": url, "FORECASTER_PORT": str(port)}
    server_log = (directory / "server.log").open("w")
    server = subprocess.Popen(
        [*FORECASTER, "serve", "--workers", str(args.workers)], env=env, stderr=server_log
    )
    print(f"server log: {directory / 'server.log'}")
    trainer = None
    try:
        base = f"http://127.0.0.1:{port}"
        asyncio.run(wait_ready(base))
        if not args.no_training:
            trainer = subprocess.Popen(
                [sys.executable, "-c", TRAIN_LOOP, str(directory / "trained")],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(5)  # imports done: the load meets training, not Python start-up
            trainer_cpu_start = cpu_seconds(trainer.pid)
        print(
            f"load: {args.rate:g} plan queries/s + {args.ingest_rate:g} ingest batches/s of "
            f"{args.batch_points} points for {args.seconds:g} s"
            f"{'' if args.no_training else ', training in a second process'}"
        )
        results = asyncio.run(
            run_load(
                base,
                key,
                args.rate,
                args.seconds,
                args.services,
                args.ingest_rate,
                args.batch_points,
            )
        )
        trainer_cpu_seconds = cpu_seconds(trainer.pid) - trainer_cpu_start if trainer else 0.0
    finally:
        for process in (trainer, server):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)
    elapsed = results["elapsed"][0]
    print(summarise("plan", results["plan"], results["plan_errors"], elapsed))
    print(summarise("ingest", results["ingest"], results["ingest_errors"], elapsed))
    print(f"ingested {results['points'][0] / elapsed:,.0f} points/s alongside")
    if trainer is not None:
        passes = (
            (directory / "trained").read_text().count("pass")
            if (directory / "trained").exists()
            else 0
        )
        print(
            f"training: {trainer_cpu_seconds:.1f} CPU seconds used during the load, "
            f"{passes} full passes over {args.services} services completed"
        )
    errors = len(results["plan_errors"]) + len(results["ingest_errors"])
    p99 = float(np.percentile(np.array(results["plan"]) * 1000, 99)) if results["plan"] else np.inf
    verdict = errors == 0 and p99 <= args.target_p99_ms
    print(
        f"target: plan p99 <= {args.target_p99_ms:g} ms with no errors: "
        f"{'met' if verdict else 'MISSED'}"
    )
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
