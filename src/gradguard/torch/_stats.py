"""Gradient statistics without per-tensor syncs: norms, max |g|, non-finite tensors.

The gradients are read by the kernels only: ``torch._foreach_norm`` (per-parameter
``norm_type`` norms, grouped by (device, dtype) like ``torch.nn.utils.clip_grad_norm_``)
and ``torch.aminmax`` (max |g|; small tensors share one concatenated buffer). Everything
else — total norm, per-layer norms, max |g|, the non-finite count — is derived from those
small per-parameter results: on the device, or in :meth:`GradStats.host` on the host from
the values it copies anyway. Nothing is copied to the host until :meth:`GradStats.host`,
which does it in one transfer: at most one host sync per step.

Why max |g| and not ``isfinite().all()``: ``isfinite`` materialises a full-size boolean
temporary (many times the cost of the norm on CPU), while NaN and inf propagate through
``aminmax`` for free. And why not count non-finite tensors from the L2 norm alone:
a float32 L2 norm overflows to ``inf`` once an entry exceeds ~1.8e19 although every
entry is finite, so a tensor counts as non-finite only when its norm *and* its max |g|
are not finite.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from gradguard._validate import check_number
from gradguard.torch._foreach import (
    check_dense,
    flat,
    foreach_device,
    groups,
    index_tensor,
    no_grad,
    use_foreach,
)
from gradguard.torch._params import layer_of, named_list
from gradguard.torch._reduce import is_sharded, local_grad, reduce_stats

__all__ = ["GradStats", "HostGradStats", "grad_stats"]


def check_norm_type(norm_type: object) -> float:
    """Return ``norm_type`` as a float, or raise :class:`InputError` unless it is ≥ 1 or inf."""
    return check_number(norm_type, "norm_type", minimum=1, allow_inf=True, rule="norm_type")


def _pnorm(norms: Tensor, p: float) -> Tensor:
    return torch.linalg.vector_norm(norms, p)


@dataclass
class HostGradStats:
    """:class:`GradStats` copied to the host (plain Python numbers)."""

    total_norm: float
    #: ``None``: not measured (``grad_stats(..., max_abs=False)`` on a finite step).
    max_abs: float | None
    nonfinite_count: int
    param_norms: list[float]
    names: list[str] | None
    layer_norms: dict[str, float] | None
    norm_type: float

    @property
    def finite(self) -> bool:
        """Whether every gradient entry is finite."""
        return self.nonfinite_count == 0


@dataclass
class GradStats:
    """Gradient statistics for one step, still on the device (no host sync yet).

    Attributes:
      total_norm: 0-d tensor, the ``norm_type`` norm of all gradients as one vector
        (what ``torch.nn.utils.clip_grad_norm_`` returns); globally reduced when a
        process group was given or the gradients are FSDP2 shards.
      param_norms: 1-d tensor, the ``norm_type`` norm of each gradient, in parameter order
        (parameters without a gradient are left out; ``names`` says which is which).
      names: parameter names when the input carried them (a module or named pairs).
      layer_names: the modules the parameters belong to (``"lstm.weight_ih_l0"`` → ``"lstm"``).
      layer_norms: 1-d tensor, the ``norm_type`` norm of each layer's gradients.
      norm_type: the norm's order ``p`` (1, 2, … or inf).
      extremes: 1-d tensor ``[lo_0, hi_0, lo_1, hi_1, …]``: ``min g`` and ``max g`` of
        each max-|g| unit (a large tensor, or all small tensors of one (device, dtype)
        group together); flat, as :meth:`host` copies it.
      unit: for each parameter (in order), its unit ``u``, whose extremes are
        ``extremes[2u], extremes[2u + 1]`` (-1: an empty tensor).

    ``max_abs`` and ``nonfinite_count`` are derived from these on demand (as tensors);
    :meth:`host` derives them on the host instead, from the values it copies anyway,
    which saves a handful of tiny kernels per step.
    """

    total_norm: Tensor
    param_norms: Tensor
    names: list[str] | None
    layer_names: list[str] | None
    layer_norms: Tensor | None
    norm_type: float
    extremes: Tensor
    unit: list[int]
    reduced_max: Tensor | None = None
    reduced_bad: Tensor | None = None
    #: Under torch.distributed: the non-finite count over every pipeline stage, and the
    #: ``extra_mean`` / ``extra_any`` values of :func:`grad_stats`, reduced with them.
    reduced_count: Tensor | None = None
    extra_mean: Tensor | None = None
    extra_any: Tensor | None = None
    #: The (local) gradients grouped by (device, dtype), kept only with
    #: ``grad_stats(..., keep_groups=True)`` (a clipper then scales them without regrouping).
    grouped: list[tuple[torch.device, list[Tensor], list[int]]] | None = None
    #: False with ``grad_stats(..., max_abs=False)``: no extremes were read; a tensor
    #: then counts as non-finite when its norm is (an overflowed norm included).
    measured_max: bool = True

    def _unit_max(self) -> Tensor:
        return torch.maximum(self.extremes[1::2], self.extremes[0::2].neg())

    @property
    def max_abs(self) -> Tensor:
        """0-d tensor, ``max |g|`` over every entry (NaN if any entry is NaN)."""
        if self.reduced_max is not None:
            return self.reduced_max
        if not self.measured_max:
            return torch.full((), math.nan, device=self.total_norm.device)
        if self.extremes.numel() == 0:
            return self.total_norm.new_zeros(())
        return self._unit_max().max()

    def bad(self) -> Tensor:
        """1-d bool tensor: which parameters' gradients hold a NaN or inf."""
        if self.reduced_bad is not None:
            return self.reduced_bad
        if not self.unit:
            return torch.zeros(0, dtype=torch.bool, device=self.total_norm.device)
        if not self.measured_max:
            return ~torch.isfinite(self.param_norms)
        # Row k (one past the units) is a zero: empty tensors are finite.
        per_unit = torch.cat([self._unit_max(), self._unit_max().new_zeros(1)])
        k = self.extremes.shape[0] // 2
        index = index_tensor(tuple(u if u >= 0 else k for u in self.unit), per_unit.device)
        per_param = per_unit.index_select(0, index)
        # Non-finite iff the norm *and* max |g| are not finite: NaN and inf propagate into
        # both, while an inf norm with a finite max |g| is a float overflow, not a fault.
        return ~(torch.isfinite(self.param_norms) | torch.isfinite(per_param))

    @property
    def nonfinite_count(self) -> Tensor:
        """0-d int64 tensor, parameter tensors whose gradient holds a NaN or inf."""
        if self.reduced_count is not None:
            return self.reduced_count
        return self.bad().sum()

    def host(self, *extra: Tensor) -> tuple[HostGradStats, list[float]]:
        """Copy the statistics (and any ``extra`` 0-d tensors) to the host in one transfer.

        Returns:
          The host statistics, and the values of ``extra`` as floats, in order.
        """
        reduced = self.reduced_max is not None
        if reduced:
            # The count goes through float64 so that cat's type promotion (to the widest
            # float present, possibly bfloat16) cannot round it.
            head = [self.total_norm, self.max_abs, self.nonfinite_count.to(torch.float64)]
        else:
            head = [self.total_norm]
        # The statistics all live on total_norm's device; only the caller's extras may not.
        device = self.total_norm.device
        head.extend(x if x.device == device else x.to(device) for x in extra)
        # (Statistics are computed under no_grad: no detach needed.)
        parts = [t.reshape(1) for t in head]
        if not reduced:
            parts.append(self.extremes)
        parts.append(self.param_norms)
        if self.layer_norms is not None:
            parts.append(self.layer_norms)
        flat = torch.cat(parts).tolist()  # the one host sync
        n_head, n_par = len(head), self.param_norms.numel()
        n_ext = 0 if reduced else self.extremes.numel()
        values = flat[n_head - len(extra) : n_head]
        norms = flat[n_head + n_ext : n_head + n_ext + n_par]
        layers = None
        if self.layer_names is not None:
            layers = dict(zip(self.layer_names, flat[n_head + n_ext + n_par :], strict=True))
        max_abs: float | None
        if reduced:
            max_abs, count = flat[1], int(flat[2])
            if not self.measured_max:
                max_abs = None
        elif not self.measured_max:
            # Without extremes an overflowed norm cannot be told from NaN/inf: the norm
            # decides (grad_stats' max_abs=False contract).
            max_abs = None
            count = 0 if math.isfinite(flat[0]) else sum(not math.isfinite(n) for n in norms)
        else:
            max_abs, count = _host_max_and_count(
                flat[n_head : n_head + n_ext], norms, self.unit, flat[0]
            )
        stats = HostGradStats(
            total_norm=flat[0],
            max_abs=max_abs,
            nonfinite_count=count,
            param_norms=norms,
            names=self.names,
            layer_norms=layers,
            norm_type=self.norm_type,
        )
        return stats, values


