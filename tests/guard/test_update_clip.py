"""Update clipping (StableAdamW, Wortsman et al. 2023) against the paper's Algorithm 2.

The reference below is written from the paper, not from torch's Adam: bias correction by
the paper's β̂ schedule (``β̂₂ = β₂(1 − β₂^{t−1})/(1 − β₂^t)``, which makes ``v_t`` the
bias-corrected estimate itself), ``RMS_t = √mean(g²/max(v_t, ε²))``, the learning rate
``η/max(1, RMS_t)`` applied to the whole update, decoupled weight decay included.
"""

from __future__ import annotations

import math

import pytest
import torch

from gradguard.errors import InputError
from gradguard.rules import RULES, UpdateRMSRule
from gradguard.torch import SpikeGuard, UpdateClipper

LR, BETAS, EPS, WD = 1e-2, (0.9, 0.999), 1e-8, 0.1


def _grads(steps: int, spike_at: int, shape=(4, 3)) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    out = [torch.randn(shape, generator=g, dtype=torch.float64) * 0.1 for _ in range(steps)]
    out[spike_at] = out[spike_at] * 1e3  # far above what v̂ expects: RMS_t > 1
    return out


def _stable_adamw(theta, grads, weight_decay):
    """Algorithm 2 of arXiv:2304.13013, one tensor, float64; returns θ per step and RMS_t."""
    b1, b2 = BETAS
    m = torch.zeros_like(theta)
    v = torch.zeros_like(theta)
    thetas, rmss = [], []
    for t, g in enumerate(grads, start=1):
        b1_hat = b1 * (1 - b1 ** (t - 1)) / (1 - b1**t)
        b2_hat = b2 * (1 - b2 ** (t - 1)) / (1 - b2**t)
        v = b2_hat * v + (1 - b2_hat) * g * g
        m = b1_hat * m + (1 - b1_hat) * g
        rms = math.sqrt(float((g * g / torch.clamp(v, min=EPS**2)).mean()))
        eta = LR / max(1.0, rms)
        theta = theta - eta * weight_decay * theta - eta * m / (v.sqrt() + EPS)
        thetas.append(theta.clone())
        rmss.append(rms)
    return thetas, rmss


def _torch_run(opt_cls, grads, weight_decay, clip=True, **kw):
    p = torch.nn.Parameter(torch.linspace(-1, 1, grads[0].numel(), dtype=torch.float64))
    p.data = p.data.reshape(grads[0].shape)
    opt = opt_cls([p], lr=LR, betas=BETAS, eps=EPS, weight_decay=weight_decay, **kw)
    clipper = UpdateClipper().attach(opt) if clip else None
    thetas, coefs = [], []
    for g in grads:
        p.grad = g.clone()
        opt.step()
        thetas.append(p.detach().clone())
        if clipper is not None:
            assert clipper.last is not None
            coefs.append(float(clipper.last.clip_coef))
    return thetas, coefs


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("foreach", [False, True])
def test_adamw_with_update_clipping_is_stable_adamw(fused, foreach):
    if fused and foreach:
        pytest.skip("torch takes one of fused and foreach")
    grads = _grads(12, spike_at=8)
    start = torch.linspace(-1, 1, 12, dtype=torch.float64).reshape(4, 3)
    ref, rms = _stable_adamw(start, grads, WD)
    ours, coefs = _torch_run(torch.optim.AdamW, grads, WD, fused=fused, foreach=foreach)
    assert rms[8] > 1 and sum(r > 1 for r in rms) >= 1  # the spike is clipped
    prev_a = prev_b = start
    for t, (a, b) in enumerate(zip(ours, ref, strict=True)):
        # Compare each step's update: ours scales by 1/(RMS + 1e-6), the clip coefficient
        # every gradguard clipper uses, where the paper has 1/RMS — a relative 1e-6 at most
        # (and the weights drift apart by as little, which weight decay sees: atol).
        da, db = a - prev_a, b - prev_b
        torch.testing.assert_close(da, db, rtol=2e-6, atol=1e-10, msg=f"step {t}")
        prev_a, prev_b = a, b
    torch.testing.assert_close(ours[-1], ref[-1], rtol=0, atol=1e-7)
    for r, c in zip(rms, coefs, strict=True):
        assert c == pytest.approx(1.0 / max(1.0, r), rel=2e-6)
        assert (c < 1) == (r > 1)


def test_unclipped_steps_are_adams_bit_for_bit():
    # A constant gradient keeps v̂ = g² exactly, so RMS_t = 1 on every step: never above
    # the bound, and the optimizer's result is kept as it is (torch.lerp at weight 1).
    grads = [torch.full((3, 2), 0.5, dtype=torch.float64)] * 6
    for cls in (torch.optim.Adam, torch.optim.AdamW):
        clipped, coefs = _torch_run(cls, grads, 0.0)
        plain, _ = _torch_run(cls, grads, 0.0, clip=False)
        assert coefs == [1.0] * 6
        for a, b in zip(clipped, plain, strict=True):
            assert torch.equal(a, b)


def test_the_guard_records_the_update_coefficient_in_both_modes():
    grads = _grads(10, spike_at=7, shape=(1, 3))
    records, weights = {}, {}
    for sync in (True, False):
        model = torch.nn.Linear(3, 1, bias=False).double()
        with torch.no_grad():
            model.weight.copy_(torch.tensor([[0.5, -0.25, 1.0]]))
        opt = torch.optim.AdamW(model.parameters(), lr=LR, fused=True)
        guard = SpikeGuard(model, opt, clipper=UpdateClipper(), spike_rule=None, sync=sync)
        records[sync] = []
        guard.hooks.append(records[sync].append)
        for g in grads:
            model.weight.grad = g.clone()
            guard.step(1.0)
        guard.close()
        weights[sync] = model.weight.detach().clone()
    host, device = records[True], records[False]
    assert len(host) == len(device) == 10
    assert [r.clip_coef for r in host] == [r.clip_coef for r in device]
    assert [r.kind for r in host] == [r.kind for r in device]
    _, rms = _stable_adamw(torch.zeros(1, 3, dtype=torch.float64), grads, 0.0)  # (θ-free)
    assert rms[7] > 2  # the spike
    for r, x in zip(host, rms, strict=True):
        assert r.kind == ("clipped" if x > 1 else "ok") and r.threshold == 1.0
        assert r.clip_coef == pytest.approx(1 / max(1.0, x), rel=2e-6)
        assert r.grad_norm_clipped == r.grad_norm  # the gradients are not touched
    assert torch.equal(weights[True], weights[False])


def test_other_optimizers_are_refused_by_name():
    model = torch.nn.Linear(2, 1)
    for opt, shown in (
        (torch.optim.SGD(model.parameters(), lr=0.1), "'SGD'"),
        (torch.optim.Adam(model.parameters(), amsgrad=True), "'Adam(amsgrad=True)'"),
    ):
        with pytest.raises(InputError, match="optimizer") as err:
            SpikeGuard(model, opt, clipper=UpdateClipper())
        assert shown in str(err.value) and "exp_avg_sq" in str(err.value)
        assert "{" not in err.value.message("bn")


def test_the_rule_is_declared_once_and_not_replayable():
    rule = RULES["update"]
    assert rule is UpdateRMSRule and rule.side == "update" and rule.clipper == "UpdateClipper"
    assert rule.replay_needs == "exp_avg_sq"
    with pytest.raises(InputError, match="max_rms"):
        UpdateClipper(max_rms=0.0)
    assert UpdateRMSRule(2.0).judge(3.0).clip_to == 2.0
    assert UpdateRMSRule(2.0).judge(2.0).clip_to is None
