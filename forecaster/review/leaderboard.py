"""The backtest leaderboard of a series, whatever shape its model runs' scores take.

Scores are free-form JSON written by the training code: either one run per candidate with flat
or grouped scores (``{"mase": 0.4, "coverage": {"p95": 0.94}}``), or one champion run holding
every candidate's scores keyed by model name (``{"holt_winters": {"mae": 3.1}, ...}``). Both
become one row per model with flat numeric scores, so the dashboard renders any keys it finds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from forecaster.storage.orm import ModelRun

# lower is better for these; the first one present orders the leaderboard
RANKING_KEYS = ("mase", "mae", "rmse", "pinball", "pinball_loss", "smape")


@dataclass(frozen=True)
class LeaderboardRow:
    model: str
    champion: bool
    status: str
    scores: dict[str, float]
    fit_seconds: float | None
    message: str | None
    run_id: int
    trained_at: datetime


def numeric_scores(raw: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Finite numbers of a score mapping, nested groups flattened as ``group.key``."""
    flat: dict[str, float] = {}
    for key, value in raw.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(numeric_scores(value, prefix=f"{name}."))
        elif (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        ):
            flat[name] = float(value)
    return flat


def holds_candidates(run: ModelRun) -> bool:
    """Whether a run's scores are keyed by candidate model (one run for the whole training)."""
    return isinstance(run.scores.get(run.model), dict)


def headline_scores(run: ModelRun) -> dict[str, float]:
    """The champion's own scores, whichever layout its run uses."""
    if holds_candidates(run):
        return numeric_scores(run.scores[run.model])
    return numeric_scores(run.scores)


def leaderboard(runs: list[ModelRun]) -> list[LeaderboardRow]:
    """One row per model of a training, champion first, then best ranking score first."""
    rows: list[LeaderboardRow] = []
    for run in runs:
        rows.extend(_candidate_rows(run) if holds_candidates(run) else [_run_row(run)])
    key = next((name for name in RANKING_KEYS if any(name in row.scores for row in rows)), None)
    return sorted(
        rows,
        key=lambda row: (
            not row.champion,
            row.status not in ("ok", "fallback"),
            row.scores.get(key, math.inf) if key else 0.0,
            row.model,
        ),
    )


def _run_row(run: ModelRun) -> LeaderboardRow:
    return LeaderboardRow(
        model=run.model,
        champion=run.is_champion,
        status=run.status,
        scores=headline_scores(run),
        fit_seconds=run.fit_seconds,
        message=run.message,
        run_id=run.id,
        trained_at=run.created_at,
    )


def _candidate_rows(run: ModelRun) -> list[LeaderboardRow]:
    rows = []
    for model, entry in run.scores.items():
        if not isinstance(entry, dict):
            continue
        own = model == run.model
        error = entry.get("error")
        rows.append(
            LeaderboardRow(
                model=model,
                champion=own and run.is_champion,
                status=run.status if own else ("failed" if error else "ok"),
                scores=numeric_scores(entry),
                fit_seconds=run.fit_seconds if own else None,
                message=run.message if own else (str(error) if error else None),
                run_id=run.id,
                trained_at=run.created_at,
            )
        )
    return rows
