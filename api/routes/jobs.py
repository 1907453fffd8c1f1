"""Job-run history: what the scheduler (or a person) ran, when, and how it ended."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request

from api.deps import SessionDep
from api.schemas import JobRunPublic, JobRunsPublic
from forecaster.errors import InvalidInputError, listing, quoted
from forecaster.storable_text import StorableStr
from forecaster.storage.jobs import RECORDED_AS, RECORDED_JOBS, list_job_runs
from forecaster.storage.services import SERVICE_NAME_MAX_LENGTH

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

FILTERS = ("job", "service", "status", "limit")


@router.get("", response_model=JobRunsPublic)
def get_jobs(
    request: Request,
    session: SessionDep,
    job: StorableStr | None = Query(default=None, max_length=64),
    service: StorableStr | None = Query(default=None, max_length=SERVICE_NAME_MAX_LENGTH),
    status: Literal["running", "ok", "failed"] | None = Query(default=None),
    limit: int = Query(default=100, ge=1, le=1000),
) -> JobRunsPublic:
    """Recent job runs, newest first, of one ``job``, one ``service`` and one ``status`` when
    given (a scheduler job id that records its runs under another name, such as
    ``train-resume``, reads that name's). Any other parameter is refused: ``?service=`` was
    ignored once, and an answer that looked filtered was not."""
    if unknown := sorted(set(request.query_params) - set(FILTERS)):
        raise InvalidInputError(
            f"unknown query parameter {listing(map(quoted, unknown))}; /v1/jobs takes "
            f"{listing(FILTERS)}"
        )
    if job is not None:
        job = RECORDED_AS.get(job, job)
        if job not in RECORDED_JOBS:  # a typo read as "no runs" looked like a job never run
            raise InvalidInputError(
                f"no job is named {quoted(job)}; jobs are {listing(RECORDED_JOBS)}"
            )
    runs = [
        JobRunPublic.model_validate(run, from_attributes=True)
        for run in list_job_runs(
            session=session, limit=limit, job=job, service=service, status=status
        )
    ]
    return JobRunsPublic(data=runs, count=len(runs))
