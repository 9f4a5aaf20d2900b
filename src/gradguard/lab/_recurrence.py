"""The seed's system, exact: ``h_t = w·h_{t-1}``, ``L = h_T``, and its gradient.

Forward, the state is multiplied by ``w`` at every step, so ``h_t = w^t·h_0``.
Backward (backpropagation through time), the seed writes

.. math::

    \\frac{\\partial L}{\\partial w} = \\sum_{t=1}^{T} h_{t-1} \\cdot w^{T-t},
    \\qquad \\delta_t = \\frac{\\partial L}{\\partial h_t} = w^{T-t},

and every term equals ``w^{t-1}·h_0·w^{T-t} = w^{T-1}·h_0``, so the sum is the
closed form ``T·w^{T-1}·h_0`` — not ``w^T`` as the seed's "why" section says.
Pascanu, Mikolov & Bengio, "On the difficulty of training recurrent neural
networks" (ICML 2013) analyse the same product of Jacobians for matrix ``W``.

Numeric modes (``mode=``):

- ``"exact"`` — Python ``int``/``Fraction``; refused (with a hint) when the
  result would exceed :data:`~gradguard.lab.MAX_DIGITS` digits;
- ``"float64"``/``"float32"`` — the exact value rounded to the dtype: what the
  best possible computation in that format can hold, so ``inf`` appears exactly
  where the true value passes the format's largest finite number
  (``3.4e38`` for float32, ``1.8e308`` for float64) and ``0.0`` where it falls
  below the smallest subnormal;
- ``"log"`` — :class:`~gradguard.lab.LogValue` ``(sign, log10|value|)``,
  O(1) in ``T``: ``T = 10^12`` is instant.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Literal, get_args

from gradguard._validate import check_choice, check_whole
from gradguard.errors import InputError
from gradguard.lab._numbers import (
    MAX_DIGITS,
    Exact,
    LogValue,
    log10_abs,
    to_exact,
)

if TYPE_CHECKING:  # numpy is imported where it is used: `gradguard explain` starts without it
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "BPTT",
    "MAX_TRACE_T",
    "MODES",
    "Regime",
    "bptt",
    "forward",
    "grad_closed_form",
    "gradient",
    "gradient_log",
    "overflow_horizon",
    "regime",
    "round_to_format",
    "state",
    "state_log",
]

Mode = Literal["exact", "float64", "float32", "log"]
MODES: tuple[str, ...] = get_args(Mode)

MAX_TRACE_T = 100_000
"""Traces (every ``h_t``, every BPTT term) are refused beyond this ``T``."""


def check_mode(mode: object, name: str = "mode", allowed: tuple[str, ...] = MODES) -> str:
    """Return ``mode`` if it is one of ``allowed``; raise :class:`InputError` otherwise."""
    return check_choice(mode, name, allowed)


def estimate_digits(w: Exact, h0: Exact, power: int, factor: int = 1) -> int:
    """Upper estimate of the text length of ``factor·w^power·h0`` (``"p/q"`` included).

    Computed from ``log10`` of numerator and denominator separately, before
    anything is multiplied out, so a request for a billion-digit number is
    refused in microseconds.
    """
    wf, hf = Fraction(w), Fraction(h0)
    total = 2.0
    for part_w, part_h in ((wf.numerator, hf.numerator), (wf.denominator, hf.denominator)):
        lw = math.log10(abs(part_w)) if part_w else 0.0
        lh = math.log10(abs(part_h)) if part_h else 0.0
        total += _times(power, lw) + lh + 1
    total += math.log10(max(1, abs(factor)))
    return int(total) if math.isfinite(total) else sys.maxsize


def _check_exact_size(w: Exact, h0: Exact, T: int, rule: str, power: int | None = None) -> None:
    """Refuse a value over MAX_DIGITS digits (``rule``: exact_state, exact_gradient, exact_row)."""
    digits = estimate_digits(w, h0, T - 1 if power is None else power, T)
    if digits > MAX_DIGITS:
        raise InputError("T", T, rule, "use_log", max=MAX_DIGITS, digits=digits)


def _check_trace_size(w: Exact, h0: Exact, T: int) -> None:
    if T > MAX_TRACE_T:
        raise InputError("T", T, "trace_T", "trace_use_table", max=MAX_TRACE_T)
    # A trace holds T+1 states; their sizes grow linearly, so the total is ~T/2 × the last.
    total = estimate_digits(w, h0, T) * (T + 1) // 2
    if total > 50 * MAX_DIGITS:
        raise InputError("T", T, "trace_size", "use_log_gradient", max=50 * MAX_DIGITS, total=total)


def state(w: object, h0: object, t: object) -> Exact:
    """Return ``h_t = w^t·h_0`` exactly.

    Raises:
      InputError: a bad argument, or a result over :data:`MAX_DIGITS` digits.
    """
    wx, hx = to_exact(w, "w"), to_exact(h0, "h0")
    tt = check_whole(t, "t")
    _check_exact_size(wx, hx, tt, "exact_state", power=tt)
    return power_exact(wx, hx, tt)


def _normal(x: Fraction | int) -> Exact:
    if isinstance(x, Fraction) and x.denominator == 1:
        return x.numerator
    return x


def forward(w: object, h0: object, T: object) -> list[Exact]:
    """Run the recurrence ``h_t = w·h_{t-1}`` and return the exact states ``[h_0, …, h_T]``.

    Args:
      w: the recurrent weight (int, Fraction, decimal string, float).
      h0: the initial state.
      T: the number of time steps, a whole number ≥ 1.

    Returns:
      ``T + 1`` exact values; the loss is the last one, ``L = h_T``.

    Raises:
      InputError: a bad argument, or a trace too large to hold (T > 100,000 or
        more than 5 × 10^7 digits in all).

    Example:
      >>> forward(2, 1, 5)
      [1, 2, 4, 8, 16, 32]
    """
    wx, hx = to_exact(w, "w"), to_exact(h0, "h0")
    tt = check_whole(T, "T")
    _check_trace_size(wx, hx, tt)
    states: list[Exact] = [hx]
    h: Exact = hx
    for _ in range(tt):
        h = _normal(wx * h)
        states.append(h)
    return states


@dataclass(frozen=True)
class BPTT:
    """The backward pass through time, term by term, as the seed writes it.

    Attributes:
      states: ``[h_0, …, h_T]``.
      deltas: ``[δ_1, …, δ_T]`` with ``δ_t = ∂L/∂h_t = w^(T-t)``.
      terms: ``[h_0·δ_1, …, h_{T-1}·δ_T]`` — each ``h_{t-1}·w^(T-t)``.
      grad: ``∂L/∂w``, the sum of the terms.
    """

    states: list[Exact]
    deltas: list[Exact]
    terms: list[Exact]
    grad: Exact

    @property
    def loss(self) -> Exact:
        """``L = h_T``."""
        return self.states[-1]


def bptt(w: object, h0: object, T: object) -> BPTT:
    """Backpropagate ``L = h_T`` through time and return every delta and term, exactly.

    .. math::

        \\frac{\\partial L}{\\partial w} = \\sum_{t=1}^{T} h_{t-1}\\,\\delta_t,
        \\qquad \\delta_t = \\frac{\\partial L}{\\partial h_t} = w^{T-t}

    The deltas are built backward, ``δ_T = 1`` and ``δ_{t-1} = w·δ_t``, the way
    reverse-mode autodiff does it; the closed form is not used here, so the
    two can check each other.

    Raises:
      InputError: as :func:`forward`.

    Example:
      >>> b = bptt(2, 1, 5)
      >>> b.terms, b.grad
      ([16, 16, 16, 16, 16], 80)
    """
    states = forward(w, h0, T)
    wx = to_exact(w, "w")
    tt = len(states) - 1
    deltas: list[Exact] = [1] * tt
    for t in range(tt - 1, 0, -1):  # δ_t for t = T-1 … 1, stored at index t-1
        deltas[t - 1] = _normal(wx * deltas[t])
    terms = [_normal(states[t - 1] * deltas[t - 1]) for t in range(1, tt + 1)]
    total: Exact = 0
    for term in terms:
        total = _normal(total + term)
    return BPTT(states=states, deltas=deltas, terms=terms, grad=total)


def grad_closed_form(w: object, h0: object, T: object) -> Exact:
    """Return ``∂L/∂w = T·w^(T-1)·h_0`` exactly (every BPTT term equals ``w^(T-1)·h_0``).

    Raises:
      InputError: a bad argument, or a result over :data:`MAX_DIGITS` digits
        (the size is estimated from logarithms before anything is computed).

    Example:
      >>> grad_closed_form(2, 1, 50)
      28147497671065600
    """
    wx, hx = to_exact(w, "w"), to_exact(h0, "h0")
    tt = check_whole(T, "T")
    _check_exact_size(wx, hx, tt, "exact_gradient")
    return power_exact(wx, hx, tt - 1, tt)


def _power_sign(w: Exact, h0: Exact, power: int) -> int:
    """Sign of ``w^power·h0`` (``0^0 = 1``)."""
    if h0 == 0 or (w == 0 and power > 0):
        return 0
    s = 1 if h0 > 0 else -1
    if w < 0 and power % 2 == 1:
        s = -s
    return s


def power_log(w: Exact, h0: Exact, power: int, factor: int = 1) -> LogValue:
    """``factor·w^power·h0`` in log space, O(1) (``factor ≥ 1``)."""
    s = _power_sign(w, h0, power)
    if s == 0:
        return LogValue(0, -math.inf)
    lw = 0.0 if power == 0 else _times(power, log10_abs(w))
    return LogValue(s, math.log10(factor) + lw + log10_abs(h0))


def _times(n: int, x: float) -> float:
    """``n·x`` for an int ``n`` of any size (``n * x`` raises past float's range)."""
    if x == 0:
        return 0.0
    try:
        return n * x
    except OverflowError:  # n > 1.8e308: the product is ±inf unless x is tiny
        try:
            return float(n * Fraction(x))
        except OverflowError:
            return math.copysign(math.inf, x)


def power_exact(w: Exact, h0: Exact, power: int, factor: int = 1) -> Exact:
    """``factor·w^power·h0``, exactly (an ``int`` when every input is one)."""
    if isinstance(w, Fraction) or isinstance(h0, Fraction):
        return _normal(factor * Fraction(w) ** power * h0)
    return factor * w**power * h0


def _power_round(dtype: str, w: Exact, h0: Exact, power: int, factor: int = 1) -> float:
    """``factor·w^power·h0`` rounded to ``dtype`` (±inf past the largest finite value)."""
    lv = power_log(w, h0, power, factor)
    if lv.sign == 0:
        return 0.0
    if lv.log10 > 310:
        return math.inf * lv.sign
    if lv.log10 < -330:
        return 0.0 * lv.sign
    if estimate_digits(w, h0, power, factor) <= 20_000:
        return round_to_format(Fraction(power_exact(w, h0, power, factor)), dtype)
    # Huge numerator and denominator but a moderate value: go through the log
    # (relative error ~1e-15, so not always the correctly rounded neighbour).
    value = lv.to_float()
    if dtype == "float32":
        import numpy as np

        with np.errstate(over="ignore", under="ignore"):
            value = float(np.float32(value))
    return value


# (mantissa bits including the implicit one, smallest normal exponent, largest exponent)
_IEEE = {"float64": (53, -1022, 1023), "float32": (24, -126, 127)}


def round_to_format(x: Fraction | int, dtype: str = "float64") -> float:
    """Round an exact value to the nearest ``dtype`` number (ties to even), as IEEE 754 does.

    Exact integer arithmetic throughout, so float32 results are never double
    rounded through float64. Past the largest finite value the result is
    ``±inf``; below half the smallest subnormal it is ``±0.0``.

    Example:
      >>> import numpy as np
      >>> round_to_format(Fraction(1, 3), "float32") == float(np.float32(1 / 3))
      True
      >>> # float32's largest is 2^128 − 2^104; halfway to 2^128 ties to even, i.e. to inf
      >>> half = 2**128 - 2**103
      >>> round_to_format(half, "float32"), round_to_format(half - 1, "float32")
      (inf, 3.4028234663852886e+38)
    """
    bits, e_min, e_max = _IEEE[dtype]
    a = abs(Fraction(x))
    if a == 0:
        return 0.0
    sign = -1.0 if x < 0 else 1.0
    # e = floor(log2 a), from the bit lengths and one exact comparison.
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if a < Fraction(2) ** e:
        e -= 1
    e = max(e, e_min)  # subnormals share the smallest exponent
    m = round(a / Fraction(2) ** (e - bits + 1))  # Fraction.__round__: half to even, exact
    if m == 2**bits:  # rounding carried into the next binade
        m, e = m // 2, e + 1
    if e > e_max:
        return math.inf * sign
    return sign * math.ldexp(m, e - bits + 1)


def _grad_log(w: Exact, h0: Exact, T: int) -> LogValue:
    return power_log(w, h0, T - 1, T)


def _round_to(dtype: str, w: Exact, h0: Exact, T: int) -> float:
    """The exact gradient ``T·w^(T-1)·h0`` rounded to ``dtype``."""
    return _power_round(dtype, w, h0, T - 1, T)


def gradient(w: object, h0: object, T: object, mode: str = "exact") -> Exact | float | LogValue:
    """Return ``∂L/∂w = T·w^(T-1)·h_0`` in the chosen numeric mode.

    Args:
      w, h0: the weight and initial state (any form :func:`to_exact` reads).
      T: time steps, a whole number ≥ 1.
      mode: ``"exact"`` (``int``/``Fraction``), ``"float64"``/``"float32"``
        (the exact value rounded to the format, a Python ``float``; ``±inf``
        past its range), or ``"log"`` (:class:`LogValue`, O(1) in ``T``).

    Raises:
      InputError: a bad argument; in exact mode also a result over
        :data:`MAX_DIGITS` digits (with a hint to use ``mode="log"``).

    Example:
      >>> gradient(2, 1, 1016, "float64"), gradient(2, 1, 1015, "float64") < float("inf")
      (inf, True)
    """
    m = check_mode(mode)
    wx, hx = to_exact(w, "w"), to_exact(h0, "h0")
    tt = check_whole(T, "T")
    if m == "exact":
        return grad_closed_form(wx, hx, tt)
    if m == "log":
        return _grad_log(wx, hx, tt)
    return _round_to(m, wx, hx, tt)


def gradient_log(
    w: npt.ArrayLike, T: npt.ArrayLike, h0: npt.ArrayLike = 1.0
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.float64]]:
    """Return ``(sign, log10|∂L/∂w|)`` for arrays of ``(w, T)`` at once (numpy, vectorised).

    ``log10|T·w^(T-1)·h_0| = log10 T + (T-1)·log10|w| + log10|h_0|``; the
    sign is ``sign(h_0)·sign(w)^(T-1)``; ``w = 0`` gives sign 0 (``-inf``)
    for ``T > 1`` and ``h_0`` for ``T = 1``. Inputs broadcast; ``w`` and ``h0``
    are floats here (this is the mode for sweeps, not for exact values).

    Raises:
      InputError: a non-finite ``w``/``h0`` or a ``T`` that is not a whole number ≥ 1.
    """
    import numpy as np

    wa, ta, ha = _check_arrays(w, T, h0, min_T=1)
    tf = ta.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        lw = np.log10(np.abs(wa))
        # (T-1)·log10|w| with the convention 0·(-inf) = 0, i.e. w^0 = 1 even for w = 0.
        power = np.where(tf == 1, 0.0, (tf - 1) * lw)
        log10 = np.log10(tf) + power + np.log10(np.abs(ha))
    odd = (ta.astype(np.int64) - 1) % 2 == 1
    sign = np.sign(ha) * np.where((wa < 0) & odd, -1.0, 1.0)
    sign = np.where(np.isneginf(log10), 0.0, sign)
    return sign.astype(np.int8), log10


