"""A service's scaling profile: what drives its load and what one replica can serve.

Shared by the API (``PUT /v1/services/{name}``), the offline CLI (``--profile profile.yaml``)
and the planner, so validation and defaults live in exactly one place.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from forecaster.errors import json_text, listing, quoted, validation_problems
from forecaster.labels import label_name_problems, label_problems
from forecaster.storable_text import StorableTextModel
from models.base import DEFAULT_QUANTILES, quantile_name
from models.calendar import UnknownHolidayRegionError, holiday_region

KNOWN_METRICS = frozenset(
    {
        "requests_per_second",
        "tokens_per_second",
        "queue_length",
        "latency_seconds",
        "cpu_utilization",
        "gpu_utilization",
        "throughput",
    }
)
# the spec lists the known metrics, so clients and the API docs offer them (the validators
# below still refuse others with a message naming them)
METRIC_CHOICES: dict[str, Any] = {"enum": sorted(KNOWN_METRICS)}
# sane bounds, so absurd input is refused with a 422 instead of overflowing arithmetic
MAX_REPLICAS = 1_000_000
MAX_STARTUP_SECONDS = 86_400.0
MAX_DELAY_SECONDS = 7 * 86_400.0
MAX_CAPACITY = 1e12  # load units one replica serves; sums of plans stay finite below these
# and above these, load per replica (capacity x utilisation) stays a normal float: two values
# just above 0 multiplied to exactly 0 and a replan divided by it (a 500 found by fuzzing)
MIN_CAPACITY = 1e-6
MIN_UTILIZATION = 0.01  # 1 %, the smallest target a Kubernetes HPA takes (whole percent)
MAX_HOURLY_COST = 1e6
SUBDIVISIONS_SHOWN = 8  # of a country's, in the message refusing an unknown one (US has 57)
LabelNames = dict[str, str] | list[str] | None
# The validation context of a profile read back from the database: what depends on the
# installed packages (actuator plugins, the holidays package's countries) was checked when the
# profile was written and is not checked again, so an upgrade cannot make it unreadable.
STORED: dict[str, bool] = {"stored": True}


class CapacityTier(StorableTextModel):
    """One kind of replica a service can run on (e.g. an L4 GPU node), with its own economics."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[^:+]+$")
    capacity_per_replica: float = Field(
        ge=MIN_CAPACITY, le=MAX_CAPACITY, description="load one replica serves at its SLO"
    )
    cost_per_replica_hour: float = Field(ge=0, le=MAX_HOURLY_COST)
    startup_seconds: float = Field(default=180, ge=0, le=MAX_STARTUP_SECONDS)
    gpus_per_replica: int = Field(default=0, ge=0, le=1024)
    gpu_type: str | None = None
    max_replicas: int | None = Field(
        default=None,
        ge=1,
        le=MAX_REPLICAS,
        description="omit for no limit; drop the tier to stop using it",
    )


