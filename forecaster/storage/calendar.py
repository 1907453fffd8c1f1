"""Repository functions for a service's declared events and excluded windows.

The events/exclusions API routes and CLI commands write here; the train job reads both
(``forecaster.training.train``): exclusions blank the history, events become model inputs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from forecaster.errors import InvalidInputError, NotFoundError
from forecaster.storable_text import UNSTORABLE, unstorable_in
from forecaster.storage.inserts import insert_if_absent
from forecaster.storage.orm import Event, Exclusion
from forecaster.timeutil import utc_within_years

MAX_MULTIPLIER = 1_000.0
MIN_MULTIPLIER = 1 / MAX_MULTIPLIER  # as far below ordinary load as the maximum is above


NAME_MAX_LENGTH, REASON_MAX_LENGTH = 128, 500  # the columns' widths


def _window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """Validated UTC ``[start, end)``; naive times are taken as UTC. The API's schemas check
    the same, and the CLI comes here directly: it stored what the API refused."""
    start, end = utc_within_years(start), utc_within_years(end)
    if end <= start:
        raise InvalidInputError(
            f"end ({end.isoformat()}) must be after start ({start.isoformat()})"
        )
    return start, end


def add_event(
    *,
    session: Session,
    service_id: int,
    name: str,
    start: datetime,
    end: datetime,
    multiplier: float | None = None,
) -> tuple[Event, bool]:
    """Declare an event; ``multiplier`` is the expected load factor (2.0 = twice the usual).

    The same name over the same window again is the same event, its multiplier replaced
    (returned with False: nothing added). As two rows the two multipliers compounded, so a
    client retrying a declaration after a timeout doubled the event's effect."""
    start, end = _window(start, end)
    if not name.strip() or len(name.strip()) > NAME_MAX_LENGTH:
        raise InvalidInputError(f"event name must be 1 to {NAME_MAX_LENGTH} characters")
    if unstorable_in(name) is not None:
        raise InvalidInputError(f"event name: {UNSTORABLE}")
    if multiplier is not None and not MIN_MULTIPLIER <= multiplier <= MAX_MULTIPLIER:
        raise InvalidInputError(
            f"multiplier must be in [{MIN_MULTIPLIER:g}, {MAX_MULTIPLIER:g}], got {multiplier}"
        )
    window = {"service_id": service_id, "name": name.strip(), "start": start, "end": end}
    return _declared(session, Event, window, {"multiplier": multiplier})


Row = TypeVar("Row", Event, Exclusion)


def _declared(
    session: Session, table: type[Row], window: dict[str, Any], values: dict[str, Any]
) -> tuple[Row, bool]:
    """The row of ``window`` with ``values``, and whether this call inserted it: a row already
    stored gets ``values`` instead (the unique index decides, so two declarations sent at once
    make one row); its service deleted meanwhile is NotFoundError, as if never there."""
    kind = table.__tablename__.removesuffix("s")
    created = insert_if_absent(
        session=session,
        table=table,
        rows=[window | values],
        key=[*window],
        owner_gone=f"the service was deleted while the {kind} was stored; nothing was stored",
    )
    row = session.execute(
        select(table).where(*(getattr(table, column) == value for column, value in window.items()))
    ).scalar_one()
    for column, value in values.items():
        setattr(row, column, value)
    session.flush()
    return row, created == 1


def list_events(*, session: Session, service_id: int) -> list[Event]:
    """A service's events, by start time."""
    return list(
        session.execute(
            select(Event).where(Event.service_id == service_id).order_by(Event.start, Event.id)
        ).scalars()
    )


def delete_event(*, session: Session, service_id: int, event_id: int) -> None:
    """Remove one event of a service, or NotFoundError naming it."""
    event = session.get(Event, event_id)
    if event is None or event.service_id != service_id:
        raise NotFoundError(f"event {event_id} does not exist for this service")
    session.delete(event)


def add_exclusion(
    *, session: Session, service_id: int, start: datetime, end: datetime, reason: str = ""
) -> tuple[Exclusion, bool]:
    """Mark a window (incident, outage, load test) whose samples training must ignore. The
    same window again is the same exclusion, its reason replaced (returned with False)."""
    start, end = _window(start, end)
    if len(reason.strip()) > REASON_MAX_LENGTH:
        raise InvalidInputError(f"reason must be at most {REASON_MAX_LENGTH} characters")
    if unstorable_in(reason) is not None:
        raise InvalidInputError(f"reason: {UNSTORABLE}")
    window = {"service_id": service_id, "start": start, "end": end}
    return _declared(session, Exclusion, window, {"reason": reason.strip()})


def list_exclusions(*, session: Session, service_id: int) -> list[Exclusion]:
    """A service's excluded windows, by start time."""
    return list(
        session.execute(
            select(Exclusion)
            .where(Exclusion.service_id == service_id)
            .order_by(Exclusion.start, Exclusion.id)
        ).scalars()
    )


def delete_exclusion(*, session: Session, service_id: int, exclusion_id: int) -> None:
    """Remove one excluded window of a service, or NotFoundError naming it."""
    exclusion = session.get(Exclusion, exclusion_id)
    if exclusion is None or exclusion.service_id != service_id:
        raise NotFoundError(f"exclusion {exclusion_id} does not exist for this service")
    session.delete(exclusion)
