"""clip_grad_norm_ / clip_grad_value_: parity with torch.nn.utils, properties, non-finite policy."""

from __future__ import annotations

import copy
import math

import pytest
import torch  # the [dev] extra installs torch: these tests always run
from hypothesis import given, settings
from hypothesis import strategies as st

from gradguard.torch import (
    clip_grad_norm_,
    clip_grad_value_,
    clip_grads_with_norm_,
    get_total_norm,
    grad_stats,
)

from .conftest import backward, make_model

INF = math.inf


def _pair(dtype, seed=0):
    a = make_model(seed, dtype)
    backward(a, seed)
    b = copy.deepcopy(a)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        pb.grad = pa.grad.clone()
    return a, b


@pytest.mark.parametrize("norm_type", [1.0, 2.0, INF])
@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_clip_grad_norm_matches_torch(norm_type, foreach, dtype):
    ours, ref = _pair(dtype)
    pre = torch.linalg.vector_norm(
        torch.stack([torch.linalg.vector_norm(p.grad, norm_type) for p in ref.parameters()]),
        norm_type,
    )
    max_norm = float(pre) / 10  # clipping really acts: the coefficient is ≈ 0.1
    got = clip_grad_norm_(ours.parameters(), max_norm, norm_type, foreach=foreach)
    want = torch.nn.utils.clip_grad_norm_(ref.parameters(), max_norm, norm_type, foreach=foreach)
    assert got.dtype == want.dtype and got.shape == want.shape
    torch.testing.assert_close(got, want)
    for p, q in zip(ours.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad)


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_clip_grad_value_matches_torch(foreach, dtype):
    ours, ref = _pair(dtype)
    c = 0.5 * float(max(p.grad.abs().max() for p in ref.parameters()))  # clipping acts
    assert clip_grad_value_(ours.parameters(), c, foreach=foreach) is None
    torch.nn.utils.clip_grad_value_(ref.parameters(), c, foreach=foreach)
    for p, q in zip(ours.parameters(), ref.parameters(), strict=True):
        assert torch.equal(p.grad, q.grad)


def test_get_total_norm_and_module_input_match_torch():
    ours, ref = _pair(torch.float32)
    grads = [p.grad for p in ref.parameters()]
    torch.testing.assert_close(get_total_norm(grads), torch.nn.utils.get_total_norm(grads))
    # A module and named pairs are accepted as well as an iterable of tensors.
    a = clip_grad_norm_(ours, 1.0)
    b = torch.nn.utils.clip_grad_norm_(ref.parameters(), 1.0)
    torch.testing.assert_close(a, b)


def test_error_if_nonfinite_raises_like_torch():
    ours, ref = _pair(torch.float32)
    next(ours.parameters()).grad[0, 0] = math.nan
    next(ref.parameters()).grad[0, 0] = math.nan
    with pytest.raises(RuntimeError) as theirs:
        torch.nn.utils.clip_grad_norm_(ref.parameters(), 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError) as mine:
        clip_grad_norm_(ours.parameters(), 1.0, error_if_nonfinite=True)
    assert str(mine.value) == str(theirs.value)
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(ours.parameters(), 1.0, nonfinite="error")


def _grads_with_nan():
    model = make_model(1)
    backward(model, 1)
    first = next(model.parameters())
    first.grad[0, 0] = math.nan
    return model


def test_regression_torch_spreads_nan_to_every_gradient():
    # The defect: torch multiplies every gradient by max_norm / (nan + 1e-6) = nan.
    model = _grads_with_nan()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    assert all(torch.isnan(p.grad).all() for p in model.parameters())
    # Our default reproduces it (parity) ...
    model = _grads_with_nan()
    clip_grad_norm_(model.parameters(), 1.0)
    assert all(torch.isnan(p.grad).all() for p in model.parameters())


def test_nonfinite_skip_leaves_gradients_untouched():
    model = _grads_with_nan()
    before = [p.grad.clone() for p in model.parameters()]
    total = clip_grad_norm_(model.parameters(), 1.0, nonfinite="skip")
    assert torch.isnan(total)
    for p, b in zip(model.parameters(), before, strict=True):
        assert torch.equal(torch.nan_to_num(p.grad), torch.nan_to_num(b))
        assert torch.equal(torch.isnan(p.grad), torch.isnan(b))
    # Only the one poisoned entry is NaN, not every gradient.
    assert sum(int(torch.isnan(p.grad).sum()) for p in model.parameters()) == 1


def test_nonfinite_zero_zeroes_gradients():
    model = _grads_with_nan()
    clip_grad_norm_(model.parameters(), 1.0, nonfinite="zero")
    assert all(torch.equal(p.grad, torch.zeros_like(p.grad)) for p in model.parameters())


