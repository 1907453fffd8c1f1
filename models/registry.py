"""Names of the forecasting models, alphabetically: adding a model is one module and one line."""

from __future__ import annotations

from models.base import ForecastModel
from models.holt_winters import HoltWinters
from models.lightgbm_model import LightGBM, LightGBMGlobal
from models.mstl import MSTL
from models.naive import SeasonalNaiveDaily, SeasonalNaiveWeekly
from models.prophet_model import Prophet
from models.recent_level import RecentLevel

MODELS: dict[str, type[ForecastModel]] = {
    "holt_winters": HoltWinters,
    "lightgbm": LightGBM,
    "lightgbm_global": LightGBMGlobal,
    "mstl": MSTL,
    "prophet": Prophet,
    "recent_level": RecentLevel,
    "seasonal_naive_daily": SeasonalNaiveDaily,
    "seasonal_naive_weekly": SeasonalNaiveWeekly,
}


def create_model(name: str) -> ForecastModel:
    """A fresh, unfitted model by name; unknown names list the known ones."""
    try:
        factory = MODELS[name]
    except KeyError:
        # a caller's bug (forecaster refuses an unknown name before it gets here, in words a user
        # reads): repr shows exactly what the code passed
        known = ", ".join(sorted(MODELS))
        raise ValueError(f"unknown model {name!r}; known models: {known}") from None
    return factory()
