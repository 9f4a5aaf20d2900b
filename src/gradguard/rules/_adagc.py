"""AdaGC on one norm: clip to λ_rel × the EMA of the clipped norm, after a warm-up.

Guoxia Wang, Shuai Li, Congliang Chen, Jinle Zeng, Jiabin Yang, Dianhai Yu, Yanjun Ma
and Li Shen, "AdaGC: Enhancing LLM Pretraining Stability via Adaptive Gradient
Clipping", ICML 2026, arXiv:2502.11034.
"""

from __future__ import annotations

from typing import Any

from gradguard._validate import check_number
from gradguard.rules._rule import (
    ReplayParam,
    Rule,
    Verdict,
    check_clip_threshold,
    check_count,
    check_positive,
    finite,
)

__all__ = ["AdaGCRule"]


class AdaGCRule(Rule):
    """AdaGC on one norm: clip to λ_rel × the EMA of the clipped norm, after a warm-up.

    The scalar form of :class:`gradguard.torch.AdaGC` (Wang et al., ICML 2026) — the
    authors' global-level variant, and what ``gradguard replay`` can run on a log's total
    norms (the per-tensor clipper needs per-tensor norms; its state lives on the device,
    so ``SpikeGuard(sync=False)`` runs it). For the first ``warmup_steps`` finite norms:
    clip to ``max_norm`` (λ_abs) and keep γ, the smallest clipped norm. Then, with
    threshold ``λ_rel·γ``:

    .. math::

        g' = \\min(g, λ_{rel} γ), \\qquad γ \\leftarrow β γ + (1 − β) g'

    A non-finite norm changes nothing. Defaults: the authors' released settings.

    Args:
      max_norm: λ_abs, the warm-up's fixed threshold (1.0).
      ratio: λ_rel (1.04).
      beta: β in [0, 1) (0.99).
      warmup_steps: T_start (100).
    """

    name = "adagc"
    clipper = "AdaGC"
    sync_free = True
    # Replayed in its global-level form on the total norm, its warm-up at the fixed c.
    replay_params = (ReplayParam("max_norm", 1.0, recorded=True),)

    def __init__(
        self,
        max_norm: float = 1.0,
        ratio: float = 1.04,
        beta: float = 0.99,
        warmup_steps: int = 100,
    ) -> None:
        self.max_norm = check_clip_threshold("max_norm", max_norm)
        self.ratio = check_positive("ratio", ratio)
        self.beta = check_number(beta, "beta", minimum=0, below=1, rule="half_open_unit")
        self.warmup_steps = check_count("warmup_steps", warmup_steps, 0)
        self.steps = 0
        self.gamma: float | None = None

    def _threshold(self, x: float) -> float | None:
        if self.steps < self.warmup_steps:
            return self.max_norm
        gamma = self.gamma
        if gamma is None:
            # A first sight starts the EMA at the norm itself.
            return self.ratio * float(x) if finite(x) else None
        return self.ratio * gamma

    def judge(self, x: float) -> Verdict:
        threshold = self._threshold(x)
        flagged = finite(x) and threshold is not None and x > threshold
        return Verdict(threshold, flagged, threshold if flagged else None)

    def learn(self, x: float, verdict: Verdict) -> None:
        if not finite(x):
            return
        if self.steps < self.warmup_steps:
            used = min(float(x), self.max_norm)
            self.gamma = used if self.gamma is None else min(self.gamma, used)
        else:
            gamma = float(x) if self.gamma is None else self.gamma
            threshold = self.ratio * gamma
            used = threshold if x > threshold else float(x)
            self.gamma = self.beta * gamma + (1.0 - self.beta) * used
        self.steps += 1

    def state_dict(self) -> dict[str, Any]:
        return {
            "max_norm": self.max_norm,
            "ratio": self.ratio,
            "beta": self.beta,
            "warmup_steps": self.warmup_steps,
            "steps": self.steps,
            "gamma": self.gamma,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.max_norm = float(state["max_norm"])
        self.ratio = float(state["ratio"])
        self.beta = float(state["beta"])
        self.warmup_steps = int(state["warmup_steps"])
        self.steps = int(state["steps"])
        self.gamma = None if state["gamma"] is None else float(state["gamma"])
