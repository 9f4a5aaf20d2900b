"""The explorer's bounded-precision values: the shown digits are the exact value's, rounded."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from gradguard.lab import clip_by_norm, grad_closed_form, sgd_step, state, to_exact
from gradguard.lab._numbers import log10_abs
from gradguard.report import _approx
from gradguard.report._approx import power_value, show_json
from gradguard.serve import explorer_state
from gradguard.serve._server import _updates


def _sci4(x: Fraction) -> str:
    """Reference: ``x`` rounded half-even to 4 significant digits, by integer arithmetic."""
    if x == 0:
        return "0"
    sign, a = ("-" if x < 0 else ""), abs(x)
    e = math.floor(log10_abs(a))  # a float estimate, then fixed by exact comparisons
    while Fraction(10) ** e > a:
        e -= 1
    while Fraction(10) ** (e + 1) <= a:
        e += 1
    q = a / Fraction(10) ** (e - 3)  # 1000 ≤ q < 10000
    m = round(q)  # Fraction rounds half to even
    if m == 10_000:
        m, e = 1000, e + 1
    return f"{sign}{m // 1000}.{m % 1000:03d}e{e:+d}"


decimals = st.decimals(
    min_value=Decimal("-9.99"), max_value=Decimal("9.99"), places=9, allow_nan=False
).filter(lambda d: d != 0)


@settings(max_examples=150, deadline=None)
@given(
    w=decimals,
    h0=decimals,
    power=st.integers(min_value=0, max_value=400),
    factor=st.integers(min_value=1, max_value=400),
)
def test_power_value_shows_the_exact_values_digits(w, h0, power, factor):
    wx, hx = to_exact(str(w), "w"), to_exact(str(h0), "h0")
    exact = factor * (state(wx, hx, power) if power else hx)
    old = _approx.EXACT_UP_TO
    _approx.EXACT_UP_TO = 0  # force the bounded-precision path even for short values
    try:
        approx = power_value(wx, hx, power, factor)
    finally:
        _approx.EXACT_UP_TO = old
    assert isinstance(approx, Decimal)
    assert show_json(approx, 20) == "≈" + _sci4(Fraction(exact))


def test_power_value_is_exact_when_short():
    # 5·2^4·1 = 80 (the seed's gradient) stays an exact int
    assert power_value(2, 1, 4, 5) == 80 and show_json(power_value(2, 1, 4, 5), 20) == "80"


def test_explorer_large_T_matches_exact_lab_values():
    # w = 0.123456789, T = 10^4: the gradient 10^4·w^9999 has ~90,000 exact digits; the page's
    # four digits and the SGD/clipping updates must be those of the exact values.
    w, T = Fraction("0.123456789"), 10_000
    s = explorer_state({"w": "0.123456789", "T": str(T)})
    g = grad_closed_form(w, 1, T)
    mant, exp = _sci4(Fraction(g)).split("e")
    assert s["grad"] == f"≈ {mant} × 10^{int(exp)}"
    # the update w − η·g with g ≈ 10^-9085 rounds to w's own digits (1.235e-1 = 0.1235)
    mant, exp = _sci4(Fraction(sgd_step(w, g, "0.01"))).split("e")
    assert exp == "-1" and s["sgd"]["w_new"] == f"≈ 0.{mant.replace('.', '')}"
    assert s["clip"]["grad_clipped"] == s["grad"]  # |g| < c = 5: unchanged
    loss = state(w, 1, T)
    mant, exp = _sci4(Fraction(loss)).split("e")
    assert s["loss"] == f"≈ {mant} × 10^{int(exp)}"


def test_updates_clip_and_fallback_match_the_lab():
    # w = 1.5, h0 = 1, T = 3000: |g| = 3000·1.5^2999 ≫ c = 5, so the seed's rule gives exactly 5
    w, T = Fraction(3, 2), 3000
    g = _approx.power_value(w, 1, T - 1, T)
    assert isinstance(g, Decimal)
    w_new, g_clip, w_clip = _updates(w, 1, T, g, Fraction(1, 100), 5)
    assert g_clip == clip_by_norm(Fraction(grad_closed_form(w, 1, T)), 5) == 5
    assert w_clip == sgd_step(w, 5, "0.01") == Fraction(29, 20)  # 1.5 − 0.05
    exact_new = sgd_step(w, grad_closed_form(w, 1, T), "0.01")
    assert show_json(w_new, 20) == show_json(exact_new, 20)
    # |g| equal to c to all 50 digits: undecidable at bounded precision → the exact lab path
    assert _updates(2, 1, 5, Decimal(80), Fraction(1, 100), 80)[1] == 80


def test_explorer_huge_values_beyond_decimals_default_exponent_range():
    # w = 1e300, T = 10^4: |dL/dw| = 10^4·10^(300·9999) = 10^2999704, past decimal's default
    # Emax (999,999): every operation must run in the wide context, never raise Overflow.
    s = explorer_state({"w": "1e300", "T": "10000", "c": "1e-300"})
    assert s["grad"] == "≈ 1.000 × 10^2999704"
    assert s["clip"]["grad_clipped"] == "≈ 1.000 × 10^-300"  # clipped to c exactly (1e-300)
    assert s["sgd"]["w_new"] == "≈ -1.000 × 10^2999702"  # 1e300 − 0.01·1e2999704


def test_report_lesson_abbreviates_long_gradients_from_the_start():
    from gradguard.report._lesson import lesson_data

    # 5·2^4 = 80: short, the whole exact trace (checked against the closed form)
    d = lesson_data(2, 1, 5)
    assert d["params"]["abbreviate"] is None and d["closed_form"]["matches_bptt"] is True
    # 1000·w^999 for a 9-digit w: fractions of ~17,000 characters; the report shows 4 digits
    d = lesson_data("0.123456789", 1, 1000)
    assert d["params"]["abbreviate"] == 40 and d["grad"].startswith("≈2.651e-905")
