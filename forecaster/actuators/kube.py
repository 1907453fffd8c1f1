"""Holding a replica floor on one Kubernetes object: shared by the HPA and KEDA actuators.

The object keeps its own minimum and maximum; forecaster raises the minimum to the plan floor and
remembers the original values in annotations, so it can put them back when the plan goes stale
and so a person running ``kubectl get -o yaml`` sees what happened. It also notes what it wrote:
a minimum or maximum found different from that was edited by someone else (a person during an
incident, a GitOps sync) and becomes the new baseline, kept under every plan and restored after
them, instead of being overwritten at the next actuation. Each actuation is one JSON
merge patch carrying ``metadata.resourceVersion`` (a 409 means someone else wrote first: re-read
and recompute), so the object is always either at its baseline or at a plan's floor.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from forecaster.actuators.base import ActuationResult, ActuatorConfig, ActuatorContext, Outcome
from forecaster.actuators.bounded import bounded
from forecaster.actuators.bounds import bound_floor
from forecaster.actuators.kubeconfig import kubeconfig_files, reached, regular, runs_in_cluster
from forecaster.actuators.retry import AttemptCounter, call_with_retries, describe_error
from forecaster.actuators.window import PlanWindow

if TYPE_CHECKING:
    from kubernetes.client import ApiClient, Configuration

MERGE_PATCH = "application/merge-patch+json"
BASELINE_MIN = "forecaster.io/baseline-min-replicas"
BASELINE_MAX = "forecaster.io/baseline-max-replicas"
APPLIED_MIN = "forecaster.io/applied-min-replicas"
APPLIED_MAX = "forecaster.io/applied-max-replicas"
# the fields the object did not set before forecaster wrote them (their defaults applied):
# a restore removes them again rather than writing the defaults out
BASELINE_UNSET = "forecaster.io/baseline-unset"
OUR_ANNOTATIONS = (BASELINE_MIN, BASELINE_MAX, BASELINE_UNSET, APPLIED_MIN, APPLIED_MAX)
CONFLICT_ATTEMPTS = 5
_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


class KubeTargetConfig(ActuatorConfig):
    """One namespaced object; credentials from in-cluster config or a kubeconfig file (which
    may name another cluster, so the cluster they reach is part of the object's identity)."""

    object_fields: ClassVar[tuple[str, ...]] = ("namespace", "name")

    namespace: str = Field(min_length=1, max_length=63, pattern=_LABEL)
    name: str = Field(min_length=1, max_length=253, pattern=_SUBDOMAIN)
    kubeconfig: str | None = Field(default=None, description="path; default ~/.kube/config")
    context: str | None = None
    in_cluster: bool | None = Field(
        default=None, description="default: in-cluster when KUBERNETES_SERVICE_HOST is set"
    )
    allow_below_baseline: bool = Field(
        default=False, description="let plans lower the minimum below the object's own"
    )

    def object_key(self) -> dict[str, Any]:
        """The namespace and name on the cluster the credentials reach, however ``in_cluster``,
        ``kubeconfig`` and ``context`` spell it (:func:`kubeconfig.reached`)."""
        where = reached(
            in_cluster=self.in_cluster, kubeconfig=self.kubeconfig, context=self.context
        )
        return {**super().object_key(), **where}


@dataclass(frozen=True)
class Floor:
    """The part of an object forecaster manages: its min, max and our annotations. ``unset``:
    which of the min and max fields the object leaves out (``minimum`` and ``maximum`` are
    then the defaults that apply)."""

    minimum: int
    maximum: int
    annotations: dict[str, str] = field(default_factory=dict)
    unset: frozenset[str] = frozenset()

    @property
    def baseline_min(self) -> int:
        return annotated_count(self.annotations, BASELINE_MIN, self.minimum)

    @property
    def baseline_max(self) -> int:
        return annotated_count(self.annotations, BASELINE_MAX, self.maximum)

    @property
    def baseline_unset(self) -> frozenset[str]:
        """The fields the baseline leaves out: as annotated once forecaster holds the object
        away from its baseline (BASELINE_MIN is always written then), else as it is now."""
        if BASELINE_MIN not in self.annotations:
            return self.unset
        return frozenset(filter(None, self.annotations.get(BASELINE_UNSET, "").split(",")))


def unset_annotation(fields: Iterable[str]) -> str:
    """The BASELINE_UNSET text :attr:`Floor.baseline_unset` reads back: sorted, so the
    annotation, and the patch that writes it, does not change from one run to the next."""
    return ",".join(sorted(fields))


def annotated_count(annotations: dict[str, str], key: str, default: int) -> int:
    """A replica count forecaster keeps in an annotation. A person may have edited it: "2.0"
    still reads as 2, and anything else names the annotation to fix instead of int()'s
    "invalid literal" (the baseline it holds is what a restore needs)."""
    text = annotations.get(key)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value.is_integer() or value < 0:
        raise ValueError(
            f"annotation {key} holds {text!r}, not a replica count: set it to the count "
            "forecaster should restore, or remove it to take the object's current one"
        )
    return int(value)


@dataclass(frozen=True)
class Observed:
    floor: Floor
    resource_version: str


def ours_only(annotations: dict[str, str] | None) -> dict[str, str]:
    """Only forecaster's annotations: the rest of the object's metadata is not ours to audit."""
    return {k: v for k, v in (annotations or {}).items() if k.startswith("forecaster.io/")}


def regular_file(path: str | None) -> str | None:
    """A profile's kubeconfig path, once it is known to be a file on disk. The path comes over
    the API and the file is loaded, exec credential plugins and all: a security review had an
    uploaded CSV's open temporary file (``/proc/self/fd/N``) read as a kubeconfig whose plugin
    ran in the server, and a FIFO hang every actuation. None (the default kubeconfig, which
    the operator chose) passes."""
    if path is None:
        return None
    if not all(regular(file) for file in kubeconfig_files(path)):
        from kubernetes.config import ConfigException

        raise ConfigException(
            "not a regular file (a kubeconfig must be one, outside /proc, /sys, /dev)"
        )
    # as given: the client reads a kubeconfig's relative certificate paths beside the link
    return path


def transient(error: BaseException) -> bool:
    """Worth retrying: server errors, throttling, timeouts and dropped connections."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    if isinstance(error, ApiException):
        return error.status is not None and (error.status >= 500 or error.status == 429)
    return isinstance(error, HTTPError | ConnectionError | TimeoutError)


def unreached(error: Exception) -> bool:
    """A timeout or a refused or dropped connection: the API server, not the object, failed."""
    from kubernetes.client.exceptions import ApiException

    return transient(error) and not isinstance(error, ApiException)


class UnreachableError(Exception):
    """The target's API server timed out or refused earlier in this pass."""


def api_error_reason(error: Exception, *, what: str) -> str:
    """A clear audit message for an API answer that retrying will not fix."""
    import json

    from kubernetes.client.exceptions import ApiException

    if not isinstance(error, ApiException):
        return describe_error(error)
    try:
        message = json.loads(error.body or "{}").get("message", "")
    except ValueError:
        message = error.body or ""
    if error.status == 403:
        return f"forbidden: the service account may not get/patch {what} ({message})"
    if error.status == 404:
        return f"not found: {what} does not exist ({message})"
    if not error.status:  # the client's own failure, such as a TLS handshake: no answer at all
        detail = " ".join(str(error.reason or "").split()).removeprefix("SSLError ")
        return (
            f"TLS handshake with the API server failed ({detail}); check the server address and "
            "the certificate authority in the kubeconfig or service account"
            if "SSL" in str(error.reason)
            else f"request not sent: {detail}"
        )
    return f"HTTP {error.status} {error.reason}: {message}"


class KubeFloorActuator(ABC):
    """Hold ``spec.<min_field>`` of one object at the plan floor; restore it otherwise."""

    kind: ClassVar[str]
    config_model: ClassVar[type[KubeTargetConfig]] = KubeTargetConfig
    min_field: ClassVar[str]
    max_field: ClassVar[str]
    lowest: ClassVar[int]  # smallest minimum the object accepts
    resource: ClassVar[str]  # for messages, e.g. horizontalpodautoscalers.autoscaling
    # what the object's controller reads for a field it leaves out (KEDA's); an HPA's API
    # server writes its default in (minReplicas: 1), so an HPA never leaves one out
    defaults: ClassVar[dict[str, int]] = {}

    def __init__(self, config: KubeTargetConfig, context: ActuatorContext) -> None:
        self.config = config
        self.context = context

    @property
    def target(self) -> str:
        return f"{self.config.namespace}/{self.config.name}"

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.context.connect_timeout, self.context.read_timeout)

    @abstractmethod
    def read(self, api: ApiClient) -> Observed:
        """GET the object and pick out its floor."""

    @abstractmethod
    def patch(self, api: ApiClient, body: dict[str, Any]) -> None:
        """PATCH the object with a JSON merge patch."""

    @contextmanager
    def client(self) -> Iterator[ApiClient]:
        """An API client from in-cluster config or kubeconfig; retries are ours, not urllib3's."""
        from kubernetes import client, config

        configuration = client.Configuration()
        if runs_in_cluster(self.config.in_cluster):
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            self._credentials(self._load_kubeconfig, configuration)
        configuration.retries = False
        api = client.ApiClient(configuration)
        try:
            yield api
        finally:
            api.close()  # type: ignore[no-untyped-call]

    @property
    def kubeconfig(self) -> str:
        """The kubeconfig read, for messages: the client's own errors name none."""
        where = self.config.kubeconfig or "~/.kube/config (or KUBECONFIG)"
        return f"{where} (context {self.config.context})" if self.config.context else where

    def _load_kubeconfig(self, configuration: Configuration) -> None:
        from kubernetes import config

        try:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=regular_file(self.config.kubeconfig),
                context=self.config.context,
                client_configuration=configuration,
            )
        except config.ConfigException as error:  # it names no file: say which was read
            raise config.ConfigException(f"kubeconfig {self.kubeconfig}: {error}") from error

    def _credentials(self, call: Callable[[Configuration], None], into: Configuration) -> None:
        """``call(into)``, which may run the kubeconfig's exec credential plugin, in bounded
        time: the client waits for the plugin without a timeout. The client's token refresh
        runs it again once the token expires, and sets its own refresh hook anew each time
        (review: wrapped once, the hook was bounded for the first request only), so the hook
        left behind is wrapped again after every call."""
        bounded(
            partial(call, into),
            seconds=self.context.credential_timeout,
            key=(self.config.kubeconfig, self.config.context),
            what=f"the credential plugin of kubeconfig {self.kubeconfig}",
        )
        hook = into.refresh_api_key_hook
        ours = isinstance(hook, partial) and hook.func == self._credentials
        if hook is not None and not ours:
            into.refresh_api_key_hook = partial(self._credentials, hook)

    def adopt_outside_edits(self, floor: Floor) -> tuple[Floor, list[str]]:
        """``floor`` with a minimum or maximum that differs from what forecaster last wrote taken
        as the new baseline: someone else set it since, and overwriting it at the next
        actuation would undo a person's decision (or fight a GitOps sync) every 15 minutes."""
        annotations = dict(floor.annotations)
        unset = set(floor.baseline_unset)
        notes = []
        for name, applied_key, baseline_key, value in (
            (self.min_field, APPLIED_MIN, BASELINE_MIN, floor.minimum),
            (self.max_field, APPLIED_MAX, BASELINE_MAX, floor.maximum),
        ):
            applied = annotations.get(applied_key)
            if applied is None:
                continue
            written = annotated_count(annotations, applied_key, value)
            # forecaster's last patch left it out: written in since (at its default too)
            left_out = name in unset and written == self.defaults.get(name)
            if written != value or (left_out and name not in floor.unset):
                annotations[baseline_key] = str(value)
                unset = unset - {name} | ({name} & floor.unset)  # set or left out, as now
                had = "left it out" if left_out else f"written {applied}"
                done = f"removed ({value} applies)" if name in floor.unset else f"set to {value}"
                notes.append(
                    f"{name} was {done} outside forecaster (it had {had}): "
                    "taken as the new baseline"
                )
        if notes and unset:
            annotations[BASELINE_UNSET] = unset_annotation(unset)
        elif notes:
            annotations.pop(BASELINE_UNSET, None)
        return Floor(floor.minimum, floor.maximum, annotations, floor.unset), notes

    def desired(
        self, floor: Floor, plan: PlanWindow, step_from: int | None = None
    ) -> tuple[Floor, list[str]]:
        """What the object should hold for this plan (its baseline when the plan is inactive).
        ``step_from``: the minimum this actuation found first, which ``max_step_up`` counts
        from however often a conflict makes it read again (else the floor's own)."""
        floor, edits = self.adopt_outside_edits(floor)
        baseline = Floor(
            floor.baseline_min,
            floor.baseline_max,
            unset=self._left_out(floor.baseline_min, floor.baseline_max, floor.baseline_unset),
        )
        if not plan.active or plan.floor is None:
            return baseline, edits
        bounds = bound_floor(
            plan.floor,
            current_min=floor.minimum if step_from is None else step_from,
            baseline_min=floor.baseline_min,
            baseline_max=floor.baseline_max,
            profile=plan.profile,
            allow_below_baseline=self.config.allow_below_baseline,
            lowest=self.lowest,
        )
        notes = edits + list(bounds.notes)
        if (bounds.minimum, bounds.maximum) == (baseline.minimum, baseline.maximum):
            return baseline, notes
        annotations = {BASELINE_MIN: str(baseline.minimum)}
        if bounds.maximum != baseline.maximum:
            annotations[BASELINE_MAX] = str(baseline.maximum)
        if baseline.unset:
            annotations[BASELINE_UNSET] = unset_annotation(baseline.unset)
        annotations |= {APPLIED_MIN: str(bounds.minimum), APPLIED_MAX: str(bounds.maximum)}
        unset = self._left_out(bounds.minimum, bounds.maximum, baseline.unset)
        return Floor(bounds.minimum, bounds.maximum, annotations, unset), notes

    def _left_out(self, minimum: int, maximum: int, unset: frozenset[str]) -> frozenset[str]:
        """Of the fields the baseline leaves out (``unset``), those whose value here is their
        default: a patch leaves them out too. One a person's edit of the baseline annotation
        moved off its default is written: left out, KEDA's 0 had applied instead."""
        values = {self.min_field: minimum, self.max_field: maximum}
        return frozenset(name for name in unset if values[name] == self.defaults.get(name))

    def state(self, floor: Floor) -> dict[str, Any]:
        """The audit view of a floor, in the object's own field names."""
        return {
            self.min_field: floor.minimum,
            self.max_field: floor.maximum,
            "annotations": dict(floor.annotations),
        }

    def body(self, current: Observed, wanted: Floor) -> dict[str, Any]:
        """One merge patch: spec, our annotations (null deletes, a field left out too) and the
        resourceVersion."""
        annotations: dict[str, str | None] = {
            key: wanted.annotations.get(key) for key in OUR_ANNOTATIONS
        }
        spec = {
            name: None if name in wanted.unset else value
            for name, value in ((self.min_field, wanted.minimum), (self.max_field, wanted.maximum))
        }
        return {
            "metadata": {"resourceVersion": current.resource_version, "annotations": annotations},
            "spec": spec,
        }

    def apply(self, plan: PlanWindow, *, dry_run: bool) -> ActuationResult:
        """Read, decide, patch; re-read and decide again on a 409. Never raises."""
        from kubernetes.client.exceptions import ApiException

        counter = AttemptCounter()
        notes: list[str] = [] if plan.active else [f"restore baseline: {plan.reason}"]
        before: Floor | None = None
        what = f"{self.resource} {self.target}"
        sent = False  # a PATCH went out: what it left is read back if the actuation fails
        cluster: str | None = None
        try:
            with self.client() as api:
                cluster = self._reachable(api)
                for _ in range(CONFLICT_ATTEMPTS):
                    current = self._retry(lambda: self.read(api), counter, f"GET {what}")
                    if before is None:
                        before = current.floor
                    # a PATCH that landed but timed out comes back as a 409: its own write
                    # must not become the base of a second step up in the same actuation
                    wanted, adjustments = self.desired(current.floor, plan, before.minimum)
                    if wanted == current.floor:
                        return self._result(plan, before, wanted, notes + adjustments, counter)
                    if dry_run:
                        return self._result(plan, before, wanted, notes + adjustments, counter)
                    body = self.body(current, wanted)
                    sent = True
                    try:
                        self._retry(partial(self.patch, api, body), counter, f"PATCH {what}")
                    except ApiException as error:
                        if error.status != 409:
                            raise
                        notes.append("409 conflict: the object changed meanwhile; re-read")
                        continue
                    return self._result(plan, before, wanted, notes + adjustments, counter)
                reason = f"still conflicting after {CONFLICT_ATTEMPTS} tries"
        except Exception as error:  # noqa: BLE001 - every failure becomes an audited outcome
            if cluster is not None and self.context.unreachable is not None and unreached(error):
                self.context.unreachable.add(cluster)
            reason = api_error_reason(error, what=what)
        return self._failure(before, notes, counter, reason, self._read_back() if sent else None)

    def _reachable(self, api: ApiClient) -> str:
        """The API server ``api`` speaks to, unless it timed out or refused earlier in this
        pass: a target there fails at once instead of waiting as long again."""
        cluster = str(api.configuration.host)
        if cluster in (self.context.unreachable or ()):
            raise UnreachableError(
                f"cluster {cluster} unreachable earlier in this pass (timed out or refused): "
                "not tried again until the next"
            )
        return cluster

    def _read_back(self) -> Floor | None:
        """What the object holds after a failed actuation that sent a PATCH (one whose answer
        timed out may well have landed); None when it cannot be read either."""
        try:
            with self.client() as api:
                return self.read(api).floor
        except Exception:  # noqa: BLE001 - the actuation's own error is the one reported
            return None

    def _retry(self, call: Any, counter: AttemptCounter, what: str) -> Any:
        return call_with_retries(
            call, policy=self.context.retry, transient=transient, counter=counter, what=what
        )

    def _result(
        self,
        plan: PlanWindow,
        before: Floor,
        after: Floor,
        notes: list[str],
        counter: AttemptCounter,
    ) -> ActuationResult:
        outcome: Outcome = "applied" if plan.active else "restored"
        if before == after:
            outcome = "unchanged"
        return ActuationResult(
            target=self.target,
            outcome=outcome,
            before=self.state(before),
            after=self.state(after),
            notes=notes,
            attempts=counter.calls,
        )

    def _failure(
        self,
        before: Floor | None,
        notes: list[str],
        counter: AttemptCounter,
        reason: str,
        reached: Floor | None = None,
    ) -> ActuationResult:
        """A failed actuation, audited with what the object holds: ``reached`` when it was read
        back after a PATCH, else what it held before."""
        state = self.state(before) if before else {}
        after = self.state(reached) if reached is not None else state
        if after != state:
            notes = [*notes, "partly applied: 'after' is what the object holds now"]
        return ActuationResult(
            target=self.target,
            outcome="failed",
            before=state,
            after=after,
            error=reason,
            notes=notes,
            attempts=counter.calls,
        )
