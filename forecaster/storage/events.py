"""Read declared events and excluded windows of a service (the dashboard shows both).

Events change expected load (launches, campaigns); exclusions are windows training ignores
(incidents, outages). Writing them belongs to the forecasting engine's API and CLI.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from forecaster.storage.orm import Event, Exclusion


def list_events(*, session: Session, service_id: int) -> list[Event]:
    """A service's declared events, earliest first."""
    return list(
        session.execute(
            select(Event).where(Event.service_id == service_id).order_by(Event.start, Event.id)
        ).scalars()
    )


def list_exclusions(*, session: Session, service_id: int) -> list[Exclusion]:
    """A service's excluded windows, earliest first."""
    return list(
        session.execute(
            select(Exclusion)
            .where(Exclusion.service_id == service_id)
            .order_by(Exclusion.start, Exclusion.id)
        ).scalars()
    )
