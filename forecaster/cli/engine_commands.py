"""Forecasting-engine commands on the service's database: ``events``, ``exclusions`` and
``runs`` (the leaderboard of a service's latest training)."""

from __future__ import annotations

from datetime import datetime

import typer

from forecaster.cli.app import app, database_session, fail, say

events_app = typer.Typer(help="Declared events (launches, campaigns) a service's forecast uses.")
exclusions_app = typer.Typer(help="Windows (incidents, outages) a service's training ignores.")
app.add_typer(events_app, name="events")
app.add_typer(exclusions_app, name="exclusions")


def _moment(text: str, option: str) -> datetime:
    """An ISO-8601 time (naive is UTC) or epoch seconds, else a clear error."""
    import pandas as pd

    from forecaster.errors import quoted
    from forecaster.timeutil import parse_timestamps

    parsed = parse_timestamps(pd.Series([text])).iloc[0]
    if pd.isna(parsed):
        fail(f"{option}: cannot read time {quoted(text)}; use ISO-8601 like 2025-11-28T09:00Z")
    return pd.Timestamp(parsed).to_pydatetime()


@events_app.command("add")
def events_add(
    service: str = typer.Option(..., help="service the event affects"),
    name: str = typer.Option(..., help="event name; windows with one name share an effect"),
    start: str = typer.Option(..., help="start, ISO-8601 UTC"),
    end: str = typer.Option(..., help="end (exclusive), ISO-8601 UTC"),
    multiplier: float | None = typer.Option(None, help="expected load factor, e.g. 2.5"),
) -> None:
    """Declare an event for a service."""
    from forecaster.errors import ForecasterError
    from forecaster.storage.calendar import add_event
    from forecaster.storage.services import get_service

    begin, finish = _moment(start, "--start"), _moment(end, "--end")
    try:
        with database_session() as session:
            found = get_service(session=session, name=service)
            event, created = add_event(
                session=session,
                service_id=found.id,
                name=name,
                start=begin,
                end=finish,
                multiplier=multiplier,
            )
            say(f"event {event.id} {'added to' if created else 'updated on'} {service}")
    except ForecasterError as error:
        fail(str(error))


@events_app.command("list")
def events_list(service: str = typer.Option(..., help="service name")) -> None:
    """List a service's events."""
    from forecaster.errors import ForecasterError
    from forecaster.storage.calendar import list_events
    from forecaster.storage.services import get_service

    try:
        with database_session() as session:
            found = get_service(session=session, name=service)
            rows = list_events(session=session, service_id=found.id)
            say(f"{'id':>5s}  {'start':25s} {'end':25s} {'multiplier':>10s}  name")
            for e in rows:
                factor = "learned" if e.multiplier is None else f"{e.multiplier:g}"
                say(
                    f"{e.id:5d}  {e.start.isoformat():25s} {e.end.isoformat():25s} "
                    f"{factor:>10s}  {e.name}"
                )
    except ForecasterError as error:
        fail(str(error))


@events_app.command("remove")
def events_remove(
    event_id: int = typer.Argument(..., help="id from `forecaster events list`"),
    service: str = typer.Option(..., help="service name"),
) -> None:
    """Delete one event."""
    from forecaster.errors import ForecasterError
    from forecaster.storage.calendar import delete_event
    from forecaster.storage.services import get_service

    try:
        with database_session() as session:
            found = get_service(session=session, name=service)
            delete_event(session=session, service_id=found.id, event_id=event_id)
    except ForecasterError as error:
        fail(str(error))
    say(f"event {event_id} removed")


@exclusions_app.command("add")
def exclusions_add(
    service: str = typer.Option(..., help="service name"),
    start: str = typer.Option(..., help="start, ISO-8601 UTC"),
    end: str = typer.Option(..., help="end (exclusive), ISO-8601 UTC"),
    reason: str = typer.Option("", help="why, e.g. 'outage INC-123'"),
) -> None:
    """Exclude a window from a service's training."""
    from forecaster.errors import ForecasterError
    from forecaster.storage.calendar import add_exclusion
    from forecaster.storage.services import get_service

    begin, finish = _moment(start, "--start"), _moment(end, "--end")
    try:
        with database_session() as session:
            found = get_service(session=session, name=service)
            exclusion, created = add_exclusion(
                session=session, service_id=found.id, start=begin, end=finish, reason=reason
            )
            done = "added to" if created else "updated on"
            say(f"exclusion {exclusion.id} {done} {service}")
    except ForecasterError as error:
        fail(str(error))


@exclusions_app.command("list")
def exclusions_list(service: str = typer.Option(..., help="service name")) -> None:
    """List a service's excluded windows."""
    from forecaster.errors import ForecasterError
    from forecaster.storage.calendar import list_exclusions
    from forecaster.storage.services import get_service

    try:
        with database_session() as session:
            found = get_service(session=session, name=service)
            say(f"{'id':>5s}  {'start':25s} {'end':25s} reason")
            for x in list_exclusions(session=session, service_id=found.id):
                say(f"{x.id:5d}  {x.start.isoformat():25s} {x.end.isoformat():25s} {x.reason}")
    except ForecasterError as error:
        fail(str(error))


@exclusions_app.command("remove")
def exclusions_remove(
    exclusion_id: int = typer.Argument(..., help="id from `forecaster exclusions list`"),
    service: str = typer.Option(..., help="service name"),
) -> None:
    """Delete one excluded window."""
    from forecaster.errors import ForecasterError
    from forecaster.storage.calendar import delete_exclusion
    from forecaster.storage.services import get_service

    try:
        with database_session() as session:
            found = get_service(session=session, name=service)
            delete_exclusion(session=session, service_id=found.id, exclusion_id=exclusion_id)
    except ForecasterError as error:
        fail(str(error))
    say(f"exclusion {exclusion_id} removed")


@app.command()
def runs(service: str = typer.Option(..., help="service name")) -> None:
    """Leaderboard of a service's latest training (MASE, pinball, coverage, fit seconds)."""
    from forecaster.errors import ForecasterError, quoted
    from forecaster.storage.services import get_service, profile_of
    from forecaster.training.leaderboard import format_leaderboard
    from forecaster.training.service_data import driving_training_runs

    try:
        with database_session() as session:
            found = get_service(session=session, name=service)
            _, runs = driving_training_runs(
                session=session, service=found, profile=profile_of(found)
            )
            rows = [
                {
                    "model": run.model,
                    "status": run.status,
                    "champion": run.is_champion,
                    "message": run.message,
                    **(run.scores or {}),
                }
                for run in runs
            ]
    except ForecasterError as error:
        fail(str(error))
    if not rows:
        fail(f"service {quoted(service)} has no model runs yet; train it first")
    for line in format_leaderboard(rows):
        say(line)
