"""AdaGC: the threshold arithmetic by hand, NaN safety, state round-trips, no host sync."""

from __future__ import annotations

import math

import pytest
import torch  # the [dev] extra installs torch: these tests always run

from gradguard.errors import InputError
from gradguard.torch import grad_stats
from gradguard.torch._adagc import AdaGC

from .conftest import HostSyncs, backward, make_model


def _two(g1: float, g2: float):
    """Two one-entry parameters with gradients ``g1`` and ``g2`` (norms |g1|, |g2|)."""
    a = torch.nn.Parameter(torch.zeros(1))
    b = torch.nn.Parameter(torch.zeros(1))
    a.grad = torch.tensor([g1])
    b.grad = torch.tensor([g2])
    return [a, b]


def test_threshold_arithmetic_against_a_hand_computed_example():
    # λ_abs = 1, λ_rel = 2, β = 0.5, T_start = 2, ε = 0 (round numbers).
    clip = AdaGC(max_norm=1.0, ratio=2.0, beta=0.5, warmup_steps=2, eps=0.0)
    expected = [
        # (g1, g2) → (scaled g1, g2), γ after the step
        # warm-up 1: ‖g‖ = 5 → h = 1/5 for both: (0.6, 0.8); γ = min(inf, clipped) = (0.6, 0.8)
        ((3.0, 4.0), (0.6, 0.8), (0.6, 0.8)),
        # warm-up 2: ‖g‖ = 0.5 ≤ 1 → untouched; γ = min(γ, (0.3, 0.4)) = (0.3, 0.4)
        ((0.3, 0.4), (0.3, 0.4), (0.3, 0.4)),
        # per tensor: thresholds 2γ = (0.6, 0.8); 1.5 > 0.6 → 0.6, h₁ = 0.4; 0.4 stays;
        # γ = 0.5·(0.3, 0.4) + 0.5·(0.6, 0.4) = (0.45, 0.4)
        ((1.5, 0.4), (0.6, 0.4), (0.45, 0.4)),
        # thresholds (0.9, 0.8): 0.8 stays; 2.0 → 0.8; γ = 0.5·(0.45, 0.4) + 0.5·(0.8, 0.8)
        ((0.8, 2.0), (0.8, 0.8), (0.625, 0.6)),
    ]
    for (g1, g2), scaled, gamma in expected:
        params = _two(g1, g2)
        result = clip.clip_(params)
        got = [float(p.grad) for p in params]
        assert got == pytest.approx(scaled, rel=1e-6)
        assert clip.gamma.tolist() == pytest.approx(gamma, rel=1e-6)
        pre = math.hypot(g1, g2)
        assert result.total_norm == pytest.approx(pre, rel=1e-6)
        assert result.total_norm_clipped == pytest.approx(math.hypot(*scaled), rel=1e-6)
        assert result.clipped == (tuple(scaled) != (g1, g2))
    # The first two steps report the global threshold, the later ones per-tensor ones.
    assert int(clip.steps) == 4


def test_nan_never_enters_the_ema_and_is_not_scaled():
    clip = AdaGC(warmup_steps=1, ratio=1.5, beta=0.9)
    clip.clip_(_two(3.0, 4.0))  # warm-up
    clip.clip_(_two(3.0, 4.0))
    gamma, steps = clip.gamma.clone(), int(clip.steps)
    for bad in (math.nan, math.inf):
        params = _two(bad, 100.0)
        result = clip.clip_(params)
        assert torch.equal(clip.gamma, gamma) and int(clip.steps) == steps
        assert not result.clipped
        assert float(params[1].grad) == 100.0  # a non-finite step is never scaled
    assert torch.isfinite(clip.gamma).all()
    # A step the caller does not count (the guard skipping it) leaves the state too.
    params = _two(30.0, 40.0)
    stats = grad_stats(params, per_layer=False)
    clip.clip_device_(params, stats, ok=torch.tensor(False))
    assert torch.equal(clip.gamma, gamma) and int(clip.steps) == steps
    assert [float(p.grad) for p in params] == [30.0, 40.0]


def test_state_round_trips_and_continues_identically():
    a, b = AdaGC(warmup_steps=3), AdaGC(warmup_steps=3)
    model_a, model_b = make_model(), make_model()
    for step in range(5):
        backward(model_a, seed=step, scale=10.0 * (1 + step % 3))
        a.clip_(model_a)
    b.load_state_dict(a.state_dict())
    assert b.state_dict() == a.state_dict()
    clipped = []
    for step in range(5, 9):
        scale = 1000.0 if step == 7 else 10.0
        backward(model_a, seed=step, scale=scale)
        backward(model_b, seed=step, scale=scale)
        ra, rb = a.clip_(model_a), b.clip_(model_b)
        assert ra == rb
        clipped.append(ra.clipped)
        for p, q in zip(model_a.parameters(), model_b.parameters(), strict=True):
            assert torch.equal(p.grad, q.grad)
    assert torch.equal(a.gamma, b.gamma)
    assert clipped[2]  # the 100x step was clipped per tensor


