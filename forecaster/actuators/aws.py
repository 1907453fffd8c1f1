"""Holding a replica floor through AWS scheduled actions: shared by the two AWS actuators.

Each run sets the floor in force now directly, and writes the plan's coming change points as
one-time scheduled actions named with our prefix, so capacity keeps following the plan between
runs. A final ``<prefix>restore`` action at the end of the scheduled span carries the target's
baseline: it is how we remember the baseline (as the HPA's annotation does) and a dead-man's
switch (if forecaster stops, the target returns to its baseline on its own). Each run writes
only what changed, then deletes our actions the new schedule no longer has; actions without
our prefix are never touched. A stale plan deletes ours and sets the baseline back.
"""

from __future__ import annotations

import logging
import os
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import takewhile
from typing import Any, ClassVar
from urllib.parse import urlsplit

import numpy as np
from pydantic import Field, field_validator
from urllib3.util import parse_url

from forecaster.actuators.base import ActuationResult, ActuatorConfig, ActuatorContext, Outcome
from forecaster.actuators.bounded import bounded
from forecaster.actuators.bounds import Bounds, bound_floor
from forecaster.actuators.retry import AttemptCounter, call_with_retries, describe_error
from forecaster.actuators.schedule import align_down, boundary, coarsen, peak
from forecaster.actuators.window import PlanWindow
from forecaster.planning.shaping import ramp_ahead
from forecaster.security.network import loopback

log = logging.getLogger(__name__)
TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ResourceContention",
        "ConcurrentUpdateException",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalServiceException",
        "RequestTimeout",
    }
)
AWS_DOMAINS = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")  # VPC endpoints included
RESTORE = "restore"
START_MARGIN = timedelta(seconds=60)  # AWS refuses start times that are not in the future
PAST = re.compile(r"\b(past|future)\b", re.IGNORECASE)  # AWS's words for a start time too late


class AwsTargetConfig(ActuatorConfig):
    """Where the target lives and how much of the plan to schedule ahead. Its actions'
    prefix is part of the target's identity: actions under an old prefix are another's."""

    object_fields: ClassVar[tuple[str, ...]] = ("region", "endpoint_url", "action_prefix")

    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$", description="e.g. us-east-1")
    endpoint_url: str | None = Field(
        default=None, description="a VPC endpoint or a local emulator; default: AWS"
    )

    @field_validator("endpoint_url")
    @classmethod
    def _aws_or_an_emulator_here(cls, url: str | None) -> str | None:
        """Calls are signed with the server's AWS credentials (a session token travels in a
        header): a security review had them sent to an address of its choosing over the API."""
        if url is None:
            return None
        if re.search(r"[\\@\s]", url):  # parsers disagree on these: urllib3 connected elsewhere
            raise ValueError("must not hold a backslash, an '@' or spaces")
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if host != (parse_url(url).host or "").lower().strip("[]"):
            raise ValueError("names its host ambiguously")
        on_aws = parts.scheme == "https" and host.endswith(AWS_DOMAINS)
        if not on_aws and not (parts.scheme in ("http", "https") and loopback(host)):
            raise ValueError(
                "must be an https endpoint of AWS (a host under "
                f"{', '.join(domain[1:] for domain in AWS_DOMAINS)}, as VPC endpoints are) or "
                "an emulator on this machine (http://localhost:PORT): calls carry the server's "
                "AWS credentials"
            )
        return url

    action_prefix: str = Field(
        default="forecaster-",
        min_length=3,
        max_length=40,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="scheduled actions with this prefix are ours; others are never touched",
    )
    horizon_hours: float = Field(default=12, gt=0, le=48, description="how far ahead to schedule")
    hold_seconds: int = Field(
        default=900, ge=60, le=86400, description="shortest interval between scheduled changes"
    )
    max_actions: int = Field(default=60, ge=2, le=100, description="our actions on one target")
    allow_below_baseline: bool = False


@dataclass(frozen=True)
class ScheduledFloor:
    """One of our scheduled actions: from ``at`` (UTC) hold ``minimum``..``maximum``."""

    name: str
    at: datetime
    minimum: int
    maximum: int
    desired: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "min": self.minimum,
            "max": self.maximum,
            **({"desired": self.desired} if self.desired is not None else {}),
        }


@dataclass(frozen=True)
class Capacity:
    minimum: int
    maximum: int
    desired: int | None = None


