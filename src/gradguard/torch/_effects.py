"""What a decided step does to the optimizer, the AMP grad scaler and the gradients.

The guard decides (:mod:`gradguard.torch._step`); this module carries the decision out,
once, for the guard's two modes and for every trainer integration:

- :func:`take_step` — the optimizer steps (under AMP through ``scaler.step`` and
  ``scaler.update``: the scaler skips the step itself when it found inf/NaN, and backs
  off its scale — AMP's normal scale search, an ``amp_skip``);
- :func:`withhold_step` — the step is withheld (a skip, a rollback, a raise): the
  optimizer is not called, so parameters and optimizer state stay bitwise unchanged,
  and the grad scaler is reset for the next step *keeping its scale*;
- :func:`keep_scale_at_next_update` — the same for a trainer that calls
  ``scaler.update()`` itself after the step it was refused (Lightning);
- :func:`step_on_device` — the sync-free form of both: the verdict reaches the
  optimizer through ``found_inf``, the route ``GradScaler`` uses, so a fused optimizer
  skips on the device with no host sync;
- :func:`scale_grads_` — multiply the gradients by a clip coefficient;
- :func:`step_through` — step an optimizer through the wrapper a library put around it
  (accelerate's ``AcceleratedOptimizer``), so that what watches the wrapper sees the step.

Why keep the scale on a withheld step: ``scaler.update()`` with no argument counts every
step without inf towards growing the scale (``growth_interval`` of them double it), so
a plain update after a step the guard withheld would count a step that was not taken.
``update(new_scale)`` with the current scale resets the scaler's per-step state and
leaves the scale and its growth count as they were.

A future remedy (resetting the optimizer's moments after a spike, say) belongs here,
next to skipping and rolling back: the guard calls it with the decided step.
"""

from __future__ import annotations

import math
import weakref
from typing import Any

import torch
from torch import Tensor

__all__: list[str] = []  # internal: the guard and the trainer integrations use these

#: optimizer → the wrapper whose ``step()`` steps it (:func:`step_through`).
_OUTER: weakref.WeakKeyDictionary[torch.optim.Optimizer, Any] = weakref.WeakKeyDictionary()


def step_through(optimizer: torch.optim.Optimizer, outer: Any) -> None:
    """Step ``optimizer`` by calling ``outer.step()`` from now on, wherever a step is taken.

    For a wrapper that steps the optimizer itself and, under AMP, calls the grad scaler's
    ``step`` and ``update`` itself — accelerate's ``AcceleratedOptimizer``. Stepping the
    wrapper, not the optimizer inside it, is what an LR scheduler built on the wrapper
    watches: torch's scheduler marks the wrapper's ``step`` and warns "Detected call of
    ``lr_scheduler.step()`` before ``optimizer.step()``" when only the inner one was
    called. The guard still measures, skips (``found_inf``) and restores ``optimizer``.
    """
    _OUTER[optimizer] = outer


def _step(optimizer: torch.optim.Optimizer) -> None:
    """``optimizer.step()``, through its wrapper when it has one (:func:`step_through`)."""
    _OUTER.get(optimizer, optimizer).step()


def amp_enabled(scaler: Any) -> bool:
    """Whether ``scaler`` is a grad scaler that is on."""
    return scaler is not None and scaler.is_enabled()


def take_step(optimizer: torch.optim.Optimizer, scaler: Any = None) -> None:
    """Step the optimizer (under AMP: ``scaler.step(optimizer)`` then ``scaler.update()``).

    Also what an ``amp_skip`` does: the scaler, having found inf/NaN, skips
    ``optimizer.step()`` itself and lowers its scale. An optimizer with a wrapper
    (:func:`step_through`) is stepped by the wrapper, which calls the scaler itself.
    """
    outer = _OUTER.get(optimizer)
    if outer is not None:
        outer.step()
    elif amp_enabled(scaler):
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()


