"""Lightning: guard every optimizer step of a ``Trainer`` with one callback.

$ pip install 'gradguard[lightning]'

::

    from lightning.pytorch import Trainer
    from gradguard.integrations.lightning import SpikeGuardCallback
    from gradguard.torch import ZClip

    trainer = Trainer(callbacks=[SpikeGuardCallback(clipper=ZClip(), log="run.jsonl")])
    trainer.fit(model, loader)      # no gradient_clip_val: the callback clips

The hooks it relies on, in Lightning's order for one optimizer step:

1. ``on_before_backward(loss)`` once per micro-batch: the loss is summed (Lightning has
   already divided it by ``accumulate_grad_batches``; under ``16-mixed`` it is scaled,
   and is divided by the scale before the guard sees it).
2. ``optimizer.step(closure)`` — Lightning's precision plugin calls it; under AMP it has
   run the closure and ``scaler.unscale_(optimizer)`` first.
3. ``on_before_optimizer_step`` (inside that step, after the backward and the unscale):
   :meth:`gradguard.torch.SpikeGuard.decide` measures the unscaled gradients (reduced over
   all DDP ranks), classifies, clips and records — one decision per optimizer step.
4. ``configure_gradient_clipping``: Lightning's own clipping, which must be off
   (``gradient_clip_val`` unset) or the gradients would be clipped twice.
5. The optimizer's ``step()``: a gate on the optimizer lets it through when the decision
   was ``"step"`` and withholds it otherwise — parameters and optimizer state stay bitwise
   unchanged.
6. ``lr_scheduler_step``: for an LR scheduler stepped every optimizer step
   (``interval="step"``, ``frequency=1``) the call after a withheld step is withheld too,
   so the schedule counts taken steps. (Epoch-interval schedulers are left alone; under
   manual optimization you step schedulers yourself: step them when
   ``callback.last_record.action == "step"``.)

Lightning has no API to skip a step, which is why the gate exists. ``trainer.global_step``
counts withheld steps (Lightning counts calls to ``optimizer.step``), as the records'
``step`` does.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from gradguard._catalog import default_lang, load_catalog
from gradguard._validate import check_bool
from gradguard.errors import CallError, InputError
from gradguard.integrations._common import (
    StepGate,
    check_clipper,
    check_options,
    metrics_of,
    needs_extra,
)
from gradguard.records import StepRecord
from gradguard.rules import RULES
from gradguard.torch import Clipper, SpikeGuard
from gradguard.torch.effects import keep_scale_at_next_update

try:
    import lightning.pytorch as pl
except ImportError:  # the standalone package of the same version
    try:
        import pytorch_lightning as pl  # type: ignore[no-redef]
    except ImportError:
        raise ImportError(needs_extra(__name__, "lightning", "lightning>=2.6")) from None

__all__ = ["SpikeGuardCallback"]


def _strategy_refused(strategy: Any) -> bool:
    """Return True unless ``strategy`` is single-device or plain DDP (spawn included)."""
    # By class name, so that both lightning.pytorch's and pytorch_lightning's classes
    # (and subclasses) are recognised; DeepSpeedStrategy subclasses DDPStrategy.
    names = {c.__name__ for c in type(strategy).__mro__}
    if names & {"DeepSpeedStrategy", "FSDPStrategy", "ModelParallelStrategy"}:
        return True
    return not names & {"SingleDeviceStrategy", "DDPStrategy"}


class SpikeGuardCallback(pl.Callback):
    """Measure, clip and step / skip / roll back every optimizer step of a Lightning run.

    Takes the options of :class:`gradguard.torch.SpikeGuard` that make sense in a
    trainer; the model, the optimizer, the LR scheduler and the grad scaler come from
    the trainer. The guard itself is :attr:`guard` (built at fit start), its last record
    :attr:`last_record`. A record names its step's batch ``[epoch, batch_idx]`` (under
    accumulation, the step's first micro-batch), so ``gradguard replay LOG --skip-list``
    lists batches by those ids.

    Args:
      clipper: a :class:`~gradguard.torch.Clipper`, a number (a fixed ``max_norm``), or
        ``None`` (measure and skip, no clipping).
      log_metrics: also send ``grad_norm``, ``grad_norm_clipped``, ``skipped`` and
        ``skipped_total`` to the trainer's loggers (rank 0, every ``log_every_n_steps``
        optimizer steps, at ``step=trainer.global_step``).
      rerun: re-run a bad step on its batch before skipping it (one more forward and
        backward, on bad steps only): Lightning's own optimizer closure runs the training
        step again from the same RNG states, and the guard keeps a transient step (with
        the re-run's gradients) and skips a reproducible one (docs/guard/rerun.md). Under
        ``accumulate_grad_batches > 1`` or manual optimization a step cannot be re-run
        whole: the callback says so once, at fit start, and skips as without it.
      **options: further :class:`~gradguard.torch.SpikeGuard` options (``log``,
        ``on_nonfinite``, ``on_spike``, ``spike_rule``, ``loss_rule``,
        ``rollback_after``, ``snapshot_every``, ``snapshot_path``, ``max_rollbacks``,
        ``tensorboard``, ``layer_norms_every``, ``norm_type``, ``run``, ``state`` — objects
        kept outside the model and optimizer, such as an EMA copy, saved with every
        snapshot and restored by a rollback).

    Raises:
      InputError: an unknown option; at fit start, a conflicting trainer setting
        (``gradient_clip_val``, an FSDP or DeepSpeed strategy, several optimizers,
        LBFGS) or an invalid guard option.
    """

    def __init__(
        self,
        clipper: Clipper | float | None = None,
        *,
        log_metrics: bool = True,
        rerun: bool = False,
        **options: Any,
    ) -> None:
        self.clipper = check_clipper(clipper)
        self.log_metrics = bool(log_metrics)
        self.rerun = check_bool(rerun, "rerun")
        self._closure: Any = None  # this optimizer step's Lightning closure (rerun=True)
        self._rerunning = False
        self.options = check_options("Lightning", options)
        self.guard: SpikeGuard | None = None
        self.last_record: StepRecord | None = None
        self.skipped = 0
        self._pending: dict[str, Any] | None = None
        self._gate: StepGate | None = None
        self._module: Any = None  # whose lr_scheduler_step is wrapped
        self._step_schedulers: set[int] = set()  # ids of the schedulers stepped per step
        self._withhold_schedulers: set[int] = set()
        self._loss: torch.Tensor | None = None
        self._backward_seen = False
        self._batch: list[int] | None = None  # this step's batch: [epoch, batch_idx]
        self._scaler: Any = None

    # -- fit start: check the settings, build the guard ------------------------------
    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        """Refuse settings the guard cannot honour, then build the guard."""
        if trainer.gradient_clip_val:
            raise InputError(
                "Trainer(gradient_clip_val=...)",
                trainer.gradient_clip_val,
                "callback_no_clip",
                "lightning_clips_twice",
                given=trainer.gradient_clip_val,
                clippers=", ".join(r.clipper for r in RULES.values() if r.clipper),
            )
        if _strategy_refused(trainer.strategy):
            raise InputError(
                "Trainer(strategy=...)",
                type(trainer.strategy).__name__,
                "callback_strategy",
                "strategy_owns_step",
            )
        optimizers = trainer.optimizers
        if len(optimizers) != 1:
            raise InputError(
                "configure_optimizers()",
                f"{len(optimizers)} optimizers",
                "callback_one_optimizer",
            )
        optimizer = optimizers[0]
        if isinstance(optimizer, torch.optim.LBFGS):
            raise InputError(
                "configure_optimizers()",
                "LBFGS",
                "callback_closure_once",
                "lbfgs_closure",
            )
        precision = trainer.precision_plugin
        scaler = getattr(precision, "scaler", None)
        self._scaler = scaler if scaler is not None and scaler.is_enabled() else None
        schedulers = [c for c in trainer.lr_scheduler_configs]
        scheduler = schedulers[0].scheduler if len(schedulers) == 1 else None
        rollback_after = self.options.get("rollback_after", 3)
        if len(schedulers) > 1 and rollback_after is not None:
            raise InputError(
                "rollback_after",
                rollback_after,
                "callback_one_scheduler",
                "one_scheduler_rollback",
            )
        if self.guard is not None:  # a second fit with the same callback
            self.guard.close()
        self.guard = SpikeGuard(
            pl_module,
            optimizer,
            scheduler=scheduler,
            scaler=self._scaler,
            clipper=self.clipper,
            **self.options,
        )

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        """Restore the checkpointed guard state, snapshot, and gate the optimizer."""
        guard = self._built()
        if self._pending is not None:
            guard.load_state_dict(self._pending["guard"])
            self.skipped = int(self._pending["skipped"])
            self._pending = None
        # The optimizer's and scheduler's states were restored after fit start: the
        # rollback snapshot must hold them.
        guard.take_snapshot()
        self._remove_gates()
        self._gate = StepGate(guard.optimizer, on_withheld=self._on_withheld)
        self._step_schedulers = {
            id(c.scheduler)
            for c in trainer.lr_scheduler_configs
            if c.interval == "step" and c.frequency == 1 and not c.reduce_on_plateau
        }
        if self._step_schedulers:
            # Lightning steps schedulers through this LightningModule hook. Wrapping it on
            # the instance keeps the schedulers themselves (and their state_dict) untouched.
            inner = pl_module.lr_scheduler_step

            def lr_scheduler_step(scheduler: Any, metric: Any) -> None:
                if id(scheduler) in self._withhold_schedulers:
                    self._withhold_schedulers.discard(id(scheduler))
                    return
                inner(scheduler, metric)

            pl_module.lr_scheduler_step = lr_scheduler_step
            self._module = pl_module
        if self.rerun:
            self._set_up_reruns(trainer, pl_module, guard)

    def _set_up_reruns(self, trainer: Any, pl_module: Any, guard: SpikeGuard) -> None:
        """Keep each optimizer step's closure (the whole step, re-runnable), or say why not."""
        words = load_catalog(default_lang())
        if not pl_module.automatic_optimization:
            guard.rerun_unavailable(words["guard.rerun_manual"])
            return
        n = int(trainer.accumulate_grad_batches)
        if n > 1:
            reason = words.get("guard.rerun_accumulation", trainer="Lightning", n=n)
            guard.rerun_unavailable(reason)
            return
        # LightningModule.optimizer_step receives the step's closure (training_step,
        # zero_grad, backward) before anything runs it: kept here, with the RNG states
        # the step starts from, it is the re-run.
        inner = pl_module.optimizer_step

        def optimizer_step(
            epoch: int, batch_idx: int, optimizer: Any, optimizer_closure: Any = None
        ) -> Any:
            self._closure = optimizer_closure
            guard.note_step_start()
            return inner(epoch, batch_idx, optimizer, optimizer_closure)

        pl_module.optimizer_step = optimizer_step
        self._module = pl_module

    def _run_again(self, closure: Any) -> Any:
        """Run this step's closure again (training_step, zero_grad, backward): its loss."""
        self._rerunning = True
        try:
            return closure()
        finally:
            self._rerunning = False

    def _built(self) -> SpikeGuard:
        if self.guard is None:
            raise CallError("callback_not_set_up", start="Trainer.fit")
        return self.guard

    def _on_withheld(self) -> None:
        self._withhold_schedulers = set(self._step_schedulers)
        # Lightning calls scaler.update() itself after the withheld step: that call keeps
        # the scale, as SpikeGuard.step's withheld steps do.
        keep_scale_at_next_update(self._scaler)

    # -- every micro-batch and every optimizer step --------------------------------
    def on_train_batch_start(
        self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int
    ) -> None:
        """Name the step's batch: ``[epoch, batch_idx]`` of its first micro-batch."""
        if self._batch is None:
            self._batch = [int(trainer.current_epoch), int(batch_idx)]

    def on_before_backward(self, trainer: Any, pl_module: Any, loss: torch.Tensor) -> None:
        """Add this micro-batch's loss to the step's loss."""
        if self._rerunning:
            return  # a re-run's loss is what its closure returns
        value = loss.detach().float()
        self._loss = value if self._loss is None else self._loss + value
        self._backward_seen = True

    def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Any) -> None:
        """Decide this step (gradients are unscaled here); the gate applies the decision."""
        guard = self._built()
        if self._gate is None:
            return
        self._gate.allow = None
        batch, self._batch = self._batch, None
        if not self._backward_seen:
            return  # training_step returned None: Lightning ran no backward, nothing to judge
        loss, self._loss, self._backward_seen = self._loss, None, False
        if loss is not None and self._scaler is not None:
            loss = loss / self._scaler.get_scale()  # the scale the loss was multiplied by
        closure, self._closure = self._closure, None
        again = None if closure is None else (lambda: self._run_again(closure))
        record = guard.decide(loss, closure=again, batch=batch)
        self.last_record = record
        take = record.action == "step"
        self._gate.allow = take
        if not take:
            self.skipped += 1
        every = max(int(trainer.log_every_n_steps or 1), 1)
        if self.log_metrics and trainer.is_global_zero and (trainer.global_step + 1) % every == 0:
            # Straight to the loggers: LightningModule.log costs milliseconds per call,
            # more than the guard's whole step on a small model.
            metrics = {
                k: v for k, v in metrics_of(record, self.skipped).items() if not math.isnan(v)
            }
            for logger in trainer.loggers:
                logger.log_metrics(metrics, step=trainer.global_step)

    # -- checkpoints ---------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Return the guard's state (rules, adaptive clipper, counters) for the checkpoint."""
        if self.guard is None:
            return dict(self._pending or {})
        return {"guard": self.guard.state_dict(), "skipped": self.skipped}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Keep a checkpoint's guard state; it is restored when training starts."""
        if state_dict:
            self._pending = dict(state_dict)

    # -- the end -------------------------------------------------------------------
    def _remove_gates(self) -> None:
        if self._gate is not None:
            self._gate.remove()
            self._gate = None
        if self._module is not None:
            vars(self._module).pop("lr_scheduler_step", None)
            vars(self._module).pop("optimizer_step", None)
            self._module = None
        self._withhold_schedulers = set()

    def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
        """Take the gates off and close the guard's log."""
        self._remove_gates()
        if self.guard is not None:
            self.guard.close()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        """Take the gates off and close the log when training fails."""
        self.teardown(trainer, pl_module, "fit")
