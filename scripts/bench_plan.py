"""Score the offline plan contract (``forecaster plan``) on what the traffic really did next.

For every shared trace with a step of 1 hour or finer: from the origins of
``bench_forecast.py`` (eight, half a day apart, in the held-out end; three 10-minute ones on the
hour of 1-s Azure data), plan the next 24 h as ``forecaster plan`` does (the same functions;
capacity per replica so the median load needs 4 replicas at 70 % utilisation, start-up 180 s,
no scale-down delay, the plan step of ``bench_capacity.py``), then replay the floor alone,
nothing on top, on a 15-s grid (the trace's step where finer) holding each step's value: a
replica serves once its row has asked for it over the whole start-up, and goes at once when a
row stops asking. Per plan:

- under-provisioned: % of ticks whose load is above serving replicas x capacity per replica;
- unserved: load above that capacity, % of all load;
- replica-hours (serving) against the oracle's, ceil(load / (capacity x 0.7)) at every tick.

Plans from each ``--models`` forecast at each ``--quantiles`` risk, plus ``yesterday peak``:
the last 24 h's peak need held all day, what a careful operator sets by hand. The frontier
matters, not one point: a plan is better when it is short less often at the same cost.

    python scripts/bench_plan.py [--models auto,seasonal_naive_weekly] [--traces twitter]
        [--quantiles 0.9,0.95,0.99] [--startup 180]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from shared_traces import DATA, TRACES, forecast_origins, plan_step

from forecaster.offline import (
    SeriesFile,
    TimestampStyle,
    forecast_file,
    plan_forecast,
    plan_freq,
    read_series_csv,
    regular_history,
)
from forecaster.planning.planner import replicas_for_load
from forecaster.planning.replay import to_ticks
from forecaster.profiles import ScalingProfile
from models.base import DEFAULT_QUANTILES

TARGET_UTILIZATION = 0.7
YESTERDAY_PEAK = "yesterday peak"


@dataclass(frozen=True)
class Score:
    """One plan against the load that came."""

    under_pct: float
    unserved_pct: float
    replica_hours: float
    oracle_hours: float

    @classmethod
    def judge(
        cls, ready: np.ndarray, load: np.ndarray, profile: ScalingProfile, tick: float
    ) -> Score:
        capacity = ready * profile.capacity_per_replica
        short = np.maximum(load - capacity, 0.0)
        need = np.maximum(replicas_for_load(load, profile), profile.min_replicas)
        return cls(
            under_pct=100.0 * float(np.mean(short > 1e-9)),
            unserved_pct=100.0 * float(short.sum() / max(load.sum(), 1e-12)),
            replica_hours=float(ready.sum()) * tick / 3600,
            oracle_hours=float(need.sum()) * tick / 3600,
        )


def ready_replicas(floors: np.ndarray, startup_ticks: int) -> np.ndarray:
    """Replicas serving at each tick under a floor that changes at the plan rows: a replica
    serves once it has been asked for over the whole start-up (added ones start, removed ones
    go at once), so what serves is the lowest floor of the last ``startup`` seconds."""
    window = pd.Series(floors).rolling(startup_ticks + 1, min_periods=1).min()
    return window.to_numpy(dtype="float64")


def yesterday_peak(past: pd.Series, profile: ScalingProfile) -> float:
    """The last day's peak need at the target utilisation, the floor held all day."""
    step = pd.Timedelta(past.index.freq).total_seconds()
    peak = float(past.iloc[-max(1, round(86_400 / step)) :].max())
    need = int(replicas_for_load(np.array([peak]), profile)[0])
    return float(max(need, profile.min_replicas))


