"""Re-run a bad step on its batch: a transient fault, or a reproducible one.

``guard.step(loss, closure=closure)`` takes torch's optimizer ``closure`` (zero the
gradients, recompute the loss on the same batch, backward, return the loss). The closure
is called only on a step the guard would not take — non-finite or spiking — and then
once: the guard restores the state the step started from (the gradients cleared, torch's
RNG states as they were, so dropout draws the same masks; the model's buffers as they
were, so BatchNorm's running statistics are updated once; AMP's scaler ready to unscale
again), calls the closure, measures the new gradients and judges them by the same rules
*with their state as it was before the step*. The verdict:

- **reproducible** — the re-run is bad again (or, within ``rerun_rtol``, the same step
  again): the step is what it was, a bad step; the guard's policy applies to it (skip, or
  roll back) and its batch joins the guard's skip list;
- **transient** — the re-run is healthy: the step is taken with the re-run's gradients
  (clipped as any step), nothing is lost.

The rules learn from each step once: from the re-run for a transient step, from the first
run otherwise. Megatron-LM's re-run state machine (NVIDIA, ``megatron/core/
rerun_state_machine.py``) re-runs a suspect iteration the same way to tell a transient
(hardware) fault from a reproducible one; PaLM (Chowdhery et al., 2022) found that its
spiking batches, replayed from an earlier point, did not spike — a batch can be bad only
together with the weights of the moment, which is what "reproducible" includes.

Where kernels are not deterministic (atomics on a GPU) a re-run is not bitwise: a norm
or a loss may move by a few units in the last place. ``rerun_rtol`` (default 1e-4,
relative) says how close a re-run must come to the first run to be *the same step again*:
a re-run the rules would pass but whose gradient norm and loss lie within that tolerance
of a flagged first run counts as reproducible (a borderline value that moved across a
threshold is not a transient fault).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from gradguard.records import KINDS
from gradguard.torch._snapshot import Buffers, capture_rng, restore_rng
from gradguard.torch._step import KIND, HostOps, Judged, judge_step

if TYPE_CHECKING:
    from gradguard.torch._persist import Guard
    from gradguard.torch._stats import GradStats, HostGradStats
    from gradguard.torch._step import Measured

__all__: list[str] = []  # internal: the guard runs it

#: The kinds of step a re-run may save: the policy withholds them (or raises).
BAD = (KIND["nonfinite"], KIND["spike"])

#: A re-run's verdicts, as records hold them (``record.extra["rerun"]["verdict"]``).
VERDICTS = ("transient", "reproducible")


def call_closure(closure: Callable[[], Any]) -> Any:
    """Call ``closure`` with gradients enabled (as torch's optimizers do); return its loss."""
    with torch.enable_grad():
        return closure()


def run_again(
    closure: Callable[[], Any],
    optimizer: torch.optim.Optimizer,
    scaler: Any,
    rng: dict[str, Any] | None,
    buffers: Buffers,
) -> Any:
    """Restore the step's starting point and call ``closure`` again; return its loss.

    The gradients are cleared (``set_to_none``), torch's RNG states set back to ``rng``
    (the step's start: :func:`capture_rng`), the model's buffers to ``buffers`` (kept at
    the same moment), and AMP's scaler made ready to unscale this step's gradients again
    (its scale is unchanged: no ``update()`` ran).
    """
    optimizer.zero_grad(set_to_none=True)
    if rng is not None:
        restore_rng(rng)
    buffers.restore()
    if scaler is not None and scaler.is_enabled():
        from torch.amp.grad_scaler import _refresh_per_optimizer_state

        scaler._per_optimizer_states[id(optimizer)] = _refresh_per_optimizer_state()
    return call_closure(closure)


def _close(a: float | None, b: float | None, rtol: float) -> bool:
    if a is None or b is None:
        return a is b
    if not (math.isfinite(a) and math.isfinite(b)):
        return a == b or (math.isnan(a) and math.isnan(b))
    return abs(a - b) <= rtol * max(abs(a), abs(b))


@dataclass
class Rerun:
    """What the re-run of a bad step measured, and the verdict.

    Attributes:
      verdict: ``"transient"`` or ``"reproducible"``.
      grad_norm: the re-run's pre-clip gradient norm.
      loss: the re-run's loss (``None`` without one).
      nonfinite_count: the re-run's tensors holding NaN/inf.
      kind: the re-run's kind as the rules judged it (``ok``, ``nonfinite``, ``spike``).
      flagged_by: what flagged the re-run (``None``: nothing).
    """

    verdict: str
    grad_norm: float
    loss: float | None
    nonfinite_count: int
    kind: str
    flagged_by: str | None

    def to_json(self) -> dict[str, Any]:
        """The record's ``rerun`` field (docs/records.md)."""
        out: dict[str, Any] = {
            "verdict": self.verdict,
            "grad_norm": self.grad_norm,
            "loss": self.loss,
            "nonfinite_count": self.nonfinite_count,
            "kind": self.kind,
        }
        if self.flagged_by is not None:
            out["flagged_by"] = self.flagged_by
        return out


def judge_rerun(
    first: tuple[float, float | None],
    second: tuple[float, float | None],
    second_bad: bool,
    rtol: float,
) -> str:
    """``"reproducible"`` if the re-run is bad again or the same step within ``rtol``.

    Args:
      first, second: ``(grad_norm, loss)`` of the first run and of the re-run.
      second_bad: whether the rules judged the re-run bad (non-finite or a spike).
      rtol: the relative tolerance within which a re-run is the first run again.
    """
    if second_bad:
        return "reproducible"
    same = _close(first[0], second[0], rtol) and _close(first[1], second[1], rtol)
    return "reproducible" if same else "transient"


def as_loss(value: Any) -> Tensor | float | None:
    """A closure's return value as the guard's ``loss`` (a tensor, a number or ``None``)."""
    if value is None or isinstance(value, (Tensor, float, int)):
        return value
    loss = getattr(value, "loss", None)  # an output object holding one
    return loss if isinstance(loss, (Tensor, float, int)) else None


def first_run(g: Guard, closure: Callable[[], Any] | None, loss: Any) -> tuple[Any, Any]:
    """The step's closure as the guard will use it, and its loss: ``(closure, loss)``.

    Given without a loss, the guard makes the first run itself, from the RNG states it
    keeps for the re-run. Where re-runs are off the closure is not kept for a re-run (with
    the one note of :meth:`SpikeGuard.rerun_unavailable`); it still makes a first run.
    """
    off = closure is not None and g._rerun_off is not None
    if off:
        say_off(g)
    if closure is not None and loss is None:  # the first run, re-runs or not
        g._start.rng = capture_rng()
        if not off:
            g._start.buffers.keep()
        loss = as_loss(call_closure(closure))
        g._start.by_guard = True
    else:
        g._start.by_guard = False
    return (None if off else closure), loss


def say_off(g: Guard) -> None:
    """Say once why closures are not used for re-runs (:meth:`SpikeGuard.rerun_unavailable`)."""
    if not g._rerun_said:
        g._rerun_said = True
        warnings.warn(g._rerun_off or "", UserWarning, stacklevel=5)


def end_step(g: Guard, closure: Callable[[], Any] | None) -> None:
    """Keep where the next step's first run starts, when the loop makes that run.

    The RNG states and the model's buffers this step leaves; none after a step without a
    closure (nothing to start a re-run from), and none needed when the guard makes the
    first run itself.
    """
    if closure is not None and not g._start.by_guard:
        g._start.keep()
    else:
        g._start.rng = None
        g._start.buffers.drop()


def rerun_step(
    g: Guard,
    measure: Callable[[int, Any], tuple[GradStats, HostGradStats, Measured]],
    step: int,
    closure: Callable[[], Any],
    stats: GradStats,
    host: HostGradStats,
    m: Measured,
    j: Judged,
) -> tuple[GradStats, HostGradStats, Judged, Rerun | None]:
    """Re-run a bad step the guard would not take; return what the step goes on with.

    ``(stats, host, judged, rerun)``: for a step that is not re-run (healthy, an
    ``amp_skip``, or a bad step the ``"step"`` policy takes) the first run's, and ``None``.
    A transient step goes on with the re-run's statistics and decision — the record
    keeps the first run's kind, what flagged it and its thresholds — and its rules learn
    the re-run; a reproducible one with the first run's. Both runs are judged by the
    rules' state from before the step (:func:`~gradguard.torch._step.judge_step` learns
    nothing).
    """
    policy = g.on_spike if j.kind == KIND["spike"] else g.on_nonfinite
    if j.kind not in BAD or policy == "step":
        return stats, host, j, None
    stats.grouped = None  # hold no references to the first run's gradients
    loss2 = as_loss(run_again(closure, g.optimizer, g.scaler, g._start.rng, g._start.buffers))
    stats2, host2, m2 = measure(step, loss2)
    j2 = judge_step(HostOps, g.plan, m2, g.spike_rule, g.loss_rule, g.consecutive_bad, g.rollbacks)
    loss1 = m.loss if m.has_loss else None
    loss2_v = m2.loss if m2.has_loss else None
    verdict = judge_rerun(
        (m.grad_norm, loss1), (m2.grad_norm, loss2_v), j2.kind in BAD, g.rerun_rtol
    )
    again = Rerun(
        verdict,
        m2.grad_norm,
        loss2_v,
        m2.nonfinite_count,
        KINDS[j2.kind],
        g.plan.flagged[j2.flagged_by],
    )
    if verdict == "reproducible":
        stats2.grouped = None
        return stats, host, j, again
    taken = dataclasses.replace(
        j,
        outcome=j2.outcome,
        consecutive_bad=j2.consecutive_bad,
        take=j2.take,
        grad_finite=j2.grad_finite,
        judged=j2.judged,
        lessons=j2.lessons,
    )
    return stats2, host2, taken, again
