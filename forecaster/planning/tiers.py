"""The cheapest mix of capacity tiers (CPU, L4, A100 ...) that covers a load, step by step.

Called by :func:`forecaster.planning.planner.plan_capacity` when a profile declares tiers. The
search is exact by enumeration for small loads; for large loads the bulk is first bought from the
tier with the lowest cost per unit of capacity (what an optimal mix converges to) and only the
remainder is enumerated, so the cost stays bounded whatever the load. Where the total count
binds, other bulks (each tier, each pair at the full count) are tried too.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np

from forecaster.errors import quoted
from forecaster.profiles import CapacityTier

# combinations x distinct load levels evaluated at once; beyond it the bulk is pre-bought
_MAX_CELLS = 2_000_000
# in all, per bulk tried where the total count binds (rare: those levels alone, a few tiers)
_MAX_BINDING_CELLS = 8_000_000


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
    usable = np.array([tier.capacity_per_replica for tier in tiers], dtype="float64") * utilization
    total = int(ceilings.sum())
    if total_ceiling is not None:
        total = min(total, total_ceiling)
    # no mix can cover more than every tier at its ceiling: larger loads get the fullest mix
    most = float(ceilings @ usable) + float(usable.max())
    values = np.nan_to_num(np.asarray(load, dtype="float64"), nan=0.0).clip(0.0, most)
    cost = np.array([tier.cost_per_replica_hour for tier in tiers], dtype="float64")
    levels, inverse = np.unique(values, return_inverse=True)

    # exact over every combination when that is affordable (pre-buying can miss the optimum near
    # a ceiling or when tiers tie on cost per capacity), else pre-buy the bulk from the best tier
    mixes = _enumerate_mixes(levels, usable, cost, ceilings, total)
    if mixes is None:
        best = int(np.lexsort((-usable, cost / usable))[0])  # lowest cost per capacity, biggest
        mixes = _bulk_mixes(levels, usable, cost, ceilings, total, _single_bulk(best))
        if mixes is None:
            mixes = _greedy_mixes(levels, usable, cost, ceilings, total)
        # where the total count binds, the best tier's bulk can leave no room for the rest:
        # 200 replicas of a 4 req/s tier covered a third of what 193 mixed replicas did
        binding = np.flatnonzero((mixes.sum(axis=1) >= total) | (mixes @ usable < levels - 1e-9))
        if len(binding):
            mixes[binding] = _cheapest_under_the_count(
                levels[binding], mixes[binding], usable, cost, ceilings, total
            )
    return mixes[inverse]


def _cheapest_under_the_count(
    levels: np.ndarray,
    mixes: np.ndarray,
    usable: np.ndarray,
    cost: np.ndarray,
    ceilings: np.ndarray,
    total: int,
) -> np.ndarray:
    """``mixes`` improved, level by level, by the cheapest covering mix of other bulks: each
    tier alone, and each pair of tiers as the relaxed optimum with every allowed replica used
    (the count ceiling binds, so the mix must be made of fewer, bigger replicas)."""
    chosen = mixes.copy()
    score = _covering_cost(chosen, levels, usable, cost)
    window = _window(usable)
    candidates = [_single_bulk(tier) for tier in range(len(usable))]
    candidates += [
        _pair_bulk(int(low), int(high))
        for low, high in itertools.combinations(np.argsort(usable, kind="stable"), 2)
        if usable[high] > usable[low]
    ]
    for bulk in candidates:
        rest = levels - bulk(levels, usable, ceilings, total, window) @ usable
        # where a ceiling cut the bulk short, the rest is too large to enumerate: not this bulk
        rows = np.flatnonzero(rest <= window + float(usable.max()))
        found = _bulk_mixes(
            levels[rows], usable, cost, ceilings, total, bulk, max_cells=_MAX_BINDING_CELLS
        )
        if found is None:
            continue
        candidate = _covering_cost(found, levels[rows], usable, cost)
        better = candidate < score[rows]
        chosen[rows[better]], score[rows[better]] = found[better], candidate[better]
    return chosen


def _covering_cost(
    mixes: np.ndarray, levels: np.ndarray, usable: np.ndarray, cost: np.ndarray
) -> np.ndarray:
    """Each mix's cost (a hair more per replica: ties go to fewer), infinite where it falls
    short of its level."""
    covers = mixes @ usable >= levels - 1e-9
    return np.where(covers, mixes @ cost + mixes.sum(axis=1) * 1e-9, np.inf)


# replicas per level and tier to pre-buy: (levels, usable, ceilings, total, window) -> array
Bulk = Callable[[np.ndarray, np.ndarray, np.ndarray, int, float], np.ndarray]


def _window(usable: np.ndarray) -> float:
    """About how much of a level a bulk leaves for the search: a few of the biggest replicas."""
    return (len(usable) + 1) * float(usable.max())


def _single_bulk(tier: int) -> Bulk:
    """Pre-buy from one tier all of each level but about ``window`` (levels x tiers)."""

    def bulk(
        levels: np.ndarray, usable: np.ndarray, ceilings: np.ndarray, total: int, window: float
    ) -> np.ndarray:
        bought = np.zeros((len(levels), len(usable)), dtype="int64")
        bought[:, tier] = np.floor((levels - window) / usable[tier]).clip(
            min=0, max=min(int(ceilings[tier]), total)
        )
        return bought

    return bulk


def _pair_bulk(low: int, high: int) -> Bulk:
    """Pre-buy from two tiers the mix using all ``total`` replicas that covers each level
    (``low x + high y = level``, ``x + y = total``), less about half a ``window`` of each."""

    def bulk(
        levels: np.ndarray, usable: np.ndarray, ceilings: np.ndarray, total: int, window: float
    ) -> np.ndarray:
        many = (levels - usable[low] * total) / (usable[high] - usable[low])
        bought = np.zeros((len(levels), len(usable)), dtype="int64")
        keep = window / 2
        bought[:, high] = np.floor(many - keep / usable[high]).clip(0, int(ceilings[high]))
        bought[:, low] = np.floor(total - many - keep / usable[low]).clip(0, int(ceilings[low]))
        return bought

    return bulk


def _bulk_mixes(
    levels: np.ndarray,
    usable: np.ndarray,
    cost: np.ndarray,
    ceilings: np.ndarray,
    total: int,
    bulk: Bulk,
    max_cells: int = _MAX_CELLS,
) -> np.ndarray | None:
    """Each level's mix with ``bulk`` pre-bought and the rest enumerated; None when that is
    more than ``max_cells`` to enumerate."""
    bought = bulk(levels, usable, ceilings, total, _window(usable))
    rest = (levels - bought @ usable).clip(min=0)
    mixes = _enumerate_mixes(rest, usable, cost, ceilings, total, bulk=bought, max_cells=max_cells)
    return None if mixes is None else mixes + bought


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
    bulk: np.ndarray | None = None,
    max_cells: int = _MAX_CELLS,
) -> np.ndarray | None:
    """Exact cheapest cover of each level: enumerate all tiers but the finest, fill with it,
    within the ceilings less the ``bulk`` already bought (levels x tiers, if any);
    ``None`` when there are more than ``max_cells`` combinations x levels to score (in chunks
    of at most ``_MAX_CELLS``)."""
    filler = int(np.argmin(usable))
    others = [i for i in range(len(usable)) if i != filler]
    top = max(float(levels.max()), 0.0) if len(levels) else 0.0
    ranges = [
        np.arange(0, min(int(ceilings[i]), int(_replicas_for(np.array(top), usable[i]))) + 1)
        for i in others
    ]
    combos = int(np.prod([len(r) for r in ranges])) if ranges else 1
    if combos > _MAX_CELLS or combos * max(len(levels), 1) > max_cells:
        return None
    grid = (
        np.stack(np.meshgrid(*ranges, indexing="ij"), axis=-1).reshape(-1, len(others))
        if others
        else np.zeros((1, 0), dtype="int64")
    )
    if bulk is None:
        bulk = np.zeros((len(levels), len(usable)), dtype="int64")
    chunk = max(1, _MAX_CELLS // combos)
    mixes = np.zeros((len(levels), len(usable)), dtype="int64")
    for first in range(0, len(levels), chunk):
        rows = slice(first, first + chunk)
        mixes[rows] = _cheapest_on_grid(
            levels[rows], grid, others, filler, usable, cost, ceilings, total, bulk[rows]
        )
    return mixes


def _cheapest_on_grid(
    levels: np.ndarray,
    grid: np.ndarray,
    others: list[int],
    filler: int,
    usable: np.ndarray,
    cost: np.ndarray,
    ceilings: np.ndarray,
    total: int,
    bulk: np.ndarray,
) -> np.ndarray:
    """The cheapest of the ``grid`` combinations (tiers ``others``), filled up with the
    ``filler`` tier, for each level; the fullest mix where none fits the ceilings."""
    n_tiers = len(usable)
    grid_capacity = grid @ usable[others] if others else np.zeros(1)
    grid_cost = grid @ cost[others] if others else np.zeros(1)
    grid_count = grid.sum(axis=1)
    room = ceilings[:, None] - bulk.T  # each tier's ceiling left after the pre-bought replicas
    room_total = total - bulk.sum(axis=1)  # and the total's
    shortfall = levels[:, None] - grid_capacity[None, :]
    fill = _replicas_for(shortfall, usable[filler])
    count = grid_count[None, :] + fill
    feasible = (fill <= room[filler][:, None]) & (count <= room_total[:, None])
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


def _replicas_for(load: np.ndarray, usable: float) -> np.ndarray:
    """Replicas of ``usable`` capacity that cover ``load`` (float slack forgiven), and at least
    one for any load: a replica holding over a billion times the load fell under the slack and
    covered it with none (the plan held 0 replicas), or was never tried (QA, then review)."""
    needed = np.ceil(load / usable - 1e-9)
    return np.where(load > 0, np.maximum(needed, 1), 0.0)


def _greedy_mixes(
    levels: np.ndarray, usable: np.ndarray, cost: np.ndarray, ceilings: np.ndarray, total: int
) -> np.ndarray:
    """Fallback for huge searches: fill tiers in order of cost per capacity (near-optimal)."""
    mixes = np.zeros((len(levels), len(usable)), dtype="int64")
    remaining = levels.copy()
    left = np.full(len(levels), total, dtype="int64")
    for tier in np.argsort(cost / usable, kind="stable"):
        take = _replicas_for(remaining, usable[tier]).clip(max=ceilings[tier])
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
