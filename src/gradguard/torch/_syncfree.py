"""The guard's step with no host sync: statistics, rules, decision and skip on the device.

``SpikeGuard(..., sync=False)`` runs :meth:`SyncFreeStep.step` in place of its host
step. The same decision as the host step (:mod:`gradguard.torch._guard`), as tensors:

1. :func:`grad_stats` (and, under torch.distributed, its reduction) on the device;
2. the spike and loss rules as device twins (:mod:`gradguard.torch._device_rules`),
   judging only steps with a finite loss and gradients, as on the host;
3. the kind (``ok | clipped | nonfinite | spike | amp_skip``) and the action
   (``step | skip | rollback``) as codes; consecutive bad steps as a device counter;
4. clipping by a device coefficient (``torch.clamp``-style, as
   ``torch.nn.utils.clip_grads_with_norm_`` does): the gradients are multiplied by 1
   when nothing is clipped, never by NaN;
5. the skip reaches the optimizer through ``found_inf``, the route ``GradScaler`` uses
   for optimizers that support it (``fused=True`` Adam, AdamW, SGD, Adagrad): their
   fused kernels then leave parameters, moments and the step counter untouched. With a
   ``GradScaler`` the guard's verdict is OR-ed into the scaler's own ``found_inf`` (a
   step is skipped if either says so), and the scale is kept as it was when only the
   guard skipped (the host step's ``scaler.update(scale)``);
6. the step's record is gathered into one small tensor, copied to the host without
   blocking (pinned memory on CUDA) and written when the copy is done — on the CPU at
   once, on a GPU a step or a few later. Rollbacks, ``max_rollbacks`` and snapshots are
   acted on when their record arrives.

Optimizers without a ``found_inf`` route (plain Adam, SGD without ``fused=True``, …)
cost one host sync per step to withhold ``step()``; the guard warns once.
"""

from __future__ import annotations

import math
import time
import warnings
from collections import deque
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from gradguard.errors import InputError
from gradguard.records import ACTIONS, KINDS, StepRecord  # the device codes index these
from gradguard.rules import RULES, decide
from gradguard.torch._adagc import AdaGC
from gradguard.torch._clip import EPS
from gradguard.torch._clippers import AutoClip, ClipResult, NormClipper, ZClip
from gradguard.torch._effects import fused_skip_supported, step_on_device
from gradguard.torch._guard_args import clipper_names
from gradguard.torch._stats import HostGradStats

if TYPE_CHECKING:
    from gradguard.torch._guard import SpikeGuard

__all__: list[str] = []  # internal: SpikeGuard(sync=False) runs it

F64 = torch.float64
_HEAD = 13  # fixed fields of the record vector, before the layer norms


class _Form:
    """A rule's device form with its state: judge a value, keep what it learned where counted."""

    def __init__(self, rule: Any, device: torch.device) -> None:
        self.form = rule.device(rule, device)
        self.state = self.form.state()

    def observe(self, x: Tensor, count: Tensor) -> Any:
        judgement, new = self.form.judge(self.state, x)
        # (A form learns finite values only: which those are is its own arithmetic.)
        self.state = {k: torch.where(count, new[k], v) for k, v in self.state.items()}
        return judgement

    def store(self) -> None:
        self.form.store(self.state)


