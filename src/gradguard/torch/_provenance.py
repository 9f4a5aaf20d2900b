"""Batch provenance and skip lists: which batch a record names, which batches to skip.

A record of a step that was not taken (or was flagged as a spike) carries the
identifier of its batch (:func:`batch_id`), so ``gradguard replay LOG --skip-list``
can list what a restart should skip; :func:`listed` answers, for
:meth:`gradguard.torch.SpikeGuard.skip_batch`, whether a skip list names a batch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from gradguard.errors import InputError
from gradguard.skiplist import SkipList

__all__: list[str] = []  # private: SpikeGuard's helpers


def batch_id(batch: Any) -> Any:
    """Return a JSON-ready identifier of ``batch`` for the record.

    A number or a string as it is; a list or tuple of them as a list; a tensor of up to
    64 entries as a list of its values, a longer one as ``"sha256:…"`` of its bytes.

    Raises:
      InputError: ``batch`` is none of these.
    """
    if isinstance(batch, (int, float, str)):
        return batch
    if isinstance(batch, Tensor):
        t = batch.detach()
        if t.numel() <= 64:
            return t.reshape(-1).tolist()
        import hashlib

        data = t.cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        return "sha256:" + hashlib.sha256(data).hexdigest()
    if isinstance(batch, (list, tuple)) and all(isinstance(b, (int, float, str)) for b in batch):
        return list(batch)
    raise InputError(
        "batch",
        type(batch).__name__,
        "batch_id",
    )


def listed(skip_steps: SkipList, position: int, batch: Any = None) -> bool:
    """Return whether ``skip_steps`` names this batch.

    Args:
      skip_steps: the skip list.
      position: the batch's position in the data (``skip_batch``'s count of calls).
      batch: the batch's identifier source, as given to ``guard.step(loss, batch=...)``;
        ``None``: judge by ``position`` (the step) instead.
    """
    if batch is not None:
        return skip_steps.has_batch(batch_id(batch))
    return skip_steps.has_step(position)
