"""One number, one way of writing it, in every medium and both languages.

The lesson's sentences (its claims, :func:`gradguard.explain.say`) are shown by the terminal
and Markdown lessons, the HTML report and the explorer. Each writes a number as the tables
do: whole parts grouped in thousands (``49,960,011,998,400,080``, ``≈ -44,336.8``), a rounded
number as ``≈ m × 10^k`` (never ``2.684e+09``), a negative sign as the ASCII ``-`` of
``-9998`` and ``"-inf"`` (never ``−inf`` beside ``(-1.5)``). Checked at fixed points that
reach negatives, long values and overflow, and as a property over exact parameters.
"""

from __future__ import annotations

import concurrent.futures
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


# ------------------------------------------------------------------ formulas
#: (w, h0, T): the seed (a gradient of 10^6 throws w to -9,998: the formula and the sentence
#: beside it) and T = 50 (h_50 = 1,125,899,906,842,624; a 20-digit gradient in every formula).
FORMULA_POINTS = [("2", "1", 5), ("2", "1", 50)]
#: A comma between digits in LaTeX math: KaTeX and MathJax space it as punctuation (``{,}``).
LATEX_BARE_COMMA = re.compile(r"\d,\d")
#: LaTeX display math (``$$…$$``) in Markdown and in the report's HTML.
LATEX_BLOCK = re.compile(r"\$\$(.*?)\$\$", re.S)


def _formula_problems(formula: str, latex: bool) -> list[str]:
    """Numbers in a formula written otherwise than the sentences write them."""
    found = [f"LaTeX comma {m}" for m in LATEX_BARE_COMMA.findall(formula)] if latex else []
    text = formula.replace("{,}", ",")
    found += [f"ungrouped {m}" for m in _ungrouped(text)]
    found += [f"grouped exponent {m}" for m in GROUPED_EXPONENT.findall(text)]
    return found


def _expected(w: str, h0: str, T: int) -> list[str]:
    """The numbers that a formula and a sentence both state at (w, h0, T), grouped, from the lab
    (Python's own ``{:,}``, not the formatter under test)."""
    from gradguard.lab import grad_closed_form, sgd_step, state

    if T == 5:  # the seed: 2 − 0.01 × 10^6
        return [f"{int(sgd_step(w, 10**6, '0.01')):,}"]
    return [f"{int(state(w, h0, T)):,}", f"{int(grad_closed_form(w, h0, T)):,}"]


def _lesson_formulas(w: str, h0: str, T: int, lang: str) -> tuple[list[str], list[str], str]:
    """The terminal lesson's formulas (its indented lines), Markdown's ``$$`` blocks, and the
    terminal lesson's sentences (every other line)."""
    d = lesson(w=w, h0=h0, T=T, lang=lang)
    text = render_text(d)
    # display math is indented by 4 (the table's rows, further: its "seed says" column
    # quotes the seed's "≈ 1024")
    terminal = [line for line in text.splitlines() if re.match(r"    \S", line)]
    sentences = "\n".join(line for line in text.splitlines() if not line.startswith(" "))
    return terminal, LATEX_BLOCK.findall(render_markdown(d)), sentences


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(("w", "h0", "T"), FORMULA_POINTS)
def test_a_formula_writes_its_numbers_as_the_sentence_beside_it(w, h0, T, lang):
    """Terminal and Markdown: ``w_new = 2 − 0.01 × 10^6 = -9,998`` (``-9{,}998`` in LaTeX)
    beside "w is thrown from 2 to -9,998"; ``L = 1,125,899,906,842,624`` at T = 50."""
    terminal, latex, sentences = _lesson_formulas(w, h0, T, lang)
    for formula in terminal:
        assert _formula_problems(formula, latex=False) == [], formula
    for formula in latex:
        assert _formula_problems(formula, latex=True) == [], formula
    plain = "\n".join(terminal)
    tex = "\n".join(latex).replace("{,}", ",")
    for number in _expected(w, h0, T):
        assert f"= {number}" in plain, number
        assert f"= {number}" in tex, number
    # the sentence that states it: "w is thrown from 2 to -9,998", "Gradient = 28,147,…"
    assert _expected(w, h0, T)[-1] in sentences


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(("w", "h0", "T"), FORMULA_POINTS)
def test_the_reports_formulas_write_numbers_as_its_sentences(w, h0, T, lang):
    """The report: its LaTeX (``h_{50} = … = 1{,}125{,}899{,}906{,}842{,}624``), its formula
    sentences (``L = h_T = 1,125,899,906,842,624``, ``w_new = -9,998``) and its claims alike."""
    from gradguard.report import build_report

    report = build_report(lang=lang, w=w, h0=h0, T=T, sgd={})
    # the lesson's sections (not the page's scripts, styles and figures)
    page = "".join(
        re.findall(
            r'<section id="(?:forward|backward|explosion|why|sgd)">.*?</section>', report, re.S
        )
    )
    latex = [html.unescape(m) for m in LATEX_BLOCK.findall(page)]
    for formula in latex:
        assert _formula_problems(formula, latex=True) == [], formula
    page = re.sub(r"<svg.*?</svg>|<img[^>]*>", "", page, flags=re.S)  # figures
    page = LATEX_BLOCK.sub("", page)
    prose = _flat(html.unescape(re.sub(r"<[^>]+>", "", page)))
    cells = html.unescape(re.sub(r"<[^>]+>", " ", page))  # a table's cells apart
    assert _ungrouped(cells.replace("≈ 1024", "")) == []  # but the seed's words, quoted
    for number in _expected(w, h0, T):
        assert number in prose, number
    if T != 5:  # h_T typeset (forward) and said (L = h_T = …), the gradient said (∂L/∂w = …)
        h_T, grad = _expected(w, h0, T)
        assert any(f"= {h_T}" in f.replace("{,}", ",") for f in latex), h_T
        assert f"L = h_T = {h_T}" in prose and f"∂L/∂w = {grad}" in prose
    else:  # the seed's w_new is said beside the lesson's sentence on it
        big = claim_said(w, h0, T, lang, "big_grad")
        assert _expected(w, h0, T)[0] in big and _flat(big) in prose