def test_per_tensor_clipping_keeps_directions_and_bounds_each_norm():
    clip = AdaGC(warmup_steps=2, ratio=1.04, beta=0.99)
    model = make_model()
    for step in range(4):
        backward(model, seed=step % 2, scale=10.0)
        clip.clip_(model)
    backward(model, seed=0, scale=1e4)
    before = [p.grad.clone() for p in model.parameters()]
    gamma = clip.gamma.clone()
    clip.clip_(model)
    for g0, p, gam in zip(before, model.parameters(), gamma, strict=True):
        n = float(p.grad.norm())
        assert n <= 1.04 * float(gam) * (1 + 1e-5)
        cos = torch.nn.functional.cosine_similarity(g0.flatten(), p.grad.flatten(), dim=0)
        assert float(cos) == pytest.approx(1.0, abs=1e-5)


def test_device_path_issues_no_host_sync():
    clip = AdaGC(warmup_steps=2)
    model = make_model()
    backward(model)
    clip.clip_(model)  # state allocated
    syncs = HostSyncs()
    for step in range(4):
        backward(model, seed=step)
        with syncs:
            stats = grad_stats(model, per_layer=False, keep_groups=True)
            clip.clip_device_(model, stats)
    assert syncs.calls == []


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"ratio": 0}, "ratio"),
        ({"beta": 1.0}, "beta"),
        ({"max_norm": 0.0}, "max_norm"),
        ({"warmup_steps": -1}, "warmup_steps"),
        ({"eps": -1.0}, "eps"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, argument):
    with pytest.raises(InputError, match=f"^{argument} must be"):
        AdaGC(**kwargs)


def test_changing_parameter_count_is_a_clear_error():
    clip = AdaGC()
    clip.clip_(_two(1.0, 1.0))
    with pytest.raises(InputError, match="the same 2 parameters"):
        clip.clip_(_two(1.0, 1.0)[:1])


def test_the_scalar_rule_is_the_clipper_on_one_tensor():
    from gradguard.rules import AdaGCRule

    # One tensor: the per-tensor clipper and the replay's scalar rule are the same AdaGC.
    clip, rule = AdaGC(max_norm=2.0, warmup_steps=3), AdaGCRule(2.0, warmup_steps=3)
    norms = [3.0, 1.5, 1.0, 1.02, 5.0, math.nan, 1.2, 0.9, 4.0]
    for x in norms:
        p = torch.nn.Parameter(torch.zeros(1))
        p.grad = torch.tensor([x])
        result = clip.clip_([p])
        verdict = rule.observe(x)
        if not math.isfinite(x):
            assert not result.clipped and not verdict.flagged
            continue
        assert result.clipped == verdict.flagged
        if verdict.flagged:
            assert float(p.grad.abs()) == pytest.approx(verdict.clip_to, rel=1e-5)
    assert float(clip.gamma[0]) == pytest.approx(rule.gamma, rel=1e-6)


def test_adagc_follows_pytorch_optimizers_adagc():
    # pytorch-optimizer's AdaGC is Adam with AdaGC's clipping inside its step; with no
    # weight decay and ε = 0 it is torch's Adam after gradguard's AdaGC clipper. (Its
    # warm-up counts the step from 1 and warms while step < warmup_steps: W + 1 there is
    # W here.)
    pytorch_optimizer = pytest.importorskip("pytorch_optimizer")
    shapes = [(6,), (3, 4), (5,)]

    def params():
        g = torch.Generator().manual_seed(7)
        return [torch.nn.Parameter(torch.randn(s, generator=g)) for s in shapes]

    g = torch.Generator().manual_seed(3)
    grads = [[torch.randn(s, generator=g) + 0.2 for s in shapes] for _ in range(14)]
    for t, scale in ((1, 30.0), (6, 50.0), (9, 1e3), (11, 4.0)):  # spikes, in and after warm-up
        grads[t][t % 3] = grads[t][t % 3] * scale
    warmup, kw = 4, {"lr": 1e-2, "betas": (0.9, 0.999), "eps": 0.0}
    ref_p = params()
    ref = pytorch_optimizer.AdaGC(ref_p, beta=0.9, lambda_abs=1.0, lambda_rel=1.05,
                                  warmup_steps=warmup + 1, weight_decay=0.0, **kw)  # fmt: skip
    ours_p = params()
    adam = torch.optim.Adam(ours_p, **kw)
    clip = AdaGC(max_norm=1.0, ratio=1.05, beta=0.9, warmup_steps=warmup, eps=0.0)
    acted = 0
    for t, gs in enumerate(grads):
        for p, q, gt in zip(ref_p, ours_p, gs, strict=True):
            p.grad, q.grad = gt.clone(), gt.clone()
        ref.step()
        acted += clip.clip_(ours_p).clipped
        adam.step()
        for p, q in zip(ref_p, ours_p, strict=True):
            torch.testing.assert_close(q, p, rtol=2e-5, atol=1e-6, msg=f"step {t}")
    assert acted >= 4  # clipping acted, in the warm-up and per tensor after it
