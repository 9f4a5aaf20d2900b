"""Update clipping (StableAdamW): scale each tensor's Adam update by ``1 / max(1, RMS_t)``.

Wortsman et al., "Stable and low-precision training for large-scale vision-language
models", NeurIPS 2023 (arXiv:2304.13013), Algorithm 2: with ``v̂_t`` Adam's bias-corrected
second moment after the step,

.. math::

    \\mathrm{RMS}_t = \\sqrt{\\operatorname{mean}\\bigl(g_t^2 / \\max(\\hat v_t, ε^2)\\bigr)},
    \\qquad η_t = η / \\max(1, \\mathrm{RMS}_t)

per tensor. Scaling a tensor's learning rate scales its whole update — Adam's step and
AdamW's decoupled weight decay alike, as in the paper — so the clipper lets the optimizer
step, then moves each tensor back along its update: ``θ ← θ_prev + c·(θ − θ_prev)`` with
``c`` the clip coefficient of ``RMS_t`` against the bound (:func:`gradguard.torch.clip_coef`,
the one coefficient every clipper uses). A tensor with ``c = 1`` keeps the optimizer's
result bit for bit (``torch.lerp`` at weight 1).

It acts through the optimizer's step hooks, so it clips every step however the optimizer
is stepped — by :class:`~gradguard.torch.SpikeGuard` (either mode: nothing is read on the
host), by a trainer, or by your own loop — and a step the guard skips through
``found_inf`` leaves the parameters as they were. Cost per step: a copy of the parameters
that have gradients, and one pass over the gradients and second moments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from gradguard.errors import InputError
from gradguard.rules import UpdateRMSRule
from gradguard.torch._clip import coefficient
from gradguard.torch._clippers import Clipper, ClipResult, measured
from gradguard.torch._stats import GradStats, HostGradStats

__all__ = ["UpdateClipper"]  # (UpdateScaling: the type of UpdateClipper.last)

#: The optimizers whose update is Adam's ``m̂ / (√v̂ + ε)`` with ``v`` in ``exp_avg_sq``.
ADAM_LIKE = (torch.optim.Adam, torch.optim.AdamW)


@dataclass
class UpdateScaling:
    """What update clipping did on one step, on the device (no host sync).

    Attributes:
      rms: ``RMS_t`` of each tensor the optimizer stepped (float64), in parameter order.
      coefs: each tensor's update coefficient (1: its update untouched).
    """

    rms: Tensor
    coefs: Tensor

    @property
    def clip_coef(self) -> Tensor:
        """The smallest coefficient of the step (0-d; 1 when nothing was clipped)."""
        if self.coefs.numel() == 0:
            return torch.ones((), dtype=torch.float64)
        return self.coefs.min()

    @property
    def clipped(self) -> Tensor:
        """Whether any tensor's update was scaled down (0-d bool)."""
        return (self.coefs < 1).any()


def check_adam(optimizer: Any) -> None:
    """Raise :class:`InputError` unless ``optimizer`` keeps Adam's ``exp_avg_sq`` as v̂'s source."""
    name = type(optimizer).__name__
    if not isinstance(optimizer, ADAM_LIKE):
        raise InputError("optimizer", name, "update_clip_optimizer")
    if any(group.get("amsgrad") for group in optimizer.param_groups):
        raise InputError("optimizer", f"{name}(amsgrad=True)", "update_clip_optimizer")


