"""SGD on the seed's system: the seed's numbers, divergence, and the remedies."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradguard.errors import InputError
from gradguard.lab import compare_remedies, sgd_step, trajectory


def test_seed_updates():
    assert sgd_step(2, 80, "0.01") == Fraction(6, 5)  # 2 − 0.01·80 = 1.2
    assert sgd_step(2, 10**6, "0.01") == -9998  # 2 − 0.01·10^6


def test_seed_loss_first_steps_exact():
    run = trajectory(2, 1, 5, "0.01", iters=2, loss="seed", mode="exact")
    # k=0: g = 5·2^4 = 80 → w = 1.2; k=1: g = 5·1.2^4 = 10.368 → w = 1.2 − 0.10368 = 1.09632
    assert run.steps[0].grad == 80 and run.steps[0].w_next == Fraction(6, 5)
    assert run.steps[1].grad == Fraction(10368, 1000) and run.steps[1].w_next == Fraction(
        109632, 100000
    )
    assert run.status == "completed"


def test_float_runs_match_exact_while_small():
    exact = trajectory(2, 1, 5, "0.01", iters=5, loss="target", clip=5, mode="exact")
    f64 = trajectory(2, 1, 5, "0.01", iters=5, loss="target", clip=5, mode="float64")
    for a, b in zip(exact.steps, f64.steps, strict=True):
        assert float(a.w_next) == pytest.approx(b.w_next, rel=1e-12)


@pytest.mark.parametrize("mode", ["float64", "float32"])
def test_divergence_and_remedies(mode):
    runs = compare_remedies(2, 1, 5, "0.01", iters=50, loss="target", y=1, clip=5, mode=mode)
    none = runs["none"]
    # No remedy: g = (32 − 1)·80 = 2480 → w = 2 − 24.8 = −22.8, then overflow to inf.
    assert none.steps[0].w_next == pytest.approx(-22.8, rel=1e-6)
    assert none.status == "nonfinite" and none.first_nonfinite is not None
    assert not math.isfinite(none.steps[none.first_nonfinite].w_next) or not math.isfinite(
        none.steps[none.first_nonfinite].grad
    )
    for name in ("clip", "low-lr"):
        run = runs[name]
        assert run.status == "completed" and run.first_nonfinite is None
        assert all(math.isfinite(s.w_next) for s in run.steps)
    # Clipping moved w towards the minimum w = 1 (w^5 = 1) in steps of at most η·c = 0.05.
    assert abs(runs["clip"].final_w - 1) < 0.1
    assert runs["clip"].clipped_steps > 0


@settings(max_examples=30, deadline=None)
@given(
    w=st.floats(-3, 3, allow_nan=False),
    c=st.floats(0.01, 10),
    eta=st.floats(1e-4, 0.5),
    T=st.integers(1, 30),
)
def test_clipped_steps_are_bounded(w, c, eta, T):
    run = trajectory(w, 1, T, eta, iters=5, loss="target", clip=c)
    for s in run.steps:
        if math.isfinite(s.grad):
            assert abs(s.w_next - s.w) <= eta * c * (1 + 1e-9) + 1e-12


def test_exact_trajectory_stops_before_huge_numbers():
    run = trajectory(2, 1, 50, "0.01", iters=50, loss="seed", mode="exact")
    assert run.status in ("size_limit", "blowup")


def test_bad_inputs():
    with pytest.raises(InputError, match="eta must be a number > 0"):
        trajectory(eta="-0.1")
    with pytest.raises(InputError, match="loss must be one of seed, target"):
        trajectory(loss="mse")
    with pytest.raises(InputError, match="iters must be"):
        trajectory(iters=0)
    with pytest.raises(InputError, match="clip must be a finite number > 0"):
        trajectory(clip=0)
