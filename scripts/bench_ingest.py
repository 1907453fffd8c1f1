#!/usr/bin/env python
"""Ingest throughput: points per second through the REST batch endpoint and remote-write.

Starts the real app with uvicorn in a child process on loopback (so client and server do not
share a GIL), against a fresh SQLite file and a fresh PostgreSQL schema, posts batches of 1k, 10k
and 100k points spread over 10 series, and prints a table with points/s and the server's peak
memory. Exits non-zero when a request fails or a point goes missing.

    python scripts/bench_ingest.py                      # everything
    python scripts/bench_ingest.py --db sqlite --sizes 100000 --paths rest
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

POSTGRES_URL = os.environ.get(
    "FORECASTER_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
APPLICATION_NAME = "forecaster-bench"
SERVICE = "bench"
SERIES = 10
WIDE_SERIES = 1_000  # remote_write_wide: Prometheus's shape, many series, few samples each
START = 1_700_000_000  # epoch seconds of the first point
PROFILE = {"capacity_per_replica": 10, "min_replicas": 1, "max_replicas": 20}


@dataclass
class Row:
    database: str
    path: str
    batch: int
    requests: int
    points: int
    seconds: float
    cpu_seconds: float  # server process + its PostgreSQL backends, from /proc
    peak_rss_mb: float

    @property
    def rate(self) -> float:
        return self.points / self.seconds

    @property
    def cpu_rate(self) -> float:
        """Points per CPU-second: what one idle core pair would sustain with one client."""
        return self.points / self.cpu_seconds if self.cpu_seconds else float("nan")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(database_url: str, port: int) -> None:
    """Child process: the real app on loopback, auth off, generous limits."""
    import uvicorn

    from api.app import create_app
    from forecaster.settings import Settings

    settings = Settings(database_url=database_url, auth_enabled=False, max_future_seconds=10**10)
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning")


@contextmanager
def server(database_url: str) -> Iterator[tuple[str, int]]:
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", database_url, str(port)],
        cwd=Path(__file__).resolve().parent.parent,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if child.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("benchmark server did not start")
            time.sleep(0.1)
        yield base, child.pid
    finally:
        child.terminate()
        child.wait(timeout=30)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes (all their threads), from /proc."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def backend_pids(database_url: str) -> list[int]:
    """PostgreSQL backends serving the benchmark server (tagged by application_name)."""
    if not database_url.startswith("postgresql"):
        return []
    from sqlalchemy import create_engine, text

    engine = create_engine(POSTGRES_URL)
    with engine.connect() as connection:
        pids = connection.execute(
            text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
            {"name": APPLICATION_NAME},
        ).scalars()
        result = [int(pid) for pid in pids]
    engine.dispose()
    return result


def peak_rss_mb(pid: int) -> float:
    """The process's high-water resident memory (Linux), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def json_bodies(batch: int, requests: int, offset: int) -> list[bytes]:
    """Pre-encoded bodies: each batch spreads its points over SERIES label sets, new times."""
    per_series = batch // SERIES
    bodies = []
    rng = np.random.default_rng(0)
    for number in range(requests):
        first = START + offset + number * per_series
        stamps = np.arange(first, first + per_series).tolist()
        series = []
        for instance in range(SERIES):
            values = np.round(rng.uniform(0, 1000, per_series), 3).tolist()
            series.append(
                {
                    "service": SERVICE,
                    "metric": "requests_per_second",
                    "labels": {"instance": str(instance)},
                    "points": [list(p) for p in zip(stamps, values, strict=True)],
                }
            )
        bodies.append(json.dumps({"series": series}, separators=(",", ":")).encode())
    return bodies


