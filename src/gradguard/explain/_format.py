"""Numbers as the lesson shows them: integers, decimals, fractions, ``≈`` for long values.

One formatter shared by the lesson's renderers (:mod:`gradguard.explain._render`) and
its tables (:mod:`gradguard.explain._table`), so neither imports the other for it.
"""

from __future__ import annotations

import math
from contextvars import ContextVar
from fractions import Fraction
from typing import Any

from gradguard._catalog import SOURCE, load_catalog

__all__ = ["format_number"]

_MAX_SHOWN_DIGITS = 40
#: The language of the lesson being rendered, for the words inside numbers ("46 digits").
_LANG: ContextVar[str] = ContextVar("gradguard_render_lang", default=SOURCE)


def _frac(v: Any) -> Fraction | None:
    """The exact value of a short lesson string (long ones are shown from their digits)."""
    if (
        isinstance(v, str)
        and v not in ("nan", "inf", "-inf")
        and not v.startswith("≈")
        and len(v) <= _MAX_SHOWN_DIGITS + 2
    ):
        return Fraction(v)
    return None


def _approx_long(v: str) -> str:
    """``"≈1.268e+30"`` for a long ``"digits"`` or ``"p/q"`` string, without parsing it to int."""
    from gradguard.lab._numbers import sci_from_log

    sign = -1 if v.startswith("-") else 1
    num, _, den = v.lstrip("-").partition("/")

    def log10_of(digits: str) -> float:
        return math.log10(int(digits[:17])) + len(digits) - min(len(digits), 17)

    lg = log10_of(num) - (log10_of(den) if den else 0.0)
    return "≈" + sci_from_log(sign, lg)


def _decimal(x: Fraction) -> str | None:
    """``x`` as a terminating decimal string (``6/5`` → ``"1.2"``), or None if it has none."""
    q, twos, fives = x.denominator, 0, 0
    while q % 2 == 0:
        q //= 2
        twos += 1
    while q % 5 == 0:
        q //= 5
        fives += 1
    places = max(twos, fives)
    if q != 1 or places > 20:
        return None
    scaled = abs(x.numerator) * 10**places // x.denominator
    digits = str(scaled).rjust(places + 1, "0")
    sign = "-" if x < 0 else ""
    return f"{sign}{digits[:-places]}.{digits[-places:]}"


def format_number(v: Any, group: bool = False, latex: bool = False, lang: str | None = None) -> str:
    """Format a lesson value (``"80"``, ``"6/5"``, an approx dict, a float) for people.

    Integers stay integers (``group=True`` adds thousands separators),
    fractions with a terminating decimal become decimals (``6/5`` → ``1.2``),
    others stay ``p/q`` (``\\frac{p}{q}`` in LaTeX); values over 40 digits
    become ``≈ 1.268 × 10^30 (31 digits)`` and abbreviated values
    ``≈ 1.268 × 10^30``. The digit count is said in ``lang`` (default: the
    language of the lesson being rendered, else English).
    """
    if isinstance(v, str) and v.startswith("≈") and "e" in v:
        mant, _, exp = v[1:].partition("e")
        if latex:
            return f"\\approx {mant} \\times 10^{{{int(exp)}}}"
        return f"≈ {mant} × 10^{int(exp)}"
    if isinstance(v, float):
        if math.isinf(v) or math.isnan(v):
            return str(v)
        return f"{v:.6g}"
    if isinstance(v, str) and len(v) > _MAX_SHOWN_DIGITS + 2 and v[-1].isdigit():
        digits = len(v.lstrip("-")) if "/" not in v else None
        text = format_number(_approx_long(v), latex=latex)
        if digits is None or latex:
            return text
        words = load_catalog(lang or _LANG.get()).get("numbers.digits", n=f"{digits:,}")
        return f"{text} ({words})"
    x = _frac(v)
    if x is None:
        return str(v)
    if x.denominator == 1:
        n = x.numerator
        return f"{n:,}" if group else str(n)
    dec = _decimal(x)
    if dec is not None and len(dec) <= 24:
        return dec
    if latex:
        sign = "-" if x < 0 else ""
        return f"{sign}\\frac{{{abs(x.numerator)}}}{{{x.denominator}}}"
    return f"{x.numerator}/{x.denominator}"