def score_trace(
    name: str, models: list[str], quantiles: list[float], startup: float, origins: int
) -> dict[str, list[Score]] | None:
    """Every policy's scores at every origin of one trace."""
    series_file = read_series_csv(DATA / name)
    history = regular_history(series_file, None)
    source_step = pd.Timedelta(history.index.freq).total_seconds()
    found = forecast_origins(history, origins, 86_400)
    if found is None:
        print(f"  {name}: skipped, under two weeks of history before the first origin")
        return None
    ends, horizon = found
    step = plan_step(source_step)
    tick = min(15.0, source_step)
    # the median 15-s tick of the replay, as bench_capacity.py sizes replicas
    typical = to_ticks(series_file.points, tick_seconds=15.0).load
    profile = ScalingProfile(
        step_seconds=step,
        capacity_per_replica=max(float(np.median(typical)), 1e-6) / (4 * TARGET_UTILIZATION),
        target_utilization=TARGET_UTILIZATION,
        min_replicas=1,
        max_replicas=100_000,
        startup_seconds=startup,
        scale_down_delay_seconds=0,
        risk_quantile=max(quantiles),
    )
    scores: dict[str, list[Score]] = {}
    for end in ends:
        past = history.iloc[: end + 1]
        style, last_row = TimestampStyle("utc"), past.index[-1]
        past_file = SeriesFile(points=past.dropna(), style=style, end=last_row)
        plans: dict[str, pd.Series] = {}
        for model in models:
            outcome = forecast_file(
                past_file,
                horizon=f"{horizon * source_step:g}s",
                freq=plan_freq(past_file, profile, None),
                model=model,
                quantiles=sorted({*DEFAULT_QUANTILES, *quantiles}),
            )
            for quantile in quantiles:
                chosen = profile.model_copy(update={"risk_quantile": quantile})
                plan = plan_forecast(outcome, past_file, chosen)
                plans[f"{model} p{quantile * 100:g}"] = plan["replicas"]
        first, last = plan.index[0], plan.index[-1] + pd.Timedelta(seconds=step)
        actual = history[(history.index >= first) & (history.index < last)].fillna(0.0)
        ticks = pd.date_range(first, last, freq=f"{tick:g}s", inclusive="left")
        load = actual.reindex(ticks, method="ffill").to_numpy(dtype="float64")
        plans[YESTERDAY_PEAK] = pd.Series(yesterday_peak(past, profile), index=[first])
        for policy, floors in plans.items():
            held = floors.reindex(ticks, method="ffill").to_numpy(dtype="float64")
            ready = ready_replicas(held, round(startup / tick))
            scores.setdefault(policy, []).append(Score.judge(ready, load, profile, tick))
    return scores


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="auto,seasonal_naive_weekly")
    parser.add_argument("--traces", help="comma-separated substrings of trace names")
    parser.add_argument("--quantiles", default="0.9,0.95,0.99", help="the plans' risk quantiles")
    parser.add_argument("--startup", type=float, default=180.0, help="start-up seconds")
    parser.add_argument("--origins", type=int, default=8)
    args = parser.parse_args()
    models = args.models.split(",")
    names = [n for n in TRACES if not args.traces or any(p in n for p in args.traces.split(","))]
    quantiles = [float(q) for q in args.quantiles.split(",")]
    table: dict[str, dict[str, list[Score]]] = {}
    for name in names:
        began = time.perf_counter()
        scored = score_trace(name, models, quantiles, args.startup, args.origins)
        if scored is not None:
            table[name] = scored
        print(f"# {name}: {time.perf_counter() - began:.1f}s", flush=True)
    if not table:
        print("no trace to score")
        return 1
    policies = [*next(iter(table.values()))]
    print(
        f"\nthe floor alone, start-up {args.startup:g}s: under-provisioned % of time, "
        "unserved % of load, replica-hours / oracle's"
    )
    print(f"{'trace':40s} {'plan':28s} {'under %':>8s} {'unserved':>8s} {'hours':>7s}")
    means: dict[str, list[tuple[float, float, float]]] = {p: [] for p in policies}
    for name, scores in table.items():
        for policy in policies:
            runs = scores[policy]
            oracle = max(sum(s.oracle_hours for s in runs), 1e-12)
            row = (
                float(np.mean([s.under_pct for s in runs])),
                float(np.mean([s.unserved_pct for s in runs])),
                sum(s.replica_hours for s in runs) / oracle,
            )
            means[policy].append(row)
            print(f"{name[:40]:40s} {policy:28s} {row[0]:8.3f} {row[1]:8.3f} {row[2]:6.2f}x")
    print()
    for policy, rows in means.items():
        under, unserved, hours = (float(np.mean([r[i] for r in rows])) for i in range(3))
        print(f"{'mean':40s} {policy:28s} {under:8.3f} {unserved:8.3f} {hours:6.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
