"""The actuation audit trail: records, and the counter dashboards read beside them."""

from __future__ import annotations

from prometheus_client import REGISTRY

from forecaster.storage.actuations import record_actuation
from forecaster.storage.db import Database
from forecaster.storage.services import get_service
from tests.actuators.factories import make_service


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
            record_actuation(
                session=session,
                service_id=service_id,
                plan_id=None,
                target="ml/chat",
                kind="kubernetes-hpa",
                dry_run=dry_run,
                outcome="applied",  # what the push would have done
                before={},
                after={},
                error=None,
                actor="test",
            )
    assert counted("applied") - applied == 1
    assert counted("dry_run") - dry == 2