class SyncFreeStep:
    """The device-side step of one :class:`~gradguard.torch.SpikeGuard` (``sync=False``).

    Raises:
      InputError: a setting the device step cannot honour without a host sync.
    """

    def __init__(self, guard: SpikeGuard) -> None:
        for name in ("on_nonfinite", "on_spike"):
            if getattr(guard, name) == "raise":
                raise InputError(
                    name,
                    "raise",
                    "'skip' or 'step' with sync=False",
                    "Raising needs the step's numbers on the host before the next step; "
                    "use sync=True, or read the records (they arrive a step or a few later).",
                )
        if guard.update_ratio_every:
            raise InputError(
                "update_ratio_every",
                guard.update_ratio_every,
                "0 with sync=False (the ratio needs a copy of the parameters and a sync)",
            )
        clipper = guard.clipper
        if clipper is not None and not isinstance(clipper, (NormClipper, ZClip, AutoClip, AdaGC)):
            raise InputError(
                "clipper",
                type(clipper).__name__,
                "None, a number, " + ", ".join(clipper_names(sync_free=True)) + " with sync=False",
                "The others read their results on the host; use sync=True.",
            )
        if isinstance(clipper, AutoClip) and clipper.per_parameter:
            raise InputError(
                "clipper", "AutoClip(per_parameter=True)", "a global AutoClip with sync=False"
            )
        for name in ("spike_rule", "loss_rule"):
            rule = getattr(guard, name)
            if rule is not None and rule.device is None:
                raise InputError(
                    name,
                    type(rule).__name__,
                    "a rule of gradguard.rules with a device form ("
                    + ", ".join(r.__name__ for r in RULES.values() if r.device is not None)
                    + ") with sync=False",
                )
        self.guard = guard
        params = [p for _, p in guard._named]
        self.device = params[0].device if params else torch.device("cpu")
        self.fused = fused_skip_supported(guard.optimizer)
        if not self.fused:
            warnings.warn(
                f"SpikeGuard(sync=False): {type(guard.optimizer).__name__} without fused=True "
                "has no found_inf route to skip a step on the device, so each step costs one "
                "host sync to decide whether to call optimizer.step(). Use fused=True "
                "(Adam, AdamW, SGD, Adagrad) for a step with no host sync.",
                stacklevel=3,
            )
        self.pending: deque[tuple[int, Tensor, Any, dict[str, Any]]] = deque()
        self.load()

    # -- state ------------------------------------------------------------------------
    def load(self) -> None:
        """(Re)build the device state from the guard's host rules and counters."""
        g = self.guard
        dev = self.device
        self.spike = _Form(g.spike_rule, dev) if g.spike_rule is not None else None
        self.loss = _Form(g.loss_rule, dev) if g.loss_rule is not None else None
        self.clip_rule: _Form | None = None
        c = g.clipper
        if isinstance(c, (NormClipper, ZClip, AutoClip)):
            self.clip_rule = _Form(c.rule, dev)
        self.bad = torch.full((), g.consecutive_bad, dtype=torch.int64, device=dev)

    def store(self) -> None:
        """Write the device state into the guard's host rules (a copy; not per step)."""
        self.flush()
        for form in (self.spike, self.loss, self.clip_rule):
            if form is not None:
                form.store()

    def flush(self) -> None:
        """Write every pending record, waiting for their copies."""
        self._drain(block=True)

    # -- the step ---------------------------------------------------------------------
    def step(self, loss: Tensor | float | None, batch: Any = None) -> None:
        g = self.guard
        step = g.step_count
        g._write_header()  # before any of this run's records, which are written later
        if g._snapshot_due:
            g.take_snapshot()  # (the device rules' state goes in through _rules_state)
        g.step_count += 1
        # No max |g| pass (one read of every gradient less): a non-finite norm is the
        # fault signal, and an overflowed float32 norm is skipped as non-finite.
        stats, loss_t, found_inf = g._gather(step, loss, keep_groups=True, max_abs=False)
        device = stats.total_norm.device
        total = stats.total_norm.to(F64)
        count = stats.nonfinite_count
        grad_finite = count == 0
        loss_finite = (
            torch.isfinite(loss_t)
            if loss is not None
            else torch.ones((), dtype=torch.bool, device=device)
        )
        if found_inf is not None:
            amp = (found_inf.to(device) > 0) & loss_finite
        else:
            amp = torch.zeros((), dtype=torch.bool, device=device)
        judge = grad_finite & loss_finite & ~amp
        # Still infinite: certainly a spike, though no rule can judge an infinite norm
        # (the host step first re-measures an overflowed norm in float64; rare).
        spike = judge & ~torch.isfinite(total)
        # For the record, as the synced step writes it: the rules' thresholds in force
        # (NaN: none) and what flagged the step (an index into _FLAGGED_BY).
        by = torch.where(spike, 2, torch.where((loss_finite & grad_finite) | amp, 0, 1))
        nan = torch.full((), math.nan, dtype=F64, device=device)
        spike_threshold = loss_threshold = nan
        if self.spike is not None:
            verdict = self.spike.observe(total, judge)
            spike_threshold = torch.where(judge, verdict.threshold.to(F64), nan)
            flagged = verdict.flagged & judge
            by = torch.where(flagged & (by == 0), 3, by)
            spike = spike | flagged
        if self.loss is not None and loss is not None:
            verdict = self.loss.observe(loss_t, judge)
            loss_threshold = torch.where(judge, verdict.threshold.to(F64), nan)
            flagged = verdict.flagged & judge
            by = torch.where(flagged & (by == 0), 4, by)
            spike = spike | flagged
        nonfinite = ~(loss_finite & grad_finite) & ~amp
        spike = spike & ~nonfinite & ~amp
        skip_bad = torch.zeros((), dtype=torch.bool, device=device)
        if g.on_nonfinite == "skip":
            skip_bad = skip_bad | nonfinite
        if g.on_spike == "skip":
            skip_bad = skip_bad | spike
        take = ~amp & ~skip_bad
        bad = torch.where(skip_bad, self.bad + 1, self.bad)
        if g.rollback_after is not None:
            rollback = skip_bad & (bad >= g.rollback_after)
        else:
            rollback = torch.zeros((), dtype=torch.bool, device=device)
        coef, post, threshold, clipped = self._clip(stats, total, take, grad_finite)
        kind = torch.where(
            amp,
            4,
            torch.where(nonfinite, 2, torch.where(spike, 3, torch.where(clipped, 1, 0))),
        )
        healthy = take & (kind <= 1)
        self.bad = torch.where(healthy, 0, torch.where(rollback, 0, bad))
        action = torch.where(rollback, 2, torch.where(take, 0, 1))
        scale = step_on_device(g.optimizer, g.scaler, take, amp, self.fused)
        head = [
            total,
            stats.max_abs.to(F64),
            count.to(F64),
            loss_t.to(F64),
            coef.to(F64),
            post.to(F64),
            threshold.to(F64),
            kind.to(F64),
            action.to(F64),
            scale,
            spike_threshold,
            loss_threshold,
            by.to(F64),
        ]
        parts = [t.reshape(1) for t in head]
        if stats.layer_norms is not None:
            parts.append(stats.layer_norms.to(F64))
        self._enqueue(step, torch.cat(parts), stats.layer_names, loss is not None, batch)
        stats.grouped = None  # hold no references to this step's gradients
        self._drain(block=False)

    def _clip(
        self, stats: Any, total: Tensor, take: Tensor, grad_finite: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Clip on taken steps; return (coef, post-clip norm, threshold, clipped)."""
        c = self.guard.clipper
        nan = torch.full((), math.nan, dtype=F64, device=total.device)
        if c is None:
            return nan, total, nan, torch.zeros((), dtype=torch.bool, device=total.device)
        if isinstance(c, AdaGC):
            res = c.clip_device_(self.guard._named, stats, ok=take & grad_finite)
            return res.clip_coef, res.total_norm_clipped, res.threshold, res.clipped
        assert self.clip_rule is not None
        verdict = self.clip_rule.observe(total, take)
        threshold, clip_to = verdict.threshold, verdict.clip_to
        # torch's clip_grad_norm_ arithmetic, operation for operation, in the norm's own
        # dtype (float32 for float32 gradients), as the host-synced step does:
        # (1 / (‖g‖ + ε)) · c — what torch computes for c / (‖g‖ + ε) — capped at 1
        # (0 for a target of 0).
        native = stats.total_norm
        if native.dtype in (torch.float16, torch.bfloat16):
            # torch multiplies a half tensor by its Python threshold in float32 and rounds
            # once to the half type: the threshold itself is not rounded to it first.
            inverse = (native + EPS).reciprocal()
            ratio = (inverse.float() * clip_to.float()).to(native.dtype)
        else:
            if native.dtype not in (torch.float32, torch.float64):
                native = total
            ratio = (native + EPS).reciprocal() * clip_to.to(native.dtype)
        coef = torch.where(ratio >= 1.0, 1.0, ratio)
        valid = take & ~torch.isnan(clip_to) & torch.isfinite(total) & grad_finite
        coef = torch.where(valid, coef, 1.0)
        assert stats.grouped is not None
        for _, group, _ in stats.grouped:
            torch._foreach_mul_(group, coef.to(device=group[0].device, dtype=group[0].dtype))
        coef = coef.to(F64)
        return coef, total * coef, threshold, coef < 1

    # -- records ----------------------------------------------------------------------
    def _enqueue(
        self, step: int, vec: Tensor, layer_names: list[str] | None, has_loss: bool, batch: Any
    ) -> None:
        g = self.guard
        lr = g.optimizer.param_groups[0].get("lr") if g.optimizer.param_groups else None
        meta = {
            "lr": None if lr is None or isinstance(lr, Tensor) else float(lr),
            "layers": layer_names,
            "has_loss": has_loss,
            "batch": batch,
            "time": time.perf_counter() - g._t0,
        }
        if vec.device.type == "cuda":
            buf = torch.empty(vec.shape, dtype=vec.dtype, pin_memory=True)
            buf.copy_(vec, non_blocking=True)
            event: Any = torch.cuda.Event()
            event.record()
        else:
            buf, event = vec, None
        self.pending.append((step, buf, event, meta))

    def _drain(self, block: bool) -> None:
        while self.pending:
            step, buf, event, meta = self.pending[0]
            if event is not None:
                if block:
                    event.synchronize()
                elif not event.query():
                    return
            self.pending.popleft()
            self._write(step, buf.numpy().tolist(), meta)

    def _write(self, step: int, v: list[float], meta: dict[str, Any]) -> None:
        g = self.guard
        total, max_abs, count, loss, coef, post, threshold, kind_f, action_f, scale = v[:10]
        spike_threshold, loss_threshold, by_f = v[10:_HEAD]
        kind, action = KINDS[int(kind_f)], ACTIONS[int(action_f)]
        flagged_by = (None, "nonfinite", "overflow", None, None)[int(by_f)]
        if int(by_f) == 3 and g.spike_rule is not None:
            flagged_by = g.spike_rule.name
        elif int(by_f) == 4 and g.loss_rule is not None:
            flagged_by = f"loss:{g.loss_rule.name}"
        judged = {
            "spike_threshold": None if math.isnan(spike_threshold) else spike_threshold,
            "loss_threshold": None if math.isnan(loss_threshold) else loss_threshold,
            "flagged_by": flagged_by,
        }
        layers = None
        if meta["layers"] is not None:
            layers = dict(zip(meta["layers"], v[_HEAD:], strict=True))
        host = HostGradStats(total, max_abs, int(count), [], None, layers, g.norm_type)
        clip = None
        if g.clipper is not None and action == "step":
            clip = ClipResult(
                total, post, None if math.isnan(threshold) else threshold, coef, coef < 1.0
            )
        loss_v = loss if meta["has_loss"] else None
        record: StepRecord = g._record(
            step,
            host,
            loss_v,
            clip,
            "skip" if action == "rollback" else action,
            kind,
            device_values=(meta["lr"], None if math.isnan(scale) else scale, meta["time"]),
            judged=judged,
        )
        record.max_abs = None  # not measured: the sync-free step reads no extremes
        # The host's bookkeeping is rules.decide's, the one definition: the device took
        # the same decision for the step itself (the same-decisions test holds them equal).
        before = "ok" if kind == "clipped" else kind
        policy = g.on_spike if before == "spike" else g.on_nonfinite
        decision = decide(
            before,
            policy,
            g.consecutive_bad,
            g.rollbacks,
            rollback_after=g.rollback_after,
            max_rollbacks=g.max_rollbacks,
        )
        g.consecutive_bad = decision.consecutive_bad
        if kind in ("nonfinite", "spike") and action != "step":
            g._recent_bad.append(record)  # for the GuardError's account of what it saw
        expected = {"amp_skip": "skip", "give_up": "rollback"}.get(decision.outcome)
        if (expected or decision.outcome) != action:
            raise RuntimeError(
                f"step {step}: the device decided {action!r} but rules.decide gives "
                f"{decision.outcome!r} for a {kind} step (a gradguard bug: please report it)."
            )
        if decision.outcome == "give_up":
            g._emit(record, meta["batch"])
            from gradguard.torch._guard import GuardError

            # The same account as the synced step's: what it saw, and the likely causes
            # (carried state first).
            raise GuardError(g._give_up_message(step), record)
        if decision.outcome == "rollback":
            record.action = "rollback"
            record.extra["restored_step"] = g.rollback()
            self.load()  # the restored rules and counters, back on the device
        elif decision.healthy:
            g._healthy_since_snapshot += 1
            g._snapshot_due = g._snapshots_on and g._healthy_since_snapshot >= g.snapshot_every
        g._emit(record, meta["batch"])
