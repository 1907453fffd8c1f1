"""The cheapest mix of capacity tiers (CPU, L4, A100 ...) that covers a load, step by step.

Called by :func:`forecaster.planning.planner.plan_capacity` when a profile declares tiers. The
search is exact: it enumerates the combinations of all tiers but the finest that no other beats
(as much capacity for no more money), each topped up with the finest. For large loads the bulk
is first bought from the tier with the lowest cost per unit of capacity (what an optimal mix
converges to) and only the remainder is enumerated, so the cost stays bounded whatever the
load. Where the total count or a tier's ceiling binds, a small integer program settles it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from forecaster.errors import quoted
from forecaster.profiles import CapacityTier

# combinations x distinct load levels evaluated at once; beyond it the bulk is pre-bought
_MAX_CELLS = 2_000_000
# integer programs solved for one search at most (levels beyond it are rounded up onto as many)
PROGRAM_LEVELS = 48
# in all, for the levels where a ceiling binds (seconds of numpy at most)
_MAX_BINDING_CELLS = 16_000_000


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
        if mixes is None:  # too many combinations even so: one program a level
            return _cheapest_by_program(levels, usable, cost, ceilings, total)[inverse]
        # where the total count or a tier's ceiling binds, the best tier's bulk can leave no
        # room for the rest: 200 replicas of a 4 req/s tier covered a third of what 193 mixed
        # replicas did, and pre-bought bulks had left mixes up to 5x the cheapest (QA)
        binding = np.flatnonzero(
            (mixes.sum(axis=1) >= total)
            | (mixes >= ceilings).any(axis=1)
            | (mixes @ usable < levels - 1e-9)
        )
        if len(binding):  # every combination up to the ceilings, if affordable
            exact = _enumerate_mixes(
                levels[binding], usable, cost, ceilings, total, max_cells=_MAX_BINDING_CELLS
            )
            if exact is None:
                exact = _cheapest_by_program(levels[binding], usable, cost, ceilings, total)
            mixes[binding] = exact
    return mixes[inverse]


def _cheapest_by_program(
    levels: np.ndarray,
    usable: np.ndarray,
    cost: np.ndarray,
    ceilings: np.ndarray,
    total: int | np.ndarray,
) -> np.ndarray:
    """The cheapest covering mix of each level as a small integer program (HiGHS), ties to
    fewer replicas; the fullest mix where none covers. ``ceilings`` per tier, or per level and
    tier; ``total`` one count, or one per level. For the few levels a ceiling binds and the
    combinations are too many to enumerate: a loop over them, some ms each."""
    if len(levels) > PROGRAM_LEVELS and np.ndim(ceilings) == 1 and np.ndim(total) == 0:
        # as many programs as that at most: each level rounded up to the next of that many
        # spread over them (covered, at a little more cost), or 2,880 steps took minutes
        marks = np.unique(np.quantile(levels, np.linspace(0, 1, PROGRAM_LEVELS)))
        solved = _cheapest_by_program(marks, usable, cost, ceilings, total)
        return solved[np.searchsorted(marks, levels - 1e-9).clip(max=len(marks) - 1)]
    count_weight = 1e-9 * (1 + float(cost.max()))
    room = np.broadcast_to(ceilings, (len(levels), len(usable))).astype("float64")
    totals = np.broadcast_to(np.asarray(total, dtype="float64"), (len(levels),))
    mixes = np.zeros((len(levels), len(usable)), dtype="int64")
    for row, level in enumerate(levels):
        result = milp(
            cost + count_weight,
            constraints=[
                LinearConstraint(usable[None, :], level - 1e-9, np.inf),
                LinearConstraint(np.ones((1, len(usable))), 0, totals[row]),
            ],
            integrality=np.ones(len(usable)),
            bounds=Bounds(np.zeros(len(usable)), room[row]),
            options={"mip_rel_gap": 1e-9},
        )
        if result.x is None:  # nothing within the ceilings covers it
            fullest = _fullest_mix(usable, room[row][:, None].astype("int64"), totals[[row]])
            mixes[row] = fullest[0]
        else:
            mixes[row] = np.round(result.x).astype("int64")
    return mixes


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
    weight = 1e-9 * (1 + sum(float(r[-1] * cost[i]) for r, i in zip(ranges, others, strict=True)))
    frontier = _frontier(ranges, usable[others], cost[others], weight)
    if frontier is None or len(frontier) * max(len(levels), 1) > max_cells:
        return None
    if bulk is None:
        bulk = np.zeros((len(levels), len(usable)), dtype="int64")
    on_grid = (others, filler, usable, cost, ceilings, total)
    mixes, exact = _cheapest_in_chunks(levels, frontier, bulk, on_grid, free=True)
    # where a ceiling ruled out the frontier's best, a combination it dominated may fit: the
    # whole grid for those levels when it is small, else a program each (few: the ceilings
    # seldom bind below the top of the range)
    redo = np.flatnonzero(~exact)
    if len(redo) and combos <= _MAX_CELLS and len(redo) * combos <= _MAX_BINDING_CELLS:
        grid = (
            np.stack(np.meshgrid(*ranges, indexing="ij"), axis=-1).reshape(-1, len(others))
            if others
            else np.zeros((1, 0), dtype="int64")
        )
        mixes[redo] = _cheapest_in_chunks(levels[redo], grid, bulk[redo], on_grid)[0]
    elif len(redo):
        room = (ceilings[None, :] - bulk[redo]).clip(min=0)
        rest = (levels[redo] - bulk[redo] @ usable).clip(min=0)
        left = total - bulk[redo].sum(axis=1)
        mixes[redo] = bulk[redo] + _cheapest_by_program(rest, usable, cost, room, left)
    return mixes


def _frontier(
    ranges: list[np.ndarray], usable: np.ndarray, cost: np.ndarray, weight: float
) -> np.ndarray | None:
    """The combinations of counts in ``ranges`` (one per tier) that no other beats with as
    much capacity for no more money (ties: no more replicas), built tier by tier: a dominated
    combination stays dominated whatever is added to both, and topped up with the finest tier
    it never covers a load cheaper. Six tiers' 10^11 combinations come to a few thousand.
    None when a step would hold more than ``_MAX_CELLS``."""
    combos = np.zeros((1, 0), dtype="int64")
    for column, counts in enumerate(ranges):
        if len(combos) * len(counts) > _MAX_CELLS:
            return None
        grown = np.column_stack(
            [np.repeat(combos, len(counts), axis=0), np.tile(counts, len(combos))]
        )
        taken = slice(0, column + 1)
        score = grown @ cost[taken] + grown.sum(axis=1) * weight
        combos = grown[_undominated(grown @ usable[taken], score)]
    return combos


def _undominated(capacity: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Indices of the points no other beats with as much capacity for no more score."""
    order = np.lexsort((score, -capacity))  # most capacity first, the cheapest first among equals
    best_before = np.minimum.accumulate(np.concatenate([[np.inf], score[order]]))[:-1]
    return np.sort(order[score[order] < best_before])


