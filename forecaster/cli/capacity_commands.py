"""Capacity commands: ``forecaster simulate`` replays a trace under four scaling policies.

CSV and profile YAML in, a JSON report (and optionally an SVG plot) out, no database; the same
simulator serves ``POST /v1/simulations``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer

from forecaster.cli.app import (
    VALUE_COLUMN,
    app,
    fail,
    progress_bar,
    read_input,
    read_profile,
    status_printer,
    warn,
    writable,
    writing,
)


@app.command()
def simulate(
    input: Path = typer.Option(
        ..., "--input", exists=True, dir_okay=False, help="timestamp,value CSV of load"
    ),
    profile: Path = typer.Option(..., exists=True, dir_okay=False, help="profile YAML"),
    output: Path = typer.Option(..., "--output", help="JSON report to write (- for stdout)"),
    plot: Path | None = typer.Option(None, help="also write an SVG of load vs capacity"),
    model: str = typer.Option("auto", help="forecasting model of the predictive policy"),
    train_fraction: float = typer.Option(0.5, help="share of the trace used only for training"),
    replay_days: float = typer.Option(
        14.0, help="replay at most this many final days (the predictive policy refits daily)"
    ),
    tick: float = typer.Option(15.0, help="replay tick in seconds (1, 3, 5, 15 or 30)"),
    value_column: str | None = VALUE_COLUMN,
    policies: str = typer.Option(
        "static,reactive,predictive,oracle", help="comma-separated policies to replay"
    ),
    equal_spend: bool = typer.Option(
        True, help="add a reactive HPA tuned to spend what the predictive policy spends"
    ),
    replan: str = typer.Option("15min", help="predictive: re-forecast and re-plan this often"),
    refit: str = typer.Option("24h", help="predictive: refit the model this often"),
    update: bool = typer.Option(
        True,
        help="predictive: condition the model on new data at each re-plan; --no-update reads "
        "on in the forecast made at the last refit (for models whose update is a slow refit)",
    ),
) -> None:
    """Replay a load trace under static, reactive, predictive and oracle scaling; score each."""
    from forecaster.errors import ForecasterError
    from forecaster.planning.plot import render_svg
    from forecaster.planning.policies import ForecastSettings
    from forecaster.planning.simulate import SimulationOptions
    from forecaster.planning.simulate import simulate as run_simulation
    from forecaster.timeutil import parse_duration

    if not 0 < replay_days < math.inf:  # 0 or less left "nothing to replay", inf a traceback
        fail(f"--replay-days must be a positive number of days, got {replay_days:g}")
    writable(output, inputs=(input, profile))
    if plot is not None:
        if plot.suffix.lower() != ".svg":  # an SVG named .png opens as a broken image
            fail(f"--plot writes SVG: give a file name ending in .svg, not {plot.name}")
        writable(plot, inputs=(input, profile, output))
    bar = progress_bar("decisions")
    task = bar.add_task("predictive policy forecasting", total=None)

    def advance(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    try:
        options = SimulationOptions(
            tick_seconds=tick,
            train_fraction=train_fraction,
            max_replay_days=replay_days,
            policies=tuple(p.strip() for p in policies.split(",") if p.strip()),
            equal_spend=equal_spend,
            forecast=ForecastSettings(
                model=model,
                replan_seconds=parse_duration(replan),
                refit_seconds=parse_duration(refit),
                update=update,
            ),
            progress=advance,
        )
        series_file = read_input(input, refuses_negative=True, value_column=value_column)
        chosen, note = series_file.on_its_clock(read_profile(profile))
        if note is not None:
            warn(f"note: {note}")
        with bar:
            result = run_simulation(series_file.points, chosen, options)
    except (ForecasterError, ValueError) as error:
        fail(str(error))
    report = result.report()
    with writing(output) as handle:
        handle.write(json.dumps(report, indent=2) + "\n")
    if plot is not None:
        svg = render_svg(result)  # before the file is opened: a failure leaves no empty one
        with writing(plot) as handle:
            handle.write(svg)
    tell = status_printer(output)
    tell(
        f"replayed {report['trace']['replay_ticks']} ticks of {tick:g}s from "
        f"{report['trace']['replay_start']} to {report['trace']['end']}"
    )
    tell(
        f"{'policy':22s} {'under %time':>11s} {'unserved %':>10s} {'replica-h':>10s} "
        f"{'cost':>9s} {'events':>7s}"
    )
    for name, row in report["policies"].items():
        tell(
            f"{name:22s} {row['under_provisioned_pct']:11.3f} {row['unserved_load_pct']:10.3f} "
            f"{row['replica_hours']:10.1f} {row['cost']:9.2f} {row['scale_events']:7d}"
        )
    for line in verdict(report):
        tell(line)
    tell(f"wrote {output}" + (f" and {plot}" if plot is not None else ""))


def verdict(report: dict[str, Any]) -> list[str]:
    """The comparison a reader looks for: the predictive policy against the reactive HPA, at its
    own cost and at equal spend, and against the oracle's replica-hours."""
    policies = report["policies"]
    predictive = policies.get("predictive")
    if predictive is None:
        return []
    lines = []
    for name, label in (("reactive", "the reactive HPA"), ("oracle", "the oracle")):
        other = policies.get(name)
        if other is not None and other["replica_hours"] > 0:
            ratio = predictive["replica_hours"] / other["replica_hours"]
            lines.append(
                f"predictive: under-provisioned {predictive['under_provisioned_pct']:.3f} % of "
                f"the time against {other['under_provisioned_pct']:.3f} % for {label}, at "
                f"{ratio:.2f}x its replica-hours"
            )
    equal = policies.get("reactive_equal_spend")
    if equal is not None and equal["replica_hours"] < predictive["replica_hours"] * 0.99:
        # a load too low to add replicas at any target: there is no equal spend to compare at
        lines.append(
            f"no equal-spend comparison: even at a target utilisation of "
            f"{report['equal_spend_target_utilization']:.2f} the reactive HPA spends "
            f"{equal['replica_hours']:.4g} replica-hours, against {predictive['replica_hours']:.4g}"
            " for predictive"
        )
    elif equal is not None:
        # the HPA's spend moves in jumps as its target falls: the least at or above
        # predictive's can be well above it, and "equal" then overstated the comparison
        ratio = equal["replica_hours"] / max(predictive["replica_hours"], 1e-12)
        spend = "at equal spend" if ratio <= 1.02 else f"at {ratio:.2f}x predictive's spend"
        lines.append(
            f"{spend} (target utilisation lowered to "
            f"{report['equal_spend_target_utilization']:.2f}) the reactive HPA is "
            f"under-provisioned {equal['under_provisioned_pct']:.3f} % of the time"
        )
    return lines
