"""One number, one way of writing it, in every medium and both languages.

The lesson's sentences (its claims, :func:`gradguard.explain.say`) are shown by the terminal
and Markdown lessons, the HTML report and the explorer. Each writes a number as the tables
do: whole parts grouped in thousands (``49,960,011,998,400,080``, ``≈ -44,336.8``), a rounded
number as ``≈ m × 10^k`` (never ``2.684e+09``), a negative sign as the ASCII ``-`` of
``-9998`` and ``"-inf"`` (never ``−inf`` beside ``(-1.5)``). Checked at fixed points that
reach negatives, long values and overflow, and as a property over exact parameters.
"""

from __future__ import annotations

import html
import re
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradguard.explain import claims, lesson, render_markdown, render_text, say
from gradguard.explain.table import overflow_inf

LANGS = ("en", "bn")
#: (w, h0, T): the seed; a negative w (ratios -15.19, rounded ≈ -44,336.8); h0 < 0 (-inf);
#: w = 10^6 (|w| in the millions); a long gradient (T = 60: 20 digits); w = -2 (±inf).
POINTS = [
    ("2", "1", 5),
    ("-1.5", "1", 20),
    ("2", "-1", 5),
    ("1000000", "1", 5),
    ("2", "1", 60),
    ("-2", "3", 12),
    ("1/3", "-7", 3),
]
#: A whole part of 4+ digits written without separators: not a year (Pascanu 2013), not
#: after a point, an exponent's ``^`` / ``^-``, a ``/`` or a separator.
UNGROUPED = re.compile(r"(?<![\d.,^/\w])(?<!\^-)(?<!\^\{)-?\d{4,}(?![\d/])")
#: An exponent written with separators (10^-1,003): grouping is for whole parts only.
GROUPED_EXPONENT = re.compile(r"\^-?\d{1,3},\d")
YEAR = re.compile(r"^(19|20)\d\d$")


def _ungrouped(text: str) -> list[str]:
    return [m for m in UNGROUPED.findall(text) if not YEAR.match(m.lstrip("-"))]


def _problems(sentence: str) -> list[str]:
    found = [f"ungrouped {m}" for m in _ungrouped(sentence)]
    found += [f"grouped exponent {m}" for m in GROUPED_EXPONENT.findall(sentence)]
    found += [f"e-notation {m}" for m in re.findall(r"\d\.?\d*e[+-]\d+", sentence)]
    # a value's sign is ASCII: "−" (the operator) never stands for a number's sign; the
    # symbols (−1)^(T−1) and −1/ln|w| are formulas'
    minus = r"(?:^|[\s(=])−(?:\d[\d,.]*|inf)(?![\d,.]*(?:\)\^|/))"
    found += [f"minus sign {m}" for m in re.findall(minus, sentence)]
    return found


def _sentences(w: str, h0: str, T: int, lang: str) -> list[str]:
    return [say(c, lang) for c in claims(w, h0, T, "0.01", "5", (5, 10, 20, 50))]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(("w", "h0", "T"), POINTS)
def test_every_sentence_writes_its_numbers_as_the_tables_do(w, h0, T, lang):
    for sentence in _sentences(w, h0, T, lang):
        assert _problems(sentence) == [], sentence


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(("w", "h0", "T"), [POINTS[1], POINTS[2], POINTS[3]])  # a report: 3 s
def test_the_same_sentence_in_terminal_markdown_report_and_explorer(w, h0, T, lang):
    """Each claim the report and the explorer show reads, number for number, as the lesson's."""
    from gradguard.report import build_report
    from gradguard.serve import explorer_state

    d = lesson(w=w, h0=h0, T=T, lang=lang)
    text, markdown = render_text(d), render_markdown(d)
    page = html.unescape(re.sub(r"<[^>]+>", "", build_report(lang=lang, w=w, h0=h0, T=T, sgd={})))
    state = explorer_state({"w": w, "h0": h0, "T": str(T), "lang": lang})
    shown = " ".join([state["trend"], state["why"], state["sgd"]["text"], state["clip"]["text"]])
    sentences = [say(c, lang) for c in d["claims"]]
    numbers = [n for s in sentences for n in re.findall(r"-?\d[\d,]*\.?\d*", s) if "," in n]
    assert numbers or (w, h0) == ("2", "-1")  # the others reach grouped numbers
    for s in sentences:
        assert _flat(s) in _flat(text), s
        assert _flat(s) in _flat(markdown), s
    # the report and the explorer show the claims on their topics (not the exam's nor the
    # remedies'): every grouped number of those is in them as the lesson writes it
    topics = ("trend", "regime", "peak", "next_T", "alternating", "update", "after_update")
    for c in d["claims"]:
        if c["id"].partition(".")[0] in topics:
            s = say(c, lang)
            assert _flat(s) in _flat(page), s
            assert _flat(s) in _flat(shown), s


def _flat(text: str) -> str:
    """Text without Markdown emphasis, math delimiters, the report's exact-value marks and
    repeated spaces: what a reader reads."""
    from gradguard.report._lesson import tidy  # "= ≈ 443.4" is written "≈ 443.4"

    text = re.sub(r"\x03[^\x04]*\x04", "", text)  # a rounded number's exact value (a title)
    text = re.sub(r"[\x02*`$]", "", tidy(text))
    return re.sub(r"\s+", " ", text)


def test_grouping_leaves_exponents_decimals_and_fractions_alone():
    from gradguard.explain import format_number

    assert format_number("≈-7.908e-1003", True) == "≈ -7.908 × 10^-1003"
    assert format_number("≈1.5e+1234", True) == "≈ 1.5 × 10^1234"
    assert format_number("-123456789/1000", True) == "-123,456.789"
    assert format_number("12345/7", True) == "12345/7"
    assert format_number("-12345.6789", True) == "-12,345.6789"


@pytest.mark.parametrize("lang", LANGS)
def test_the_overflow_sentence_says_minus_inf_as_numbers_are_written(lang):
    """h0 < 0 overflows to "-inf" — the sign every negative value in the lesson has."""
    d = lesson(w="2", h0="-1", T=5, lang=lang)
    assert overflow_inf("2", "-1") == "-inf" and overflow_inf("-2", "1") == "±inf"
    text = render_text(d)
    assert "-inf" in text and "−inf" not in text
    assert "≈ 1.798 × 10^308" in text and "e+308" not in text  # float64's largest, rounded
    assert "(-1)" in render_text(lesson(w="-1", h0="-1", T=3, lang=lang))


def _exact_q(draw_num: int, draw_den: int) -> str:
    return str(Fraction(draw_num, draw_den))


@settings(max_examples=60, deadline=None)
@given(
    w=st.builds(_exact_q, st.integers(-3000, 3000), st.sampled_from([1, 2, 3, 4, 10, 1000])),
    h0=st.builds(_exact_q, st.integers(-5000, 5000), st.sampled_from([1, 2, 7])),
    T=st.integers(1, 80),
    lang=st.sampled_from(LANGS),
)
def test_no_sentence_writes_a_number_another_way(w, h0, T, lang):
    for sentence in _sentences(w, h0, T, lang):
        assert _problems(sentence) == [], sentence
