"""``forecaster worker`` as a real process: leads, registers the jobs, stops cleanly on SIGTERM;
``forecaster actuate --dry-run`` previews a push."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from forecaster.cli import app
from forecaster.jobs.registry import JOBS
from forecaster.storage.db import Database
from tests.actuators.conftest import HPA, hpa
from tests.actuators.factories import make_service, store_plan
from tests.fakes.kube_api import FakeKubeApi

ROOT = Path(__file__).resolve().parents[2]


def test_worker_leads_and_stops_on_sigterm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'worker.db'}"
    env = {**os.environ, "FORECASTER_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    worker = subprocess.Popen(
        [sys.executable, "-c", "from forecaster.cli import main; main()", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        database = Database(url)
        deadline = time.monotonic() + 60
        ids: set[str] = set()
        expected = {job.id for job in JOBS}
        while time.monotonic() < deadline and len(ids) < len(expected):
            time.sleep(0.2)
            if (tmp_path / "worker.db").exists():
                try:
                    with database.engine.connect() as connection:
                        ids = {
                            r[0]
                            for r in connection.exec_driver_sql("SELECT id FROM apscheduler_jobs")
                        }
                except Exception:  # noqa: BLE001 - not migrated yet
                    continue
        database.dispose()
        assert ids == expected
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate(timeout=10)
    assert worker.returncode == 0, err
    assert "worker started" in out and "worker stopped" in out
    assert "this process leads" in err
    # stderr is the log: JSON lines, the signal's own line among them (it was plain text)
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert any(
        line["message"] == "received SIGTERM: finishing running jobs, then stopping"
        for line in lines
    )


def _service_pushing_to(tmp_path: Path, kubeconfig: str, hpa_name: str) -> str:
    """A SQLite database holding a service with a 4-replica plan and one HPA target."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    database = Database(url)
    database.migrate()
    target = {
        "kind": "kubernetes-hpa",
        "config": {"namespace": "ml", "name": hpa_name, "kubeconfig": kubeconfig},
    }
    make_service(database, targets=[target])
    store_plan(database, replicas=[4] * 48)
    database.dispose()
    return url


def _invoke_actuate(monkeypatch: pytest.MonkeyPatch, url: str, *args: str) -> Result:
    from forecaster.settings import get_settings

    monkeypatch.setenv("FORECASTER_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, ["actuate", *args])
    finally:
        get_settings.cache_clear()


def test_actuate_command_previews_without_writing(
    tmp_path: Path, kube: FakeKubeApi, kubeconfig: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube.add(*HPA, hpa(low=2))
    url = _service_pushing_to(tmp_path, kubeconfig, "chat")
    result = _invoke_actuate(monkeypatch, url, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "(dry run) kubernetes-hpa ml/chat: applied" in result.output
    assert '"minReplicas": 4' in result.output
    assert kube.patches() == []


def test_a_preview_of_a_forecast_only_service_says_a_real_run_pushes_nothing(
    tmp_path: Path, kube: FakeKubeApi, kubeconfig: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dry run shows what a push would do even in forecast-only mode (to check before
    turning actuation on), and said so nowhere: it read like the push a real run makes."""
    kube.add(*HPA, hpa(name="shown", low=2))
    url = _service_pushing_to(tmp_path, kubeconfig, "chat")
    database = Database(url)
    target = {  # its own HPA: another service's would be restored by it at every real run
        "kind": "kubernetes-hpa",
        "config": {"namespace": "ml", "name": "shown", "kubeconfig": kubeconfig},
    }
    make_service(database, name="shown", targets=[target], forecast_only=True)
    store_plan(database, name="shown", replicas=[4] * 48)
    database.dispose()
    preview = _invoke_actuate(monkeypatch, url, "--service", "shown", "--dry-run")
    assert preview.exit_code == 0, preview.output
    assert "preview only: the profile is forecast_only, so a real run pushes nothing" in (
        preview.output
    )
    assert "(dry run) kubernetes-hpa ml/shown: applied" in preview.output
    real = _invoke_actuate(monkeypatch, url, "--service", "shown")
    assert "profile is forecast_only: plans are shown, never pushed" in real.output
    assert kube.patches() == []


def test_actuate_command_says_when_no_service_has_targets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _invoke_actuate(monkeypatch, f"sqlite:///{tmp_path / 'cli.db'}")
    assert result.exit_code == 0, result.output
    assert "no service has actuation targets in its profile; nothing to push" in result.output


def test_actuate_command_names_a_failing_target_once(
    tmp_path: Path,
    kubeconfig: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """QA: the error was printed under its target and again by the actuators' own warning."""
    url = _service_pushing_to(tmp_path, kubeconfig, "missing")
    with caplog.at_level(logging.WARNING):
        result = _invoke_actuate(monkeypatch, url)
    assert result.exit_code == 1, result.output
    assert result.output.count("does not exist") == 1
    assert "error: not found: horizontalpodautoscalers.autoscaling ml/missing" in result.output
    assert not [r for r in caplog.records if r.name.startswith("forecaster.actuators")]
    assert logging.getLogger("forecaster.actuators").level == logging.NOTSET  # put back
