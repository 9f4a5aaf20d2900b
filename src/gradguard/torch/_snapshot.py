"""The snapshot store: the last good training state, kept for a rollback — in host memory
or on disk, never a second copy on the accelerator.

A snapshot holds everything a rollback must restore — model, optimizer, LR scheduler,
AMP grad scaler, the RNG states (Python, numpy, torch, CUDA) and the guard's learned
rules. Where its tensors live:

- ``"memory"``: host memory. Tensors of a model on an accelerator are copied into
  **pinned** host buffers without blocking (``copy_(non_blocking=True)``; the copies
  are waited for only when the snapshot is read), reused from one snapshot to the next;
- ``"disk"``: a file, written atomically (a temporary file, then ``os.replace``: a
  crash mid-save keeps the older snapshot) and read back with
  ``torch.load(weights_only=True)``, which unpickles tensors and plain containers and
  numbers only — never code. A file that is not such a snapshot (corrupted, or
  replaced by a pickle that would run code) raises :class:`SnapshotError` and the
  run's state is left as it was.

A new snapshot is *staged* before it replaces the last good one (:meth:`Snapshot.stage`):
the guard takes it at the start of a step, and the state at that moment is good only if
that step proves it — weights corrupted between two steps (a silent data corruption, a bad
in-place op) make the step bad. A healthy verdict commits it (:meth:`Snapshot.commit`); a
bad one drops it (:meth:`Snapshot.drop`), and a rollback restores the older, good one.

The cost per parameter is its bytes once more (4 for float32) per copy of the model
and of each optimizer state tensor (Adam: 3 × 4 bytes per float32 parameter); nothing on
the accelerator. In memory the store holds **two** copies: the last good snapshot and the
staged one (its buffers kept between snapshots and written again, so no new host memory
is allocated per snapshot). On disk it holds one file, and a second (``NAME.pending``)
from the start of the step that stages a snapshot to that step's verdict. Taking none at
all: the guard snapshots only when rollback is on, and a ``restore`` function (say, one
that loads the run's last ``torch.distributed.checkpoint`` save) replaces snapshots
altogether.

A re-run of a bad step starts from a lighter capture, taken at every step's start:
torch's generators (:func:`capture_rng`) and the model's buffers (:class:`Buffers`), kept
together by :class:`StepStart`.
"""

from __future__ import annotations

import copy
import os
import pickle
import random
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from gradguard.errors import CallError

__all__ = ["Snapshot", "SnapshotError"]


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    try:
        import numpy as np

        state["numpy"] = np.random.get_state()
    except ImportError:  # pragma: no cover - numpy is a core dependency
        pass
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "numpy" in state:
        import numpy as np

        np.random.set_state(state["numpy"])
    if "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


def capture_rng() -> dict[str, Any]:
    """The RNG states a re-run starts from: torch's CPU and CUDA generators.

    Those draw dropout's masks and every other random op of a forward pass. Python's and
    numpy's generators, which a forward pass seldom draws from and data pipelines do, are
    left alone: reading numpy's state costs ~50 µs, on every step a closure is given (a
    snapshot's RNG states include them). A model that draws from them can restore them
    in its closure.
    """
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Set torch's generators back to :func:`capture_rng`'s ``state``."""
    torch.set_rng_state(state["torch"])
    if "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


class Buffers:
    """The model's buffers as a step starts: a re-run starts from them again.

    A forward pass in training mode updates buffers the model keeps — BatchNorm's
    ``running_mean``, ``running_var`` and ``num_batches_tracked`` — so by the time the
    guard sees a bad step they hold the first run's update, and a re-run from there would
    apply it twice. :meth:`keep` copies every buffer (into the same copies from one step
    to the next: one ``torch._foreach_copy_``; buffers are small beside the parameters —
    BatchNorm keeps two numbers per channel), :meth:`restore` copies them back.

    The buffers are found once, by module and name (as the guard reads its parameters
    once): one a module replaces (``model.to(device)``) is read anew; one registered
    after the guard was built is not kept.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        self._slots = [(m, name) for m in model.modules() for name in m._buffers]
        self._live: list[Tensor] = []
        self._saved: list[Tensor] = []
        #: Whether the copies hold a step's start (``False``: nothing to restore).
        self.kept = False

    def keep(self) -> None:
        """Copy the buffers as they are now."""
        if not self._slots:
            self.kept = True
            return
        live = [t for m, n in self._slots if (t := m._buffers.get(n)) is not None]
        same = len(live) == len(self._live) and all(
            a is b and a.shape == c.shape
            for a, b, c in zip(live, self._live, self._saved, strict=True)
        )
        with torch.no_grad():
            if same:
                torch._foreach_copy_(self._saved, live)
            else:
                self._live, self._saved = live, [t.detach().clone() for t in live]
        self.kept = True

    def restore(self) -> None:
        """Copy the kept buffers back into the model (each where it was kept from)."""
        if not self.kept or not self._live:
            return
        with torch.no_grad():
            torch._foreach_copy_(self._live, self._saved)

    def drop(self) -> None:
        """Forget the copies' contents (a step without a closure: nothing to re-run)."""
        self.kept = False


