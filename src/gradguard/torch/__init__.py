"""The guard for real PyTorch training (needs the ``[torch]`` extra).

- :class:`SpikeGuard` — step / skip / raise / roll back around ``optimizer.step()``;
  :class:`Monitor` — the same records, always stepping; :class:`GuardError` — what the
  ``"raise"`` policy raises.
- :class:`NormClipper`, :class:`ValueClipper`, :class:`AutoClip`, :class:`ZClip`,
  :class:`AGC`, :class:`AdaGC` — clippers behind one interface (:class:`Clipper`:
  ``clip_``, ``state_dict``); :class:`RuleClipper` — any total-norm rule of
  :mod:`gradguard.rules` as a clipper; :class:`UpdateClipper` — StableAdamW's update
  clipping, on the optimizer's update.
- :func:`grad_stats` — total / per-parameter / per-layer norms, max |g| and the number of
  non-finite gradient tensors, without per-tensor syncs.
- :func:`clip_grad_norm_`, :func:`clip_grad_value_`, :func:`get_total_norm`,
  :func:`clip_grads_with_norm_` — drop-ins for ``torch.nn.utils``'s, plus a non-finite
  mode (``nonfinite="skip" | "zero" | "error"``) and ``process_group=``;
  :func:`clip_coef` — the coefficient ``min(1, max_norm / (‖g‖ + 1e-6))`` they all use.

The rest, by what it is for:

- :mod:`gradguard.torch.stats` — ``GradStats`` / ``HostGradStats`` (what
  :func:`grad_stats` returns), ``unitwise_norm``, ``step_record`` (a step record for a
  loop without the guard);
- :mod:`gradguard.torch.spam` — SPAM's remedies on the optimizer's state:
  ``MomentumReset``, ``reset_moments_``, ``spike_aware_clip_``;
- :mod:`gradguard.torch.snapshots` — ``Snapshot``, ``SnapshotError`` (rollback);
- :mod:`gradguard.torch.effects` — what a decided step does to the optimizer and the
  grad scaler, for a trainer that steps the optimizer itself;
- :mod:`gradguard.torch.types` — ``ClipResult``, ``NonfiniteMode``, ``NONFINITE_MODES``.

A guarded training step::

    from gradguard.torch import SpikeGuard, ZClip

    guard = SpikeGuard(model, optimizer, clipper=ZClip())
    for batch in loader:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(batch))
        loss.backward()
        guard.step(loss)        # measure, clip, then step, skip or roll back
"""

from gradguard.torch._adagc import AdaGC
from gradguard.torch._books import GuardError
from gradguard.torch._clip import (
    clip_coef,
    clip_grad_norm_,
    clip_grad_value_,
    clip_grads_with_norm_,
    get_total_norm,
)
from gradguard.torch._clippers import (
    AGC,
    AutoClip,
    Clipper,
    NormClipper,
    RuleClipper,
    ValueClipper,
    ZClip,
)
from gradguard.torch._guard import SpikeGuard
from gradguard.torch._monitor import Monitor
from gradguard.torch._stats import grad_stats
from gradguard.torch._update import UpdateClipper

__all__ = [
    "AGC",
    "AdaGC",
    "AutoClip",
    "Clipper",
    "GuardError",
    "Monitor",
    "NormClipper",
    "RuleClipper",
    "SpikeGuard",
    "UpdateClipper",
    "ValueClipper",
    "ZClip",
    "clip_coef",
    "clip_grad_norm_",
    "clip_grad_value_",
    "clip_grads_with_norm_",
    "get_total_norm",
    "grad_stats",
]
