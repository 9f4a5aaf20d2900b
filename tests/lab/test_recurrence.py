"""The recurrence h_t = w·h_{t-1}, L = h_T: forward, BPTT, closed form, modes, horizons, regimes.

References: sympy's symbolic derivative and torch autograd (float64) — not hand-picked numbers.
"""

from __future__ import annotations

import math
import time
from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradguard.errors import InputError
from gradguard.lab import (
    LogValue,
    bptt,
    forward,
    grad_closed_form,
    gradient,
    gradient_log,
    overflow_horizon,
    regime,
    state,
)

rationals = st.fractions(min_value=-3, max_value=3, max_denominator=50)
steps = st.integers(min_value=1, max_value=200)


def test_seed_forward_and_backward():
    # The seed: h = 2, 4, 8, 16, 32 (each ×2), terms 1·2^4 + 2·2^3 + 4·2^2 + 8·2^1 + 16·2^0.
    assert forward(2, 1, 5) == [1, 2, 4, 8, 16, 32]
    trace = bptt(2, 1, 5)
    assert trace.deltas == [16, 8, 4, 2, 1]  # δ_t = 2^(5-t)
    assert trace.terms == [16, 16, 16, 16, 16]
    assert trace.grad == 80 and trace.loss == 32


def test_T50_exact():
    # 50·2^49 = 50 · 562,949,953,421,312 = 28,147,497,671,065,600.
    assert grad_closed_form(2, 1, 50) == 28147497671065600
    assert gradient(2, 1, 50) == 50 * 2**49


@settings(max_examples=60, deadline=None)
@given(w=rationals, h0=rationals, T=steps)
def test_closed_form_equals_bptt_equals_sympy(w, h0, T):
    import sympy

    trace = bptt(w, h0, T)
    closed = grad_closed_form(w, h0, T)
    assert trace.grad == closed
    ws = sympy.Symbol("w")
    h = sympy.Rational(h0.numerator, h0.denominator)
    for _ in range(T):  # build L = h_T by the recurrence itself, not by the closed form
        h = ws * h
    reference = sympy.diff(h, ws).subs(ws, sympy.Rational(w.numerator, w.denominator))
    assert Fraction(int(reference.p), int(reference.q)) == Fraction(closed)
    assert trace.states[-1] == Fraction(w) ** T * h0


@settings(max_examples=40, deadline=None)
@given(
    w=st.floats(-2.5, 2.5, allow_nan=False).filter(lambda x: x != 0),
    h0=st.floats(-10, 10, allow_nan=False),
    T=steps,
)
def test_matches_torch_autograd_float64(w, h0, T):
    import torch

    wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    h = torch.tensor(h0, dtype=torch.float64)
    for _ in range(T):
        h = wt * h
    h.backward()
    exact = grad_closed_form(Fraction(w), Fraction(h0), T)  # the floats' exact binary values
    expected = gradient(Fraction(w), Fraction(h0), T, "float64")
    got = float(wt.grad)
    if not math.isfinite(expected) or expected == 0 or abs(expected) < 1e-290:
        return  # only where finite and normal: torch can overflow/underflow in intermediates
    assert got == pytest.approx(float(exact), rel=1e-12)


def test_overflow_horizons():
    assert overflow_horizon(2, 1, "float64") == 1016
    assert overflow_horizon(2, 1, "float32") == 123
    # Cross-check the boundary with numpy's own arithmetic in each dtype.
    for dtype, T in ((np.float64, 1016), (np.float32, 123)):
        with np.errstate(over="ignore"):
            before = dtype(T - 1) * dtype(2) ** (T - 2)
            at = dtype(T) * dtype(2) ** (T - 1)
        assert np.isfinite(before) and np.isinf(at)
    assert math.isinf(gradient(2, 1, 1016, "float64"))
    assert math.isfinite(gradient(2, 1, 1015, "float64"))
    assert math.isinf(gradient(2, 1, 123, "float32"))
    assert math.isfinite(gradient(2, 1, 122, "float32"))


def test_overflow_horizon_other_regimes():
    assert overflow_horizon("0.5", 1) is None  # vanishing: peak 1 at T = 1..2
    # linear, |grad| = T: inf from the midpoint between float64's largest value
    # (2^1024 − 2^971) and 2^1024, which ties to even, i.e. to inf: 2^1024 − 2^970.
    assert overflow_horizon(1, 1) == 2**1024 - 2**970
    assert overflow_horizon(2, 0) is None  # h0 = 0: gradient is 0
    assert overflow_horizon(-2, 1) == 1016  # |gradient| is the same as for w = 2
    # Linear growth T·h0 with h0 = 1e300 overflows at T > 1.797…e308 / 1e300.
    at = overflow_horizon(1, "1e300", "float64")
    assert at is not None
    assert math.isinf(gradient(1, "1e300", at, "float64"))
    assert math.isfinite(gradient(1, "1e300", at - 1, "float64"))


