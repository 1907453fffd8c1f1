"""The FastAPI application factory: one app per database, migrated before it serves."""

from __future__ import annotations

import asyncio
import re
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from api.auth import KeyCheckMiddleware
from api.errors import install_error_handlers
from api.middleware import BodySizeLimitMiddleware, HeadAsGetMiddleware, RequestContextMiddleware
from api.refusals import document_message_details, document_refusals
from api.routes import (
    actuations,
    dashboard,
    engine,
    health,
    jobs,
    keda,
    metrics,
    plans,
    remote_write,
    review,
    services,
    simulations,
    telemetry,
)
from forecaster import __version__
from forecaster.settings import Settings, get_settings, load_settings
from forecaster.storage.db import Database


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    """Build the app; migrations run now so the first request sees the current schema."""
    settings = settings or get_settings()
    database = database or Database(
        settings.database_url, pool_timeout=settings.database_pool_timeout_seconds
    )
    database.migrate()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        scheduler = None
        if settings.run_scheduler:  # serve --scheduler: jobs run here when this process leads
            from forecaster.jobs.scheduler import JobScheduler

            scheduler = JobScheduler(database, settings)
            scheduler.start()
        app.state.scheduler = scheduler
        yield
        if scheduler is not None:  # waits for running jobs, then releases the leader lock
            await asyncio.to_thread(scheduler.stop)
        database.dispose()

    app = FastAPI(
        title="forecaster",
        version=__version__,
        summary="Forecast inference traffic and plan replicas and GPUs ahead of demand.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.simulation_slots = threading.BoundedSemaphore(settings.simulation_max_running)
    app.state.database = database
    install_error_handlers(app)
    app.add_middleware(KeyCheckMiddleware)  # before anything reads the body
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(RequestContextMiddleware)  # outermost: ids and logs cover everything
    routers = [
        module.router
        for module in (
            health,
            telemetry,
            metrics,
            remote_write,
            services,
            plans,
            jobs,
            review,
            engine,
            simulations,
            dashboard,
            actuations,
            keda,
        )
    ]
    for router in routers:
        summarise_routes_from_docstrings(router)
        document_refusals(router)
        app.include_router(router)
    # what a 405's Allow header lists (api/errors.py)
    app.state.api_routes = [
        route for router in routers for route in router.routes if isinstance(route, APIRoute)
    ]
    app.mount(dashboard.STATIC_PREFIX, dashboard.static_files, name="dashboard-static")
    document_message_details(app)
    return app


def summarise_routes_from_docstrings(router: APIRouter) -> None:
    """Give each operation the first clause of its route's docstring as its OpenAPI summary.

    FastAPI otherwise titles the function name ("Post Metrics Csv"); the docstring says what
    the route does and stays the operation's description.
    """
    for route in router.routes:
        if isinstance(route, APIRoute) and route.summary is None and route.description:
            first_line = route.description.strip().splitlines()[0]
            route.summary = re.split(r"[.:;] ", first_line.rstrip(". "), maxsplit=1)[0]


# Python hands the GIL over every 5 ms by default: a sync route parsing a large ingest batch in
# a worker thread then stalls every plan query on the event loop. 0.5 ms cut plan p99 under
# mixed load from 87 ms to 23 ms (scripts/bench_load.py) for no throughput loss.
GIL_SWITCH_INTERVAL_SECONDS = 0.0005


def tune_process_for_serving() -> None:
    """Set up a process that will serve requests: JSON logs, short GIL switch interval."""
    from forecaster.logs import configure_logging

    configure_logging()
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_SECONDS)


def app_from_environment() -> FastAPI:
    """Factory for ``forecaster serve --workers N``: each worker process tunes itself and
    builds its app from ``FORECASTER_*`` variables."""
    tune_process_for_serving()
    return create_app(load_settings())
