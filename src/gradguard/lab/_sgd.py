"""Gradient descent on the seed's system, and the seed's remedies applied to it.

One update is the seed's ``w_new = w − η·g``: ``2 − 0.01·80 = 1.2`` (still
``> 1``, so the gradient still explodes, only more slowly), and with
``g = 10^6``: ``2 − 0.01 × 10^6 = −9998``.

:func:`trajectory` repeats the update on one of two losses:

- ``"seed"`` — the seed's ``L = h_T = w^T·h_0``, ``∂L/∂w = T·w^(T-1)·h_0``
  (unbounded below for odd ``T``: descent never settles — the seed's loss is a
  teaching device, not a training objective);
- ``"target"`` — ``L = ½(h_T − y)²``, ``∂L/∂w = (h_T − y)·T·w^(T-1)·h_0``,
  minimised where ``w^T·h_0 = y``.

Optionally the gradient is clipped first with the seed's rule
``g / max(1, |g|/c)`` (:func:`~gradguard.lab.clip_by_norm`; Pascanu et al.
2013). In float modes the arithmetic is done in the dtype (numpy scalars), so
overflow shows up as it would in training: ``inf`` in the gradient, then
``NaN`` — the first non-finite step is reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, NamedTuple

from gradguard._validate import check_choice, check_threshold, check_whole
from gradguard.errors import InputError
from gradguard.lab._clipping import clip_by_norm
from gradguard.lab._numbers import (
    Exact,
    exact_to_json,
    float_to_json,
    sci,
    to_exact,
)
from gradguard.lab._recurrence import check_mode, estimate_digits

__all__ = ["LOSSES", "SGDStep", "Trajectory", "compare_remedies", "sgd_step", "trajectory"]

LOSSES = ("seed", "target")
_EXACT_BUDGET = 100_000  # digits of w^T above which an exact trajectory stops
_MAX_FLOAT_T = 10**9  # the largest T the float modes accept
BLOWUP = 10**6
"""An exact trajectory stops (status ``"blowup"``) once ``|w|`` exceeds this."""


def check_lr(eta: object, name: str = "eta") -> Exact:
    """Return the learning rate ``η`` exactly if it is a finite number > 0."""
    value = to_exact(eta, name)
    if value <= 0:
        raise InputError(name, eta if isinstance(eta, str) else str(value), "positive")
    return value


def sgd_step(w: object, g: object, eta: object) -> Exact:
    """Return one SGD update ``w − η·g``, exactly.

    Example:
      >>> sgd_step(2, 80, "0.01"), sgd_step(2, 10**6, "0.01")
      (Fraction(6, 5), -9998)
    """
    wx, gx, ex = to_exact(w, "w"), to_exact(g, "g"), check_lr(eta)
    out = Fraction(wx) - Fraction(ex) * Fraction(gx)
    return out.numerator if out.denominator == 1 else out


Number = Exact | float


@dataclass(frozen=True)
class SGDStep:
    """One update of a trajectory.

    Attributes:
      k: the update's index (0 is the first).
      w: the weight before the update.
      loss: the loss at ``w``.
      grad: ``∂L/∂w`` at ``w``.
      grad_used: the gradient after clipping (``grad`` without clipping).
      clipped: whether clipping changed the gradient.
      w_next: ``w − η·grad_used``.
    """

    k: int
    w: Number
    loss: Number
    grad: Number
    grad_used: Number
    clipped: bool
    w_next: Number

    def to_json(self) -> dict[str, Any]:
        """Return the step as a JSON-ready dict."""
        return {
            "k": self.k,
            "w": _json(self.w),
            "loss": _json(self.loss),
            "grad": _json(self.grad),
            "grad_used": _json(self.grad_used),
            "clipped": self.clipped,
            "w_next": _json(self.w_next),
        }


def _json(x: Number) -> Any:
    return float_to_json(x) if isinstance(x, float) else exact_to_json(x, abbreviate=60)


@dataclass
class Trajectory:
    """A run of gradient descent on the seed's system.

    Attributes:
      params: the inputs (``w0, h0, T, eta, iters, loss, y, clip, mode``).
      steps: every update performed.
      status: ``"completed"`` (all ``iters`` updates), ``"nonfinite"`` (float
        modes: the loss, gradient or weight became inf/NaN), ``"blowup"``
        (exact mode: ``|w| > 10^6``, where floats would soon overflow) or
        ``"size_limit"`` (exact mode: the next update would need more than
        100,000 digits).
      first_nonfinite: the index ``k`` of the first update whose loss, gradient
        or new weight is non-finite (float modes), else ``None``.
    """

    params: dict[str, Any]
    steps: list[SGDStep] = field(default_factory=list)
    status: str = "completed"
    first_nonfinite: int | None = None

    @property
    def final_w(self) -> Number:
        """The weight after the last update (``w0`` if none was made)."""
        return self.steps[-1].w_next if self.steps else self.params["w0"]

    @property
    def diverged(self) -> bool:
        """Whether the run ended in a non-finite value or a blow-up."""
        return self.status in ("nonfinite", "blowup")

    @property
    def clipped_steps(self) -> int:
        """How many updates clipping acted on."""
        return sum(s.clipped for s in self.steps)

    def to_json(self) -> dict[str, Any]:
        """Return the run as a JSON-ready dict."""
        params = {
            k: (_json(v) if isinstance(v, (int, Fraction, float)) and k != "T" else v)
            for k, v in self.params.items()
        }
        params["iters"] = self.params["iters"]
        return {
            "params": params,
            "status": self.status,
            "diverged": self.diverged,
            "first_nonfinite": self.first_nonfinite,
            "clipped_steps": self.clipped_steps,
            "final_w": _json(self.final_w),
            "steps": [s.to_json() for s in self.steps],
        }


def trajectory(
    w: object = 2,
    h0: object = 1,
    T: object = 5,
    eta: object = "0.01",
    iters: object = 20,
    loss: str = "seed",
    y: object = 1,
    clip: object | None = None,
    mode: str = "float64",
) -> Trajectory:
    """Run ``iters`` steps of gradient descent ``w ← w − η·g`` on the seed's system.

    Args:
      w: the starting weight ``w_0``.
      h0: the initial state.
      T: time steps of the recurrence.
      eta: the learning rate ``η > 0``.
      iters: the number of updates, a whole number ≥ 1 (at most 100,000).
      loss: ``"seed"`` (``L = h_T``) or ``"target"`` (``L = ½(h_T − y)²``).
      y: the target for ``loss="target"``.
      clip: the threshold ``c`` of the seed's clipping rule, or ``None``.
      mode: ``"float64"``, ``"float32"`` or ``"exact"``.

    Returns:
      A :class:`Trajectory`; float modes stop at the first non-finite value;
      exact mode stops at ``|w| > 10^6`` or before an update would need more
      than 100,000 digits.

    Raises:
      InputError: a bad argument.
    """
    m = check_mode(mode, "mode", ("float64", "float32", "exact"))
    check_choice(loss, "loss", LOSSES)
    wx, hx, yx = to_exact(w, "w"), to_exact(h0, "h0"), to_exact(y, "y")
    tt = check_whole(T, "T")
    if m != "exact" and tt > _MAX_FLOAT_T:
        raise InputError("T", T, "whole_range", min=1, max=_MAX_FLOAT_T)
    ex = check_lr(eta, "eta")
    n = check_whole(iters, "iters", maximum=100_000)
    cx = None
    if clip is not None:
        cx = to_exact(clip, "clip")
        check_threshold(cx, "clip", finite=True)
    params: dict[str, Any] = {
        "w0": wx,
        "h0": hx,
        "T": tt,
        "eta": ex,
        "iters": n,
        "loss": loss,
        "y": yx if loss == "target" else None,
        "clip": cx,
        "mode": m,
    }
    problem = _Problem(wx, hx, tt, ex, n, loss, yx, cx)
    if m == "exact":
        return _run_exact(params, problem)
    import numpy as np

    return _run_float(params, np.dtype(m).type, problem)


class _Problem(NamedTuple):
    """A descent's inputs, checked: ``w_0, h_0, T, η``, updates, loss, target ``y``, ``c``."""

    w0: Exact
    h0: Exact
    T: int
    eta: Exact
    n: int
    loss: str
    y: Exact
    c: Exact | None


