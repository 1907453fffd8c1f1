"""The actuation audit trail: records, and the counter dashboards read beside them."""

from __future__ import annotations

from prometheus_client import REGISTRY

from forecaster.storage.actuations import last_actuations, latest_pushes_of, list_actuations
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


def test_services_read_together_keep_their_own_latest_pass_and_newest_record(
    database: Database,
) -> None:
    """Read together, each service's latest pass is its own newest records that were not dry
    runs, as many as it has targets, though the read fetches as many as the most any of them
    wants; and its newest record is its own."""
    wanted = {"one": 1, "three": 3, "short": 4, "quiet": 2}
    for name in wanted:
        make_service(database, name=name)
    with database.session() as session:
        ids = {name: get_service(session=session, name=name).id for name in wanted}
        for turn in range(12):  # interleaved, a dry run every third turn
            for name in ("one", "three", "short")[: 2 if turn > 1 else 3]:
                record_push(
                    session, ids[name], outcome="applied", target=f"t{turn}", dry_run=turn % 3 == 0
                )
        pushes = latest_pushes_of(session=session, targets={ids[n]: c for n, c in wanted.items()})
        newest = last_actuations(session=session, service_ids=list(ids.values()))
        expected = {
            ids[name]: [
                row.id
                for row in list_actuations(session=session, service_id=ids[name])
                if not row.dry_run
            ][:count]
            for name, count in wanted.items()
        }
        everything = {key: list_actuations(session=session, service_id=key) for key in ids.values()}

    assert {key: [row.id for row in rows] for key, rows in pushes.items()} == expected
    assert [len(expected[ids[name]]) for name in wanted] == [1, 3, 1, 0]
    assert {key: row.id for key, row in newest.items()} == {
        key: rows[0].id for key, rows in everything.items() if rows
    }
