"""The :mod:`gradguard.rules` rules as device tensors: the same arithmetic, no host sync.

Each twin holds its rule's state in tensors on the device (windows as ring buffers of
float64, counters as 0-d int64) and answers :meth:`DeviceRule.observe` with 0-d tensors,
so the sync-free guard can judge a step without reading anything back. The arithmetic
follows the host rule operation by operation, in float64 (the host's Python floats), so
the verdicts agree: the median, MAD, percentiles and ZClip's EMA are computed by the
same formulas in the same order (sums over a window may round differently in the last
bit, since a tensor sum is not a left-to-right loop).

A twin is made from a host rule (:func:`device_rule`), starting from its state, and
writes its state back into it with :meth:`DeviceRule.store` (one copy to the host: done
for checkpoints and snapshots, not per step). NaN safety is the host rules': a value
that is not finite, or a step not counted, changes nothing.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from gradguard.rules import (
    EmaZScoreRule,
    FixedThreshold,
    MeanStdRule,
    MedianMadRule,
    PercentileRule,
    Rule,
)
from gradguard.rules._scalar import MAD_TO_SIGMA

__all__: list[str] = []  # internal: the sync-free step uses these

F64 = torch.float64
NAN = math.nan


class Judgement:
    """A twin's verdict on one value: 0-d tensors (``threshold``/``clip_to`` NaN: none)."""

    __slots__ = ("clip_to", "flagged", "threshold")

    def __init__(self, threshold: Tensor, flagged: Tensor, clip_to: Tensor) -> None:
        self.threshold = threshold
        self.flagged = flagged
        self.clip_to = clip_to


class DeviceRule:
    """Base class of the twins."""

    def __init__(self, rule: Rule, device: torch.device) -> None:
        self.rule = rule
        self.device = device

    def observe(self, x: Tensor, count: Tensor) -> Judgement:
        """Judge ``x`` (0-d) and, where ``count`` (0-d bool) and ``x`` is finite, learn it."""
        raise NotImplementedError

    def store(self) -> None:
        """Write the twin's state into the host rule (one copy to the host)."""
        raise NotImplementedError

    def load(self) -> None:
        """Take the host rule's state (after it was loaded from a checkpoint)."""
        raise NotImplementedError

    def _full(self, value: float) -> Tensor:
        return torch.full((), value, dtype=F64, device=self.device)


def _pick(sorted_values: Tensor, index: Tensor) -> Tensor:
    """``sorted_values[index]`` for a 0-d index tensor (clamped: callers mask the result)."""
    i = index.clamp(min=0, max=sorted_values.numel() - 1).reshape(1)
    return sorted_values.index_select(0, i).reshape(())


def _percentile(s: Tensor, n: Tensor, p: float) -> Tensor:
    """:func:`gradguard.rules.percentile` of the first ``n`` entries of ascending ``s``."""
    pos = (n - 1).to(F64) * p / 100.0
    lo = torch.floor(pos)
    hi = torch.minimum(lo + 1, (n - 1).to(F64))
    frac = pos - lo
    a, b = _pick(s, lo.long()), _pick(s, hi.long())
    return a + (b - a) * frac


class _Ring(DeviceRule):
    """A window of the last ``size`` finite values: a ring buffer (NaN in empty slots)."""

    size: int

    def _reset(self, values: list[float]) -> None:
        values = [float(v) for v in values if math.isfinite(v)][-self.size :]
        buf = torch.full((self.size,), NAN, dtype=F64)
        if values:
            buf[: len(values)] = torch.tensor(values, dtype=F64)
        self.buf = buf.to(self.device)
        self.n = torch.full((), len(values), dtype=torch.int64, device=self.device)
        self.pos = torch.full((), len(values) % self.size, dtype=torch.int64, device=self.device)
        self._slots = torch.arange(self.size, device=self.device)

    def _push(self, x: Tensor, do: Tensor) -> None:
        at = (self._slots == self.pos) & do
        self.buf = torch.where(at, x, self.buf)
        step = do.to(torch.int64)
        self.pos = (self.pos + step) % self.size
        self.n = torch.clamp(self.n + step, max=self.size)

    def _values(self) -> list[float]:
        """The window oldest first, as the host rule's deque holds it (a host copy)."""
        n, pos = int(self.n), int(self.pos)
        buf = self.buf.cpu()
        ordered = buf[:n] if n < self.size else torch.roll(buf, -pos)
        return [float(v) for v in ordered.tolist()]


