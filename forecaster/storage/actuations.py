"""Repository functions for the actuation audit trail (``GET /v1/services/{name}/actuations``).

Every push and every dry run leaves one row per target: what the target held before, what it
holds after (or would, for a dry run), the plan it came from, and how it ended.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from forecaster.storage.orm import Actuation


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
