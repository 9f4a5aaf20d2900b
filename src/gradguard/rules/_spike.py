"""Spike rules: flag a value far above the recent ones, over a rolling window.

- :class:`MedianMadRule` — the guard's default: median + k·1.4826·MAD, never below
  ``min_ratio`` × the median (robust: one spike barely moves the median).
- :class:`MeanStdRule` — OLMo-core's rule: mean + k·σ (k = 6 over 128 steps there).
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Mapping
from typing import Any, ClassVar

from gradguard._validate import check_number
from gradguard.rules._order import (
    fold,
    fold_sum,
    median_and_mad,
    ring,
    ring_oldest_first,
    ring_push,
    ring_values,
    sqrt,
)
from gradguard.rules._rule import (
    DeviceForm,
    Judgement,
    ReplayParam,
    Rule,
    RuleAction,
    Verdict,
    check_count,
    check_positive,
    finite,
)

__all__ = ["MeanStdRule", "MedianMadRule"]

#: MAD → σ for normal data: 1 / Φ⁻¹(3/4).
MAD_TO_SIGMA = 1.4826


class WindowDevice(DeviceForm):
    """A window rule on the device: the window as a ring buffer of float64."""

    rule: _WindowRule

    def state(self) -> dict[str, Any]:
        return ring(self, list(self.rule.values), self.rule.window)

    def threshold(self, state: dict[str, Any]) -> Any:
        raise NotImplementedError

    def judge(self, state: dict[str, Any], x: Any) -> tuple[Judgement, dict[str, Any]]:
        t = self.torch
        x = x.to(t.float64)
        ready = state["n"] >= self.rule.min_history
        threshold = t.where(ready, self.threshold(state), math.nan)
        finite = t.isfinite(x)
        flagged = ready & finite & (x > threshold)
        new = ring_push(self, state, x, finite)
        return Judgement(threshold, flagged, self.full(math.nan)), new

    def store(self, state: dict[str, Any]) -> None:
        self.rule.load_state_dict({**self.rule.state_dict(), "values": ring_values(state)})


class MedianMadDevice(WindowDevice):
    rule: MedianMadRule

    def threshold(self, state: dict[str, Any]) -> Any:
        t, r = self.torch, self.rule
        s, _ = t.sort(state["buf"])  # NaN (empty slots) sorts last
        n = state["n"]
        size = s.numel()
        # percentile(s, 50): position (n − 1)·50/100, i.e. between s[(n−1)//2] and
        # s[n//2] with weight 0.5 for an even n, 0 for an odd one (the same arithmetic).
        pair = t.stack([(n - 1) // 2, n // 2, n // 2 - 1]).clamp(0, size - 1)
        lo_hi = s.index_select(0, pair[:2])
        frac = ((n - 1) % 2).to(t.float64) * 0.5
        med = lo_hi[0] + (lo_hi[1] - lo_hi[0]) * frac
        dev, _ = t.sort(t.abs(s - med))  # the host's two runs, merged
        lower_upper = dev.index_select(0, pair.flip(0)[:2])  # [n//2 − 1, n//2]
        lower, upper = lower_upper[0], lower_upper[1]
        mad = t.where(n % 2 == 1, upper, 0.5 * (lower + upper))
        spread = t.maximum(t.maximum(MAD_TO_SIGMA * mad, 1e-3 * t.abs(med)), self.full(1e-12))
        # The host rule's floor: never below min_ratio × the median.
        return t.maximum(med + r.k * spread, r.min_ratio * med)


class MeanStdDevice(WindowDevice):
    def threshold(self, state: dict[str, Any]) -> Any:
        t, r = self.torch, self.rule
        values = ring_oldest_first(self, state)  # the host's order: the same sums
        n = state["n"].to(t.float64)
        mean = fold_sum(self, values) / n
        var = fold_sum(self, (values - mean) * (values - mean)) / n
        spread = t.maximum(t.maximum(sqrt(self, var), 1e-3 * t.abs(mean)), self.full(1e-12))
        return mean + r.k * spread


class _WindowRule(Rule):
    """A spike detector over the last ``window`` finite values (the current one excluded)."""

    action: ClassVar[RuleAction] = "skip"
    sync_free = True
    replay_params = (ReplayParam("window", 128, int), ReplayParam("k", 6.0))

    def __init__(self, window: int, k: float, min_history: int) -> None:
        self.window = check_count("window", window, 2)
        self.k = check_positive("k", k)
        self.min_history = check_count("min_history", min_history, 2)
        self.values: deque[float] = deque(maxlen=self.window)

    def _threshold(self) -> float:
        raise NotImplementedError

    def judge(self, x: float) -> Verdict:
        threshold = self._threshold() if len(self.values) >= self.min_history else None
        flagged = finite(x) and threshold is not None and x > threshold
        return Verdict(threshold, flagged, None)

    def learn(self, x: float, verdict: Verdict) -> None:
        if finite(x):
            self._push(float(x))

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
        self.values = deque((float(v) for v in state["values"] if finite(v)), maxlen=self.window)

    @classmethod
    def for_replay(cls, options: Mapping[str, Any]) -> Rule:
        window = options["window"]
        return cls(window, options["k"], min_history=min(16, window))


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
    device = MedianMadDevice

    def __init__(
        self, window: int = 128, k: float = 6.0, min_history: int = 16, min_ratio: float = 10.0
    ) -> None:
        super().__init__(window, k, min_history)
        self.min_ratio = check_number(min_ratio, "min_ratio", minimum=0)
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


class MeanStdRule(_WindowRule):
    """OLMo-core's spike rule: flag ``x > mean + k·σ`` over a rolling window (k=6, 128)."""

    name = "spike-std"
    device = MeanStdDevice

    def __init__(self, window: int = 128, k: float = 6.0, min_history: int = 16) -> None:
        super().__init__(window, k, min_history)

    def _threshold(self) -> float:
        n = len(self.values)
        mean = fold(self.values) / n
        std = math.sqrt(fold((v - mean) * (v - mean) for v in self.values) / n)
        return mean + self.k * max(std, 1e-3 * abs(mean), 1e-12)
