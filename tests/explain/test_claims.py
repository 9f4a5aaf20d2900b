"""Every sentence the lesson states about its parameters is true: checked against an oracle.

The oracle (``tests/claims_oracle.py``) recomputes, from the definition
``g(T) = T·w^(T−1)·h0`` in exact fractions, what each claim should say — by brute force
where it can, by the update's *outcome* — and never calls :mod:`gradguard.explain._claims`.
Each expected sentence is then looked for in every
medium that shows it (terminal text, Markdown, JSON, the explorer's answers), in English
and Bengali, with the numbers in it parsed and checked: the values it names are the exact
ones, and every ``x < y``, ``x ≤ y``, ``x > y`` it prints holds for the printed numbers.
"""

from __future__ import annotations

import os
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gradguard.explain import languages, lesson, load_catalog, render_markdown, render_text

from ..claims_oracle import (
    EXPLORER_TOPICS,
    FIXED_POINTS,
    argmax,
    cases,
    check_json,
    check_text,
    linear_formula_holds,
    oracle,
    overflow_value,
)
from ..glossary import page_text

F = Fraction
#: The degenerate and textbook points, drawn often.
SPECIAL_W = [F(0), F(1), F(-1), F(1, 2), F(-1, 2), F(2), F(-2), F(3, 2), F(-3, 2), F(9, 10)]
SPECIAL_W += [F(1, 3), F(99, 100), F(-9, 10), F(2, 3), F(3, 4), F(11, 10), F(1, 100)]
weights = st.one_of(
    st.sampled_from(SPECIAL_W), st.fractions(min_value=-3, max_value=3, max_denominator=40)
)
states = st.one_of(
    st.sampled_from([F(0), F(1), F(-1), F(1, 2), F(-1, 2), F(3)]),
    st.fractions(min_value=-5, max_value=5, max_denominator=20),
)
steps = st.one_of(st.integers(1, 12), st.integers(1, 10**4))
positive = st.fractions(min_value=F(1, 1000), max_value=20, max_denominator=1000).filter(
    lambda x: x > 0
)
etas = st.one_of(st.sampled_from([F(1, 100), F(1, 10), F(1), F(5, 100)]), positive)
cs = st.one_of(st.sampled_from([F(5), F(1), F(1, 2)]), positive)
tables = st.one_of(
    st.just((5, 10, 20, 50)), st.lists(st.integers(1, 60), min_size=1, max_size=4, unique=True)
)

#: How many (parameter point × medium × language) claims were checked (GRADGUARD_COUNT=1).
CHECKED = {"claims": 0, "points": 0}


