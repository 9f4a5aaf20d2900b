"""The guard for real PyTorch training (needs the ``[torch]`` extra).

- :func:`grad_stats` — total / per-parameter / per-layer norms, max |g| and the number of
  non-finite gradient tensors, in one pass and at most one host sync.
- :func:`clip_grad_norm_`, :func:`clip_grad_value_` — drop-ins for ``torch.nn.utils``'s,
  plus a non-finite policy (``nonfinite="skip" | "zero" | "error"``).
- :func:`step_record` — one :class:`gradguard.records.StepRecord` per optimizer step.

A minimal recorded training step::

    from gradguard.records import RecordWriter
    from gradguard.torch import grad_stats, clip_grads_with_norm_, step_record

    loss.backward()
    stats = grad_stats(model)                      # before clipping
    coef = clip_grads_with_norm_(model, 1.0, stats.total_norm, nonfinite="skip")
    record = step_record(step, stats, loss=loss, clip_coef=coef, threshold=1.0,
                         optimizer=opt)            # one host sync
    if record.grad_finite:
        opt.step()
    log.write(record)
"""

from gradguard.torch._clip import (
    NONFINITE_POLICIES,
    clip_coefficient,
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
    ZClip,
    unitwise_norm,
)
from gradguard.torch._guard import GuardError, Monitor, Snapshot, SpikeGuard
from gradguard.torch._record import classify, step_record
from gradguard.torch._stats import GradStats, HostGradStats, grad_stats

__all__ = [
    "AGC",
    "NONFINITE_POLICIES",
    "AutoClip",
    "ClipResult",
    "Clipper",
    "GradStats",
    "GuardError",
    "HostGradStats",
    "Monitor",
    "NormClipper",
    "Snapshot",
    "SpikeGuard",
    "ZClip",
    "classify",
    "clip_coefficient",
    "clip_grad_norm_",
    "clip_grad_value_",
    "clip_grads_with_norm_",
    "get_total_norm",
    "grad_stats",
    "step_record",
    "unitwise_norm",
]
