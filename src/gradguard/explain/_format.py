"""Numbers as the lesson shows them: integers, decimals, fractions, ``≈`` for long values.

One formatter shared by the lesson's renderers (:mod:`gradguard.explain._render`), its
tables (:mod:`gradguard.explain._table`), its claims (:mod:`gradguard.explain._claims`),
the report and the explorer — the same number format in every medium and language.
"""

from __future__ import annotations

import math
import re
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
    from gradguard.lab.numbers import sci_from_log

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


#: A non-integer whose exact text is longer than this many characters — a terminating
#: decimal (``0.000732421875``), else ``p/q`` (``1/3``) — is shown as a rounded decimal
#: (``≈ 47.2303``); its exact value is one click away on the pages (:func:`exact_text`) and
#: behind ``--exact`` on the command line.
SHORT = {"decimal": 16, "fraction": 12}
#: Significant digits of a rounded decimal (more where fewer would round to a whole number).
_SIG = 6
#: Powers of ten shown as plain decimals (``≈ 0.001235``, ``≈ 123500``); outside, ``× 10^k``.
_PLAIN = range(-3, 6)
#: Whether the numbers rendered in this context are written exactly (``--exact``).
_EXACT: ContextVar[bool] = ContextVar("gradguard_render_exact", default=False)


def exact_text(v: Any, latex: bool = False) -> str | None:
    """The exact value of a lesson value as text (``"99049307841/2097152000"``), or None.

    None for values given only approximately (``"≈…"``, floats). A terminating decimal is
    written as one (``"1.753125"``), other fractions as ``p/q`` (``\\frac{p}{q}`` in LaTeX).
    """
    if not isinstance(v, str) or v.startswith("≈") or v in ("nan", "inf", "-inf"):
        return None
    _, _, den = v.partition("/")
    if not den:
        return v
    if len(v) > 4000:  # too long to divide out; the fraction is its own exact text
        return v
    x = Fraction(v)
    dec = _decimal(x)
    if dec is not None:
        return dec
    if latex:
        sign = "-" if x < 0 else ""
        return f"{sign}\\frac{{{abs(x.numerator)}}}{{{x.denominator}}}"
    return f"{x.numerator}/{x.denominator}"


def _rounded(x: Fraction, latex: bool = False) -> str:
    """``x`` correctly rounded to :data:`_SIG` significant digits (more if that gives a whole
    number: a non-integer never reads as one, so it stays on its side of 0, ±1, every integer)."""
    from decimal import Decimal, localcontext

    sig = _SIG
    while True:
        with localcontext() as ctx:
            ctx.prec = sig
            d = Decimal(x.numerator) / Decimal(x.denominator)
        if d != d.to_integral_value() or d.adjusted() >= _PLAIN.stop or sig > 60:
            break
        sig += 4
    exp = d.adjusted()
    if exp in _PLAIN:
        text = f"{d:f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text
    mant = f"{d.scaleb(-exp):f}"
    if "." in mant:
        mant = mant.rstrip("0").rstrip(".")
    return f"{mant} \\times 10^{{{exp}}}" if latex else f"{mant} × 10^{exp}"


def _approx_mark(mant: str, exp: int, latex: bool) -> str:
    """``≈ 0.1235`` for a power of ten in :data:`_PLAIN`, else ``≈ 1.235 × 10^-7``."""
    if exp in _PLAIN and exp != 0:
        from decimal import Decimal

        text = f"{Decimal(mant).scaleb(exp):f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        mant, exp = text, 0
    if exp == 0:
        return f"\\approx {mant}" if latex else f"≈ {mant}"
    if latex:
        return f"\\approx {mant} \\times 10^{{{exp}}}"
    return f"≈ {mant} × 10^{exp}"


#: A run of 4+ digits that is an integer part: not after a ``.`` (decimals), ``^`` or ``^-``
#: (an exponent: ``10^-1003``, ``10^{-1003}`` in LaTeX), ``/`` (a denominator), a digit or a
#: ``,`` (already grouped).
_INTEGER_PART = re.compile(r"(?<![\d.,^/{])(?<!\^-)(?<!\^\{-)\d{4,}")


def group_digits(n: int, latex: bool = False) -> str:
    """A whole number's digits in groups of three: ``-9,998``; ``-9{,}998`` in LaTeX math.

    The one grouping rule of the lesson — every whole part of 4+ digits, in prose, tables
    and formulas, in every language. ``{,}`` keeps KaTeX and MathJax from spacing the comma
    as punctuation.
    """
    text = f"{n:,}"
    return text.replace(",", "{,}") if latex else text


