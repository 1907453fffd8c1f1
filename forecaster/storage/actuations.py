"""Repository functions for the actuation audit trail (``GET /v1/services/{name}/actuations``).

Every push and every dry run leaves one row per target: what the target held before, what it
holds after (or would, for a dry run), the plan it came from, and how it ended. Actuators
write them; the API and the dashboard read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session, aliased

from forecaster.storage.chunks import rows_in_chunks
from forecaster.storage.orm import Actuation, Service
from forecaster.telemetry import ACTUATIONS


def record_actuation(
    *,
    session: Session,
    service_id: int,
    plan_id: int | None,
    target: str,
    kind: str,
    dry_run: bool,
    outcome: str,
    before: dict[str, Any],
    after: dict[str, Any],
    error: str | None,
    actor: str,
) -> Actuation:
    """Store one actuation record; ``after`` also carries the window, notes and attempts."""
    row = Actuation(
        service_id=service_id,
        plan_id=plan_id,
        target=target[:256],
        kind=kind,
        dry_run=dry_run,
        before=before,
        after=after,
        outcome=outcome,
        error=error,
        actor=actor[:128],
    )
    session.add(row)
    session.flush()
    # a dry run pushed nothing: counted as "applied" it showed pushes that never happened
    ACTUATIONS.labels(kind=kind, outcome="dry_run" if dry_run else outcome).inc()
    return row


def list_actuations(
    *, session: Session, service_id: int, limit: int = 100, outcome: str | None = None
) -> list[Actuation]:
    """A service's actuations, newest first."""
    query = (
        select(Actuation)
        .where(Actuation.service_id == service_id)
        .order_by(Actuation.id.desc())
        .limit(limit)
    )
    if outcome is not None:
        query = query.where(Actuation.outcome == outcome)
    return list(session.execute(query).scalars())


def latest_failure(
    *, session: Session, service_id: int, kind: str, target: str | None, since: datetime
) -> Actuation | None:
    """A service's newest failed push to ``target`` (any of its ``kind`` when None) since
    ``since``, not a dry run: why a target removed from its profile is not restored yet."""
    query = (
        select(Actuation)
        .where(
            Actuation.service_id == service_id,
            Actuation.kind == kind,
            Actuation.outcome == "failed",
            Actuation.dry_run.is_(False),
            Actuation.created_at >= since,
        )
        .order_by(Actuation.id.desc())
        .limit(1)
    )
    if target is not None:
        query = query.where(Actuation.target == target)
    return session.execute(query).scalars().first()


def last_actuations(*, session: Session, service_ids: list[int]) -> dict[int, Actuation]:
    """Each service's newest actuation, keyed by service id (services with none are absent),
    in a query per :data:`~forecaster.storage.chunks.ID_CHUNK` services."""
    rows = rows_in_chunks(
        session=session, items=service_ids, query=_last_actuations_query, id_list=True
    )
    return {row.service_id: row for (row,) in rows}


def _last_actuations_query(service_ids: list[int]) -> Select[Actuation]:
    """:func:`last_actuations`' read of some services: one probe of the (service, id) index
    each, where a ``max`` grouped by service read every record of them."""
    its = aliased(Actuation)
    newest = select(func.max(its.id)).where(its.service_id == Service.id).correlate(Service)
    return (
        select(Actuation)
        .join(Service, Actuation.id == newest.scalar_subquery())
        .where(Service.id.in_(service_ids))
    )


def latest_pushes_of(*, session: Session, targets: Mapping[int, int]) -> dict[int, list[Actuation]]:
    """The records of each service's latest pass (id: how many targets it has), newest first:
    a pass leaves one record per target, so its newest ``targets`` records that were not dry
    runs (a dry run says what a push would do, not how the last one went). One read for all
    (one per :data:`~forecaster.storage.chunks.CHUNK` services)."""
    found: dict[int, list[Actuation]] = {service_id: [] for service_id in targets}
    wanted = {service_id: count for service_id, count in targets.items() if count > 0}
    if not wanted:
        return found
    rows = rows_in_chunks(session=session, items=wanted.items(), query=_pushes_query)
    for (row,) in rows:  # newest first: each service's deepest pass of its chunk, cut to its own
        if len(found[row.service_id]) < wanted[row.service_id]:
            found[row.service_id].append(row)
    return found


def _pushes_query(targets: list[tuple[int, int]]) -> Select[Actuation]:
    """:func:`latest_pushes_of`' read of some services (id: how many records), newest first:
    each one's newest records, as many as the most any of them wants, from an index range
    that starts at the oldest of them (numbering every record of theirs took seconds at
    20,000 records a service)."""
    deepest = max(count for _, count in targets)
    its = aliased(Actuation)
    oldest = (
        select(its.id)
        .where(its.service_id == Service.id, its.dry_run.is_(False))
        .order_by(its.id.desc())
        .limit(1)
        .offset(deepest - 1)
        .correlate(Service)
        .scalar_subquery()
    )
    since = (
        select(Service.id.label("service_id"), func.coalesce(oldest, 0).label("id"))
        .where(Service.id.in_([service_id for service_id, _ in targets]))
        .subquery()
    )
    return (
        select(Actuation)
        .join(since, (Actuation.service_id == since.c.service_id) & (Actuation.id >= since.c.id))
        .where(Actuation.dry_run.is_(False))
        .order_by(Actuation.id.desc())
    )


def prune_unchanged_actuations(*, session: Session, before: datetime) -> int:
    """Delete ``unchanged`` records older than ``before``: each says only that a check (every
    five minutes) found the target as planned. Changes, restores and failures are kept."""
    result = session.execute(
        delete(Actuation).where(Actuation.outcome == "unchanged", Actuation.created_at < before)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
