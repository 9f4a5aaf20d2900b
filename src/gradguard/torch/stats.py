"""What a step measures: :func:`gradguard.torch.grad_stats`'s results, and a record of them.

- :class:`GradStats` — what :func:`~gradguard.torch.grad_stats` returns: total /
  per-parameter / per-layer norms, max |g| and the non-finite count, still on the device;
  :meth:`GradStats.host` reads them back in one sync as a :class:`HostGradStats`;
- :func:`unitwise_norm` — the norm of each output unit (a row of a weight, each entry of
  a bias), the measure AGC clips by (Brock et al. 2021);
- :func:`step_record` — one :class:`gradguard.records.StepRecord` per optimizer step, for
  loops that do not use the guard.

A recorded training step without the guard::

    from gradguard.torch import clip_grads_with_norm_, grad_stats
    from gradguard.torch.stats import step_record

    loss.backward()
    stats = grad_stats(model)                      # before clipping, on the device
    coef = clip_grads_with_norm_(model, 1.0, stats.total_norm, nonfinite="skip")
    record = step_record(step, stats, loss=loss, clip_coef=coef, threshold=1.0,
                         optimizer=opt)            # the step's one host sync
    if record.grad_finite:
        opt.step()
    log.write(record)                              # a gradguard.records.RecordWriter
"""

from gradguard.torch._clippers import unitwise_norm
from gradguard.torch._record import step_record
from gradguard.torch._stats import GradStats, HostGradStats

__all__ = ["GradStats", "HostGradStats", "step_record", "unitwise_norm"]
