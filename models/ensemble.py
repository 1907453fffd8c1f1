"""An equal-weight ensemble of fitted models: the mean of their medians and of their offsets.

The training engine builds one from the best few candidates of a backtest when their average
beats each of them; averaging models that err differently is the cheapest accuracy gain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import numpy as np
import pandas as pd

from models.base import ForecastModel
from models.calendar import Calendar


class Ensemble(ForecastModel):
    """Mean of the members' forecasts; members are fitted and updated together."""

    alias = "ensemble"
    reads_missing_end_seconds = float("inf")  # each member does

    def __init__(self, members: Sequence[ForecastModel]) -> None:
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = list(members)

    @property
    def names(self) -> list[str]:
        return [member.alias for member in self.members]

    def configure(self, *, calendar: Calendar | None = None, horizon: int | None = None) -> Self:
        for member in self.members:
            member.configure(calendar=calendar, horizon=horizon)
        return super().configure(calendar=calendar, horizon=horizon)

    def _fit(self, history: pd.Series) -> None:
        for member in self.members:
            member.fit(history)

    def _update(self, history: pd.Series) -> None:
        for member in self.members:
            member.update(history)

    def _predict(
        self, horizon: int, quantiles: tuple[float, ...]
    ) -> tuple[np.ndarray, dict[float, np.ndarray]]:
        outputs = [member.forecast_parts(horizon, quantiles) for member in self.members]
        median = np.mean([median for median, _ in outputs], axis=0)
        offsets = {q: np.mean([offsets[q] for _, offsets in outputs], axis=0) for q in quantiles}
        return median, offsets
