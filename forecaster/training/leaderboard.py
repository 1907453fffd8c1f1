"""The leaderboard as text: one line per candidate with its backtest figures.

Shared by ``forecaster backtest`` (offline) and ``forecaster runs`` (stored model runs), so both
print the same columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

HEADER = (
    f"{'model':24s} {'MASE':>7s} {'pinball':>9s} {'p90 cov':>8s} {'p95 cov':>8s} "
    f"{'fit s':>7s}  status"
)


def _number(value: Any, width: int, digits: int) -> str:
    return f"{value:{width}.{digits}f}" if isinstance(value, int | float) else f"{'-':>{width}s}"


def leaderboard_rank(champion: bool, mase: float | None) -> tuple[bool, float]:
    """A leaderboard's order: the champion first, then by MASE, unscored candidates last."""
    return (not champion, float(mase) if mase is not None else float("inf"))


def format_leaderboard(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Lines for rows holding ``model``, ``mase``, ``pinball`` (per quantile), ``coverage``,
    ``fit_seconds``, ``status``, ``champion`` and ``message``, in :func:`leaderboard_rank`
    order; pinball is the quantile mean."""
    lines = [HEADER]
    ranked = sorted(rows, key=lambda r: leaderboard_rank(bool(r.get("champion")), r.get("mase")))
    for row in ranked:
        pinball = row.get("pinball") or {}
        coverage = row.get("coverage") or {}
        mean_pinball = sum(pinball.values()) / len(pinball) if pinball else None
        status = str(row.get("status", ""))
        if row.get("champion"):
            status = f"{status}, champion"
        if row.get("message"):
            status = f"{status}: {row['message']}"
        lines.append(
            f"{row.get('model')!s:24s} {_number(row.get('mase'), 7, 3)} "
            f"{_number(mean_pinball, 9, 3)} {_number(coverage.get('p90'), 8, 3)} "
            f"{_number(coverage.get('p95'), 8, 3)} {_number(row.get('fit_seconds'), 7, 2)}  "
            f"{status}"
        )
    return lines
