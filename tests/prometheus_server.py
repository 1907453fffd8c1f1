"""A real Prometheus (Debian's binary) started per test on loopback with its own storage; the
``start_prometheus`` fixture (registered in tests/conftest.py) for pull, remote-write and
scrape tests.

Skipped when the binary is absent, unless FORECASTER_REQUIRE_PROMETHEUS=1 (CI), which fails.
History is created with ``promtool tsdb create-blocks-from openmetrics`` before start-up.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from tests.helpers import free_port

PrometheusFactory = Callable[..., str]


def required_binary(name: str) -> str:
    """The path of a Prometheus binary (prometheus, promtool): a skip without it, a failure
    where CI requires it."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("FORECASTER_REQUIRE_PROMETHEUS") == "1":
            pytest.fail(f"{name} required (FORECASTER_REQUIRE_PROMETHEUS=1) but not installed")
        pytest.skip(f"{name} not installed (apt-get install prometheus)")
    return path


def scrape_config(base: str, *, job: str, path: str = "/metrics", key: str | None = None) -> str:
    """A configuration scraping the server at ``base`` every second (``path``, with ``key``
    as its bearer credentials when given), as the README tells a user to."""
    auth = f"\n    authorization: {{credentials: {key!r}}}" if key else ""
    target = base.removeprefix("http://")
    return f"""
global: {{scrape_interval: 1s}}
scrape_configs:
  - job_name: {job}
    metrics_path: {path}{auth}
    static_configs: [{{targets: [{target!r}]}}]
"""


def query_until_found(url: str, query: str, timeout: float = 60.0) -> list[dict[str, Any]]:
    """The result of an instant ``query`` at the Prometheus at ``url``, polled until it holds
    something (a scrape or a push takes a second or two to land)."""
    deadline = time.monotonic() + timeout
    while True:
        result: list[dict[str, Any]] = httpx.get(
            f"{url}/api/v1/query", params={"query": query}
        ).json()["data"]["result"]
        if result:
            return result
        assert time.monotonic() < deadline, f"Prometheus had nothing for {query} in {timeout:g} s"
        time.sleep(0.5)


@pytest.fixture
def start_prometheus(tmp_path: Path) -> Iterator[PrometheusFactory]:
    """Start Prometheus: ``start(openmetrics=TEXT, config=YAML)``; returns its base URL."""
    children: list[subprocess.Popen[bytes]] = []
    logs: list[IO[bytes]] = []

    def start(*, openmetrics: str | None = None, config: str = "scrape_configs: []\n") -> str:
        binary = required_binary("prometheus")
        data = tmp_path / f"prometheus-{len(children)}"
        data.mkdir()
        if openmetrics is not None:
            source = tmp_path / "history.om"
            source.write_text(openmetrics)
            subprocess.run(
                [
                    required_binary("promtool"),
                    "tsdb",
                    "create-blocks-from",
                    "openmetrics",
                    str(source),
                    str(data),
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
        port = free_port()
        config_file = tmp_path / f"prometheus-{len(children)}.yml"
        config_file.write_text(config.replace("{PORT}", str(port)))
        log = (tmp_path / f"prometheus-{len(children)}.log").open("wb")
        logs.append(log)
        child = subprocess.Popen(
            [
                binary,
                f"--config.file={config_file}",
                f"--storage.tsdb.path={data}",
                "--storage.tsdb.retention.time=100y",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        children.append(child)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    return url
            except httpx.HTTPError:
                pass
            if child.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"prometheus did not start: {log.name}")
            time.sleep(0.2)

    yield start
    for child in children:
        child.terminate()
        try:
            child.wait(timeout=3)  # a remote-write queue waits long for a server gone
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    for log in logs:
        log.close()
