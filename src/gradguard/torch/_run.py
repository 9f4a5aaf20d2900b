"""The guard's two modes: read the step's numbers once (``sync=True``), or later (``sync=False``).

Both measure the same way (:func:`gather`), judge and clip with the one step function
(:mod:`gradguard.torch._step`), carry the decision out through :mod:`gradguard.torch._effects`
and hand the step's fields to the guard, which records them and keeps its books
(:func:`gradguard.torch._books.settle`). They differ in when the fields reach the host:

- :class:`HostRun` reads the statistics, the loss and AMP's ``found_inf`` in one host
  sync, then judges on host numbers and multiplies the gradients only when the clip
  coefficient is below 1 — on a small model, Python numbers cost less than kernels;
- :class:`DeviceRun` judges on 0-d device tensors, skips through ``found_inf`` and
  gathers the fields into one small tensor, copied to the host without blocking (pinned
  memory on CUDA) and recorded when the copy is done: at once on the CPU, a step or a
  few later on a GPU. Rollbacks, ``max_rollbacks`` and snapshots wait for the record.

What ``sync=False`` does not do, and why (each needs a number on the host before the
next step): the ``"raise"`` policies; ``ValueClipper``, ``AGC`` and per-parameter
``AutoClip``, which read their results on the host; ``update_ratio_every``; re-running a
bad step (``closure=``, :mod:`gradguard.torch._rerun`: the verdict comes first); and
telling a float32 norm that overflowed with finite entries from NaN/inf entries (that
needs max |g| on every step, a pass over every gradient): such a step is skipped as
non-finite.
"""

from __future__ import annotations

import math
import time
import warnings
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from gradguard._catalog import default_lang, load_catalog
from gradguard.errors import CallError, InputError
from gradguard.rules import OUTCOMES, RULES
from gradguard.torch import _rerun as rerun
from gradguard.torch._books import begin_step, settle
from gradguard.torch._clippers import RuleClipper, without_overflow
from gradguard.torch._effects import (
    amp_enabled,
    fused_skip_supported,
    step_on_device,
    take_step,
    withhold_step,
)
from gradguard.torch._record import first_lr, scalar_tensor
from gradguard.torch._stats import GradStats, HostGradStats, grad_stats
from gradguard.torch._step import (
    NOT_MEASURED,
    OUTCOME,
    DeviceLearner,
    DeviceOps,
    HostOps,
    Measured,
    clip_step,
    fields_from_vector,
    fields_of,
    judge_step,
    learn,
    update_clipped,
    vector_of,
)

if TYPE_CHECKING:
    from gradguard.torch._persist import Guard

__all__: list[str] = []  # internal: SpikeGuard runs them

F64 = torch.float64


def _unscale(g: Guard) -> Tensor | None:
    """Unscale AMP gradients (once) and return the scaler's found-inf flag (on the device)."""
    if not amp_enabled(g.scaler):
        return None
    from torch.amp.grad_scaler import OptState

    per_opt = g.scaler._per_optimizer_states[id(g.optimizer)]
    if per_opt["stage"] is OptState.STEPPED:
        raise CallError("scaler_stepped")
    if per_opt["stage"] is OptState.READY:
        g.scaler.unscale_(g.optimizer)
    found = per_opt["found_inf_per_device"]
    if not found:
        return torch.zeros(())
    flags = list(found.values())
    device = flags[0].device
    return torch.stack([f.to(device=device, dtype=F64) for f in flags]).sum()


def gather(
    g: Guard, step: int, loss: Tensor | float | None, max_abs: bool
) -> tuple[GradStats, Tensor, Tensor | None]:
    """Unscale (AMP), measure and reduce: ``(stats, loss, found_inf)``, on the device.

    Under torch.distributed the statistics, the loss (its mean over ranks) and AMP's
    ``found_inf`` (set if set on any rank) travel in one all-reduce; every rank's scaler
    then gets the global ``found_inf``, so all skip (and back off) together.
    """
    found_inf = _unscale(g)
    layers_due = g.layer_norms_every > 0 and step % g.layer_norms_every == 0
    device = g._named[0][1].device if g._named else torch.device("cpu")
    loss_t = scalar_tensor(loss, device, "loss")
    dist = g._distributed
    stats = grad_stats(
        g._named,
        g.norm_type,
        per_layer=layers_due,
        process_group=g.process_group if dist else None,
        keep_groups=g.clipper is not None,
        pipeline_group=g.pipeline_group if dist else None,
        extra_mean=loss_t.reshape(1) if dist else None,
        extra_any=found_inf.reshape(1) if dist and found_inf is not None else None,
        max_abs=max_abs,
    )
    if dist and stats.extra_mean is not None:
        loss_t = stats.extra_mean[0]
        if found_inf is not None and stats.extra_any is not None:
            found_inf = stats.extra_any[0]
            per_opt = g.scaler._per_optimizer_states[id(g.optimizer)]
            for f in per_opt["found_inf_per_device"].values():
                f.copy_((found_inf > 0).to(device=f.device, dtype=f.dtype))
    return stats, loss_t.to(stats.total_norm.device), found_inf