class ActuationTarget(StorableTextModel):
    """Where plans are pushed: an actuator kind (entry-point name) and its own config."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(min_length=1, max_length=64)
    name: str | None = Field(default=None, max_length=128)
    config: dict[str, Any] = Field(default_factory=dict)
    # the capacity tier (of the profile's ``tiers``) this target scales: it is pushed that
    # tier's replicas; without one, the plan's total over tiers
    tier: str | None = Field(default=None, min_length=1, max_length=64)

    @property
    def described(self) -> str:
        """The target as a message names it: its name, else its kind and config."""
        return quoted(self.name) if self.name else f"{self.kind} {json_text(self.config)}"

    @model_validator(mode="after")
    def _check_config(self, info: ValidationInfo) -> ActuationTarget:
        """The actuator's own config model decides, when the target is written. A profile read
        back from the database (``STORED``) is not checked again: its plugin may have been
        uninstalled or broken since, and refusing the whole profile would stop the service's
        training and other targets, and every service's actuation pass. Pushing to such a
        target fails alone, with the same message."""
        if info.context == STORED:
            return self
        # imported here to keep this module light
        from forecaster.actuators.registry import validate_config
        from forecaster.errors import InvalidInputError

        try:
            validate_config(self.kind, self.config)
        except InvalidInputError as error:
            raise ValueError(str(error)) from None
        return self


def shared_object(
    targets: Sequence[ActuationTarget], others: Sequence[ActuationTarget] = ()
) -> tuple[ActuationTarget, ActuationTarget] | None:
    """Two targets that scale one object, the one met first first: one of ``others`` (another
    service's) and one of ``targets``, or two of ``targets``; None when none do. Both would
    write the object at every pass, each its own floor, and the last write would win."""
    from forecaster.actuators.registry import object_identity

    seen: dict[str, ActuationTarget] = {}
    for other in others:
        seen.setdefault(object_identity(other.kind, other.config), other)
    for target in targets:
        key = object_identity(target.kind, target.config)
        if key in seen:
            return seen[key], target
        seen[key] = target
    return None


class PrometheusSource(StorableTextModel):
    """A PromQL query whose result becomes one of the service's metrics (``forecaster pull``).

    Each series of a matrix result becomes one of our series: its labels (all but
    ``__name__``, or only ``keep_labels``) plus the static ``labels`` name it.
    """

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(
        description="the forecaster metric the query feeds", json_schema_extra=METRIC_CHOICES
    )
    query: str = Field(min_length=1, max_length=4096, description="PromQL, e.g. sum(rate(...))")
    labels: dict[str, str] = Field(default_factory=dict, description="added to every series")
    keep_labels: list[str] | None = Field(
        default=None, description="result labels to keep (default: all but __name__)"
    )
    step_seconds: int | None = Field(
        default=None, ge=1, le=3600, description="query step (default: the global setting)"
    )

    @field_validator("labels", "keep_labels")
    @classmethod
    def _storable_names(cls, names: LabelNames) -> LabelNames:
        """Every series of the source carries these names (``keep_labels`` as the result has
        them: "*" would keep a label named "*", not every label), so a name a push is refused
        for would leave each series out of the pull."""
        if isinstance(names, dict):  # the static labels alone may be too long to store (QA)
            problems = label_problems(names)
        else:
            problems = label_name_problems(names or [])
        if problems:
            raise ValueError("; ".join(problems))
        return names

    @model_validator(mode="after")
    def _check_metric(self) -> PrometheusSource:
        if self.metric not in KNOWN_METRICS:
            known = listing(sorted(KNOWN_METRICS))
            raise ValueError(
                f"prometheus metric {quoted(self.metric)} is not known; use one of {known}"
            )
        return self


class ScalingProfile(StorableTextModel):
    """How to turn a load forecast into replicas for one service."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    metric: str = Field(
        default="requests_per_second",
        description="the driving metric",
        json_schema_extra=METRIC_CHOICES,
    )
    step_seconds: int = Field(default=300, ge=60, le=3600, description="forecast and plan step")
    horizon_hours: float = Field(default=48, gt=0, le=24 * 14)
    capacity_per_replica: float = Field(
        ge=MIN_CAPACITY, le=MAX_CAPACITY, description="load one replica serves at its SLO"
    )
    target_utilization: float = Field(default=0.7, ge=MIN_UTILIZATION, le=1)
    plan_utilization: float | None = Field(
        default=None,
        ge=MIN_UTILIZATION,
        le=1,
        description=(
            "utilisation at which plans cover the risk quantile (default: target_utilization); "
            "with a reactive autoscaler on top of the floor, up to 1.0 so the quantile just fits "
            "full capacity while the autoscaler keeps its own target"
        ),
    )
    reactive_tolerance_pct: float | None = Field(
        default=None,
        ge=0,
        le=100,
        description=(
            "plans hold no floor above min_replicas while the reactive autoscaler alone, "
            "replayed on the last week of history with this profile, was under-provisioned at "
            "most this % of the time (a floor would add cost and no safety); null: always hold it"
        ),
    )
    min_replicas: int = Field(default=1, ge=0, le=MAX_REPLICAS)
    max_replicas: int = Field(default=100, ge=1, le=MAX_REPLICAS)
    startup_seconds: float = Field(
        default=180, ge=0, le=MAX_STARTUP_SECONDS, description="time until a replica is ready"
    )
    scale_down_delay_seconds: float = Field(default=600, ge=0, le=MAX_DELAY_SECONDS)
    risk_quantile: float = Field(
        default=0.95,
        ge=0.5,
        le=0.999,
        description="forecast quantile the plan covers (p50 to p99.9; p90/p95/p99 are typical)",
    )
    gpus_per_replica: int = Field(default=0, ge=0, le=1024)
    gpu_type: str | None = Field(default=None, max_length=64)
    cost_per_replica_hour: float = Field(default=0.0, ge=0, le=MAX_HOURLY_COST)
    max_step_up: int | None = Field(
        default=None, ge=1, le=MAX_REPLICAS, description="most replicas one actuation may add"
    )
    step_edges: Literal["blend", "hold"] = Field(
        default="blend",
        description=(
            "blend: near a step boundary the load lies between the two steps' means, so each "
            "step also covers the average with each neighbour; hold: a step's mean holds flat"
        ),
    )
    max_capacity_breach: Literal["honor", "increase"] = "honor"
    max_capacity_buffer_pct: float = Field(default=10.0, ge=0, le=100)
    tiers: list[CapacityTier] = Field(default_factory=list, max_length=8)
    forecast_only: bool = Field(default=True, description="plan and show, never actuate")
    targets: list[ActuationTarget] = Field(default_factory=list)
    holiday_country: str | None = Field(
        default=None,
        max_length=32,  # the holidays package's longest is 21 (BR-São Paulo Capital)
        description=(
            "public holidays models may use: an ISO 3166 country (US), or an ISO 3166-2 "
            "subdivision for the country's holidays plus the region's (DE-BY, US-CA); any case"
        ),
    )
    timezone: str | None = Field(
        default=None,
        max_length=64,
        description=(
            "IANA time zone whose clock the traffic follows (e.g. America/New_York): daily and "
            "weekly cycles are learnt on local time across daylight-saving changes"
        ),
    )
    prometheus: list[PrometheusSource] = Field(
        default_factory=list, description="PromQL queries pulled into this service's metrics"
    )

    @field_validator("holiday_country")
    @classmethod
    def _known_country(cls, country: str | None, info: ValidationInfo) -> str | None:
        """Refused here, not found out at training time; stored as `holidays` spells it (DE-BY).
        Not refused when read back (``STORED``): a `holidays` upgrade that drops a code must
        not make the profile, and every service's actuation pass, fail to load."""
        try:
            return check_country(country)
        except ValueError:
            if info.context != STORED:
                raise
            return country

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str | None, info: ValidationInfo) -> str | None:
        """Refused here, like the holiday country, and for the same reason not checked again
        when read back: a time-zone database update must not make the profile unreadable (a
        zone it no longer knows is then read as UTC, with the error in the training note)."""
        if zone and info.context != STORED:
            check_zone(zone)
        return zone or None

    @model_validator(mode="after")
    def _check_consistency(self, info: ValidationInfo) -> ScalingProfile:
        if self.metric not in KNOWN_METRICS:
            raise ValueError(
                f"metric {quoted(self.metric)} is not known; "
                f"use one of {listing(sorted(KNOWN_METRICS))}"
            )
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas ({self.min_replicas}) exceeds max_replicas ({self.max_replicas})"
            )
        if self.horizon_hours * 3600 < self.step_seconds:
            raise ValueError(
                f"horizon_hours ({self.horizon_hours:g}) is shorter than one step "
                f"(step_seconds {self.step_seconds})"
            )
        pulled = [source.metric for source in self.prometheus]
        if len(pulled) != len(set(pulled)):
            raise ValueError("each metric can be fed by one prometheus query only")
        if self.tiers and self.reactive_tolerance_pct is not None:
            raise ValueError(
                "reactive_tolerance_pct needs a single replica type (a reactive autoscaler "
                "scales one); remove it or the tiers"
            )
        names = [tier.name for tier in self.tiers]
        if len(names) != len(set(names)):
            raise ValueError("tier names must be unique")
        if self.tiers and all(tier.max_replicas is not None for tier in self.tiers):
            # min_replicas is a total over tiers; plans could never reach it
            room = sum(tier.max_replicas or 0 for tier in self.tiers)
            if room < self.min_replicas:
                raise ValueError(
                    f"the tiers' max_replicas add up to {room}, fewer than min_replicas "
                    f"({self.min_replicas})"
                )
        for target in self.targets:
            problem = self.tier_problem(target.tier)
            if problem:
                raise ValueError(f"target {problem}")
        # not again when read back: the clusters' kubeconfigs are read, and may have changed
        shared = None if info.context == STORED else shared_object(self.targets)
        if shared:
            first, second = shared
            raise ValueError(
                f"targets {first.described} and {second.described} scale the same object: "
                "every pass would write it twice, each with its own floor; keep one"
            )
        return self

    def tier_problem(self, tier: str | None) -> str | None:
        """Why ``tier`` names none of this profile's capacity tiers (None: it does, or it is
        None, the total over tiers)."""
        names = [t.name for t in self.tiers]
        if tier is None or tier in names:
            return None
        known = f"({listing(quoted(n) for n in names)})" if names else "(it has none)"
        return f"tier {quoted(tier)} is not one of the profile's tiers {known}"

    @property
    def quantile_column(self) -> str:
        """The forecast column (``p95``, ``p97.5`` ...) this profile's plans cover."""
        return quantile_name(self.risk_quantile)

    @property
    def forecast_quantiles(self) -> tuple[float, ...]:
        """The quantiles a forecast for this profile carries: the usual four and its risk."""
        if self.risk_quantile in DEFAULT_QUANTILES:
            return DEFAULT_QUANTILES
        return tuple(sorted((*DEFAULT_QUANTILES, self.risk_quantile)))

    @property
    def floor_utilization(self) -> float:
        """The utilisation plan floors are sized at."""
        return self.plan_utilization or self.target_utilization

    @property
    def horizon_steps(self) -> int:
        return max(1, round(self.horizon_hours * 3600 / self.step_seconds))