def _cheapest_in_chunks(
    levels: np.ndarray,
    grid: np.ndarray,
    bulk: np.ndarray,
    on_grid: tuple[list[int], int, np.ndarray, np.ndarray, np.ndarray, int],
    free: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_cheapest_on_grid` over the levels in chunks of at most ``_MAX_CELLS`` cells."""
    chunk = max(1, _MAX_CELLS // max(len(grid), 1))
    mixes = np.zeros((len(levels), len(on_grid[2])), dtype="int64")
    exact = np.ones(len(levels), dtype=bool)
    for first in range(0, len(levels), chunk):
        rows = slice(first, first + chunk)
        mixes[rows], exact[rows] = _cheapest_on_grid(
            levels[rows], grid, *on_grid, bulk[rows], free=free
        )
    return mixes, exact


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
    free: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """The cheapest of the ``grid`` combinations (tiers ``others``), filled up with the
    ``filler`` tier, for each level; the fullest mix where none fits the ceilings. Also which
    levels' mixes are sure to be the cheapest of all: with ``free``, those whose cheapest
    combination ignoring the ceilings fits them (a grid of undominated combinations holds
    the cheapest of all, but not the cheapest within the ceilings); else every level."""
    n_tiers = len(usable)
    grid_capacity = grid @ usable[others] if others else np.zeros(1)
    grid_cost = grid @ cost[others] if others else np.zeros(1)
    grid_count = grid.sum(axis=1)
    room = ceilings[:, None] - bulk.T  # each tier's ceiling left after the pre-bought replicas
    room_total = total - bulk.sum(axis=1)  # and the total's
    shortfall = levels[:, None] - grid_capacity[None, :]
    # float residue is no shortfall: 5 x 16.8 fell 1e-14 short of 84 and took one more replica
    shortfall = np.where(shortfall > 1e-9, shortfall, 0.0)
    fill = _replicas_for(shortfall, usable[filler])
    count = grid_count[None, :] + fill
    feasible = (fill <= room[filler][:, None]) & (count <= room_total[:, None])
    for column, tier in enumerate(others):
        feasible &= grid[None, :, column] <= room[tier][:, None]
    price = grid_cost[None, :] + fill * cost[filler]
    # lexicographic: cost first, then fewer replicas
    unbound = price + count * 1e-9 * (1 + price.max(initial=0.0))
    score = np.where(feasible, unbound, np.inf)
    choice = np.argmin(score, axis=1)
    rows = np.arange(len(levels))
    exact = feasible[rows, np.argmin(unbound, axis=1)] if free else np.ones(len(levels), bool)
    mixes = np.zeros((len(levels), n_tiers), dtype="int64")
    if others:
        mixes[:, others] = grid[choice]
    mixes[:, filler] = fill[rows, choice].astype("int64")
    infeasible = ~np.isfinite(score[rows, choice])
    if infeasible.any():
        mixes[infeasible] = _fullest_mix(usable, room[:, infeasible], room_total[infeasible])
    return mixes, exact


def _replicas_for(load: np.ndarray, usable: float) -> np.ndarray:
    """Replicas of ``usable`` capacity that cover ``load`` (float slack forgiven), and at least
    one for any load: a replica holding over a billion times the load fell under the slack and
    covered it with none (the plan held 0 replicas), or was never tried (QA, then review)."""
    needed = np.ceil(load / usable - 1e-9)
    return np.where(load > 0, np.maximum(needed, 1), 0.0)


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
