"""The lesson's numbers for the report and the explorer, from one place.

Interim until :mod:`gradguard.lab` lands on main: the seed's system computed
exactly with ``fractions.Fraction`` (forward trace, BPTT terms, closed form,
the explosion table against the seed's claims, one SGD step with and without
the seed's clipping). When the lab lands, this module delegates to it and
keeps only the formatting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from gradguard.errors import InputError
from gradguard.lab import clip_by_norm
from gradguard.report._scalar import SEED_CLAIMS, overflow_horizon

__all__ = ["Lesson", "fmt", "lesson", "to_exact"]

SEED = {"w": 2, "h0": 1, "T": 5, "eta": Fraction(1, 100), "c": 5}
TABLE_T = (5, 10, 20, 50)
#: Above this many decimal digits a value is shown in scientific form.
FULL_DIGITS = 24
#: The largest T for which the whole trace is computed exactly.
MAX_T = 10**6
_BITS_FULL = int(FULL_DIGITS / math.log10(2))  # 2^79 < 10^24


def to_exact(x: object, name: str) -> Fraction:
    """Return ``x`` (int, Fraction, decimal string, finite float) as an exact Fraction."""
    if isinstance(x, bool):
        raise InputError(name, x, "a finite number")
    if isinstance(x, (int, Fraction)):
        return Fraction(x)
    if isinstance(x, float):
        if not math.isfinite(x):
            raise InputError(name, x, "a finite number")
        return Fraction(str(x))
    if isinstance(x, str):
        try:
            value = Fraction(x.strip())
        except (ValueError, ZeroDivisionError):
            raise InputError(name, x, "a finite number such as 2, 0.9 or 3/2") from None
        return value
    raise InputError(name, x, "a finite number")


def check_T(T: object, name: str = "T", maximum: int = MAX_T) -> int:
    """Return ``T`` as an int if it is a whole number in ``[1, maximum]``."""
    rule = f"a whole number from 1 to {maximum:,}"
    value = T
    if isinstance(T, str):
        try:
            value = int(T.strip())
        except ValueError:
            raise InputError(name, T, rule) from None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise InputError(name, T, rule)
    return value


def fmt(x: Fraction | int | float, digits: int = 4) -> str:
    """Format an exact value: in full when short, else rounded (``≈ d.ddd × 10^k``)."""
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    q = Fraction(x)
    # bit lengths bound the digit counts without converting huge ints to text
    small = _BITS_FULL
    if q.denominator == 1:
        if abs(q.numerator).bit_length() <= small:
            return str(q.numerator)
    elif abs(q.numerator).bit_length() + q.denominator.bit_length() <= small:
        f = float(q)
        if Fraction(str(f)) == q:  # a terminating decimal like 1.2: show it as the seed does
            return repr(f)
        return f"{q.numerator}/{q.denominator}"
    if q == 0:
        return "0"
    sign = "-" if q < 0 else ""
    a = abs(q)
    # log10 of a huge Fraction without converting it to float (which would overflow).
    lg = (math.log10(a.numerator) if a.numerator else 0.0) - math.log10(a.denominator)
    k = math.floor(lg)
    if -4 <= k < 6:
        return f"≈ {float(q):.{digits}g}"
    mant = 10 ** (lg - k)
    if round(mant, digits - 1) >= 10:
        mant, k = mant / 10, k + 1
    return f"≈ {sign}{mant:.{digits - 1}f} × 10^{k}"


@dataclass
class Lesson:
    """The seed's worked example for given parameters, exactly.

    States and terms are computed on demand (``h_t = w^t·h_0``; term ``t`` is
    ``h_{t-1}·w^(T-t)``), so a lesson for T = 10^4 costs only what is shown.
    """

    w: Fraction
    h0: Fraction
    T: int
    eta: Fraction
    c: Fraction
    table: list[dict[str, Any]] = field(default_factory=list)

    def state(self, t: int) -> Fraction:
        """Return ``h_t = w^t · h_0``."""
        return self.w**t * self.h0

    def term(self, t: int) -> Fraction:
        """Return the BPTT term of step ``t``: ``h_{t-1} · w^(T-t)``."""
        return self.state(t - 1) * self.w ** (self.T - t)

    def bptt_sum(self) -> Fraction:
        """Return ``Σ_{t=1}^{T} h_{t-1}·w^(T-t)`` term by term, as the seed computes it."""
        total, h, powers = Fraction(0), self.h0, [Fraction(1)]
        for _ in range(self.T - 1):
            powers.append(powers[-1] * self.w)
        for t in range(1, self.T + 1):
            total += h * powers[self.T - t]
            h *= self.w
        return total

    @property
    def grad(self) -> Fraction:
        """``dL/dw = T · w^(T-1) · h_0`` (the closed form of the BPTT sum)."""
        return self.T * self.w ** (self.T - 1) * self.h0

    @property
    def loss(self) -> Fraction:
        return self.state(self.T)

    @property
    def w_new(self) -> Fraction:
        return self.w - self.eta * self.grad

    @property
    def grad_clipped(self) -> Fraction:
        return Fraction(clip_by_norm(self.grad, self.c))

    @property
    def w_clipped(self) -> Fraction:
        return self.w - self.eta * self.grad_clipped

    @property
    def w_big(self) -> Fraction:
        """The seed's second example: the update with a gradient of 10^6."""
        return self.w - self.eta * 10**6

    def is_seed(self) -> bool:
        return self.w == 2 and self.h0 == 1


def lesson(
    w: object = 2,
    h0: object = 1,
    T: object = 5,
    eta: object = "0.01",
    c: object = 5,
    table_T: tuple[int, ...] = TABLE_T,
) -> Lesson:
    """Compute the lesson: forward trace, BPTT terms and sum, closed form, table, SGD.

    ``dL/dw = Σ_{t=1}^{T} h_{t-1}·w^(T-t) = T·w^(T-1)·h_0`` (every term equals
    ``w^(T-1)·h_0``).

    Raises:
      InputError: a non-numeric parameter, ``T`` outside ``[1, 10^6]``, ``eta < 0``,
        ``c ≤ 0``.
    """
    wq, hq = to_exact(w, "w"), to_exact(h0, "h0")
    n = check_T(T)
    etaq, cq = to_exact(eta, "eta"), to_exact(c, "c")
    if etaq < 0:
        raise InputError("eta", eta, "a number ≥ 0 (the learning rate)")
    if cq <= 0:
        raise InputError("c", c, "a number > 0 (the clipping threshold)")
    table: list[dict[str, Any]] = []
    prev: Fraction | None = None
    for Tk in table_T:
        g = Tk * wq ** (Tk - 1) * hq
        row: dict[str, Any] = {"T": Tk, "h_T": wq**Tk * hq, "grad": g, "ratio": None}
        if prev is not None and prev != 0:
            row["ratio"] = g / prev
        if wq == 2 and hq == 1 and Tk in SEED_CLAIMS:
            claim = SEED_CLAIMS[Tk]
            row["seed_claim"] = claim
            row["off_by"] = float(g) / claim
        table.append(row)
        prev = g
    return Lesson(wq, hq, n, etaq, cq, table)


def horizons(w: Fraction, h0: Fraction) -> dict[str, int | None]:
    """First T where dL/dw overflows in float32 / float64 (None: never)."""
    if h0 == 0 or w == 0:
        return {"float32": None, "float64": None}
    return {d: overflow_horizon(float(w), float(h0), d) for d in ("float32", "float64")}
