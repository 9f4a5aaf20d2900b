"""Monitor: the guard's measurements without its policies — every step recorded and taken."""

from __future__ import annotations

from typing import Any

import torch

from gradguard.errors import InputError
from gradguard.torch._guard import SpikeGuard

__all__ = ["Monitor"]


class Monitor(SpikeGuard):
    """Record every step and always take it: the guard's measurements without its policies.

    One :class:`~gradguard.records.StepRecord` per optimizer step — loss, learning rate,
    pre- and post-clip total norm, per-layer norms and max |g| every
    ``layer_norms_every`` steps (max |g| also on a step whose norm is not finite),
    non-finite count, update-to-weight ratio, the AMP scale and whether the
    scaler skipped, and the kind ``ok | clipped | nonfinite | spike | amp_skip``.
    Like the guard it calls ``scaler.unscale_`` before measuring or clipping.

    Takes the same arguments as :class:`SpikeGuard` except the policies (always
    ``"step"``) and rollback (never); per-layer norms and the update ratio default to
    every 10 steps.
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, **kwargs: Any):
        for key in ("on_nonfinite", "on_spike", "rollback_after"):
            if key in kwargs:
                raise InputError(key, kwargs[key], "monitor_policy")
        kwargs.setdefault("layer_norms_every", 10)
        kwargs.setdefault("update_ratio_every", 10)
        super().__init__(
            model, optimizer, on_nonfinite="step", on_spike="step", rollback_after=None, **kwargs
        )