class UpdateClipper(Clipper):
    """Clip each tensor's optimizer update, StableAdamW's way (Wortsman et al. 2023).

    For Adam and AdamW (fused, foreach or neither; not AMSGrad): after each
    ``optimizer.step()``, the update of every tensor whose ``RMS_t`` exceeds ``max_rms``
    is scaled by ``max_rms / RMS_t`` — the paper's per-tensor learning rate
    ``η / max(1, RMS_t)`` at ``max_rms = 1``. The gradients are not touched.

    ::

        guard = SpikeGuard(model, optimizer, clipper=UpdateClipper())   # or, without it:
        clipper = UpdateClipper().attach(optimizer)                     # every step clipped
        optimizer.step(); clipper.last.coefs                            # per tensor

    ``g`` is the gradient as the optimizer receives it (Adam's L2 ``weight_decay`` adds
    ``λθ`` inside the step, and is not in it). ``gradguard replay`` cannot replay it: a
    norm log holds no ``v̂``.

    Args:
      max_rms: the bound on ``RMS_t``, a number > 0 (the paper's: 1; ``inf``: never clip).

    Attributes:
      last: the last step's :class:`UpdateScaling` (``None`` before the first).
    """

    name = "update"
    side = "update"
    rule: UpdateRMSRule

    def __init__(self, max_rms: float = 1.0) -> None:
        self.rule = UpdateRMSRule(max_rms)
        self.last: UpdateScaling | None = None
        self._before: list[tuple[Tensor, Tensor]] = []
        self._attached: dict[int, tuple[Any, Any]] = {}

    @property
    def max_rms(self) -> float:
        """The bound on ``RMS_t``."""
        return self.rule.max_rms

    def attach(self, optimizer: torch.optim.Optimizer) -> UpdateClipper:
        """Clip every later ``optimizer.step()`` (once per optimizer); return the clipper.

        Raises:
          InputError: ``optimizer`` is not Adam or AdamW (or uses AMSGrad).
        """
        check_adam(optimizer)
        if id(optimizer) not in self._attached:
            self._attached[id(optimizer)] = (
                optimizer.register_step_pre_hook(self._pre),
                optimizer.register_step_post_hook(self._post),
            )
        return self

    def detach(self) -> None:
        """Stop clipping the optimizers :meth:`attach` was given."""
        for pre, post in self._attached.values():
            pre.remove()
            post.remove()
        self._attached.clear()

    @torch.no_grad()
    def _pre(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        self._before = [
            (p, p.detach().clone())
            for group in optimizer.param_groups
            for p in group["params"]
            if p.grad is not None
        ]

    @torch.no_grad()
    def _post(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        before, self._before = self._before, []
        groups = {id(p): g for g in optimizer.param_groups for p in g["params"]}
        rms = []
        for p, _ in before:
            group, state = groups[id(p)], optimizer.state[p]
            beta2, eps = group["betas"][1], group["eps"]
            step = state["step"]
            # v̂ = v / (1 − β₂^t), as torch's Adam corrects it; max(v̂, ε²) as the paper.
            step_t = step.to(torch.float64) if isinstance(step, Tensor) else float(step)
            correction = 1 - torch.as_tensor(beta2, dtype=torch.float64) ** step_t
            dtype = torch.promote_types(p.dtype, torch.float32)  # (half types: in float32)
            v_hat = state["exp_avg_sq"].to(dtype) / correction.to(p.device, dtype)
            assert p.grad is not None
            g2 = p.grad.to(dtype).square()
            rms.append((g2 / v_hat.clamp(min=float(eps) ** 2)).mean().sqrt().double())
        if not rms:
            self.last = UpdateScaling(*(torch.ones(0, dtype=torch.float64),) * 2)
            return
        device = rms[0].device
        rms_t = torch.stack([r.to(device) for r in rms])
        # The rule's verdict on the device: above the bound, the clip coefficient of RMS_t
        # against it (clip_coef, as for every clipper); else 1 — a NaN RMS (a step taken
        # with NaN gradients) included.
        bound = self.rule.max_rms
        flagged = torch.isfinite(rms_t) & (rms_t > bound)
        coefs = torch.where(flagged, coefficient(rms_t, bound), torch.ones_like(rms_t))
        for (p, prev), c in zip(before, coefs.unbind(), strict=True):
            p.copy_(torch.lerp(prev, p, c.to(device=p.device, dtype=p.dtype)))
        self.last = UpdateScaling(rms_t, coefs)

    def clip_(
        self, parameters: Any, stats: GradStats | None = None, host: HostGradStats | None = None
    ) -> ClipResult:
        """Leave the gradients as they are: this clipper acts on the update (:meth:`attach`).

        Returns:
          The gradients' norm, untouched; ``clip_coef`` is NaN: the update's coefficients
          are known only after the step (:attr:`last`).
        """
        _, _, host = measured(parameters, stats, host, self.norm_type)
        norm = host.total_norm
        return ClipResult(norm, norm, self.rule.max_rms, math.nan, False)

    def device_state(self) -> dict[str, Any]:
        """Nothing learned: the bound is all its state (for ``SpikeGuard(sync=False)``)."""
        return {}

    def load_device_state(self, state: dict[str, Any]) -> None:
        """Nothing to restore (see :meth:`device_state`)."""

    def scaled_update(self) -> tuple[Tensor, Tensor, float]:
        """The last step's ``(clip_coef, clipped, max_rms)``: its smallest per-tensor
        coefficient and whether any tensor was clipped, 0-d float64/bool tensors."""
        last = self.last
        if last is None:
            one, no = torch.ones((), dtype=torch.float64), torch.zeros((), dtype=torch.bool)
            return one, no, self.max_rms
        return last.clip_coef.to(torch.float64), last.clipped, self.max_rms

    def state_dict(self) -> dict[str, Any]:
        return {"rule": self.rule.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rule.load_state_dict(state["rule"])