# the credentials are good, but their policy does not allow the call
DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
# AWS did not accept the credentials themselves: expired, revoked, unknown, or a wrong secret
REFUSED_CREDENTIAL_CODES = frozenset(
    {
        "AuthFailure",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "InvalidSignatureException",  # SignatureDoesNotMatch in the JSON protocols' words
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
    }
)


class AwsCallError(Exception):
    """An AWS call that failed for good, worded for the audit record."""


def call_error_text(error: BaseException, what: str) -> str:
    """What an operator reads: which call, on what, and AWS's own code and message; a problem
    of the credentials says so first, as a Kubernetes 403 does, and which one: an expired
    token was "forbidden: the credentials may not ...", which sent operators to the IAM
    policy, and a wrong secret or no credentials at all were not called credentials (QA)."""
    from botocore.exceptions import ClientError, NoCredentialsError

    if isinstance(error, NoCredentialsError):
        return (
            f"no AWS credentials: none in the environment, the shared files or an instance or "
            f"pod role, so nothing was sent to {what}"
        )
    if not isinstance(error, ClientError):
        return f"{what}: {describe_error(error)}"
    detail = error.response.get("Error", {})
    code, message = detail.get("Code", ""), detail.get("Message", "")
    if code in DENIED_CODES:
        return f"forbidden: the credentials may not {what} ({code}: {message})"
    if code in REFUSED_CREDENTIAL_CODES:
        return (
            f"credentials refused: AWS does not accept them (expired, revoked, unknown or a wrong "
            f"secret); renew them ({what}: {code}: {message})"
        )
    return f"{what} failed: {code}: {message}"


class CredentialChainError(Exception):
    """botocore's error (the ``__cause__``) in finding the credentials, raised by
    :func:`aws_client` before it makes the client: an InvalidConfigError is also what a bad
    setting of the client itself raises (a blank AWS_CA_BUNDLE), no credential problem."""


def credential_source_text(error: BaseException, what: str) -> str | None:
    """botocore's errors in finding the credentials, worded as the credential errors of a call
    are; None for any other error. Raised resolving the credentials (:func:`aws_client`),
    outside :meth:`AwsScheduleActuator.call`, they read as botocore's bare message
    ("PartialCredentialsError: Partial credentials found in env, ..."), the fix unsaid."""
    from botocore import exceptions as boto

    problems: tuple[tuple[type[Exception] | tuple[type[Exception], ...], str], ...] = (
        (
            boto.PartialCredentialsError,
            "incomplete: some parts of the AWS credentials are set but not all; set the "
            "missing one, or unset the others so the next source in the chain is used",
        ),
        (
            boto.ProfileNotFound,
            "profile not found: the AWS config and credentials files hold no profile of the "
            "name in AWS_PROFILE (or AWS_DEFAULT_PROFILE); name one they hold, or add it",
        ),
        (
            (boto.ConfigParseError, boto.InvalidConfigError),
            "misconfigured: the AWS config file cannot be read, or its credential settings "
            "cannot be followed; correct them",
        ),
        (
            (boto.SSOError, boto.TokenRetrievalError),
            "expired: the AWS SSO session is missing, expired or invalid; sign in again "
            "(aws sso login)",
        ),
        (
            boto.CredentialRetrievalError,
            "not fetched: their source failed (a credential_process, a role to assume, a web "
            "identity token, a container or instance role); fix it or renew what it holds",
        ),
    )
    for kinds, text in problems:
        if isinstance(error, kinds):
            return f"credentials {text} ({what}: {describe_error(error)})"
    return None


def refusal_text(refused: dict[str, str], target: str) -> str:
    """AWS's refusals, the first few named: a run of them often shares one reason."""
    named = [f"{name}: {why}" for name, why in sorted(refused.items())[:3]]
    more = "; ..." if len(refused) > 3 else ""
    return f"AWS refused {len(refused)} scheduled actions on {target}: {'; '.join(named)}{more}"


