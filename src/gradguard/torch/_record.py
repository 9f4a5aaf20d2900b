"""Fill the shared :class:`gradguard.records.StepRecord` from one step's tensors, in one sync."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from gradguard.errors import InputError
from gradguard.records import StepRecord, make_record
from gradguard.torch._stats import GradStats

__all__ = ["step_record"]


def scalar_tensor(x: Tensor | float | None, device: torch.device, name: str) -> Tensor:
    """Return ``x`` as a 0-d float64 tensor on ``device`` (``None``: NaN), without a sync.

    A tensor is detached (not copied when it is already float64 on ``device``).

    Raises:
      InputError: ``x`` is a tensor of more than one element, or not a number.
    """
    # torch.full fills on the device; torch.tensor(float) would copy from the host.
    if x is None:
        return torch.full((), math.nan, dtype=torch.float64, device=device)
    if isinstance(x, Tensor):
        if x.numel() != 1:
            raise InputError(
                name,
                f"a tensor of shape {tuple(x.shape)}",
                "one_number",
                "reduce_first",
            )
        return x.detach().reshape(()).to(device=device, dtype=torch.float64)
    try:
        value = float(x)
    except (TypeError, ValueError):
        raise InputError(name, x, "one_number") from None
    return torch.full((), value, dtype=torch.float64, device=device)


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

    The tensors are read in one transfer, then the record is made by
    :func:`gradguard.records.make_record`, the constructor the guard uses too.

    Args:
      step: the optimizer step index (0-based, skipped steps included).
      stats: this step's :func:`gradguard.torch.grad_stats`, taken *before* clipping.
      loss: the training loss (tensor or float); ``None`` if not known.
      clip_coef: the coefficient clipping applied (from :func:`clip_grads_with_norm_`
        or :func:`clip_coef`); ``None`` when no clipping is in use.
      grad_norm_clipped: the measured post-clip total norm, when clipping was not a
        single coefficient (value clipping: ``get_total_norm`` after
        ``clip_grad_value_``); by default ``grad_norm × clip_coef``.
      threshold: the clipping threshold in force (``max_norm``), if any.
      optimizer: read the learning rate of its first parameter group.
      action: ``"step"``, ``"skip"`` or ``"rollback"``.
      kind: the classification; derived with :func:`gradguard.records.classify` when
        ``None``.
      layer_norms: include the per-layer norms (when the stats have them).
      run: run identifier; time: seconds since the run started; extra: further keys.

    Returns:
      A :class:`~gradguard.records.StepRecord`; ``grad_norm_clipped`` is
      ``grad_norm × clip_coef`` (``grad_norm`` itself without clipping).
    """
    device = stats.total_norm.device
    host, (loss_v, coef_v, post_v) = stats.host(
        scalar_tensor(loss, device, "loss"),
        scalar_tensor(clip_coef, device, "clip_coef"),
        scalar_tensor(grad_norm_clipped, device, "grad_norm_clipped"),
    )
    return make_record(
        step,
        grad_norm=host.total_norm,
        max_abs=host.max_abs,
        nonfinite_count=host.nonfinite_count,
        loss=None if loss is None else loss_v,
        clip_coef=None if clip_coef is None else coef_v,
        grad_norm_clipped=None if grad_norm_clipped is None else post_v,
        threshold=threshold,
        action=action,
        kind=kind,
        lr=first_lr(optimizer),
        layer_norms=host.layer_norms if layer_norms else None,
        run=run,
        time=time,
        extra=extra,
    )


def first_lr(optimizer: torch.optim.Optimizer | None) -> float | None:
    """Return the learning rate of ``optimizer``'s first parameter group, if any."""
    if optimizer is None or not optimizer.param_groups:
        return None
    lr = optimizer.param_groups[0].get("lr")
    return None if lr is None else float(lr)
