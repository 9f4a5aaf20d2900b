"""Task generators: shapes, structure, seeding, and baselines measured on generated data."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gradguard.errors import InputError
from gradguard.experiments import adding_baseline, adding_problem, copy_baseline, copy_memory


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@settings(max_examples=25, deadline=None)
@given(T=st.integers(2, 120), batch=st.integers(1, 40), seed=st.integers(0, 10**6))
def test_adding_shapes_and_markers(T, batch, seed):
    b = adding_problem(T, batch, gen(seed))
    assert b.x.shape == (batch, T, 2) and b.y.shape == (batch, 1)
    values, markers = b.x[..., 0], b.x[..., 1]
    assert ((values >= 0) & (values < 1)).all()
    half = T // 2
    # exactly one marker in each half
    assert (markers[:, :half].sum(1) == 1).all() and (markers[:, half:].sum(1) == 1).all()
    assert set(markers.unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(b.y[:, 0], (values * markers).sum(1))


def test_adding_baseline_from_data():
    # Always predicting 1: MSE = Var(a + b) = 2/12 = 1/6. The std of (y-1)^2 is
    # sqrt(E[(y-1)^4] - 1/36) = sqrt(1/15 - 1/36) ≈ 0.197, so with n = 200000 the
    # standard error is ≈ 0.00044; allow 5 of them.
    n = 200_000
    b = adding_problem(10, n, gen(1), dtype=torch.float64)
    mse = float(((b.y - 1) ** 2).mean())
    assert adding_baseline() == pytest.approx(1 / 6)
    assert abs(mse - 1 / 6) < 5 * math.sqrt(1 / 15 - 1 / 36) / math.sqrt(n)
    # and 1 is the best constant: the mean target is 1 (std 1/sqrt(6) / sqrt(n) per draw)
    assert abs(float(b.y.mean()) - 1) < 5 * math.sqrt(1 / 6) / math.sqrt(n)


@settings(max_examples=25, deadline=None)
@given(T=st.integers(1, 60), batch=st.integers(1, 20), seed=st.integers(0, 10**6))
def test_copy_structure(T, batch, seed):
    b = copy_memory(T, batch, gen(seed))
    L = T + 20
    assert b.x.shape == (batch, L, 10) and b.y.shape == (batch, L)
    tokens = b.x.argmax(-1)
    assert (b.x.sum(-1) == 1).all()  # one-hot
    symbols = tokens[:, :10]
    assert ((symbols >= 1) & (symbols <= 8)).all()
    assert (tokens[:, 10 : 10 + T - 1] == 0).all()  # T - 1 blanks
    assert (tokens[:, 10 + T - 1] == 9).all()  # the delimiter
    assert (tokens[:, 10 + T :] == 0).all()  # 10 blanks
    assert (b.y[:, : T + 10] == 0).all()
    assert torch.equal(b.y[:, T + 10 :], symbols)


def test_copy_baseline_from_data():
    # The best memoryless predictor uses, at each position, the distribution of the
    # target there; its cross-entropy, estimated from the data, must match
    # 10 ln 8 / (T + 20) (the plug-in estimate is biased low by about
    # (8 - 1) / (2n) per symbol position, far below the tolerance).
    T, n = 30, 50_000
    b = copy_memory(T, n, gen(2))
    ce = 0.0
    for pos in range(T + 20):
        counts = torch.bincount(b.y[:, pos], minlength=10).double()
        p = counts / n
        ce += float(-(p[p > 0] * p[p > 0].log()).sum())
    ce /= T + 20
    expected = 10 * math.log(8) / (T + 20)
    assert copy_baseline(T) == pytest.approx(expected)
    # each symbol position's entropy has sampling std ≈ sqrt(Var(log p)/n) ≈ 0 for a
    # uniform 8-way distribution; the estimate's spread is dominated by the bias above.
    assert abs(ce - expected) < 0.002


def test_same_seed_same_batch():
    a, b = adding_problem(20, 8, gen(5)), adding_problem(20, 8, gen(5))
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    c = copy_memory(5, 8, gen(5))
    d = copy_memory(5, 8, gen(5))
    assert torch.equal(c.y, d.y)
    assert not torch.equal(adding_problem(20, 8, gen(6)).x, a.x)


@pytest.mark.parametrize("T", [0, 1, -3, 2.5, True])
def test_adding_rejects_bad_T(T):
    with pytest.raises(InputError, match="T must be a whole number ≥ 2"):
        adding_problem(T, 4, gen())


@pytest.mark.parametrize("T", [0, -1])
def test_copy_rejects_bad_T(T):
    with pytest.raises(InputError, match="T must be a whole number ≥ 1"):
        copy_memory(T, 4, gen())
    with pytest.raises(InputError):
        copy_baseline(T)


def test_rejects_bad_batch():
    with pytest.raises(InputError, match="batch must be"):
        adding_problem(10, 0, gen())


def test_each_task_names_the_preset_field_holding_its_lengths():
    from gradguard.experiments import PRESETS, build_grid
    from gradguard.experiments._tasks import TASK_OBJECTS

    for name, task in TASK_OBJECTS.items():
        for preset_name, preset in PRESETS.items():
            lengths = getattr(preset, task.preset_lengths)
            grid = build_grid(preset_name, experiments=[name], seeds=[0])
            assert sorted({s.T for s in grid}) == sorted(set(lengths)), (name, preset_name)