class StepStart:
    """Where a re-run of a step starts: torch's RNG states and the model's buffers as they
    were at the step's start (:meth:`keep`), and whether the guard made the first run."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.buffers = Buffers(model)
        self.rng: dict[str, Any] | None = None  # (None: nothing to start a re-run from)
        self.by_guard = False
        self.keep()

    def keep(self) -> None:
        """Take the RNG states and the buffers as they are now."""
        self.rng = capture_rng()
        self.buffers.keep()


class SnapshotError(CallError):
    """A snapshot file could not be read safely; nothing was restored (a :class:`CallError`
    with the problem ``snapshot_missing``, ``snapshot_invalid`` or ``snapshot_foreign``)."""


def plain_tree(obj: Any) -> Any:
    """Return ``obj`` with numpy arrays (numpy's RNG state) as plain lists, tagged."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a core dependency
        return obj
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": str(obj.dtype)}
    if isinstance(obj, dict):
        return {k: plain_tree(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(plain_tree(v) for v in obj)
    return obj


def unplain_tree(obj: Any) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {"__ndarray__", "dtype"}:
            import numpy as np

            return np.asarray(obj["__ndarray__"], dtype=obj["dtype"])
        return {k: unplain_tree(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(unplain_tree(v) for v in obj)
    return obj


def host_copy(obj: Any, reuse: Any = None, events: list[Any] | None = None) -> Any:
    """Copy a state tree with every tensor in host memory (pinned for accelerator tensors).

    Args:
      obj: a state dict (nested dicts, lists, tuples; tensors anywhere).
      reuse: the previous copy of the same tree: its buffers are written again when the
        shapes and dtypes match (no new pinned allocation per snapshot).
      events: where to append a CUDA event per device, recorded after its copies.

    A tensor on ``meta`` has no values: it gets an uninitialised host tensor of its shape.
    """
    if isinstance(obj, Tensor):
        t = obj.detach()
        old = reuse if isinstance(reuse, Tensor) else None
        fits = (
            old is not None
            and old.shape == t.shape
            and old.dtype == t.dtype
            and old.device.type == "cpu"
        )
        if t.device.type == "cpu":
            if fits:
                assert old is not None
                return old.copy_(t)
            return t.clone()
        if fits:
            assert old is not None
            buf = old
        else:
            pin = t.device.type == "cuda"
            buf = torch.empty(t.shape, dtype=t.dtype, device="cpu", pin_memory=pin)
        if t.is_meta:
            return buf
        buf.copy_(t, non_blocking=True)
        if events is not None and t.device.type == "cuda":
            event = torch.cuda.Event()
            event.record(torch.cuda.current_stream(t.device))
            events.append(event)
        return buf
    if isinstance(obj, dict):
        prev = reuse if isinstance(reuse, dict) else {}
        return {k: host_copy(v, prev.get(k), events) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        prev_seq = reuse if isinstance(reuse, (list, tuple)) and len(reuse) == len(obj) else None
        items = [
            host_copy(v, None if prev_seq is None else prev_seq[i], events)
            for i, v in enumerate(obj)
        ]
        return type(obj)(items)
    return copy.deepcopy(obj)


def _clone(obj: Any) -> Any:
    if isinstance(obj, Tensor):
        return obj.clone()
    if isinstance(obj, dict):
        return {k: _clone(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_clone(v) for v in obj)
    return copy.deepcopy(obj)


class Snapshot:
    """The last good state, in host memory or in a file (never on the accelerator).

    Args:
      path: keep the snapshot in this file instead of in memory.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = None if path is None else Path(path)
        self._state: dict[str, Any] | None = None
        self._events: list[Any] = []
        self.step: int | None = None
        #: The step of the staged snapshot waiting for its step's verdict (``None``: none).
        self.pending_step: int | None = None
        self._pending: dict[str, Any] | None = None  # its state (in memory)
        self._pending_events: list[Any] = []
        self._spare: dict[str, Any] | None = None  # buffers the next staged copy reuses

    @property
    def where(self) -> str:
        """``"memory"`` or ``"disk"``."""
        return "memory" if self.path is None else "disk"

    @property
    def _pending_path(self) -> Path:
        assert self.path is not None
        return self.path.with_name(self.path.name + ".pending")

    def _write(self, state: dict[str, Any], step: int, path: Path) -> None:
        events: list[Any] = []
        cpu = host_copy(state, None, events)
        for e in events:
            e.synchronize()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            torch.save({"gradguard_snapshot": 1, "step": step, "state": plain_tree(cpu)}, tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def save(self, state: dict[str, Any], step: int) -> None:
        """Store ``state`` (taken at optimizer step ``step``) as the snapshot, now."""
        if self.pending_step is not None:
            self.drop()  # (a staged snapshot is older than this one)
        if self.path is None:
            events: list[Any] = []
            self._state = host_copy(state, self._state, events)
            self._events = events
        else:
            self._write(state, step, self.path)
        self.step = step

    def stage(self, state: dict[str, Any], step: int) -> None:
        """Copy ``state`` (taken at the start of step ``step``) aside, keeping the snapshot.

        :meth:`commit` makes it the snapshot once step ``step`` is judged healthy;
        :meth:`drop` forgets it. A snapshot staged earlier and not yet judged is dropped.
        """
        self.drop()
        if self.path is None:
            events: list[Any] = []
            self._pending = host_copy(state, self._spare, events)
            self._spare = None
            self._pending_events = events
        else:
            self._write(state, step, self._pending_path)
        self.pending_step = step

    def commit(self) -> None:
        """Make the staged snapshot the snapshot (its step was healthy); the older one goes."""
        if self.pending_step is None:
            return
        if self.path is None:
            self._spare, self._state = self._state, self._pending
            self._events, self._pending = self._pending_events, None
            self._pending_events = []
        else:
            os.replace(self._pending_path, self.path)
        self.step, self.pending_step = self.pending_step, None

    def drop(self) -> None:
        """Forget the staged snapshot, if any (its step was bad, or a rollback came first).

        On disk, a ``NAME.pending`` file is removed even when this object staged none: it
        is left by a run that stopped mid-step, and no checkpoint refers to it.
        """
        if self.path is not None:
            self._pending_path.unlink(missing_ok=True)
        elif self.pending_step is not None:
            self._spare, self._pending, self._pending_events = self._pending, None, []
        self.pending_step = None

    def staged_state(self) -> dict[str, Any] | None:
        """The staged snapshot's state in host memory (``None``: none, or it is on disk)."""
        if self.path is not None or self._pending is None:
            return None
        for e in self._pending_events:
            e.synchronize()
        return self._pending

    def restage(self, state: dict[str, Any] | None, step: int) -> bool:
        """Take back a staged snapshot from a checkpoint: ``state`` (in memory), or on disk
        the ``NAME.pending`` file a checkpoint refers to by its step. Return whether it was
        there (a file removed since, or another step's, is not)."""
        if self.path is None:
            if state is None:
                return False
            self._pending, self._pending_events = state, []
        else:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    data = torch.load(self._pending_path, weights_only=True, map_location="cpu")
            except Exception:  # missing, unreadable or foreign: nothing to take back
                self.drop()
                return False
            if not (isinstance(data, dict) and data.get("step") == step):
                self.drop()
                return False
        self.pending_step = step
        return True

    def load(self) -> dict[str, Any]:
        """Return a fresh copy of the stored state (safe to load into live objects).

        Raises:
          SnapshotError: the file is missing, corrupted or not a gradguard snapshot
            (including a pickle that would run code: it is refused, not executed).
          RuntimeError: no snapshot has been taken.
        """
        if self.path is not None:
            return self._load_file(self.path)
        if self._state is None:
            raise CallError("no_snapshot")
        for e in self._events:
            e.synchronize()  # the non-blocking copies are complete
        return _clone(self._state)

    @staticmethod
    def _load_file(path: Path) -> dict[str, Any]:
        try:
            # weights_only: tensors, dicts, lists, tuples, numbers, strings, None — the
            # types a snapshot holds (numpy's RNG state is stored as plain lists).
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch's notes on foreign pickle protocols
                data = torch.load(path, weights_only=True, map_location="cpu")
        except FileNotFoundError:
            raise SnapshotError("snapshot_missing", path=path) from None
        except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise SnapshotError("snapshot_invalid", path=path, reason=first) from None
        if not (isinstance(data, dict) and data.get("gradguard_snapshot") == 1):
            raise SnapshotError("snapshot_foreign", path=path)
        return unplain_tree(data["state"])


def capture_state(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, scaler: Any
) -> dict[str, Any]:
    """Return the training state a snapshot keeps (state dicts, not copies: see save)."""
    state: dict[str, Any] = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": _rng_state(),
    }
    if scheduler is not None:
        state["scheduler"] = scheduler.state_dict()
    if scaler is not None:
        state["scaler"] = _scaler_state(scaler)
    return state


def _scaler_state(scaler: Any) -> dict[str, Any]:
    """The grad scaler's state, its scale and growth count as the tensors they are.

    ``GradScaler.state_dict()`` reads both on the host (a sync on a GPU); a snapshot copies
    the tensors without one.
    """
    if not scaler.is_enabled() or scaler._scale is None:
        return dict(scaler.state_dict())
    return {
        "scale": scaler._scale,
        "growth_factor": scaler._growth_factor,
        "backoff_factor": scaler._backoff_factor,
        "growth_interval": scaler._growth_interval,
        "_growth_tracker": scaler._growth_tracker,
    }


def _load_scaler_state(scaler: Any, state: dict[str, Any]) -> None:
    if not isinstance(state.get("scale"), Tensor):
        scaler.load_state_dict(state)
        return
    if scaler._scale is None:  # a scaler not used yet: its own loader, with numbers
        numbers = {"scale": float(state["scale"]), "_growth_tracker": int(state["_growth_tracker"])}
        scaler.load_state_dict({**state, **numbers})
        return
    scaler._scale.copy_(state["scale"])
    scaler._growth_tracker.copy_(state["_growth_tracker"])
    scaler._growth_factor = state["growth_factor"]
    scaler._backoff_factor = state["backoff_factor"]
    scaler._growth_interval = state["growth_interval"]


def restore_state(
    state: dict[str, Any],
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    scaler: Any,
) -> None:
    """Load :func:`capture_state`'s output back into the live objects."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and "scheduler" in state:
        scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and "scaler" in state:
        _load_scaler_state(scaler, state["scaler"])
    _set_rng_state(state["rng"])
