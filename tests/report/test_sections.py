"""The report's text sections for any parameters: built from the lab's numbers, never crashing."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradguard.report._html import _backward, _explosion, _forward, _sgd, _why
from gradguard.report._lesson import lesson_data

ws = st.fractions(min_value=-3, max_value=3, max_denominator=20)
h0s = st.fractions(min_value=-5, max_value=5, max_denominator=10).filter(lambda x: x != 0)


@settings(max_examples=60, deadline=None)
@given(w=ws, h0=h0s, T=st.integers(1, 40), lang=st.sampled_from(["en", "bn"]))
def test_sections_for_any_parameters(w, h0, T, lang):
    d = lesson_data(str(w), str(h0), T, "0.01", 5, lang)
    forward = _forward(d, lang)
    # the loss shown is h_T = w^T · h0, computed here independently with Fractions
    assert Fraction(d["loss"]) == w**T * h0
    assert f"h_{{{T}}} &amp;= " in forward  # LaTeX, typeset by KaTeX in the page
    backward = _backward(d, lang)
    # every BPTT term equals w^(T-1)·h0 and they sum to the closed form T·w^(T-1)·h0
    assert all(Fraction(x) == w ** (T - 1) * h0 for x in d["terms"])
    assert Fraction(d["grad"]) == T * w ** (T - 1) * h0
    assert "\\frac{\\partial L}{\\partial w}" in backward
    html = _explosion(d, lang, lambda _k: "") + _why(d, lang) + _sgd(d, lang, None)
    assert "<table>" in html and "{" not in html  # every message field was filled


@pytest.mark.parametrize(
    ("w", "expected"),
    [
        ("2", "the gradient explodes"),
        # −1/ln 0.9 ≈ 9.49; 9·0.9^8 = 10·0.9^9 (a tie): both are named
        ("0.9", "is largest at two time steps, T = 9 and T = 10"),
        ("1", "grows linearly"),
        ("-1", "the states alternate in sign"),
        ("0", "0 for every T"),
    ],
)
def test_why_names_the_regime(w, expected):
    assert expected in _why(lesson_data(w, 1, 5), "en")
