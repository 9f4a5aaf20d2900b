"""The guard's decision for one classified step — a pure function, no torch.

:class:`~gradguard.torch.SpikeGuard` measures a step and classifies it (a kind of
:data:`gradguard.records.KINDS`); :func:`decide` says what to do with it, from the kind,
the guard's policy for that kind of step and the guard's history (consecutive bad
steps, rollbacks so far); the guard then carries the decision out (steps, skips, rolls
back or raises). Keeping the decision apart makes it a table one can read and test:

- ``ok`` or ``clipped``: ``step``; the count of bad steps in a row resets to 0.
- ``amp_skip``: ``amp_skip`` — the AMP scaler skips the step itself and lowers its
  scale (normal, not counted as a fault).
- ``nonfinite`` or ``spike`` (a bad step), by the guard's policy for that kind:

  - ``"step"``: ``step`` (after clipping); the count stays as it was.
  - ``"raise"``: ``raise`` — the step is withheld, then
    :class:`~gradguard.torch.GuardError`.
  - ``"skip"``: ``skip``, counted; the ``rollback_after``-th bad step in a row is a
    ``rollback`` to the last good snapshot (the count back to 0), or ``give_up``
    (withheld, then :class:`~gradguard.torch.GuardError`) once ``max_rollbacks``
    rollbacks did not help.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gradguard._validate import check_choice
from gradguard.records import KINDS

__all__ = ["OUTCOMES", "POLICIES", "Decision", "Outcome", "Policy", "check_policy", "decide"]

#: What the guard does with a bad (``nonfinite`` or ``spike``) step.
Policy = Literal["skip", "raise", "step"]
POLICIES: tuple[Policy, ...] = ("skip", "raise", "step")

#: What the guard does with one step.
Outcome = Literal["step", "amp_skip", "skip", "rollback", "raise", "give_up"]
OUTCOMES: tuple[Outcome, ...] = ("step", "amp_skip", "skip", "rollback", "raise", "give_up")

_HEALTHY = ("ok", "clipped")


@dataclass(frozen=True)
class Decision:
    """What to do with one step, and the guard's bad-step count afterwards.

    Attributes:
      outcome: ``"step"`` (clip, then ``optimizer.step()``), ``"amp_skip"`` (let the AMP
        scaler skip the step and lower its scale), ``"skip"`` (withhold the step),
        ``"rollback"`` (withhold it and restore the last good snapshot), ``"raise"``
        (withhold it and raise: the ``"raise"`` policy) or ``"give_up"`` (withhold it
        and raise: ``max_rollbacks`` rollbacks did not help).
      consecutive_bad: the number of bad steps in a row after this one.
      healthy: the step is ``ok`` or ``clipped`` (it counts towards the next snapshot).
    """

    outcome: Outcome
    consecutive_bad: int
    healthy: bool = False

    @property
    def action(self) -> str:
        """The step record's ``action``: ``"step"``, ``"skip"`` or ``"rollback"``."""
        return self.outcome if self.outcome in ("step", "rollback") else "skip"


def check_policy(name: str, value: object) -> None:
    """Raise :class:`~gradguard.errors.InputError` unless ``value`` is one of :data:`POLICIES`."""
    check_choice(value, name, POLICIES)


def decide(
    kind: str,
    policy: Policy,
    consecutive_bad: int,
    rollbacks: int = 0,
    *,
    rollback_after: int | None = 3,
    max_rollbacks: int = 10,
) -> Decision:
    """Return what the guard does with a step of ``kind``.

    Args:
      kind: the step's classification (:data:`gradguard.records.KINDS`), before clipping.
      policy: the guard's policy for this kind of bad step (``on_nonfinite`` for
        ``nonfinite``, ``on_spike`` for ``spike``); not read for other kinds.
      consecutive_bad: bad steps withheld in a row before this one.
      rollbacks: rollbacks so far in this run.
      rollback_after: roll back at this many bad steps in a row (``None``: never).
      max_rollbacks: give up (raise) instead of rolling back once this many were done.

    Returns:
      The :class:`Decision`.

    Raises:
      InputError: ``kind`` is not one of the record kinds, or ``policy`` not a policy.
    """
    check_choice(kind, "kind", KINDS)
    if kind in _HEALTHY:
        return Decision("step", 0, healthy=True)
    if kind == "amp_skip":
        return Decision("amp_skip", consecutive_bad)
    if policy == "step":
        return Decision("step", consecutive_bad)
    if policy == "raise":
        return Decision("raise", consecutive_bad)
    check_policy("policy", policy)
    bad = consecutive_bad + 1
    if rollback_after is None or bad < rollback_after:
        return Decision("skip", bad)
    if rollbacks >= max_rollbacks:
        return Decision("give_up", bad)
    return Decision("rollback", 0)
