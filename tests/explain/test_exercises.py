"""`gradguard exercises`: every answer is the exact value, computed here independently.

The oracle is sympy: the recurrence is built symbolically (``h_t = w·h_{t-1}``, ``L = h_T``)
and differentiated, never through the lab's closed form. The overflow horizon is checked
against CPython's correctly rounded int → float conversion (float64) and the exact
halfway point past float32's largest number (float32).
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from gradguard.cli import main
from gradguard.explain._exercises import KINDS, MAX_COUNT, exercises, render_sheet

W = sp.Symbol("w")


def _R(x: object) -> sp.Rational:
    x = Fraction(x)
    return sp.Rational(x.numerator, x.denominator)


def _F(x: sp.Rational) -> Fraction:
    return Fraction(int(x.p), int(x.q))


def _loss(h0: object, T: int) -> sp.Expr:
    """``L = h_T`` of ``h_t = w·h_{t-1}``, unrolled step by step (short T)."""
    h = _R(h0)
    for _ in range(T):
        h = W * h
    return h


def _grad(w: object, h0: object, T: int) -> Fraction:
    """``dL/dw`` by sympy's differentiation of ``L = w^T·h_0`` (the recurrence's product)."""
    L = _loss(h0, T) if T <= 12 else W**T * _R(h0)
    return _F(sp.diff(L, W).subs(W, _R(w)))


def _overflows(value: Fraction, dtype: str) -> bool:
    if dtype == "float64":
        try:
            float(value)  # correctly rounded; OverflowError where it would round to inf
        except OverflowError:
            return True
        return False
    # float32: the largest is (2 − 2^−23)·2^127; halfway to 2^128 ties to even, i.e. to inf
    return abs(value) >= 2**128 - 2**103


def check_answer(p) -> None:
    q, a = p.params, p.answer
    if p.kind == "forward":
        assert [Fraction(x) for x in a["states"]] == [
            _F(_loss(q["h0"], t).subs(W, _R(q["w"]))) if t else Fraction(q["h0"])
            for t in range(q["T"] + 1)
        ]
    elif p.kind == "bptt":
        T, w, h0 = q["T"], q["w"], q["h0"]
        # each term h_{t-1}·w^(T−t), the state from sympy's recurrence
        terms = [_F(_loss(h0, t - 1).subs(W, _R(w)) * _R(w) ** (T - t)) for t in range(1, T + 1)]
        assert [Fraction(x) for x in a["terms"]] == terms
        assert Fraction(a["grad"]) == _grad(w, h0, T) == sum(terms)
    elif p.kind == "closed_form":
        assert Fraction(a["grad"]) == _grad(q["w"], q["h0"], q["T"])
    elif p.kind == "sgd":
        g = _grad(q["w"], q["h0"], q["T"])
        assert Fraction(a["grad"]) == g
        assert Fraction(a["w_new"]) == Fraction(q["w"]) - Fraction(q["eta"]) * g
    elif p.kind == "clip":
        g = _grad(q["w"], q["h0"], q["T"])
        assert Fraction(q["g"]) == g
        clipped = g / max(Fraction(1), abs(g) / Fraction(q["c"]))
        assert Fraction(a["clipped"]) == clipped
        assert Fraction(a["w_new"]) == Fraction(q["w"]) - Fraction(q["eta"]) * clipped
    elif p.kind == "regime":
        w = Fraction(q["w"])
        kind = (
            "zero"
            if w == 0
            else "exploding"
            if abs(w) > 1
            else "linear"
            if abs(w) == 1
            else "vanishing"
        )
        assert a["kind"] == kind and a["alternating"] == (w < 0)
        if kind == "vanishing":
            # |w| ≤ 4/5 here: the peak is at T ≤ 5 and the values fall after it
            values = {T: abs(_grad(w, 1, T)) for T in range(1, 40)}
            top = max(values.values())
            assert a["peaks"] == [T for T, v in values.items() if v == top]
        else:
            assert a["peaks"] == []
    elif p.kind == "seed_table":
        T = q["T"]
        exact = _grad(2, 1, T)
        assert Fraction(a["grad"]) == exact
        assert Fraction(a["off_by"]) == exact / q["claim"]
        assert {10: 1024, 20: 10**6, 50: 10**15}[T] == q["claim"]  # the seed's table
        assert a["h_T"] == 2**T
    elif p.kind == "horizon":
        T, w, h0, dt = a["T"], q["w"], q["h0"], q["dtype"]
        assert _overflows(_grad(w, h0, T), dt) and not _overflows(_grad(w, h0, T - 1), dt)
    else:  # pragma: no cover
        raise AssertionError(p.kind)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), count=st.integers(1, 24))
def test_every_answer_is_the_exact_value(seed, count):
    problems = exercises(seed, count)
    assert len(problems) == count
    for p in problems:
        check_answer(p)
    # graded easy → hard: the kinds come in the order of KINDS
    order = [KINDS.index(p.kind) for p in problems]
    assert order == sorted(order)


def test_one_of_each_kind_and_every_regime_answer():
    assert [p.kind for p in exercises(5)] == list(KINDS)
    # over many sheets, every regime comes up, a vanishing peak at one T and at two
    seen = set()
    for seed in range(30):
        for p in exercises(seed, MAX_COUNT):
            if p.kind == "regime":
                check_answer(p)
                seen.add((p.answer["kind"], len(p.answer["peaks"])))
    assert seen == {
        ("exploding", 0),
        ("linear", 0),
        ("zero", 0),
        ("vanishing", 1),
        ("vanishing", 2),
    }


def _math_by_problem(text: str) -> list[list[str]]:
    """The LaTeX of each problem (split at the '## ' headings), sorted (word order differs)."""
    return [sorted(re.findall(r"\$[^$]+\$", part)) for part in text.split("\n## ")[1:]]


@pytest.mark.parametrize("answers", [False, True])
def test_same_seed_same_sheet_and_both_languages_hold_the_same_problems(answers):
    en = render_sheet(exercises(11, 12), "en", seed=11, answers=answers)
    assert en == render_sheet(exercises(11, 12), "en", seed=11, answers=answers)
    assert en != render_sheet(exercises(12, 12), "en", seed=12, answers=answers)
    bn = render_sheet(exercises(11, 12), "bn", seed=11, answers=answers)
    math_en, math_bn = _math_by_problem(en), _math_by_problem(bn)
    assert len(math_en) == 12 and math_en == math_bn  # every number and formula, problem by problem
    assert sum("\u0980" <= ch <= "\u09ff" for ch in bn) > 500 and "{" not in re.sub(
        r"\$[^$]*\$", "", bn
    )


def test_the_answer_key_prints_the_exact_answers():
    # seed 1, problem 1: w = 3, h0 = 1/2, T = 3 → h = 1.5, 4.5, 13.5 (p = exercises(1)[0])
    p = exercises(1)[0]
    key = render_sheet([p], "en", answers=True)
    for t, h in enumerate(p.answer["states"][1:], 1):
        value = Fraction(h)
        shown = str(value.numerator) if value.denominator == 1 else f"{float(value):g}"
        assert f"h_{{{t}}} = " in key and f"= {shown}$" in key
    sheet = render_sheet([p], "en")
    assert "Answer:" in key and "Answer:" not in sheet


def _latex_value(text: str) -> Fraction:
    """A number as the answer key prints it: ``-2.5``, ``240``, ``-\\frac{1}{3}`` (exact only)."""
    m = re.fullmatch(r"(-?)\\frac\{(\d+)\}\{(\d+)\}", text)
    if m:
        return Fraction(int(m[2]), int(m[3])) * (-1 if m[1] else 1)
    assert re.fullmatch(r"-?\d+(\.\d+)?", text), f"not an exact number: {text!r}"
    return Fraction(text)


def _shown_results(answer: str) -> list[Fraction]:
    """The value after the last ``=`` of each formula in an answer, in order."""
    return [
        _latex_value(m.rsplit("=", 1)[1].strip()) for m in re.findall(r"\$([^$]*=[^$]*)\$", answer)
    ]


def _expected_results(p) -> list[Fraction]:
    """What each kind's answer states, from the problem's checked answer (check_answer)."""
    a, q = p.answer, p.params
    values = {
        "forward": lambda: [*a["states"][1:], a["states"][-1]],  # h_1 … h_T, then L = h_T
        "bptt": lambda: [a["grad"]],
        "closed_form": lambda: [a["grad"]],
        "sgd": lambda: [a["grad"], a["w_new"]],
        "clip": lambda: [a["clipped"], a["w_new"]],
        # |w| and where a vanishing gradient peaks (w = 0: said in words, no formula)
        "regime": lambda: [abs(Fraction(q["w"])), *a["peaks"]] if q["w"] else [],
        "seed_table": lambda: [a["grad"], a["off_by"], a["h_T"]],
        "horizon": lambda: [a["T"], a["T"] - 1, a["T"]],  # from T on: T − 1 is below, T above
    }[p.kind]()
    return [Fraction(v) for v in values]


@pytest.mark.parametrize("lang", ["en", "bn"])
@pytest.mark.parametrize("seed", [1, 9, 2024])
def test_the_answer_key_shows_every_answer_exactly(lang, seed):
    # the key a teacher hands out states the checked values, formula by formula
    for p in exercises(seed, 24):
        check_answer(p)
        key = render_sheet([p], lang, seed=seed, answers=True)
        answer = key.split("\n\n")[-1]
        assert _shown_results(answer) == _expected_results(p), (p, answer)


def test_cli_writes_four_files_and_prints_them(tmp_path, capsys):
    out = tmp_path / "sheets"
    assert (
        main(["exercises", "--lang", "bn", "--seed", "7", "--count", "5", "--out", str(out)]) == 0
    )
    printed = capsys.readouterr().out.split()
    names = ["worksheet-bn-7.md", "worksheet-bn-7.html", "answers-bn-7.md", "answers-bn-7.html"]
    assert [Path(p).name for p in printed] == names
    assert sorted(p.name for p in out.iterdir()) == sorted(names)  # no temp file left behind
    md = (out / "answers-bn-7.md").read_text("utf-8")
    assert md == render_sheet(exercises(7, 5), "bn", seed=7, answers=True)
    page = (out / "worksheet-bn-7.html").read_text("utf-8")
    assert page.startswith("<!DOCTYPE html>") and "renderMathInElement" in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page)  # nothing from the network
    # another language into the same folder keeps the first one's files
    assert main(["exercises", "--seed", "7", "--count", "5", "--out", str(out)]) == 0
    assert len(list(out.iterdir())) == 8


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--count", "0"], "--count must be a whole number from 1 to 40, got '0'."),
        (["--count", "41"], "--count must be a whole number from 1 to 40, got '41'."),
        (["--seed", "-1"], "--seed must be a whole number from 0 to 4,294,967,295, got '-1'."),
        (["--seed", "x"], "--seed must be a whole number from 0 to 4,294,967,295, got 'x'."),
        (["--lang", "fr"], "--lang must be one of en, bn, got 'fr'."),
    ],
)
def test_cli_bad_input_is_one_line(tmp_path, capsys, monkeypatch, argv, needle):
    monkeypatch.chdir(tmp_path)
    assert main(["exercises", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_cli_out_is_a_file(tmp_path, capsys):
    f = tmp_path / "f"
    f.write_text("mine")
    assert main(["exercises", "--out", str(f)]) == 2
    assert "--out must be a folder" in capsys.readouterr().err and f.read_text() == "mine"


def test_cli_help(capsys):
    assert main(["exercises", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--seed" in out and "--count" in out and "--out" in out


_LARGEST = {
    "float32": (2 - Fraction(1, 2**23)) * 2**127,
    "float64": (2 - Fraction(1, 2**52)) * 2**1023,
}


@settings(max_examples=40, deadline=None)
@given(
    w=st.one_of(
        st.sampled_from([Fraction(-2), Fraction(2), Fraction(-3, 2), Fraction(3), Fraction(-10)]),
        st.fractions(min_value=-5, max_value=5, max_denominator=8).filter(lambda x: abs(x) > 1.2),
    ),
    h0=st.sampled_from([Fraction(1), Fraction(-1), Fraction(1, 2), Fraction(-1, 2), Fraction(-3)]),
    dtype=st.sampled_from(["float32", "float64"]),
)
def test_the_horizon_question_and_answer_at_negative_w_and_h0(w, h0, dtype):
    """The overflow exercise at any |w| > 1, h₀ ≠ 0 (negative ones too), in en and bn.

    The question names what the gradient becomes — ``inf``, ``−inf`` (h₀ < 0) or ``±inf``
    (w < 0: the sign alternates with T) — as the exact gradient's signs at the answer's T and
    T + 1 say (the claims oracle's ``overflow_value``); the answer's T is the first at which
    the exact gradient rounds to inf (checked by CPython's rounding, ``_overflows``), and its
    log₁₀ values put the largest float between T − 1 and T.
    """
    from hypothesis import assume

    from gradguard.explain import load_catalog
    from gradguard.explain._exercises import Problem, _answer, _statement
    from gradguard.lab import overflow_horizon

    from ..claims_oracle import overflow_value

    T = overflow_horizon(w, h0, dtype)
    assert T is not None and T >= 2
    before, at = _grad(w, h0, T - 1), _grad(w, h0, T)
    assert _overflows(at, dtype) and not _overflows(before, dtype)
    assume(abs(before) <= _LARGEST[dtype])  # not in the half unit past the largest float
    problem = Problem("horizon", {"w": w, "h0": h0, "dtype": dtype}, {"T": T})
    token = re.compile(r"(?<!\w)[±−-]?inf\b")
    for lang in ("en", "bn"):
        cat = load_catalog(lang)
        question, answer = _statement(problem, cat), _answer(problem, cat)
        assert token.findall(question) == [overflow_value(w, h0, T)], (lang, question)
        assert f"$T = {T}$" in answer and f"$T = {T - 1}$" in answer
        logs = [float(x) for x in re.findall(r"\\approx (-?[\d.]+)", answer)]
        assert len(logs) == 3 and logs[0] < logs[2] < logs[1], answer  # before, at, largest