def _check_arrays(w: Any, T: Any, h0: Any, min_T: int) -> tuple[Any, Any, Any]:
    """Return ``(w, T, h0)`` as arrays; refuse non-finite ``w``/``h0``, ``T`` not whole ≥ min_T."""
    import numpy as np

    arrays = {"w": np.asarray(w, dtype=np.float64), "h0": np.asarray(h0, dtype=np.float64)}
    for name, a in arrays.items():
        if not np.all(np.isfinite(a)):
            raise InputError(name, "an array with non-finite entries", "finite_array")
    ta = np.asarray(T)
    if ta.dtype.kind not in "iu" and (
        ta.dtype.kind != "f" or not np.all(np.isfinite(ta)) or np.any(ta != np.floor(ta))
    ):
        raise InputError("T", "an array with non-whole entries", "whole_array", min=min_T)
    if ta.size and np.min(ta) < min_T:
        raise InputError("T", f"an array with entries < {min_T}", "whole_array", min=min_T)
    return arrays["w"], ta, arrays["h0"]


def state_log(
    w: npt.ArrayLike, T: npt.ArrayLike, h0: npt.ArrayLike = 1.0
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.float64]]:
    """Return ``(sign, log10|h_T|)`` of the state ``h_T = w^T·h_0`` for arrays of ``(w, T)``.

    The companion of :func:`gradient_log` for plots of ``|h_T|`` (the seed's
    table values) beside ``|∂L/∂w|``; ``T = 0`` is allowed here (``h_0``).

    Raises:
      InputError: a non-finite ``w``/``h0`` or a ``T`` that is not a whole number ≥ 0.
    """
    import numpy as np

    wa, ta, ha = _check_arrays(w, T, h0, min_T=0)
    tf = ta.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        power = np.where(tf == 0, 0.0, tf * np.log10(np.abs(wa)))
        log10 = power + np.log10(np.abs(ha))
    odd = ta.astype(np.int64) % 2 == 1
    sign = np.sign(ha) * np.where((wa < 0) & odd, -1.0, 1.0)
    sign = np.where(np.isneginf(log10), 0.0, sign)
    return sign.astype(np.int8), log10


