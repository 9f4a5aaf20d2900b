"""ZClip: EMA mean and variance of the norm, a z-score threshold and an adaptive target.

Abhay Kumar, Louis Owen, Nilabhra Roy Chowdhury and Fabian Güra, "ZClip: Adaptive Spike
Mitigation for LLM Pre-Training", 2025 (reference implementation ``zclip`` 1.0.0).
"""

from __future__ import annotations

import math
import statistics
import warnings
from typing import Any

from gradguard._validate import check_number
from gradguard.rules._order import fold, fold_sum, sqrt
from gradguard.rules._rule import (
    DeviceForm,
    Judgement,
    ReplayParam,
    Rule,
    Verdict,
    check_clip_threshold,
    check_count,
    check_positive,
    finite,
)

__all__ = ["EmaZScoreRule"]


class EmaZScoreDevice(DeviceForm):
    """:class:`EmaZScoreRule` on the device: the warm-up buffer and the EMA as tensors."""

    rule: EmaZScoreRule

    def __init__(self, rule: EmaZScoreRule, device: Any) -> None:
        super().__init__(rule, device)
        t = self.torch
        self.slots = t.arange(rule.warmup_steps, device=device)
        self.cap = None if rule.max_norm is None else self.full(rule.max_norm)

    def state(self) -> dict[str, Any]:
        t, r = self.torch, self.rule
        warm = t.full((r.warmup_steps,), math.nan, dtype=t.float64)
        if r.buffer:
            warm[: len(r.buffer)] = t.tensor(r.buffer, dtype=t.float64)
        return {
            "warm": warm.to(self.device),
            "nwarm": self.full(len(r.buffer), t.int64),
            "mean": self.full(math.nan if r.mean is None else r.mean),
            "var": self.full(math.nan if r.var is None else r.var),
        }

    def judge(self, state: dict[str, Any], x: Any) -> tuple[Judgement, dict[str, Any]]:
        t, r = self.torch, self.rule
        x = x.to(t.float64)
        mean, var = state["mean"], state["var"]
        warming = t.isnan(mean)
        # Warm-up: collect (with a cap: the norm as clipped at it); on the last one,
        # start from the mean and the population variance.
        seen = x if self.cap is None else t.where(warming, t.minimum(x, self.cap), x)
        put = warming & t.isfinite(seen)
        warm = t.where((self.slots == state["nwarm"]) & put, seen, state["warm"])
        nwarm = state["nwarm"] + put.to(t.int64)
        full = warming & (nwarm >= r.warmup_steps)
        n = float(r.warmup_steps)
        w_mean = fold_sum(self, warm) / n
        w_var = fold_sum(self, t.where(t.isnan(warm), math.nan, (warm - w_mean) * (warm - w_mean)))
        w_var = w_var / n
        # After warm-up: the z-score test and the adaptive target.
        std = sqrt(self, var)
        threshold = t.where(warming, math.nan, mean + r.z_thresh * (std + r.eps))
        z = (x - mean) / (std + r.eps)
        finite = t.isfinite(x)
        spike = ~warming & finite & (z > r.z_thresh)
        clip_to = t.where(spike, mean + r.z_thresh**2 * std / z, math.nan)
        used = t.where(spike, clip_to, x)
        new_mean = r.alpha * mean + (1 - r.alpha) * used
        new_var = r.alpha * var + (1 - r.alpha) * (used - new_mean) * (used - new_mean)
        update = ~warming & finite
        if self.cap is not None:  # ZClip's cap, in the warm-up and after it
            over = finite & (x > self.cap) & (t.isnan(clip_to) | (self.cap < clip_to))
            clip_to = t.where(over, self.cap, clip_to)
            threshold = t.where(t.isnan(threshold), self.cap, t.minimum(threshold, self.cap))
        new = {
            # The buffer empties once the statistics start, as the host rule's does.
            "warm": t.where(full, math.nan, warm),
            "nwarm": t.where(full, 0, nwarm),
            "mean": t.where(full, w_mean, t.where(update, new_mean, mean)),
            "var": t.where(full, w_var, t.where(update, new_var, var)),
        }
        flagged = finite & ~t.isnan(clip_to)
        return Judgement(threshold, flagged, clip_to), new

    def store(self, state: dict[str, Any]) -> None:
        rule_state = self.rule.state_dict()
        n = int(state["nwarm"])
        mean, var = float(state["mean"]), float(state["var"])
        rule_state["buffer"] = [float(v) for v in state["warm"][:n].cpu().tolist()]
        rule_state["mean"] = None if math.isnan(mean) else mean
        rule_state["var"] = None if math.isnan(var) else var
        self.rule.load_state_dict(rule_state)


