"""Values the page shows abbreviated, computed with bounded precision instead of exactly.

The lab keeps ``factor·w^p·h_0`` exact: for ``w = 0.123456789`` and ``T = 10^4``
that is a fraction of about 90,000 digits, costly to build — only for the page to
show its first four digits (``≈ 1.234 × 10^-9085``; docs/benchmarks.md measures both).
Here such a value is evaluated in :mod:`decimal` at :data:`PREC` significant
digits; values short enough to be shown whole stay exact (the lab's).

Accuracy: ``w`` and ``h_0`` are rounded once to ``PREC`` digits (relative error
``≤ 10^-PREC``) and ``w^p`` multiplies that error by at most ``p ≤ 10^6``, and
:mod:`decimal`'s integer power is correct to within one unit in the last place of
its working precision; so about ``PREC - 7`` digits are right and the four shown
are the correctly rounded ones unless the exact value lies within ``10^-40`` (relative)
of a rounding tie. ``tests/report/test_approx.py`` checks them against the exact values.
"""

from __future__ import annotations

import decimal
from decimal import Decimal
from fractions import Fraction
from typing import Any

#: Working precision (significant digits) of the bounded-precision values.
PREC = 50
#: Values with at most this many characters (the lab's upper estimate) are computed
#: exactly: cheap, and a value estimated longer is shown abbreviated in any case.
EXACT_UP_TO = 400


def _context() -> decimal.Context:
    # Exponents of 10^±9,000,000 (w^T for T ≤ 10^6 and 9,000-digit inputs) fit.
    return decimal.Context(
        prec=PREC, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN, rounding=decimal.ROUND_HALF_EVEN
    )


def _dec(x: Any, ctx: decimal.Context) -> Decimal:
    f = Fraction(x)
    return ctx.divide(Decimal(f.numerator), Decimal(f.denominator))


def power_value(w: Any, h0: Any, power: int, factor: int = 1) -> Any:
    """Return ``factor·w^power·h_0``: exact (the lab's) when short, else a :class:`Decimal`.

    Args:
      w, h0: exact values (``int``/``Fraction``) from :func:`gradguard.lab.to_exact`.
      power: the exponent, ``≥ 0``.
      factor: a whole-number factor (``T`` for the gradient).
    """
    from gradguard.lab import state
    from gradguard.lab.numbers import estimate_digits

    if estimate_digits(w, h0, power, factor) <= EXACT_UP_TO:
        return factor * (state(w, h0, power) if power else h0)
    ctx = _context()
    return ctx.multiply(
        ctx.multiply(Decimal(factor), ctx.power(_dec(w, ctx), power)), _dec(h0, ctx)
    )


def sub_scaled(w: Any, eta: Any, g: Any) -> Decimal | None:
    """Return ``w − η·g`` in :mod:`decimal` for an approximate ``g``; ``None`` if it cancels.

    ``None`` means the two terms agree to so many digits that the difference has
    fewer than 10 correct ones left: the caller computes it exactly.
    """
    with decimal.localcontext(_context()) as ctx:  # every operation, incl. abs and scaleb
        a, b = _dec(w, ctx), _dec(eta, ctx) * g
        out = a - b
        big = max(abs(a), abs(b))
        if out == 0 or abs(out) < big.scaleb(10 - PREC):
            return None
        return out


def compare_abs(g: Decimal, c: Any) -> int | None:
    """Return ``-1, 0, 1`` as ``|g|`` is below, equal to or above ``c``; ``None`` if too close."""
    with decimal.localcontext(_context()) as ctx:
        cd = _dec(c, ctx)
        margin = cd.scaleb(10 - PREC)
        if abs(g) > cd + margin:
            return 1
        if abs(g) < cd - margin:
            return -1
        return None


def show_json(x: Any, digits: int) -> str:
    """JSON text of a value as :func:`gradguard.lab.exact_to_json` gives it with ``digits``.

    An exact value over ``digits`` characters and every :class:`Decimal` become
    ``"≈1.268e+30"``: four significant digits, correctly rounded (ties to even)
    from the :data:`PREC`-digit value — the same digits the explorer's page
    computes from the exact value in the browser. Short exact values stay whole.
    """
    from gradguard.lab import exact_to_json
    from gradguard.lab.numbers import digits_of

    if isinstance(x, Decimal):
        if x == 0:
            return "0"
        with decimal.localcontext(_context()):
            return "≈" + f"{x:.3e}".replace("E", "e")
    if digits_of(x) > digits:
        with decimal.localcontext(_context()) as ctx:
            return "≈" + f"{_dec(x, ctx):.3e}".replace("E", "e")
    return exact_to_json(x, digits)
