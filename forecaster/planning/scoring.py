"""Scores of one policy's replay: how often and how much load went unserved, and at what cost.

Pure numpy over whole timelines; called by :mod:`forecaster.planning.simulate` (and
:mod:`forecaster.planning.reactive`, which counts the HPA's short ticks the same way).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from forecaster.planning.hpa import Timeline
from forecaster.profiles import ScalingProfile


@dataclass(frozen=True)
class PolicyScore:
    """Per policy. Under-provisioned: the load is above what the ready replicas serve at full
    capacity. Replica-hours bill every replica that exists, starting ones included."""

    under_provisioned_pct: float
    unserved_load_pct: float
    replica_hours: float
    gpu_hours: float
    cost: float
    scale_events: int
    peak_replicas: int
    mean_replicas: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def short_ticks(load: np.ndarray, timeline: Timeline, profile: ScalingProfile) -> np.ndarray:
    """Ticks whose load is above what the ready replicas serve at full capacity."""
    capacity = timeline.ready * profile.capacity_per_replica
    return np.asarray(load, dtype="float64") > capacity * (1 + 1e-9)


def score(
    load: np.ndarray, timeline: Timeline, *, tick_seconds: float, profile: ScalingProfile
) -> PolicyScore:
    """Score a timeline against the load it served."""
    capacity = timeline.ready * profile.capacity_per_replica
    short = short_ticks(load, timeline, profile)
    unserved = np.clip(load - capacity, 0, None).sum()
    total = float(load.sum())
    hours = float(timeline.spec.sum()) * tick_seconds / 3600
    events = int(np.count_nonzero(np.diff(timeline.spec)))
    return PolicyScore(
        under_provisioned_pct=100 * float(short.mean()) if len(load) else 0.0,
        unserved_load_pct=100 * float(unserved) / total if total > 0 else 0.0,
        replica_hours=hours,
        gpu_hours=hours * profile.gpus_per_replica,
        cost=hours * profile.cost_per_replica_hour,
        scale_events=events,
        peak_replicas=int(timeline.spec.max()) if len(load) else 0,
        mean_replicas=float(timeline.spec.mean()) if len(load) else 0.0,
    )
