"""The actuation audit trail: records, and the counter dashboards read beside them."""

from __future__ import annotations

from prometheus_client import REGISTRY

from forecaster.storage.db import Database
from forecaster.storage.services import get_service
from tests.actuators.factories import make_service, record_push


def counted(outcome: str) -> float:
    labels = {"kind": "kubernetes-hpa", "outcome": outcome}
    return REGISTRY.get_sample_value("forecaster_actuations_total", labels) or 0


def test_a_dry_run_is_counted_as_one_not_as_a_push(database: Database) -> None:
    """QA: a forecast-only service's dry runs were counted as outcome="applied", so a
    dashboard showed pushes that never happened."""
    make_service(database, name="chat")
    applied, dry = counted("applied"), counted("dry_run")
    with database.session() as session:
        service_id = get_service(session=session, name="chat").id
        for dry_run in (True, True, False):
            # outcome: what the push would have done
            record_push(session, service_id, outcome="applied", dry_run=dry_run, actor="test")
    assert counted("applied") - applied == 1
    assert counted("dry_run") - dry == 2