def withhold_step(scaler: Any = None) -> None:
    """Withhold this step's ``optimizer.step()``; reset the grad scaler keeping its scale.

    Call after the gradients were unscaled (``scaler.unscale_``) and instead of stepping:
    the scaler's per-step state is cleared for the next step, its scale and growth
    count are kept (a plain ``update()`` would count the withheld step towards growing
    the scale, as if it had been taken). No host sync.
    """
    if amp_enabled(scaler):
        scaler.update(scaler._scale)


def keep_scale_at_next_update(scaler: Any) -> None:
    """Make the scaler's next ``update()`` keep its scale (once), for a trainer's own call.

    A trainer that calls ``scaler.update()`` itself after a step the guard withheld
    (Lightning's precision plugin does) gets :func:`withhold_step`'s effect: the next
    ``update()`` passes the current scale, then the scaler's own method is back.
    """
    if not amp_enabled(scaler):
        return
    inner = scaler.update

    def update(new_scale: Any = None) -> None:
        vars(scaler).pop("update", None)
        inner(scaler._scale if new_scale is None else new_scale)

    scaler.update = update


def fused_skip_supported(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``optimizer.step()`` honours ``optimizer.found_inf`` (torch's fused kernels)."""
    if not getattr(optimizer, "_step_supports_amp_scaling", False):
        return False
    return all(group.get("fused") for group in optimizer.param_groups)


def step_on_device(
    optimizer: torch.optim.Optimizer, scaler: Any, take: Tensor, amp: Tensor, fused: bool
) -> Tensor:
    """Step or skip by a device verdict; return the AMP scale afterwards (NaN without AMP).

    The skip reaches the optimizer through ``found_inf`` — for ``fused=True`` Adam, AdamW,
    SGD and Adagrad their kernels then leave parameters, moments and step counts untouched,
    with no host sync. With a grad scaler the verdict is OR-ed into the scaler's own
    ``found_inf`` (skipped if either says so), and where only the guard skipped the scale
    and its growth count are kept, as :func:`withhold_step` keeps them. An optimizer
    without that route costs one host sync to withhold ``step()``.

    Args:
      optimizer: the optimizer to step.
      scaler: the grad scaler, or ``None``.
      take: 0-d bool tensor, the guard's verdict (True: step).
      amp: 0-d bool tensor, whether the scaler found inf/NaN (its own skip).
      fused: :func:`fused_skip_supported` for ``optimizer`` (computed once by the caller).
    """
    skip = (~take).to(torch.float32)
    if amp_enabled(scaler):
        per_opt = scaler._per_optimizer_states[id(optimizer)]
        for f in per_opt["found_inf_per_device"].values():
            f.copy_(torch.maximum(f, skip.to(device=f.device, dtype=f.dtype)))
        scale0 = scaler._scale.clone()
        tracker0 = scaler._growth_tracker.clone()
        # A fused optimizer reads found_inf on the device; for the others the scaler
        # itself reads it on the host (torch's own sync) and withholds step().
        take_step(optimizer, scaler)
        only_guard = ~take & ~amp
        scaler._scale.copy_(torch.where(only_guard.to(scale0.device), scale0, scaler._scale))
        scaler._growth_tracker.copy_(
            torch.where(only_guard.to(tracker0.device), tracker0, scaler._growth_tracker)
        )
        return scaler._scale.to(device=take.device, dtype=torch.float64).reshape(())
    if fused:
        optimizer.found_inf = skip  # type: ignore[attr-defined]
        try:
            _step(optimizer)
        finally:
            del optimizer.found_inf  # type: ignore[attr-defined]
    elif bool(take):  # the fallback's one host sync
        _step(optimizer)
    return torch.full((), math.nan, dtype=torch.float64, device=take.device)


def scale_grads_(grouped: list[tuple[torch.device, list[Tensor], list[int]]], coef: Tensor) -> None:
    """Multiply gradients grouped by (device, dtype) in place by a 0-d coefficient tensor.

    One ``_foreach_mul_`` per group, the coefficient cast to the group's device and dtype,
    as ``torch.nn.utils.clip_grads_with_norm_`` does.
    """
    for device, group, _ in grouped:
        torch._foreach_mul_(group, coef.to(device=device, dtype=group[0].dtype))
