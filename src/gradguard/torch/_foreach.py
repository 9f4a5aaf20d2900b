"""The foreach plumbing shared by the statistics and the clipping (private).

Grouping tensors by (device, dtype) as ``torch.nn.utils`` does, choosing the foreach
kernels, flattening small tensors into one buffer, caching index tensors on the device,
and a cheaper ``no_grad``. Nothing here is public: :mod:`gradguard.torch` exports none
of it.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import Tensor
from torch._utils import _flatten_dense_tensors
from torch.utils._foreach_utils import (
    _device_has_foreach_support,
    _group_tensors_by_device_and_dtype,
    _has_foreach_support,
)

from gradguard.errors import InputError

F = TypeVar("F", bound=Callable[..., Any])


def no_grad(fn: F) -> F:
    """Run ``fn`` with autograd off, like ``@torch.no_grad()`` but cheaper per call.

    ``torch.no_grad()`` as a decorator builds a context object on every call, a cost a
    small model's guarded step notices (a few such calls per step); this sets the same
    grad mode directly.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        enabled = torch.is_grad_enabled()
        torch._C._set_grad_enabled(False)
        try:
            return fn(*args, **kwargs)
        finally:
            torch._C._set_grad_enabled(enabled)

    return wrapper  # type: ignore[return-value]


_FOREACH_DEVICES: dict[str, bool] = {}


def foreach_device(device: torch.device) -> bool:
    """Whether torch's foreach kernels run on ``device`` (torch's answer, kept per type)."""
    known = _FOREACH_DEVICES.get(device.type)
    if known is None:
        known = _FOREACH_DEVICES[device.type] = _device_has_foreach_support(device)
    return known


def use_foreach(tensors: list[Tensor], device: torch.device, foreach: bool | None) -> bool:
    """Whether to use the foreach kernels for ``tensors`` (``foreach=None``: where supported).

    Raises:
      RuntimeError: ``foreach=True`` on a device without foreach kernels (torch's message).
    """
    if foreach is None:
        return _has_foreach_support(tensors, device)
    if foreach and not _device_has_foreach_support(device):
        raise RuntimeError(
            f"foreach=True was passed, but can't use the foreach API on {device.type} tensors"
        )
    return bool(foreach)


_device_and_dtype = operator.attrgetter("device", "dtype")


def groups(tensors: list[Tensor]) -> list[tuple[torch.device, list[Tensor], list[int]]]:
    """Group ``tensors`` by (device, dtype), as torch does: ``(device, tensors, indices)``."""
    if tensors and len(set(map(_device_and_dtype, tensors))) == 1:
        # One group, the usual case: telling so costs less than torch's grouping.
        return [(tensors[0].device, tensors, list(range(len(tensors))))]
    grouped: Any = _group_tensors_by_device_and_dtype([tensors], with_indices=True)  # type: ignore[list-item]
    return [(device, list(ts), list(idx)) for (device, _), ([ts], idx) in grouped.items()]


def flat(tensors: list[Tensor]) -> Tensor:
    """Return ``tensors`` concatenated into one 1-D buffer (one tensor: itself)."""
    if len(tensors) == 1:
        return tensors[0]  # aminmax reads any shape
    if all(g.ndim == 1 for g in tensors):
        # 1-D tensors are concatenated as they are: torch's flatten makes a view per
        # tensor first, which cat alone does not need.
        return torch.cat(tensors)
    # Otherwise flatten in C++: a Python reshape per tensor costs more than the kernel.
    return _flatten_dense_tensors(tensors)


_INDEX_CACHE: dict[tuple[tuple[int, ...], torch.device], Tensor] = {}


def index_tensor(index: tuple[int, ...], device: torch.device) -> Tensor:
    """Return ``index`` as a long tensor on ``device``, built once per distinct index.

    A host-to-device copy of a Python list waits for the device (a sync on CUDA), so the
    same model's index tensors are made once and reused.
    """
    key = (index, device)
    cached = _INDEX_CACHE.get(key)
    if cached is None:
        if len(_INDEX_CACHE) > 64:  # many different models: keep the cache small
            _INDEX_CACHE.clear()
        cached = _INDEX_CACHE[key] = torch.tensor(index, dtype=torch.long, device=device)
    return cached


def check_dense(grads: list[Tensor]) -> None:
    """Raise a one-line :class:`InputError` if a gradient is sparse (called on failure only,
    so the hot path pays nothing for the check)."""
    for g in grads:
        if g.layout != torch.strided:
            raise InputError(
                "parameters",
                f"a {g.layout} gradient of shape {tuple(g.shape)}",
                "dense_gradients",
                "no_sparse",
            )
