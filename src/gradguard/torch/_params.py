"""Normalising the ``parameters`` argument the way ``torch.nn.utils`` accepts it, plus names.

Every gradguard.torch function accepts as ``parameters`` what torch.nn.utils accepts (a
tensor or an iterable of tensors), plus a module or ``named_parameters()`` pairs, which
also give the names the per-layer statistics need.
"""

from __future__ import annotations

import types
import warnings
from typing import Any

import torch
from torch import Tensor


def named_list(parameters: Any) -> tuple[list[Tensor], list[str] | None]:
    """Return the parameters as a list, and their names when the input carries them."""
    if isinstance(parameters, torch.nn.Module):
        pairs = list(parameters.named_parameters())
        return [p for _, p in pairs], [n for n, _ in pairs]
    if isinstance(parameters, Tensor):
        return [parameters], None
    is_generator = isinstance(parameters, types.GeneratorType)
    items = list(parameters)
    if is_generator and not items:
        warnings.warn(
            "`parameters` is an empty generator, no gradient clipping will occur.", stacklevel=3
        )
    if items and isinstance(items[0], tuple):
        return [p for _, p in items], [str(n) for n, _ in items]
    return items, None


def layer_of(name: str) -> str:
    """Return the module a parameter belongs to: ``"lstm.weight_ih_l0"`` → ``"lstm"``."""
    head, _, _ = name.rpartition(".")
    return head or name
