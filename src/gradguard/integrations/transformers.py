"""Hugging Face ``Trainer``: guard every optimizer step with one callback.

$ pip install 'gradguard[transformers]'

::

    from transformers import Trainer, TrainingArguments
    from gradguard.integrations.transformers import SpikeGuardCallback

    args = TrainingArguments("out", max_grad_norm=0)   # the callback clips: Trainer must not
    trainer = Trainer(model, args, train_dataset=data,
                      callbacks=[SpikeGuardCallback(clipper=1.0, log="run.jsonl")])
    trainer.train()

The hooks it relies on, in the ``Trainer``'s order for one optimizer step (transformers
5.x):

1. the model's forward, once per micro-batch: a forward hook keeps the output's ``loss``
   for the record (summed over micro-batches when the Trainer passes
   ``num_items_in_batch``, as the loss is then already a share of the step's mean;
   averaged otherwise).
2. the backward passes; under DDP the gradients are all-reduced on the last micro-batch.
3. ``max_grad_norm`` clipping — which must be off (``max_grad_norm=0``): the Trainer clips
   before any callback sees the gradients, so the guard would measure clipped gradients
   and they would be clipped twice. With it off the Trainer still measures the norm it
   logs, by ``accelerator.clip_grad_norm_(model.parameters(), inf)`` — which multiplies
   every gradient by ``inf / inf = NaN`` when the norm is not finite, so that one inf
   entry would reach the guard as NaN in every tensor. While the callback trains, that
   call on the guarded model's parameters is the guard's instead: under fp16 the
   accelerator unscales the gradients as it would have, then
   :meth:`gradguard.torch.SpikeGuard.decide` measures the untouched gradients (reduced
   over all ranks), classifies, clips and records — one decision per optimizer step —
   and the Trainer logs the pre-clip norm it returns. An HF record of a fault is then
   the plain loop's: ``inf``, one non-finite tensor, the layer it is in.
4. ``on_pre_optimizer_step``: the decision is handed to the gate (a Trainer that never
   measures the norm — a subclass that overrides it — is decided here).
5. ``optimizer.step()`` on accelerate's ``AcceleratedOptimizer``: a gate lets it through
   when the decision was ``"step"`` and withholds it otherwise (parameters and optimizer
   state bitwise unchanged) and then reports the step as skipped, as accelerate does for
   an fp16 overflow — so the Trainer's ``optimizer_step_was_skipped`` check does not
   advance the LR scheduler.
6. ``on_step_end``: the guard's state goes into the ``TrainerState``
   (``stateful_callbacks["gradguard"]``), which every checkpoint saves in
   ``trainer_state.json``; ``resume_from_checkpoint`` loads it back and the callback
   restores it at ``on_train_begin``.
7. ``on_log``: ``grad_norm_clipped``, ``clipped``, ``skipped`` (counts since the last log)
   and ``skipped_total`` join the Trainer's log history.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

from gradguard._catalog import default_lang, load_catalog
from gradguard._validate import check_bool
from gradguard.errors import CallError, InputError
from gradguard.integrations._common import (
    StepGate,
    check_clipper,
    check_options,
    needs_extra,
)
from gradguard.records import StepRecord
from gradguard.rules import RULES
from gradguard.torch import Clipper, SpikeGuard
from gradguard.torch.effects import withhold_step

try:
    from transformers import Trainer, TrainerCallback
except ImportError:
    raise ImportError(needs_extra(__name__, "transformers", "transformers>=5")) from None

__all__ = ["STATE_KEY", "SpikeGuardCallback"]

#: Where the guard's state lives in ``TrainerState.stateful_callbacks``.
STATE_KEY = "gradguard"

#: The callbacks training now, by the ``id`` of their model's first parameter: the
#: accelerator's norm call on those parameters is the guard's (see the module's text).
_TRAINING: dict[int, SpikeGuardCallback] = {}


def _first_param(model: Any) -> int | None:
    return next((id(p) for p in model.parameters()), None)


def _install_norm_call() -> None:
    """Put the guard in front of ``Accelerator.clip_grad_norm_`` (once per process).

    The wrapper acts only on a call with ``max_norm = inf`` (the Trainer's measuring call)
    over the parameters of a model a :class:`SpikeGuardCallback` is training; every other
    call — another model's, a finite ``max_norm`` — is accelerate's own.
    """
    from accelerate import Accelerator

    inner = Accelerator.clip_grad_norm_
    if getattr(inner, "_gradguard", False):
        return

    def clip_grad_norm_(
        self: Any, parameters: Iterable[Any], max_norm: float, norm_type: float = 2
    ) -> Any:
        params = list(parameters)
        cb = _TRAINING.get(id(params[0])) if params else None
        if cb is None or max_norm != math.inf or cb._pending is not None:
            return inner(self, params, max_norm, norm_type)
        self.unscale_gradients()  # under fp16, as accelerate's own call would
        record = cb._decide()
        cb._pending = record
        return record.grad_norm

    clip_grad_norm_._gradguard = True  # type: ignore[attr-defined]
    clip_grad_norm_.__wrapped__ = inner  # type: ignore[attr-defined]
    clip_grad_norm_.__doc__ = inner.__doc__
    Accelerator.clip_grad_norm_ = clip_grad_norm_


def _install_step_watch() -> None:
    """Let ``Trainer.training_step`` tell a re-running callback what it runs (once per process).

    The wrapper notes, for a :class:`SpikeGuardCallback` with ``rerun=True`` training the
    model, the call's arguments and the RNG states before it: the step's whole forward
    and backward, which the callback calls again to re-run a bad step. Other models'
    steps, and a re-run's own call, pass straight through.
    """
    inner = Trainer.training_step
    if getattr(inner, "_gradguard", False):
        return

    def training_step(self: Any, model: Any, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        cb = _TRAINING.get(_first_param(model) or 0)
        if cb is not None and cb._rerun_on and not cb._rerunning and cb.guard is not None:
            cb._step_call = (self, model, inputs, args, kwargs)
            cb.guard.note_step_start()
        return inner(self, model, inputs, *args, **kwargs)

    training_step._gradguard = True  # type: ignore[attr-defined]
    training_step.__wrapped__ = inner  # type: ignore[attr-defined]
    training_step.__doc__ = inner.__doc__
    Trainer.training_step = training_step  # type: ignore[method-assign]


class SpikeGuardCallback(TrainerCallback):
    """Measure, clip and step / skip / roll back every optimizer step of a ``Trainer``.

    Takes the options of :class:`gradguard.torch.SpikeGuard` that make sense in a
    trainer; the model, the optimizer, the LR scheduler and the grad scaler come from
    the ``Trainer``. The guard is :attr:`guard` (built at train start), its last record
    :attr:`last_record`. A record names its step's batch ``[epoch, index]``, the epoch and
    the position in it of the step's first batch (see :meth:`on_step_begin`), so
    ``gradguard replay LOG --skip-list`` lists batches by those ids.

    Args:
      clipper: a :class:`~gradguard.torch.Clipper`, a number (a fixed ``max_norm``), or
        ``None`` (measure and skip, no clipping).
      rerun: re-run a bad step on its batch before skipping it (one more forward and
        backward, on bad steps only): the Trainer's own ``training_step`` runs again from
        the same RNG states, and the guard keeps a transient step (with the re-run's
        gradients) and skips a reproducible one (docs/guard/rerun.md). With
        ``gradient_accumulation_steps > 1`` a step cannot be re-run whole: the callback
        says so once, at train start, and skips as without it.
      **options: further :class:`~gradguard.torch.SpikeGuard` options (``log``,
        ``on_nonfinite``, ``on_spike``, ``spike_rule``, ``loss_rule``,
        ``rollback_after``, ``snapshot_every``, ``snapshot_path``, ``max_rollbacks``,
        ``tensorboard``, ``layer_norms_every``, ``norm_type``, ``run``, ``state`` — objects
        kept outside the model and optimizer, such as an EMA copy, saved with every
        snapshot and restored by a rollback).

    Raises:
      InputError: an unknown option; at train start, ``max_grad_norm > 0``, FSDP or
        DeepSpeed, or an invalid guard option.
    """

    def __init__(
        self, clipper: Clipper | float | None = None, *, rerun: bool = False, **options: Any
    ) -> None:
        self.clipper = check_clipper(clipper)
        self.rerun = check_bool(rerun, "rerun")
        self.options = check_options("transformers", options)
        self._rerun_on = False  # re-runs set up (rerun=True and a step that can be re-run)
        self._rerunning = False
        self._step_call: tuple[Any, ...] | None = None  # this step's training_step call
        self.guard: SpikeGuard | None = None
        self.last_record: StepRecord | None = None
        self.skipped = 0
        self._since_log = {"skipped": 0, "clipped": 0}
        self._gate: StepGate | None = None
        self._hook: Any = None
        self._losses: list[torch.Tensor] = []
        self._loss_is_share = False
        #: This step's record, when the guard decided in the Trainer's norm call.
        self._pending: StepRecord | None = None
        self._key: int | None = None
        self._batch: list[int] | None = None  # this step's batch: [epoch, index in the epoch]

    # -- train start: check, build, restore, gate -----------------------------------
    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Refuse conflicting settings, build the guard, restore a checkpoint's state."""
        if args.max_grad_norm is not None and args.max_grad_norm > 0:
            raise InputError(
                "TrainingArguments(max_grad_norm=...)",
                args.max_grad_norm,
                "callback_max_grad_norm",
                "hf_clips_first",
                given=args.max_grad_norm,
                clippers=", ".join(r.clipper for r in RULES.values() if r.clipper),
            )
        for name in ("fsdp", "deepspeed"):
            value = getattr(args, name, None)
            if value:
                raise InputError(
                    f"TrainingArguments({name}=...)",
                    str(value),
                    "callback_unset",
                    "hf_shards_step",
                )
        model, optimizer = kwargs["model"], kwargs["optimizer"]
        inner = getattr(optimizer, "optimizer", optimizer)  # accelerate's wrapper
        scaler = getattr(optimizer, "scaler", None)
        if self.guard is not None:
            self.guard.close()
        self.guard = SpikeGuard(
            model,
            inner,
            scheduler=kwargs.get("lr_scheduler"),
            scaler=scaler if scaler is not None and scaler.is_enabled() else None,
            clipper=self.clipper,
            **self.options,
        )
        saved = (state.stateful_callbacks or {}).get(STATE_KEY)
        if saved and state.global_step > 0:  # resume_from_checkpoint loaded it
            self.guard.load_state_dict(saved["guard"])
            self.skipped = int(saved["skipped"])
        self._remove()
        self._gate = StepGate(optimizer, on_withheld=self._on_withheld, on_allowed=self._on_allowed)
        self._hook = model.register_forward_hook(self._keep_loss, with_kwargs=True)
        self._pending = None
        self._key = _first_param(model)
        if self._key is not None:
            _install_norm_call()
            _TRAINING[self._key] = self
        self._rerun_on, self._step_call = False, None
        if self.rerun:
            n = int(args.gradient_accumulation_steps)
            if n > 1:
                words = load_catalog(default_lang())
                reason = words.get("guard.rerun_accumulation", trainer="Hugging Face Trainer", n=n)
                self.guard.rerun_unavailable(reason)
            else:
                _install_step_watch()
                self._rerun_on = True

    def _keep_loss(self, module: Any, args: Any, kwargs: Any, output: Any) -> None:
        loss = getattr(output, "loss", None)
        if loss is None and isinstance(output, dict):
            loss = output.get("loss")
        if module.training and isinstance(loss, torch.Tensor) and loss.numel() == 1:
            self._losses.append(loss.detach().float().reshape(()))
            self._loss_is_share = kwargs.get("num_items_in_batch") is not None

    def _on_withheld(self) -> None:
        optimizer = self._built_gate().obj
        # accelerate's flag for a step the fp16 scaler skipped: the Trainer reads it
        # (accelerator.optimizer_step_was_skipped) and leaves the LR scheduler alone.
        optimizer._is_overflow = True
        # accelerate's optimizer.step() (withheld) calls scaler.step and update itself:
        # the scaler is reset here instead, keeping its scale.
        withhold_step(getattr(optimizer, "scaler", None))

    def _on_allowed(self) -> None:
        optimizer = self._built_gate().obj
        if getattr(optimizer, "scaler", None) is None:
            optimizer._is_overflow = False  # with a scaler, accelerate sets it itself

    def _built_gate(self) -> StepGate:
        if self._gate is None:
            raise CallError("callback_not_set_up", start="Trainer.train, on_train_begin")
        return self._gate

    # -- every optimizer step --------------------------------------------------------
    def on_step_begin(
        self, args: Any, state: Any, control: Any, train_dataloader: Any = None, **kwargs: Any
    ) -> None:
        """Name the step's batch: the epoch and the index of its first batch in the epoch.

        The Trainer sets ``state.epoch = epoch + batches_done / batches_in_epoch`` after
        each optimizer step (a checkpoint keeps it), so before a step its fraction times
        the loader's length is the index of the step's first batch. A loader without a
        length (an iterable dataset) names none.
        """
        epoch = float(state.epoch or 0.0)
        try:
            n = len(train_dataloader)
        except TypeError:
            self._batch = None
            return
        whole = math.floor(epoch)
        self._batch = [int(whole), round((epoch - whole) * n)]

    def _step_loss(self) -> torch.Tensor | None:
        """The step's loss from the forward passes seen since the last call."""
        losses, self._losses = self._losses, []
        if not losses:
            return None
        total = torch.stack(losses).sum()
        return total if self._loss_is_share else total / len(losses)

    def _decide(self) -> StepRecord:
        """Measure, classify, clip and record this step (the guard's :meth:`decide`)."""
        assert self.guard is not None
        loss = self._step_loss()
        call, self._step_call = self._step_call, None
        if call is None and self._rerun_on:  # a training_step that bypasses the Trainer's
            self._rerun_on = False
            words = load_catalog(default_lang())
            reason = words.get("guard.rerun_no_step", trainer="Hugging Face Trainer")
            self.guard.rerun_unavailable(reason)
        again = None if call is None else (lambda: self._run_again(call))
        batch, self._batch = self._batch, None
        return self.guard.decide(loss, closure=again, batch=batch)

    def _run_again(self, call: tuple[Any, ...]) -> torch.Tensor | None:
        """Call the step's ``training_step`` again (forward and backward): its loss."""
        trainer, model, inputs, args, kwargs = call
        self._rerunning = True
        try:
            trainer.training_step(model, inputs, *args, **kwargs)
        finally:
            self._rerunning = False
        return self._step_loss()

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Hand this step's decision to the gate on the optimizer (deciding it if not yet)."""
        gate = self._built_gate()
        record, self._pending = self._pending, None
        if record is None:  # the Trainer did not measure the norm: decide here
            record = self._decide()
        self.last_record = record
        take = record.action == "step"
        gate.allow = take
        if not take:
            self.skipped += 1
            self._since_log["skipped"] += 1
        self._since_log["clipped"] += int(record.clipped)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Put the guard's state into the TrainerState a checkpoint saves."""
        if self.guard is not None:
            if state.stateful_callbacks is None:
                state.stateful_callbacks = {}
            state.stateful_callbacks[STATE_KEY] = {
                "guard": self.guard.state_dict(),
                "skipped": self.skipped,
            }

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        """Add the guard's numbers to the log entry the Trainer just recorded."""
        record = self.last_record
        if record is None or logs is None or "loss" not in logs:
            return  # an evaluation or end-of-training entry
        extra: dict[str, float] = {
            "skipped": float(self._since_log["skipped"]),
            "clipped": float(self._since_log["clipped"]),
            "skipped_total": float(self.skipped),
        }
        if record.grad_norm_clipped is not None and math.isfinite(record.grad_norm_clipped):
            extra["grad_norm_clipped"] = record.grad_norm_clipped
        self._since_log = {"skipped": 0, "clipped": 0}
        logs.update(extra)
        if state.log_history and state.log_history[-1].get("step") == state.global_step:
            state.log_history[-1].update(extra)

    # -- the end -------------------------------------------------------------------
    def _remove(self) -> None:
        if self._key is not None and _TRAINING.get(self._key) is self:
            del _TRAINING[self._key]
        self._key = None
        if self._gate is not None:
            self._gate.remove()
            self._gate = None
        if self._hook is not None:
            self._hook.remove()
            self._hook = None

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Take the gate and the loss hook off; close the guard's log."""
        self._remove()
        if self.guard is not None:
            self.guard.close()
