"""AutoClip: clip to the ``p``-th percentile of the norms seen so far.

Prem Seetharaman, Gordon Wichern, Bryan Pardo and Jonathan Le Roux, "AutoClip: Adaptive
gradient clipping for source separation networks", MLSP 2020.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from typing import Any

from gradguard._validate import check_number
from gradguard.rules._order import device_percentile, percentile, ring, ring_push, ring_values
from gradguard.rules._rule import (
    DeviceForm,
    Judgement,
    ReplayParam,
    Rule,
    Verdict,
    check_count,
    finite,
)

__all__ = ["PercentileRule"]


class PercentileDevice(DeviceForm):
    """:class:`PercentileRule` on the device: the history as a ring buffer, sorted per step."""

    rule: PercentileRule

    def state(self) -> dict[str, Any]:
        return ring(self, list(self.rule.state_dict()["history"]), self.rule.history_size)

    def judge(self, state: dict[str, Any], x: Any) -> tuple[Judgement, dict[str, Any]]:
        t = self.torch
        x = x.to(t.float64)
        finite = t.isfinite(x)
        new = ring_push(self, state, x, finite)  # AutoClip: the current norm joins first
        s, _ = t.sort(new["buf"])  # NaN (empty slots) sorts last
        n = new["n"]
        threshold = t.where(n > 0, device_percentile(self, s, n, self.rule.percentile), math.nan)
        flagged = finite & (n > 0) & (x > threshold)
        return Judgement(threshold, flagged, t.where(flagged, threshold, math.nan)), new

    def store(self, state: dict[str, Any]) -> None:
        self.rule.load_state_dict({**self.rule.state_dict(), "history": ring_values(state)})


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
    clipper = "AutoClip"
    device = PercentileDevice
    sync_free = True
    replay_params = (
        ReplayParam("percentile", 10.0),
        ReplayParam("history", 1000, int, arg="history_size"),
    )

    def __init__(self, percentile: float = 10.0, history_size: int = 1000) -> None:
        self.percentile = check_number(
            percentile, "percentile", above=0, maximum=100, rule="percent"
        )
        self.history_size = check_count("history_size", history_size, 1)
        self._fifo: deque[float] = deque()
        self._sorted: list[float] = []

    def _with(self, x: float) -> list[float]:
        """The sorted history once ``x`` joins it (and the oldest leaves, when full)."""
        s = list(self._sorted)
        bisect.insort(s, x)
        if len(self._fifo) == self.history_size:
            del s[bisect.bisect_left(s, self._fifo[0])]
        return s

    def judge(self, x: float) -> Verdict:
        s = self._with(float(x)) if finite(x) else self._sorted
        if not s:
            return Verdict(None, False, None)
        threshold = percentile(s, self.percentile)
        flagged = finite(x) and x > threshold
        return Verdict(threshold, flagged, threshold if flagged else None)

    def learn(self, x: float, verdict: Verdict) -> None:
        if finite(x):
            self._add(float(x))

    def _add(self, x: float) -> None:
        self._fifo.append(x)
        bisect.insort(self._sorted, x)
        if len(self._fifo) > self.history_size:
            old = self._fifo.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, old)]

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
            if finite(x):
                self._add(float(x))
