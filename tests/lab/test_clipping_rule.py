"""The seed's clipping rule g / max(1, ‖g‖/c): exact examples and hypothesis properties."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gradguard.errors import InputError
from gradguard.lab import clip_by_norm, clip_by_value, clip_coefficient


def test_seed_example():
    # The seed: gradient 100, threshold 5 -> 100 / max(1, 100/5) = 100/20 = 5.
    assert clip_by_norm(100, 5) == 5
    assert clip_by_norm(-100, 5) == -5
    assert clip_coefficient(100, 5) == Fraction(1, 20)


def test_exact_fraction_stays_exact():
    # 7/2 with c = 1/3: 7/2 / max(1, (7/2)/(1/3)) = 7/2 / (21/2) = 1/3.
    assert clip_by_norm(Fraction(7, 2), Fraction(1, 3)) == Fraction(1, 3)


finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
positive = st.floats(1e-3, 1e3, allow_nan=False, allow_infinity=False)
arrays = hnp.arrays(np.float64, hnp.array_shapes(max_dims=3, max_side=6), elements=finite)


@given(arrays, positive)
def test_norm_properties(g, c):
    out = clip_by_norm(g, c)
    n, n_out = np.linalg.norm(g), np.linalg.norm(out)
    assert n_out <= c * (1 + 1e-9) or n_out <= n * (1 + 1e-12)
    if n <= c:  # no change below the threshold
        np.testing.assert_array_equal(out, g)
    else:  # scaled to exactly c, direction kept
        assert n_out == pytest.approx(c, rel=1e-9)
        np.testing.assert_allclose(out * (n / c), g, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(clip_by_norm(out, c), out, rtol=1e-12, atol=0)  # idempotent


@given(
    st.fractions(max_denominator=1000), st.fractions(min_value=Fraction(1, 1000), max_value=1000)
)
def test_scalar_exact_properties(g, c):
    out = clip_by_norm(g, c)
    assert abs(out) <= c or out == g
    assert abs(out) == min(abs(g), c)
    assert clip_by_norm(out, c) == out
    assert (out > 0) == (g > 0)


@given(arrays, positive)
def test_value_clipping_bounds(g, c):
    out = clip_by_value(g, c)
    assert np.all(np.abs(out) <= c)
    np.testing.assert_array_equal(clip_by_value(out, c), out)


@pytest.mark.parametrize("c", [0, -1, float("nan"), -float("inf"), "5", True])
def test_bad_threshold(c):
    with pytest.raises(InputError, match="must be a number > 0"):
        clip_by_norm(1.0, c)


def test_infinite_threshold_never_clips():
    # c = inf: g / max(1, |g| / inf) = g / 1, exact stays exact (torch: clip_grad_norm_(…, inf)).
    assert clip_by_norm(100, float("inf")) == 100 and type(clip_by_norm(100, math.inf)) is int
    assert clip_by_norm(Fraction(7, 2), math.inf) == Fraction(7, 2)
    assert clip_coefficient(10**30, math.inf) == 1 and clip_coefficient(3.5, math.inf) == 1.0
    g = np.array([3e38, -1.0], dtype=np.float32)
    np.testing.assert_array_equal(clip_by_norm(g, math.inf), g)
    assert clip_by_value(-7, math.inf) == -7


@pytest.mark.parametrize("dt", [np.float16, np.float32, np.float64])
@given(g=st.floats(-6e4, 6e4, allow_nan=False), c=st.floats(1e-2, 1e2))
def test_numpy_scalar_is_clipped_in_its_own_dtype(dt, g, c):
    # The lab's SGD in float16/float32/float64 clips with this rule, in the format: the
    # result keeps the dtype and is the seed's formula evaluated in that dtype.
    x = dt(g)
    with np.errstate(all="ignore"):
        out = clip_by_norm(x, c)
        want = x / max(dt(1), abs(x) / dt(c))
    assert type(out) is dt
    assert out == want or (np.isnan(out) and np.isnan(want))


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_numpy_scalar_infinite_gradient_becomes_nan(dt):
    # inf / max(1, inf/c) = inf / inf: the seed's rule cannot rescue an infinite gradient.
    with np.errstate(all="ignore"):
        assert np.isnan(clip_by_norm(dt(np.inf), 5.0))
