"""What a guard keeps: its rollback snapshot's contents, and its part of a checkpoint.

A **snapshot** (taken every ``snapshot_every`` healthy steps, restored by a rollback)
holds the model, the optimizer, the LR scheduler, the grad scaler, the RNG states, the
objects given as ``state=`` and what the guard's rules have learned. With ``sync=False``
the rules' part is the device's own tensors, copied like the model's — no host sync —
and the grad scaler's scale stays a tensor too.

A **checkpoint** (:meth:`SpikeGuard.state_dict`) holds plain data: the counters, the
rules' host state (with ``sync=False`` copied from the device first) and, on request, the
snapshot.

:class:`Guard` names what the guard's parts (this module, :mod:`~gradguard.torch._books`,
:mod:`~gradguard.torch._rerun`, :mod:`~gradguard.torch._run`) use of a
:class:`~gradguard.torch.SpikeGuard`, so they type it without importing the guard.
"""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, Protocol

from gradguard.records import StepRecord
from gradguard.rules import Policy, Rule
from gradguard.skiplist import SkipList
from gradguard.torch._snapshot import (
    Snapshot,
    StepStart,
    capture_state,
    plain_tree,
    restore_state,
    unplain_tree,
)

if TYPE_CHECKING:
    import torch

    from gradguard.torch._clippers import Clipper
    from gradguard.torch._step import Plan

__all__: list[str] = []  # internal: SpikeGuard's


class Mode(Protocol):
    """A guard's mode (:mod:`gradguard.torch._run`) as the books and checkpoints use it."""

    def flush(self) -> None: ...
    def load(self) -> None: ...
    def counters(self) -> None: ...
    def learned(self) -> dict[str, Any] | None: ...
    def store(self) -> None: ...
    def load_learned(self, state: dict[str, Any]) -> None: ...


class Guard(Protocol):
    """What the guard's parts use of a :class:`~gradguard.torch.SpikeGuard` (see there)."""

    # set up once
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: Any
    clipper: Clipper | None
    norm_type: float
    on_nonfinite: Policy
    on_spike: Policy
    spike_rule: Rule | None
    loss_rule: Rule | None
    rollback_after: int | None
    skip_batches: int
    snapshot_every: int
    max_rollbacks: int
    reset_moments: Literal["all", "spiked"] | None
    layer_norms_every: int
    update_ratio_every: int
    run: str | None
    plan: Plan
    sync: bool
    restore: Callable[[], Any] | None
    state_objects: dict[str, Any]
    snapshot: Snapshot
    rerun_rtol: float
    process_group: Any
    pipeline_group: Any
    log: Any
    tensorboard: Any
    hooks: list[Callable[[StepRecord], None]]
    _named: list[tuple[str, torch.nn.Parameter]]
    _distributed: bool
    _t0: float
    # the books
    step_count: int
    consecutive_bad: int
    rollbacks: int
    rerun_skips: list[Any]
    skip_steps: SkipList | None
    _skip_remaining: int
    _healthy_since_snapshot: int
    _batches_seen: int
    _snapshot_due: bool
    _found_snapshot: bool  # a snapshot file found at snapshot_path, not yet resumed from
    _header_written: bool
    _recent_bad: deque[StepRecord]
    _restored_step: int | None
    # a re-run's starting point (gradguard.torch._rerun)
    _rerun_off: str | None
    _rerun_said: bool
    _start: StepStart

    @property
    def _run(self) -> Mode: ...
    def header(self) -> dict[str, Any]: ...
    def flush(self) -> None: ...
    def rollback(self) -> int | None: ...


def snapshots_on(g: Guard) -> bool:
    """Whether the guard keeps snapshots (rollback on, no ``restore`` function)."""
    return g.rollback_after is not None and g.restore is None


def _learners(g: Guard) -> tuple[tuple[str, Any], ...]:
    return (("spike_rule", g.spike_rule), ("loss_rule", g.loss_rule), ("clipper", g.clipper))