def _yaml_problem(error: yaml.YAMLError) -> str:
    """Where and what PyYAML found, on one line: its own message spans five (context, the
    source line, a caret), and an error should be the one line a user reads."""
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(error, "problem", None) or " ".join(str(error).split())
    return f"{where}: {problem}"


# the profile's lists of nested settings, whose entries have fields of their own
NESTED_FIELDS: dict[str, type[BaseModel]] = {
    "tiers": CapacityTier,
    "targets": ActuationTarget,
    "prometheus": PrometheusSource,
}


def unknown_fields(
    data: dict[Any, Any], model: type[BaseModel], where: str = ""
) -> list[tuple[dict[Any, Any], Any, str]]:
    """Each field of ``data`` that ``model`` lacks, in the profile's nested lists too: the
    mapping holding it, its name, and a problem naming the closest known field."""
    known = list(model.model_fields)
    found = []
    for name in sorted(set(data) - set(known), key=str):
        close = difflib.get_close_matches(str(name), known, n=1)
        hint = f" (did you mean {quoted(close[0])}?)" if close else ""
        found.append((data, name, f"unknown field {json_text(name)}{where}{hint}"))
    if model is ScalingProfile:
        for field_name, item_model in NESTED_FIELDS.items():
            items = data.get(field_name)
            for number, item in enumerate(items if isinstance(items, list) else []):
                if isinstance(item, dict):
                    found += unknown_fields(item, item_model, f" in {field_name}.{number}")
    return found


