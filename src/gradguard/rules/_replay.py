"""Offline replay: what each rule would have done over a recorded norm trace.

``gradguard replay run.jsonl`` runs a log's pre-clip norms through every rule with the
same :meth:`~gradguard.rules.Rule.observe` the clippers and the guard call in training.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gradguard._validate import check_choice
from gradguard.errors import InputError
from gradguard.records import RunLog, classify
from gradguard.rules._decision import decide
from gradguard.rules._registry import RULES, ReplayOptions, replayable
from gradguard.rules._rule import Rule, RuleAction

__all__ = [
    "GuardReplay",
    "RuleReplay",
    "TraceReplay",
    "replay_guard",
    "replay_rules",
    "replay_trace",
    "rule_from_header",
]


def replay_rules(options: ReplayOptions) -> dict[str, Rule]:
    """Build every replayable rule of the registry from ``options``: name → a fresh rule.

    Raises:
      InputError: an option breaks a rule's check.
    """
    return {rule.name: rule.for_replay(options) for rule in replayable()}


@dataclass
class RuleReplay:
    """What one rule would have done over a recorded norm trace.

    Attributes:
      rule: the rule's name, its key in :data:`~gradguard.rules.RULES` (``zclip``, ``spike-mad`` …).
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


@dataclass
class TraceReplay:
    """A norm trace replayed through several rules."""

    steps: list[int]
    norms: list[float]
    nonfinite_steps: list[int]
    rules: list[RuleReplay]


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


@dataclass
class GuardReplay:
    """A guard's decisions recomputed from its log, beside what the log says it did.

    Attributes:
      actions: the replayed action of every step record (``step``, ``skip``, ``rollback``).
      kinds: the replayed kind (``ok``, ``nonfinite``, ``spike``, ``amp_skip``; a taken
        step's ``clipped`` is the clipper's, not replayed, and reads ``ok``).
      thresholds: the spike rule's threshold in force at each step (``None``: no rule,
        warming up, or not judged).
      mismatches: ``(step, recorded action, replayed action)`` wherever they differ.
    """

    actions: list[str]
    kinds: list[str]
    thresholds: list[float | None]
    mismatches: list[tuple[int, str, str]]

    @property
    def reproduced(self) -> int:
        """How many steps' actions the replay reproduced."""
        return len(self.actions) - len(self.mismatches)


def rule_from_header(spec: Mapping[str, Any] | None) -> Rule | None:
    """Rebuild a rule from a guard log header's ``{"name": …, "state": …}`` (or ``None``)."""
    if not spec:
        return None
    cls = RULES[check_choice(spec.get("name"), "rule", sorted(RULES))]
    rule = cls.__new__(cls)
    rule.load_state_dict(dict(spec["state"]))
    return rule


def replay_guard(run: RunLog) -> GuardReplay:
    """Recompute a guard's decisions from its own log: the run's own rules and policies.

    The log's ``"run"`` header (every guard writes one) names the spike and loss rules
    with their starting state and the guard's policies; each step record gives the
    numbers the guard judged (for a step re-run as transient, the re-run's: the step it
    took). The replay feeds them to fresh copies of those rules, asks
    the guard's own :func:`decide` what to do, and — like the guard — takes a snapshot
    of the rules every ``snapshot_every`` healthy steps, keeps it only if the step it
    was taken at the start of (or the first after it that is not an AMP overflow skip)
    is healthy, and restores it at a rollback (unless the
    guard rolled back through its ``restore=`` function, which leaves the rules as they
    were). So it reproduces the run's decisions exactly, rollbacks included.

    Args:
      run: one run of a log (:attr:`gradguard.records.Log.runs`).

    Returns:
      A :class:`GuardReplay`.

    Raises:
      ValueError: the run has no guard header (not written by a guard).
    """
    cfg = run.meta.get("guard")
    if not isinstance(cfg, Mapping):
        raise InputError("run", run.name, "guard_run")
    spike_rule = rule_from_header(cfg.get("spike_rule"))
    loss_rule = rule_from_header(cfg.get("loss_rule"))
    policies = {"spike": cfg.get("on_spike", "skip"), "nonfinite": cfg.get("on_nonfinite", "skip")}
    rollback_after = cfg.get("rollback_after", 3)
    max_rollbacks = int(cfg.get("max_rollbacks", 10))
    snapshot_every = int(cfg.get("snapshot_every", 100))
    # A guard with a restore= function keeps its rules through a rollback (no snapshot).
    restores_rules = cfg.get("rollback_restores", "snapshot") == "snapshot"

    def rules_state() -> tuple[Any, Any]:
        return (
            copy.deepcopy(spike_rule.state_dict()) if spike_rule else None,
            copy.deepcopy(loss_rule.state_dict()) if loss_rule else None,
        )

    snapshot = rules_state()
    staged: tuple[Any, Any] | None = None  # taken at this step's start, kept if it is healthy
    healthy = consecutive = rollbacks = 0
    due = False
    out = GuardReplay([], [], [], [])
    for r in run.steps:
        if due:
            staged, healthy, due = rules_state(), 0, False
        norm = math.nan if r.grad_norm is None else float(r.grad_norm)
        amp = r.kind == "amp_skip"
        grad_finite, loss_finite, loss = r.grad_finite, r.loss_finite, r.loss
        again = r.extra.get("rerun")
        if isinstance(again, Mapping) and again.get("verdict") == "transient":
            # The step was taken with its re-run's gradients, which the rules judged (and
            # learned from) in place of the first run's.
            norm = float(again["grad_norm"])
            loss = None if again.get("loss") is None else float(again["loss"])
            grad_finite = int(again.get("nonfinite_count", 0)) == 0
            loss_finite = loss is None or math.isfinite(loss)
        spike, threshold = False, None
        if grad_finite and loss_finite and not amp:
            spike = not math.isfinite(norm)
            if spike_rule is not None:
                verdict = spike_rule.observe(norm)
                spike |= verdict.flagged
                threshold = verdict.threshold
            if loss_rule is not None and loss is not None:
                spike |= loss_rule.observe(float(loss)).flagged
        kind = classify(
            loss_finite=loss_finite,
            grad_finite=grad_finite,
            clipped=False,
            spike=spike,
            amp_skip=amp,
        )
        decision = decide(
            kind,
            policies["spike" if kind == "spike" else "nonfinite"],
            consecutive,
            rollbacks,
            rollback_after=rollback_after,
            max_rollbacks=max_rollbacks,
        )
        consecutive = decision.consecutive_bad
        good = decision.outcome == "step" and decision.healthy
        if staged is not None and not amp:  # the guard's staged snapshot: kept or dropped
            if good:
                snapshot = staged
            else:
                healthy = max(healthy, snapshot_every - 1)  # the next healthy step: a new one
            staged = None
        if decision.outcome == "rollback":
            rollbacks += 1
            for rule, state in zip((spike_rule, loss_rule), snapshot, strict=True):
                if restores_rules and rule is not None and state is not None:
                    rule.load_state_dict(copy.deepcopy(state))
        if good:
            healthy += 1
            due = healthy >= snapshot_every
        out.actions.append(decision.action)
        out.kinds.append(kind)
        out.thresholds.append(threshold)
        if decision.action != r.action:
            out.mismatches.append((r.step, r.action, decision.action))
    return out
