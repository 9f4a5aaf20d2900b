"""The scalar rules: thresholds and spike detectors on one float per step, NaN-safe.

Each rule sees one float per step (a total gradient norm, or a loss) through
:meth:`Rule.observe` and answers with a :class:`Verdict`. A rule also says what acting
on a flagged value means: :attr:`Rule.action` is ``"clip"`` for a clipping threshold
(a clipper scales the step down to :attr:`Verdict.clip_to`) and ``"skip"`` for a spike
detector (the guard withholds the step).

NaN safety, everywhere: a non-finite value is never added to any history, buffer or
moving average — it gets a verdict from the current state and leaves the state as it
was. (One NaN poisons a plain EMA forever, and ``torch.quantile`` over a history
holding a NaN returns NaN; both defects are regression-tested.)

The rules:

- :class:`FixedThreshold` — the seed's clipping threshold ``c`` (Pascanu et al. 2013).
- :class:`PercentileRule` — AutoClip: the ``p``-th percentile of past norms over a
  bounded history (Seetharaman, Wichern, Pardo & Le Roux, "AutoClip: Adaptive gradient
  clipping for source separation networks", MLSP 2020).
- :class:`EmaZScoreRule` — ZClip: EMA mean and variance of the norm, z-score
  threshold, adaptive target ``μ + z_t²·σ / z`` (Kumar, Owen, Chowdhury & Güra, "ZClip:
  Adaptive Spike Mitigation for LLM Pre-Training", 2025). Defaults α = 0.97,
  z_t = 2.5, 25 warm-up steps.
- :class:`MedianMadRule` — the guard's spike rule: median + k·1.4826·MAD over a
  rolling window (robust: one spike barely moves the median).
- :class:`MeanStdRule` — OLMo-core's rule: mean + k·σ over a rolling window
  (k = 6 over 128 steps there).
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from gradguard.errors import InputError
from gradguard.rules._order import median_and_mad, percentile

__all__ = [
    "RULES",
    "EmaZScoreRule",
    "FixedThreshold",
    "MeanStdRule",
    "MedianMadRule",
    "PercentileRule",
    "Rule",
    "RuleAction",
    "Verdict",
]

#: What acting on a flagged value means: scale the step down, or withhold it.
RuleAction = Literal["clip", "skip"]

#: MAD → σ for normal data: 1 / Φ⁻¹(3/4).
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class Verdict:
    """What a rule says about one value.

    Attributes:
      threshold: the level above which the rule acts (``None`` while warming up).
      flagged: the value is above the threshold (never true for a non-finite value:
        callers classify those as ``nonfinite`` themselves).
      clip_to: the norm to clip this value down to, or ``None`` to leave it.
    """

    threshold: float | None
    flagged: bool
    clip_to: float | None


def _finite(x: float) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _check_positive(name: str, value: object, rule: str = "positive_finite") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(name, value, rule)
    if not math.isfinite(value) or value <= 0:
        raise InputError(name, value, rule)
    return float(value)


def _check_count(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(name, value, "whole", min=minimum)
    return value


class Rule:
    """A stateful rule on one float per step; checkpointable with ``state_dict``.

    Attributes:
      name: the rule's name as the CLI and logs spell it (a key of :data:`RULES`).
      action: ``"clip"`` (a flagged value is clipped to :attr:`Verdict.clip_to`) or
        ``"skip"`` (a flagged value marks a spike: the step is withheld).
    """

    name = "rule"
    action: ClassVar[RuleAction] = "clip"

    def observe(self, x: float) -> Verdict:
        """Judge ``x`` and (if finite) update the state with it."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Return the state as plain Python data (JSON-serialisable)."""
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state returned by :meth:`state_dict`."""
        raise NotImplementedError

    def describe(self) -> str:
        """Return a one-line description with the parameters."""
        return self.name


class FixedThreshold(Rule):
    """The seed's rule: clip to a fixed threshold ``c`` (``max_norm``)."""

    name = "fixed"

    def __init__(self, max_norm: float) -> None:
        self.max_norm = _check_positive("max_norm", max_norm)

    def observe(self, x: float) -> Verdict:
        flagged = _finite(x) and x > self.max_norm
        return Verdict(self.max_norm, flagged, self.max_norm if flagged else None)

    def state_dict(self) -> dict[str, Any]:
        return {"max_norm": self.max_norm}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.max_norm = float(state["max_norm"])

    def describe(self) -> str:
        return f"fixed c={self.max_norm:g}"


