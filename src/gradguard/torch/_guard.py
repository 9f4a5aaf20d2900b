"""SpikeGuard: measure, clip, and step / skip / roll back around ``optimizer.step()``.

$ python train.py   # with: record = guard.step(loss) in place of optimizer.step()

::

    guard = SpikeGuard(model, optimizer, clipper=1.0, log="run.jsonl")
    for batch in loader:
        if guard.skip_batch():          # True for N batches after a rollback (PaLM-style)
            continue
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(batch))
        loss.backward()                 # with AMP: scaler.scale(loss).backward()
        record = guard.step(loss)       # unscale (AMP) → stats → decide → clip → step
        # record.action in {"step", "skip", "rollback"}; record.grad_norm = pre-clip norm

One ``guard.step``: unscale the AMP gradients if the caller has not (before measuring or
clipping, or the threshold would apply to ``scale × g``); measure them (:func:`grad_stats`,
reduced over every rank under DDP/FSDP); classify the step (``amp_skip`` — the scaler's
own inf, normal — ``nonfinite``, ``spike`` or ``ok``) and decide by policy
(:func:`gradguard.rules.decide`: step, skip, roll back, raise); clip a step that is taken;
step or withhold the optimizer; record the step (:class:`~gradguard.records.StepRecord`,
to the JSONL log, TensorBoard and :attr:`SpikeGuard.hooks`). That step is written once
(:mod:`gradguard.torch._step`) and run in two modes (:mod:`gradguard.torch._run`): on host
numbers after one read (the default), or on the device with no read (``sync=False``).

After ``rollback_after`` bad steps in a row the guard restores the last good snapshot
(:class:`~gradguard.torch.snapshots.Snapshot`: model, optimizer, LR scheduler, grad scaler, RNG
states, its own rules; in memory or on disk) and skips the next ``skip_batches`` batches
(Chowdhery et al., "PaLM", 2022: restart ~100 steps before a spike and skip 200–500
batches). Under DDP or FSDP2 every rank judges the same reduced numbers with the same
rules, so every rank takes the same decision — no rank skips alone.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Literal

import torch
from torch import Tensor

from gradguard._validate import check_number
from gradguard.errors import CallError
from gradguard.records import RecordWriter, StepRecord
from gradguard.rules import MedianMadRule, Policy, Rule
from gradguard.skiplist import SkipList
from gradguard.torch import _books as books
from gradguard.torch import _guard_args as args
from gradguard.torch import _persist as persist
from gradguard.torch._books import GuardError
from gradguard.torch._clippers import Clipper
from gradguard.torch._rerun import say_off
from gradguard.torch._run import DeviceRun, HostRun
from gradguard.torch._sinks import open_sinks
from gradguard.torch._snapshot import Snapshot, StepStart
from gradguard.torch._spam import MomentumReset
from gradguard.torch._step import Plan

__all__ = ["GuardError", "SpikeGuard"]


class SpikeGuard:
    """Wrap ``optimizer.step()``: measure, classify, then step, skip or roll back.

    Args:
      model: the module being trained (its named parameters are measured).
      optimizer: the optimizer to step.
      scheduler: an LR scheduler to include in snapshots (you still call its ``step``).
      scaler: a ``torch.amp.GradScaler`` when training with AMP.
      clipper: a :class:`~gradguard.torch.Clipper`, or a number for a fixed
        ``max_norm`` (:class:`~gradguard.torch.NormClipper`), or ``None``.
      norm_type: the norm's order ``p`` for the statistics.
      on_nonfinite: NaN/inf loss or gradient: ``"skip"``, ``"raise"`` or ``"step"``.
      on_spike: a flagged spike: ``"skip"``, ``"raise"`` or ``"step"`` (step after clipping).
      spike_rule: judges the pre-clip gradient norm (default: median + 6·MAD over 128
        steps and at least 10× the median, :class:`~gradguard.rules.MedianMadRule` —
        gross outliers only: the clipper tames the rest); ``None`` disables it.
      loss_rule: judges the loss the same way (default ``None``: off).
      rollback_after: roll back after this many consecutive bad (skipped or raised)
        steps; ``None`` never rolls back. The default 10 lets a short burst of bad
        batches be skipped (a rollback costs what its snapshot's age costs) and still
        recovers a model gone bad (docs/guard/remedies-benchmark.md, the defaults).
      skip_batches: after a rollback, :meth:`skip_batch` returns True this many times.
      snapshot_every: take a new good snapshot every this many healthy steps (default
        25: a rollback goes back at most 25 healthy steps).
      snapshot_path: keep snapshots on disk (atomic writes) instead of in memory; under
        torch.distributed each rank writes ``NAME.rankR.EXT``.
      max_rollbacks: raise :class:`GuardError` after this many rollbacks in one run.
      reset_moments: after a step the guard flagged (a spike or NaN/inf; not a rollback,
        which restores the optimizer anyway), reset the optimizer's moments — of every
        tensor (``"all"``) or of the tensors whose gradient spiked (``"spiked"``): SPAM's
        momentum reset (Huang et al., ICLR 2025), :class:`~gradguard.torch.spam.MomentumReset`
        put first in :attr:`hooks`. ``None`` (the default) keeps them. Needs ``sync=True``.
      log: a JSONL path or a :class:`~gradguard.records.RecordWriter` (rank 0 writes).
      tensorboard: a ``SummaryWriter``-like object (``add_scalar``) or a log directory.
      layer_norms_every: record per-layer norms and max |g| every this many steps (0:
        never; the default 50 feeds the report's heat map for the cost of one more
        reduction and one more pass over the gradients on one step in 50).
      update_ratio_every: measure ``‖Δθ‖/‖θ‖`` every this many steps (0: never; costs
        a copy of the parameters and a second sync on those steps).
      process_group: under DDP, the group to reduce statistics over (``None`` with
        ``torch.distributed`` initialised: the default group). FSDP2 shards are reduced
        over their mesh automatically.
      run: a run identifier written into every record.
      pipeline_group: under pipeline parallelism, the group of this rank's peers in the
        other stages (one rank per stage): the total norm and the verdict then cover
        every stage; ``process_group`` (default: the whole world) must span them all.
      sync: ``False`` runs each step with no host sync (statistics, rules, decision and
        skip on the device; records written a step or a few later): see
        docs/guard/scale.md. Needs ``fused=True`` Adam/AdamW/SGD/Adagrad for a
        sync-free skip (other optimizers: one sync per step, with a warning).
      restore: a function (no arguments) that restores the run's own last checkpoint —
        say, one that loads the last ``torch.distributed.checkpoint`` save — called on a
        rollback instead of restoring a snapshot; the guard then takes no snapshots. It
        may return the step it restored, for the record.
      skip_steps: a skip list (from ``gradguard replay LOG --skip-list --json``: its
        JSON, a path to it, a :class:`~gradguard.skiplist.SkipList`, or step numbers):
        :meth:`skip_batch` then answers True for exactly those batches.
      state: objects the training loop keeps outside the model, optimizer and scheduler
        (an EMA teacher, a memory bank), by name: anything with ``state_dict()`` and
        ``load_state_dict()``. They are saved with every snapshot and restored by every
        rollback. State the loop rebinds each batch (a TBPTT hidden state) follows the
        step's ``record.action`` instead: see docs/guard/carried-state.md.
      rerun_rtol: when a bad step is re-run (``guard.step(..., closure=...)``), a re-run
        whose gradient norm and loss lie within this relative tolerance of the first
        run's is the same step again — reproducible — even if the rules pass it: room for
        kernels that are not bitwise deterministic (docs/guard/rerun.md).

    Raises:
      InputError: a bad argument (``optimizer`` not a ``torch.optim.Optimizer``, a
        ``state`` entry without ``state_dict``, a policy or count out of range…).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        *,
        scheduler: Any = None,
        scaler: Any = None,
        clipper: Clipper | float | None = None,
        norm_type: float = 2.0,
        on_nonfinite: Policy = "skip",
        on_spike: Policy = "skip",
        spike_rule: Rule | Literal["default"] | None = "default",
        loss_rule: Rule | None = None,
        rollback_after: int | None = 10,
        skip_batches: int = 0,
        snapshot_every: int = 25,
        snapshot_path: str | os.PathLike[str] | None = None,
        max_rollbacks: int = 10,
        reset_moments: Literal["all", "spiked"] | None = None,
        log: str | os.PathLike[str] | RecordWriter | None = None,
        tensorboard: Any = None,
        layer_norms_every: int = 50,
        update_ratio_every: int = 0,
        process_group: Any = None,
        run: str | None = None,
        pipeline_group: Any = None,
        sync: bool = True,
        restore: Callable[[], Any] | None = None,
        skip_steps: Any = None,
        state: Mapping[str, Any] | None = None,
        rerun_rtol: float = 1e-4,
    ) -> None:
        args.check_optimizer(optimizer)
        self.state_objects = args.check_state(state)
        norm_type = args.check_options(**{k: v for k, v in locals().items() if k in args.CHECKED})
        #: A re-run within this relative tolerance of a bad first run is the same step again.
        self.rerun_rtol = check_number(rerun_rtol, "rerun_rtol", minimum=0)
        #: Batches whose re-run was bad again (``batch=`` ids): :meth:`skip_batch` skips them.
        self.rerun_skips: list[Any] = []
        self._rerun_off: str | None = None  # why re-runs are off, if they are
        self._rerun_said = False
        self._start = StepStart(model)  # where a re-run starts
        self.model = model
        # Read once: walking the module tree costs more than the statistics on small
        # models. Parameters added to the model later are not guarded.
        self._named = list(model.named_parameters())
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.scaler = scaler
        self.clipper = args.guard_clipper(clipper, norm_type, optimizer)
        self.norm_type = float(norm_type)
        self.on_nonfinite = on_nonfinite
        self.on_spike = on_spike
        self.spike_rule: Rule | None = MedianMadRule() if spike_rule == "default" else spike_rule
        self.loss_rule = loss_rule
        self.rollback_after = rollback_after
        self.skip_batches = skip_batches
        self.snapshot_every = snapshot_every
        self.max_rollbacks = max_rollbacks
        self.layer_norms_every = layer_norms_every
        self.update_ratio_every = update_ratio_every
        self.run = run
        spike, loss = (None if r is None else r.name for r in (self.spike_rule, loss_rule))
        self.plan = Plan(on_nonfinite, on_spike, rollback_after, max_rollbacks, spike, loss)
        self.pipeline_group = pipeline_group
        self.process_group, self.rank, self._distributed = args.process_group_of(process_group)
        self.log, self.tensorboard, self._owned = open_sinks(log, tensorboard, self.rank)
        #: Functions called with every record (after the log and TensorBoard).
        self.hooks: list[Callable[[StepRecord], None]] = []
        self.reset_moments = reset_moments
        if reset_moments is not None:
            self.hooks.append(MomentumReset(optimizer, params=reset_moments))
        self.step_count = self.consecutive_bad = self.rollbacks = 0
        self._skip_remaining = self._healthy_since_snapshot = self._batches_seen = 0
        self._snapshot_due = self._header_written = False
        self._recent_bad: deque[StepRecord] = deque(maxlen=3)
        self._restored_step: int | None = None  # where the last rollback went back to
        self._t0 = time.perf_counter()
        self.snapshot = Snapshot(args.rank_path(snapshot_path, self.rank, self._distributed))
        self.restore = restore
        self.skip_steps = None if skip_steps is None else SkipList.coerce(skip_steps)
        self.sync = bool(sync)
        self._run: HostRun | DeviceRun = HostRun(self) if self.sync else DeviceRun(self)
        self._found_snapshot = persist.first_snapshot(self)

    # -- snapshot / rollback -------------------------------------------------------
    def header(self) -> dict[str, Any]:
        """Return what the log's ``"run"`` header says about this guard (its rules, policies).

        ``gradguard replay`` rebuilds the rules from it to recompute the run's own
        decisions (:func:`gradguard.rules.replay_guard`).
        """

        return persist.header(self)

    def take_snapshot(self) -> None:
        """Store the current state as the last good snapshot now.

        The guard's own snapshots, every ``snapshot_every`` healthy steps, are staged at
        the start of a step instead and become the snapshot only once that step is judged
        healthy: weights corrupted between two steps are never saved as good.
        """
        persist.take_snapshot(self)

    def rollback(self) -> int | None:
        """Restore the last good state now and start skipping ``skip_batches`` batches.

        Returns:
          The step restored to: the snapshot's, or what the ``restore`` function returned.

        Raises:
          SnapshotError: the snapshot file cannot be read safely (nothing was restored).
        """
        return persist.rollback(self)

    def skip_batch(self, batch: Any = None) -> bool:
        """Return True if the training loop should skip this batch (and count it).

        True for ``skip_batches`` batches after a rollback, for a batch in
        :attr:`rerun_skips` (its step was bad, and bad again when re-run), and for the
        batches of ``skip_steps``: the listed batch identifiers when ``batch`` is given
        (the same kind of identifier as ``guard.step(loss, batch=...)`` records), else the
        listed steps, counting this method's calls as the positions in the data.
        """
        return books.skip_batch(self, batch)

    # -- the step ------------------------------------------------------------------
    def step(
        self,
        loss: Tensor | float | None = None,
        batch: Any = None,
        closure: Callable[[], Any] | None = None,
    ) -> StepRecord | None:
        """Measure this step's gradients and step, skip or roll back; return its record.

        Call after ``loss.backward()`` in place of ``optimizer.step()`` (and in place of
        ``scaler.step(optimizer); scaler.update()`` under AMP).

        Args:
          loss: this step's loss (tensor or float), for the record and the loss rule.
            ``None`` with a ``closure``: the guard calls the closure for the first run
            too, as torch's ``optimizer.step(closure)`` does.
          batch: an identifier of this step's batch (its index, ids, or a tensor: short
            ones are recorded as lists, long ones as a SHA-256), written into the record
            of a skipped, spiking, rolled-back or re-run step (``gradguard replay
            --skip-list``); a reproducible step's batch joins :attr:`rerun_skips`.
          closure: torch's optimizer closure — zero the gradients, recompute the loss on
            this step's batch, backward, return the loss. Called only on a bad step the
            guard would not take, to re-run it (docs/guard/rerun.md): transient, the step
            is taken with the re-run's gradients; reproducible, it is skipped as before.
            The re-run starts from the RNG states of the step's start: with
            ``loss=None`` those the guard saw before calling the closure; with a
            ``loss``, those the previous ``guard.step`` left (draws your loop makes in
            between — a data loader's random transforms — move them).

        Returns:
          The step's :class:`~gradguard.records.StepRecord`; ``record.action`` is
          ``"step"``, ``"skip"`` or ``"rollback"``, ``record.grad_norm`` the pre-clip norm.
          ``None`` with ``sync=False``: the records reach the log and the hooks when their
          copies arrive (at once on the CPU, a step or a few later on a GPU).

        Raises:
          GuardError: the ``"raise"`` policy fired, or ``max_rollbacks`` was exceeded.
        """
        return self._run.step(loss, batch, apply=True, closure=closure)

    def decide(
        self,
        loss: Tensor | float | None = None,
        closure: Callable[[], Any] | None = None,
        batch: Any = None,
    ) -> StepRecord:
        """Measure, classify, decide and clip, leaving ``optimizer.step()`` to the caller.

        For training loops that step the optimizer themselves (Lightning, the Hugging Face
        ``Trainer``): the same statistics, rules, rollback and record as :meth:`step`, but
        neither the optimizer nor the grad scaler is touched. The caller must take the
        step (``scaler.step(optimizer); scaler.update()`` under AMP) exactly when
        ``record.action == "step"`` and withhold it otherwise; the update ratio is not
        measured. With a scaler, the gradients are unscaled here if the caller has not.

        Args:
          loss: this step's loss (tensor or float), for the record and the loss rule.
          closure: re-runs the step, as for :meth:`step` (the trainer integrations pass
            one that re-runs the trainer's own training step).
          batch: an identifier of this step's batch, as for :meth:`step` (the trainer
            integrations pass the epoch and the index of the step's first batch in it).

        Returns:
          The step's :class:`~gradguard.records.StepRecord`; the gradients are clipped
          when ``record.action == "step"``.

        Raises:
          GuardError: the ``"raise"`` policy fired, or ``max_rollbacks`` was exceeded.
          RuntimeError: the guard runs with ``sync=False`` (its decisions stay on the
            device; the caller could not read them without a sync).
        """
        if isinstance(self._run, DeviceRun):
            raise CallError("decide_needs_sync")
        return self._run.step(loss, batch, apply=False, closure=closure)

    def note_step_start(self) -> None:
        """Keep the random states a re-run of this step starts from: call it right before
        the step's forward (a trainer integration, whose closure re-runs a step the
        trainer started; :meth:`step` with ``loss=None`` and a closure does it itself).
        The model's buffers are kept too (BatchNorm's running statistics), for a re-run
        to update them once."""
        self._start.keep()

    def rerun_unavailable(self, reason: str, *, now: bool = True) -> None:
        """Turn re-runs off, saying ``reason`` once (a trainer that cannot re-run a step).

        Closures passed afterwards are not called; bad steps are skipped as without one.
        A trainer integration calls this at set-up, where it knows (accumulation over
        several micro-batches, say).

        Args:
          reason: the one line to say (a sentence from the message catalog).
          now: say it now; ``False``: at the first step that passes a closure.
        """
        self._rerun_off = reason
        if now:
            say_off(self)

    def flush(self) -> None:
        """Write every record still on its way (``sync=False``; waits for their copies)."""
        self._run.flush()

    def close(self) -> None:
        """Write pending records; close the log and the TensorBoard writer if the guard
        opened them."""
        self.flush()
        persist.drop_unfinished(self)
        for sink in self._owned:  # (a TensorBoard writer flushes its queued events)
            sink.close()

    def __enter__(self) -> SpikeGuard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def state_dict(self, snapshot: bool = False) -> dict[str, Any]:
        """Return the guard's own state for a training checkpoint (plain data).

        The rules and counters and the position in the data (for ``skip_steps``): a run
        resumed from the checkpoint takes the same decisions as one never stopped, up to
        its next rollback, which restores the snapshot taken when the resumed guard was
        made. For the same rollbacks too, pass ``snapshot=True``: the rollback snapshot
        goes into the checkpoint as well (host tensors, loadable with
        ``torch.load(weights_only=True)``; a snapshot on disk is kept by its step only).

        Args:
          snapshot: include the rollback snapshot.
        """
        return persist.checkpoint(self, snapshot)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output (after loading model and optimizer)."""
        persist.load_checkpoint(self, state)
