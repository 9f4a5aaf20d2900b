"""The lesson's numbers for the report and the explorer: :func:`gradguard.explain.lesson`.

One implementation of the math: everything here comes from the lab through
``gradguard.explain.lesson`` (a JSON-ready dict of exact values as strings);
this module picks how much to abbreviate and formats values for people.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from gradguard.errors import InputError

#: Up to this T the report computes the whole BPTT trace exactly and checks it
#: against the closed form; above it values are abbreviated (``≈ d.ddd × 10^k``).
EXACT_TRACE_T = 1000


def lesson_data(
    w: object = 2,
    h0: object = 1,
    T: object = 5,
    eta: object = "0.01",
    c: object = 5,
    lang: str = "en",
    *,
    abbreviate: int | None = None,
) -> dict[str, Any]:
    """Return :func:`gradguard.explain.lesson` for these parameters.

    Args:
      w, h0, T, eta, c: the seed's symbols (weight, initial state, time steps,
        learning rate, clipping threshold).
      lang: a language with catalogs (``gradguard.explain.languages()``).
      abbreviate: digits above which values are abbreviated (``None``: exact
        up to :data:`EXACT_TRACE_T` and gradients of up to 2,000 digits,
        abbreviated to 40 digits beyond).

    Raises:
      InputError: a bad parameter, named as the library names it (``T``, ``eta``, ``c``).
    """
    from gradguard.explain import lesson

    try:
        t_int = int(str(T).strip())
    except ValueError:
        t_int = 0
    if abbreviate is None and (t_int > EXACT_TRACE_T or _long_gradient(w, h0, t_int)):
        abbreviate = 40
    return lesson(w=w, h0=h0, T=T, eta=eta, c=c, lang=lang, abbreviate=abbreviate)


#: A gradient with a longer exact text than this is abbreviated from the start: the report
#: shows 40 digits at most, and the exact trace of, say, w = 0.123456789 at T = 1000 (fractions
#: of ~9,000 digits, a thousand of them) is slow to build for nothing shown.
_EXACT_DIGITS = 2000


def _long_gradient(w: object, h0: object, T: int) -> bool:
    from gradguard.lab import to_exact
    from gradguard.lab.numbers import estimate_digits

    try:
        wx, hx = to_exact(w, "w"), to_exact(h0, "h0")
    except InputError:
        return False  # lesson() names the bad value
    return T >= 1 and estimate_digits(wx, hx, T - 1, T) > _EXACT_DIGITS


#: Around a number shown rounded, in text on its way to HTML: shown, exact (see :func:`num`).
OPEN, SEP, CLOSE = "\x02", "\x03", "\x04"


def num(v: Any, group: bool = False) -> str:
    """A lesson value as shown (:func:`fmt`), carrying its exact value when that differs.

    ``"99049307841/2097152000"`` → ``≈ 47.2304`` marked with its exact text; the page
    writer (:func:`gradguard.report._html._html`) turns the mark into a ``title``, so the
    exact value is one click (or hover) away. Short values come back unmarked. ``group``:
    thousands grouped, as the lesson's sentences write them (:func:`prose_num`).
    """
    from gradguard.explain import format_number
    from gradguard.explain.text import exact_text

    shown, exact = format_number(v, group=group), exact_text(v)
    if exact is None or exact == shown or exact == shown.replace(",", ""):
        return shown
    return f"{OPEN}{shown}{SEP}{exact}{CLOSE}"


def prose_num(v: Any) -> str:
    """:func:`num` for a sentence of the lesson: ``49,960,011,998,400,080`` (as :func:`say`)."""
    return num(v, group=True)


def said(
    claims: list[dict[str, Any]],
    topics: tuple[str, ...],
    lang: str,
    number: Callable[[Any], str] | None = None,
) -> list[str]:
    """The lesson's sentences on ``topics``, in that order (:mod:`gradguard.explain._claims`).

    The report and the explorer state exactly what the lesson states: the same claims,
    chosen by the same conditions, in the same catalog sentences.
    """
    from gradguard.explain import say

    by_topic = {c["id"].partition(".")[0]: c for c in claims}
    return [say(by_topic[t], lang, number) for t in topics if t in by_topic]


def erratum(kind: str, lang: str) -> str:
    """The seed's erratum ``kind``: :func:`gradguard.explain.erratum` (the lesson's own text)."""
    from gradguard.explain import erratum as lesson_erratum

    return lesson_erratum(kind, lang)


def fmt(v: Any) -> str:
    """Format a lesson value for people: ``"6/5"`` → ``1.2``, ``"≈1.3e+30"`` → ``≈ 1.3 × 10^30``,
    ``"-9998"`` → ``-9,998`` (grouped, as every sentence, table and formula writes it)."""
    from gradguard.explain import format_number

    return format_number(v, group=True)


def factor(text: str) -> str:
    """A shown number as a factor of a product, in parentheses when negative or ``× 10^k``.

    ``0.7 × (-3)``, never ``0.7 × -3``; ``(1.524 × 10^-2)·w^k``. An approximate factor loses
    its ``≈`` (the one before the result is the mark that matters, as in :func:`tidy`); a
    number marked with its exact value (:func:`num`) keeps the mark, inside the parentheses.
    """
    mark = OPEN if text.startswith(OPEN) else ""
    body = text.removeprefix(mark)
    if body.removeprefix("≈ ").startswith("-") or " × 10^" in body:
        return f"({mark}{body.removeprefix('≈ ')})"
    return text


def base(text: str) -> str:
    """A shown number as the base of a power: in parentheses unless a whole number ``≥ 0``.

    ``(-1.5)^4``, ``(1/3)^2``, ``(0.5)^3`` — never ``-1.5^4`` (which reads ``−(1.5^4)``) or
    ``1/3^2`` (which reads ``1/(3^2)``): the same rule as the lesson's and the report's math.
    """
    if re.fullmatch(r"\d[\d,]*", text):
        return text
    return f"({text.removeprefix('≈ ')})"


def tidy(text: str) -> str:
    """Read approximations naturally: ``x = ≈ 1.2 × 10^30`` → ``x ≈ 1.2 × 10^30``.

    An approximate operand (``2 × ≈ 1.5 × 10^-2``) loses its mark: the ``≈``
    that matters is the one before the result, and the sentence reads as math.
    """
    for before, after in (("= ≈ ", "≈ "), ("× ≈ ", "× "), ("+ ≈ ", "+ "), ("− ≈ ", "− ")):
        text = text.replace(before, after)
        # the same around a number marked with its exact value (num)
        text = text.replace(before[:2] + OPEN + before[2:], after[:-2] + OPEN + after[-2:])
    return text


def shown_steps(T: int, head: int, tail: int) -> list[int]:
    """Return the steps 1…T to show: all if few, else the first and last (0 marks the gap)."""
    if head + tail + 1 >= T:
        return list(range(1, T + 1))
    return [*range(1, head + 1), 0, *range(T - tail + 1, T + 1)]