def reads_max_abs(g: Guard, step: int) -> bool:
    """Whether this step reads max |g|: for a value clipper, or with the layer norms.

    The norms alone decide every action of a norm-based guard, so max |g| (a second
    pass over the gradients) is recorded only every ``layer_norms_every`` steps.
    """
    if g.clipper is not None and g.clipper.reads_max_abs:
        return True
    return g.layer_norms_every > 0 and step % g.layer_norms_every == 0


@torch.no_grad()
def update_ratio(before: list[Tensor], params: Any) -> Tensor:
    """``‖Δθ‖ / ‖θ‖`` of the update from ``before`` to ``params``, a 0-d float64 tensor."""
    delta = torch.stack(
        [torch.linalg.vector_norm(p.detach() - b) for p, b in zip(params, before, strict=True)]
    )
    base = torch.stack([torch.linalg.vector_norm(b) for b in before])
    d, w = delta.norm().double(), base.norm().double()
    return torch.where(w > 0, d / w, math.inf)


def _sync_free(clipper: Any) -> bool:
    """Whether ``SpikeGuard(sync=False)`` runs ``clipper``: its rule is declared sync-free."""
    if getattr(clipper, "per_parameter", False):
        return False
    if type(clipper) is RuleClipper:  # the shared clipper: its rule's own device form
        return clipper.rule.device is not None
    names = {c.__name__ for c in type(clipper).__mro__}
    return any(r.clipper in names and r.sync_free for r in RULES.values())


def _named(clipper: Any) -> str:
    """The clipper as an error names it: its class, and the rule a ``RuleClipper`` applies
    (``RuleClipper(MyRule)``) — the rule in use, whatever the clipper."""
    if type(clipper) is RuleClipper:
        return f"RuleClipper({type(clipper.rule).__name__})"
    return type(clipper).__name__


class HostRun:
    """``sync=True``: one read of the step's numbers, then the step on host numbers."""

    def __init__(self, guard: Guard) -> None:
        self.g = guard

    def load(self) -> None:
        """Nothing to rebuild: the host rules are the guard's own."""

    def counters(self) -> None:
        """Nothing to copy: the guard's counters are the host step's."""

    def learned(self) -> None:
        """Nothing apart: what the rules learned is in the guard's own host rules."""

    def store(self) -> None:
        """Nothing to write back: the host rules are the guard's own."""

    def load_learned(self, state: dict[str, Any]) -> None:
        """Never called: this mode's snapshots hold the host rules' state dicts."""

    def measure(
        self, step: int, loss: Tensor | float | None
    ) -> tuple[GradStats, HostGradStats, Measured]:
        """The step's statistics, loss and found-inf, read in one host sync.

        A finite total norm proves every entry finite, so max |g| is read only when the
        norm is not (a second read, rare): an infinite norm may be NaN/inf entries or a
        float32 overflow of finite ones, which is then measured again in float64.
        """
        g = self.g
        stats, loss_t, found_inf = gather(g, step, loss, reads_max_abs(g, step))
        extras = [loss_t] + ([found_inf] if found_inf is not None else [])
        host, values = stats.host(*extras)  # the step's one host sync
        if not stats.measured_max and not math.isfinite(host.total_norm):
            stats, loss_t, found_inf = gather(g, step, loss, max_abs=True)
            extras = [loss_t] + ([found_inf] if found_inf is not None else [])
            host, values = stats.host(*extras)
        if host.nonfinite_count == 0 and not math.isfinite(host.total_norm):
            host = without_overflow(g._named, host, g.norm_type)
        m = Measured(
            grad_norm=host.total_norm,
            nonfinite_count=host.nonfinite_count,
            loss=values[0],
            found_inf=found_inf is not None and values[1] > 0,
            max_abs=host.max_abs,
            has_loss=loss is not None,
        )
        return stats, host, m

    def step(
        self,
        loss: Tensor | float | None,
        batch: Any,
        apply: bool,
        closure: Callable[[], Any] | None = None,
    ) -> Any:
        g = self.g
        step = begin_step(g)
        closure, loss = rerun.first_run(g, closure, loss)
        stats, host, m = self.measure(step, loss)
        j = judge_step(
            HostOps, g.plan, m, g.spike_rule, g.loss_rule, g.consecutive_bad, g.rollbacks
        )
        again = None
        if closure is not None:  # a bad step is run again on its batch before it is decided
            stats, host_taken, j, again = rerun.rerun_step(
                g, self.measure, step, closure, stats, host, m, j
            )
        else:
            host_taken = host
        learn(HostOps, j)
        clipped = None
        if g.clipper is not None:
            clipped = clip_step(
                HostOps, g.clipper, None, g._named, stats, host_taken, m, j.take, j.grad_finite
            )
        stats.grouped = None  # hold no references to this step's gradients
        ratio = None
        if apply:  # (decide(): the caller steps, or withholds, and the scaler is theirs)
            outcome = OUTCOMES[j.outcome]
            if outcome == "step" and g.update_ratio_every and step % g.update_ratio_every == 0:
                params = [p for _, p in g._named]
                before = [p.detach().clone() for p in params]
                take_step(g.optimizer, g.scaler)
                ratio = float(update_ratio(before, params))
            elif outcome in ("step", "amp_skip"):
                take_step(g.optimizer, g.scaler)  # (an amp_skip: the scaler skips it itself)
            else:
                withhold_step(g.scaler)
            if g.clipper is not None and g.clipper.side == "update":
                clipped = update_clipped(HostOps, g.clipper, m, outcome == "step")
        scale = float(g.scaler.get_scale()) if amp_enabled(g.scaler) else math.nan
        fields = fields_of(HostOps, m, j, clipped, scale, ratio)
        meta = {
            "has_loss": loss is not None,
            "layers": host.layer_norms,
            "lr": first_lr(g.optimizer),
            "time": time.perf_counter() - g._t0,
            "batch": batch,
            "rerun": again,
        }
        record = settle(g, step, fields, meta)
        rerun.end_step(g, closure)
        return record

    def flush(self) -> None:
        """Nothing is pending: each record is written at its step."""


