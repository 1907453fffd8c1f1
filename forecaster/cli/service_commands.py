"""Commands that work on the service's database: serve, demo, ingest, train, plan, status."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from forecaster.cli.app import (
    VALUE_COLUMN,
    app,
    clock_zone,
    database_to_open,
    fail,
    new_default_database,
    read_input,
    read_profile,
    say,
    status_printer,
    warn,
    writable,
    writing,
)

if TYPE_CHECKING:
    from forecaster.errors import ForecasterError
    from forecaster.settings import Settings
    from forecaster.storage.db import Database
    from forecaster.training.train import TrainResult


def open_to_anyone(host: str) -> str | None:
    """The warning for serving ``host`` without authentication, or None on loopback: the one
    wording of the demo and ``serve`` (which had said nothing with FORECASTER_AUTH_ENABLED=false
    on 0.0.0.0)."""
    from forecaster.security.network import loopback

    if loopback(host):
        return None
    return (
        f"serving on {host or 'every interface'} without authentication: whoever reaches the "
        "port can change services and profiles; keep it off shared networks"
    )


def _settings() -> Settings:
    from forecaster.settings import get_settings

    return get_settings()


def _run_server(
    host: str,
    port: int,
    auth_enabled: bool,
    database_url: str | None = None,
    run_scheduler: bool = False,
    workers: int = 1,
) -> None:
    import os
    import tempfile

    import uvicorn

    from api.app import create_app, tune_process_for_serving
    from forecaster.settings import load_settings
    from forecaster.storage.db import Database
    from forecaster.telemetry import MULTIPROCESS_DIR

    tune_process_for_serving()

    overrides: dict[str, object] = {"host": host, "port": port, "auth_enabled": auth_enabled}
    if run_scheduler:
        overrides["run_scheduler"] = True
    if database_url:
        overrides["database_url"] = database_url
    settings = load_settings(**overrides)
    if note := new_default_database(settings):  # a JSON line among the server's own
        logging.getLogger(__name__).warning(note)
    common: dict[str, object] = {
        "host": host,
        "port": port,
        "log_config": None,  # keep our JSON logging
        "timeout_graceful_shutdown": 30,  # SIGTERM: stop accepting, finish in-flight requests
    }
    if workers == 1:
        uvicorn.run(create_app(settings), **common)  # type: ignore[arg-type]
        return
    # migrate once, here: an unreachable database stops start-up with one line, not a
    # traceback per worker process, and the workers do not race to migrate
    database = Database(settings.database_url)
    try:
        database.migrate()
    finally:
        database.dispose()
    # worker processes build their own app from the environment: hand the settings down
    for name, value in overrides.items():
        os.environ[f"FORECASTER_{name.upper()}"] = str(value)
    # and a fresh folder where each keeps its metrics, for /metrics to sum whichever answers
    with tempfile.TemporaryDirectory(prefix="forecaster-metrics-") as metrics_dir:
        os.environ[MULTIPROCESS_DIR] = metrics_dir
        uvicorn.run("api.app:app_from_environment", factory=True, workers=workers, **common)  # type: ignore[arg-type]


@app.command()
def serve(
    host: str = typer.Option(None, help="address to listen on (default FORECASTER_HOST)"),
    # checked here: 0 fell back to FORECASTER_PORT silently, and 99999 was blamed on it
    port: int | None = typer.Option(None, min=1, max=65535, help="port (default FORECASTER_PORT)"),
    scheduler: bool = typer.Option(
        False, "--scheduler", help="also run the scheduled jobs in this process (one leads)"
    ),
    workers: int = typer.Option(1, min=1, max=64, help="server processes (one per core)"),
) -> None:
    """Serve the REST API (and dashboard) on the configured database."""
    from forecaster.logs import configure_logging

    configure_logging()  # before the settings are read: what they warn of is a JSON line too
    settings = _settings()
    host = host or settings.host
    if not settings.auth_enabled and (warning := open_to_anyone(host)):
        logging.getLogger(__name__).warning("FORECASTER_AUTH_ENABLED=false: %s", warning)
    _run_server(
        host,
        settings.port if port is None else port,
        settings.auth_enabled,
        run_scheduler=scheduler or settings.run_scheduler,
        workers=workers,
    )


def _check_port_free(host: str, port: int) -> None:
    """Refuse a port already taken before anything is prepared: a second demo had recreated
    the first one's database under it, then pointed at it, then failed to bind."""
    import socket

    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        fail(f"cannot serve on {host}: {error.strerror}")
    family, kind, proto, _, address = found[0]
    with socket.socket(family, kind, proto) as probe:
        try:
            probe.bind(address)
        except OSError as error:
            fail(
                f"cannot serve on {host}:{port}: {error.strerror} (another demo or server?); "
                "pass --port"
            )