def rules_state(g: Guard, *, host: bool = False) -> dict[str, Any]:
    """What the guard's rules and adaptive clipper have learned.

    With ``sync=False`` the device's tensors as they are (for a snapshot); ``host=True``
    writes them into the host rules first and returns those (for a checkpoint).
    """
    learned = None if host else g._run.learned()  # (None: the host rules are the guard's)
    if learned is not None:
        return {"device": learned}
    g._run.store()
    return {key: None if obj is None else obj.state_dict() for key, obj in _learners(g)}


def load_rules_state(g: Guard, state: dict[str, Any]) -> None:
    """Restore :func:`rules_state`'s output (either form)."""
    if "device" in state:
        g._run.load_learned(state["device"])
        return
    for key, obj in _learners(g):
        if obj is not None and state[key] is not None:
            obj.load_state_dict(state[key])
    g._run.load()


def snapshot_state(g: Guard) -> dict[str, Any]:
    """Everything a rollback restores (state dicts: the snapshot copies them)."""
    state = capture_state(g.model, g.optimizer, g.scheduler, g.scaler)
    state.update(rules_state(g))
    state["user"] = {name: obj.state_dict() for name, obj in g.state_objects.items()}
    return state


def restore_snapshot(g: Guard, state: dict[str, Any]) -> None:
    """Load :func:`snapshot_state`'s output back into the live objects."""
    restore_state(state, g.model, g.optimizer, g.scheduler, g.scaler)
    load_rules_state(g, state)
    for name, obj in g.state_objects.items():
        obj.load_state_dict(state["user"][name])


def first_snapshot(g: Guard) -> bool:
    """Take the guard's first snapshot, at its construction; return whether a snapshot
    file was found at ``snapshot_path`` instead.

    A snapshot only when a rollback would restore it: no copy otherwise. A file already
    at ``snapshot_path`` is kept until the guard's first step: it is the rollback snapshot
    of the checkpoint a resumed run loads (:meth:`SpikeGuard.load_state_dict`); a run that
    does not resume replaces it then, and says so (:func:`replace_found_snapshot`).
    """
    found = g.snapshot.path is not None and g.snapshot.path.exists()
    if snapshots_on(g) and not found:
        g.snapshot.save(snapshot_state(g), 0)
    return found


def take_snapshot(g: Guard) -> None:
    """:meth:`SpikeGuard.take_snapshot`: the current state becomes the last good one now."""
    g.snapshot.save(snapshot_state(g), g.step_count)
    g._healthy_since_snapshot = 0
    g._snapshot_due = False
    g._found_snapshot = False


def replace_found_snapshot(g: Guard) -> None:
    """Take the first snapshot over a file this guard found at ``snapshot_path`` and did
    not resume from (:meth:`SpikeGuard.load_state_dict`), saying so once."""
    from gradguard._catalog import default_lang, load_catalog

    path = g.snapshot.path
    message = load_catalog(default_lang()).get("guard.snapshot_replaced", path=path)
    warnings.warn(message, UserWarning, stacklevel=5)
    g.snapshot.save(snapshot_state(g), g.step_count)
    g._healthy_since_snapshot = 0


def drop_unfinished(g: Guard) -> None:
    """At :meth:`SpikeGuard.close`: drop a snapshot still staged after the flush.

    It belongs to a step that never finished (it raised): its ``NAME.pending`` file goes,
    and the next healthy step stages anew.
    """
    if g.snapshot.pending_step is None and g.snapshot.path is None:
        return
    if g.snapshot.pending_step is not None:
        g._healthy_since_snapshot = max(g._healthy_since_snapshot, g.snapshot_every - 1)
    g.snapshot.drop()


def checkpoint(g: Guard, snapshot: bool) -> dict[str, Any]:
    """:meth:`SpikeGuard.state_dict`: the counters, the rules and (if asked) the snapshot."""
    g.flush()  # every decision so far has reached the counters
    state = {
        "step_count": g.step_count,
        "consecutive_bad": g.consecutive_bad,
        "rollbacks": g.rollbacks,
        "restored_step": g._restored_step,
        "skip_remaining": g._skip_remaining,
        "batches_seen": g._batches_seen,
        "rerun_skips": list(g.rerun_skips),
        **rules_state(g, host=True),
    }
    if snapshot and snapshots_on(g):
        in_memory = g.snapshot.path is None and g.snapshot._state is not None
        staged = g.snapshot.staged_state()
        state["snapshot"] = {
            "step": g.snapshot.step,
            "state": plain_tree(g.snapshot._state) if in_memory else None,
            # When the next snapshot is due, counted from this one.
            "healthy_since": g._healthy_since_snapshot,
            "due": g._snapshot_due,
            # A snapshot staged and not yet judged (an AMP overflow step waits for the next
            # step's verdict; a step that raised): the resumed run judges it as this one would.
            "pending_step": g.snapshot.pending_step,
            "pending": None if staged is None else plain_tree(staged),
        }
    return state


