"""The snapshot store: the last good training state, kept for a rollback.

A snapshot holds everything a rollback must restore — model, optimizer, LR scheduler,
AMP grad scaler, the RNG states (Python, numpy, torch, CUDA) and the guard's learned
rules — in memory (cloned tensors) or on disk (written atomically).
"""

from __future__ import annotations

import copy
import os
import random
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

__all__ = ["Snapshot"]


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


def _clone_tree(obj: Any) -> Any:
    """Deep-copy a state dict, tensors cloned (so later in-place updates cannot alias it)."""
    if isinstance(obj, Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return {k: _clone_tree(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clone_tree(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_clone_tree(v) for v in obj)
    return copy.deepcopy(obj)


class Snapshot:
    """The last good state: model, optimizer, scheduler, scaler, RNG, guard rules.

    Kept in memory (cloned tensors), or on disk when ``path`` is given (written
    atomically: a temp file, then ``os.replace``, so a crash mid-save keeps the older
    snapshot).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = None if path is None else Path(path)
        self._state: dict[str, Any] | None = None
        self.step: int | None = None

    def save(self, state: dict[str, Any], step: int) -> None:
        """Store ``state`` (taken at optimizer step ``step``)."""
        cloned = _clone_tree(state)
        if self.path is None:
            self._state = cloned
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
            try:
                torch.save({"step": step, "state": cloned}, tmp)
                os.replace(tmp, self.path)
            finally:
                tmp.unlink(missing_ok=True)
        self.step = step

    def load(self) -> dict[str, Any]:
        """Return a fresh copy of the stored state (safe to load into live objects)."""
        if self.path is not None:
            data = torch.load(self.path, weights_only=False)
            return data["state"]
        if self._state is None:
            raise RuntimeError("no snapshot has been taken")
        return _clone_tree(self._state)


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
        state["scaler"] = scaler.state_dict()
    return state


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
        scaler.load_state_dict(state["scaler"])
    _set_rng_state(state["rng"])