@app.command()
def demo(
    database: Path = typer.Option(
        Path("forecaster-demo.db"), help="SQLite file (recreated if an earlier demo's)"
    ),
    port: int = typer.Option(8000, min=1, max=65535, help="port to serve on"),
    host: str = typer.Option(
        "127.0.0.1", help="address to serve on: 0.0.0.0 in a container (there is no API key)"
    ),
    serve_api: bool = typer.Option(True, "--serve/--no-serve", help="serve the API afterwards"),
) -> None:
    """Load a real traffic trace into a fresh SQLite file, train, plan and serve the API."""
    from forecaster.demo import DEMO_SERVICE, not_a_demo_database, prepare_demo
    from forecaster.errors import quoted
    from forecaster.idle_priority import at_caller_priority

    if not host.strip():  # uvicorn takes "" for every interface, and the demo has no key
        fail("--host is empty: give an address (127.0.0.1 serves this machine alone)")
    if serve_api:  # before the file is recreated: it may be a running demo's
        _check_port_free(host, port)
    if database.is_dir():
        fail(f"--database {database} is a directory; give the SQLite file to create")
    if refused := not_a_demo_database(database):
        fail(
            f"--database {database} exists and is not an earlier demo's: {refused}; "
            "nothing deleted (give a new path, or delete the file yourself)"
        )
    say(f"preparing the demo in {database} (a fresh SQLite file) ...")
    with at_caller_priority():  # a person waits, and nothing is served yet
        result = prepare_demo(database)
    say(f"ingested {result.points} points of real traffic for service {quoted(DEMO_SERVICE)}")
    say(f"trained {result.train.model}; plan {result.train.plan_id} stored")
    if not serve_api:
        return
    shown = "127.0.0.1" if host in ("0.0.0.0", "localhost") else host
    base = f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"
    say("")
    say(f"open {base}/            dashboard")
    say(f"     {base}/docs        OpenAPI docs")
    say(f"     {base}/v1/services/{DEMO_SERVICE}/plan?horizon=6h")
    say(f"     {base}/v1/services/{DEMO_SERVICE}/forecast")
    warn(
        f"note: the demo is {open_to_anyone(host) or 'serving on loopback without authentication'}"
    )
    _run_server(host, port, auth_enabled=False, database_url=result.database_url)