def claim_said(w: str, h0: str, T: int, lang: str, topic: str) -> str:
    """The lesson's sentence on ``topic`` at (w, h0, T)."""
    d = lesson(w=w, h0=h0, T=T, lang=lang)
    (c,) = [c for c in d["claims"] if c["id"].partition(".")[0] == topic]
    return say(c, lang)


@pytest.mark.browser
@pytest.mark.parametrize(("w", "h0", "T"), FORMULA_POINTS)
def test_the_explorers_formulas_write_numbers_as_the_lesson(w, h0, T, tmp_path):
    """The explorer in Chromium (its JavaScript, not the Python reference): the forward and
    backward lines, the gradient, the SGD formulas, in both languages, as the lesson writes
    them — ``2 → -9,998`` beside the lesson's "w is thrown from 2 to -9,998"."""
    import shutil

    chromium = "/usr/bin/chromium"
    if not shutil.which(chromium):
        pytest.skip(f"Chromium not found at {chromium}")
    from gradguard.serve import write_page

    path = tmp_path / "explorer.html"
    write_page(path, "en")
    # In a thread of its own: tests/browser's session-wide Playwright may still run its event
    # loop in this one, where a second sync_playwright() refuses to start.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        errors = pool.submit(_explorer_formulas, path, w, h0, T).result()
    assert errors == []


def _explorer_formulas(path, w, h0, T):
    from playwright.sync_api import sync_playwright

    chromium = "/usr/bin/chromium"
    ids = ("forward", "backward", "grad", "sgd", "sgd-first", "sgd-million")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            pg = browser.new_page()
            errors: list[str] = []
            pg.on("pageerror", lambda e: errors.append(str(e)))
            for lang in LANGS:
                pg.goto(path.as_uri() + f"?lang={lang}")
                pg.wait_for_function("window.GG && GG.page && GG.page.state()")
                for name, value in (("w", w), ("h0", h0), ("T", str(T))):
                    pg.fill(f"#{name}-num", value)
                shown = {i: pg.inner_text(f"#{i}") for i in ids}
                for i, text in shown.items():
                    assert _formula_problems(text, latex=False) == [], (lang, i, text)
                formulas = " ".join(shown.values())
                sentences = render_text(lesson(w=w, h0=h0, T=T, lang=lang))
                for number in _expected(w, h0, T):
                    assert number in formulas and number in sentences, (lang, number)
                if T == 5:
                    assert shown["sgd-million"].endswith(f"2 → {_expected(w, h0, T)[0]}")
                    assert _expected(w, h0, T)[0] in claim_said(w, h0, T, lang, "big_grad")
                else:
                    h_T, grad = _expected(w, h0, T)
                    assert shown["grad"] == grad
                    assert (
                        f"h_{T} = 2 × {int(state_of(w, h0, T - 1)):,} = {h_T}" in shown["forward"]
                    )
        finally:
            browser.close()
    return errors


def state_of(w: str, h0: str, t: int) -> object:
    from gradguard.lab import state

    return state(w, h0, t)
