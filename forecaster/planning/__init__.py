"""Capacity planning: forecast quantiles to replica and GPU floors, and the replay simulator."""
