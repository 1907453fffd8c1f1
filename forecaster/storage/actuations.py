"""Read the actuation audit log: what was pushed where, when, and how it ended.

Actuators write these records; the dashboard and the API read them here.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from forecaster.storage.orm import Actuation


def list_actuations(*, session: Session, service_id: int, limit: int = 50) -> list[Actuation]:
    """A service's most recent actuations, newest first."""
    return list(
        session.execute(
            select(Actuation)
            .where(Actuation.service_id == service_id)
            .order_by(Actuation.created_at.desc(), Actuation.id.desc())
            .limit(limit)
        ).scalars()
    )


def last_actuations(*, session: Session, service_ids: list[int]) -> dict[int, Actuation]:
    """Each service's newest actuation, keyed by service id (services with none are absent)."""
    if not service_ids:
        return {}
    newest = (
        select(func.max(Actuation.id))
        .where(Actuation.service_id.in_(service_ids))
        .group_by(Actuation.service_id)
    )
    rows = session.execute(select(Actuation).where(Actuation.id.in_(newest))).scalars()
    return {row.service_id: row for row in rows}