def _run_float(params: dict[str, Any], dt: Any, problem: _Problem) -> Trajectory:
    import numpy as np

    w0, h0, T, eta, n, loss, y, c = problem
    run = Trajectory(params)
    w, h = _in_dtype(dt, w0, "w"), _in_dtype(dt, h0, "h0")
    e = _in_dtype(dt, eta, "eta", positive=True)
    yy = _in_dtype(dt, y if loss == "target" else 0, "y")
    cc = None if c is None else _in_dtype(dt, c, "clip", positive=True)
    tT, half = dt(T), dt(0.5)
    with np.errstate(all="ignore"):  # overflow to inf is the point of the exercise
        for k in range(n):
            # numpy's float power in dtype: 2^1015 is finite, 2^1024 is inf
            L, g = _loss_and_grad(w, h, T, tT, loss, yy, half)
            used = g
            if cc is not None:
                # The seed's rule in the dtype: an infinite g gives inf/inf = NaN, as in training.
                used = clip_by_norm(g, cc)
            w_next = w - e * used
            step = SGDStep(
                k,
                float(w),
                float(L),
                float(g),
                float(used),
                bool(used != g or (not math.isfinite(float(g)) and cc is not None)),
                float(w_next),
            )
            run.steps.append(step)
            if not all(math.isfinite(v) for v in (step.loss, step.grad, step.w_next)):
                run.status, run.first_nonfinite = "nonfinite", k
                break
            w = w_next
    return run


