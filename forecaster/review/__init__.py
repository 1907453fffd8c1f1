"""Review what forecaster did: history for display, forecasts against actuals, leaderboards."""
