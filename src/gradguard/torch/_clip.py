"""Norm and value clipping with ``torch.nn.utils`` parity, plus a non-finite mode.

The rule is the seed's (``gradguard.lab.clip_by_norm``, Pascanu, Mikolov & Bengio,
"On the difficulty of training recurrent neural networks", ICML 2013):

.. math::

    g \\leftarrow g \\cdot \\min\\left(1, \\frac{c}{\\lVert g \\rVert + 10^{-6}}\\right)

with ``c = max_norm`` and PyTorch's ``1e-6`` added to the norm, so that results match
``torch.nn.utils.clip_grad_norm_`` to float tolerance. :func:`clip_coef` is the one
place that epsilon is added: every torch-side clipper (and the remedy runner) takes its
coefficient from it; the lab's :func:`gradguard.lab.clip_coefficient` is the seed's
formula without the epsilon, exactly.

What torch lacks is a choice for non-finite gradients: torch multiplies every gradient
by ``max_norm / (nan + 1e-6) = nan``, so one NaN anywhere turns *all* gradients into
NaN. Here ``nonfinite="skip"`` leaves the gradients as they are (let a guard skip the
step), ``"zero"`` zeroes them, ``"error"`` raises; ``"propagate"`` is torch's behaviour.
"""

from __future__ import annotations

import math
from typing import Any, Literal, TypeVar

import numpy as np
import torch
from torch import Tensor

from gradguard._validate import check_choice, check_number, check_threshold
from gradguard.errors import CallError
from gradguard.torch._foreach import check_dense, groups, use_foreach
from gradguard.torch._params import named_list
from gradguard.torch._reduce import local_grad
from gradguard.torch._stats import check_norm_type, grad_stats

__all__ = [
    "NONFINITE_MODES",
    "NonfiniteMode",
    "clip_coef",
    "clip_grad_norm_",
    "clip_grad_value_",
    "clip_grads_with_norm_",
    "get_total_norm",
]

NonfiniteMode = Literal["propagate", "skip", "zero", "error"]
"""What clipping does when the total norm is NaN or inf (the ``nonfinite=`` argument)."""
NONFINITE_MODES: tuple[str, ...] = ("propagate", "skip", "zero", "error")
"""The values :data:`NonfiniteMode` allows, in order."""
#: PyTorch's epsilon in ``max_norm / (total_norm + 1e-6)``.
EPS = 1e-6

Norm = TypeVar("Norm", Tensor, float, np.floating)

_NONFINITE_MESSAGE = (
    "The total norm of order {p} for gradients from `parameters` is non-finite, so it "
    "cannot be clipped. To disable this error and scale the gradients by the non-finite "
    "norm anyway, set `error_if_nonfinite=False`"
)


def _check_max_norm(max_norm: object, name: str = "max_norm") -> float:
    """``max_norm`` as a float once it is a threshold (:func:`gradguard._validate.check_threshold`:
    a number > 0; ``inf`` clips nothing, as in torch)."""
    return float(check_threshold(max_norm, name))


