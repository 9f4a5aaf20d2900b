"""Fill the shared :class:`gradguard.records.StepRecord` from one step's tensors, in one sync."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from gradguard.errors import InputError
from gradguard.records import StepRecord
from gradguard.torch._stats import GradStats

__all__ = ["classify", "step_record"]


def classify(
    *,
    loss_finite: bool,
    grad_finite: bool,
    clipped: bool,
    spike: bool = False,
    amp_skip: bool = False,
) -> str:
    """Return the step's kind: ``amp_skip`` > ``nonfinite`` > ``spike`` > ``clipped`` > ``ok``."""
    if amp_skip:
        return "amp_skip"
    if not (loss_finite and grad_finite):
        return "nonfinite"
    if spike:
        return "spike"
    return "clipped" if clipped else "ok"


def _as_tensor(x: Tensor | float | None, device: torch.device, name: str) -> Tensor:
    # torch.full fills on the device; torch.tensor(float) would copy from the host.
    if x is None:
        return torch.full((), math.nan, dtype=torch.float64, device=device)
    if isinstance(x, Tensor):
        if x.numel() != 1:
            raise InputError(
                name,
                f"a tensor of shape {tuple(x.shape)}",
                "one number (a 0-d or one-element tensor, a float or None)",
            )
        return x.detach().reshape(()).to(device=device, dtype=torch.float64)
    return torch.full((), float(x), dtype=torch.float64, device=device)


def step_record(
    step: int,
    stats: GradStats,
    *,
    loss: Tensor | float | None = None,
    clip_coef: Tensor | float | None = None,
    grad_norm_clipped: Tensor | float | None = None,
    threshold: float | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    action: str = "step",
    kind: str | None = None,
    layer_norms: bool = False,
    run: str | None = None,
    time: float | None = None,
    extra: dict[str, Any] | None = None,
) -> StepRecord:
    """Build the step record for one optimizer step, with a single host sync.

    Args:
      step: the optimizer step index (0-based, skipped steps included).
      stats: this step's :func:`gradguard.torch.grad_stats`, taken *before* clipping.
      loss: the training loss (tensor or float); ``None`` if not known.
      clip_coef: the coefficient clipping applied (from :func:`clip_grads_with_norm_`
        or :func:`clip_coefficient`); ``None`` when no clipping is in use.
      grad_norm_clipped: the measured post-clip total norm, when clipping was not a
        single coefficient (value clipping: ``get_total_norm`` after
        ``clip_grad_value_``); by default ``grad_norm × clip_coef``.
      threshold: the clipping threshold in force (``max_norm``), if any.
      optimizer: read the learning rate of its first parameter group.
      action: ``"step"``, ``"skip"`` or ``"rollback"``.
      kind: the classification; derived with :func:`classify` when ``None``.
      layer_norms: include the per-layer norms (when the stats have them).
      run: run identifier; time: seconds since the run started; extra: further keys.

    Returns:
      A :class:`~gradguard.records.StepRecord`; ``grad_norm_clipped`` is
      ``grad_norm × clip_coef`` (``grad_norm`` itself without clipping).
    """
    device = stats.total_norm.device
    host, (loss_v, coef_v, post_v) = stats.host(
        _as_tensor(loss, device, "loss"),
        _as_tensor(clip_coef, device, "clip_coef"),
        _as_tensor(grad_norm_clipped, device, "grad_norm_clipped"),
    )
    loss_f = None if loss is None else loss_v
    coef_f = None if clip_coef is None else coef_v
    grad_finite = host.nonfinite_count == 0
    loss_finite = loss_f is None or math.isfinite(loss_f)
    clipped = coef_f is not None and coef_f < 1.0
    if grad_norm_clipped is not None:
        post = post_v
        clipped = clipped or post_v < host.total_norm
    elif coef_f is None:
        post = host.total_norm
    elif math.isfinite(host.total_norm) and math.isfinite(coef_f):
        post = host.total_norm * coef_f
    else:
        post = math.nan
    lr = None
    if optimizer is not None and optimizer.param_groups:
        lr_value = optimizer.param_groups[0].get("lr")
        lr = float(lr_value) if lr_value is not None else None
    return StepRecord(
        step=step,
        loss=loss_f,
        grad_norm=host.total_norm,
        grad_norm_clipped=post if action == "step" else None,
        clip_coef=coef_f,
        clipped=clipped,
        threshold=threshold,
        action=action,
        kind=kind or classify(loss_finite=loss_finite, grad_finite=grad_finite, clipped=clipped),
        lr=lr,
        max_abs=host.max_abs,
        nonfinite_count=host.nonfinite_count,
        loss_finite=loss_finite,
        grad_finite=grad_finite,
        layer_norms=host.layer_norms if layer_norms else None,
        run=run,
        time=time,
        extra=dict(extra or {}),
    )