def test_clip_grads_with_norm_returns_coefficient():
    model = make_model()
    backward(model)
    stats = grad_stats(model)
    c = float(stats.total_norm) / 4
    coef = clip_grads_with_norm_(model, c, stats.total_norm)
    # c / (‖g‖ + 1e-6), torch's formula; ‖g‖ = 4c so the coefficient is ≈ 1/4.
    torch.testing.assert_close(coef, c / (stats.total_norm + 1e-6))
    torch.testing.assert_close(
        get_total_norm([p.grad for p in model.parameters()]), torch.tensor(c), rtol=1e-5, atol=0
    )


def test_empty_and_gradless_parameters():
    p = torch.nn.Parameter(torch.ones(3))
    assert float(clip_grad_norm_([p], 1.0)) == 0.0
    assert float(torch.nn.utils.clip_grad_norm_([p], 1.0)) == 0.0
    with pytest.warns(UserWarning, match="empty generator"):
        clip_grad_norm_((q for q in []), 1.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_norm": -1.0}, "max_norm must be a number > 0 .*, got -1.0"),
        ({"max_norm": math.nan}, "max_norm must be a number > 0"),
        ({"max_norm": 1.0, "norm_type": 0.5}, "norm_type must be a number ≥ 1 or inf"),
        ({"max_norm": 1.0, "nonfinite": "ignore"}, "nonfinite must be one of"),
    ],
)
def test_bad_arguments(kwargs, match):
    model = make_model()
    backward(model)
    with pytest.raises(ValueError, match=match):
        clip_grad_norm_(model.parameters(), **kwargs)


finite = st.floats(-1e6, 1e6, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.lists(finite, min_size=1, max_size=6), min_size=1, max_size=4),
    max_norm=st.floats(1e-3, 1e3),
    norm_type=st.sampled_from([1.0, 2.0, INF]),
)
def test_properties(values, max_norm, norm_type):
    params = [torch.nn.Parameter(torch.zeros(len(v))) for v in values]
    for p, v in zip(params, values, strict=True):
        p.grad = torch.tensor(v)
    original = [p.grad.clone() for p in params]
    pre = float(clip_grad_norm_(params, max_norm, norm_type))
    post = float(get_total_norm([p.grad for p in params], norm_type))
    # Bounded: post-clip norm ≤ max_norm (1 + 1e-6), up to float32 rounding.
    assert post <= max_norm * (1 + 1e-6) + 1e-5 * max_norm
    if (pre + 1e-6) * (1 + 1e-6) < max_norm:
        # No-op below the threshold: c / (‖g‖ + 1e-6) ≥ 1 (margin for float32 rounding)
        # is clamped to exactly 1.0, so the gradients are multiplied by exactly 1.
        for p, o in zip(params, original, strict=True):
            assert torch.equal(p.grad, o)
    # Idempotent up to torch's epsilon: a second pass multiplies by c / (c + 1e-6),
    # a relative change of ≈ 1e-6 / c, plus float32 rounding.
    again = [p.grad.clone() for p in params]
    clip_grad_norm_(params, max_norm, norm_type)
    for p, a in zip(params, again, strict=True):
        torch.testing.assert_close(p.grad, a, rtol=1e-5 + 2e-6 / max_norm, atol=1e-6 * max_norm)


def test_sparse_gradients_are_a_one_line_error():
    # torch.nn.utils fails here too, with a NotImplementedError listing ~100 backends.
    def sparse_model():
        emb = torch.nn.Embedding(10, 3, sparse=True)
        emb(torch.tensor([1, 2])).sum().backward()
        return emb

    for call in (
        lambda m: grad_stats(m),
        lambda m: clip_grad_norm_(m.parameters(), 0.1),
        lambda m: clip_grad_value_(m.parameters(), 0.1),
    ):
        with pytest.raises(ValueError, match=r"dense gradients, got 'a torch.sparse_coo") as err:
            call(sparse_model())
        assert "\n" not in str(err.value) and "sparse=False" in str(err.value)


def test_clip_grads_with_norm_nonfinite_error_raises_and_leaves_gradients():
    model = _grads_with_nan()
    before = [p.grad.clone() for p in model.parameters()]
    stats = grad_stats(model)
    with pytest.raises(RuntimeError, match=r"total_norm is nan.*left untouched.*'skip'"):
        clip_grads_with_norm_(model, 1.0, stats.total_norm, nonfinite="error")
    for p, b in zip(model.parameters(), before, strict=True):
        assert torch.equal(p.grad.nan_to_num(), b.nan_to_num())
