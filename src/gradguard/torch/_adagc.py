"""AdaGC: per-tensor clipping against an EMA of each tensor's own clipped norm.

Guoxia Wang, Shuai Li, Congliang Chen, Jinle Zeng, Jiabin Yang, Dianhai Yu, Yanjun Ma
and Li Shen, "AdaGC: Enhancing LLM Pretraining Stability via Adaptive Gradient
Clipping", ICML 2026, arXiv:2502.11034 (v1: "AdaGC: Improving Training Stability for
Large Language Model Pretraining", 2025).

For tensor ``i`` at step ``t`` with gradient ``g_{t,i}``:

.. math::

    h_{t,i} = \\min\\Bigl(1, \\frac{λ_{rel}\\, γ_{t-1,i}}{\\lVert g_{t,i} \\rVert}\\Bigr),
    \\qquad g_{t,i} \\leftarrow h_{t,i}\\, g_{t,i},
    \\qquad γ_{t,i} = β\\, γ_{t-1,i} + (1 - β)\\, \\lVert g_{t,i} \\rVert\\, h_{t,i}

After a warm-up of ``T_start`` steps of global clipping (GlobalGC at the absolute
threshold ``λ_abs``: ``h_t = \\min(1, λ_abs / \\lVert g_t \\rVert)`` for every tensor),
during which ``γ_i`` is the smallest clipped norm tensor ``i`` has had.

The defaults are those of the authors' released PyTorch implementation and scripts
(github.com/lishuai-97/AdaGC: ``--clip-ratio 1.04 --clip-beta 0.99 --clip-grad 1.0``,
``start_clip_steps=100``, ``eps=1e-6``): λ_rel = 1.04, β = 0.99, T_start = 100 warm-up
steps at λ_abs = 1.0.

Everything lives in device tensors (γ, the step counter), so the clipper can run with no
host sync; a step it is told not to count (a non-finite or skipped step) leaves its
state bitwise as it was and scales nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from gradguard._validate import check_number
from gradguard.errors import InputError
from gradguard.rules import AdaGCRule
from gradguard.torch._clip import coefficient
from gradguard.torch._clippers import Clipper, ClipResult, _reiterable
from gradguard.torch._foreach import groups, index_tensor, no_grad
from gradguard.torch._params import named_list
from gradguard.torch._reduce import local_grad
from gradguard.torch._stats import GradStats, HostGradStats, check_norm_type, grad_stats

__all__ = ["AdaGC"]


@dataclass
class DeviceClip:
    """What one clipping call did, still on the device (0-d tensors; no host sync).

    Attributes:
      total_norm_clipped: the total norm after clipping.
      clip_coef: post- over pre-clip total norm (1: untouched).
      clipped: bool, whether any gradient was scaled down.
      threshold: the global threshold in force (NaN when the thresholds are per tensor).
    """

    total_norm_clipped: Tensor
    clip_coef: Tensor
    clipped: Tensor
    threshold: Tensor


class AdaGC(Clipper):
    """AdaGC (Wang et al., ICML 2026): clip each tensor to λ_rel × the EMA of its clipped norm.

    See the module docstring for the rule and the source of the defaults.

    Args:
      max_norm: λ_abs, the global threshold of the warm-up steps (default 1.0).
      ratio: λ_rel > 0, the allowed growth over a tensor's EMA (default 1.04).
      beta: β in [0, 1), the EMA's smoothing (default 0.99).
      warmup_steps: T_start, counted steps of global clipping first (default 100).
      eps: a finite number ≥ 0 added to the norms in the coefficients, as the authors'
        code does (1e-6).
      norm_type: the norm's order ``p``.

    State: ``gamma`` (one float32 per tensor, on the gradients' device; ``inf`` until a
    tensor's first counted step) and ``steps`` (a device counter of counted steps).
    """

    name = "adagc"

    def __init__(
        self,
        max_norm: float = 1.0,
        ratio: float = 1.04,
        beta: float = 0.99,
        warmup_steps: int = 100,
        eps: float = 1e-6,
        norm_type: float = 2.0,
    ) -> None:
        # The parameters' one set of checks: the host rule replay uses (the same AdaGC).
        rule = AdaGCRule(max_norm, ratio, beta, warmup_steps)
        self.max_norm, self.ratio, self.beta = rule.max_norm, rule.ratio, rule.beta
        self.warmup_steps = rule.warmup_steps
        self.eps = check_number(eps, "eps", minimum=0)
        self.norm_type = check_norm_type(norm_type)
        self.gamma: Tensor | None = None
        self.steps: Tensor | None = None

    # -- the rule, on the device ----------------------------------------------------
    def coefficients(self, norms: Tensor, total_norm: Tensor, ok: Tensor) -> Tensor:
        """Return each tensor's coefficient ``h_i`` and update γ (no host sync).

        Args:
          norms: 1-d tensor, this step's per-tensor gradient norms (parameter order).
          total_norm: 0-d tensor, the total norm (the warm-up's global clipping).
          ok: 0-d bool tensor: count this step (False: a non-finite or skipped step,
            which leaves γ and the counter untouched and gets ``h = 1``).

        Returns:
          1-d float32 tensor of coefficients in [0, 1], on ``norms``' device.

        Raises:
          InputError: the number of tensors changed since the first step.
        """
        device = norms.device
        n = norms.numel()
        norms = norms.to(torch.float32)
        if self.gamma is None:
            self.gamma = torch.full((n,), math.inf, dtype=torch.float32, device=device)
        if self.steps is None:
            self.steps = torch.zeros((), dtype=torch.int64, device=device)
        if self.gamma.numel() != n:
            raise InputError(
                "parameters",
                f"{n} gradients",
                "same_parameter_count",
                count=self.gamma.numel(),
                clipper="AdaGC",
            )
        gamma = self.gamma if self.gamma.device == device else self.gamma.to(device)
        steps = self.steps if self.steps.device == device else self.steps.to(device)
        ok = ok.to(device)
        warm = steps < self.warmup_steps
        total = total_norm.to(device=device, dtype=torch.float32)
        # Warm-up: GlobalGC, h = min(1, λ_abs / (‖g‖ + ε)); γ = the smallest clipped norm.
        h_global = coefficient(total, self.max_norm, eps=self.eps)
        gamma_warm = torch.minimum(gamma, norms * h_global)
        # After: a tensor seen for the first time starts its EMA at its own norm (as the
        # authors' code does), so it is not clipped on that step.
        prev = torch.where(torch.isinf(gamma), norms, gamma)
        threshold = self.ratio * prev
        over = norms > threshold
        # Only a tensor over its threshold is scaled: one a hair below it keeps h = 1
        # (clip_coef alone would give threshold / (‖g_i‖ + ε), a hair below 1, there).
        h_local = torch.where(over, coefficient(norms, threshold, eps=self.eps), 1.0)
        post = torch.where(over, threshold, norms)
        gamma_local = self.beta * prev + (1.0 - self.beta) * post
        h = torch.where(warm, h_global.expand(n), h_local)
        new_gamma = torch.where(warm, gamma_warm, gamma_local)
        # NaN-safe: an uncounted step (or a non-finite norm) never enters γ.
        keep = ok & torch.isfinite(norms) & torch.isfinite(total)
        self.gamma = torch.where(keep, new_gamma, gamma)
        self.steps = steps + ok.to(torch.int64)
        return torch.where(ok & torch.isfinite(total), h, 1.0)

    @no_grad
    def clip_device_(
        self,
        parameters: Any,
        stats: GradStats,
        ok: Tensor | None = None,
    ) -> DeviceClip:
        """Clip in place by device coefficients and return the result on the device.

        Args:
          parameters: the parameters ``stats`` was computed from.
          stats: this step's :func:`~gradguard.torch.grad_stats` (before clipping).
          ok: 0-d bool tensor, whether to count and clip this step (default: the
            gradients are finite).
        """
        norms = stats.param_norms
        if ok is None:
            ok = stats.nonfinite_count == 0
        h = self.coefficients(norms, stats.total_norm, ok)
        if stats.grouped is not None:
            grouped = stats.grouped
        else:
            params, _ = named_list(parameters)
            grads = [local_grad(q.grad) for q in params if q.grad is not None]
            grouped = groups(grads)
        for device, group, indices in grouped:
            hg = h.to(device).index_select(0, index_tensor(tuple(indices), device))
            # A per-tensor 0-d coefficient each; float16/bfloat16 gradients are scaled by
            # the float32 coefficient (rounded once, in the multiply).
            torch._foreach_mul_(group, list(hg.to(group[0].dtype).unbind()))
        p = self.norm_type
        pre = norms.to(torch.float32)
        post_parts = pre * h
        if math.isinf(p):
            post = post_parts.max() if post_parts.numel() else pre.new_zeros(())
        else:
            post = torch.linalg.vector_norm(post_parts, p)
        total = stats.total_norm.to(torch.float32)
        coef = torch.where(total > 0, post / total, 1.0)
        assert self.steps is not None
        in_warmup = (self.steps - ok.to(torch.int64)) < self.warmup_steps
        threshold = torch.where(in_warmup, self.max_norm, math.nan)
        return DeviceClip(post, coef, (h < 1).any(), threshold)

    # -- the common clipper interface (host numbers: one sync) ----------------------
    @no_grad
    def clip_(
        self,
        parameters: Any,
        stats: GradStats | None = None,
        host: HostGradStats | None = None,
    ) -> ClipResult:
        parameters = _reiterable(parameters)
        if stats is None:
            stats = grad_stats(parameters, self.norm_type, per_layer=False)
        ok = stats.nonfinite_count == 0
        if host is not None:
            ok = torch.full((), host.nonfinite_count == 0, device=stats.total_norm.device)
        res = self.clip_device_(parameters, stats, ok)
        pre, post, coef, clipped, threshold = torch.stack(
            [
                stats.total_norm.double(),
                res.total_norm_clipped.double(),
                res.clip_coef.double(),
                res.clipped.double(),
                res.threshold.double(),
            ]
        ).tolist()
        if host is not None:
            pre = host.total_norm
        return ClipResult(
            pre,
            post,
            None if math.isnan(threshold) else threshold,
            coef,
            bool(clipped),
        )

    def device_state(self) -> dict[str, Any]:
        """γ and the step count as they are, tensors on the device (no host sync)."""
        return {"gamma": self.gamma, "steps": self.steps}

    def load_device_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`device_state` (a snapshot's copy) onto the clipper's device."""
        device = self.gamma.device if self.gamma is not None else None
        for key in ("gamma", "steps"):
            value = state[key]
            setattr(self, key, None if value is None else value.to(device or value.device))

    def state_dict(self) -> dict[str, Any]:
        """Return the hyperparameters and state (γ as a list of floats, the step count)."""
        return {
            "max_norm": self.max_norm,
            "ratio": self.ratio,
            "beta": self.beta,
            "warmup_steps": self.warmup_steps,
            "eps": self.eps,
            "norm_type": self.norm_type,
            "gamma": None if self.gamma is None else self.gamma.cpu().tolist(),
            "steps": 0 if self.steps is None else int(self.steps),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output (γ returns to the device on the next step)."""
        self.max_norm = float(state["max_norm"])
        self.ratio = float(state["ratio"])
        self.beta = float(state["beta"])
        self.warmup_steps = int(state["warmup_steps"])
        self.eps = float(state["eps"])
        self.norm_type = check_norm_type(state["norm_type"])
        gamma = state["gamma"]
        device = self.gamma.device if self.gamma is not None else torch.device("cpu")
        self.gamma = None if gamma is None else torch.tensor(gamma, dtype=torch.float32)
        if self.gamma is not None:
            self.gamma = self.gamma.to(device)
        self.steps = torch.tensor(int(state["steps"]), dtype=torch.int64, device=device)
