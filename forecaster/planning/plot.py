"""An SVG picture of a replay: per policy, the load against the capacity that was ready.

Hand-written SVG (no plotting dependency), so the CLI (``forecaster simulate --plot``) and the
API can produce it anywhere. Long replays are bucketed to at most ``points`` columns, keeping
each bucket's highest load and lowest ready capacity, and marking every bucket in which
some tick was under-provisioned, so no shortfall is smoothed away.
"""

from __future__ import annotations

from html import escape

import numpy as np

from forecaster.planning.simulate import SimulationResult

COLOURS = {
    "static": "#7f7f7f",
    "reactive": "#d62728",
    "predictive": "#1f77b4",
    "oracle": "#2ca02c",
    "reactive_equal_spend": "#ff7f0e",
}
_LEFT, _RIGHT, _TOP, _GAP = 60, 20, 30, 46


def _bucket(values: np.ndarray, size: int, how: str) -> np.ndarray:
    """Aggregate consecutive ``size`` values (the last bucket may be short) by max or min."""
    padded_len = -(-len(values) // size) * size
    fill = values[-1] if len(values) else 0
    padded = np.concatenate([values, np.full(padded_len - len(values), fill)]).astype("float64")
    blocks = padded.reshape(-1, size)
    return blocks.max(axis=1) if how == "max" else blocks.min(axis=1)


def _path(xs: np.ndarray, ys: np.ndarray) -> str:
    """A step path through the points (capacity changes in steps, not slopes)."""
    if len(xs) == 0:
        return ""
    step_x = np.repeat(xs, 2)[1:]
    step_y = np.repeat(ys, 2)[:-1]
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(step_x, step_y, strict=True))
    return f"M{xs[0]:.1f},{ys[0]:.1f} L{coords}"


def render_svg(
    result: SimulationResult, *, width: int = 1000, panel_height: int = 120, points: int = 800
) -> str:
    """The replay as an SVG document: one panel per policy, shared time and load axes."""
    load = result.replay.load
    capacity_per_replica = result.profile.capacity_per_replica
    names = list(result.timelines)
    size = max(1, -(-len(load) // points))
    load_b = _bucket(load, size, "max")
    ready_b = {
        name: _bucket(result.timelines[name].ready * capacity_per_replica, size, "min")
        for name in names
    }
    short_b = {
        name: _bucket(load > result.timelines[name].ready * capacity_per_replica, size, "max")
        for name in names
    }
    # the load sets the scale; a capacity far above it (static peak) is cut at the top
    top = max(1.25 * float(load_b.max(initial=0.0)), 1e-9)
    scale = panel_height / top
    plot_w = width - _LEFT - _RIGHT
    xs = _LEFT + np.arange(len(load_b) + 1) * plot_w / max(len(load_b), 1)
    height = _TOP + len(names) * (panel_height + _GAP)
    tick = result.trace.tick_seconds
    start = result.replay.start
    end = start + np.timedelta64(int(len(load) * tick), "s")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f'<text x="{_LEFT}" y="18" font-size="13">load (grey) vs ready capacity per policy, '
        f"{escape(str(start))} to {escape(str(end))}; red: under-provisioned</text>",
    ]
    for row, name in enumerate(names):
        y0 = _TOP + row * (panel_height + _GAP) + 16

        score = result.scores[name]
        parts.append(
            f'<text x="{_LEFT}" y="{y0 - 4}">{escape(name)}: under-provisioned '
            f"{score.under_provisioned_pct:.3g}% of time, unserved {score.unserved_load_pct:.3g}%"
            f", {score.replica_hours:.4g} replica-hours, {score.scale_events} scale events</text>"
        )
        parts.append(
            f'<rect x="{_LEFT}" y="{y0}" width="{plot_w}" height="{panel_height}" '
            'fill="none" stroke="#ccc"/>'
        )
        load_y = y0 + panel_height - scale * (np.append(load_b, load_b[-1] if len(load_b) else 0))
        area = (
            _path(xs, load_y)
            + f" L{xs[-1]:.1f},{y0 + panel_height} L{xs[0]:.1f},{y0 + panel_height} Z"
        )
        parts.append(f'<path d="{area}" fill="#bbb" stroke="none"/>')
        cap = np.minimum(ready_b[name], top)
        cap_y = y0 + panel_height - scale * (np.append(cap, cap[-1] if len(cap) else 0))
        colour = COLOURS.get(name, "#000")
        parts.append(
            f'<path d="{_path(xs, cap_y)}" fill="none" stroke="{colour}" stroke-width="1.2"/>'
        )
        short = np.flatnonzero(short_b[name] > 0)
        for i in short:
            parts.append(
                f'<rect x="{xs[i]:.1f}" y="{y0 + panel_height - 4}" '
                f'width="{max(xs[i + 1] - xs[i], 1):.1f}" height="4" fill="#d00"/>'
            )
        parts.append(f'<text x="{_LEFT - 4}" y="{y0 + 8}" text-anchor="end">{top:.3g}</text>')
        parts.append(f'<text x="{_LEFT - 4}" y="{y0 + panel_height}" text-anchor="end">0</text>')
    parts.append("</svg>")
    return "\n".join(parts)
