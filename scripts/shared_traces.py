"""The shared traffic traces the benchmarks run on: each one in ``../shared/data`` with a step
of 1 hour or finer (the daily ones are too coarse to plan capacity with)."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TRACES = (
    "twitter_volume_crm_5min.csv",
    "twitter_volume_fb_5min.csv",
    "twitter_volume_ibm_5min.csv",
    "twitter_volume_ko_5min.csv",
    "twitter_volume_ups_5min.csv",
    "bike_share_hourly_users.csv",
    "victoria_electricity_halfhourly_mw.csv",
    "taylor_halfhourly_demand_mw.csv",
    "azure_llm_2023_code_requests_per_second.csv",
    "azure_llm_2023_conv_requests_per_second.csv",
)
