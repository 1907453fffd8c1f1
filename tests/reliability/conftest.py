"""Fixtures for fault tests: a private PostgreSQL server the tests may restart at will.

It is a separate cluster (its own data directory and port), so restarting it never disturbs the
shared server other tests use. Skipped where ``initdb`` is missing unless
FORECASTER_REQUIRE_POSTGRES=1.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import free_port


@dataclass
class PrivatePostgres:
    url: str
    data_dir: Path
    pg_ctl: str
    as_postgres: list[str]

    options: str
    log_file: Path

    def start(self) -> None:
        self._ctl("start", "-w", "-t", "60", "-l", str(self.log_file), "-o", self.options)

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast", "-w", "-t", "60")

    def restart(self) -> None:
        """A real fast restart: every connection is cut, the server comes back on the same port."""
        self.stop()
        self.start()

    def _ctl(self, *args: str) -> None:
        # no pipes: the postmaster inherits them and would keep them open forever
        subprocess.run(
            [*self.as_postgres, self.pg_ctl, "-D", str(self.data_dir), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=90,
        )


def _binaries() -> tuple[str, str] | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        return None
    bin_dir = Path(found[-1]).parent
    return str(bin_dir / "initdb"), str(bin_dir / "pg_ctl")


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    binaries = _binaries()
    if binaries is None:
        if os.environ.get("FORECASTER_REQUIRE_POSTGRES") == "1":
            pytest.fail("initdb not found: cannot start a private PostgreSQL")
        pytest.skip("PostgreSQL server binaries not installed")
    initdb, pg_ctl = binaries
    root = Path(tempfile.mkdtemp(prefix="forecaster-pg-"))
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(root, user="postgres")
    data_dir = root / "data"
    port = free_port()
    subprocess.run(
        [*as_postgres, initdb, "-D", str(data_dir), "-A", "trust", "-U", "postgres", "--no-sync"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    server = PrivatePostgres(
        url=f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres",
        data_dir=data_dir,
        pg_ctl=pg_ctl,
        as_postgres=as_postgres,
        options=f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off",
        log_file=root / "log",
    )
    server.start()
    try:
        yield server
    finally:
        subprocess.run(
            [*as_postgres, pg_ctl, "-D", str(data_dir), "stop", "-m", "immediate"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)
