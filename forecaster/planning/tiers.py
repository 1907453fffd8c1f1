"""The cheapest mix of capacity tiers (CPU, L4, A100 ...) that covers a load, step by step.

Called by :func:`forecaster.planning.planner.plan_capacity` when a profile declares tiers. The
search is exact by enumeration for small loads; for large loads the bulk is first bought from the
tier with the lowest cost per unit of capacity (what an optimal mix converges to) and only the
remainder is enumerated, so the cost stays bounded whatever the load.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from forecaster.errors import quoted
from forecaster.profiles import CapacityTier

# combinations x distinct load levels evaluated at once; beyond it the bulk is pre-bought
_MAX_CELLS = 2_000_000


def tier_ceilings(tiers: Sequence[CapacityTier], default_max: int) -> np.ndarray:
    """Each tier's replica ceiling: its own ``max_replicas`` or the profile's."""
    return np.array(
        [default_max if tier.max_replicas is None else tier.max_replicas for tier in tiers],
        dtype="int64",
    )


def cheapest_mix(
    load: np.ndarray,
    tiers: Sequence[CapacityTier],
    *,
    utilization: float,
    ceilings: np.ndarray,
    total_ceiling: int | None = None,
) -> np.ndarray:
    """Replicas per tier (shape steps x tiers) covering each load at the target utilisation.

    ``ceilings`` caps each tier, ``total_ceiling`` (the profile's max) their sum. Ties in cost
    go to fewer replicas. A load no mix within the ceilings covers gets the mix with the most
    capacity (biggest replicas first), so a capped step is as close to its load as allowed.
    """
    usable = np.array([tier.capacity_per_replica for tier in tiers]) * utilization
    total = int(ceilings.sum())
    if total_ceiling is not None:
        total = min(total, total_ceiling)
    # no mix can cover more than every tier at its ceiling: larger loads get the fullest mix
    most = float(ceilings @ usable) + float(usable.max())
    values = np.nan_to_num(np.asarray(load, dtype="float64"), nan=0.0).clip(0.0, most)
    cost = np.array([tier.cost_per_replica_hour for tier in tiers], dtype="float64")
    levels, inverse = np.unique(values, return_inverse=True)

    best = int(np.lexsort((-usable, cost / usable))[0])  # lowest cost per capacity, then biggest
    # exact over every combination when that is affordable (pre-buying can miss the optimum near
    # a ceiling or when tiers tie on cost per capacity), else pre-buy the bulk from the best tier
    mixes = _enumerate_mixes(
        levels, usable, cost, ceilings, total, bulk_tier=best, bulk=np.zeros_like(levels)
    )
    if mixes is None:
        window = (len(tiers) + 1) * float(usable.max())
        bulk = np.floor((levels - window) / usable[best]).clip(
            min=0, max=min(int(ceilings[best]), total)
        )
        remainder = levels - bulk * usable[best]
        mixes = _enumerate_mixes(
            remainder, usable, cost, ceilings, total, bulk_tier=best, bulk=bulk
        )
        if mixes is None:
            return _greedy_mixes(levels, usable, cost, ceilings, total)[inverse]
        mixes[:, best] += bulk.astype("int64")
    return mixes[inverse]


def _fullest_mix(usable: np.ndarray, room: np.ndarray, total: np.ndarray) -> np.ndarray:
    """The most capacity within per-tier room (tiers x rows) and a total count per row:
    biggest replicas first. What a load beyond every allowed mix gets."""
    mixes = np.zeros(room.T.shape, dtype="int64")
    left = np.asarray(total, dtype="int64").copy()
    for tier in np.argsort(-usable, kind="stable"):
        take = np.minimum(room[tier], left).clip(min=0)
        mixes[:, tier] = take
        left = left - take
    return mixes


def _enumerate_mixes(
    levels: np.ndarray,
    usable: np.ndarray,
    cost: np.ndarray,
    ceilings: np.ndarray,
    total: int,
    *,
    bulk_tier: int,
    bulk: np.ndarray,
) -> np.ndarray | None:
    """Exact cheapest cover of each level: enumerate all tiers but the finest, fill with it;
    ``None`` when there are too many combinations to enumerate."""
    n_tiers = len(usable)
    filler = int(np.argmin(usable))
    others = [i for i in range(n_tiers) if i != filler]
    top = float(levels.max()) if len(levels) else 0.0
    ranges = [
        np.arange(0, min(int(ceilings[i]), math.ceil(top / usable[i] - 1e-9)) + 1) for i in others
    ]
    combos = int(np.prod([len(r) for r in ranges])) if ranges else 1
    if combos * max(len(levels), 1) > _MAX_CELLS:
        return None
    grid = (
        np.stack(np.meshgrid(*ranges, indexing="ij"), axis=-1).reshape(-1, len(others))
        if others
        else np.zeros((1, 0), dtype="int64")
    )
    grid_capacity = grid @ usable[others] if others else np.zeros(1)
    grid_cost = grid @ cost[others] if others else np.zeros(1)
    grid_count = grid.sum(axis=1)
    # the bulk tier's ceiling left after its pre-bought replicas, per level
    room = np.where(
        np.arange(n_tiers)[:, None] == bulk_tier, ceilings[:, None] - bulk, ceilings[:, None]
    )
    room_total = total - bulk  # replicas the total ceiling leaves after the pre-bought ones
    shortfall = levels[:, None] - grid_capacity[None, :]
    fill = np.ceil(shortfall / usable[filler] - 1e-9).clip(min=0)
    count = grid_count[None, :] + fill
    feasible = (fill <= room[filler][:, None]) & (count <= room_total[:, None])
    if others:
        for column, tier in enumerate(others):
            feasible &= grid[None, :, column] <= room[tier][:, None]
    price = grid_cost[None, :] + fill * cost[filler]
    # lexicographic: cost first, then fewer replicas
    score = np.where(feasible, price + count * 1e-9 * (1 + price.max(initial=0.0)), np.inf)
    choice = np.argmin(score, axis=1)
    mixes = np.zeros((len(levels), n_tiers), dtype="int64")
    if others:
        mixes[:, others] = grid[choice]
    mixes[:, filler] = fill[np.arange(len(levels)), choice].astype("int64")
    infeasible = ~np.isfinite(score[np.arange(len(levels)), choice])
    if infeasible.any():
        mixes[infeasible] = _fullest_mix(usable, room[:, infeasible], room_total[infeasible])
    return mixes


def _greedy_mixes(
    levels: np.ndarray, usable: np.ndarray, cost: np.ndarray, ceilings: np.ndarray, total: int
) -> np.ndarray:
    """Fallback for huge searches: fill tiers in order of cost per capacity (near-optimal)."""
    mixes = np.zeros((len(levels), len(usable)), dtype="int64")
    remaining = levels.copy()
    left = np.full(len(levels), total, dtype="int64")
    for tier in np.argsort(cost / usable, kind="stable"):
        take = np.ceil(remaining / usable[tier] - 1e-9).clip(min=0, max=ceilings[tier])
        take = np.minimum(take.astype("int64"), left)
        mixes[:, tier] = take
        left = left - take
        remaining = (remaining - take * usable[tier]).clip(min=0)
    short = remaining > 0
    if short.any():  # the count ran out: the most capacity the ceilings allow instead
        room = np.broadcast_to(ceilings[:, None], (len(usable), int(short.sum())))
        mixes[short] = _fullest_mix(usable, room, np.full(int(short.sum()), total))
    return mixes


def format_mix(mixes: np.ndarray, names: Sequence[str]) -> list[str]:
    """Each step's mix as text, e.g. ``A100:1+L4:3`` (tiers in profile order, zeros left out)."""
    labels = np.array(names, dtype=object)
    texts = []
    for row in mixes:
        used = row > 0
        texts.append(
            "+".join(f"{name}:{n}" for name, n in zip(labels[used], row[used], strict=True))
        )
    return texts


def parse_mix(text: str) -> dict[str, int]:
    """The inverse of :func:`format_mix`: ``"A100:1+L4:3"`` -> ``{"A100": 1, "L4": 3}``."""
    mix: dict[str, int] = {}
    for part in filter(None, (text or "").split("+")):
        name, _, count = part.rpartition(":")
        if not name or not count.isdigit():
            raise ValueError(f"cannot read tier mix {quoted(text)}: expected NAME:COUNT+NAME:COUNT")
        mix[name] = int(count)
    return mix