class EmaZScoreRule(Rule):
    """ZClip: EMA mean ``μ`` and variance ``σ²`` of the norm, z-score threshold.

    For a norm ``g`` after warm-up: ``z = (g − μ) / (σ + ε)``. If ``z > z_t`` the norm
    is a spike and is clipped to ``μ + z_t²·σ / z`` (ZClip's "adaptive scaling": the
    further out, the harder the clip). Then the EMA moves towards the norm actually
    used, ``g' = min(g, target)``:

    .. math::

        μ \\leftarrow α μ + (1 − α) g', \\qquad σ² \\leftarrow α σ² + (1 − α)(g' − μ)²

    During the first ``warmup_steps`` finite norms the rule only collects them, then
    starts from their mean and (population) variance. A non-finite norm changes
    nothing (the defect it avoids: in ZClip's reference code ``z > z_t`` is false for
    NaN, so the NaN goes into the EMA and every later threshold is NaN).

    With a cap (``max_norm``, what :class:`gradguard.torch.ZClip` calls
    ``max_grad_norm``), as in the authors' reference implementation: during warm-up a
    norm above the cap is clipped to it, and afterwards to the smaller of the z-score
    target and the cap. Unlike the reference code, the warm-up statistics take the norms
    as clipped at the cap (``min(g, cap)``), as the EMA takes the norms as clipped after
    it: one huge finite norm in the warm-up would otherwise set the threshold for the
    rest of the run.

    When the cap clips most of the warm-up's norms (more than half), the model's natural
    norms lie above it and ZClip acts as a fixed threshold at the cap; with
    :attr:`note_cap` set (:class:`gradguard.torch.ZClip` sets it) the rule says so once,
    as a ``UserWarning``, when the warm-up ends.

    Args:
      alpha: EMA smoothing ``α`` in (0, 1).
      z_thresh: z-score threshold ``z_t`` > 0.
      warmup_steps: finite norms collected before the rule acts (≥ 1).
      eps: ``ε`` added to ``σ``, a finite number > 0.
      max_norm: the cap (``None``: none).
    """

    name = "zclip"
    clipper = "ZClip"
    device = EmaZScoreDevice
    sync_free = True
    # ZClip()'s own defaults: its cap (max_grad_norm=1.0) unless the options say otherwise.
    replay_params = (
        ReplayParam("alpha", 0.97),
        ReplayParam("z_thresh", 2.5),
        ReplayParam("warmup", 25, int, arg="warmup_steps"),
        ReplayParam("zclip_cap", 1.0, arg="max_norm", none=True),
    )

    def __init__(
        self,
        alpha: float = 0.97,
        z_thresh: float = 2.5,
        warmup_steps: int = 25,
        eps: float = 1e-6,
        max_norm: float | None = None,
    ) -> None:
        self.alpha = check_number(alpha, "alpha", above=0, below=1, rule="open_unit")
        self.z_thresh = check_positive("z_thresh", z_thresh)
        self.warmup_steps = check_count("warmup_steps", warmup_steps, 1)
        self.eps = check_number(eps, "eps", above=0)
        self.max_norm = None if max_norm is None else check_clip_threshold("max_norm", max_norm)
        self.buffer: list[float] = []
        self.mean: float | None = None
        self.var: float | None = None
        # For the note on a cap that binds (not part of the state: a note, not a decision):
        # how many of the warm-up's norms the cap clipped, and the norms as measured.
        self.capped = 0
        self._warm_norms: list[float] = []
        #: Say once when the cap clipped most of the warm-up's norms.
        self.note_cap = False

    def _z(self, x: float) -> tuple[float | None, float | None]:
        """``(threshold, clip_to)`` of the z-score test after warm-up (``None``: none)."""
        if self.mean is None or self.var is None:
            return None, None
        std = math.sqrt(self.var)
        threshold = self.mean + self.z_thresh * (std + self.eps)
        if not finite(x):
            return threshold, None
        z = (x - self.mean) / (std + self.eps)
        return threshold, (self.mean + self.z_thresh**2 * std / z if z > self.z_thresh else None)

    def judge(self, x: float) -> Verdict:
        threshold, clip_to = self._z(x)
        cap = self.max_norm
        if cap is not None:
            if finite(x) and x > cap and (clip_to is None or cap < clip_to):
                clip_to = cap
            threshold = cap if threshold is None else min(threshold, cap)
        return Verdict(threshold, finite(x) and clip_to is not None, clip_to)

    def learn(self, x: float, verdict: Verdict) -> None:
        if self.mean is None or self.var is None:
            seen = x if self.max_norm is None or not x > self.max_norm else self.max_norm
            if finite(seen):
                self.buffer.append(float(seen))
                self.capped += seen != x
                if self.note_cap:
                    self._warm_norms.append(float(x))
                if len(self.buffer) >= self.warmup_steps:
                    n = len(self.buffer)
                    self.mean = fold(self.buffer) / n
                    self.var = fold((b - self.mean) * (b - self.mean) for b in self.buffer) / n
                    self.buffer = []
                    self._warmed_up()
            return
        if not finite(x):
            return
        _, target = self._z(x)
        used = float(x) if target is None else target
        self.mean = self.alpha * self.mean + (1 - self.alpha) * used
        self.var = self.alpha * self.var + (1 - self.alpha) * (used - self.mean) * (
            used - self.mean
        )

    def _warmed_up(self) -> None:
        """Say once if the cap clipped most of the warm-up's norms (see the class)."""
        capped, self.capped = self.capped, 0
        norms, self._warm_norms = self._warm_norms, []
        if not self.note_cap or self.max_norm is None or 2 * capped <= self.warmup_steps:
            return
        from gradguard._catalog import default_lang, load_catalog

        self.note_cap = False  # once
        median = statistics.median(norms) if norms else math.nan
        message = load_catalog(default_lang()).get(
            "guard.zclip_cap_binds",
            capped=capped,
            warmup=self.warmup_steps,
            cap=f"{self.max_norm:g}",
            median=f"{median:.3g}",
        )
        warnings.warn(message, UserWarning, stacklevel=2)

    def state_dict(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "z_thresh": self.z_thresh,
            "warmup_steps": self.warmup_steps,
            "eps": self.eps,
            "max_norm": self.max_norm,
            "buffer": list(self.buffer),
            "mean": self.mean,
            "var": self.var,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.alpha = float(state["alpha"])
        self.z_thresh = float(state["z_thresh"])
        self.warmup_steps = int(state["warmup_steps"])
        self.eps = float(state["eps"])
        cap = state.get("max_norm")  # (not in states saved before the cap moved here)
        self.max_norm = None if cap is None else float(cap)
        self.buffer = [float(b) for b in state["buffer"] if finite(b)]
        self.mean = None if state["mean"] is None else float(state["mean"])
        self.var = None if state["var"] is None else float(state["var"])
