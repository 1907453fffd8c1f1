"""Repository functions for services and their scaling profiles."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from forecaster.actuators.retired import (
    given_up_at,
    recorded_label,
    retire_removed,
    retired_at,
    retired_target,
)
from forecaster.errors import (
    InUseError,
    InvalidInputError,
    NotFoundError,
    NotReadyError,
    quoted,
    validation_problems,
)
from forecaster.profiles import STORED, ActuationTarget, ScalingProfile, shared_object
from forecaster.storage.actuations import latest_failure
from forecaster.storage.db import hold_until_commit, write_lock_now
from forecaster.storage.failures import DAMAGED_DATA, DamagedValueError
from forecaster.storage.inserts import insert_if_absent
from forecaster.storage.orm import JobRun, Series, Service
from forecaster.timeutil import utc_now

# what every route's {name} accepts: a name that needs no escaping in a URL, a label or a file
SERVICE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
SERVICE_NAME_MAX_LENGTH = 128
# the PostgreSQL advisory lock every profile write holds while it checks and claims targets
TARGET_CLAIMS_LOCK = "forecaster-target-claims"

log = logging.getLogger(__name__)


def check_service_name(name: str) -> None:
    """Refuse a name the API could not address, so no command creates a service it cannot reach."""
    if len(name) > SERVICE_NAME_MAX_LENGTH or not re.fullmatch(SERVICE_NAME_PATTERN, name):
        raise InvalidInputError(
            f"service name {quoted(name)} is not allowed: use letters, digits, '_', '.' and '-',"
            f" starting with a letter or digit, at most {SERVICE_NAME_MAX_LENGTH} characters"
        )


@dataclass(frozen=True)
class Replaced:
    """What a profile write replaced, read under its lock: the profile, and whether the
    service was enabled (read before the lock, a write committed meanwhile was missed)."""

    profile: ScalingProfile
    was_enabled: bool


def upsert_service(
    *, session: Session, name: str, profile: ScalingProfile, enabled: bool | None = None
) -> tuple[Service, Replaced | None]:
    """Create or replace a service's profile; returns the service and what it replaced
    (None when this call created it). Of concurrent creates of one name, one creates it and the
    others replace its profile, each told which one it replaced. Targets the new profile drops
    are kept as retired, for the actuation pass to restore (:mod:`forecaster.actuators.retired`).
    ``enabled`` None keeps the stored state (a new service is enabled): a profile file that
    does not say had turned a service an operator disabled back on.
    """
    check_service_name(name)
    hold_target_claims(session)
    check_targets_free(session=session, name=name, profile=profile)
    document = profile.model_dump(mode="json")
    row = {"name": name, "profile": document, "enabled": enabled is not False}
    created, service = _inserted_or_locked(session=session, name=name, row=row)
    if created:
        return service, None
    was_enabled = service.enabled
    try:
        previous = profile_of(service)
    except NotReadyError:  # stored before a rule tightened: this PUT is how it is corrected
        # unequal to any valid profile, so the caller re-plans as for a changed one
        previous = ScalingProfile.model_construct(**service.profile)
    before = stored_targets(service)
    service.profile = document
    if enabled is not None:
        service.enabled = enabled
    service.retired_targets = retire_removed(
        service.retired_targets, before=before, after=profile.targets, now=utc_now()
    )
    session.flush()
    return service, Replaced(previous, was_enabled)


# inserts of a service's row that a DELETE committing before its lock can undo: once is a
# race, three times in a row a bug
INSERT_ATTEMPTS = 3


def _inserted_or_locked(
    *, session: Session, name: str, row: dict[str, object]
) -> tuple[bool, Service]:
    """Insert service ``name``'s row unless there is one, then lock it (its retired list is
    rewritten): whether this call created it, and the row. On PostgreSQL a row a DELETE has
    not committed yet counts as there, and once it commits the lock finds none: the insert is
    tried again, as the service is gone (a PUT answered 404 "create it with PUT")."""
    for _ in range(INSERT_ATTEMPTS):
        created = insert_if_absent(session=session, table=Service, rows=[row], key=["name"]) == 1
        write_lock_now(session)
        service = find_service(session=session, name=name, for_update=True, key_share=True)
        if service is not None:
            return created, service
    return False, locked_service(session=session, name=name)  # NotFoundError naming it


def hold_target_claims(session: Session) -> None:
    """Hold, until the transaction ends, the lock under which a profile write checks and
    claims its targets: two writes claiming one object for two services each read the
    other's claim as not there yet, and both passed :func:`check_targets_free`. SQLite: its
    one write lock; PostgreSQL: an advisory lock every profile write takes (row locks
    cannot guard a claim on a row another service has not written yet)."""
    if session.get_bind().dialect.name == "sqlite":
        write_lock_now(session)
    else:
        hold_until_commit(session, TARGET_CLAIMS_LOCK)


def check_targets_free(*, session: Session, name: str, profile: ScalingProfile) -> None:
    """Refuse a profile of service ``name`` with a target on an object another service's
    target already scales: at every pass each would write its own floor (8, then 3, then 8),
    every record saying "applied". InUseError names the other service and its target.
    Run under :func:`hold_target_claims`, or a claim committed meanwhile is missed."""
    if not profile.targets:
        return
    # as stored now, not as this session loaded them: the claim is checked under its lock
    query = select(Service).where(Service.name != name).order_by(Service.name)
    others = session.execute(query.execution_options(populate_existing=True)).scalars()
    for other in others:
        shared = shared_object(profile.targets, stored_targets(other))
        if shared:
            held, wanted = shared
            raise InUseError(
                f"target {wanted.described} scales the object that service {quoted(other.name)}"
                f" already scales with its target {held.described}: both would write it at "
                f"every pass, each its own floor; take it out of {quoted(other.name)} first"
            )


def find_service(
    *, session: Session, name: str, for_update: bool = False, key_share: bool = False
) -> Service | None:
    """The service called ``name``, if there is one; ``for_update`` holds its row until the
    transaction ends (PostgreSQL; SQLite ignores it, see ``replan.planning_profile``) and
    reads it as it is then, not as the session loaded it before (a PUT looks the service up
    before it locks it: the lock would otherwise guard values read without it).
    ``key_share``: as ``FOR NO KEY UPDATE``, the lock an UPDATE of the row takes, which lets
    rows naming the service (a new series, an actuation record) be inserted meanwhile."""
    query = select(Service).where(Service.name == name)
    if for_update:
        query = query.with_for_update(key_share=key_share)
        query = query.execution_options(populate_existing=True)
    return session.execute(query).scalar_one_or_none()


def locked_service(*, session: Session, name: str) -> Service:
    """The service called ``name`` (NotFoundError if none), held until the transaction ends,
    for a read-modify-write of its row (``retired_targets``): PostgreSQL locks the row, SQLite
    takes its one write lock before the read, which otherwise ran outside any transaction, so
    a write committed between it and ours was overwritten (a lost update). On PostgreSQL as
    an UPDATE holds it (``FOR NO KEY UPDATE``): ``FOR UPDATE`` also held back every insert of
    a row naming the service, and an ingest creating a series deadlocked with ``forecaster
    ingest --profile`` creating the same one."""
    write_lock_now(session)
    return get_service(session=session, name=name, for_update=True, key_share=True)


def get_service(
    *, session: Session, name: str, for_update: bool = False, key_share: bool = False
) -> Service:
    """The service called ``name``, or NotFoundError naming it (``for_update``, ``key_share``:
    as :func:`find_service`)."""
    service = find_service(session=session, name=name, for_update=for_update, key_share=key_share)
    if service is None:
        raise NotFoundError(
            f"service {quoted(name)} does not exist; create it with PUT /v1/services/{name}"
        )
    return service


def delete_service(*, session: Session, name: str) -> None:
    """Delete a service with everything stored for it (samples, model runs, forecasts, plans,
    events, exclusions, actuation records: the schema's cascades), so a mistyped one can go.

    Refused while forecaster may still hold an autoscaler above its baseline: a target in the
    profile, or one removed but not yet restored. Deleting then would leave that floor set for
    ever; dropping the targets first lets the actuation pass restore them.
    """
    service = get_service(session=session, name=name, for_update=True)
    # read as stored: a profile that no longer validates must not keep its service for ever
    held = [str(target.get("kind")) for target in service.profile.get("targets") or []]
    if held:
        raise InUseError(
            f"service {quoted(name)} still has autoscaler targets ({', '.join(held)}): PUT its "
            "profile without targets, let the actuation pass (every 5 min, or `forecaster "
            "actuate`) restore their baselines, then delete it"
        )
    if service.retired_targets:
        raise InUseError(
            f"service {quoted(name)} has targets removed from its profile whose baselines are "
            f"not restored yet: {'; '.join(_restoring(session, service))}. The actuation pass "
            "(every 5 min, or `forecaster actuate`) retries each until it is restored or given "
            "up, then the service can be deleted; fix what the error names to restore it sooner"
        )
    session.execute(delete(Service).where(Service.id == service.id))
    # its job records go too (they name it, not point at it); a run still going is kept to
    # record its outcome ("deleted while it trained"), which a service made again under the
    # name does not inherit (jobs.latest_failures)
    session.execute(delete(JobRun).where(JobRun.service == name, JobRun.status != "running"))


def _restoring(session: Session, service: Service) -> list[str]:
    """Each retired target of ``service`` as the refused DELETE names it: the object, how its
    latest restore failed, and when the pass gives up on it. The 409 told the operator to drop
    the targets, which they had done, and not that a failing restore held the service."""
    parts = []
    for entry in service.retired_targets:
        failed = latest_failure(
            session=session,
            service_id=service.id,
            kind=str(entry.get("kind")),
            target=recorded_label(entry),
            since=retired_at(entry),
        )
        if failed is None:
            label, state = retired_target(entry).described, "no restore tried yet"
        else:
            label, state = f"{failed.kind} {failed.target}", f"restore failed: {failed.error}"
        until = given_up_at(entry).isoformat(timespec="seconds")
        parts.append(f"{label} ({state}; given up at {until})")
    return parts


def list_services(*, session: Session) -> list[Service]:
    """All services, by name."""
    return list(session.execute(select(Service).order_by(Service.name)).scalars())


def damaged_service(name: str, error: DamagedValueError) -> NotReadyError:
    """A service whose stored row cannot be read, as that service's failure in a pass: its
    reason and what mends it. One such row had stopped every scheduled pass."""
    return NotReadyError(
        f"a stored value of service {quoted(name)} is damaged ({error}): {DAMAGED_DATA}"
    )


@dataclass(frozen=True)
class DamagedRow:
    """A service whose row does not load: whether it is enabled (a column that still reads),
    and its failure in words (:func:`damaged_service`)."""

    enabled: bool
    failure: NotReadyError


@dataclass(frozen=True)
class ServiceRows:
    """Every service, by name, as a pass or a listing reads them: the rows that load, and
    each whose row is damaged, by name."""

    loaded: list[Service]
    damaged: dict[str, DamagedRow]


def read_services(*, session: Session) -> ServiceRows:
    """Every service, by name, a damaged row (:class:`DamagedValueError`, a value changed by
    hand) set aside with its failure instead of failing the read of all: one such row had
    stopped the actuation, pull and retention passes for every service. One query while no
    row is damaged; each row read alone once one is."""
    try:
        return ServiceRows(list_services(session=session), {})
    except DamagedValueError:
        pass
    loaded, damaged = [], {}
    for name, enabled in session.execute(
        select(Service.name, Service.enabled).order_by(Service.name)
    ).all():
        try:
            loaded.append(get_service(session=session, name=name))
        except DamagedValueError as error:
            damaged[name] = DamagedRow(enabled, damaged_service(name, error))
    return ServiceRows(loaded, damaged)


def enabled_service_names(*, session: Session) -> list[str]:
    """The names of the enabled services, by name, read without their rows' other columns: a
    pass over them reads each one's profile on its own, so a damaged one fails alone."""
    query = select(Service.name).where(Service.enabled).order_by(Service.name)
    return list(session.execute(query).scalars())


def services_by_name(*, session: Session, names: set[str]) -> dict[str, Service]:
    """The services among ``names`` that exist, keyed by name (ingestion checks the rest)."""
    if not names:
        return {}
    rows = session.execute(select(Service).where(Service.name.in_(names))).scalars()
    return {service.name: service for service in rows}


def series_ids_of(*, session: Session, service_id: int) -> list[int]:
    """The ids of every series (metric) of a service, for bulk statements over its rows."""
    return list(session.execute(select(Series.id).where(Series.service_id == service_id)).scalars())


def stored_targets(service: Service) -> list[ActuationTarget]:
    """The targets of a service's stored profile, each read alone: a profile stored before a
    rule tightened no longer validates as a whole, yet its targets are autoscalers forecaster
    may hold above their baselines, which a PUT dropping them must leave to be restored."""
    targets = []
    for raw in service.profile.get("targets") or []:
        try:
            targets.append(ActuationTarget.model_validate(raw, context=STORED))
        except ValidationError as error:
            log.warning(
                "service %s: a stored target no longer validates (%s); not restored",
                quoted(service.name),
                validation_problems(error, "target"),
            )
    return targets


def readable_profiles(services: Iterable[Service]) -> list[tuple[Service, ScalingProfile]]:
    """Each service with its profile, leaving out (with a warning naming it) those whose stored
    profile no longer validates: a pass over every service (pulls, retention) goes on with
    the others, as training does. One such profile had stopped them for every service."""
    readable = []
    for service in services:
        try:
            readable.append((service, profile_of(service)))
        except NotReadyError as error:
            log.warning("%s; skipped", error)
    return readable


def forecast_only(service: Service) -> bool:
    """Whether the profile holds the service's plans off its targets, read as stored (as
    ``model_dump`` wrote it), so a profile that no longer validates still answers."""
    return bool(service.profile.get("forecast_only", True))


def profile_of(service: Service) -> ScalingProfile:
    """The validated scaling profile stored with a service (its targets' configs were checked
    when it was written, and are again when they are pushed to)."""
    try:
        return ScalingProfile.model_validate(service.profile, context=STORED)
    except ValidationError as error:
        # one service's, say stored before a rule tightened: its own failure, so a pass over
        # every service (training, refresh, actuation) goes on to the next; it aborted them
        raise NotReadyError(
            f"the stored profile of service {quoted(service.name)} no longer validates "
            f"({validation_problems(error, 'profile')}): PUT a corrected one"
        ) from None