def _host_max_and_count(
    extremes: list[float], norms: list[float], unit: list[int], total: float
) -> tuple[float, int]:
    """``max |g|`` and the non-finite count from copied extremes and norms (host side)."""
    unit_max = []
    for lo, hi in zip(extremes[0::2], extremes[1::2], strict=True):
        unit_max.append(math.nan if math.isnan(lo) or math.isnan(hi) else max(hi, -lo))
    nan = any(math.isnan(m) for m in unit_max)
    max_abs = math.nan if nan else max(unit_max, default=0.0)
    if math.isfinite(total):
        return max_abs, 0  # a finite total norm: every norm, so every entry, is finite
    count = sum(
        1
        for n, u in zip(norms, unit, strict=True)
        if not math.isfinite(n) and u >= 0 and not math.isfinite(unit_max[u])
    )
    return max_abs, count


@no_grad
def grad_stats(
    parameters: Any,
    norm_type: float = 2.0,
    *,
    foreach: bool | None = None,
    per_layer: bool = True,
    process_group: Any = None,
    keep_groups: bool = False,
    pipeline_group: Any = None,
    extra_mean: Tensor | None = None,
    extra_any: Tensor | None = None,
    max_abs: bool = True,
) -> GradStats:
    """Compute gradient norms, max |g| and the non-finite count in one pass, on the device.

    The total norm is the norm of the per-parameter norms,
    ``‖g‖_p = ‖(‖g_1‖_p, …, ‖g_n‖_p)‖_p``, exactly as ``torch.nn.utils.get_total_norm``
    computes it (same grouping, same order, so the same float result).

    Args:
      parameters: a tensor, an iterable of tensors, a module, or ``named_parameters()``
        pairs (names enable per-layer norms). Parameters without ``.grad`` are ignored.
      norm_type: the order ``p`` of the norm: a number ≥ 1 or ``inf``.
      foreach: use the foreach kernels (``None``: where the device supports them).
      per_layer: also compute per-layer (module) norms, when names are known.
      process_group: under DDP, the process group to reduce over (replicated
        gradients: the statistics become the elementwise max over ranks, so a fault
        on one rank is seen by all). FSDP2/DTensor-sharded gradients are detected and
        reduced over their device mesh (sums of ``‖shard‖_p^p``) without it.
      keep_groups: keep references to the gradients, grouped by (device, dtype), in
        ``GradStats.grouped`` so that a clipper can scale them without grouping them
        again (the guard does; off by default so stored statistics hold no gradients).
      pipeline_group: under pipeline parallelism, the group of this rank's peers in the
        other stages (one rank per stage): the total norm and the non-finite count then
        cover every stage (``process_group`` is the group spanning all of them).
      max_abs: also read max |g| (one ``aminmax`` pass, as long as the norms' own).
        Without it, ``max_abs`` is NaN on the device and ``None`` on the host, and a
        tensor counts as non-finite when its norm is not finite — a float32 norm that
        overflowed with finite entries included. The guard measures without it and
        measures again with it only when the total norm is not finite (a finite total
        norm means every entry is finite); the sync-free guard skips such a step either
        way.
      extra_mean, extra_any: 1-d values reduced in the same all-reduce as the statistics
        (averaged, or summed as flags), in ``GradStats.extra_mean`` / ``extra_any``: the
        guard's loss and AMP ``found_inf``.

    Returns:
      :class:`GradStats`, still on the device; call :meth:`GradStats.host` to read it.

    Raises:
      InputError: ``norm_type`` is not ≥ 1.
    """
    p = check_norm_type(norm_type)
    params, names = named_list(parameters)
    every = [q.grad for q in params]
    grads_full = [g for g in every if g is not None]
    kept_names = names
    if names is not None and len(grads_full) < len(every):
        kept_names = [n for n, g in zip(names, every, strict=True) if g is not None]
    # Plain tensors (one C-level type pass) need no probing: the attribute probes for
    # DTensor, per tensor, add up on models with thousands of tensors.
    plain = set(map(type, grads_full)) <= {Tensor}
    grads = grads_full if plain else [local_grad(g) for g in grads_full]
    sharded = not plain and any(is_sharded(g) for g in grads_full)
    if not grads:
        zero = torch.zeros(())
        layers = kept_names is not None and per_layer
        return GradStats(
            zero,
            torch.zeros(0),
            kept_names,
            [] if layers else None,
            torch.zeros(0) if layers else None,
            p,
            torch.zeros(0),
            [],
        )
    first_device = grads[0].device
    grouped = groups(grads)
    norm_parts: list[Tensor] = []
    extremes: list[Tensor] = []
    unit = [0] * len(grads)
    order: list[int] = []
    for device, tensors, indices in grouped:
        try:
            norms, extreme_pairs, local = _group_stats(tensors, device, p, foreach, plain, max_abs)
        except NotImplementedError:
            check_dense(tensors)
            raise
        offset = len(extremes) // 2
        if len(grouped) == 1:
            unit = local  # one group: in parameter order, with no offset
        else:
            for i, u in zip(indices, local, strict=True):
                unit[i] = u + offset if u >= 0 else -1
        for x in extreme_pairs:
            extremes.append(x if x.device == first_device else x.to(first_device))
        norm_parts.append(norms if device == first_device else norms.to(first_device))
        order.extend(indices)
    ext = torch.stack(extremes) if extremes else torch.zeros(0, device=first_device)
    if len(grouped) == 1:
        stacked = param_norms = norm_parts[0]
    else:
        stacked = torch.cat(norm_parts)
        # Undo the (device, dtype) grouping so param_norms follows parameter order.
        inverse = [0] * len(order)
        for pos, i in enumerate(order):
            inverse[i] = pos
        param_norms = stacked.index_select(0, index_tensor(tuple(inverse), first_device))
    stats = GradStats(
        stacked,
        param_norms,
        kept_names,
        None,
        None,
        p,
        ext,
        unit,
        grouped=grouped if keep_groups else None,
        measured_max=max_abs,
    )
    if sharded or process_group is not None or pipeline_group is not None:
        red = reduce_stats(
            param_norms,
            stats.max_abs,
            stats.bad(),
            p,
            grads_full,
            group=process_group,
            pipeline_group=pipeline_group,
            extra_mean=extra_mean,
            extra_any=extra_any,
        )
        stats.param_norms, stats.reduced_max, stats.reduced_bad = (
            red.param_norms,
            red.max_abs,
            red.bad,
        )
        stats.total_norm = red.total_norm
        stats.reduced_count = red.nonfinite_count
        stats.extra_mean, stats.extra_any = red.extra_mean, red.extra_any
    else:
        # The same vector in the same order as torch's get_total_norm: the same float.
        stats.total_norm = _pnorm(stacked, p)
    if per_layer and kept_names is not None:
        stats.layer_names, stats.layer_norms = _layer_norms(stats.param_norms, kept_names, p)
    return stats


