"""The distributed reduction: statistics, loss and AMP flags made the same on every rank.

Under DDP the gradients are replicated: a fault on one rank (after the all-reduce) must
be seen by all, so the statistics become their elementwise max over ranks. Under FSDP2
the gradients are DTensor shards: ``‖g‖_p^p`` is additive over disjoint shards, so the
norms are summed over the shards' device mesh. Either way every rank then judges the
same numbers and takes the same decision — no rank skips alone. Every collective
gradguard issues is here.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor


def local_grad(grad: Tensor) -> Tensor:
    """Return the local shard of a DTensor gradient (FSDP2), or the gradient itself."""
    to_local = getattr(grad, "to_local", None)
    return to_local() if callable(to_local) and hasattr(grad, "placements") else grad


def is_sharded(grad: Tensor) -> bool:
    placements = getattr(grad, "placements", None)
    return placements is not None and any(pl.is_shard() for pl in placements)


def shard_group(grads: list[Any]) -> Any:
    """Return the process group of the device mesh the DTensor ``grads`` are sharded on.

    FSDP2 shards live on a 1-D device mesh: its group is the one to reduce over.
    """
    mesh = next(g.device_mesh for g in grads if getattr(g, "device_mesh", None) is not None)
    return mesh.get_group()


def mean_over_ranks(t: Tensor, group: Any) -> Tensor:
    """Return the mean of the 0-d ``t`` over the ranks of ``group`` (``t`` is not changed).

    A NaN on any rank makes the mean NaN on all.
    """
    import torch.distributed as dist

    t = t.clone()  # all_reduce works in place: never on the caller's tensor
    dist.all_reduce(t, op=dist.ReduceOp.SUM, group=group)
    t /= dist.get_world_size(group)
    return t


def any_over_ranks(total: Tensor, flags: list[Tensor], group: Any) -> Tensor:
    """Make the AMP scaler's found-inf ``flags`` the same on every rank: set if set on any.

    Gradients that differ between ranks (a fault after DDP's all-reduce) would let one
    rank's scaler skip while another's steps: every rank's scaler gets the global
    verdict, so all skip (and back off) together.

    Args:
      total: this rank's sum of ``flags`` (0-d float64), reduced in place to the max.
      flags: the scaler's per-device found-inf tensors, overwritten with the verdict.
      group: the process group.

    Returns:
      ``total``, reduced.
    """
    import torch.distributed as dist

    dist.all_reduce(total, op=dist.ReduceOp.MAX, group=group)
    for f in flags:
        f.copy_((total > 0).to(device=f.device, dtype=f.dtype))
    return total


def reduce_stats(
    param_norms: Tensor,
    max_abs: Tensor,
    bad: Tensor,
    p: float,
    sharded: bool,
    grads: list[Any],
    process_group: Any,
) -> tuple[Tensor, Tensor, Tensor]:
    """Make the per-parameter statistics global: identical on every rank afterwards.

    Args:
      param_norms, max_abs, bad: this rank's per-parameter norms, max |g| and
        non-finite flags (:class:`~gradguard.torch.GradStats`).
      p: the norm's order.
      sharded: the gradients are DTensor shards (FSDP2): norms are combined as
        ``(Σ_ranks ‖shard‖_p^p)^(1/p)`` (the max for ``p = inf``) over the shards' mesh;
        otherwise they are replicated (DDP) and reduced by their max over ranks.
      grads: the (DTensor) gradients, to find the mesh; process_group: the DDP group.

    Returns:
      ``(param_norms, max_abs, bad)``, reduced.
    """
    import torch.distributed as dist

    group = shard_group(grads) if sharded else process_group
    n = param_norms.numel()
    dtype = torch.float64
    # NaN is not ordered, so a MAX reduction could drop it: carry "is NaN" as flags.
    parts = [
        torch.nan_to_num(max_abs.to(dtype), nan=math.inf).reshape(1),
        torch.isnan(max_abs).to(dtype).reshape(1),
        bad.to(dtype),
        torch.isnan(param_norms).to(dtype),
    ]
    additive = sharded and not math.isinf(p)
    if additive:
        # ‖g‖_p^p is additive over disjoint shards.
        sums = torch.nan_to_num(param_norms.to(dtype), nan=0.0).pow(p)
        dist.all_reduce(sums, op=dist.ReduceOp.SUM, group=group)
        norms = sums.pow(1.0 / p)
    else:
        # Replicated gradients (DDP), or the inf norm: the max over ranks.
        parts.append(torch.nan_to_num(param_norms.to(dtype), nan=math.inf))
    vec = torch.cat(parts)
    dist.all_reduce(vec, op=dist.ReduceOp.MAX, group=group)
    max_g = torch.where(vec[1] > 0, math.nan, vec[0])
    bad_g = vec[2 : 2 + n] > 0
    nan_norm = vec[2 + n : 2 + 2 * n] > 0
    if not additive:
        norms = vec[2 + 2 * n :]
    norms = torch.where(nan_norm, math.nan, norms).to(param_norms.dtype)
    return norms, max_g.to(max_abs.dtype), bad_g