MERGE_TAG = "tag:yaml.org,2002:merge"


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping: PyYAML keeps the last
    one without a word, so a second ``capacity_per_replica`` pasted below the first won."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG:  # `<<: *shared`, merged by the base class: the keys
                continue  # written here override those merged, as YAML says
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{json_text(key)} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def yaml_1_2_bool(self, node: yaml.ScalarNode) -> bool | str:
        """Only true and false are booleans, as in YAML 1.2: YAML 1.1 also read yes/no/on/off,
        so ``holiday_country: NO`` (Norway) became False. A boolean field still takes yes/no,
        as pydantic reads those words."""
        text = self.construct_scalar(node)
        return text.lower() == "true" if text.lower() in ("true", "false") else text

    def yaml_1_2_int(self, node: yaml.ScalarNode) -> int | str:
        """Integers as YAML 1.2 reads them: a leading zero is decimal (YAML 1.1 read
        ``max_replicas: 010`` as octal 8) and a colon makes text, not base 60 (``3:00`` was 180)."""
        text = str(self.construct_scalar(node))
        digits = text.replace("_", "").lstrip("+-")
        if ":" in text:
            return text
        if len(digits) > 1 and digits.startswith("0") and digits.isdigit():
            return int(text.replace("_", ""), 10)
        return int(self.construct_yaml_int(node))

    def yaml_1_2_float(self, node: yaml.ScalarNode) -> float | str:
        """A colon makes text here too (YAML 1.1 read ``1:30.5`` as 5430.5)."""
        text = str(self.construct_scalar(node))
        return text if ":" in text else float(self.construct_yaml_float(node))


