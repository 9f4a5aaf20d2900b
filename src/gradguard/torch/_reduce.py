"""The distributed reduction: statistics, loss and AMP flags made the same on every rank.

Every rank must judge the same numbers and take the same decision — no rank skips alone.
Every collective gradguard issues is here. Which ranks hold which part of a gradient
decides how its norm is reduced:

- **Replicated** (DDP): a fault on one rank (after the all-reduce) must be seen by all,
  so the statistics become their elementwise **max** over ranks.
- **Sharded** (an FSDP2 shard dimension, a tensor-parallel ``Shard(d)``, HSDP's shard
  dimension): ``‖g‖_p^p`` is additive over the pieces, so the p-th powers are
  **summed** over exactly the mesh dimensions whose placement splits the tensor — and
  over no ``Replicate`` dimension, where every rank holds a full copy.
- **Pipeline stages** (a process group the caller names): each stage holds different
  parameters; the total norm sums every stage's p-th powers.
- The ∞-norm is a **max** over the pieces instead of a sum.

One all-reduce per step does it all (:func:`reduce_stats`): every rank writes
``‖local piece‖_p^p / r`` (``r``: how many ranks of the group hold that same piece) into
its stage's segment of one float64 vector, beside its non-finite flags, its max |g| in a
slot of its own and the extra values (the loss, AMP's ``found_inf``), and the vector is
summed over the group once. Replicas of a piece add up to exactly one copy of it, so the
sum over the group is the sum over the distinct pieces; NaN and inf propagate through a
sum, so a fault on any rank reaches every rank. For the ∞-norm, and for replicated
gradients, the same vector is reduced with ``MAX`` (NaN carried as a flag: it is not
ordered).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from gradguard.errors import InputError


def local_grad(grad: Tensor) -> Tensor:
    """Return the local shard of a DTensor gradient (FSDP2), or the gradient itself."""
    to_local = getattr(grad, "to_local", None)
    return to_local() if callable(to_local) and hasattr(grad, "placements") else grad


def is_sharded(grad: Tensor) -> bool:
    """Whether a DTensor gradient is split over some mesh dimension (not only replicated).

    FSDP2's strided shard under TP is not a ``Shard`` subclass (``is_shard()`` is False
    for it in torch 2.13): anything that is neither ``Replicate`` nor ``Partial`` splits.
    """
    placements = getattr(grad, "placements", None)
    return placements is not None and any(
        not (pl.is_replicate() or pl.is_partial()) for pl in placements
    )


@dataclass
class ReducedStats:
    """Statistics made global (identical on every rank of the group, except ``param_norms``
    and ``bad``, which are this rank's own parameters: its pipeline stage's).

    Attributes:
      param_norms: 1-d, each of this rank's parameters' global norm.
      bad: 1-d bool, whether that parameter's gradient holds NaN/inf on any rank.
      total_norm: 0-d, the norm of every parameter of every stage together.
      max_abs: 0-d, max |g| over every rank (NaN if any entry anywhere is NaN).
      nonfinite_count: 0-d int64, parameters (of every stage) with a NaN/inf gradient.
      extra_mean: the ``extra_mean`` values averaged over the group (NaN if any is NaN).
      extra_any: the ``extra_any`` values summed over the group (> 0: some rank set it).
    """

    param_norms: Tensor
    bad: Tensor
    total_norm: Tensor
    max_abs: Tensor
    nonfinite_count: Tensor
    extra_mean: Tensor
    extra_any: Tensor


def shard_counts(grads: list[Any]) -> tuple[int, ...]:
    """Return, per gradient, how many distinct pieces it is split into across its mesh.

    The product of the mesh sizes along the dimensions whose placement is a ``Shard``
    (FSDP2's ``Shard(0)``, its strided shard under TP, a TP ``Shard(d)``); 1 for a plain
    tensor or a fully replicated DTensor.

    Raises:
      InputError: a gradient is ``Partial`` (unreduced): its norm cannot be measured.
    """
    out = []
    for g in grads:
        placements = getattr(g, "placements", None)
        if placements is None:
            out.append(1)
            continue
        mesh = g.device_mesh
        n = 1
        for dim, placement in enumerate(placements):
            if placement.is_partial():
                raise InputError(
                    "parameters",
                    f"a gradient with placements {tuple(placements)}",
                    "shard_or_replicate",
                    "no_partial",
                )
            # Shard(d), and FSDP2's strided shard under TP (not a Shard subclass in torch
            # 2.13: is_shard() is False for it), split the entries; Replicate copies them.
            if not placement.is_replicate():
                n *= mesh.size(dim)
        out.append(n)
    return tuple(out)


_CACHE: dict[Any, Tensor] = {}


def _constant(values: tuple[float, ...], device: torch.device) -> Tensor:
    """Return ``values`` as a float64 tensor on ``device``, built once (a host-to-device
    copy of a Python list waits for the device: a sync on CUDA)."""
    key = ("f64", values, device)
    cached = _CACHE.get(key)
    if cached is None:
        if len(_CACHE) > 64:
            _CACHE.clear()
        cached = _CACHE[key] = torch.tensor(values, dtype=torch.float64, device=device)
    return cached


def _stage_sizes(pipeline_group: Any, n: int, device: torch.device) -> tuple[int, ...]:
    """Return every pipeline stage's parameter count (one all-gather, the first time only)."""
    import torch.distributed as dist

    key = ("stages", id(pipeline_group), n, device)
    cached = _CACHE.get(key)
    if cached is None:
        size = dist.get_world_size(pipeline_group)
        mine = torch.full((1,), n, dtype=torch.int64, device=device)
        gathered = [torch.empty_like(mine) for _ in range(size)]
        dist.all_gather(gathered, mine, group=pipeline_group)
        cached = _CACHE[key] = torch.cat(gathered).cpu()  # once per model: a sync is fine
    return tuple(int(x) for x in cached.tolist())


def _slot(value: Tensor, fill: float, me: int, world: int) -> Tensor:
    """One slot per rank of the group, filled with ``fill``, rank ``me``'s holding ``value``."""
    device = value.device
    return torch.cat(
        [
            torch.full((me,), fill, dtype=torch.float64, device=device),
            value.to(torch.float64).reshape(1),
            torch.full((world - me - 1,), fill, dtype=torch.float64, device=device),
        ]
    )


def reduce_stats(
    param_norms: Tensor,
    max_abs: Tensor,
    bad: Tensor,
    p: float,
    grads: list[Any],
    group: Any = None,
    pipeline_group: Any = None,
    extra_mean: Tensor | None = None,
    extra_any: Tensor | None = None,
) -> ReducedStats:
    """Reduce one step's local statistics over ``group`` in a single all-reduce.

    Args:
      param_norms: 1-d, the norms of this rank's local gradient pieces (parameter order).
      max_abs: 0-d, this rank's max |g| (NaN if any local entry is NaN).
      bad: 1-d bool, which local pieces hold NaN/inf.
      p: the norm's order (≥ 1 or inf).
      grads: the gradients themselves (DTensors tell their placements; plain tensors are
        replicas).
      group: the reduction group spanning every rank that holds any of the model (the
        default group when ``None``).
      pipeline_group: the group of this rank's pipeline peers (one rank per stage, the
        stages in group-rank order), or ``None`` without pipeline parallelism. Every
        stage must span the same number of ranks of ``group``.
      extra_mean: 1-d values to average over the group (e.g. the loss).
      extra_any: 1-d flags to OR over the group (e.g. AMP's ``found_inf``), summed.

    Returns:
      :class:`ReducedStats`.
    """
    import torch.distributed as dist

    if group is None:
        group = dist.group.WORLD
    device = param_norms.device
    f64 = torch.float64
    world = dist.get_world_size(group)
    me = dist.get_rank(group)
    n = param_norms.numel()
    empty = torch.zeros(0, dtype=f64, device=device)
    means = empty if extra_mean is None else extra_mean.to(device=device, dtype=f64).reshape(-1)
    anys = empty if extra_any is None else extra_any.to(device=device, dtype=f64).reshape(-1)
    shards = shard_counts(grads)
    if pipeline_group is not None:
        sizes = _stage_sizes(pipeline_group, n, device)
        stage = dist.get_rank(pipeline_group)
    else:
        sizes, stage = (n,), 0
    additive = pipeline_group is not None or any(s > 1 for s in shards)
    if not additive:
        return _reduce_replicated(param_norms, max_abs, bad, p, group, world, me, means, anys)
    offset = sum(sizes[:stage])
    total_n = sum(sizes)
    holders = world // len(sizes)  # ranks of the group that hold one stage's parameters

    def segment(local: Tensor, fill: float) -> Tensor:
        # This rank's stage's place in a vector laid out [stage 0 | stage 1 | …].
        before = torch.full((offset,), fill, dtype=f64, device=device)
        after = torch.full((total_n - offset - n,), fill, dtype=f64, device=device)
        return torch.cat([before, local.to(f64), after])

    def slot(value: Tensor, fill: float) -> Tensor:
        return _slot(value, fill, me, world)

    replicas = _constant(tuple(holders / s for s in shards), device)
    inf_norm = math.isinf(p)
    nm = means.numel()
    if not inf_norm:
        parts = [
            segment(param_norms.to(f64).pow(p) / replicas, 0.0),
            segment(bad.to(f64), 0.0),
            slot(max_abs, 0.0),  # NaN and inf survive the sum; 0 + x = x exactly
            means,
            anys,
        ]
        vec = torch.cat(parts)
        dist.all_reduce(vec, op=dist.ReduceOp.SUM, group=group)
        powers = vec[:total_n]
        norms_all = powers.pow(1.0 / p)
        total = powers.sum().pow(1.0 / p)
        bad_all = vec[total_n : 2 * total_n] > 0
        slots = vec[2 * total_n : 2 * total_n + world]
        max_g = torch.where(torch.isnan(slots).any(), math.nan, slots.max())
        mean = vec[2 * total_n + world : 2 * total_n + world + nm] / world
        any_ = vec[2 * total_n + world + nm :]
    else:
        # NaN is not ordered: a MAX could drop it, so it travels as a flag.
        parts = [
            segment(torch.nan_to_num(param_norms.to(f64), nan=math.inf), 0.0),
            segment(torch.isnan(param_norms).to(f64), 0.0),
            segment(bad.to(f64), 0.0),
            torch.nan_to_num(max_abs.to(f64), nan=math.inf).reshape(1),
            torch.isnan(max_abs).to(f64).reshape(1),
            torch.isnan(means).any().to(f64).reshape(1),
            torch.cat([slot(x, -math.inf) for x in torch.nan_to_num(means, nan=0.0)])
            if nm
            else empty,
            anys,
        ]
        vec = torch.cat(parts)
        dist.all_reduce(vec, op=dist.ReduceOp.MAX, group=group)
        nan_norm = vec[total_n : 2 * total_n] > 0
        norms_all = torch.where(nan_norm, math.nan, vec[:total_n])
        total = torch.where(nan_norm.any(), math.nan, vec[:total_n].max())
        bad_all = vec[2 * total_n : 3 * total_n] > 0
        k = 3 * total_n
        max_g = torch.where(vec[k + 1] > 0, math.nan, vec[k])
        mean = vec[k + 3 : k + 3 + nm * world].reshape(nm, world).sum(dim=1) / world
        mean = torch.where(vec[k + 2] > 0, math.nan, mean)
        any_ = vec[k + 3 + nm * world :]
    own = slice(offset, offset + n)
    return ReducedStats(
        param_norms=norms_all[own].to(param_norms.dtype),
        bad=bad_all[own],
        total_norm=total.to(param_norms.dtype),
        max_abs=max_g.to(max_abs.dtype),
        nonfinite_count=bad_all.sum(),
        extra_mean=mean,
        extra_any=any_,
    )


def _reduce_replicated(
    param_norms: Tensor,
    max_abs: Tensor,
    bad: Tensor,
    p: float,
    group: Any,
    world: int,
    me: int,
    means: Tensor,
    anys: Tensor,
) -> ReducedStats:
    """Replicas (DDP): the elementwise max over ranks, in one MAX all-reduce."""
    import torch.distributed as dist

    f64 = torch.float64
    n, nm = param_norms.numel(), means.numel()
    slots = [_slot(x, -math.inf, me, world) for x in torch.nan_to_num(means, nan=0.0)]
    vec = torch.cat(
        [
            torch.nan_to_num(max_abs.to(f64), nan=math.inf).reshape(1),
            torch.isnan(max_abs).to(f64).reshape(1),
            torch.isnan(means).any().to(f64).reshape(1),
            bad.to(f64),
            torch.isnan(param_norms).to(f64),
            torch.nan_to_num(param_norms.to(f64), nan=math.inf),
            *slots,
            anys,
        ]
    )
    dist.all_reduce(vec, op=dist.ReduceOp.MAX, group=group)
    max_g = torch.where(vec[1] > 0, math.nan, vec[0])
    bad_g = vec[3 : 3 + n] > 0
    norms = torch.where(vec[3 + n : 3 + 2 * n] > 0, math.nan, vec[3 + 2 * n : 3 + 3 * n])
    k = 3 + 3 * n
    mean = vec[k : k + nm * world].reshape(nm, world).sum(dim=1) / world
    mean = torch.where(vec[2] > 0, math.nan, mean)
    return ReducedStats(
        param_norms=norms.to(param_norms.dtype),
        bad=bad_g,
        total_norm=torch.linalg.vector_norm(norms, p).to(param_norms.dtype),
        max_abs=max_g.to(max_abs.dtype),
        nonfinite_count=bad_g.sum(),
        extra_mean=mean,
        extra_any=vec[k + nm * world :],
    )