def overflow_horizon(w: object, h0: object, dtype: str = "float64") -> int | None:
    """Return the first ``T`` at which the gradient, held in ``dtype``, is infinite; else ``None``.

    For ``w = 2, h_0 = 1``: 1016 in float64 (``1016·2^1015 ≈ 3.6e308``) and
    123 in float32 (``123·2^122 ≈ 6.5e38``). ``|T·w^(T-1)|`` is increasing in
    ``T`` while ``|w| ≥ 1`` and rises to one peak when ``|w| < 1``, so a binary
    search over the rising side finds the exact first ``T``.

    Args:
      w, h0: the weight and initial state.
      dtype: ``"float64"`` or ``"float32"``.

    Returns:
      The first overflowing ``T``, or ``None`` if it never overflows (only
      possible for ``|w| < 1``, ``w = 0`` or ``h_0 = 0``: with ``|w| ≥ 1`` the
      gradient grows at least like ``T·|h_0|``). For ``w`` near 1 it can be
      huge (``w = 1 + 10^-30``: about ``6.4 × 10^32``).
    """
    dt = check_mode(dtype, "dtype", ("float64", "float32"))
    wx, hx = to_exact(w, "w"), to_exact(h0, "h0")
    if hx == 0:
        return None

    def inf_at(t: int) -> bool:
        return math.isinf(_round_to(dt, wx, hx, t))

    if wx == 0:
        return 1 if inf_at(1) else None
    if wx in (1, -1):
        # |grad| = T·|h0| rounds to inf from the midpoint between the largest
        # finite value and 2^(e_max+1) on (that tie goes to even, i.e. to inf).
        bits, _, e_max = _IEEE[dt]
        half_way = 2 ** (e_max + 1) - 2 ** (e_max - bits)
        q = Fraction(half_way) / abs(Fraction(hx))
        return max(1, -(-q.numerator // q.denominator))
    if wx > 1 or wx < -1:
        # Doubling ends: log10|grad| ≥ log10 T + log10|h0| and |h0| ≥ 10^-9000
        # (to_exact refuses longer numbers), so T = 2^32000 is past any horizon.
        hi = 1
        while not inf_at(hi):
            hi *= 2
            if hi > 2**32000:  # pragma: no cover - unreachable, see above
                raise RuntimeError(f"no overflow horizon found for w={wx}, h0={hx}")
    else:
        hi = regime(wx).peak_T or 1
        if not inf_at(hi):
            return None
    lo = 0  # inf_at(lo) is False by convention, inf_at(hi) is True
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if inf_at(mid):
            hi = mid
        else:
            lo = mid
    return hi


@dataclass(frozen=True)
class Regime:
    """What ``w`` does to the gradient ``T·w^(T-1)·h_0`` as ``T`` grows.

    Attributes:
      kind: ``"exploding"`` (``|w| > 1``), ``"vanishing"`` (``0 < |w| < 1``),
        ``"linear"`` (``|w| = 1``: ``|∂L/∂w| = T·|h_0|``) or ``"zero"``
        (``w = 0``: the gradient is ``h_0`` at ``T = 1`` and 0 after).
      alternating: ``w < 0`` — the gradient's sign is ``(-1)^(T-1)·sign(h_0)``.
      factor: ``|w|``, the growth per step of ``|w^(T-1)|``.
      peak_T: for ``vanishing``, the (first) whole ``T ≥ 1`` where ``|∂L/∂w|``
        is largest, ``⌈|w|/(1-|w|)⌉`` (near ``-1/ln|w|``); ``None`` otherwise.
      peak_T2: ``peak_T + 1`` where ``|∂L/∂w|`` is just as large there (a tie: when
        ``|w|/(1-|w|)`` is whole, i.e. ``|w| = T/(T+1)``, such as ``1/2`` at ``T = 1, 2``
        and ``0.9`` at ``T = 9, 10``); ``None`` otherwise. A sentence naming the peak
        names both.
      peak_T_real: ``-1/ln|w|`` itself (``vanishing`` only).
    """

    kind: str
    alternating: bool
    factor: Exact
    peak_T: int | None = None
    peak_T_real: float | None = None
    peak_T2: int | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the regime as a JSON-ready dict."""
        from gradguard.lab._numbers import exact_to_json, float_to_json

        return {
            "kind": self.kind,
            "alternating": self.alternating,
            "factor": exact_to_json(self.factor),
            "peak_T": self.peak_T,
            "peak_T2": self.peak_T2,
            "peak_T_real": None if self.peak_T_real is None else float_to_json(self.peak_T_real),
        }


def regime(w: object) -> Regime:
    """Classify ``w``: exploding, vanishing (with its peak ``T ≈ -1/ln|w|``), linear or zero.

    For ``0 < |w| < 1``, ``f(T) = T·|w|^(T-1)`` has ``f'(T) = 0`` at
    ``T = -1/ln|w|``: the gradient first grows (the factor ``T``) and then
    vanishes (the power). Over whole ``T``, ``f(T+1)/f(T) = (T+1)/T·|w|``, so
    the first peak is the smallest ``T ≥ |w|/(1-|w|)`` (exact): for
    ``|w| ≤ 1/2`` that is ``T = 1``, with no rise at all. The seed only says
    "``|w| < 1`` → vanishing".

    Example:
      >>> r = regime("0.9")
      >>> r.peak_T, r.peak_T2, round(r.peak_T_real, 2)  # equal at T = 9 and 10
      (9, 10, 9.49)
    """
    wx = to_exact(w, "w")
    a: Exact = -wx if wx < 0 else wx
    alternating = wx < 0
    if wx == 0:
        return Regime("zero", False, 0)
    if a > 1:
        return Regime("exploding", alternating, a)
    if a == 1:
        return Regime("linear", alternating, a)
    # f(T+1)/f(T) = (T+1)/T·|w| > 1  ⇔  T < |w|/(1−|w|): f rises until then, so the
    # (first) argmax is the smallest whole T ≥ |w|/(1−|w|) — exact, no float.
    ratio = Fraction(a) / (1 - Fraction(a))
    peak = max(1, -(-ratio.numerator // ratio.denominator))
    ln_a = log10_abs(a) * math.log(10)  # accurate near |w| = 1 (log1p inside)
    real = -1.0 / ln_a if ln_a != 0 else math.inf  # |w| within 1e-308 of 1
    tie = peak + 1 if ratio == peak else None  # f(r) = f(r+1) for a whole r = |w|/(1−|w|)
    return Regime("vanishing", alternating, a, peak_T=peak, peak_T_real=real, peak_T2=tie)
