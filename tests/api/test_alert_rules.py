"""``deploy/prometheus-rules.yaml``: each alert fires when it should (``promtool test rules``),
and forecaster's own metrics keep their labels when a real Prometheus scrapes them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from api.app import create_app
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.jobs import recorded_job
from tests.helpers import live_server
from tests.prometheus_server import (
    PrometheusFactory,
    query_until_found,
    required_binary,
    scrape_config,
)

RULES = Path(__file__).parents[2] / "deploy" / "prometheus-rules.yaml"


def _series(name: str, values: str, **labels: str) -> dict[str, str]:
    text = ",".join(f'{key}="{value}"' for key, value in labels.items())
    return {"series": f"{name}{{{text}}}", "values": values}


CHAT = {"job": "fc", "service": "chat"}
# each alert: quiet at the first minute, firing at the second with these labels and annotations
ALERTS = [
    (
        "ForecasterJobFailing",
        1,
        3,
        {"severity": "warning", **CHAT, "forecaster_job": "train"},
        "forecaster train of chat failed",
        "See GET /v1/jobs?job=train, forecaster status, or the log line 'train of service chat "
        "failed'.",
    ),
    (
        "ForecasterForecastStale",
        65,
        75,
        {"severity": "warning", **CHAT},
        "no new forecast for chat in 1h 15m 0s",
        "Are the forecaster worker's scheduled jobs running (forecaster worker, or serve "
        "--scheduler)?",
    ),
    (
        "ForecasterNoPlanInForce",
        8,
        13,
        {"severity": "warning", **CHAT},
        "chat has no plan in force",
        "Its actuators restored their baselines. forecaster status, or GET "
        "/v1/services/chat/plan, says why.",
    ),
    (
        "ForecasterLoadAboveForecast",
        10,
        30,
        {"severity": "info", "service": "chat"},
        "chat load has been above its p99 forecast for 15 minutes",
        "A launch or an incident the forecast did not know? Declare events (forecaster events) "
        "or exclude the window (forecaster exclusions).",
    ),
]
P99 = {"job": "fc", "metric": "requests_per_second", "quantile": "0.99"}
RULE_TESTS = {
    "rule_files": [str(RULES)],
    "evaluation_interval": "1m",
    "tests": [
        {
            "interval": "1m",
            "input_series": [
                _series(
                    "forecaster_service_job_failing",
                    "0 0 1 1 1 1 1 1 1 1",
                    **CHAT,
                    forecaster_job="train",
                ),
                _series("forecaster_forecast_age_seconds", "0+60x90", **CHAT),
                _series("forecaster_plan_in_force", "1 1 0x30", **CHAT),
                _series("http_requests_total", "0+600x60", service="chat"),  # 10/s
                _series("forecaster_forecast_load", "5x60", **P99, service="chat"),
                _series("forecaster_forecast_load", "50x60", **P99, service="calm"),
            ],
            "alert_rule_test": [
                check
                for alert, quiet, firing, labels, summary, description in ALERTS
                for check in (
                    {"alertname": alert, "eval_time": f"{quiet}m", "exp_alerts": []},
                    {
                        "alertname": alert,
                        "eval_time": f"{firing}m",
                        "exp_alerts": [
                            {
                                "exp_labels": labels,
                                "exp_annotations": {
                                    "summary": summary,
                                    "description": description,
                                },
                            }
                        ],
                    },
                )
            ],
        }
    ],
}


def test_the_rules_are_valid_and_each_alert_fires_when_it_should(tmp_path: Path) -> None:
    """A failure fires within minutes, a forecast an hour old fires after ten more, so does a
    plan out of force for ten minutes, and load above the p99 for 15 minutes fires for that
    service alone (not for "calm")."""
    promtool = required_binary("promtool")
    checked = subprocess.run(
        [promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tests = tmp_path / "rules_test.yaml"
    tests.write_text(yaml.safe_dump(RULE_TESTS))
    result = subprocess.run(
        [promtool, "test", "rules", str(tests)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_real_prometheus_keeps_the_job_label_of_a_failure(
    database: Database, settings: Settings, start_prometheus: PrometheusFactory
) -> None:
    """The failure counter's job label is ``forecaster_job``: named ``job``, it would collide
    with the scrape job's and arrive as ``exported_job``, which the alert does not read."""
    with pytest.raises(RuntimeError), recorded_job(database.sessions, "forecast", "chat"):
        raise RuntimeError("the database went away")
    with live_server(create_app(settings, database)) as base:
        url = start_prometheus(config=scrape_config(base, job="forecaster"))
        found = query_until_found(url, 'forecaster_service_job_failures_total{service="chat"}')
    labels = [sample["metric"] for sample in found]  # other tests' failures may be there too
    assert any(
        label.get("forecaster_job") == "forecast" and label["job"] == "forecaster"
        for label in labels
    )
    assert not any("exported_job" in label for label in labels)