#: Tensors at least this large get their own max |g| pass; smaller ones share one.
BIG = 1 << 16


def _group_stats(
    tensors: list[Tensor],
    device: torch.device,
    p: float,
    foreach: bool | None,
    plain: bool,
    read_extremes: bool = True,
) -> tuple[Tensor, list[Tensor], list[int]]:
    """Return per-tensor norms, ``[min, max]`` extremes and each tensor's extremes unit.

    The extremes are read with ``torch.aminmax`` (one pass, NaN-propagating, no
    full-size temporary — ``g.abs().max()`` or ``isfinite()`` would allocate one;
    separate ``amax``/``amin`` read the tensor twice). Large tensors get their own
    unit, exact per tensor. Small tensors share one concatenated buffer — one kernel
    instead of thousands of tiny ones — so each gets the extremes of *all* small
    tensors in the group. That is enough to classify them: a small tensor with an inf
    norm counts as non-finite when that shared max |g| is not finite (exact unless one
    step has both an inf entry and another small tensor whose finite entries overflow
    the norm: then both count).

    Returns:
      ``(norms, [lo_0, hi_0, lo_1, hi_1, …], unit)`` with ``unit[i]`` the unit of
      tensor ``i`` (-1 for an empty tensor).
    """
    sizes = [g.numel() for g in tensors]
    has_empty = 0 in sizes
    full = [g for g, n in zip(tensors, sizes, strict=True) if n] if has_empty else tensors
    # An empty tensor (an FSDP2 shard can be empty) has norm 0; torch's inf norm of an
    # empty tensor is an error, so empties stay out of the kernels.
    if not full:
        return (
            torch.zeros(len(tensors), dtype=tensors[0].dtype, device=device),
            [],
            [-1] * len(tensors),
        )
    if foreach is None and plain:
        # torch's own check would test each tensor's type, known here to be Tensor.
        fast = foreach_device(device)
    else:
        fast = use_foreach(tensors, device, foreach)
    computed: Sequence[Tensor]
    if fast:
        computed = torch._foreach_norm(full, p)
    else:
        computed = [torch.linalg.vector_norm(g, p) for g in full]
    if has_empty:
        it = iter(computed)
        zero = torch.zeros((), dtype=full[0].dtype, device=device)
        computed = [next(it) if n else zero for n in sizes]
    norms = torch.stack(computed)
    pairs: list[Tensor] = []
    unit: list[int] = []
    if not read_extremes:
        return norms, pairs, [0] * len(tensors)
    if not has_empty and max(sizes) < BIG:
        # All small (the common case for many tensors): one unit, no per-tensor loop.
        return norms, list(torch.aminmax(flat(tensors))), [0] * len(tensors)
    small: list[Tensor] = []
    small_unit = -1
    for g, n in zip(tensors, sizes, strict=True):
        if n == 0:
            unit.append(-1)
        elif n >= BIG:
            unit.append(len(pairs) // 2)
            pairs.extend(torch.aminmax(g))
        else:
            if small_unit < 0:
                small_unit = len(pairs) // 2
                pairs.extend((g, g))  # placeholders, replaced below
            unit.append(small_unit)
            small.append(g)
    if small:
        lo, hi = torch.aminmax(flat(small))
        pairs[2 * small_unit], pairs[2 * small_unit + 1] = lo, hi
    return norms, pairs, unit


@functools.lru_cache(maxsize=16)
def _layer_index(names: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Return the layers of ``names`` (in order of appearance) and each name's layer.

    Cached: the same model's names come every step, and splitting thousands of them
    every step would cost more than the statistics.
    """
    layers: dict[str, int] = {}
    index = tuple(layers.setdefault(layer_of(n), len(layers)) for n in names)
    return tuple(layers), index


def _layer_norms(param_norms: Tensor, names: list[str], p: float) -> tuple[list[str], Tensor]:
    layers, index = _layer_index(tuple(names))
    idx = index_tensor(index, param_norms.device)
    out = param_norms.new_zeros(len(layers))
    if math.isinf(p):
        out = out.scatter_reduce(0, idx, param_norms, reduce="amax", include_self=True)
    else:
        out = out.index_add(0, idx, param_norms.pow(p)).pow(1.0 / p)
    return list(layers), out