@app.command()
def ingest(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="timestamp,value CSV"),
    service: str = typer.Option(..., help="service the points belong to"),
    metric: str = typer.Option("requests_per_second", help="metric name"),
    profile: Path | None = typer.Option(
        None,
        exists=True,
        help="create/update the service first, as PUT /v1/services does (a file without "
        "`enabled` keeps the stored state)",
    ),
    value_column: str | None = VALUE_COLUMN,
) -> None:
    """Store a CSV of points in the database, all or nothing."""
    from forecaster.errors import ForecasterError, quoted
    from forecaster.ingestion.batch import ingest_long_series
    from forecaster.offline import points_to_store
    from forecaster.profiles import load_service_profile
    from forecaster.storage.db import open_database
    from forecaster.storage.services import find_service, upsert_service
    from forecaster.training.replan import replan_after_store

    settings = _settings()
    stored = 0
    try:  # the layouts the offline commands read
        item, note = points_to_store(file, value_column, service=service, metric=metric)
    except (ForecasterError, ValueError) as error:
        fail(f"{error}; nothing stored")
    if note:
        say(f"note: {note}")
    try:
        with open_database(database_to_open(settings)) as database, database.session() as session:
            changed, disabled = None, False
            if profile is not None:
                # stored: strict, as PUT /v1/services is; no `enabled` keeps the stored state
                wanted, enabled = load_service_profile(profile)
                found, replaced = upsert_service(
                    session=session, name=service, profile=wanted, enabled=enabled
                )
                disabled = not found.enabled
            elif find_service(session=session, name=service) is None:  # the batch's own
                # refusal says "create it first", not that --profile is how this command does
                fail(
                    f"service {quoted(service)} does not exist; nothing stored: pass --profile "
                    "PROFILE.yaml to create it (or PUT /v1/services/NAME)"
                )
            stored = ingest_long_series(session=session, item=item, settings=settings).stored
            if profile is not None:
                changed = replan_after_store(
                    session=session,
                    service=found,
                    profile=wanted,
                    replaced=replaced,
                )
    except UnicodeEncodeError:  # a ValueError too: the entry point names the bytes
        raise
    except (ForecasterError, ValueError) as error:
        fail(str(error))
    if changed is not None:
        say(changed[1])
    say(f"stored {stored} points for {service} {metric}")
    if disabled:
        say(
            f"note: {service} is disabled: nothing trains, plans or actuates it "
            '(enabled: true in the profile, or PUT it with "enabled": true, turns it on)'
        )


@app.command()
def train(
    service: str | None = typer.Option(None, help="one service (default: every enabled one)"),
    model: str = typer.Option("auto", help="auto or a model name"),
) -> None:
    """Train, forecast and plan services now (the scheduler normally does this)."""
    from forecaster.errors import ForecasterError
    from forecaster.idle_priority import at_caller_priority
    from forecaster.jobs.tasks import train_recorded
    from forecaster.storage.db import open_database
    from forecaster.storage.services import enabled_service_names
    from forecaster.training.forecasting import unknown_model

    if problem := unknown_model(model):
        fail(problem)
    settings = _settings()
    # a person waits on this one-shot command: it runs at their priority (the scheduled
    # trainings of `forecaster worker` and the API yield the CPU to serving)
    with open_database(database_to_open(settings)) as database, at_caller_priority():
        if service is None:
            with database.session() as session:  # by name: a damaged row fails alone
                names = enabled_service_names(session=session)
        else:
            names = [service]
        if not names:  # it printed nothing, which read as a training that did nothing wrong
            say("nothing to train: no service is enabled (create one with PUT /v1/services/NAME)")
            return
        if model == "auto" and len(names) > 1:  # together: one global LightGBM learns from all
            results = train_recorded(database, names, settings)
        else:
            results = {name: _train_one(database, name, settings, model) for name in names}
    failed = 0
    for name in (name for name in names if name not in results):  # the pass left it alone
        say(f"{name}: left to its training already running (GET /v1/jobs?service={name})")
    for name, result in results.items():
        if isinstance(result, ForecasterError):
            warn(f"{name}: {result}")
            failed += 1
            continue
        note = f" ({result.message})" if result.message else ""
        where = f"; trained on {result.trained_on}" if result.trained_on else ""
        say(
            f"{name}: model {result.model}{note}; "
            f"forecast {result.forecast_id}, plan {result.plan_id}{where}"
        )
    if failed:
        raise typer.Exit(1)


