"""Exact numbers for the lab: parsing, sizes, log-space values, and their text/JSON forms.

The lab computes with Python ``int`` and :class:`fractions.Fraction` so that no
value is rounded. This module turns user input into those types, estimates how
large a result will be *before* computing it (a gradient with ten million
digits must be refused, not attempted), and gives every value a stable text
form: integers as decimal strings, fractions as ``"p/q"``, log-space values as
``{"sign": s, "log10": x}``.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Decimal, Inexact, localcontext
from fractions import Fraction
from numbers import Rational, Real
from typing import Any

from gradguard.errors import InputError

__all__ = ["MAX_DIGITS", "Exact", "LogValue", "exact_to_json", "int_to_str", "to_exact"]

Exact = int | Fraction
"""An exact lab value: a Python ``int`` or a :class:`~fractions.Fraction` (never ``bool``)."""

MAX_DIGITS = 10**6
"""Exact results with more decimal digits than this are refused (use log mode)."""

# Decimal strings with an exponent this large would make Fraction build a
# 10^|exp| integer first; the lab never needs them, so they are refused early.
_MAX_EXPONENT = 4000
_DECIMAL = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$", re.IGNORECASE)
_RATIO = re.compile(r"^[+-]?\d+\s*/\s*[+-]?\d+$")
_WHOLE = re.compile(r"^[+-]?\d+$")


def _normal(x: Fraction) -> Exact:
    return x.numerator if x.denominator == 1 else x


def to_exact(x: object, name: str = "w") -> Exact:
    """Return ``x`` as an exact ``int`` or ``Fraction``, without rounding.

    Decimal strings are read exactly (``"0.9"`` → ``9/10``, ``"1e-3"`` →
    ``1/1000``, ``"3/7"`` → ``3/7``). A float is read as the shortest decimal
    that round-trips to it — what the user typed (``0.1`` → ``1/10``); pass
    ``Fraction(x)`` to get a float's binary value instead.

    Args:
      x: an ``int``, ``Fraction``, ``Decimal``, finite ``float``, numpy scalar or string.
      name: the argument's name, used in the error message.

    Returns:
      An ``int`` when the value is whole, else a ``Fraction`` in lowest terms.

    Raises:
      InputError: ``x`` is NaN, infinite, a bool, not a number, or a decimal
        string with an exponent beyond ±4000.

    Example:
      >>> to_exact("0.9"), to_exact("1e-3"), to_exact("3/7"), to_exact(0.1), to_exact("6/3")
      (Fraction(9, 10), Fraction(1, 1000), Fraction(3, 7), Fraction(1, 10), 2)
    """
    np = sys.modules.get("numpy")  # a numpy scalar implies numpy is imported: no import here
    if isinstance(x, bool) or (np is not None and isinstance(x, np.bool_)):
        raise InputError(name, x, "number")
    if isinstance(x, int) or (np is not None and isinstance(x, np.integer)):
        return int(x)
    if isinstance(x, Fraction):
        return _normal(x)
    if isinstance(x, Rational):
        return _normal(Fraction(int(x.numerator), int(x.denominator)))
    if isinstance(x, Decimal):
        if not x.is_finite():
            raise InputError(name, str(x), "number")
        return _from_text(str(x), name)
    if isinstance(x, float) or (np is not None and isinstance(x, np.floating)):
        f = float(x)
        if not math.isfinite(f):
            raise InputError(name, f, "number")
        return _normal(Fraction(repr(f)))
    if isinstance(x, str):
        return _from_text(x, name)
    if isinstance(x, Real):
        return to_exact(float(x), name)
    raise InputError(name, x, "number")


def _from_text(text: str, name: str) -> Exact:
    s = text.strip().replace("_", "")
    try:
        if _WHOLE.match(s):
            return int(s)
        if _RATIO.match(s):
            p, q = (int(part) for part in s.split("/"))
            if q == 0:
                raise InputError(name, text, "fraction")
            return _normal(Fraction(p, q))
        if _DECIMAL.match(s):
            exponent = re.search(r"e([+-]?\d+)$", s, re.IGNORECASE)
            if exponent and abs(int(exponent.group(1))) > _MAX_EXPONENT:
                raise InputError(name, text, "exponent", limit=_MAX_EXPONENT)
            return _normal(Fraction(s))
    except ValueError as e:  # int() refuses strings over sys.int_info's digit limit
        if isinstance(e, InputError):
            raise
        raise InputError(name, text, "number_digits") from None
    raise InputError(name, text, "number")


def log10_abs(x: Exact) -> float:
    """Return ``log10 |x|`` for an exact ``x ≠ 0`` without building a float of ``x``.

    ``math.log10`` is exact-input for big ints (it does not overflow), so a
    fraction's value is ``log10 |p| − log10 q`` — except near ``|x| = 1``,
    where that difference cancels (``1 + 10^-16`` would give 0, and ``T·log10|w|``
    would be silently wrong for large ``T``); there ``log1p`` of the exact
    ``|x| − 1`` keeps the full relative precision.
    """
    if isinstance(x, Fraction):
        a = abs(x)
        if Fraction(1, 2) < a < 2:
            return math.log1p(float(a - 1)) / _LN10
        return math.log10(abs(x.numerator)) - math.log10(x.denominator)
    return math.log10(abs(x))


_LN10 = math.log(10)


def digits_of(x: Exact) -> int:
    """Estimate the characters in ``x``'s exact text form (digits of ``p`` plus of ``q``).

    An estimate from ``bit_length`` (never under by more than one digit per part),
    so it is O(1) and safe for values too large to print.
    """
    if isinstance(x, Fraction):
        return _int_digits(x.numerator) + _int_digits(x.denominator) + 1
    return _int_digits(x)


def _int_digits(n: int) -> int:
    return max(1, int(abs(n).bit_length() * 0.30102999566398120) + 1)


@dataclass(frozen=True)
class LogValue:
    """A real number held as ``sign · 10^log10`` — it never overflows.

    Attributes:
      sign: ``1``, ``-1``, or ``0`` (the value is zero; ``log10`` is ``-inf``).
      log10: ``log10 |value|``.
    """

    sign: int
    log10: float

    @classmethod
    def of(cls, x: Exact) -> LogValue:
        """Return the log-space form of an exact value."""
        if x == 0:
            return cls(0, -math.inf)
        return cls(1 if x > 0 else -1, log10_abs(x))

    def to_json(self) -> dict[str, Any]:
        """Return ``{"sign": s, "log10": x}`` (``log10`` is ``"-inf"`` for zero)."""
        return {"sign": self.sign, "log10": float_to_json(self.log10)}

    def to_float(self) -> float:
        """Return the value as a float (``±inf`` or ``0.0`` beyond float64's range)."""
        if self.sign == 0:
            return 0.0
        if self.log10 < -324:
            return 0.0 * self.sign
        try:
            return self.sign * 10.0**self.log10
        except OverflowError:
            return math.inf * self.sign

    def __str__(self) -> str:
        return sci_from_log(self.sign, self.log10)


def sci_from_log(sign: int, log10: float, digits: int = 4) -> str:
    """Format ``sign · 10^log10`` as ``"2.815e+16"`` (any magnitude, no overflow)."""
    if sign == 0:
        return "0"
    if not math.isfinite(log10):
        return ("-" if sign < 0 else "") + ("inf" if log10 > 0 else "0")
    exponent = math.floor(log10)
    mantissa = 10 ** (log10 - exponent)
    if round(mantissa, digits - 1) >= 10:  # 9.9996 rounds up to the next decade
        exponent += 1
        mantissa /= 10
    return f"{'-' if sign < 0 else ''}{mantissa:.{digits - 1}f}e{exponent:+d}"


def sci(x: Exact, digits: int = 4) -> str:
    """Format an exact value in scientific notation: ``28147497671065600`` → ``"2.815e+16"``."""
    if x == 0:
        return "0"
    if digits_of(x) <= 300:
        # Exact rounding: Decimal of the exact value (avoids float's rounding at the edge).
        if isinstance(x, Fraction):
            value = Decimal(x.numerator) / Decimal(x.denominator)
        else:
            value = Decimal(x)
        return f"{value:.{digits - 1}e}".replace("E", "e")
    lv = LogValue.of(x)
    return sci_from_log(lv.sign, lv.log10, digits)


def exact_to_json(x: Exact, abbreviate: int | None = None) -> str:
    """Return the stable JSON form of an exact value: a string.

    Integers become decimal strings (``"80"``), fractions ``"p/q"`` strings
    (``"6/5"``). With ``abbreviate=N``, a value whose text would exceed ``N``
    characters becomes an approximation marked by a leading ``"≈"``:
    ``"≈1.268e+30"`` (4 significant digits) — cheap to build for a web page,
    while the exact value stays one call away.
    """
    if abbreviate is not None and digits_of(x) > abbreviate:
        lv = LogValue.of(x)
        return "≈" + sci_from_log(lv.sign, lv.log10)
    if isinstance(x, Fraction) and x.denominator != 1:
        return f"{int_to_str(x.numerator)}/{int_to_str(x.denominator)}"
    return int_to_str(int(x))


def int_to_str(n: int) -> str:
    """Return the decimal digits of ``n``, however long, in near-linear time.

    ``str(n)`` refuses ints over 4300 digits (``sys.int_info``'s limit, a guard
    against quadratic-time conversion) and is quadratic below it in Python
    3.11. This splits ``n`` in binary halves and joins them in
    :mod:`decimal`'s exact arithmetic (whose big multiplications are fast) —
    the divide-and-conquer conversion CPython 3.12 adopted.
    """
    if n < 0:
        return "-" + int_to_str(-n)
    if n.bit_length() <= _CHUNK_BITS:
        return str(Decimal(n))
    with localcontext() as ctx:
        ctx.prec = MAX_PREC
        ctx.Emax = MAX_EMAX
        ctx.Emin = MIN_EMIN
        ctx.traps[Inexact] = True  # every step here must be exact
        powers: dict[int, Decimal] = {}

        def two_to(k: int) -> Decimal:
            if k not in powers:
                powers[k] = Decimal(2) ** k
            return powers[k]

        def join(m: int, bits: int) -> Decimal:
            if bits <= _CHUNK_BITS:
                return Decimal(m)
            half = bits >> 1
            hi = m >> half
            return join(m - (hi << half), half) + join(hi, bits - half) * two_to(half)

        return str(join(n, n.bit_length()))


_CHUNK_BITS = 12_000


def approx_powers_json(
    sign_w: int, log10_w: float, sign_h: int, log10_h: float, powers: Any
) -> list[str]:
    """``["≈m.mmme+E", …]`` for ``sign·10^(p·log10_w + log10_h)`` over an array of powers, fast.

    Vectorised with numpy: the web explorer asks for 10^4 states per slider move.
    """
    import numpy as np

    p = np.asarray(powers, dtype=np.int64)
    log10 = p.astype(np.float64) * log10_w + log10_h
    exponent = np.floor(log10)
    mantissa = np.round(10.0 ** (log10 - exponent), 3)
    carry = mantissa >= 10.0  # 9.9996 rounds to the next decade
    mantissa = np.where(carry, mantissa / 10.0, mantissa)
    exponent = exponent + carry
    signs = np.where((sign_w < 0) & (p % 2 == 1), -sign_h, sign_h)
    return [
        f"≈{'-' if s < 0 else ''}{m:.3f}e{int(e):+d}"
        for s, m, e in zip(signs.tolist(), mantissa.tolist(), exponent.tolist(), strict=False)
    ]


def float_to_json(x: float) -> Any:
    """Return ``x``, or ``"nan"``/``"inf"``/``"-inf"`` (plain JSON has no NaN), as records do."""
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x
