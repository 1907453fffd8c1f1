"""Intra-step burstiness: how far short peaks rise above the mean a forecast step predicts.

A 5-minute forecast is a mean; traffic inside those 5 minutes has 30-second peaks well above it,
and a replica that is not there for the peak drops requests. The planner multiplies the covered
quantile by this factor. Learned from history finer than the plan step (the simulator's
predictive policy, ``forecaster plan --freq`` coarser than the data); 1 when no such history.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecaster.timeutil import epoch_ns

PEAK_SECONDS = 30.0  # the short peak a replica must be there for


def peak_to_mean(
    points: pd.Series,
    *,
    step_seconds: float,
    peak_seconds: float = PEAK_SECONDS,
    quantile: float = 0.5,
) -> float:
    """Typical ratio of the busiest ``peak_seconds`` window to its plan step's mean load.

    Only the busier half of the steps count (their peaks are the ones that need capacity; a
    near-idle step's ratio is mostly noise), and the ratio's ``quantile`` over them is taken.
    Returns 1.0 when the points are not finer than the step or hold too little data.
    """
    values = points.dropna()
    if len(values) < 4:
        return 1.0
    stamps = epoch_ns(pd.DatetimeIndex(values.index))
    data_step = float(np.median(np.diff(stamps))) / 1e9
    if data_step * 2 > step_seconds:
        return 1.0
    peak_window = max(peak_seconds, data_step)
    fine = (
        pd.Series(values.to_numpy(dtype="float64"), index=stamps // int(peak_window * 1e9))
        .groupby(level=0)
        .mean()
    )
    step_of = (fine.index.to_numpy() * int(peak_window * 1e9)) // int(step_seconds * 1e9)
    grouped = fine.groupby(step_of)
    frame = pd.DataFrame({"peak": grouped.max(), "mean": grouped.mean(), "n": grouped.size()})
    full = frame["n"] >= max(2, int(step_seconds / peak_window * 0.8))
    frame = frame[full & (frame["mean"] > 0)]
    if len(frame) < 2:
        return 1.0
    busy = frame[frame["mean"] >= frame["mean"].median()]
    ratio = (busy["peak"] / busy["mean"]).to_numpy()
    return float(max(1.0, np.quantile(ratio, quantile)))