def clip_coef(
    total_norm: Norm,
    max_norm: float | Tensor,
    nonfinite: NonfiniteMode = "propagate",
    *,
    eps: float = EPS,
) -> Norm:
    """Return the clip coefficient ``min(1, max_norm / (total_norm + 1e-6))``.

    The seed's coefficient ``1 / max(1, ‖g‖ / c)`` (:func:`gradguard.lab.clip_coefficient`,
    Pascanu et al. 2013), written ``min(1, c / ‖g‖)`` as torch writes it, with torch's
    ``1e-6`` added to the norm — the one place gradguard adds it. A tensor norm gives a
    tensor, computed on the device (no host sync: ``torch.clamp``, not ``if``); a
    host number (a float, or a numpy scalar such as ``np.float32``) gives a number of
    the same type, computed in that type the way torch computes ``c / tensor`` (the
    reciprocal, times ``c``), so that a float or ``np.float32`` norm gives what torch
    computes on a float64 or float32 tensor, bit for bit (tested on CPU).

    The same coefficient serves every clipper that clips parts on their own: given a
    1-d tensor of norms (one per tensor, one per unit) and a threshold (or a tensor of
    thresholds, one per norm) it is taken elementwise — AdaGC's per-tensor ``h_i``
    (with its own ``ε``), AGC's per-unit ``λ max(‖W_i‖, ε) / ‖G_i‖`` (with ``eps=0``:
    the paper adds nothing to ``‖G_i‖``) and update clipping's per-tensor factor are
    this function, each leaving a part at or below its threshold at exactly 1.

    Args:
      total_norm: the pre-clip norm ``‖g‖`` (a 0-d tensor or a host number), or a
        tensor of norms.
      max_norm: the threshold ``c``: a number > 0 (a threshold's one meaning,
        :func:`gradguard._validate.check_threshold`; ``inf`` gives 1, clipping nothing);
        ``0``, a negative number, NaN, ``True`` and ``"1.0"`` are refused. Or a tensor
        of thresholds computed on the device (with a tensor norm), taken as it is —
        checking it would cost a host sync; a NaN there gives a NaN coefficient.
      nonfinite: what the coefficient is when ``‖g‖`` is NaN or inf: ``"propagate"``
        (torch: ``c / inf = 0``, ``c / nan = nan``), ``"skip"`` (1: leave ``g`` alone)
        or ``"zero"`` (0). ``"error"`` behaves like ``"propagate"`` here.
      eps: the number added to the norm, a finite number ≥ 0: torch's ``1e-6``; a rule
        that names its own (AdaGC's ``ε``) passes it here rather than writing the
        coefficient again.

    Returns:
      The coefficient, ``≤ 1``, of ``total_norm``'s type (and shape).

    Raises:
      InputError: a number ``max_norm`` that is not a threshold, a bad ``nonfinite``
        or ``eps``.
    """
    if not isinstance(max_norm, Tensor):
        max_norm = float(check_threshold(max_norm, "max_norm"))
    check_choice(nonfinite, "nonfinite", NONFINITE_MODES)
    if eps != EPS:
        eps = check_number(eps, "eps", minimum=0)
    return coefficient(total_norm, max_norm, nonfinite, eps)


def coefficient(
    total_norm: Norm, max_norm: float | Tensor, nonfinite: str = "propagate", eps: float = EPS
) -> Norm:
    """:func:`clip_coef` without its checks, for a threshold a rule learned (AutoClip's
    percentile of an all-zero history is 0: the coefficient is then 0, clip to zero)."""
    if isinstance(total_norm, Tensor):
        # torch evaluates `c / tensor` as `tensor.reciprocal() * c`, the Python number c
        # taken in the norm's compute type (float32 for half types, rounded once to the
        # half type at the end); a tensor c (a target computed on the device) is rounded
        # the same way, so both give what torch's clip_grad_norm_ computes.
        inverse = (total_norm + eps).reciprocal()
        if not isinstance(max_norm, Tensor):
            ratio = inverse * max_norm
        elif total_norm.dtype in (torch.float16, torch.bfloat16):
            ratio = (inverse.float() * max_norm.float()).to(total_norm.dtype)
        else:
            ratio = inverse * max_norm.to(total_norm.dtype)
        coef = torch.clamp(ratio, max=1.0)
        if nonfinite == "skip":
            coef = torch.where(torch.isfinite(total_norm), coef, torch.ones_like(coef))
        elif nonfinite == "zero":
            coef = torch.where(torch.isfinite(total_norm), coef, torch.zeros_like(coef))
        return coef
    num = type(total_norm)
    one = num(1)
    if nonfinite in ("skip", "zero") and not math.isfinite(total_norm):
        return one if nonfinite == "skip" else num(0)
    ratio = (one / (total_norm + num(eps))) * num(max_norm)  # the tensor path's roundings
    # `>=` is false for NaN, so a NaN norm gives a NaN coefficient, as torch.clamp does.
    return one if ratio >= one else ratio