def _train_one(
    database: Database, name: str, settings: Settings, model: str
) -> TrainResult | ForecasterError:
    """Train one service with the given model; its error is returned, not raised."""
    from forecaster.errors import ForecasterError
    from forecaster.jobs.tasks import train_on_demand
    from forecaster.storage.failures import DamagedValueError
    from forecaster.storage.services import damaged_service

    try:
        return train_on_demand(database, name, settings, model=model)
    except ForecasterError as error:
        return error
    except DamagedValueError as error:  # its row changed by hand: the others still train
        return damaged_service(name, error)


@app.command()
def plan(
    service: str | None = typer.Option(None, help="re-plan this service from its latest forecast"),
    input: Path | None = typer.Option(
        None, "--input", exists=True, dir_okay=False, help="offline: history CSV"
    ),
    profile: Path | None = typer.Option(
        None, exists=True, dir_okay=False, help="offline: profile YAML"
    ),
    horizon: str | None = typer.Option(
        None, help="offline: how far ahead (default: the profile's horizon_hours, else 24h)"
    ),
    output: Path | None = typer.Option(None, help="offline: plan CSV to write (- for stdout)"),
    freq: str | None = typer.Option(None, help="offline: resample to this step first"),
    model: str = typer.Option("auto", help="offline: auto or a model name"),
    value_column: str | None = VALUE_COLUMN,
) -> None:
    """Plan capacity: for a stored service (--service) or offline from a CSV (--input)."""
    from forecaster.errors import ForecasterError

    if input is not None:
        if profile is None or output is None:
            fail("offline planning needs --input, --profile and --output")
        from forecaster.offline import plan_file, write_plan_csv

        writable(output, inputs=(input, profile))
        try:
            series_file = read_input(input, value_column=value_column, freq=freq)
            scaling = read_profile(profile)
            zone = clock_zone(series_file, scaling.timezone, "set the profile's timezone")
            scaling = scaling.model_copy(update={"timezone": zone})
            if horizon is None:  # a profile that sets its horizon plans that far, as a service
                given = "horizon_hours" in scaling.model_fields_set
                horizon = f"{scaling.horizon_hours * 3600!r}s" if given else "24h"
            frame = plan_file(series_file, scaling, horizon=horizon, freq=freq, model=model)
        except (ForecasterError, ValueError) as error:
            fail(str(error))
        with writing(output) as handle:
            write_plan_csv(frame, handle, style=series_file.style)
        note = f" ({frame.attrs['message']})" if frame.attrs.get("message") else ""
        tell = status_printer(output)
        tell(f"model: {frame.attrs.get('model')}{note}")
        tell(f"wrote {len(frame)} steps to {output}; peak {int(frame['replicas'].max())} replicas")
        if frame.attrs.get("note"):
            warn(f"note: {frame.attrs['note']}")
        return
    if service is None:
        fail("give --service NAME, or --input/--profile/--output for offline planning")
    from forecaster.storage.db import open_database
    from forecaster.training.replan import plan_service

    settings = _settings()
    try:
        with open_database(database_to_open(settings)) as database:
            plan_id = plan_service(database, service)
    except ForecasterError as error:
        fail(str(error))
    say(f"{service}: plan {plan_id} stored")


@app.command()
def status(
    check: bool = typer.Option(
        False, "--check", help="exit 1 when any service has a warning (for cron or a probe)"
    ),
) -> None:
    """Where every service stands: mode, champion, load, floor in force, forecast age, warnings."""
    from forecaster.review.overview import summarize_services
    from forecaster.review.status import status_lines
    from forecaster.storage.db import open_database
    from forecaster.timeutil import utc_now

    now = utc_now()
    settings = _settings()
    max_age = settings.actuation_max_plan_age_seconds
    with open_database(database_to_open(settings)) as database, database.session() as session:
        summaries = summarize_services(session=session, now=now, max_plan_age_seconds=max_age)
    if not summaries:
        say("no services yet: forecaster ingest FILE --service NAME, or PUT /v1/services/NAME")
        return
    for line in status_lines(summaries, now=now):
        say(line)
    if check and any(summary.warnings for summary in summaries):
        raise typer.Exit(1)