def _in_dtype(dt: Any, x: Exact, name: str, positive: bool = False) -> Any:
    """``x`` as a ``dt`` scalar; an input the format cannot hold is the user's error, not a run's.

    Raises:
      InputError: ``x`` overflows ``dt`` (it would start the run at inf), or a
        ``positive`` parameter (η, c) rounds to 0 (the run would silently not move).
    """
    import numpy as np

    info = np.finfo(dt)
    value = Fraction(to_exact(x, name))
    if abs(value) > float(info.max):
        raise InputError(name, sci(value), "in_range", dtype=str(info.dtype), max=float(info.max))
    with np.errstate(all="ignore"):
        out = dt(float(value))
    if positive and out == 0:
        tiny = float(info.smallest_subnormal)
        raise InputError(name, sci(value), "not_tiny", dtype=str(info.dtype), tiny=tiny)
    return out


def _run_exact(params: dict[str, Any], problem: _Problem) -> Trajectory:
    w0, h0, T, eta, n, loss, y, c = problem
    run = Trajectory(params)
    w = Fraction(w0)
    for k in range(n):
        if estimate_digits(w, h0, T) * (2 if loss == "target" else 1) > _EXACT_BUDGET:
            run.status = "size_limit"
            break
        L, g = _loss_and_grad(w, Fraction(h0), T, T, loss, Fraction(y), Fraction(1, 2))
        used = g if c is None else Fraction(clip_by_norm(g, Fraction(c)))
        w_next = w - eta * used
        run.steps.append(SGDStep(k, _n(w), _n(L), _n(g), _n(used), used != g, _n(w_next)))
        if abs(w_next) > BLOWUP:
            run.status = "blowup"
            break
        w = w_next
    return run


def _loss_and_grad(w: Any, h0: Any, T: int, T_factor: Any, loss: str, y: Any, half: Any) -> Any:
    """``(L, ∂L/∂w)`` at ``w``, in ``w``'s arithmetic (exact fractions or one float format).

    ``L = h_T = w^T·h_0`` with ``∂L/∂w = T·w^(T-1)·h_0`` (the seed's loss), or for
    ``loss="target"`` ``L = ½(h_T − y)²`` with ``∂L/∂w = (h_T − y)·T·w^(T-1)·h_0``;
    ``T_factor`` and ``half`` are ``T`` and ``½`` in that arithmetic.
    """
    p = w ** (T - 1)
    h_T = p * w * h0
    g = T_factor * p * h0
    if loss == "target":
        return half * (h_T - y) * (h_T - y), (h_T - y) * g
    return h_T, g


def _n(x: Fraction) -> Exact:
    return x.numerator if x.denominator == 1 else x


def compare_remedies(
    w: object = 2,
    h0: object = 1,
    T: object = 5,
    eta: object = "0.01",
    iters: object = 20,
    loss: str = "target",
    y: object = 1,
    clip: object = 5,
    low_lr: object | None = None,
    mode: str = "float64",
) -> dict[str, Trajectory]:
    """Run the same descent three ways: no remedy, the seed's clipping, a lower learning rate.

    Args:
      clip: the clipping threshold ``c`` for the ``"clip"`` run.
      low_lr: the learning rate of the ``"low-lr"`` run (default ``η/100``).
      Others: as :func:`trajectory`.

    Returns:
      ``{"none": …, "clip": …, "low-lr": …}``.
    """
    ex = check_lr(eta, "eta")
    low = check_lr(low_lr, "low_lr") if low_lr is not None else Fraction(ex) / 100
    common = {"w": w, "h0": h0, "T": T, "iters": iters, "loss": loss, "y": y, "mode": mode}
    return {
        "none": trajectory(eta=ex, **common),  # type: ignore[arg-type]
        "clip": trajectory(eta=ex, clip=clip, **common),  # type: ignore[arg-type]
        "low-lr": trajectory(eta=low, **common),  # type: ignore[arg-type]
    }