def load_checkpoint(g: Guard, state: dict[str, Any]) -> None:
    """:meth:`SpikeGuard.load_state_dict`."""
    g.step_count = int(state["step_count"])
    g.consecutive_bad = int(state["consecutive_bad"])
    g.rollbacks = int(state["rollbacks"])
    restored = state.get("restored_step")  # (not in checkpoints of older versions)
    g._restored_step = None if restored is None else int(restored)
    g._skip_remaining = int(state["skip_remaining"])
    g._batches_seen = int(state.get("batches_seen", 0))
    g.rerun_skips = list(state.get("rerun_skips", []))  # (not in older checkpoints)
    snap = state.get("snapshot")
    if snap is not None and snapshots_on(g):
        g._found_snapshot = False  # a snapshot file found at snapshot_path: this one's
    if snap is None or not snapshots_on(g) or snap.get("pending_step") is None:
        g.snapshot.drop()  # (a staged snapshot, or its file, is of a run after the checkpoint)
    if snap is not None and snapshots_on(g):
        if snap["state"] is not None:
            g.snapshot._state = unplain_tree(snap["state"])
        g.snapshot.step = snap["step"]
        g._healthy_since_snapshot = int(snap["healthy_since"])
        g._snapshot_due = bool(snap["due"])
        pending = snap.get("pending_step")  # (not in checkpoints of older versions)
        if pending is not None:
            staged = snap.get("pending")
            if not g.snapshot.restage(None if staged is None else unplain_tree(staged), pending):
                # lost: the next healthy step calls for a new one, as after a bad verdict
                g._healthy_since_snapshot = max(g._healthy_since_snapshot, g.snapshot_every - 1)
    load_rules_state(g, state)


def header(g: Guard) -> dict[str, Any]:
    """:meth:`SpikeGuard.header`: the guard's rules (with their state) and policies."""

    def rule(r: Rule | None) -> dict[str, Any] | None:
        return None if r is None else {"name": r.name, "state": r.state_dict()}

    return {
        "spike_rule": rule(g.spike_rule),
        "loss_rule": rule(g.loss_rule),
        "clipper": None if g.clipper is None else g.clipper.name,
        "on_spike": g.on_spike,
        "on_nonfinite": g.on_nonfinite,
        "rollback_after": g.rollback_after,
        "max_rollbacks": g.max_rollbacks,
        "snapshot_every": g.snapshot_every,
        "skip_batches": g.skip_batches,
        "reset_moments": g.reset_moments,
        "norm_type": g.norm_type,
        # What a rollback restores the rules from: the guard's snapshot, or nothing
        # (a restore= function loads the run's own checkpoint; the rules go on).
        "rollback_restores": "snapshot" if g.restore is None else "function",
    }


def rollback(g: Guard) -> int | None:
    """:meth:`SpikeGuard.rollback`: restore the snapshot (or call ``restore``); count it."""
    restored: int | None
    if g.restore is not None:
        value = g.restore()  # the run's own checkpoint
        restored = value if isinstance(value, int) and not isinstance(value, bool) else None
    else:
        state = g.snapshot.load()  # read first: a bad file changes nothing
        restore_snapshot(g, state)
        restored = g.snapshot.step
        g.snapshot.drop()  # a snapshot staged since: later than the state restored
    g.optimizer.zero_grad(set_to_none=True)
    g.rollbacks += 1
    g._restored_step = restored
    g.consecutive_bad = 0
    g._skip_remaining = g.skip_batches
    g._run.counters()
    return restored