def remote_write_bodies(
    batch: int, requests: int, offset: int, series_count: int = SERIES
) -> list[bytes]:
    """Snappy-compressed protobuf WriteRequests over ``series_count`` series, new times."""
    import cramjam

    from forecaster.ingestion import remote_write_proto as pb

    per_series = max(1, batch // series_count)
    rng = np.random.default_rng(0)
    bodies = []
    for number in range(requests):
        first_ms = (START + offset + number * per_series) * 1000
        message = pb.WriteRequest()
        for instance in range(series_count):
            series = message.timeseries.add()
            for name, value in (
                ("__name__", "requests_per_second"),
                ("service", SERVICE),
                ("instance", str(instance)),
            ):
                series.labels.add(name=name, value=value)
            values = rng.uniform(0, 1000, per_series)
            for k in range(per_series):
                series.samples.add(value=float(values[k]), timestamp=first_ms + k * 1000)
        bodies.append(bytes(cramjam.snappy.compress_raw(message.SerializeToString())))
    return bodies


def run_path(
    base: str,
    pid: int,
    url: str,
    database: str,
    path: str,
    batch: int,
    total: int,
    offset: int,
    clients: int,
) -> Row:
    requests = max(1, total // batch) + 1  # one more for the warm-up
    if path == "rest":
        bodies = json_bodies(batch, requests, offset)
        endpoint, headers = f"{base}/v1/metrics", {"content-type": "application/json"}
    else:
        wide = path == "remote_write_wide"
        bodies = remote_write_bodies(batch, requests, offset, WIDE_SERIES if wide else SERIES)
        endpoint = f"{base}/api/v1/write"
        headers = {
            "content-type": "application/x-protobuf",
            "content-encoding": "snappy",
            "x-prometheus-remote-write-version": "0.1.0",
        }
    with httpx.Client(timeout=120, limits=httpx.Limits(max_connections=clients)) as client:

        def post(body: bytes) -> int:
            response = client.post(endpoint, content=body, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"{path} {batch}: HTTP {response.status_code}: {response.text}")
            return int(response.json()["stored"])

        post(bodies.pop())  # warm-up: connections, series creation, caches
        pids = [pid, *backend_pids(url)]
        cpu_before = cpu_seconds(pids)
        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            stored = sum(pool.map(post, bodies))
        seconds = time.perf_counter() - started
        cpu = cpu_seconds(pids) - cpu_before
    series = WIDE_SERIES if path == "remote_write_wide" else SERIES
    expected = len(bodies) * max(1, batch // series) * series
    if stored != expected:
        raise RuntimeError(f"{path} {batch}: stored {stored} points, expected {expected}")
    return Row(database, path, batch, len(bodies), stored, seconds, cpu, peak_rss_mb(pid))


@contextmanager
def database_url(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/bench.db"
        return
    from sqlalchemy import create_engine, text

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}&application_name={APPLICATION_NAME}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite,postgres", help="sqlite,postgres")
    parser.add_argument(
        "--paths",
        default="rest,remote_write,remote_write_wide",
        help="rest, remote_write (10 series a request), remote_write_wide (1,000 series)",
    )
    parser.add_argument("--sizes", default="1000,10000,100000", help="points per batch")
    parser.add_argument("--points", type=int, default=300_000, help="points per measurement")
    parser.add_argument("--clients", type=int, default=1, help="concurrent client connections")
    parser.add_argument("--serve", nargs=2, metavar=("URL", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return 0
    rows: list[Row] = []
    sizes = [int(size) for size in args.sizes.split(",")]
    try:
        for kind in args.db.split(","):
            with database_url(kind) as url, server(url) as (base, pid):
                httpx.put(f"{base}/v1/services/{SERVICE}", json=PROFILE, timeout=30)
                offset = 0
                for path in args.paths.split(","):
                    for size in sizes:
                        total = max(args.points, size)
                        row = run_path(
                            base, pid, url, kind, path, size, total, offset, args.clients
                        )
                        rows.append(row)
                        offset += total + size
                        print(
                            f"  {kind:8} {path:12} batch {size:>7,}: {row.rate:>10,.0f} points/s",
                            flush=True,
                        )
    except Exception as error:  # noqa: BLE001 - a benchmark reports any failure and exits 1
        print(f"FAILED: {error}", file=sys.stderr)
        return 1
    print()
    print(
        f"{'database':10}{'path':19}{'batch':>9}{'requests':>10}{'points/s':>12}"
        f"{'points/cpu-s':>14}{'peak MB':>9}"
    )
    for row in rows:
        print(
            f"{row.database:10}{row.path:19}{row.batch:>9,}{row.requests:>10}"
            f"{row.rate:>12,.0f}{row.cpu_rate:>14,.0f}{row.peak_rss_mb:>9.0f}"
        )
    print(
        f"\n{args.clients} client(s); points/cpu-s counts the server's and its PostgreSQL "
        "backends' CPU time,\nso it holds when other work shares the cores; points/s is wall time "
        "and is noisy there.\nLoad average now: " + " ".join(f"{x:.1f}" for x in os.getloadavg())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
