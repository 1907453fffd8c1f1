"""What-if replays: ``POST /v1/simulations`` scores scaling policies on given or stored load."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from threading import BoundedSemaphore

import anyio.from_thread
from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.deps import DatabaseDep, SettingsDep
from api.json_route import Utf8JsonRoute
from api.refusals import refusals
from api.schemas import SimulationCreate, SimulationPublic
from forecaster.errors import InvalidInputError
from forecaster.planning.plot import render_svg
from forecaster.planning.policies import ForecastSettings
from forecaster.planning.simulate import (
    PreparedReplay,
    SimulationBudget,
    SimulationOptions,
    prepare,
)
from forecaster.planning.whatif import points_file, service_history
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.training.forecasting import unknown_model

router = APIRouter(prefix="/v1/simulations", tags=["simulations"], route_class=Utf8JsonRoute)


@router.post("", response_model=SimulationPublic, responses=refusals(404, 409, 429))
async def post_simulation(
    body: SimulationCreate, request: Request, database: DatabaseDep, settings: SettingsDep
) -> SimulationPublic | Response:
    """Replay load under static, reactive, predictive and oracle scaling; score each policy.

    The request is checked (and a stored service's history read) before a replay slot is
    taken: a bad request gets its 404 or 422 even while every slot is busy."""
    replay = await run_in_threadpool(_prepare, body, request, database, settings)
    with _slot(request.app.state.simulation_slots, settings.simulation_max_running):
        try:
            return await run_in_threadpool(_answer, replay, body.plot)
        except ClientGoneError:
            return Response(status_code=CLIENT_CLOSED_REQUEST)


CLIENT_CLOSED_REQUEST = 499  # nginx's status for a request its client abandoned; never read


class ClientGoneError(Exception):
    """The client hung up: the replay it asked for is no longer wanted."""


def _prepare(
    body: SimulationCreate, request: Request, database: Database, settings: Settings
) -> PreparedReplay:
    """The replay the body asks for, checked, in a worker thread (it reads the database and
    puts the load on the replay grid). While it runs, the replay asks the event loop before
    each forecast whether the client is still there, and stops if not: a replay takes up to a
    minute or two of a core, and nobody would read the answer."""

    def stop_if_client_gone(done: int, total: int) -> None:
        if anyio.from_thread.run(request.is_disconnected):
            raise ClientGoneError

    if problem := unknown_model(body.model):  # what `forecaster simulate --model` takes
        raise InvalidInputError(problem)
    if body.service is not None:
        with database.session() as session:  # read, then replay without holding the database
            load, profile = service_history(session=session, name=body.service, days=body.days)
        profile = body.profile or profile
    else:
        assert body.points is not None and body.profile is not None  # checked by the schema
        given = points_file(body.points)  # on the clock its offsets follow, as the CLI reads it
        load, (profile, _) = given.points, given.on_its_clock(body.profile)
    options = SimulationOptions(
        tick_seconds=body.tick_seconds,
        train_fraction=body.train_fraction,
        max_replay_days=body.max_replay_days,
        policies=tuple(body.policies),
        equal_spend=body.equal_spend,
        forecast=ForecastSettings(
            model=body.model,
            replan_seconds=body.replan_seconds,
            refit_seconds=body.refit_seconds,
            update=body.update,
        ),
        budget=SimulationBudget(
            max_forecasts=settings.simulation_max_forecasts,
            max_tick_steps=settings.simulation_max_tick_steps,
            max_refits=settings.simulation_max_refits,
        ),
        progress=stop_if_client_gone,
    )
    return prepare(load, profile, options)


def _answer(replay: PreparedReplay, plot: bool) -> SimulationPublic:
    """The replay run and reported, in a worker thread."""
    result = replay.run()
    return SimulationPublic(**result.report(), svg=render_svg(result) if plot else None)


@contextmanager
def _slot(slots: BoundedSemaphore, most: int) -> Iterator[None]:
    """One of the app's simulation slots for the replay, or a 429 when all are taken: a replay
    takes up to a minute or two of a core."""
    if not slots.acquire(blocking=False):
        raise HTTPException(
            status_code=429,
            detail=f"{most} simulations are replaying (FORECASTER_SIMULATION_MAX_RUNNING); "
            "retry when one has finished",
            headers={"Retry-After": "30"},
        )
    try:
        yield
    finally:
        slots.release()
