"""SPAM's two remedies for the optimizer: momentum reset and spike-aware clipping.

Tianjin Huang, Ziquan Zhu, Gaojie Jin, Lu Liu, Zhangyang Wang and Shiwei Liu, "SPAM:
Spike-Aware Adam with Momentum Reset for Stable LLM Training", ICLR 2025
(arXiv:2501.06842); Tianjin Huang et al., "Stable-SPAM: How to Train in 4-Bit More
Stably than 16-Bit Adam", 2025 (arXiv:2502.17055).

A gradient spike does not end with its step: Adam's first moment carries it for about
``1 / (1 − β₁)`` steps and its second moment for about ``1 / (1 − β₂)`` (1,000 steps
at β₂ = 0.999), shrinking every later update of the tensors it hit. SPAM answers with

- **momentum reset** — zero the moments (:func:`reset_moments_`); SPAM does it every
  ``ΔT`` steps, gradguard's :class:`MomentumReset` after a step the guard flagged (a
  spike or NaN/inf), for every tensor or only the tensors that spiked;
- **spike-aware clipping** — an entry with ``g_i² > θ·v_i`` (``v`` the second moment,
  ``θ = 5000`` in SPAM) is set to ``sign(g_i)·√(θ·v_i)`` (:func:`spike_aware_clip_`).

After a reset SPAM keeps Adam's step count and warms its learning rate up again (cosine,
50 steps): with the step count kept, the first update after the reset is
``(1 − β₁)/√(1 − β₂)`` ≈ 3.2× Adam's usual size per entry. Stable-SPAM restarts the
step count instead, so that Adam's bias correction treats the reset tensors as new.
:func:`reset_moments_` does either (``restart=True``, the default, is Stable-SPAM's:
gradguard cannot warm up a learning rate that the user's scheduler owns).

Checked against ``pytorch-optimizer``'s ``SPAM`` (``restart=False``, spike-aware
clipping) and ``StableSPAM`` (``restart=True``: both moments zeroed and the step count
restarted at 1, exactly as its reset does) on fixed gradient sequences with a spike
(``tests/guard/test_spam.py``). What gradguard deliberately does not take from
Stable-SPAM: its AdaClip (entries above a running maximum of ``|g|``) and its per-tensor
scaling of the gradient by a running norm — optimizer features, not a remedy the guard
applies to the user's optimizer — and its reset every ``ΔT`` steps: gradguard resets
after a step the guard flagged.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import torch
from torch import Tensor

from gradguard._validate import check_threshold
from gradguard.errors import InputError
from gradguard.records import StepRecord

__all__ = ["MomentumReset", "reset_moments_", "spike_aware_clip_"]

#: The optimizer state entries that are moments (torch's Adam, AdamW, NAdam, RAdam,
#: Adamax, SGD with momentum; AMSGrad's running maximum).
MOMENTS = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq", "exp_inf", "momentum_buffer")


def _params(optimizer: torch.optim.Optimizer, params: Iterable[Tensor] | None) -> list[Tensor]:
    if params is not None:
        return list(params)
    return [p for group in optimizer.param_groups for p in group["params"]]


@torch.no_grad()
def reset_moments_(
    optimizer: torch.optim.Optimizer,
    params: Iterable[Tensor] | None = None,
    *,
    restart: bool = True,
) -> int:
    """Reset the optimizer's moments of ``params`` (default: every parameter).

    Args:
      optimizer: a torch optimizer (Adam, AdamW, SGD with momentum, …).
      params: the parameters whose moments to reset; ``None``: all of them.
      restart: ``True`` (Stable-SPAM): forget the parameters' optimizer state entirely —
        the next step initialises it as for a new parameter (Adam's step count, hence its
        bias correction, starts again). ``False`` (SPAM): zero the moments in place and
        keep the step count.

    Returns:
      How many parameters had state that was reset.
    """
    n = 0
    for p in _params(optimizer, params):
        state = optimizer.state.get(p)
        if not state:
            continue
        n += 1
        if restart:
            del optimizer.state[p]
            continue
        for key in MOMENTS:
            value = state.get(key)
            if isinstance(value, Tensor):
                value.zero_()
    return n


def _second_moment(optimizer: torch.optim.Optimizer, p: Tensor) -> Tensor | None:
    value = optimizer.state.get(p, {}).get("exp_avg_sq")
    return value if isinstance(value, Tensor) else None


@torch.no_grad()
def spiked_params(
    optimizer: torch.optim.Optimizer, threshold: float = 5000.0, *, stepped: bool = False
) -> list[Tensor]:
    """Return the parameters whose gradient spiked: NaN/inf, or ``g_i² > θ·v_i`` somewhere.

    ``v`` is the optimizer's second moment (``exp_avg_sq``) from before this step; a
    parameter without one (no step taken yet, or an optimizer that keeps none) counts
    only by NaN/inf. One host sync for all parameters together.

    Args:
      optimizer: the optimizer.
      threshold: ``θ``.
      stepped: the optimizer has already taken this step, so ``exp_avg_sq`` holds
        ``β₂·v + (1 − β₂)·g²``: ``v`` is recovered from it with the group's ``β₂`` (the
        gradient as it is now; Adam's L2 ``weight_decay``, which adds ``λ·θ`` to the
        gradient first, is not undone).
    """
    params = [p for p in _params(optimizer, None) if p.grad is not None]
    if not params:
        return []
    beta2 = {
        id(p): g.get("betas", (0.9, 0.999))[1] for g in optimizer.param_groups for p in g["params"]
    }
    flags = []
    for p in params:
        g = p.grad
        assert g is not None
        bad = ~torch.isfinite(g).all()
        v = _second_moment(optimizer, p)
        if v is not None:
            if stepped:
                b2 = float(beta2[id(p)])
                v = ((v - (1.0 - b2) * g.square()) / b2).clamp_min(0.0)
            bad = bad | (g.square() > threshold * v).any()
        flags.append(bad)
    hit = torch.stack(flags).tolist()
    return [p for p, h in zip(params, hit, strict=True) if h]


@torch.no_grad()
def spike_aware_clip_(optimizer: torch.optim.Optimizer, threshold: float = 5000.0) -> Tensor:
    """Clip each gradient entry with ``g_i² > θ·v_i`` to ``sign(g_i)·√(θ·v_i)`` (SPAM).

    Call after ``backward()`` (after ``scaler.unscale_`` under AMP) and before the step.
    ``v`` is the optimizer's second moment from the steps before; a parameter without one
    (its first step) is left as it is.

    Args:
      optimizer: an optimizer that keeps ``exp_avg_sq`` (Adam, AdamW, …).
      threshold: ``θ``; SPAM's default 5000.

    Returns:
      A 0-d tensor: how many entries were clipped (no host sync).

    Raises:
      InputError: ``threshold`` is not a clipping threshold (a number > 0; ``inf``: never
        clip — :func:`gradguard._validate.check_threshold`).
    """
    threshold = float(check_threshold(threshold, "threshold"))
    count: Tensor | None = None
    for p in _params(optimizer, None):
        g, v = p.grad, _second_moment(optimizer, p)
        if g is None or v is None:
            continue
        limit = v * threshold
        mask = g.square() > limit
        g.copy_(torch.where(mask, g.sign() * limit.sqrt(), g))
        hits = mask.sum()
        count = hits if count is None else count + hits.to(count.device)
    return torch.zeros((), dtype=torch.int64) if count is None else count


class MomentumReset:
    """A guard hook: after a step the guard flagged, reset the optimizer's moments.

    ::

        guard = SpikeGuard(model, optimizer, on_spike="skip")
        guard.hooks.append(MomentumReset(optimizer, params="spiked"))

    Called with every record; acts on a record of kind ``spike`` or ``nonfinite`` that
    is not a rollback (a rollback restores the optimizer's state from the snapshot).
    With ``on_spike="step"`` the spike's gradient has entered the moments: the reset
    takes it out again; with ``"skip"`` it never entered them, and the reset drops what
    led up to it. Needs the guard's record right after the step (``sync=True``, the
    default); under ``sync=False`` records arrive a step or a few later.

    Args:
      optimizer: the guard's optimizer.
      params: ``"all"`` (every parameter) or ``"spiked"`` (those whose gradient holds
        NaN/inf or an entry with ``g_i² > θ·v_i``: :func:`spiked_params`).
      threshold: ``θ`` for ``"spiked"``.
      restart: as in :func:`reset_moments_`.

    Attributes:
      resets: the steps at which it reset moments, with how many parameters.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        params: Literal["all", "spiked"] = "all",
        *,
        threshold: float = 5000.0,
        restart: bool = True,
    ) -> None:
        if params not in ("all", "spiked"):
            raise InputError("params", params, "choice", choices="'all' or 'spiked'")
        self.optimizer = optimizer
        self.params = params
        self.threshold = float(check_threshold(threshold, "threshold"))
        self.restart = bool(restart)
        self.resets: list[tuple[int, int]] = []

    def __call__(self, record: StepRecord) -> Any:
        if record.kind not in ("spike", "nonfinite") or record.action == "rollback":
            return
        chosen = None
        if self.params == "spiked":
            chosen = spiked_params(self.optimizer, self.threshold, stepped=record.action == "step")
        n = reset_moments_(self.optimizer, chosen, restart=self.restart)
        self.resets.append((record.step, n))
