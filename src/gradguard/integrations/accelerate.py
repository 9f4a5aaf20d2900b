"""Accelerate: guard a hand-written ``Accelerator`` loop; the global norm under FSDP2.

$ pip install 'gradguard[accelerate]'

::

    from accelerate import Accelerator
    from gradguard.integrations.accelerate import spike_guard

    accelerator = Accelerator()
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    guard = spike_guard(accelerator, model, optimizer, clipper=1.0, log="run.jsonl")
    for batch in loader:
        with accelerator.accumulate(model):
            loss = model(**batch).loss
            accelerator.backward(loss)
            if accelerator.sync_gradients:      # the last micro-batch: one decision
                record = guard.step(loss)       # in place of clip_grad_norm_ + optimizer.step()
                if record.action == "step":
                    scheduler.step()            # the schedule counts taken steps
            optimizer.zero_grad()

``guard.step`` is the hand-written loop's :meth:`gradguard.torch.SpikeGuard.step`: it
unscales fp16 gradients with the accelerator's scaler, measures them (reduced over all
processes), decides, clips and steps accelerate's wrapper (``optimizer.step()``, which
steps the optimizer inside it) — or withholds the step, leaving parameters and optimizer
state bitwise unchanged, and marks the wrapper's step as skipped, as accelerate does for
an fp16 overflow, so a scheduler passed through ``accelerator.prepare`` does not advance
either. Stepping the wrapper is what an LR scheduler built on it watches (torch warns
"Detected call of ``lr_scheduler.step()`` before ``optimizer.step()``" when only the
optimizer inside was stepped).

Under FSDP2 the gradients are ``DTensor`` shards: ``accelerator.clip_grad_norm_``
returns a ``DTensor``, and a norm of the local shards is one rank's share. The guard's
statistics sum ``‖shard‖_p^p`` over the mesh and take the ``p``-th root, so
:func:`grad_norm` and every record hold the global norm as a plain float, the same on
every rank.
"""

from __future__ import annotations

from typing import Any

import torch

from gradguard._catalog import default_lang, load_catalog
from gradguard._validate import check_bool
from gradguard.errors import InputError
from gradguard.integrations._common import needs_extra
from gradguard.records import StepRecord
from gradguard.torch import Clipper, SpikeGuard, grad_stats
from gradguard.torch.effects import step_through

try:
    from accelerate import Accelerator
    from accelerate.utils import DistributedType
except ImportError:
    raise ImportError(needs_extra(__name__, "accelerate", "accelerate>=1.15")) from None

__all__ = ["grad_norm", "spike_guard"]


def _check_accelerator(accelerator: Any) -> None:
    if not isinstance(accelerator, Accelerator):
        raise InputError("accelerator", type(accelerator).__name__, "accelerator")
    kind = accelerator.distributed_type
    if kind == DistributedType.DEEPSPEED:
        raise InputError(
            "Accelerator(distributed_type=...)",
            str(kind),
            "accelerate_not_deepspeed",
            "deepspeed_owns_step",
        )
    if kind == DistributedType.FSDP and not accelerator.is_fsdp2:
        raise InputError(
            "FullyShardedDataParallelPlugin(fsdp_version=...)",
            1,
            "accelerate_fsdp2",
            "fsdp1_flat",
        )


def spike_guard(
    accelerator: Any,
    model: torch.nn.Module,
    optimizer: Any,
    *,
    clipper: Clipper | float | None = None,
    scheduler: Any = None,
    rerun: bool = False,
    **options: Any,
) -> SpikeGuard:
    """Return a :class:`~gradguard.torch.SpikeGuard` for a loop prepared by ``accelerator``.

    Args:
      accelerator: the ``accelerate.Accelerator`` that prepared the model and optimizer.
      model: the prepared model (DDP-wrapped or FSDP2-sharded).
      optimizer: the prepared optimizer (accelerate's ``AcceleratedOptimizer``) or the
        one it wraps.
      clipper: a :class:`~gradguard.torch.Clipper`, a number (a fixed ``max_norm``), or
        ``None``.
      scheduler: the LR scheduler, restored by a rollback (you still step it).
      rerun: you will pass ``guard.step`` a closure to re-run bad steps
        (docs/guard/rerun.md). With the accelerator's ``gradient_accumulation_steps > 1``
        a closure could re-run only the last micro-batch: the guard then says so once,
        here, at set-up (without ``rerun=True``, at the first step given a closure), and
        skips bad steps without a re-run.
      **options: further :class:`~gradguard.torch.SpikeGuard` options (all of them: the
        loop is yours, so ``skip_batches`` and ``update_ratio_every`` work too).

    Returns:
      The guard; call ``guard.step(loss)`` after ``accelerator.backward(loss)`` on the
      step's last micro-batch, in place of ``optimizer.step()``. ``guard.step(loss,
      closure=...)`` re-runs a bad step (see ``rerun``).

    Raises:
      InputError: not an ``Accelerator``; DeepSpeed or FSDP1; an invalid option.
    """
    _check_accelerator(accelerator)
    rerun = check_bool(rerun, "rerun")
    inner = getattr(optimizer, "optimizer", optimizer)
    scaler = accelerator.scaler
    guard = SpikeGuard(
        accelerator.unwrap_model(model),
        inner,
        scheduler=scheduler,
        scaler=scaler if scaler is not None and scaler.is_enabled() else None,
        clipper=clipper,
        **options,
    )
    n = int(accelerator.gradient_accumulation_steps)
    if n > 1:  # a closure would re-run only the last micro-batch
        words = load_catalog(default_lang())
        reason = words.get("guard.rerun_accumulation", trainer="Accelerate", n=n)
        # Said here when re-runs were asked for; otherwise at the first step given a
        # closure (a loop that never passes one is told nothing).
        guard.rerun_unavailable(reason, now=rerun)
    if inner is not optimizer:  # accelerate's AcceleratedOptimizer around it
        step_through(inner, optimizer)

        def mark(record: StepRecord) -> None:
            # accelerate's flag for a step the fp16 scaler skipped: a prepared scheduler
            # (AcceleratedScheduler) then leaves its step alone.
            optimizer._is_overflow = record.action != "step"

        guard.hooks.append(mark)
    return guard


def grad_norm(model: torch.nn.Module, norm_type: float = 2.0) -> float:
    """Return the global gradient norm of ``model`` as a float (FSDP2: over all shards).

    The same number on every rank; under DDP the gradients are replicated and the norm
    is theirs. One host sync.

    Args:
      model: the prepared model.
      norm_type: the norm's order ``p`` (a number ≥ 1 or ``inf``).

    Returns:
      ``‖g‖_p`` over every gradient of the model (NaN or inf when a gradient is).
    """
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    stats = grad_stats(
        model,
        norm_type,
        per_layer=False,
        process_group=torch.distributed.group.WORLD if distributed else None,
    )
    host, _ = stats.host()
    return host.total_norm
