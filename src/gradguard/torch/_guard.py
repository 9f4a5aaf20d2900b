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

What one ``guard.step`` does, in order:

1. AMP: ``scaler.unscale_(optimizer)`` if the caller has not — gradients must be
   unscaled *before* they are measured or clipped, or the threshold would apply to
   ``scale × g`` (the pitfall every clipping recipe warns about).
2. :func:`grad_stats` — one pass over the gradients; under DDP/FSDP reduced over all
   ranks; then **one** host sync for the norm, max |g|, non-finite count, loss and the
   AMP ``found_inf`` together.
3. Classify: ``amp_skip`` (the scaler found inf/NaN: it skips the step itself and lowers
   its scale — normal, not counted as a fault), ``nonfinite`` (NaN/inf in the loss or a
   gradient), ``spike`` (the spike rule flags the norm or the loss), else ``ok``.
4. Decide by policy (:func:`gradguard.rules.decide`, a pure function of the kind, the
   policy and the guard's history): ``"raise"`` (:class:`GuardError`), ``"skip"``
   (``optimizer.step()`` is withheld: parameters and optimizer state stay bitwise
   unchanged) or ``"step"``. After ``rollback_after`` consecutive bad steps, restore
   the last good snapshot (:class:`~gradguard.torch.Snapshot`: model, optimizer, LR
   scheduler, grad scaler, RNG states, the guard's own rules; in memory or on disk) and
   skip the next ``skip_batches`` batches (Chowdhery et al., "PaLM", 2022: restart ~100
   steps before a spike and skip 200–500 batches).
5. Clip (the clipper sees only steps that are taken) and step. After every
   ``snapshot_every`` healthy steps a new snapshot is taken at the start of the next
   ``guard.step`` (so it includes the caller's ``scheduler.step()``).
6. Record one :class:`~gradguard.records.StepRecord` (built by
   :func:`gradguard.records.make_record`; appended to the JSONL log, and to TensorBoard
   when a writer is given).

Under DDP or FSDP2 every rank computes the same reduced statistics and runs the same
deterministic rules, so every rank takes the same decision — no rank skips alone.
"""

from __future__ import annotations

import math
import os
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import Tensor

from gradguard import rules
from gradguard.records import RecordWriter, StepRecord, classify, make_record
from gradguard.rules import Decision, MedianMadRule, Policy, Rule
from gradguard.skiplist import SkipList
from gradguard.torch._clippers import Clipper, ClipResult, without_overflow
from gradguard.torch._effects import take_step, withhold_step
from gradguard.torch._guard_args import (
    check_optimizer,
    check_options,
    check_restore,
    check_state,
    guard_clipper,
    rank_path,
)
from gradguard.torch._provenance import batch_id, listed
from gradguard.torch._record import first_lr, scalar_tensor
from gradguard.torch._sinks import emit, tensorboard_writer
from gradguard.torch._snapshot import (
    Snapshot,
    capture_state,
    plain_tree,
    restore_state,
    unplain_tree,
)
from gradguard.torch._stats import GradStats, HostGradStats, grad_stats

if TYPE_CHECKING:
    from gradguard.torch._syncfree import SyncFreeStep

__all__ = ["GuardError", "Monitor", "SpikeGuard"]


class GuardError(RuntimeError):
    """Raised by the ``"raise"`` policy (or too many rollbacks); carries the step record."""

    def __init__(self, message: str, record: StepRecord | None = None) -> None:
        super().__init__(message)
        self.record = record


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
        steps; ``None`` never rolls back.
      skip_batches: after a rollback, :meth:`skip_batch` returns True this many times.
      snapshot_every: take a new good snapshot every this many healthy steps.
      snapshot_path: keep snapshots on disk (atomic writes) instead of in memory; under
        torch.distributed each rank writes ``NAME.rankR.EXT``.
      max_rollbacks: raise :class:`GuardError` after this many rollbacks in one run.
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
        :mod:`gradguard.torch._syncfree`. Needs ``fused=True`` Adam/AdamW/SGD/Adagrad for
        a sync-free skip (other optimizers: one sync per step, with a warning).
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
        rollback_after: int | None = 3,
        skip_batches: int = 0,
        snapshot_every: int = 100,
        snapshot_path: str | os.PathLike[str] | None = None,
        max_rollbacks: int = 10,
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
    ) -> None:
        check_optimizer(optimizer)
        self.state_objects = check_state(state)
        norm_type = check_options(
            on_nonfinite=on_nonfinite,
            on_spike=on_spike,
            rollback_after=rollback_after,
            counts={
                "skip_batches": (skip_batches, 0),
                "snapshot_every": (snapshot_every, 1),
                "max_rollbacks": (max_rollbacks, 0),
                "layer_norms_every": (layer_norms_every, 0),
                "update_ratio_every": (update_ratio_every, 0),
            },
            clipper=clipper,
            spike_rule=spike_rule,
            loss_rule=loss_rule,
            norm_type=norm_type,
        )
        check_restore(restore)
        self.model = model
        # Read once: walking the module tree costs more than the statistics on small
        # models. Parameters added to the model later are not guarded.
        self._named = list(model.named_parameters())
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.scaler = scaler
        self.clipper = guard_clipper(clipper, norm_type)
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
        self.process_group = process_group
        self.pipeline_group = pipeline_group
        self._distributed = False
        self.rank = 0
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            self._distributed = True
            if self.process_group is None:
                # Every rank must judge the same, globally reduced numbers.
                self.process_group = torch.distributed.group.WORLD
            self.rank = torch.distributed.get_rank(self.process_group)
        self._owns_log = False
        self.log: RecordWriter | None
        if log is None or self.rank != 0:
            self.log = None
        elif isinstance(log, RecordWriter):
            self.log = log
        else:
            self.log = RecordWriter(log)
            self._owns_log = True
        self.tensorboard = tensorboard_writer(tensorboard) if self.rank == 0 else None
        # A writer the guard made from a log directory is the guard's to close.
        self._owns_tensorboard = (
            self.tensorboard is not None and tensorboard is not self.tensorboard
        )
        #: Functions called with every record (after the log and TensorBoard).
        self.hooks: list[Callable[[StepRecord], None]] = []
        self.step_count = 0
        self.consecutive_bad = 0
        self.rollbacks = 0
        self._skip_remaining = 0
        self._healthy_since_snapshot = 0
        self._snapshot_due = False
        self._header_written = False
        self._recent_bad: deque[StepRecord] = deque(maxlen=3)
        self._restored_step: int | None = None  # where the last rollback went back to
        self._t0 = time.perf_counter()
        self.snapshot = Snapshot(rank_path(snapshot_path, self.rank, self._distributed))
        self.restore = restore
        self.skip_steps = None if skip_steps is None else SkipList.coerce(skip_steps)
        self._batches_seen = 0
        self.sync = bool(sync)
        self._sync_free: SyncFreeStep | None = None
        # A snapshot only when a rollback would restore it: no copy otherwise.
        if self._snapshots_on:
            self.snapshot.save(self._state(), 0)
        if not self.sync:
            from gradguard.torch._syncfree import SyncFreeStep

            self._sync_free = SyncFreeStep(self)

    # -- snapshot / rollback -------------------------------------------------------
    @property
    def _snapshots_on(self) -> bool:
        """Whether the guard keeps snapshots (rollback on, no ``restore`` function)."""
        return self.rollback_after is not None and self.restore is None

    def _rules_state(self) -> dict[str, Any]:
        # What the guard has learned (spike/loss statistics, adaptive threshold): part of
        # both a rollback snapshot and a training checkpoint.
        if self._sync_free is not None:
            self._sync_free.store()  # the device rules' state, into the host rules
        return {
            "spike_rule": self.spike_rule.state_dict() if self.spike_rule else None,
            "loss_rule": self.loss_rule.state_dict() if self.loss_rule else None,
            "clipper": self.clipper.state_dict() if self.clipper else None,
        }

    def _load_rules_state(self, state: dict[str, Any]) -> None:
        for key, obj in (
            ("spike_rule", self.spike_rule),
            ("loss_rule", self.loss_rule),
            ("clipper", self.clipper),
        ):
            if obj is not None and state[key] is not None:
                obj.load_state_dict(state[key])
        if self._sync_free is not None:
            self._sync_free.load()

    def _state(self) -> dict[str, Any]:
        state = capture_state(self.model, self.optimizer, self.scheduler, self.scaler)
        state.update(self._rules_state())
        state["user"] = {name: obj.state_dict() for name, obj in self.state_objects.items()}
        return state

    def _restore(self, state: dict[str, Any]) -> None:
        restore_state(state, self.model, self.optimizer, self.scheduler, self.scaler)
        self._load_rules_state(state)
        for name, obj in self.state_objects.items():
            obj.load_state_dict(state["user"][name])

    def header(self) -> dict[str, Any]:
        """Return what the log's ``"run"`` header says about this guard (its rules, policies).

        ``gradguard replay`` rebuilds the rules from it to recompute the run's own
        decisions (:func:`gradguard.rules.replay_guard`).
        """

        def rule(r: Rule | None) -> dict[str, Any] | None:
            return None if r is None else {"name": r.name, "state": r.state_dict()}

        return {
            "spike_rule": rule(self.spike_rule),
            "loss_rule": rule(self.loss_rule),
            "clipper": None if self.clipper is None else self.clipper.name,
            "on_spike": self.on_spike,
            "on_nonfinite": self.on_nonfinite,
            "rollback_after": self.rollback_after,
            "max_rollbacks": self.max_rollbacks,
            "snapshot_every": self.snapshot_every,
            "skip_batches": self.skip_batches,
            "norm_type": self.norm_type,
            # What a rollback restores the rules from: the guard's snapshot, or nothing
            # (a restore= function loads the run's own checkpoint; the rules go on).
            "rollback_restores": "snapshot" if self.restore is None else "function",
        }

    def take_snapshot(self) -> None:
        """Store the current state as the last good snapshot (done automatically)."""
        self.snapshot.save(self._state(), self.step_count)
        self._healthy_since_snapshot = 0
        self._snapshot_due = False

    def rollback(self) -> int | None:
        """Restore the last good state now and start skipping ``skip_batches`` batches.

        Returns:
          The step restored to: the snapshot's, or what the ``restore`` function returned.

        Raises:
          SnapshotError: the snapshot file cannot be read safely (nothing was restored).
        """
        restored: int | None
        if self.restore is not None:
            value = self.restore()  # the run's own checkpoint
            restored = value if isinstance(value, int) and not isinstance(value, bool) else None
        else:
            state = self.snapshot.load()  # read first: a bad file changes nothing
            self._restore(state)
            restored = self.snapshot.step
        self.optimizer.zero_grad(set_to_none=True)
        self.rollbacks += 1
        self._restored_step = restored
        self.consecutive_bad = 0
        self._skip_remaining = self.skip_batches
        return restored

    def skip_batch(self, batch: Any = None) -> bool:
        """Return True if the training loop should skip this batch (and count it).

        True for ``skip_batches`` batches after a rollback, and for the batches of
        ``skip_steps``: the listed batch identifiers when ``batch`` is given (the same
        kind of identifier as ``guard.step(loss, batch=...)`` records), else the listed
        steps, counting this method's calls as the positions in the data.
        """
        position = self._batches_seen
        self._batches_seen += 1
        if self._skip_remaining > 0:
            self._skip_remaining -= 1
            return True
        return self.skip_steps is not None and listed(self.skip_steps, position, batch)

    # -- the step ------------------------------------------------------------------
    def _unscale(self) -> Tensor | None:
        """Unscale AMP gradients (once) and return the scaler's found-inf flag."""
        if self.scaler is None or not self.scaler.is_enabled():
            return None
        from torch.amp.grad_scaler import OptState

        per_opt = self.scaler._per_optimizer_states[id(self.optimizer)]
        if per_opt["stage"] is OptState.STEPPED:
            raise RuntimeError(
                "scaler.step(optimizer) was already called for this step, so the "
                "optimizer stepped before the guard could measure, clip or skip it. "
                "guard.step(loss) replaces scaler.step(optimizer) and scaler.update(): "
                "call only scaler.scale(loss).backward() (and optionally "
                "scaler.unscale_(optimizer)) before it."
            )
        if per_opt["stage"] is OptState.READY:
            self.scaler.unscale_(self.optimizer)
        found = per_opt["found_inf_per_device"]
        if not found:
            return torch.zeros(())
        # Stays on the device: it joins the step's one host sync in grad_stats' host().
        flags = list(found.values())
        device = flags[0].device
        total = torch.stack([f.to(device=device, dtype=torch.float64) for f in flags]).sum()
        return total

    def _gather(
        self, step: int, loss: Tensor | float | None, keep_groups: bool, max_abs: bool = True
    ) -> tuple[GradStats, Tensor, Tensor | None]:
        """Unscale (AMP), measure and reduce: ``(stats, loss, found_inf)``, on the device.

        Under torch.distributed the statistics, the loss (its mean over ranks) and AMP's
        ``found_inf`` (set if set on any rank) travel in one all-reduce; every rank's
        scaler then gets the global ``found_inf``, so all skip (and back off) together.
        """
        found_inf = self._unscale()
        layers_due = self.layer_norms_every > 0 and step % self.layer_norms_every == 0
        device = self._named[0][1].device if self._named else torch.device("cpu")
        loss_t = scalar_tensor(loss, device, "loss")
        dist = self._distributed
        stats = grad_stats(
            self._named,
            self.norm_type,
            per_layer=layers_due,
            process_group=self.process_group if dist else None,
            keep_groups=keep_groups,
            pipeline_group=self.pipeline_group if dist else None,
            extra_mean=loss_t.reshape(1) if dist else None,
            extra_any=found_inf.reshape(1) if dist and found_inf is not None else None,
            max_abs=max_abs,
        )
        if dist and stats.extra_mean is not None:
            loss_t = stats.extra_mean[0]
            if found_inf is not None and stats.extra_any is not None:
                found_inf = stats.extra_any[0]
                per_opt = self.scaler._per_optimizer_states[id(self.optimizer)]
                for f in per_opt["found_inf_per_device"].values():
                    f.copy_((found_inf > 0).to(device=f.device, dtype=f.dtype))
        return stats, loss_t.to(stats.total_norm.device), found_inf

    def _reads_max_abs(self, step: int) -> bool:
        """Whether this step reads max |g|: for a value clipper, or with the layer norms.

        The norms alone decide every action of a norm-based guard, so max |g| (a second
        pass over the gradients) is recorded only every ``layer_norms_every`` steps.
        """
        if self.clipper is not None and self.clipper.reads_max_abs:
            return True
        return self.layer_norms_every > 0 and step % self.layer_norms_every == 0

    def step(self, loss: Tensor | float | None = None, batch: Any = None) -> StepRecord | None:
        """Measure this step's gradients and step, skip or roll back; return its record.

        Call after ``loss.backward()`` in place of ``optimizer.step()`` (and in place of
        ``scaler.step(optimizer); scaler.update()`` under AMP).

        Args:
          loss: this step's loss (tensor or float), for the record and the loss rule.
          batch: an identifier of this step's batch (its index, ids, or a tensor: short
            ones are recorded as lists, long ones as a SHA-256), written into the record
            of a skipped, spiking or rolled-back step (``gradguard replay --skip-list``).

        Returns:
          The step's :class:`~gradguard.records.StepRecord`; ``record.action`` is
          ``"step"``, ``"skip"`` or ``"rollback"``, ``record.grad_norm`` the pre-clip norm.
          ``None`` with ``sync=False``: the records reach the log and the hooks when their
          copies arrive (at once on the CPU, a step or a few later on a GPU).

        Raises:
          GuardError: the ``"raise"`` policy fired, or ``max_rollbacks`` was exceeded.
        """
        if self._sync_free is not None:
            self._sync_free.step(loss, batch)
            return None
        return self._step(loss, apply=True, batch=batch)

    def decide(self, loss: Tensor | float | None = None) -> StepRecord:
        """Measure, classify, decide and clip, leaving ``optimizer.step()`` to the caller.

        For training loops that step the optimizer themselves (Lightning, the Hugging Face
        ``Trainer``): the same statistics, rules, rollback and record as :meth:`step`, but
        neither the optimizer nor the grad scaler is touched. The caller must take the
        step (``scaler.step(optimizer); scaler.update()`` under AMP) exactly when
        ``record.action == "step"`` and withhold it otherwise; the update ratio is not
        measured. With a scaler, the gradients are unscaled here if the caller has not.

        Args:
          loss: this step's loss (tensor or float), for the record and the loss rule.

        Returns:
          The step's :class:`~gradguard.records.StepRecord`; the gradients are clipped
          when ``record.action == "step"``.

        Raises:
          GuardError: the ``"raise"`` policy fired, or ``max_rollbacks`` was exceeded.
          RuntimeError: the guard runs with ``sync=False`` (its decisions stay on the
            device; the caller could not read them without a sync).
        """
        if self._sync_free is not None:
            raise RuntimeError(
                "SpikeGuard.decide() returns the step's record, which needs a host sync: "
                "construct the guard with sync=True (the default) to use it, or call "
                "guard.step(loss), which skips on the device."
            )
        return self._step(loss, apply=False)

    def _write_header(self) -> None:
        """Open this run in the log with the guard's header, once, at its first step.

        At the first step, not at construction: a checkpoint loaded in between
        (``load_state_dict``) is the rules' real starting state.
        """
        if self._header_written:
            return
        self._header_written = True
        if self.log is not None:
            meta: dict[str, Any] = {"guard": self.header(), "first_step": self.step_count}
            if self.run is not None:
                meta["run"] = self.run
            self.log.write_meta(meta)

    def _step(self, loss: Tensor | float | None, apply: bool, batch: Any = None) -> StepRecord:
        step = self.step_count
        self._write_header()
        if self._snapshot_due:
            self.take_snapshot()
        self.step_count += 1
        stats, host, loss_v, kind, judged = self._measure(step, loss)
        decision = rules.decide(
            kind,
            self.on_spike if kind == "spike" else self.on_nonfinite,
            self.consecutive_bad,
            self.rollbacks,
            rollback_after=self.rollback_after,
            max_rollbacks=self.max_rollbacks,
        )
        self.consecutive_bad = decision.consecutive_bad
        return self._carry_out(
            step, decision, stats, host, loss_v, kind, judged, apply=apply, batch=batch
        )

    def _measure(
        self, step: int, loss: Tensor | float | None
    ) -> tuple[GradStats, HostGradStats, float | None, str, dict[str, Any]]:
        """Measure and classify the step, with one host sync.

        Returns ``(stats, host stats, loss, kind, judged)``: the kind taken before
        clipping (``ok``, ``nonfinite``, ``spike`` or ``amp_skip``; the spike and loss
        rules see the step here, once), and what the rules said for the record (their
        thresholds in force, and what flagged the step).
        """
        keep = self.clipper is not None
        stats, loss_t, found_inf = self._gather(step, loss, keep, self._reads_max_abs(step))
        device = stats.total_norm.device
        extras = [loss_t] + ([found_inf.to(device)] if found_inf is not None else [])
        host, values = stats.host(*extras)  # the step's one host sync
        if not stats.measured_max and not math.isfinite(host.total_norm):
            # A finite total norm proves every entry finite, so max |g| is read only now:
            # an inf norm may be NaN/inf entries or a float32 overflow of finite ones.
            stats, loss_t, found_inf = self._gather(step, loss, keep, max_abs=True)
            extras = [loss_t] + ([found_inf.to(device)] if found_inf is not None else [])
            host, values = stats.host(*extras)
        loss_v = None if loss is None else values[0]
        loss_finite = loss_v is None or math.isfinite(loss_v)
        # The scaler finding inf/NaN in the gradients of a *finite* loss is AMP's normal
        # scale search; a non-finite loss is a fault whatever the scale.
        amp_skip = found_inf is not None and values[1] > 0 and loss_finite
        grad_finite = host.nonfinite_count == 0
        if grad_finite and not math.isfinite(host.total_norm):
            # Every entry finite but the norm overflowed (float32 entries > ~1.8e19, or
            # a float16 norm > 65504): measure it in float64 (rare), so that the rules
            # judge and the clipper clips the true norm.
            host = without_overflow(self._named, host, self.norm_type)
        spike = False
        judged: dict[str, Any] = {}
        # (The scaler's own skip is AMP's scale search, not a fault: nothing flagged it.)
        flagged_by = None if (grad_finite and loss_finite) or amp_skip else "nonfinite"
        if grad_finite and loss_finite and not amp_skip:
            # Still infinite (under torch.distributed a local float64 norm is not used):
            # certainly a spike, though no rule can judge an infinite norm.
            spike = not math.isfinite(host.total_norm)
            flagged_by = "overflow" if spike else None
            if self.spike_rule is not None:
                verdict = self.spike_rule.observe(host.total_norm)
                judged["spike_threshold"] = verdict.threshold
                if verdict.flagged:
                    spike, flagged_by = True, flagged_by or self.spike_rule.name
            if self.loss_rule is not None and loss_v is not None:
                verdict = self.loss_rule.observe(loss_v)
                judged["loss_threshold"] = verdict.threshold
                if verdict.flagged:
                    spike, flagged_by = True, flagged_by or f"loss:{self.loss_rule.name}"
        judged["flagged_by"] = flagged_by
        kind = classify(
            loss_finite=loss_finite,
            grad_finite=grad_finite,
            clipped=False,
            spike=spike,
            amp_skip=amp_skip,
        )
        return stats, host, loss_v, kind, judged

    def _carry_out(
        self,
        step: int,
        decision: Decision,
        stats: GradStats,
        host: HostGradStats,
        loss_v: float | None,
        kind: str,
        judged: dict[str, Any],
        *,
        apply: bool = True,
        batch: Any = None,
    ) -> StepRecord:
        """Do what ``decision`` says — step, skip, roll back or raise — and record it.

        With ``apply=False`` (:meth:`decide`) the optimizer and the scaler are left to the
        caller; ``batch`` is the step's batch identifier, for the record.
        """
        outcome = decision.outcome

        def record_of(action: str, clip: ClipResult | None = None) -> StepRecord:
            record = self._record(step, host, loss_v, clip, action, kind, judged=judged)
            if kind in ("nonfinite", "spike") and action != "step":
                self._recent_bad.append(record)
            return record

        if outcome == "amp_skip":
            # The scaler skips optimizer.step itself when it found inf/NaN and lowers
            # its scale: a normal AMP event, not a fault.
            if apply:
                take_step(self.optimizer, self.scaler)
            return self._emit(record_of("skip"), batch)
        if outcome != "step" and apply:
            withhold_step(self.scaler)
        if outcome == "raise":
            record = self._emit(record_of("skip"), batch)
            raise GuardError(
                f"step {step}: {kind} (grad_norm={host.total_norm:g}, loss={loss_v}); "
                f"the guard's policy for {kind} steps is 'raise', so the optimizer did not "
                f"step (error.record holds the measurements). To skip such steps instead, "
                f"pass on_{'spike' if kind == 'spike' else 'nonfinite'}='skip'.",
                record,
            )
        if outcome == "give_up":
            record = self._emit(record_of("skip"), batch)
            raise GuardError(self._give_up_message(step), record)
        if outcome == "skip":
            return self._emit(record_of("skip"), batch)
        if outcome == "rollback":
            record = record_of("rollback")  # before restoring: the LR the loop set for it
            record.extra["restored_step"] = self.rollback()
            return self._emit(record, batch)

        # Take the step (clean, or the "step" policy on a bad one).
        clip = self.clipper.clip_(self._named, stats, host) if self.clipper else None
        stats.grouped = None  # hold no references to this step's gradients
        if kind == "ok" and clip is not None and clip.clipped:
            kind = "clipped"
        before = None
        if apply and self.update_ratio_every and step % self.update_ratio_every == 0:
            before = [p.detach().clone() for p in self.model.parameters()]
        if apply:  # (decide(): the caller steps)
            take_step(self.optimizer, self.scaler)
        record = record_of("step", clip)
        if before is not None:
            record.update_ratio = self._update_ratio(before)
        if decision.healthy:
            self._healthy_since_snapshot += 1
            # Snapshot at the start of the next step, after the caller's scheduler.step()
            # and other end-of-iteration work, so the snapshot is a consistent state.
            self._snapshot_due = (
                self._snapshots_on and self._healthy_since_snapshot >= self.snapshot_every
            )
        return self._emit(record, batch)

    def _give_up_message(self, step: int) -> str:
        seen = "; ".join(
            f"step {r.step} {r.kind} (grad_norm={r.grad_norm:g}, loss={r.loss:g})"
            if r.loss is not None
            else f"step {r.step} {r.kind} (grad_norm={r.grad_norm:g})"
            for r in self._recent_bad
        )
        # (None: no rollback yet, or a restore= function that did not say)
        restored = self._restored_step
        to = "" if restored is None else f" to step {restored}"
        return (
            f"step {step}: {self.consecutive_bad} bad steps in a row after {self.rollbacks} "
            f"rollbacks{to} (max_rollbacks={self.max_rollbacks}); the last: "
            f"{seen}. Rolling back is not helping: the restored model meets the same kind "
            "of step again. Likely causes: (1) state your loop carries across batches "
            "outside the snapshot — an RNN's hidden state in truncated BPTT, an EMA "
            "teacher, a buffer — holds the NaN or the spike and brings it back after each "
            "rollback: reset or restore it when record.action != 'step', or pass such "
            "objects as state= (docs/guard/carried-state.md); (2) the same bad batches "
            "after each rollback: skip_batches=N moves past them; (3) a learning rate the "
            "restored point cannot take: lower it. The model and optimizer are as the last "
            "step taken left them; error.record holds this step's measurements."
        )

    @torch.no_grad()
    def _update_ratio(self, before: list[Tensor]) -> float:
        params = list(self.model.parameters())
        delta = torch.stack(
            [torch.linalg.vector_norm(p.detach() - b) for p, b in zip(params, before, strict=True)]
        )
        base = torch.stack([torch.linalg.vector_norm(b) for b in before])
        d, w = torch.stack([delta.norm().double(), base.norm().double()]).tolist()
        return d / w if w > 0 else math.inf

    def _record(
        self,
        step: int,
        host: HostGradStats,
        loss: float | None,
        clip: ClipResult | None,
        action: str,
        kind: str,
        device_values: tuple[float | None, float | None, float] | None = None,
        judged: dict[str, Any] | None = None,
    ) -> StepRecord:
        if device_values is not None:
            # The sync-free step copied them with the statistics: (lr, AMP scale, time).
            lr, scale, elapsed = device_values
        else:
            lr = first_lr(self.optimizer)
            scale = None
            if self.scaler is not None and self.scaler.is_enabled():
                scale = float(self.scaler.get_scale())
            elapsed = time.perf_counter() - self._t0
        return make_record(
            step,
            grad_norm=host.total_norm,
            max_abs=host.max_abs,
            nonfinite_count=host.nonfinite_count,
            loss=loss,
            clip_coef=clip.clip_coef if clip else None,
            grad_norm_clipped=clip.total_norm_clipped if clip else None,
            threshold=clip.threshold if clip else None,
            action=action,
            kind=kind,
            lr=lr,
            amp_scale=scale,
            layer_norms=host.layer_norms,
            run=self.run,
            time=elapsed,
            **(judged or {}),
        )

    def _emit(self, record: StepRecord, batch: Any = None) -> StepRecord:
        if batch is not None and (record.action != "step" or record.kind == "spike"):
            record.extra["batch"] = batch_id(batch)
        return emit(record, self.log, self.tensorboard, self.hooks)

    def close(self) -> None:
        """Write pending records; close the log and the TensorBoard writer if the guard
        opened them."""
        if self._sync_free is not None:
            self._sync_free.flush()
        if self._owns_log and self.log is not None:
            self.log.close()
        if self._owns_tensorboard and self.tensorboard is not None:
            self.tensorboard.close()  # flushes the events still queued

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
        if self._sync_free is not None:
            self._sync_free.flush()  # every decision so far has reached the counters
        state = {
            "step_count": self.step_count,
            "consecutive_bad": self.consecutive_bad,
            "rollbacks": self.rollbacks,
            "restored_step": self._restored_step,
            "skip_remaining": self._skip_remaining,
            "batches_seen": self._batches_seen,
            **self._rules_state(),
        }
        if snapshot and self._snapshots_on:
            in_memory = self.snapshot.path is None and self.snapshot._state is not None
            state["snapshot"] = {
                "step": self.snapshot.step,
                "state": plain_tree(self.snapshot._state) if in_memory else None,
                # When the next snapshot is due, counted from this one.
                "healthy_since": self._healthy_since_snapshot,
                "due": self._snapshot_due,
            }
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output (after loading model and optimizer)."""
        self.step_count = int(state["step_count"])
        self.consecutive_bad = int(state["consecutive_bad"])
        self.rollbacks = int(state["rollbacks"])
        restored = state.get("restored_step")  # (not in checkpoints of older versions)
        self._restored_step = None if restored is None else int(restored)
        self._skip_remaining = int(state["skip_remaining"])
        self._batches_seen = int(state.get("batches_seen", 0))
        snap = state.get("snapshot")
        if snap is not None and self._snapshots_on:
            if snap["state"] is not None:
                self.snapshot._state = unplain_tree(snap["state"])
            self.snapshot.step = snap["step"]
            self._healthy_since_snapshot = int(snap["healthy_since"])
            self._snapshot_due = bool(snap["due"])
        self._load_rules_state(state)


class Monitor(SpikeGuard):
    """Record every step and always take it: the guard's measurements without its policies.

    One :class:`~gradguard.records.StepRecord` per optimizer step — loss, learning rate,
    pre- and post-clip total norm, per-layer norms and max |g| every
    ``layer_norms_every`` steps (max |g| also on a step whose norm is not finite),
    non-finite count, update-to-weight ratio, the AMP scale and whether the
    scaler skipped, and the kind ``ok | clipped | nonfinite | spike | amp_skip``.
    Like the guard it calls ``scaler.unscale_`` before measuring or clipping.

    Takes the same arguments as :class:`SpikeGuard` except the policies (always
    ``"step"``) and rollback (never); per-layer norms and the update ratio default to
    every 10 steps.
    """

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, **kwargs: Any):
        for key in ("on_nonfinite", "on_spike", "rollback_after"):
            if key in kwargs:
                raise TypeError(f"Monitor does not take {key!r}; use SpikeGuard")
        kwargs.setdefault("layer_norms_every", 10)
        kwargs.setdefault("update_ratio_every", 10)
        super().__init__(
            model, optimizer, on_nonfinite="step", on_spike="step", rollback_after=None, **kwargs
        )