def transient(error: BaseException) -> bool:
    """Worth retrying: throttling, 5xx, timeouts and connection failures."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in TRANSIENT_CODES or status >= 500 or status == 429
    return isinstance(error, ConnectionError | HTTPClientError | TimeoutError)


def aws_client(service: str, config: AwsTargetConfig, context: ActuatorContext) -> Any:
    """A boto3 client with our timeouts; botocore's own retries are off (ours count attempts).

    The credentials are resolved first, in bounded time, and the client keeps them for this
    pass: botocore waits for a ``credential_process`` without a timeout (a hung one held the
    actuate pass, and every service after it), as the Kubernetes client waits for its plugin.
    """
    import boto3
    from botocore.config import Config

    try:
        session = boto3.session.Session()
        credentials = bounded(
            lambda: frozen_credentials(session),
            seconds=context.credential_timeout,
            key=("aws", os.environ.get("AWS_CONFIG_FILE"), session.profile_name),
            what=f"the AWS credential chain (profile {session.profile_name})",
        )
    except Exception as error:
        if credential_source_text(error, "") is None:
            raise
        raise CredentialChainError(describe_error(error)) from error
    return session.client(
        service,
        **credentials,
        region_name=config.region,
        endpoint_url=config.endpoint_url,
        config=Config(
            connect_timeout=context.connect_timeout,
            read_timeout=context.read_timeout,
            retries={"total_max_attempts": 1, "mode": "standard"},
        ),
    )


def frozen_credentials(session: Any) -> dict[str, str | None]:
    """The session's credentials as client arguments; none when the chain finds none, so
    the call fails as botocore says (``Unable to locate credentials``)."""
    found = session.get_credentials()
    if found is None:
        return {}
    frozen = found.get_frozen_credentials()
    return {
        "aws_access_key_id": frozen.access_key,
        "aws_secret_access_key": frozen.secret_key,
        "aws_session_token": frozen.token,
    }


def chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class AwsScheduleActuator(ABC):
    """Drive one AWS target's floor with a direct update plus our own scheduled actions."""

    kind: ClassVar[str]
    config_model: ClassVar[type[AwsTargetConfig]]
    min_key: ClassVar[str]
    max_key: ClassVar[str]
    group_limit: ClassVar[int]  # scheduled actions AWS allows on one target, all owners

    def __init__(self, config: AwsTargetConfig, context: ActuatorContext) -> None:
        self.config = config
        self.context = context
        self.counter = AttemptCounter()

    # --- what each AWS service does differently ---
    @property
    @abstractmethod
    def target(self) -> str: ...

    @abstractmethod
    def client(self) -> Any: ...

    @abstractmethod
    def lowest(self) -> int:
        """The smallest minimum the target accepts."""

    @abstractmethod
    def read_capacity(self, client: Any) -> Capacity: ...

    @abstractmethod
    def list_actions(self, client: Any) -> tuple[list[ScheduledFloor], int]:
        """Our scheduled actions on the target (by prefix), and how many it has in all."""

    @abstractmethod
    def put_actions(self, client: Any, actions: list[ScheduledFloor]) -> dict[str, str]:
        """Write the actions; those AWS refused one by one, name to AWS's reason (the rest
        are written)."""

    @abstractmethod
    def delete_actions(self, client: Any, names: list[str]) -> None: ...

    @abstractmethod
    def set_capacity(self, client: Any, wanted: Capacity, current: Capacity) -> None: ...

    # --- the shared algorithm ---
    def call(self, what: str, fn: Any, *args: Any) -> Any:
        try:
            return call_with_retries(
                lambda: fn(*args),
                policy=self.context.retry,
                transient=transient,
                counter=self.counter,
                what=f"{what} {self.target}",
            )
        except Exception as error:
            raise AwsCallError(call_error_text(error, f"{what} {self.target}")) from error

    def connect(self) -> Any:
        """:meth:`client`, with botocore's errors in finding the credentials worded as a call's
        credential errors are (nothing was sent, so there is nothing to retry or count)."""
        try:
            return self.client()
        except CredentialChainError as chain:
            error = chain.__cause__ or chain
            text = credential_source_text(error, self.target) or describe_error(error)
            raise AwsCallError(text) from error

    def owned(self, name: str) -> bool:
        return name.startswith(self.config.action_prefix)

    def restore_name(self) -> str:
        return f"{self.config.action_prefix}{RESTORE}"

    @property
    def hold(self) -> timedelta:
        return timedelta(seconds=self.config.hold_seconds)

    def first_block(self, plan: PlanWindow) -> datetime:
        """Where the schedule starts: the first clock-aligned block far enough in the future.

        The partial block before it is folded into the floor set now, so action names (their
        start times) stay the same from one run to the next.
        """
        return boundary(plan.now + START_MARGIN, self.hold)

    def floor_now(self, plan: PlanWindow) -> int:
        """The plan's floor for the coming window, raised to cover the partial first block."""
        assert plan.floor is not None
        return max(plan.floor, peak(plan.change_points, plan.now, self.first_block(plan)))

    def plan_actions(
        self, plan: PlanWindow, now_floor: Capacity, baseline: Capacity, budget: int
    ) -> list[ScheduledFloor]:
        """Our scheduled actions for an active plan: coarsened change points, then restore,
        no later than the plan is trusted (if forecaster stops, the group lets go when the
        service itself would have)."""
        assert plan.ends_at is not None
        start = self.first_block(plan)
        end = min(plan.ends_at, plan.now + timedelta(hours=self.config.horizon_hours))
        if plan.trusted_until is not None:
            end = min(end, plan.trusted_until)
        points = coarsen(
            plan.change_points,
            start=start,
            end=end,
            hold=self.hold,
            limit=budget - 1,
            initial=now_floor.minimum,
        )
        cap = plan.profile.max_step_up
        wanted = [point.replicas for point in points]
        if cap is not None and wanted:
            # each action adds at most the cap: one below the floor set now, before a rise,
            # undid the ramp the push had begun and set the whole rise back a step
            wanted = ramp_ahead(np.array(wanted, dtype="int64"), cap).tolist()
        actions: list[ScheduledFloor] = []
        previous = now_floor.minimum
        for point, replicas in zip(points, wanted, strict=True):
            bounds = self.bound(replicas, previous, baseline, plan)
            actions.append(
                ScheduledFloor(
                    name=f"{self.config.action_prefix}{point.at:%Y%m%dT%H%M%SZ}",
                    at=point.at.replace(microsecond=0),
                    minimum=bounds.minimum,
                    maximum=bounds.maximum,
                )
            )
            previous = bounds.minimum
        # aligned too, so the restore action moves once per block, not on every run
        aligned = align_down(end, self.hold)
        restore_at = (aligned if aligned > start else max(end, start)).replace(microsecond=0)
        restore = ScheduledFloor(
            self.restore_name(), restore_at, baseline.minimum, baseline.maximum
        )
        # a change in the last, partial block would share the restore's time (their order then
        # undefined, the dead-man's switch perhaps lost); the next run schedules it anyway
        return [restore, *(action for action in actions if action.at < restore_at)]

    def due_now(
        self, wanted: list[ScheduledFloor], refused: dict[str, str]
    ) -> list[ScheduledFloor]:
        """Refused actions whose floor is due now, oldest first.

        AWS refuses a start time already past by its clock (ours lagging, or a slow call
        eating START_MARGIN); such an action leading the schedule is the floor in force now,
        so the update made now carries it instead of the group missing it.
        """
        ordered = sorted(wanted, key=lambda action: action.at)
        leading = takewhile(lambda action: action.name in refused, ordered)
        return [action for action in leading if PAST.search(refused[action.name])]

    def bound(self, floor: int, current: int, baseline: Capacity, plan: PlanWindow) -> Bounds:
        return bound_floor(
            floor,
            current_min=current,
            baseline_min=baseline.minimum,
            baseline_max=baseline.maximum,
            profile=plan.profile,
            allow_below_baseline=self.config.allow_below_baseline,
            lowest=self.lowest(),
        )

    def state(self, capacity: Capacity, actions: list[ScheduledFloor]) -> dict[str, Any]:
        return {
            self.min_key: capacity.minimum,
            self.max_key: capacity.maximum,
            "actions": {a.name: a.as_dict() for a in sorted(actions, key=lambda a: a.name)},
        }

    def read_back(self, client: Any, known: dict[str, Any]) -> dict[str, Any]:
        """What the target holds now, read again after a failed write (``known``, what this
        pass had seen succeed, when it cannot be read either)."""
        try:
            listed, _ = self.list_actions(client)
            return self.state(self.read_capacity(client), listed)
        except Exception:  # noqa: BLE001 - the write's own error is the one reported
            return known

    def apply(self, plan: PlanWindow, *, dry_run: bool) -> ActuationResult:
        """Set the floor now, rewrite our future actions, delete stale ones. Never raises.

        A failure part-way is recorded with what the group holds by then (actions written
        before a refused capacity update stay, and fire), not as if nothing had happened.
        Actions AWS refuses one by one hold nothing else up: the floor now is still set.
        """
        self.counter = AttemptCounter()
        notes: list[str] = [] if plan.active else [f"restore baseline: {plan.reason}"]
        before: dict[str, Any] = {}
        reached: dict[str, Any] = {}  # what the group holds so far
        would = "would be " if dry_run else ""
        client: Any = None
        writing = False  # a write was sent: what it left is read back if the pass fails
        try:
            client = self.connect()
            current = self.call("describe", self.read_capacity, client)
            listed, total = self.call("list scheduled actions", self.list_actions, client)
            ours = {a.name: a for a in listed}
            before = reached = self.state(current, list(ours.values()))
            restore = ours.get(self.restore_name())
            baseline = (
                Capacity(restore.minimum, restore.maximum)
                if restore is not None
                else Capacity(current.minimum, current.maximum)
            )
            if plan.active and plan.floor is not None:
                bounds = self.bound(self.floor_now(plan), current.minimum, baseline, plan)
                notes.extend(bounds.notes)
                wanted_now = Capacity(bounds.minimum, bounds.maximum)
                others = total - len(ours)
                budget = min(self.config.max_actions, (self.group_limit - others) // 2)
                if budget < 2:
                    raise ValueError(
                        f"{others} scheduled actions of others leave no room for ours "
                        f"(AWS allows {self.group_limit})"
                    )
                wanted = self.plan_actions(plan, wanted_now, baseline, budget)
            else:
                wanted_now = baseline
                wanted = []
            names = {a.name for a in wanted}
            to_put = [a for a in wanted if ours.get(a.name) != a]
            to_delete = sorted(name for name in ours if name not in names)
            changed = wanted_now != Capacity(current.minimum, current.maximum)
            # order matters for failures: the restore action exists before capacity moves
            writing = not dry_run and (bool(to_put) or changed or bool(to_delete))
            refused: dict[str, str] = {}
            due: list[ScheduledFloor] = []
            if to_put and not dry_run:
                refused = self.call("put scheduled actions", self.put_actions, client, to_put)
                ours.update({a.name: a for a in to_put if a.name not in refused})
                reached = self.state(current, list(ours.values()))
                if self.restore_name() in refused:  # no dead-man's switch: capacity stays
                    raise AwsCallError(refusal_text(refused, self.target))
                due = self.due_now(wanted, refused)
                if due:
                    latest = due[-1]
                    wanted_now = Capacity(
                        max(wanted_now.minimum, latest.minimum),
                        max(wanted_now.maximum, latest.maximum),
                    )
                    changed = wanted_now != Capacity(current.minimum, current.maximum)
                    notes.append(f"{len(due)} scheduled actions already due: their floor set now")
                    carried = {a.name for a in due}
                    refused = {n: why for n, why in refused.items() if n not in carried}
                # what the target holds: a refused rewrite leaves the old action in place
                wanted = [ours[a.name] for a in wanted if a.name in ours]
            after = self.state(wanted_now, wanted)
            if to_put:
                written = len(to_put) - len(refused) - len(due)
                notes.append(f"{written} scheduled actions {would}written")
            # restoring, the plan's rises go before capacity moves (left behind, they fire on a
            # group back at its baseline), the restore action, which remembers it, after
            rises = [] if plan.active else [n for n in to_delete if n != self.restore_name()]
            if rises and not dry_run:
                self.call("delete scheduled actions", self.delete_actions, client, rises)
                ours = {name: a for name, a in ours.items() if name not in rises}
                reached = self.state(current, list(ours.values()))
            if changed and not dry_run:
                self.call("update capacity", self.set_capacity, client, wanted_now, current)
                current = wanted_now
                reached = self.state(current, list(ours.values()))
            rest = [name for name in to_delete if name not in rises]
            if rest and not dry_run:
                self.call("delete scheduled actions", self.delete_actions, client, rest)
            if to_delete:
                notes.append(f"{len(to_delete)} scheduled actions {would}deleted")
            if refused:  # the rest of the pass is done: the floor now does not wait on them
                raise AwsCallError(refusal_text(refused, self.target))
            outcome: Outcome = "unchanged"
            if before != after:
                outcome = "applied" if plan.active else "restored"
            return ActuationResult(
                self.target, outcome, before, after, notes=notes, attempts=self.counter.calls
            )
        except Exception as error:  # noqa: BLE001 - every failure becomes an audited outcome
            text = str(error) if isinstance(error, AwsCallError) else describe_error(error)
            log.warning("actuation of %s failed: %s", self.target, text)
            if writing:  # a batch refused part-way wrote its first calls: read what is there
                reached = self.read_back(client, reached)
            if reached != before:
                notes.append("partly applied: 'after' is what the group holds now")
            return ActuationResult(
                self.target,
                "failed",
                before,
                reached,
                error=text,
                notes=notes,
                attempts=self.counter.calls,
            )
