"""``forecaster status``: the dashboard's overview as text, one line per service and its
warnings beneath, for a person on a terminal or a cron job that should hear about trouble."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from forecaster.review.overview import ServiceSummary, format_age

# the header's widths, once; a floor fits up to "999 (999 GPU)"
ROW = "{:20s} {:14s} {:22s} {:>10s} {:>13s} {:>13s} {:>10s}"
HEADER = ROW.format("service", "mode", "model", "load now", "floor now", "peak 6 h", "forecast")


def status_lines(summaries: Sequence[ServiceSummary], *, now: datetime) -> list[str]:
    """A header, then per service its mode, champion, load, the floor in force and the peak
    ahead (replicas, and GPUs when it has any), the forecast's age, and each warning."""
    lines = [HEADER]
    for summary in summaries:
        plan = summary.plan
        floor = peak = "-"
        if plan is not None and plan.replicas is not None:
            floor = _replicas(plan.replicas, plan.gpus)
            peak = _replicas(plan.peak_replicas, plan.peak_gpus)
        model = summary.champion.model if summary.champion else "-"
        load = "-" if summary.current_load is None else f"{summary.current_load:.4g}"
        made = summary.forecast_created_at
        age = "-" if made is None else format_age((now - made).total_seconds()) + " ago"
        lines.append(ROW.format(summary.name, _mode(summary), model, load, floor, peak, age))
        lines.extend(f"  ! {warning}" for warning in summary.warnings)
    return lines


def _mode(summary: ServiceSummary) -> str:
    if not summary.enabled:
        return "disabled"
    if summary.forecast_only:
        return "forecast-only"
    return "actuating" if summary.targets else "no targets"


def _replicas(replicas: int | None, gpus: int | None) -> str:
    if replicas is None:
        return "-"
    return f"{replicas}" if not gpus else f"{replicas} ({gpus} GPU)"
