"""Time-shaping of replica requirements: lead time, scale-down hold, step cap, clamping.

Pure numpy helpers shared by the single-type and the tiered paths of
:mod:`forecaster.planning.planner`; each works on an integer array of replicas per plan step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _window_max(values: np.ndarray, window: int, *, ahead: bool) -> np.ndarray:
    """Max over ``window + 1`` consecutive entries along the last axis, truncated at the ends."""
    if window <= 0 or values.shape[-1] == 0:
        return values.copy()
    window = min(window, values.shape[-1])  # a longer window sees nothing more
    pad = np.full((*values.shape[:-1], window), np.iinfo("int64").min, dtype="int64")
    parts = (values.astype("int64"), pad) if ahead else (pad, values.astype("int64"))
    windows = sliding_window_view(np.concatenate(parts, axis=-1), window + 1, axis=-1)
    return windows.max(axis=-1).astype(values.dtype)


def forward_max(values: np.ndarray, window: int) -> np.ndarray:
    """max(values[..., t : t + window + 1]): what must already be up at t to cover the next
    window (along the last axis, so a stack of plans is shaped at once)."""
    return _window_max(values, window, ahead=True)


def backward_max(values: np.ndarray, window: int) -> np.ndarray:
    """max(values[..., t - window : t + 1]): keep capacity for a while after the load falls."""
    return _window_max(values, window, ahead=False)


def ramp_ahead(values: np.ndarray, max_step_up: int) -> np.ndarray:
    """Raise earlier entries so none adds more than ``max_step_up`` over the one before.

    r[t] = max_k(values[t + k] - k * cap): a reverse running max of ``values[j] - j * cap``.
    """
    if values.shape[-1] == 0:
        return values.copy()
    positions = np.arange(values.shape[-1], dtype="int64")
    shifted = values - positions * max_step_up
    reverse_running = np.maximum.accumulate(shifted[..., ::-1], axis=-1)[..., ::-1]
    return np.maximum(values, reverse_running + positions * max_step_up)


def pace_rises(floor: np.ndarray, push: np.ndarray, max_step_up: int) -> np.ndarray:
    """``floor`` as pushes adding at most ``max_step_up`` each can set it; falls are taken at
    once. ``push`` (non-decreasing) numbers the push in force at each entry: a push aims at its
    interval's highest floor F_k and reaches P_k = min(F_k, P_k-1 + cap), which unrolls to a
    running min of F_j - j * cap, plus k * cap."""
    if len(floor) == 0:
        return floor.copy()
    starts = np.flatnonzero(np.r_[True, np.diff(push) != 0])
    number = (push[starts] - push[0]).astype("int64")
    highest = np.maximum.reduceat(floor.astype("int64"), starts)
    reached = np.minimum.accumulate(highest - number * max_step_up) + number * max_step_up
    return np.minimum(floor, np.repeat(reached, np.diff(np.r_[starts, len(floor)])))


def as_pushed(
    own: np.ndarray, before_next: np.ndarray, early: np.ndarray, push: np.ndarray
) -> np.ndarray:
    """A floor as the service's pushes hold it. Each push sets the highest floor of its own
    interval (``own``: its plan, entry by entry) and of the next interval's ``early`` entries,
    the margin the next push is given to take effect (``before_next``: the plan the push
    before it pushed), and that floor stays until the next push. ``push`` numbers the push in
    force at each entry, as in :func:`pace_rises`, one after another."""
    if len(own) == 0:
        return own.copy()
    starts = np.flatnonzero(np.r_[True, np.diff(push) != 0])
    held = np.maximum.reduceat(own, starts)
    reached = np.maximum.reduceat(np.where(early, before_next, own.min()), starts)
    held[:-1] = np.maximum(held[:-1], reached[1:])
    return np.repeat(held, np.diff(np.r_[starts, len(own)]))


@dataclass(frozen=True)
class Shaped:
    """Each stage of shaping, kept so every plan row can say where its number came from."""

    led: np.ndarray
    held: np.ndarray
    floor: np.ndarray


def shape(
    required: np.ndarray,
    *,
    lead_steps: int,
    hold_steps: int,
    lower: int,
    upper: int,
    max_step_up: int | None,
    led_before: np.ndarray | None = None,
) -> Shaped:
    """Lead, hold, clamp and step-cap a requirement; the result is a floor per step.

    Works along the last axis (one plan, or a stack of them). ``led_before`` is the led
    requirement of the plan in force over the steps just before this one starts: the hold
    reaches back into it, so a re-plan does not drop what the scale-down delay still holds.
    """
    led = forward_max(required, lead_steps)
    if led_before is not None and led_before.shape[-1]:
        joined = np.concatenate([led_before.astype("int64"), led], axis=-1)
        held = backward_max(joined, hold_steps)[..., led_before.shape[-1] :]
    else:
        held = backward_max(led, hold_steps)
    floor = np.clip(held, lower, upper)
    if max_step_up is not None:
        floor = np.clip(ramp_ahead(floor, max_step_up), lower, upper)
    return Shaped(led=led, held=held, floor=floor.astype("int64"))
