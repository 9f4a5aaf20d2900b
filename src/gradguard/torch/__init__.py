"""The guard for real PyTorch training (needs the ``[torch]`` extra).

- :func:`grad_stats` — total / per-parameter / per-layer norms, max |g| and the number of
  non-finite gradient tensors, without per-tensor syncs (:meth:`GradStats.host`: one).
- :func:`clip_grad_norm_`, :func:`clip_grad_value_`, :func:`get_total_norm`,
  :func:`clip_grads_with_norm_` — drop-ins for ``torch.nn.utils``'s, plus a non-finite
  mode (``nonfinite="skip" | "zero" | "error"``) and ``process_group=``;
  :func:`clip_coef` — the coefficient ``min(1, max_norm / (‖g‖ + 1e-6))`` they all use.
- :class:`NormClipper`, :class:`ValueClipper`, :class:`AutoClip`, :class:`ZClip`,
  :class:`AGC`, :class:`AdaGC` — clippers behind one interface (``clip_``, ``state_dict``);
  :class:`UpdateClipper` — StableAdamW's update clipping, on the optimizer's update.
- :class:`SpikeGuard` — step / skip / raise / roll back around ``optimizer.step()``;
  :class:`Monitor` — the same records, always stepping.
- :class:`MomentumReset` (a guard hook), :func:`reset_moments_`,
  :func:`spike_aware_clip_` — SPAM's remedies on the optimizer's state: reset the moments
  after a flagged step, clip entries far above their second moment.
- :func:`step_record` — one :class:`gradguard.records.StepRecord` per optimizer step,
  for loops that do not use the guard.

A recorded training step without the guard::

    from gradguard.torch import grad_stats, clip_grads_with_norm_, step_record

    loss.backward()
    stats = grad_stats(model)                      # before clipping, on the device
    coef = clip_grads_with_norm_(model, 1.0, stats.total_norm, nonfinite="skip")
    record = step_record(step, stats, loss=loss, clip_coef=coef, threshold=1.0,
                         optimizer=opt)            # the step's one host sync
    if record.grad_finite:
        opt.step()
    log.write(record)                              # a gradguard.records.RecordWriter
"""

from gradguard.torch._adagc import AdaGC
from gradguard.torch._books import GuardError
from gradguard.torch._clip import (
    NONFINITE_MODES,
    NonfiniteMode,
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
    ClipResult,
    NormClipper,
    ValueClipper,
    ZClip,
    unitwise_norm,
)
from gradguard.torch._guard import SpikeGuard
from gradguard.torch._monitor import Monitor
from gradguard.torch._record import step_record
from gradguard.torch._snapshot import Snapshot, SnapshotError
from gradguard.torch._spam import MomentumReset, reset_moments_, spike_aware_clip_
from gradguard.torch._stats import GradStats, HostGradStats, grad_stats
from gradguard.torch._update import UpdateClipper

__all__ = [
    "AGC",
    "NONFINITE_MODES",
    "AdaGC",
    "AutoClip",
    "ClipResult",
    "Clipper",
    "GradStats",
    "GuardError",
    "HostGradStats",
    "MomentumReset",
    "Monitor",
    "NonfiniteMode",
    "NormClipper",
    "Snapshot",
    "SnapshotError",
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
    "reset_moments_",
    "spike_aware_clip_",
    "step_record",
    "unitwise_norm",
]
