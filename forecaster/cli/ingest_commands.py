"""Run the ingestion jobs once from the command line: ``forecaster pull`` and
``forecaster retention`` (the scheduler runs the same functions on a timer)."""

from __future__ import annotations

import typer

from forecaster.cli.app import app, database_to_open, fail, say, warn


@app.command()
def pull(
    service: str | None = typer.Option(None, help="one service (default: every enabled one)"),
    prometheus_url: str | None = typer.Option(
        None, help="Prometheus base URL (default FORECASTER_PROMETHEUS_URL)"
    ),
) -> None:
    """Pull the services' Prometheus queries now: backfill on first run, then only what is new."""
    from forecaster.errors import ForecasterError
    from forecaster.ingestion.prometheus import pull_prometheus
    from forecaster.logs import without_password
    from forecaster.settings import get_settings, prometheus_url_problem
    from forecaster.storage.db import open_database

    settings = get_settings()
    if prometheus_url is not None:  # checked as FORECASTER_PROMETHEUS_URL is
        if problem := prometheus_url_problem(prometheus_url):
            fail(f"--prometheus-url {without_password(prometheus_url)!r}: {problem}")
        settings = settings.model_copy(update={"prometheus_url": prometheus_url})
    with open_database(database_to_open(settings)) as database:
        try:
            summary = pull_prometheus(database, settings, service=service)
        except ForecasterError as error:
            fail(str(error))
    if not summary.sources:
        say("no service has prometheus queries in its profile; nothing to pull")
    for source in summary.sources:
        line = f"{source.service} {source.metric}: {source.stored} points in {source.chunks} chunks"
        if source.skipped_not_load:
            line += (
                f" ({source.skipped_not_load} values skipped as not load: NaN, infinite, "
                "negative or above 1e15)"
            )
        if source.ignored_series:
            line += (
                f" ({source.ignored_series} series, {source.ignored_samples} points ignored for "
                f"their labels, e.g. {source.ignored_example})"
            )
        if source.error:
            warn(f"{line}; stopped: {source.error}")
        else:
            say(line)
    if summary.failed:
        raise typer.Exit(1)


@app.command()
def retention(
    raw_days: float | None = typer.Option(
        None, help="keep raw points this many days (default FORECASTER_RETENTION_RAW_DAYS)"
    ),
) -> None:
    """Roll old raw points up to each service's step; delete old job runs, 'unchanged'
    actuation records, forecasts, plans and model runs not in use (FORECASTER_RETENTION_RAW_DAYS,
    FORECASTER_RETENTION_RECORDS_DAYS, FORECASTER_RETENTION_FORECAST_DAYS)."""
    from forecaster.ingestion.retention import apply_retention
    from forecaster.settings import MAX_DAYS, get_settings
    from forecaster.storage.db import open_database

    settings = get_settings()
    if raw_days is not None:
        if not 0 < raw_days <= MAX_DAYS:  # nan and inf fail this too
            fail(f"--raw-days must be a positive number of days, at most {MAX_DAYS}")
        settings = settings.model_copy(update={"retention_raw_days": raw_days})
    from forecaster.jobs.housekeeping import prune_records

    with open_database(database_to_open(settings)) as database:
        summary = apply_retention(database, settings)
        pruned = prune_records(database, settings)
    for item in summary.services:
        if item.error:
            warn(f"{item.service}: retention failed, nothing changed ({item.error})")
            continue
        say(
            f"{item.service}: {item.deleted} raw points rolled up into {item.buckets} "
            f"{item.step_seconds}s buckets"
        )
    say(
        f'deleted {pruned.job_runs} job runs and {pruned.unchanged_actuations} "unchanged" '
        f"actuation records older than {settings.retention_records_days:g} days"
    )
    say(
        f"deleted {pruned.forecasts} forecasts, {pruned.plans} plans and {pruned.model_runs} "
        f"model runs older than {settings.retention_forecast_days:g} days and no longer in use"
    )
    if any(item.error for item in summary.services):
        raise typer.Exit(1)