@torch.no_grad()
def get_total_norm(
    tensors: Tensor | Any,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """Return the ``norm_type`` norm of ``tensors`` viewed as one vector (torch parity).

    Args:
      tensors: a tensor or an iterable of tensors (gradients, typically).
      norm_type: a number ≥ 1 or ``inf``.
      error_if_nonfinite: raise if the norm is NaN or inf.
      foreach: use the foreach kernels (``None``: where supported).

    Raises:
      InputError: bad ``norm_type``.
      RuntimeError: the norm is non-finite and ``error_if_nonfinite`` is set (torch's message).
    """
    p = check_norm_type(norm_type)
    ts = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if not ts:
        return torch.tensor(0.0)
    first_device = ts[0].device
    norms: list[Tensor] = []
    for device, group_t, _ in groups(ts):
        try:
            if use_foreach(group_t, device, foreach):
                norms.extend(torch._foreach_norm(group_t, p))
            else:
                norms.extend(torch.linalg.vector_norm(t, p) for t in group_t)
        except NotImplementedError:
            check_dense(group_t)
            raise
    total = torch.linalg.vector_norm(torch.stack([n.to(first_device) for n in norms]), p)
    if error_if_nonfinite and not bool(torch.isfinite(total)):
        raise RuntimeError(_NONFINITE_MESSAGE.format(p=p))
    return total


@torch.no_grad()
def clip_grads_with_norm_(
    parameters: Any,
    max_norm: float,
    total_norm: Tensor,
    foreach: bool | None = None,
    *,
    nonfinite: NonfiniteMode = "propagate",
) -> Tensor:
    """Scale gradients in place by ``min(1, max_norm / (total_norm + 1e-6))``.

    Split from :func:`clip_grad_norm_` (as in ``torch.nn.utils``) so the norm can be
    logged, reduced across ranks or judged by a guard in between.

    Args:
      parameters: a tensor, an iterable of tensors, a module or named pairs.
      max_norm: the threshold ``c > 0`` (``inf``: nothing is clipped, as in torch).
      total_norm: the pre-clip total norm (0-d tensor), e.g. from :func:`grad_stats`.
      foreach: use the foreach kernels (``None``: where supported).
      nonfinite: ``"propagate"`` (torch), ``"skip"``, ``"zero"`` or ``"error"``; see
        :func:`clip_grad_norm_`.

    Returns:
      The clip coefficient applied (0-d tensor, ≤ 1).

    Raises:
      InputError: bad ``max_norm`` or ``nonfinite``.
      RuntimeError: ``nonfinite="error"`` and ``total_norm`` is NaN or inf (gradients
        left untouched).
    """
    c = _check_max_norm(max_norm)
    check_choice(nonfinite, "nonfinite", NONFINITE_MODES)
    params, _ = named_list(parameters)
    grads = [local_grad(q.grad) for q in params if q.grad is not None]
    coef = coefficient(total_norm, c, nonfinite)
    if nonfinite == "error" and not bool(torch.isfinite(total_norm)):
        # A host sync, paid only by callers who asked to be stopped.
        raise CallError("nonfinite_norm", norm=float(total_norm))
    if not grads:
        return coef
    if nonfinite == "zero" and not bool(torch.isfinite(total_norm)):
        # 0 * nan is nan, so zeroing cannot be a multiplication; this branch costs a
        # host sync, paid only by callers who chose "zero".
        for g in grads:
            g.zero_()
        return coef
    for device, group_t, _ in groups(grads):
        # Multiplying by a coefficient clamped to 1 is redundant when no clipping is
        # needed, but deciding that would need `if coef < 1`, a host sync on GPUs.
        if use_foreach(group_t, device, foreach):
            torch._foreach_mul_(group_t, coef.to(device))
        else:
            coef_d = coef.to(device)
            for g in group_t:
                g.mul_(coef_d)
    return coef


@torch.no_grad()
def clip_grad_norm_(
    parameters: Any,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
    *,
    nonfinite: NonfiniteMode = "propagate",
    process_group: Any = None,
) -> Tensor:
    """Clip the gradient norm of ``parameters`` in place; a drop-in for torch's.

    .. math:: g \\leftarrow g \\cdot \\min\\left(1, \\frac{c}{\\lVert g \\rVert_p + 10^{-6}}\\right)

    The seed's rule ``g / max(1, ‖g‖/c)`` (Pascanu et al. 2013) with torch's epsilon.
    With the defaults it returns the same total norm and leaves the same gradients as
    ``torch.nn.utils.clip_grad_norm_`` (to float tolerance).

    Args:
      parameters: a tensor, an iterable of tensors, a module or named pairs.
      max_norm: the threshold ``c > 0`` (``inf``: nothing is clipped, as in torch).
      norm_type: the order ``p``: a number ≥ 1 or ``inf``.
      error_if_nonfinite: raise (torch's ``RuntimeError``) if the total norm is NaN or inf.
      foreach: use the foreach kernels (``None``: where supported).
      nonfinite: when the total norm is NaN or inf: ``"propagate"`` multiplies by the
        non-finite coefficient like torch (every gradient becomes NaN or 0),
        ``"skip"`` leaves the gradients untouched (so a guard can skip the step),
        ``"zero"`` zeroes them, ``"error"`` raises like ``error_if_nonfinite``.
        A float32 norm that overflows although every entry is finite counts as
        non-finite here; :func:`grad_stats` tells the two apart.
      process_group: under DDP, reduce the norm over this group (max over ranks, so
        every rank clips by the same coefficient even if one rank's gradients differ).
        FSDP2/DTensor-sharded gradients are reduced over their mesh automatically.

    Returns:
      The total norm before clipping (0-d tensor), as torch returns it.

    Raises:
      InputError: bad ``max_norm``, ``norm_type`` or ``nonfinite``.
      RuntimeError: non-finite total norm with ``error_if_nonfinite`` or ``nonfinite="error"``.
    """
    p = check_norm_type(norm_type)
    _check_max_norm(max_norm)
    check_choice(nonfinite, "nonfinite", NONFINITE_MODES)
    params, _ = named_list(parameters)
    grads = [q.grad for q in params if q.grad is not None]
    sharded = any(getattr(g, "placements", None) is not None for g in grads)
    if process_group is not None or sharded:
        total = grad_stats(
            params, p, foreach=foreach, per_layer=False, process_group=process_group
        ).total_norm
        if (error_if_nonfinite or nonfinite == "error") and not bool(torch.isfinite(total)):
            raise RuntimeError(_NONFINITE_MESSAGE.format(p=p))
    else:
        total = get_total_norm(grads, p, error_if_nonfinite or nonfinite == "error", foreach)
    clip_grads_with_norm_(params, max_norm, total, foreach, nonfinite=nonfinite)
    return total


@torch.no_grad()
def clip_grad_value_(
    parameters: Any,
    clip_value: float,
    foreach: bool | None = None,
) -> None:
    """Clip every gradient entry into ``[-clip_value, clip_value]`` in place (torch parity).

    Value clipping does not keep the gradient's direction (norm clipping does). NaN
    entries stay NaN, as in torch; pair it with a guard to skip such steps.

    Args:
      parameters: a tensor, an iterable of tensors, a module or named pairs.
      clip_value: the bound ``c > 0`` (``inf``: nothing is clipped).
      foreach: use the foreach kernels (``None``: where supported).

    Raises:
      InputError: ``clip_value`` is not a number > 0.
    """
    threshold = _check_max_norm(clip_value, "clip_value")
    params, _ = named_list(parameters)
    grads = [local_grad(q.grad) for q in params if q.grad is not None]
    check_dense(grads)  # before any gradient is changed
    for device, group_t, _ in groups(grads):
        # A bound past the dtype's largest value clamps as inf does (only ±inf lie beyond
        # it, and c rounds to inf there); torch cannot take it as a scalar of that dtype.
        big = threshold > torch.finfo(group_t[0].dtype).max
        c = math.inf if big else threshold
        if use_foreach(group_t, device, foreach):
            torch._foreach_clamp_min_(group_t, -c)
            torch._foreach_clamp_max_(group_t, c)
        else:
            for g in group_t:
                g.clamp_(min=-c, max=c)