@settings(max_examples=50, deadline=None)
@given(w=rationals, h0=rationals, T=steps)
def test_log_mode_matches_exact(w, h0, T):
    exact = grad_closed_form(w, h0, T)
    lv = gradient(w, h0, T, "log")
    assert isinstance(lv, LogValue)
    assert lv.sign == (exact > 0) - (exact < 0)
    if exact != 0:
        # Reference in 40-digit decimal arithmetic (a float of the value could be subnormal).
        x = Fraction(exact)
        with localcontext() as ctx:
            ctx.prec = 40
            ref = Decimal(abs(x.numerator)).log10() - Decimal(x.denominator).log10()
        assert lv.log10 == pytest.approx(float(ref), abs=1e-9)


@settings(max_examples=50, deadline=None)
@given(w=rationals, h0=rationals, T=steps)
def test_float_modes_are_the_rounded_exact_value(w, h0, T):
    exact = Fraction(grad_closed_form(w, h0, T))
    try:
        f64 = float(exact)
    except OverflowError:
        f64 = math.inf if exact > 0 else -math.inf
    assert gradient(w, h0, T, "float64") == f64  # Python's float(Fraction) rounds correctly
    if math.isinf(f64) or Fraction(f64) == exact:  # no first rounding: numpy is a fair reference
        with np.errstate(over="ignore"):
            assert gradient(w, h0, T, "float32") == float(np.float32(f64))


def test_log_mode_is_O1_in_T():
    start = time.perf_counter()
    lv = gradient(2, 1, 10**12, "log")
    # A hang guard, not a speed claim (speed is in benchmarks/bench_lab.py): computing
    # 2^(10^12) exactly would never finish.
    assert time.perf_counter() - start < 10
    # log10(10^12 · 2^(10^12 - 1)) = 12 + (10^12 - 1)·log10 2
    assert lv.sign == 1 and lv.log10 == pytest.approx(12 + (10**12 - 1) * math.log10(2))


def test_vectorised_log_mode():
    w = np.array([2.0, 0.5, -2.0, 0.0, 0.0, 1.0])
    T = np.array([5, 10, 4, 1, 3, 7])
    sign, log10 = gradient_log(w, T)
    for wi, Ti, s, lg in zip(w, T, sign, log10, strict=True):
        exact = grad_closed_form(Fraction(float(wi)), 1, int(Ti))
        assert s == (exact > 0) - (exact < 0)
        if exact:
            assert lg == pytest.approx(math.log10(abs(exact)))
    assert sign.tolist() == [1, 1, -1, 1, 0, 1]  # (-2)^3 < 0; w = 0, T = 3 gives 0
    with pytest.raises(InputError):
        gradient_log([np.nan], [5])
    with pytest.raises(InputError):
        gradient_log([2.0], [0])
    with pytest.raises(InputError):
        gradient_log([2.0], [2.5])


def test_exact_refuses_huge_results_fast():
    start = time.perf_counter()
    with pytest.raises(InputError, match="mode='log'"):
        grad_closed_form(2, 1, 10**9)
    with pytest.raises(InputError, match="trace"):
        forward(2, 1, 10**7)
    with pytest.raises(InputError):
        state("1e300", 1, 10**5)
    # A hang guard, not a speed claim: the refusals come from a log10 estimate.
    assert time.perf_counter() - start < 10


def test_regimes():
    assert regime(2).kind == "exploding" and not regime(2).alternating
    assert regime(-2).kind == "exploding" and regime(-2).alternating
    assert regime(1).kind == "linear" and regime(-1).kind == "linear"
    assert regime(0).kind == "zero"
    r = regime("0.9")
    assert r.kind == "vanishing"
    assert r.peak_T_real == pytest.approx(-1 / math.log(0.9))
    # The integer peak is the argmax of T·0.9^(T-1), found by brute force here.
    best = max(range(1, 200), key=lambda T: T * Fraction(9, 10) ** (T - 1))
    assert r.peak_T == best and r.peak_T2 == best + 1  # 9·0.9^8 = 10·0.9^9: a tie
    assert regime("0.5").peak_T2 == 2 and regime("0.6").peak_T2 is None


@given(st.fractions(min_value=Fraction(1, 100), max_value=Fraction(99, 100), max_denominator=100))
def test_vanishing_peak_is_the_argmax(a):
    r = regime(a)
    f = [T * a ** (T - 1) for T in range(1, 600)]
    assert r.peak_T == 1 + f.index(max(f))
    ties = [T for T, v in enumerate(f, start=1) if v == max(f)]  # w = T/(T+1): two
    assert [r.peak_T, *([r.peak_T2] if r.peak_T2 is not None else [])] == ties


