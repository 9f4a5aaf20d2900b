"""The page's numbers and sentences equal the Python lab's, in both languages.

The page (``static/lab.js``, run in Chromium from the built single file over
``file://``) is held to :func:`gradguard.serve.explorer_state`, the Python
reference: 240 random parameter points and every degenerate case, each in
English and Bengali, every key compared as text (the plot's curve, floats drawn
as pixels, to 2·10^-6 in log10). Bad input gives the same one-line message.
"""

from __future__ import annotations

import json
import random
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from gradguard.errors import InputError
from gradguard.serve import explorer_state

pytestmark = pytest.mark.browser

#: (w, h0, T, eta, c) — each degenerate case of the lesson, and the seed's own point.
DEGENERATE = [
    ("2", "1", "5", "0.01", "5"),  # the seed: 80 → 1.2
    ("2", "0", "5", "0.01", "5"),  # h0 = 0: the gradient is 0
    ("0", "1", "5", "0.01", "5"),  # w = 0
    ("0", "3", "1", "0.01", "5"),  # w = 0, T = 1: the gradient is h0
    ("2", "1", "1", "0.01", "5"),  # T = 1
    ("1.99", "1", "1", "0.01", "5"),  # T = 1, |w| just under 2
    ("1", "1", "50", "0.01", "5"),  # |w| = 1: linear
    ("-1", "1", "6", "0.01", "5"),  # w = −1: linear, alternating
    ("-1", "2", "7", "0.3", "1"),  # w = −1, odd T
    ("-1.5", "1", "4", "0.01", "5"),  # negative w
    ("-1.5", "2", "9", "0.25", "3"),  # negative w, a step that pushes it away from 0
    ("0.5", "1", "5", "1", "5"),  # w − η·g changes sign
    ("2", "1", "5", "1", "100"),  # 2 − 80 = −78: sign change, no clipping
    ("2", "1", "5", "0.0125", "5"),  # the update leaves |w| = 1
    ("1.1", "1", "3", "0.05", "5"),  # the update leaves |w| < 1
    ("0.5", "1", "5", "0.01", "5"),  # w = T/(T+1) at T = 1: peak tie at T = 1 and 2
    ("2/3", "1", "5", "0.01", "5"),  # peak tie at T = 2 and 3
    ("3/4", "1", "8", "0.01", "5"),  # peak tie at T = 3 and 4
    ("0.9", "1", "10", "0.01", "5"),  # peak at T = 9 and 10
    ("1e-3", "1", "3", "0.01", "5"),
    ("3/7", "-2", "12", "0.01", "0.5"),
    ("1.01", "1", "10000", "0.01", "5"),  # abbreviated values, bounded precision in Python
    ("0.123456789", "1", "3000", "0.01", "5"),
    ("-2", "1", "1000", "0.01", "5"),
    ("2", "1", "1016", "0.01", "5"),  # float64's overflow horizon
    ("10", "1.2345", "60", "0.01", "5"),  # a decimal tie in the shown digits
    ("1", "0.5", "10000", "2", "1/3"),
    ("2", "1", "5", "0.025", "5"),  # η·g = w: the update lands on w = 0
    ("2", "1", "5", "0.05", "100"),  # η·g = 2w: w = −2, |w| unchanged
    ("5/6", "1", "5", "0.01", "5"),  # |w| = T/(T+1): the gradient the same at T + 1
    ("0", "1", "2", "0.5", "5"),  # a gradient of 10^6 throws w to −500000; the next step: 0
    ("1", "1", "2", "1", "5"),  # … to −999999, then 999999, −999999 …: for ever
    ("10000", "1", "2", "0.01", "5"),  # … moves w = 10000 to 0: a 100 % change, not "only"
    ("5", "1", "2", "0.01", "5"),  # |g| = 10·|h0|: "very large" at its boundary
    ("9/2", "1", "2", "0.01", "5"),  # |g| = 9 just under it
    ("0.88", "1", "6", "0.01", "5"),  # a peak at one T (⌈22/3⌉ = 8) after the table's first row
    ("2", "1", "5", "0.04", "5"),  # η·g = 3.2: w crosses 0 and lands nearer it (−1.2)
    ("1000000", "1", "5", "0.01", "5"),  # a gradient of 10^6 moves w by 1 %
    ("2", "1", "5", "1/10000000", "5"),  # η = 10^-7: that gradient moves w to 1.9 only
]


def _random_points(n: int, seed: int = 20240518) -> list[tuple[str, str, str, str, str]]:
    r = random.Random(seed)

    def number(scale: int) -> str:
        kind = r.randrange(4)
        if kind == 0:
            return str(r.randint(-scale, scale))
        if kind == 1:
            return f"{r.uniform(-scale, scale):.{r.randint(1, 4)}f}"
        if kind == 2:
            return f"{r.randint(-9 * scale, 9 * scale)}/{r.randint(1, 9)}"
        return f"{r.uniform(0.5, 1.5) * r.choice([-1, 1]):.3f}"

    def positive() -> str:
        return r.choice(["0.01", "0.001", "0.1", "1/8", "0.05", "2", "5", "100", "1e-4"])

    points = []
    for _ in range(n):
        big = r.random() < 0.1
        T = r.randint(60, 2000) if big else r.randint(1, 60)
        points.append((number(3), number(5), str(T), positive(), positive()))
    return points


POINTS = DEGENERATE + _random_points(240)
BAD = [
    {"T": "x"},
    {"T": "0"},
    {"T": "10001"},
    {"T": "2.5"},
    {"w": "nan"},
    {"w": "1/0"},
    {"w": "1e5000"},
    {"h0": "abc"},
    {"eta": "0"},
    {"eta": "-1"},
    {"c": "0"},
    {"c": "-1/2"},
    {"w": "it's"},
]