class _Window(_Ring):
    rule: MedianMadRule | MeanStdRule

    def __init__(self, rule: MedianMadRule | MeanStdRule, device: torch.device) -> None:
        super().__init__(rule, device)
        self.size = rule.window
        self.load()

    def load(self) -> None:
        self._reset(list(self.rule.values))
        self._tiny = self._full(1e-12)
        self._nan = self._full(NAN)

    def store(self) -> None:
        self.rule.load_state_dict({**self.rule.state_dict(), "values": self._values()})

    def _threshold(self) -> Tensor:
        raise NotImplementedError

    def observe(self, x: Tensor, count: Tensor) -> Judgement:
        x = x.to(F64)
        ready = self.n >= self.rule.min_history
        threshold = torch.where(ready, self._threshold(), NAN)
        finite = torch.isfinite(x)
        flagged = ready & finite & (x > threshold)
        self._push(x, count & finite)
        return Judgement(threshold, flagged, self._nan)


class _MedianMad(_Window):
    rule: MedianMadRule

    def _threshold(self) -> Tensor:
        s, _ = torch.sort(self.buf)  # NaN (empty slots) sorts last
        n = self.n
        # percentile(s, 50): position (n − 1)·50/100, i.e. between s[(n−1)//2] and
        # s[n//2] with weight 0.5 for an even n, 0 for an odd one (the same arithmetic).
        pair = torch.stack([(n - 1) // 2, n // 2, n // 2 - 1]).clamp(0, self.size - 1)
        lo_hi = s.index_select(0, pair[:2])
        frac = ((n - 1) % 2).to(F64) * 0.5
        med = lo_hi[0] + (lo_hi[1] - lo_hi[0]) * frac
        dev, _ = torch.sort(torch.abs(s - med))  # the host's two runs, merged
        lower_upper = dev.index_select(0, pair.flip(0)[:2])  # [n//2 − 1, n//2]
        lower, upper = lower_upper[0], lower_upper[1]
        mad = torch.where(n % 2 == 1, upper, 0.5 * (lower + upper))
        spread = torch.maximum(torch.maximum(MAD_TO_SIGMA * mad, 1e-3 * torch.abs(med)), self._tiny)
        # The host rule's floor: never below min_ratio × the median.
        return torch.maximum(med + self.rule.k * spread, self.rule.min_ratio * med)


class _MeanStd(_Window):
    def _threshold(self) -> Tensor:
        valid = ~torch.isnan(self.buf)
        n = self.n.to(F64)
        mean = torch.where(valid, self.buf, 0.0).sum() / n
        var = torch.where(valid, (self.buf - mean) ** 2, 0.0).sum() / n
        std = torch.sqrt(var)
        spread = torch.maximum(torch.maximum(std, 1e-3 * torch.abs(mean)), self._tiny)
        return mean + self.rule.k * spread


class _Percentile(_Ring):
    rule: PercentileRule

    def __init__(self, rule: PercentileRule, device: torch.device) -> None:
        super().__init__(rule, device)
        self.size = rule.history_size
        self.load()

    def load(self) -> None:
        self._reset(list(self.rule.state_dict()["history"]))

    def store(self) -> None:
        self.rule.load_state_dict({**self.rule.state_dict(), "history": self._values()})

    def observe(self, x: Tensor, count: Tensor) -> Judgement:
        x = x.to(F64)
        finite = torch.isfinite(x)
        self._push(x, count & finite)  # AutoClip: the current norm joins the history first
        s, _ = torch.sort(self.buf)
        threshold = torch.where(self.n > 0, _percentile(s, self.n, self.rule.percentile), NAN)
        flagged = finite & (self.n > 0) & (x > threshold)
        return Judgement(threshold, flagged, torch.where(flagged, threshold, NAN))


class _Fixed(DeviceRule):
    rule: FixedThreshold

    def __init__(self, rule: FixedThreshold, device: torch.device) -> None:
        super().__init__(rule, device)
        self.load()

    def load(self) -> None:
        self._c = self._full(self.rule.max_norm)
        self._nan = self._full(NAN)

    def store(self) -> None:
        pass

    def observe(self, x: Tensor, count: Tensor) -> Judgement:
        flagged = torch.isfinite(x) & (x.to(F64) > self._c)
        return Judgement(self._c, flagged, torch.where(flagged, self._c, self._nan))


class _EmaZScore(DeviceRule):
    rule: EmaZScoreRule

    def __init__(self, rule: EmaZScoreRule, device: torch.device) -> None:
        super().__init__(rule, device)
        self.load()

    def load(self) -> None:
        r = self.rule
        self.warm = torch.full((r.warmup_steps,), NAN, dtype=F64)
        if r.buffer:
            self.warm[: len(r.buffer)] = torch.tensor(r.buffer, dtype=F64)
        self.warm = self.warm.to(self.device)
        self.nwarm = torch.full((), len(r.buffer), dtype=torch.int64, device=self.device)
        self.mean = self._full(NAN if r.mean is None else r.mean)
        self.var = self._full(NAN if r.var is None else r.var)
        self._slots = torch.arange(r.warmup_steps, device=self.device)

    def store(self) -> None:
        state = self.rule.state_dict()
        n = int(self.nwarm)
        mean, var = float(self.mean), float(self.var)
        state["buffer"] = [float(v) for v in self.warm[:n].cpu().tolist()]
        state["mean"] = None if math.isnan(mean) else mean
        state["var"] = None if math.isnan(var) else var
        self.rule.load_state_dict(state)

    def observe(self, x: Tensor, count: Tensor) -> Judgement:
        r = self.rule
        x = x.to(F64)
        finite = torch.isfinite(x)
        learn = count & finite
        warming = torch.isnan(self.mean)
        # Warm-up: collect; on the last one, start from the mean and population variance.
        put = warming & learn
        warm = torch.where((self._slots == self.nwarm) & put, x, self.warm)
        nwarm = self.nwarm + put.to(torch.int64)
        full = warming & (nwarm >= r.warmup_steps)
        n = float(r.warmup_steps)
        w_mean = torch.where(torch.isnan(warm), 0.0, warm).sum() / n
        w_var = torch.where(torch.isnan(warm), 0.0, (warm - w_mean) ** 2).sum() / n
        # After warm-up: ZClip's z-score test and adaptive target.
        mean, var = self.mean, self.var
        std = torch.sqrt(var)
        threshold = mean + r.z_thresh * (std + r.eps)
        z = (x - mean) / (std + r.eps)
        spike = ~warming & finite & (z > r.z_thresh)
        clip_to = torch.where(spike, mean + r.z_thresh**2 * std / z, NAN)
        used = torch.where(spike, clip_to, x)
        new_mean = r.alpha * mean + (1 - r.alpha) * used
        new_var = r.alpha * var + (1 - r.alpha) * (used - new_mean) ** 2
        update = ~warming & learn
        self.mean = torch.where(full, w_mean, torch.where(update, new_mean, mean))
        self.var = torch.where(full, w_var, torch.where(update, new_var, var))
        # The buffer empties once the statistics start, as the host rule's does.
        self.warm = torch.where(full, NAN, warm)
        self.nwarm = torch.where(full, 0, nwarm)
        threshold = torch.where(warming, NAN, threshold)
        return Judgement(threshold, spike, clip_to)


_TWINS: dict[type, type[DeviceRule]] = {
    MedianMadRule: _MedianMad,
    MeanStdRule: _MeanStd,
    PercentileRule: _Percentile,
    FixedThreshold: _Fixed,
    EmaZScoreRule: _EmaZScore,
}


def supported(rule: Any) -> bool:
    """Whether ``rule`` has a device twin (the rules of :mod:`gradguard.rules`)."""
    return type(rule) in _TWINS


def device_rule(rule: Rule, device: torch.device) -> DeviceRule:
    """Return the device twin of ``rule``, starting from its current state.

    Raises:
      TypeError: ``rule`` is not one of :mod:`gradguard.rules`' rules.
    """
    twin = _TWINS.get(type(rule))
    if twin is None:
        raise TypeError(f"no device version of {type(rule).__name__}")
    return twin(rule, device)
