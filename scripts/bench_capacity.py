"""Replay the shared traffic traces under four capacity policies and check issue 4's targets.

For every shared trace with a step of 1 hour or finer: capacity per replica so the median load
needs 4 replicas at 70 % utilisation; start-up 60, 180 and 600 s; train on the first part, replay
the rest (at most --replay-days). Prints one table per start-up and the targets at 180 s;
exits 1 when a target is missed.

    python scripts/bench_capacity.py [--model auto|seasonal_naive_weekly] [--replay-days 14]
        [--quantile 0.95] [--plan-utilization 1.0] [--reactive-tolerance 0.1] [--no-floor-check]

The predictive policy's plans cover the risk quantile at ``--plan-utilization`` (default 1.0:
the quantile must fit full capacity; the HPA on top keeps its 70 % target), and hold no floor
while the HPA alone kept within ``--reactive-tolerance`` % under-provisioned over the week
before (default: the 0.10 % target; docs/capacity.md, "Floor check").
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from shared_traces import DATA, TRACES, plan_step

from forecaster.offline import read_series_csv
from forecaster.planning.policies import ForecastSettings
from forecaster.planning.replay import to_ticks
from forecaster.planning.simulate import (
    EQUAL_SPEND,
    SimulationOptions,
    forecast_trail,
    replay_start,
    simulate_trace,
)
from forecaster.profiles import ScalingProfile

STARTUPS = (60.0, 180.0, 600.0)
POLICIES = ("static", "reactive", "predictive", "oracle", EQUAL_SPEND)
TARGET_UNDER_PCT = 0.10
TARGET_HOURS_RATIO = 1.3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--model", default="auto", help="forecasting model (auto or a name)")
    parser.add_argument("--replay-days", type=float, default=14.0)
    parser.add_argument(
        "--no-update",
        action="store_true",
        help="re-plan from the forecast made at the daily refit (for models whose update refits)",
    )
    parser.add_argument("--quantile", type=float, default=0.95, help="risk quantile of plans")
    parser.add_argument(
        "--plan-utilization",
        type=float,
        default=1.0,
        help="utilisation plan floors are sized at (the HPA on top keeps 0.7)",
    )
    parser.add_argument(
        "--reactive-tolerance",
        type=float,
        default=TARGET_UNDER_PCT,
        help="the profile's reactive_tolerance_pct: no floor while the HPA alone kept within it",
    )
    parser.add_argument(
        "--no-floor-check",
        action="store_true",
        help="hold the plan's floor whatever the HPA alone would have done",
    )
    parser.add_argument("--traces", default=",".join(TRACES))
    args = parser.parse_args()

    rows: dict[float, list[tuple[str, dict[str, dict[str, float]]]]] = {s: [] for s in STARTUPS}
    for name in args.traces.split(","):
        began = time.perf_counter()
        points = read_series_csv(args.data / name).points
        trace = to_ticks(points, tick_seconds=15.0)
        step = plan_step(trace.source_step_seconds)
        median = float(np.median(trace.load))
        base = ScalingProfile(
            step_seconds=step,
            capacity_per_replica=max(median, 1e-6) / (4 * 0.7),
            target_utilization=0.7,
            min_replicas=1,
            max_replicas=100_000,
            scale_down_delay_seconds=0,
            risk_quantile=args.quantile,
            plan_utilization=args.plan_utilization,
            reactive_tolerance_pct=None if args.no_floor_check else args.reactive_tolerance,
            startup_seconds=max(STARTUPS),
        )
        options = SimulationOptions(
            train_fraction=0.5,
            max_replay_days=args.replay_days,
            policies=POLICIES[:4],
            forecast=ForecastSettings(model=args.model, update=not args.no_update),
        )
        start = replay_start(trace, base, options)
        trail = forecast_trail(trace, start, base, options)
        for startup in STARTUPS:
            profile = base.model_copy(update={"startup_seconds": startup})
            result = simulate_trace(trace, start, profile, options, trail=trail)
            rows[startup].append((name, {k: v.as_dict() for k, v in result.scores.items()}))
        print(
            f"# {name}: step {step}s, {len(trace.load) - start} replay ticks, "
            f"{time.perf_counter() - began:.1f}s",
            flush=True,
        )

    failures: list[str] = []
    for startup in STARTUPS:
        print(
            f"\n## start-up {startup:g}s: under-provisioned % of time / unserved % of load / "
            "replica-hours vs oracle / scale events"
        )
        header = f"{'trace':44s}" + "".join(f"{p:>30s}" for p in POLICIES)
        print(header)
        for name, scores in rows[startup]:
            oracle_hours = scores["oracle"]["replica_hours"] or 1.0
            cells = "".join(
                f"{s['under_provisioned_pct']:8.3f} {s['unserved_load_pct']:7.3f} "
                f"{s['replica_hours'] / oracle_hours:6.2f}x {s['scale_events']:5d}"
                for s in (scores[p] for p in POLICIES)
            )
            print(f"{name:44s}{cells}")
        means = {
            p: (
                float(np.mean([s[p]["under_provisioned_pct"] for _, s in rows[startup]])),
                float(
                    np.mean(
                        [
                            s[p]["replica_hours"] / (s["oracle"]["replica_hours"] or 1.0)
                            for _, s in rows[startup]
                        ]
                    )
                ),
            )
            for p in POLICIES
        }
        print(
            f"{'mean':44s}"
            + "".join(f"{u:8.3f} {'':7s} {h:6.2f}x {'':5s}" for u, h in means.values())
        )
        if startup == 180.0:
            under, hours = means["predictive"]
            rival, _ = means[EQUAL_SPEND]
            checks = (
                (
                    under <= TARGET_UNDER_PCT,
                    f"predictive under-provisioned {under:.3f}% <= {TARGET_UNDER_PCT}%",
                ),
                (
                    hours <= TARGET_HOURS_RATIO,
                    f"predictive replica-hours {hours:.2f}x oracle <= {TARGET_HOURS_RATIO}x",
                ),
                (under < rival, f"predictive {under:.3f}% < equal-spend reactive {rival:.3f}%"),
            )
            print("\n## targets at 180 s start-up (mean over traces)")
            for ok, text in checks:
                print(f"{'PASS' if ok else 'FAIL'}  {text}")
                if not ok:
                    failures.append(text)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
