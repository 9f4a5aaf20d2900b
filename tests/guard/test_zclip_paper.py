"""ZClip as Kumar et al. (2025) define it: a capped warm-up, the cap applied afterwards too."""

from __future__ import annotations

import math

import torch
from workloads import WORKLOADS, train

from gradguard.rules import EmaZScoreRule
from gradguard.torch import SpikeGuard, ZClip


def _grads(norm: float, seed: int = 0) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    params = [torch.nn.Parameter(torch.zeros(7)), torch.nn.Parameter(torch.zeros(3, 4))]
    for p in params:
        p.grad = torch.randn(p.shape, generator=g)
    total = math.sqrt(sum(float(p.grad.square().sum()) for p in params))
    for p in params:
        p.grad.mul_(norm / total)
    return params


def test_defaults_are_the_reference_implementations():
    z = ZClip()
    assert (z.rule.alpha, z.rule.z_thresh, z.rule.warmup_steps) == (0.97, 2.5, 25)
    assert z.max_grad_norm == 1.0  # zclip 1.0.0: max_grad_norm=1.0


def test_warmup_clips_at_the_cap_like_torch():
    z = ZClip()
    for step in range(25):
        params = _grads(5.0, seed=step)
        ref = [_with_grad(p.grad.clone()) for p in params]
        torch.nn.utils.clip_grad_norm_(ref, 1.0)
        result = z.clip_(params)
        assert result.clipped and result.threshold == 1.0
        assert all(torch.equal(p.grad, r.grad) for p, r in zip(params, ref, strict=True))


def _with_grad(g: torch.Tensor) -> torch.nn.Parameter:
    p = torch.nn.Parameter(torch.zeros_like(g))
    p.grad = g
    return p


def test_a_huge_norm_in_warmup_does_not_become_the_threshold():
    z = ZClip()
    for step in range(25):
        z.clip_(_grads(2.8e6 if step == 3 else 0.2 + 0.01 * (step % 5), seed=step))
    # warm-up over: the statistics come from the norms as clipped (≤ the cap), so the
    # threshold is near the ordinary norms, not ~1e6
    # (the z-score threshold alone: the rule's state without the cap)
    uncapped = EmaZScoreRule()
    uncapped.load_state_dict({**z.rule.state_dict(), "max_norm": None})
    threshold = uncapped.judge(0.0).threshold
    assert threshold is not None and threshold < 1.0
    after = z.clip_(_grads(50.0, seed=99))
    assert after.clipped and after.total_norm_clipped <= 1.0 + 1e-6


def test_the_cap_applies_after_warmup():
    z = ZClip(warmup_steps=2)
    for step in range(2):
        z.clip_(_grads(3.0, seed=step))
    # after a flat warm-up at the cap every norm above 1 is clipped to at most 1
    r = z.clip_(_grads(1.5, seed=5))
    assert r.clipped and r.total_norm_clipped <= 1.0 + 1e-6


def test_zclip_default_on_the_high_lr_lstm_lm_is_not_worse_than_fixed_clipping():
    w = WORKLOADS["lstm-lm"]
    fixed = train(w, seed=0, steps=120)

    def guard(model, opt, sched):
        return SpikeGuard(model, opt, clipper=ZClip())

    zclip = train(w, seed=0, steps=120, guard=guard)
    assert zclip.actions == ["step"] * 120
    assert zclip.eval_loss <= fixed.eval_loss + 0.02


def test_rollback_restores_zclip_state_consistently():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    z = ZClip(warmup_steps=3)
    guard = SpikeGuard(model, opt, clipper=z, snapshot_every=2, rollback_after=2)
    x = torch.randn(8, 4)
    states = {}
    for step in range(12):
        opt.zero_grad(set_to_none=True)
        loss = model(x).square().mean()
        if step in (8, 9):
            loss = loss * math.nan
        loss.backward()
        states[step] = z.state_dict()
        record = guard.step(loss)
        if record.action == "rollback":
            restored = record.extra["restored_step"]
            # the clipper is as it was when the snapshot was taken, at the start of that step
            assert z.state_dict() == states[restored]
    assert guard.rollbacks == 1


def test_a_huge_gradient_in_warmup_on_the_lstm_lm_does_not_wreck_zclip():
    # The failure on the real workload: a 1e6× gradient at step 5, inside ZClip's
    # warm-up and before the spike rule has a history, is taken. Capped, ZClip clips it to
    # 1.0 and learns from the cap, and the run ends no worse than fixed clipping; uncapped
    # (the control), the norm enters the warm-up statistics and the run is wrecked.
    w = WORKLOADS["lstm-lm"]
    fixed = train(w, seed=0, steps=120)

    def run(clipper):
        def guard(model, opt, sched):
            return SpikeGuard(model, opt, clipper=clipper)

        return train(w, seed=0, steps=120, fault="grad1e6", fault_at=5, guard=guard)

    capped, uncapped = run(ZClip()), run(ZClip(max_grad_norm=None))
    assert capped.actions[5] == uncapped.actions[5] == "step"  # (no rule could flag it yet)
    assert capped.eval_loss <= fixed.eval_loss + 0.02
    assert uncapped.eval_loss > fixed.eval_loss + 1.0