def test_linear_and_negative_signs():
    # |w| = 1: the gradient is T·h0 (w = 1) and T·(-1)^(T-1)·h0 (w = -1).
    for T in range(1, 9):
        assert grad_closed_form(1, 3, T) == 3 * T
        assert grad_closed_form(-1, 3, T) == 3 * T * (-1) ** (T - 1)
    assert grad_closed_form(0, 5, 1) == 5 and grad_closed_form(0, 5, 2) == 0


@pytest.mark.parametrize("T", [0, -3, 2.5, "abc", True, None])
def test_bad_steps(T):
    with pytest.raises(InputError, match=r"^T must be a whole number ≥ 1"):
        grad_closed_form(2, 1, T)


def test_bad_mode():
    with pytest.raises(InputError, match="mode must be one of exact, float64, float32, log"):
        gradient(2, 1, 5, "float16")


@settings(max_examples=50, deadline=None)
@given(w=rationals, h0=rationals, T=st.integers(0, 200))
def test_state_log_matches_exact(w, h0, T):
    from gradguard.lab import state_log

    sign, log10 = state_log([float(w)], [T], float(h0))
    exact = Fraction(float(w)) ** T * Fraction(float(h0))  # the floats' exact values
    assert sign[0] == (exact > 0) - (exact < 0)
    if exact != 0:
        with localcontext() as ctx:
            ctx.prec = 40
            ref = Decimal(abs(exact.numerator)).log10() - Decimal(exact.denominator).log10()
        assert log10[0] == pytest.approx(float(ref), rel=1e-12, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False, width=64))
def test_round_to_format_agrees_with_ieee_on_floats(x):
    from gradguard.lab._recurrence import round_to_format

    # A float64 value rounds to float32 in one step in numpy: a correct reference here.
    assert round_to_format(Fraction(x), "float64") == x
    with np.errstate(over="ignore", under="ignore"):
        assert round_to_format(Fraction(x), "float32") == float(np.float32(x))


def test_round_to_format_avoids_double_rounding():
    from gradguard.lab._recurrence import round_to_format

    # 1 + 2^-24 + 2^-60 is just above the float32 tie between 1 and 1 + 2^-23, so it
    # rounds up; through float64 it first becomes 1 + 2^-24 (a tie) and then 1.0.
    x = 1 + Fraction(1, 2**24) + Fraction(1, 2**60)
    assert round_to_format(x, "float32") == 1 + 2**-23
    assert float(np.float32(float(x))) == 1.0  # what double rounding would give


@pytest.mark.parametrize("k", [8, 16, 30, 60])
@pytest.mark.parametrize("sign", [1, -1])
def test_log_mode_near_one_keeps_precision(k, sign):
    # w = 1 ± 10^-k: log10(p) − log10(q) would cancel to 0 and silently give T·h0.
    w = 1 + sign * Fraction(1, 10**k)
    T = 10 ** (k + 2)
    with localcontext() as ctx:
        ctx.prec = 100
        ln_w = (Decimal(1) + sign * Decimal(10) ** -k).ln()
        ref = Decimal(T).log10() + (T - 1) * ln_w / Decimal(10).ln()
    assert gradient(w, 1, T, "log").log10 == pytest.approx(float(ref), rel=1e-12)


def test_horizon_and_regime_near_one():
    w = 1 + Fraction(1, 10**30)
    at = overflow_horizon(w, 1, "float64")  # about 6.4e32, past the old 2^62 search cap
    assert at is not None and at > 2**62
    assert math.isinf(gradient(w, 1, at, "float64"))
    assert math.isfinite(gradient(w, 1, at - 1, "float64"))
    # |w| = 1 − 10^-400: float(|w|) is 1.0, so −1/ln|w| is not a float computation.
    r = regime(1 - Fraction(1, 10**400))
    # f(T+1)/f(T) = (T+1)/T·|w| ≤ 1 ⇔ T ≥ |w|/(1 − |w|) = 10^400 − 1.
    assert r.kind == "vanishing" and r.peak_T == 10**400 - 1 and r.peak_T2 == 10**400
    assert r.peak_T_real == math.inf and r.to_json()["peak_T_real"] == "inf"


@settings(max_examples=40, deadline=None)
@given(
    w=st.sampled_from([1, -1]),
    h0=st.fractions(min_value=Fraction(1, 10**6), max_value=10**6).map(lambda x: x or 1),
    dtype=st.sampled_from(["float64", "float32"]),
)
def test_linear_horizon_is_the_rounding_boundary(w, h0, dtype):
    # |w| = 1 has a closed form (no search); check it against the rounded gradient itself.
    at = overflow_horizon(w, h0, dtype)
    assert math.isinf(gradient(w, h0, at, dtype))
    assert at == 1 or math.isfinite(gradient(w, h0, at - 1, dtype))
