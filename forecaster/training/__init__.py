"""From stored samples to stored forecasts: history preparation, backtests, selection, training."""