class PercentileRule(Rule):
    """AutoClip: clip to the ``p``-th percentile of the norms seen so far.

    As in Seetharaman et al. (2020) the current norm joins the history before the
    percentile is taken; unlike the original, the history is bounded (the last
    ``history_size`` finite norms) and non-finite norms never enter it.

    Args:
      percentile: ``p`` in (0, 100]; the paper recommends ``p = 10``.
      history_size: how many past finite norms to keep.
    """

    name = "autoclip"

    def __init__(self, percentile: float = 10.0, history_size: int = 1000) -> None:
        p = _check_positive("percentile", percentile, "percent")
        if p > 100:
            raise InputError("percentile", percentile, "percent")
        self.percentile = p
        self.history_size = _check_count("history_size", history_size, 1)
        self._fifo: deque[float] = deque()
        self._sorted: list[float] = []

    def _add(self, x: float) -> None:
        self._fifo.append(x)
        bisect.insort(self._sorted, x)
        if len(self._fifo) > self.history_size:
            old = self._fifo.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, old)]

    def observe(self, x: float) -> Verdict:
        if _finite(x):
            self._add(float(x))
        if not self._sorted:
            return Verdict(None, False, None)
        threshold = percentile(self._sorted, self.percentile)
        flagged = _finite(x) and x > threshold
        return Verdict(threshold, flagged, threshold if flagged else None)

    def state_dict(self) -> dict[str, Any]:
        return {
            "percentile": self.percentile,
            "history_size": self.history_size,
            "history": list(self._fifo),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.percentile = float(state["percentile"])
        self.history_size = int(state["history_size"])
        self._fifo = deque()
        self._sorted = []
        for x in state["history"]:
            if _finite(x):
                self._add(float(x))

    def describe(self) -> str:
        return f"autoclip p={self.percentile:g} history={self.history_size}"


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

    Args:
      alpha: EMA smoothing ``α`` in (0, 1).
      z_thresh: z-score threshold ``z_t`` > 0.
      warmup_steps: finite norms collected before the rule acts (≥ 1).
      eps: ``ε`` added to ``σ``.
    """

    name = "zclip"

    def __init__(
        self,
        alpha: float = 0.97,
        z_thresh: float = 2.5,
        warmup_steps: int = 25,
        eps: float = 1e-6,
    ) -> None:
        a = _check_positive("alpha", alpha, "open_unit")
        if a >= 1:
            raise InputError("alpha", alpha, "open_unit")
        self.alpha = a
        self.z_thresh = _check_positive("z_thresh", z_thresh)
        self.warmup_steps = _check_count("warmup_steps", warmup_steps, 1)
        self.eps = float(eps)
        self.buffer: list[float] = []
        self.mean: float | None = None
        self.var: float | None = None

    def _threshold(self) -> float | None:
        if self.mean is None or self.var is None:
            return None
        return self.mean + self.z_thresh * (math.sqrt(self.var) + self.eps)

    def observe(self, x: float) -> Verdict:
        if self.mean is None or self.var is None:
            if _finite(x):
                self.buffer.append(float(x))
                if len(self.buffer) >= self.warmup_steps:
                    n = len(self.buffer)
                    self.mean = sum(self.buffer) / n
                    self.var = sum((b - self.mean) ** 2 for b in self.buffer) / n
                    self.buffer = []
            return Verdict(None, False, None)
        threshold = self._threshold()
        if not _finite(x):
            return Verdict(threshold, False, None)
        std = math.sqrt(self.var)
        z = (x - self.mean) / (std + self.eps)
        clip_to: float | None = None
        used = float(x)
        if z > self.z_thresh:
            clip_to = self.mean + self.z_thresh**2 * std / z
            used = clip_to
        self.mean = self.alpha * self.mean + (1 - self.alpha) * used
        self.var = self.alpha * self.var + (1 - self.alpha) * (used - self.mean) ** 2
        return Verdict(threshold, clip_to is not None, clip_to)

    def state_dict(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "z_thresh": self.z_thresh,
            "warmup_steps": self.warmup_steps,
            "eps": self.eps,
            "buffer": list(self.buffer),
            "mean": self.mean,
            "var": self.var,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.alpha = float(state["alpha"])
        self.z_thresh = float(state["z_thresh"])
        self.warmup_steps = int(state["warmup_steps"])
        self.eps = float(state["eps"])
        self.buffer = [float(b) for b in state["buffer"] if _finite(b)]
        self.mean = None if state["mean"] is None else float(state["mean"])
        self.var = None if state["var"] is None else float(state["var"])

    def describe(self) -> str:
        return f"zclip α={self.alpha:g} z={self.z_thresh:g} warmup={self.warmup_steps}"


class _WindowRule(Rule):
    """A spike detector over the last ``window`` finite values (the current one excluded)."""

    action: ClassVar[RuleAction] = "skip"

    def __init__(self, window: int, k: float, min_history: int) -> None:
        self.window = _check_count("window", window, 2)
        self.k = _check_positive("k", k)
        self.min_history = _check_count("min_history", min_history, 2)
        self.values: deque[float] = deque(maxlen=self.window)

    def _threshold(self) -> float | None:
        raise NotImplementedError

    def observe(self, x: float) -> Verdict:
        threshold = self._threshold() if len(self.values) >= self.min_history else None
        if not _finite(x):
            return Verdict(threshold, False, None)
        flagged = threshold is not None and x > threshold
        self._push(float(x))
        return Verdict(threshold, flagged, None)

    def _push(self, x: float) -> None:
        self.values.append(x)

    def state_dict(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "k": self.k,
            "min_history": self.min_history,
            "values": list(self.values),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.window = int(state["window"])
        self.k = float(state["k"])
        self.min_history = int(state["min_history"])
        self.values = deque((float(v) for v in state["values"] if _finite(v)), maxlen=self.window)


class MedianMadRule(_WindowRule):
    """The guard's spike rule: a gross outlier of the rolling median, robustly measured.

    Flags ``x > max(median + k·1.4826·MAD, min_ratio · median)`` over the last
    ``window`` finite values. Median and MAD (median absolute deviation) are robust: a
    spike in the window moves them little, so one spike does not hide the next. Spikes
    do enter the window (a lasting change of level is accepted after about
    ``window / 2`` steps).

    The ratio floor is what makes the rule a *spike* rule once a clipper is in place:
    on real training runs a norm a few times the recent median is ordinary — and the
    clipper scales it down anyway — while the MAD of a steady phase is small, so that
    ``median + 6·MAD`` alone sits within a few times the median and flags such norms (a
    skip then leaves the model where it was, so the next norm is high too, and three in
    a row roll back a healthy run). The guard's default ``min_ratio=10`` is above every
    norm of the clean runs measured for it and far below the faults it must catch (a
    1e6× gradient, a 1e4× loss): docs/guard/defaults.md has the measurements.
    ``min_ratio=0`` gives the plain rule.

    Args:
      window: how many past finite values to keep (≥ 2).
      k: how many robust standard deviations above the median count as a spike.
      min_history: values needed before the rule flags anything.
      min_ratio: the threshold is never below this multiple of the median (≥ 0).
    """

    name = "spike-mad"

    def __init__(
        self, window: int = 128, k: float = 6.0, min_history: int = 16, min_ratio: float = 10.0
    ) -> None:
        super().__init__(window, k, min_history)
        if (
            isinstance(min_ratio, bool)
            or not isinstance(min_ratio, (int, float))
            or not math.isfinite(min_ratio)
            or min_ratio < 0
        ):
            raise InputError("min_ratio", min_ratio, "nonnegative_finite")
        self.min_ratio = float(min_ratio)
        self._sorted: list[float] = []

    def _push(self, x: float) -> None:
        if len(self.values) == self.window:
            old = self.values[0]
            del self._sorted[bisect.bisect_left(self._sorted, old)]
        bisect.insort(self._sorted, x)
        self.values.append(x)

    def _threshold(self) -> float:
        med, mad = median_and_mad(self._sorted)
        # A MAD of 0 (a flat history) would flag any rise at all: floor it relative to
        # the median's size.
        spread = max(MAD_TO_SIGMA * mad, 1e-3 * abs(med), 1e-12)
        return max(med + self.k * spread, self.min_ratio * med)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "min_ratio": self.min_ratio}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        # A state saved before the ratio floor existed is the plain rule.
        self.min_ratio = float(state.get("min_ratio", 0.0))
        self._sorted = sorted(self.values)

    def describe(self) -> str:
        floor = f", ≥ {self.min_ratio:g}×median" if self.min_ratio else ""
        return f"median+{self.k:g}·MAD{floor} window={self.window}"


class MeanStdRule(_WindowRule):
    """OLMo-core's spike rule: flag ``x > mean + k·σ`` over a rolling window (k=6, 128)."""

    name = "spike-std"

    def __init__(self, window: int = 128, k: float = 6.0, min_history: int = 16) -> None:
        super().__init__(window, k, min_history)

    def _threshold(self) -> float:
        n = len(self.values)
        mean = sum(self.values) / n
        std = math.sqrt(sum((v - mean) ** 2 for v in self.values) / n)
        return mean + self.k * max(std, 1e-3 * abs(mean), 1e-12)

    def describe(self) -> str:
        return f"mean+{self.k:g}σ window={self.window}"


class AdaGCRule(Rule):
    """AdaGC on one norm: clip to λ_rel × the EMA of the clipped norm, after a warm-up.

    The scalar form of :class:`gradguard.torch.AdaGC` (Wang et al., "AdaGC: Enhancing
    LLM Pretraining Stability via Adaptive Gradient Clipping", ICML 2026,
    arXiv:2502.11034) — the authors' global-level variant, and what ``gradguard replay``
    can run on a log's total norms (the per-tensor clipper needs per-tensor norms). For
    the first ``warmup_steps`` finite norms: clip to ``max_norm`` (λ_abs) and keep γ, the
    smallest clipped norm. Then, with threshold ``λ_rel·γ``:

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

    def __init__(
        self,
        max_norm: float = 1.0,
        ratio: float = 1.04,
        beta: float = 0.99,
        warmup_steps: int = 100,
    ) -> None:
        self.max_norm = _check_positive("max_norm", max_norm)
        self.ratio = _check_positive("ratio", ratio)
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0 <= beta < 1:
            raise InputError("beta", beta, "half_open_unit")
        self.beta = float(beta)
        self.warmup_steps = _check_count("warmup_steps", warmup_steps, 0)
        self.steps = 0
        self.gamma: float | None = None

    def observe(self, x: float) -> Verdict:
        if self.steps < self.warmup_steps:
            c = self.max_norm
            if not _finite(x):
                return Verdict(c, False, None)
            used = min(float(x), c)
            self.gamma = used if self.gamma is None else min(self.gamma, used)
            self.steps += 1
            return Verdict(c, x > c, c if x > c else None)
        gamma = self.gamma
        if not _finite(x):
            return Verdict(None if gamma is None else self.ratio * gamma, False, None)
        if gamma is None:
            gamma = float(x)  # a first sight starts the EMA at the norm itself
        threshold = self.ratio * gamma
        flagged = x > threshold
        used = threshold if flagged else float(x)
        self.gamma = self.beta * gamma + (1.0 - self.beta) * used
        self.steps += 1
        return Verdict(threshold, flagged, threshold if flagged else None)

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

    def describe(self) -> str:
        return f"adagc λ_rel={self.ratio:g} β={self.beta:g} warmup={self.warmup_steps}"


#: Rule names as the CLI and logs spell them.
RULES: dict[str, type[Rule]] = {
    "fixed": FixedThreshold,
    "autoclip": PercentileRule,
    "zclip": EmaZScoreRule,
    "spike-mad": MedianMadRule,
    "spike-std": MeanStdRule,
    "adagc": AdaGCRule,
}