def _reference(params: dict[str, str]) -> dict[str, Any]:
    ref = explorer_state(params)
    ref.pop("labels")
    return json.loads(json.dumps(ref, ensure_ascii=False))


@pytest.fixture(scope="module")
def lab(browser: Any, page_file: Path) -> Any:
    ctx = browser.new_context()
    pg = ctx.new_page()
    pg.goto(page_file.as_uri())
    yield pg
    ctx.close()


def _page_states(lab: Any, params: list[dict[str, str]]) -> list[Any]:
    return lab.evaluate(
        """(ps) => ps.map((p) => {
            try { return GG.explorerState(p); }
            catch (e) {
              if (e instanceof GG.InputError) {
                return {error: e.message_(p.lang), argument: e.argument};
              }
              return {bug: String(e)};
            }
        })""",
        params,
    )


def _compare(ref: dict[str, Any], got: dict[str, Any], where: str) -> None:
    ref_curve, got_curve = ref.pop("curve"), got.pop("curve")
    assert got == ref, where
    assert got_curve["T"] == ref_curve["T"] and got_curve["current_T"] == ref_curve["current_T"]
    for a, b in zip(ref_curve["log10_grad"], got_curve["log10_grad"], strict=True):
        assert (a is None) == (b is None), where
        if a is not None:
            assert abs(a - b) <= 2e-6, where


@pytest.mark.parametrize("lang", ["en", "bn"])
def test_page_equals_the_lab_at_every_point(lab: Any, lang: str) -> None:
    params = [
        {"w": w, "h0": h0, "T": T, "eta": eta, "c": c, "lang": lang} for w, h0, T, eta, c in POINTS
    ]
    got = _page_states(lab, params)
    assert len(params) >= 200 + len(DEGENERATE)
    for p, g in zip(params, got, strict=True):
        assert "bug" not in g and "error" not in g, (p, g)
        _compare(_reference(p), g, json.dumps(p))


@pytest.mark.parametrize("lang", ["en", "bn"])
def test_bad_input_gives_the_same_message(lab: Any, lang: str) -> None:
    params = [{**p, "lang": lang} for p in BAD]
    for p, g in zip(params, _page_states(lab, params), strict=True):
        with pytest.raises(InputError) as e:
            explorer_state(p)
        assert g == {"error": e.value.message(lang), "argument": e.value.argument}, p


def test_the_degenerate_cases_reach_every_sentence_of_the_lesson() -> None:
    # each claim the lesson can make (every key of the claims' catalog sections) is made at
    # one of the degenerate points at least, so the page is compared on every sentence
    from gradguard._catalog import load_catalog
    from gradguard.explain._claims import TOPICS, claims

    lesson = load_catalog("en", "lesson")
    every = {f"{topic}.{key}" for topic in TOPICS for key in lesson.section(topic)}
    made = {c.id for w, h0, T, eta, c_ in DEGENERATE for c in claims(w, h0, int(T), eta, c_)}
    # big_fate.unknown: only where an exact power would pass FATE_BITS (tests/explain)
    assert every - made == {"big_fate.unknown"}


def test_the_degenerate_cases_are_what_they_say() -> None:
    # the list above covers each case the lesson must get right (an oracle, not the page)
    ws = {Fraction(w) for w, *_ in DEGENERATE}
    assert {Fraction(0), Fraction(1), Fraction(-1), Fraction(1, 2), Fraction(2, 3)} <= ws
    assert any(h0 == "0" for _, h0, *_ in DEGENERATE)
    assert any(T == "1" for _, _, T, *_ in DEGENERATE)
    steps = [
        (Fraction(w), Fraction(w) - Fraction(eta) * int(T) * Fraction(w) ** (int(T) - 1))
        for w, h0, T, eta, _ in DEGENERATE
        if h0 == "1" and int(T) < 100
    ]
    assert any(w * new < 0 for w, new in steps)  # an update changing the sign of w
    assert any(abs(w) > 1 >= abs(new) for w, new in steps)  # an update leaving |w| ≤ 1


def _sentences() -> list[str]:
    """Every catalog sentence of every part in both languages, and random strings of marks."""
    from gradguard._catalog import PARTS, load_catalog

    out = {
        load_catalog(lang, part)[k]
        for lang in ("en", "bn")
        for part in PARTS
        for k in load_catalog(lang, part)
    }
    rng = random.Random(18)
    pieces = [*"_^(){}`hTtw2−-1 .·|‖ᵀ<>&প্র", "max", "৩"]
    out |= {"".join(rng.choice(pieces) for _ in range(rng.randint(1, 24))) for _ in range(400)}
    return sorted(out)


def test_the_page_and_the_report_typeset_math_alike(lab: Any) -> None:
    # page.js's mathNodes and report._mathtext.math_html: one rule, the same HTML
    from gradguard.report._mathtext import math_html

    sentences = _sentences()
    as_dom = (
        "(h) => { const d = document.createElement('div'); d.innerHTML = h; return d.innerHTML; }"
    )
    page = lab.evaluate(
        "(xs) => xs.map((s) => { const d = document.createElement('div');"
        " d.append(...GG.page.mathNodes(s)); return d.innerHTML; })",
        sentences,
    )
    python = lab.evaluate(f"(xs) => xs.map({as_dom})", [math_html(s) for s in sentences])
    assert len(page) == len(sentences) > 500
    for s, a, b in zip(sentences, page, python, strict=True):
        assert a == b, s
    assert sum("<sup>" in h or "<sub>" in h for h in page) > 50
