"""forecaster: learns each service's traffic, forecasts it and plans capacity ahead of demand."""

__version__ = "0.1.0"