_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:bool", _UniqueKeyLoader.yaml_1_2_bool)
_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:int", _UniqueKeyLoader.yaml_1_2_int)
_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:float", _UniqueKeyLoader.yaml_1_2_float)


def load_profile(path: Path, *, on_unknown: Callable[[str], None] | None = None) -> ScalingProfile:
    """Read a profile from a YAML (or JSON) file, with the same validation as the API.

    A field the profile does not have refuses the file, naming the closest known field: a
    profile that is stored (``forecaster ingest --profile``) must not lose a mistyped
    ``min_replicas``. With ``on_unknown``, such fields are left out and reported through it
    instead: an offline run should not fail on a field written for another tool, while a typo
    is still pointed out.
    """
    return _profile_from(path, _read_mapping(path), on_unknown=on_unknown)


def load_service_profile(path: Path) -> tuple[ScalingProfile, bool | None]:
    """A profile file to store, read as the body of ``PUT /v1/services/{name}`` is: the
    profile's fields, strictly (:func:`load_profile`), plus an optional ``enabled``. Its
    value, or None when the file does not set it: the stored state is then kept, so a file
    written before the service was disabled does not turn it back on."""
    data = _read_mapping(path)
    enabled = data.pop("enabled", None)
    try:  # read as the PUT body reads it: yes/no and on/off too (review)
        read = None if enabled is None else TypeAdapter(bool).validate_python(enabled)
    except ValidationError:
        raise ValueError(f"{path}: enabled: must be true or false, not {enabled!r}") from None
    return _profile_from(path, data), read


def _read_mapping(path: Path) -> dict[str, Any]:
    """A profile file's YAML (or JSON) mapping, refused in one line when it is none."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{path}: not UTF-8 text (byte {error.start}); save the profile as UTF-8 YAML"
        ) from None
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML{_yaml_problem(error)}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of profile fields")
    return data


def _profile_from(
    path: Path, data: dict[str, Any], *, on_unknown: Callable[[str], None] | None = None
) -> ScalingProfile:
    """The profile in a file's mapping; an unknown field refuses it or goes to ``on_unknown``."""
    unknown = unknown_fields(data, ScalingProfile)
    if unknown:
        if on_unknown is None:
            raise ValueError(f"{path}: {'; '.join(problem for _, _, problem in unknown)}")
        for holder, name, problem in unknown:
            on_unknown(f"{path.name}: ignored {problem}")
            del holder[name]
    try:
        return ScalingProfile.model_validate(data)
    except ValidationError as error:
        raise ValueError(f"{path}: {validation_problems(error, 'profile')}") from None


def check_zone(zone: str) -> None:
    """Refuse a time zone the IANA database (``zoneinfo``, or the ``tzdata`` package) lacks."""
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(zone)
    except (KeyError, ValueError, OSError):  # not found is a KeyError, a path a ValueError
        raise ValueError(
            f"unknown time zone {quoted(zone)}; use an IANA name such as America/New_York, "
            "Europe/Berlin, UTC"
        ) from None


def check_country(code: str | None) -> str | None:
    """``code`` (``us``, ``de-by``) as a profile stores it (``US``, ``DE-BY``), or refused when
    the ``holidays`` package lacks it (a profile's, ``--holidays``) before any training: the
    package would only fail when a model asks for the dates. Blank (only spaces) is none."""
    if not code or not code.strip():
        return None
    try:
        return holiday_region(code).code
    except UnknownHolidayRegionError as unknown:
        raise ValueError(_unknown_region_message(unknown)) from None


def _unknown_region_message(unknown: UnknownHolidayRegionError) -> str:
    """Which part of a holiday code is unknown, and a few codes to use instead."""
    if unknown.subdivision is None:
        return (
            f"unknown holiday country {quoted(unknown.country)}; use an ISO 3166 code such as "
            "US, GB, DE, or a subdivision such as DE-BY"
        )
    if not unknown.choices:
        return (
            f"unknown subdivision {quoted(unknown.subdivision)} of {unknown.country}: the "
            f"holidays package knows none of its subdivisions; use {unknown.country}"
        )
    shown = listing(unknown.choices[:SUBDIVISIONS_SHOWN])
    more = ", ..." if len(unknown.choices) > SUBDIVISIONS_SHOWN else ""
    return (
        f"unknown subdivision {quoted(unknown.subdivision)} of {unknown.country}; "
        f"use one of {shown}{more} (ISO 3166-2)"
    )