class DeviceRun:
    """``sync=False``: the step on 0-d device tensors; its record read when it arrives.

    Raises:
      InputError: a setting the device step cannot honour without a host sync.
    """

    def __init__(self, guard: Guard) -> None:
        for name in ("on_nonfinite", "on_spike"):
            if getattr(guard, name) == "raise":
                raise InputError(
                    name,
                    "raise",
                    "sync_free_policy",
                    "raise_needs_sync",
                )
        if guard.update_ratio_every:
            raise InputError(
                "update_ratio_every",
                guard.update_ratio_every,
                "sync_free_ratio",
            )
        clipper = guard.clipper
        if clipper is not None and not _sync_free(clipper):
            from gradguard.torch._guard_args import clipper_names

            per_parameter = bool(getattr(clipper, "per_parameter", False))
            raise InputError(
                "clipper",
                _named(clipper) + ("(per_parameter=True)" if per_parameter else ""),
                "sync_free_clipper",
                "per_parameter_needs_sync" if per_parameter else "clipper_needs_sync",
                clippers=", ".join(clipper_names(sync_free=True)),
            )
        for name in ("spike_rule", "loss_rule"):
            r = getattr(guard, name)
            if r is not None and r.device is None:
                raise InputError(
                    name,
                    type(r).__name__,
                    "sync_free_rule",
                    rules=", ".join(c.__name__ for c in RULES.values() if c.device is not None),
                )
        self.g = guard
        params = [p for _, p in guard._named]
        self.device = params[0].device if params else torch.device("cpu")
        self.ops = DeviceOps(self.device)
        guard.plan.build_tables(self.device)
        self.fused = fused_skip_supported(guard.optimizer)
        if not self.fused:
            words = load_catalog(default_lang())
            optimizer = type(guard.optimizer).__name__
            warnings.warn(words.get("guard.sync_free_unfused", optimizer=optimizer), stacklevel=4)
        self.pending: deque[tuple[int, Tensor, Any, dict[str, Any]]] = deque()
        self.load()

    # -- the learned state, as tensors ------------------------------------------------
    def load(self) -> None:
        """(Re)build the device state from the guard's host rules and counters."""
        g, dev = self.g, self.device
        self.spike = DeviceLearner(g.spike_rule, dev) if g.spike_rule is not None else None
        self.loss = DeviceLearner(g.loss_rule, dev) if g.loss_rule is not None else None
        rule = getattr(g.clipper, "rule", None)
        self.clip = None  # a clipper without a rule of one norm on the device uses its own
        if rule is not None and rule.device is not None:
            self.clip = DeviceLearner(rule, dev)
        self.counters()

    def counters(self) -> None:
        """Take the guard's counters (bad steps in a row, rollbacks): after a rollback."""
        g, dev = self.g, self.device
        self.bad = torch.full((), g.consecutive_bad, dtype=torch.int64, device=dev)
        self.rollbacks = torch.full((), g.rollbacks, dtype=torch.int64, device=dev)

    def learned(self) -> dict[str, Any]:
        """What the rules have learned, as tensors (for a snapshot: no host sync)."""
        out: dict[str, Any] = {}
        for key in ("spike", "loss", "clip"):
            learner = getattr(self, key)
            if learner is not None:
                out[key] = learner.state
        if self.clip is None and self.g.clipper is not None:
            out["clipper"] = self.g.clipper.device_state()  # type: ignore[attr-defined]
        return out

    def load_learned(self, state: dict[str, Any]) -> None:
        """Put a snapshot's :meth:`learned` back on the device."""
        dev = self.device
        for key in ("spike", "loss", "clip"):
            learner = getattr(self, key)
            if learner is not None:
                learner.state = {k: v.to(dev) for k, v in state[key].items()}
        if "clipper" in state:
            self.g.clipper.load_device_state(state["clipper"])  # type: ignore[union-attr]

    def store(self) -> None:
        """Write the device state into the guard's host rules (copies: for checkpoints)."""
        self.flush()
        for learner in (self.spike, self.loss, self.clip):
            if learner is not None:
                learner.store()

    # -- the step ---------------------------------------------------------------------
    def measure(self, step: int, loss: Tensor | float | None) -> tuple[GradStats, Measured]:
        """The step's measurements, left on the device."""
        g = self.g
        max_abs = reads_max_abs(g, step)
        stats, loss_t, found_inf = gather(g, step, loss, max_abs)
        device = stats.total_norm.device
        if stats.reduced_count is not None:
            count = stats.reduced_count
        else:
            # A tensor counts as non-finite when its norm is, an overflow included: telling
            # the two apart needs max |g| on every step.
            count = (~torch.isfinite(stats.param_norms)).sum()
        found = (
            found_inf.to(device) > 0
            if found_inf is not None
            else torch.zeros((), dtype=torch.bool, device=device)
        )
        m = Measured(
            grad_norm=stats.total_norm.to(F64),
            nonfinite_count=count,
            loss=loss_t.to(F64),
            found_inf=found,
            max_abs=stats.max_abs.to(F64) if max_abs else NOT_MEASURED,
            has_loss=loss is not None,
        )
        return stats, m

    def step(
        self,
        loss: Tensor | float | None,
        batch: Any,
        apply: bool = True,
        closure: Callable[[], Any] | None = None,
    ) -> None:
        if closure is not None:
            raise InputError("closure", type(closure).__name__, "rerun_needs_sync")
        g = self.g
        step = begin_step(g)
        stats, m = self.measure(step, loss)
        j = judge_step(self.ops, g.plan, m, self.spike, self.loss, self.bad, self.rollbacks)
        learn(self.ops, j)
        clipped = None
        if g.clipper is not None:
            clipped = clip_step(
                self.ops, g.clipper, self.clip, g._named, stats, None, m, j.take, j.grad_finite
            )
        scale = step_on_device(g.optimizer, g.scaler, j.take, j.amp, self.fused)
        if g.clipper is not None and g.clipper.side == "update":
            clipped = update_clipped(self.ops, g.clipper, m, j.take)
        self.bad = j.consecutive_bad
        self.rollbacks = self.rollbacks + (j.outcome == OUTCOME["rollback"]).to(torch.int64)
        fields = fields_of(self.ops, m, j, clipped, scale, NOT_MEASURED)
        lr = g.optimizer.param_groups[0].get("lr") if g.optimizer.param_groups else None
        meta = {
            "has_loss": loss is not None,
            "layers": stats.layer_names,
            "lr": None if lr is None or isinstance(lr, Tensor) else float(lr),
            "time": time.perf_counter() - g._t0,
            "batch": batch,
        }
        self._enqueue(step, vector_of(fields, stats.layer_norms), meta)
        stats.grouped = None  # hold no references to this step's gradients
        self._drain(block=False)

    # -- the records, when they arrive ------------------------------------------------
    def _enqueue(self, step: int, vec: Tensor, meta: dict[str, Any]) -> None:
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
            fields, layers = fields_from_vector(buf.numpy().tolist())
            names = meta["layers"]
            meta["layers"] = None if names is None else dict(zip(names, layers, strict=True))
            settle(self.g, step, fields, meta)

    def flush(self) -> None:
        """Write every pending record, waiting for their copies."""
        self._drain(block=True)