def _grouped(text: str, latex: bool = False) -> str:
    """Thousands separators in the integer parts of a shown number: ``≈ -44,336.8``, ``1,024``.

    A fraction ``p/q`` is left as written (its numerator and denominator are read together),
    and an exponent too (``10^-1003``).
    """
    if "/" in text or "frac" in text:
        return text
    return _INTEGER_PART.sub(lambda m: _group_text(m[0], latex), text)


def _group_text(digits: str, latex: bool = False) -> str:
    """:func:`group_digits` of a digit string, however long (``int()`` refuses past 4300)."""
    head = len(digits) % 3 or 3
    parts = [digits[:head], *(digits[i : i + 3] for i in range(head, len(digits), 3))]
    return ("{,}" if latex else ",").join(parts)


def format_number(
    v: Any,
    group: bool = False,
    latex: bool = False,
    lang: str | None = None,
    exact: bool | None = None,
) -> str:
    """Format a lesson value (``"80"``, ``"6/5"``, an approx dict, a float) for people.

    The one number format of every medium (terminal, Markdown, JSON's texts, the report,
    the explorer) and language. Integers stay integers; ``group=True`` adds thousands
    separators to them and to a decimal's integer part (``1,024``, ``≈ -44,336.8``: prose,
    tables and formulas; ``1{,}024`` in LaTeX: :func:`group_digits`); a fraction is written
    exactly while that is short — as a decimal when it terminates (``6/5`` → ``1.2``), else
    ``p/q`` (``\\frac{p}{q}`` in LaTeX) — and as a rounded decimal beyond :data:`SHORT`
    characters (``99049307841/2097152000`` → ``≈ 47.2303``; :func:`exact_text` gives the
    exact one). Values over 40 digits become ``≈ 1.268 × 10^30 (31 digits)`` and abbreviated
    values ``≈ 1.268 × 10^30``; powers of ten from 10^-3 to 10^5 are written out
    (``≈ 0.1235``). The digit count is said in ``lang`` (default: the language of the lesson
    being rendered, else English).

    Args:
      exact: write every exact value in full (``--exact``); default: as the rendering
        context says (:func:`numbers_in`), else False.
    """
    if exact is None:
        exact = _EXACT.get()
    if isinstance(v, str) and v.startswith("≈") and "e" in v:
        mant, _, exp = v[1:].partition("e")
        text = _approx_mark(mant, int(exp), latex)
        return _grouped(text, latex) if group else text  # ≈ -1,000 (10^3 written out)
    if isinstance(v, float):
        if math.isinf(v) or math.isnan(v):
            return str(v)
        return f"{v:.6g}"
    if exact and isinstance(v, str) and not v.startswith("≈") and v[-1:].isdigit():
        exact_v = exact_text(v, latex)
        if exact_v is not None:
            return _grouped(exact_v, latex) if group else exact_v
    if isinstance(v, str) and len(v) > _MAX_SHOWN_DIGITS + 2 and v[-1].isdigit():
        digits = len(v.lstrip("-")) if "/" not in v else None
        text = format_number(_approx_long(v), group, latex)
        if digits is None or latex:
            return text
        words = load_catalog(lang or _LANG.get()).get("numbers.digits", n=f"{digits:,}")
        return f"{text} ({words})"
    x = _frac(v)
    if x is None:
        return str(v)
    if x.denominator == 1:
        n = x.numerator
        return group_digits(n, latex) if group else str(n)
    text = _fraction_text(v, x, latex)
    return _grouped(text, latex) if group else text


def _fraction_text(v: Any, x: Fraction, latex: bool) -> str:
    """A non-integer exactly while short, else rounded (:func:`format_number`)."""
    text = exact_text(v if isinstance(v, str) else f"{x.numerator}/{x.denominator}", latex)
    assert text is not None
    is_decimal = "/" not in text and "frac" not in text
    size = len(text.lstrip("-")) if is_decimal else len(f"{abs(x.numerator)}/{x.denominator}")
    if size <= SHORT["decimal" if is_decimal else "fraction"]:
        return text
    mark = "\\approx " if latex else "≈ "
    return mark + _rounded(x, latex)


def count(n: int | None) -> str:
    """Format a whole number of steps for prose: ``1,016``; from 10^15 on ``≈ 1.798 × 10^308``.

    Horizons and peaks near ``|w| = 1`` are astronomically large (``w = 1``:
    about 1.8 × 10^308 steps in float64); their 309 digits say less than the
    scientific form (correctly rounded).
    """
    if n is None:
        return ""
    if abs(n) < 10**15:
        return group_digits(n)
    from gradguard.lab.numbers import sci

    return format_number("≈" + sci(n))
