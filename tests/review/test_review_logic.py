"""The dashboard's pure logic: bucket widths, gap breaks, band checks, leaderboards, plan runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from forecaster.profiles import CapacityTier, ScalingProfile
from forecaster.review.accuracy import band_check
from forecaster.review.detail import change_points, planned_capacity
from forecaster.review.history import break_gaps, bucket_seconds_for, shown_spacing_ms
from forecaster.review.leaderboard import headline_scores, leaderboard, numeric_scores
from forecaster.review.overview import format_age
from forecaster.storage.orm import ModelRun
from forecaster.storage.samples import Buckets

WHEN = datetime(2024, 1, 1, tzinfo=UTC)


def test_bucket_widths_are_readable_and_fit_the_points() -> None:
    assert bucket_seconds_for(30 * 86400, 1500) == 1800  # a month of minutes: 30-min buckets
    assert bucket_seconds_for(7 * 86400, 1500) == 600
    assert bucket_seconds_for(3600, 1500) == 5
    assert bucket_seconds_for(1000 * 86400, 100) == 10 * 86400
    # finer than the data's step, a bucket divides it: 5-minute points in 2-minute buckets
    # were shown at 00:00, 00:04, 00:10, 00:14 (QA)
    assert bucket_seconds_for(3 * 3600, 100, own_step=300) == 300
    assert bucket_seconds_for(3600, 1500, own_step=60) == 5
    assert bucket_seconds_for(3 * 3600, 100, own_step=90) == 120  # coarser than it: any width
    assert bucket_seconds_for(3600, 1500, own_step=299.9) == 5  # a step read with jitter


def _buckets(starts: np.ndarray) -> Buckets:
    """Buckets starting at ``starts``, each of one point of one series: mean 1, max 2."""
    ones = np.ones(len(starts), dtype="int64")
    return Buckets(bucket_ms=starts, mean=ones * 1.0, max=ones * 2.0, count=ones, series=ones)


def test_a_hole_in_the_data_breaks_the_line_once() -> None:
    starts = np.array([0, 60, 120, 1200, 1260], dtype="int64") * 1000
    broken = break_gaps(_buckets(starts), 60_000)
    assert broken.bucket_ms.tolist() == [0, 60_000, 120_000, 180_000, 1_200_000, 1_260_000]
    assert np.isnan(broken.mean).tolist() == [False, False, False, True, False, False]
    assert np.isnan(broken.max).tolist() == np.isnan(broken.mean).tolist()
    # 5-minute data in 1-minute buckets is regular, not full of holes
    sparse = _buckets(np.arange(5, dtype="int64") * 300_000)
    assert len(break_gaps(sparse, 60_000)) == 5


def test_coarser_points_beside_finer_ones_are_not_holes() -> None:
    """Ten hours rolled up to 5-minute points, then 1-minute raw samples: through 1-minute
    buckets a null followed every 5-minute point and the line drew nothing over ten hours.
    An outage inside either part still breaks the line."""
    rolled = np.arange(0, 36_000, 300)
    raw = np.arange(36_000, 36_000 + 180 * 60, 60)
    outage = raw[-1] + 3_600 + np.arange(0, 600, 60)
    starts = np.concatenate([rolled, raw, outage]).astype("int64") * 1000
    broken = break_gaps(_buckets(starts), 60_000)
    gaps = broken.bucket_ms[np.isnan(broken.mean)].tolist()
    assert gaps == [(raw[-1] + 60) * 1000]


def test_the_spacing_shown_is_the_datas_own_step_when_coarser_than_the_buckets() -> None:
    five_minutes = np.arange(0, 48 * 300, 300, dtype="int64") * 1000
    two_minute_buckets = five_minutes // 120_000 * 120_000  # 4 and 6 minutes apart by turns
    assert shown_spacing_ms(two_minute_buckets, 120_000) == 300_000
    assert shown_spacing_ms(five_minutes, 60_000) == 300_000
    assert shown_spacing_ms(five_minutes, 3_600_000) == 3_600_000  # buckets coarser: theirs
    assert shown_spacing_ms(five_minutes[:1], 5_000) == 5_000  # nothing to tell: the bucket


def test_band_check_counts_both_sides_and_ignores_unknown_steps() -> None:
    frame = pd.DataFrame({"p50": [10.0] * 5, "p95": [14.0] * 5})
    actual = pd.Series([10.0, 15.0, 5.0, np.nan, 13.0])  # p5 is estimated as 2*10-14 = 6
    check = band_check(frame, actual)
    assert (check.steps, check.above_p95, check.below_p5) == (4, 1, 1)
    assert check.mae_p50 == (0 + 5 + 5 + 3) / 4
    assert check.coverage_p95 == 0.75 and check.outside_share == 0.5 and check.left_band
    empty = band_check(frame, pd.Series([np.nan] * 5))
    assert empty.steps == 0 and empty.mae_p50 is None and not empty.left_band


def test_band_check_reads_a_zero_width_bands_float_noise_as_inside() -> None:
    # a perfect model on a square wave: p50 = p95 = load, up to the model's float noise
    frame = pd.DataFrame({"p50": [10.000000298, 100.0], "p95": [10.000000298, 99.99999]})
    check = band_check(frame, pd.Series([10.0, 100.0]))
    assert (check.above_p95, check.below_p5) == (0, 0) and not check.left_band
    assert band_check(frame, pd.Series([9.99, 100.01])).below_p5 == 1


def run(model: str, scores: dict[str, object], **fields: object) -> ModelRun:
    values: dict[str, object] = {
        "id": 1,
        "series_id": 1,
        "step_seconds": 300,
        "status": "ok",
        "is_champion": True,
        "fit_seconds": 0.5,
        "message": None,
        "created_at": WHEN,
        **fields,
    }
    return ModelRun(model=model, scores=scores, **values)


def test_leaderboard_from_one_run_holding_every_candidate() -> None:
    champion = run(
        "holt_winters",
        {
            "seasonal_naive_daily": {"mae": 4.0},
            "holt_winters": {"mae": 3.0},
            "broken": {"error": "singular matrix"},
        },
    )
    rows = leaderboard([champion])
    assert [(r.model, r.champion, r.status) for r in rows] == [
        ("holt_winters", True, "ok"),
        ("seasonal_naive_daily", False, "ok"),
        ("broken", False, "failed"),
    ]
    assert rows[0].fit_seconds == 0.5 and rows[1].fit_seconds is None
    assert rows[2].message == "singular matrix"
    assert headline_scores(champion) == {"mae": 3.0}


def test_leaderboard_from_one_run_per_candidate_with_grouped_scores() -> None:
    runs = [
        run("ets", {"mase": 0.7, "coverage": {"p95": 0.93}}, id=2, is_champion=False),
        run("lightgbm", {"mase": 0.5, "coverage": {"p95": 0.96}}, id=3),
        run("prophet", {"mase": 0.6}, id=4, is_champion=False),
    ]
    rows = leaderboard(runs)
    assert [r.model for r in rows] == ["lightgbm", "prophet", "ets"]
    assert rows[0].scores == {"mase": 0.5, "coverage.p95": 0.96}
    assert numeric_scores({"n": True, "x": float("nan"), "why": "text", "y": 2}) == {"y": 2.0}
    assert leaderboard([]) == []


def test_plan_runs_collapse_steps_and_capacity_sums_each_tier_mix() -> None:
    profile = ScalingProfile(
        capacity_per_replica=10,
        target_utilization=0.5,
        plan_utilization=0.8,
        tiers=[
            CapacityTier(name="cpu", capacity_per_replica=10, cost_per_replica_hour=1),
            CapacityTier(name="a100", capacity_per_replica=100, cost_per_replica_hour=3),
        ],
    )
    frame = pd.DataFrame(
        {
            "ts": pd.date_range(WHEN, periods=4, freq="5min"),
            "replicas": [2, 2, 3, 3],
            "gpus": [2, 2, 3, 3],
            "load": [8.0, 9.0, 12.0, 90.0],
            "tier": [None, None, "cpu:3", "a100:1+cpu:2"],
            "reason": ["r1", "r1b", "r2", "r3"],
        }
    )
    # capacity at the utilisation the plan was sized at (0.8), as the reason text reckons it
    frame["capacity"] = planned_capacity(profile, frame["replicas"], frame["tier"])
    assert frame["capacity"].round(6).tolist() == [16.0, 16.0, 24.0, 96.0]
    runs = change_points(frame, timedelta(minutes=5))
    assert [(r.replicas, r.tier, r.steps, r.reason, r.peak_load) for r in runs] == [
        (2, None, 2, "r1", 9.0),
        (3, "cpu:3", 1, "r2", 12.0),
        (3, "a100:1+cpu:2", 1, "r3", 90.0),
    ]
    assert runs[0].end == runs[1].start and runs[-1].end == WHEN + timedelta(minutes=20)


def test_ages_read_like_a_person_says_them() -> None:
    assert [format_age(s) for s in (45, 720, 3 * 3600 + 300, 2 * 86400 + 4 * 3600)] == [
        "45 s",
        "12 min",
        "3 h 5 min",
        "2 d 4 h",
    ]


def test_status_columns_stay_in_line_with_gpu_floors() -> None:
    """``forecaster status``: a floor of "11 (11 GPU)" pushed the columns after it out of
    line with the header."""
    from forecaster.review.status import HEADER, ROW

    row = ROW.format("chat", "actuating", "ensemble", "120.5", "11 (11 GPU)", "99 (99 GPU)", "5 m")
    assert len(row) == len(HEADER)
    assert row.index("11 (11 GPU)") + len("11 (11 GPU)") == HEADER.index("floor now") + 9
