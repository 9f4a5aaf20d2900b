"""Offline replay: what each rule would have done over a recorded norm trace.

``gradguard replay run.jsonl`` runs a log's pre-clip norms through every rule with the
same :meth:`~gradguard.rules.Rule.observe` the clippers and the guard call in training.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from gradguard.rules._scalar import Rule, RuleAction

__all__ = ["RuleReplay", "TraceReplay", "replay_trace"]


@dataclass
class RuleReplay:
    """What one rule would have done over a recorded norm trace.

    Attributes:
      rule: the rule's name (``fixed``, ``autoclip``, ``zclip``, ``spike-mad``, ``spike-std``).
      description: the rule with its parameters.
      action: ``"clip"`` (a clipper scales the step down) or ``"skip"`` (a guard withholds
        it): the rule's own :attr:`~gradguard.rules.Rule.action`.
      steps: the step indices it would have clipped or skipped (non-finite steps not
        included: see :attr:`TraceReplay.nonfinite_steps`).
      thresholds: the threshold in force at each step (``None`` while warming up).
    """

    rule: str
    description: str
    action: RuleAction
    steps: list[int]
    thresholds: list[float | None]

    @property
    def count(self) -> int:
        """How many steps it would have clipped or skipped."""
        return len(self.steps)

    @property
    def policy(self) -> str:
        """Deprecated: the old name of :attr:`rule`."""
        return self.rule


@dataclass
class TraceReplay:
    """A norm trace replayed through several rules."""

    steps: list[int]
    norms: list[float]
    nonfinite_steps: list[int]
    rules: list[RuleReplay]

    @property
    def policies(self) -> list[RuleReplay]:
        """Deprecated: the old name of :attr:`rules`."""
        return self.rules


def replay_trace(
    steps: list[int],
    norms: list[float],
    rules: dict[str, Rule],
    progress: Callable[[int], None] | None = None,
) -> TraceReplay:
    """Run a recorded pre-clip norm trace through each rule, offline.

    Each rule sees the norms in order, exactly as it would during training (the same
    :meth:`Rule.observe`), with one simplification stated here: the trace is the one
    that was recorded, so the effect a rule's own clipping would have had on later
    norms is not simulated. Non-finite norms are listed apart — every guard skips
    them, and no clipper can rescue them.

    Args:
      steps: the step indices.
      norms: the pre-clip total gradient norms (NaN/inf allowed).
      rules: name → a fresh rule; each acts as its :attr:`~gradguard.rules.Rule.action`
        says (spike rules skip, thresholds clip).
      progress: called with the number of values judged since its last call (every
        10,000 values, and at the end of each rule), for a progress bar.

    Returns:
      A :class:`TraceReplay` with one :class:`RuleReplay` per rule, in ``rules``' order.
    """
    nonfinite = [s for s, x in zip(steps, norms, strict=True) if not math.isfinite(x)]
    out = []
    for name, rule in rules.items():
        hit: list[int] = []
        thresholds: list[float | None] = []
        for i, (s, x) in enumerate(zip(steps, norms, strict=True), start=1):
            v = rule.observe(x)
            thresholds.append(v.threshold)
            if v.flagged:
                hit.append(s)
            if progress is not None and i % 10_000 == 0:
                progress(10_000)
        if progress is not None and len(steps) % 10_000:
            progress(len(steps) % 10_000)
        out.append(RuleReplay(name, rule.describe(), rule.action, hit, thresholds))
    return TraceReplay(list(steps), list(norms), nonfinite, out)