@settings(
    max_examples=int(os.environ.get("GRADGUARD_CLAIM_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(w=weights, h0=states, T=steps, eta=etas, c=cs, Ts=tables)
@example(w=F(2), h0=F(0), T=5, eta=F(1, 100), c=F(5), Ts=(5, 10, 20, 50))  # explain --h0 0
@example(w=F(2), h0=F(1), T=1, eta=F(1, 100), c=F(5), Ts=(5, 10, 20, 50))  # explain -T 1
@example(w=F(-3, 2), h0=F(1), T=5, eta=F(1, 100), c=F(5), Ts=(5, 10, 20, 50))
@example(w=F(1, 2), h0=F(1), T=5, eta=F(1, 100), c=F(5), Ts=(1, 2, 5))  # tie at T = 1, 2
@example(w=F(9, 10), h0=F(1), T=9, eta=F(1, 100), c=F(5), Ts=(5, 10, 20, 50))  # tie at 9, 10
@example(w=F(0), h0=F(1), T=1, eta=F(1, 100), c=F(5), Ts=(1, 2))  # g(1) = h0, then 0
@example(w=F(-1), h0=F(1), T=4, eta=F(1, 100), c=F(5), Ts=(5, 10, 20, 50))
@example(w=F(2), h0=F(1), T=5, eta=F(5, 100), c=F(5), Ts=(5,))  # 2 − 0.05·80 = −2
@example(w=F(2), h0=F(1), T=5, eta=F(1, 40), c=F(5), Ts=(5,))  # 2 − 80/40 = 0
@example(w=F(1), h0=F(1), T=5, eta=F(1, 100), c=F(5), Ts=(5,))  # |g| = 5 = c: not clipped
@example(w=F(2), h0=F(1), T=5, eta=F(3, 100), c=F(5), Ts=(5,))  # 2 − 2.4 = −0.4: crossed
@example(w=F(2), h0=F(1), T=5, eta=F(1, 10), c=F(5), Ts=(5,))  # 2 − 8 = −6: overshot
@example(w=F(-3, 2), h0=F(1), T=2, eta=F(7, 10), c=F(5), Ts=(5,))  # −1.5 + 2.1: crossed
@example(w=F(-3, 2), h0=F(1), T=2, eta=F(1), c=F(5), Ts=(5,))  # −1.5 + 3 = 1.5: same |w|
@example(w=F(10**6), h0=F(1), T=5, eta=F(1, 100), c=F(5), Ts=(5,))  # 10^6 moves w by 1 %
@example(w=F(1, 2), h0=F(1), T=2, eta=F(1, 10**6), c=F(5), Ts=(5,))  # a step of 1 > |w|
@example(w=F(3), h0=F(1), T=2, eta=F(3, 10**6), c=F(5), Ts=(5,))  # a step of |w|: w lands on 0
@example(w=F(0), h0=F(1, 2), T=2, eta=F(1), c=F(5), Ts=(5,))  # g there is -10^6 exactly
def test_every_claim_is_true_in_every_medium_and_language(w, h0, T, eta, c, Ts):
    from gradguard.serve._server import explorer_state

    expected = oracle(w, h0, T, eta, c, Ts)
    d = lesson(w=w, h0=h0, T=T, eta=eta, c=c, table_T=Ts, abbreviate=40)
    check_json(d["claims"], expected)
    n = len(expected)
    for lang in languages():
        cat = load_catalog(lang)
        for text in (render_text(d, cat), render_markdown(d, cat)):
            n += len(list(check_text(text, expected, lang)))
    if T <= 10**4 and Ts == (5, 10, 20, 50):  # the explorer's table is always the seed's T
        params = {"w": str(w), "h0": str(h0), "T": str(T), "eta": str(eta), "c": str(c)}
        for lang in languages():
            s = explorer_state({**params, "lang": lang})
            answers = "\n".join([s["why"], s["sgd"]["text"], s["clip"]["text"], s["trend"]])
            shown = {k: v for k, v in expected.items() if k in EXPLORER_TOPICS}
            n += len(list(check_text(answers, shown, lang)))
    CHECKED["claims"] += n
    CHECKED["points"] += 1


def test_count_of_claims_checked():
    """Report the measure (``GRADGUARD_COUNT=1 pytest -s``): claims checked by the property."""
    if os.environ.get("GRADGUARD_COUNT"):
        print(f"\nclaims checked: {CHECKED['claims']} over {CHECKED['points']} parameter points")


def test_the_fixed_points_reach_every_case_of_every_claim():
    """The pages are checked at ``FIXED_POINTS``: together they state every sentence there is."""
    reached = {
        f"{topic}.{case}"
        for point in FIXED_POINTS
        for topic, (case, _) in oracle(*point, (5, 10, 20, 50)).items()
    }
    for lang in languages():
        every = {f"{t}.{c}" for t, templates in cases(lang).items() for c in templates}
        assert every - reached == set(), lang


@pytest.mark.parametrize(
    ("w", "peaks"),
    [(F(1, 2), [1, 2]), (F(9, 10), [9, 10]), (F(2, 3), [2, 3]), (F(1, 3), [1]), (F(3, 5), [2])],
)
def test_the_oracle_argmax_is_the_textbook_one(w, peaks):
    # w = T/(T+1) gives equal maxima at T and T+1: 1/2 → 1, 2 (1 = 2·½); 9/10 → 9, 10.
    assert argmax(w) == peaks


def test_the_seed_claim_ids_and_the_issue_examples():
    d = lesson()
    ids = [c["id"] for c in d["claims"]]
    assert ids == [
        "regime.exploding",
        "next_T.grows",
        "large.big",
        "trend.exploding",
        "update.toward",
        "after_update.slower",
        "compare.at_T",
        "big_grad.breaks",
        "clipping.acted",
        "example.exploding",
    ]
    text = render_text(lesson(h0=0))
    assert "≤ 1" not in text and "growing exponentially" not in text
    assert "multiplies" not in text  # the gradient is 0: nothing multiplies it
    text = render_text(lesson(T=1))
    assert "1.99 ≤ 1" not in text and "|w| = 1.99 is still above 1" in text
    text = render_text(lesson(w="-1.5"))
    assert "overshot" not in text and "the cause is the gradient's sign" in text
    for lang in languages():  # w < 0 crossing 0: the step compared with |w| is its size
        text = render_text(lesson(w="-1.5", T=2, eta="0.7", lang=lang))
        assert "|η·g| = 2.1" in text and "η·g = -2.1" not in text
    for lang in languages():  # w = ½: never "first grows", both T named
        text = render_text(lesson(w="0.5", lang=lang))
        assert load_catalog(lang)["peak.tie_at_once"] in text
        assert load_catalog(lang)["regime.vanishing"].split(":")[0].replace("{a}", "0.5") in text
    # "Training breaks down completely" under the seed's 2 − 0.01·10^6 = −9998 only: at
    # w = 10^6 the same gradient moves w by 1 % (to 990,000)
    for lang in languages():
        breaks = load_catalog(lang)["big_grad.breaks"].partition(":")[0]
        assert breaks in render_text(lesson(lang=lang))
        assert breaks not in render_text(lesson(w=10**6, lang=lang))
    text = render_text(lesson(w=10**6))
    assert "💥" not in text and "w only goes from 1000000 to 990000" in text
    for w in ("0.5", "1"):  # the exam's "in this example" follows the regime
        exam = render_text(lesson(w=w)).split("exam")[-1]
        assert "grows exponentially" not in exam and "does not explode" in exam


def test_the_erratum_says_w_to_the_T_has_one_power_of_w_too_many(monkeypatch):
    """The seed's "Gradient ∝ w^T" is off by T/w: no factor T, one power of w too many."""
    import importlib.util
    import re
    from pathlib import Path

    import nbformat
    import sympy

    from gradguard.explain import erratum
    from gradguard.report import _html as report_html
    from gradguard.report import build_report
    from gradguard.serve._server import explorer_state

    monkeypatch.setattr(report_html._Figures, "explosion", lambda self, d: "")  # text only
    # the math the sentence states: T·w^(T−1)·h0 = (T/w)·w^T·h0, i.e. w^T·h0 is T/w off
    w, T, h0 = sympy.symbols("w T h_0", positive=True)
    exact = T * w ** (T - 1) * h0
    assert sympy.simplify(exact - (T / w) * w**T * h0) == 0
    assert sympy.simplify((w**T * h0) / exact - w / T) == 0  # one w more, no T
    en, bn = erratum("proportional", "en"), erratum("proportional", "bn")
    assert "off by the factor T/w" in en and "one power of w too many" in en
    assert "T/w গুণ" in bn and "w-এর ঘাত একটি বেশি" in bn
    # one definition: the lesson, the report, the explorer and the docs show this very text
    assert en in render_text(lesson()) and bn in render_text(lesson(lang="bn"))
    # (the report typesets its math: w^T with T raised, the text the same)
    assert en in page_text(build_report(sgd={}))
    assert bn in page_text(build_report(lang="bn", sgd={}))
    assert en in explorer_state({"lang": "en"})["why"]
    root = Path(__file__).resolve().parents[2]
    lab_md = (root / "docs" / "lab.md").read_text(encoding="utf-8")
    assert "<!-- gradguard-erratum: proportional en -->" in lab_md
    spec = importlib.util.spec_from_file_location("cli_pages", root / "tools/mkdocs/cli_pages.py")
    assert spec is not None and spec.loader is not None
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    assert en in hook.on_page_markdown(lab_md, page=None)
    notebook = nbformat.read(root / "docs/tutorial/seed-lesson.ipynb", as_version=4)
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    assert 'erratum("proportional", lang)' in code
    # and the wrong reading ("one power of w fewer" / "drops … one power of w" with no
    # "too many") is nowhere: catalogs, docs, notebook
    texts = [p.read_text(encoding="utf-8") for p in (root / "docs").rglob("*.md")]
    texts += [p.read_text(encoding="utf-8") for p in (root / "src").rglob("*.toml")]
    texts.append("\n".join(c.source for c in notebook.cells))
    wrong = re.compile(r"one power of w fewer|drops the factor T and one power of w(?! too)")
    assert [m[0] for t in texts for m in wrong.finditer(t)] == []


@pytest.mark.parametrize("h0", [F(-2), F(-1, 2), F(0), F(3)])
def test_the_why_text_gives_the_linear_growth_at_every_h0(h0):
    """The report's and explorer's "why": at |w| = 1 the gradient grows as T·|h₀| (h₀ < 0 too)."""
    from gradguard.report._html import _why
    from gradguard.serve._server import explorer_state

    for w in (F(1), F(-1)):
        d = lesson(w=w, h0=h0, T=5, eta=F(1, 100), c=F(5))
        params = {"w": str(w), "h0": str(h0), "T": "5", "eta": "0.01", "c": "5"}
        for lang in languages():
            linear_formula_holds(_why(d, lang), h0)
            linear_formula_holds(explorer_state({**params, "lang": lang})["why"], h0)


@pytest.mark.parametrize(
    ("w", "h0"),
    [(F(3, 2), F(1)), (F(-3, 2), F(1)), (F(2), F(-1)), (F(-2), F(-1, 2)), (F(2), F(1))],
)
def test_the_overflow_sentences_give_the_sign_the_gradient_overflows_to(w, h0):
    """``inf`` for a positive gradient, ``−inf`` for a negative one, ``±inf`` when it alternates.

    The lesson (text and Markdown), ``gradguard lab table``'s lines, the report's and the
    explorer's overflow note: every ``inf`` they print is what the exact gradient's sign at the
    float64 horizon and one step after says (``overflow_value``).
    """
    import re

    from gradguard.explain.table import horizon_lines, overflow_inf
    from gradguard.lab import overflow_horizon
    from gradguard.report._html import _explosion
    from gradguard.serve._server import explorer_state

    at = overflow_horizon(w, h0, "float64")
    assert at is not None
    want = overflow_value(w, h0, at)
    token = re.compile(r"(?<!\w)[±−-]?inf\b")
    d = lesson(w=w, h0=h0, T=5)
    params = {"w": str(w), "h0": str(h0), "T": "5", "eta": "0.01", "c": "5"}
    for lang in languages():
        cat = load_catalog(lang)
        hz = {"float64": at, "float32": overflow_horizon(w, h0, "float32")}
        texts = [
            render_text(d, cat),
            render_markdown(d, cat),
            "\n".join(horizon_lines(hz, cat, overflow_inf(w, h0))),
            explorer_state({**params, "lang": lang})["overflow"],
            _explosion(d, lang, lambda *a, **k: ""),
        ]
        for text in texts:
            assert set(token.findall(text)) == {want}, (lang, want, text[-1500:])


@pytest.mark.parametrize("exact", [True, False])
def test_a_long_negative_factor_is_in_parentheses(exact):
    """``explain --h0 -2 -T 200 [--exact]``: ``2 × (-8034…)``, ``0.01 × (-3213…)``, never ``× -``.

    Long values are shown from their digits (every digit, or rounded with their digit count);
    as a factor of a product, a negative one is in parentheses as a short one is.
    """
    import re

    from gradguard.explain.text import numbers_in

    bare = re.compile(r"(?:[+×·]|\\times|\\cdot) (?:≈ |\\approx )?-\d")
    d = lesson(w=F(2), h0=F(-2), T=200)
    for lang in languages():
        cat = load_catalog(lang)
        with numbers_in(lang, exact=exact):
            for text in (render_text(d, cat), render_markdown(d, cat)):
                assert "(-2)·2^199" in text or r"\left(-2\right) \cdot 2^{199}" in text
                found = bare.search(text)
                assert found is None, text[max(0, found.start() - 80) : found.end() + 40]
