"""Names of the forecasting models, alphabetically: adding a model is one module and one line."""

from __future__ import annotations

from collections.abc import Callable

from models.base import ForecastModel
from models.holt_winters import HoltWinters
from models.naive import SeasonalNaiveDaily, SeasonalNaiveWeekly

MODELS: dict[str, Callable[[], ForecastModel]] = {
    "holt_winters": HoltWinters,
    "seasonal_naive_daily": SeasonalNaiveDaily,
    "seasonal_naive_weekly": SeasonalNaiveWeekly,
}


def create_model(name: str) -> ForecastModel:
    """A fresh, unfitted model by name; unknown names list the known ones."""
    try:
        factory = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known models: {sorted(MODELS)}") from None
    return factory()
