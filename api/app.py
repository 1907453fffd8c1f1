"""The FastAPI application factory: one app per database, migrated before it serves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.errors import install_error_handlers
from api.routes import engine, health, jobs, metrics, plans, services
from forecaster import __version__
from forecaster.settings import Settings, get_settings
from forecaster.storage.db import Database


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    """Build the app; migrations run now so the first request sees the current schema."""
    settings = settings or get_settings()
    database = database or Database(settings.database_url)
    database.migrate()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        database.dispose()

    app = FastAPI(
        title="forecaster",
        version=__version__,
        summary="Forecast inference traffic and plan replicas and GPUs ahead of demand.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = database
    install_error_handlers(app)
    for module in (health, metrics, services, plans, jobs, engine):
        app.include_router(module.router)
    return app
