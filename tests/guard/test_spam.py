"""SPAM's remedies against pytorch-optimizer's SPAM, on fixed gradient sequences.

``pytorch-optimizer``'s ``SPAM`` (Huang et al., ICLR 2025) resets Adam's moments every
``update_proj_gap`` steps and clips entries with ``g² > θ·v``. With ``density=1`` (no
sparse masks), ``warmup_epoch=0`` (no learning-rate warm-up after a reset) and
``eps=0`` it is Adam plus exactly those two operations, so torch's Adam with
gradguard's :func:`reset_moments_` / :func:`spike_aware_clip_` must follow it.
"""

from __future__ import annotations

import math

import pytest
import torch

from gradguard.errors import InputError
from gradguard.torch import SpikeGuard
from gradguard.torch._spam import spiked_params
from gradguard.torch.spam import MomentumReset, reset_moments_, spike_aware_clip_

pytorch_optimizer = pytest.importorskip("pytorch_optimizer")

SHAPES = [(7,), (3, 5)]


def _grads(steps: int, seed: int = 0, spikes: dict[int, float] | None = None):
    g = torch.Generator().manual_seed(seed)
    out = []
    for t in range(steps):
        gs = [torch.randn(s, generator=g, dtype=torch.float64) + 0.1 for s in SHAPES]
        if spikes and t in spikes:
            gs[0] = gs[0] * spikes[t]
        out.append(gs)
    return out


def _params():
    g = torch.Generator().manual_seed(99)
    return [torch.nn.Parameter(torch.randn(s, generator=g, dtype=torch.float64)) for s in SHAPES]


def _run(opt_params, optimizer, grads, before_step=None):
    trace = []
    for t, gs in enumerate(grads):
        for p, gt in zip(opt_params, gs, strict=True):
            p.grad = gt.clone()
        if before_step is not None:
            before_step(t)
        optimizer.step()
        trace.append([p.detach().clone() for p in opt_params])
    return trace


def _spam(params, **kwargs):
    args = dict(lr=1e-2, betas=(0.9, 0.999), density=1.0, warmup_epoch=0, eps=0.0,
                weight_decay=0.0, threshold=0, update_proj_gap=10**6)  # fmt: skip
    args.update(kwargs)
    return pytorch_optimizer.SPAM(params, **args)


def test_momentum_reset_follows_spam():
    gap = 6  # SPAM zeroes the moments before its 6th step (and 12th, …)
    grads = _grads(11)
    ref_params = _params()
    ref = _run(ref_params, _spam(ref_params, update_proj_gap=gap), grads)
    params = _params()
    adam = torch.optim.Adam(params, lr=1e-2, betas=(0.9, 0.999), eps=0.0)

    def reset(t):
        if t + 1 == gap:
            assert reset_moments_(adam, restart=False) == len(params)

    ours = _run(params, adam, grads, reset)
    for t, (a, b) in enumerate(zip(ours, ref, strict=True)):
        for x, y in zip(a, b, strict=True):
            torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-14, msg=f"step {t}")
    # …and the reset matters: without it Adam leaves SPAM's path at the 6th step.
    plain_params = _params()
    plain = _run(plain_params, torch.optim.Adam(plain_params, lr=1e-2, eps=0.0), grads)
    assert torch.equal(plain[gap - 2][0], ref[gap - 2][0])
    assert not torch.allclose(plain[gap - 1][0], ref[gap - 1][0], rtol=1e-6)


def test_spike_aware_clipping_follows_spam():
    theta = 50.0
    grads = _grads(12, spikes={4: 1e3, 9: -1e4})
    ref_params = _params()
    # SPAM clips from its grad_accu_steps-th step; before its first step v = 0 (it would
    # zero every entry), so gradguard's clip starts where a second moment exists: step 2.
    ref = _run(ref_params, _spam(ref_params, threshold=theta, grad_accu_steps=2), grads)
    params = _params()
    adam = torch.optim.Adam(params, lr=1e-2, eps=0.0)
    clipped = []
    ours = _run(params, adam, grads, lambda t: clipped.append(int(spike_aware_clip_(adam, theta))))
    for a, b in zip(ours, ref, strict=True):
        for x, y in zip(a, b, strict=True):
            torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-14)
    assert clipped[0] == 0 and clipped[4] > 0 and clipped[9] > 0  # it acted on the spikes


def test_restart_is_a_fresh_adam():
    grads = _grads(10)
    params = _params()
    adam = torch.optim.Adam(params, lr=1e-2)
    ours = _run(params, adam, grads, lambda t: t == 5 and reset_moments_(adam))
    ref_params = _params()
    first = torch.optim.Adam(ref_params, lr=1e-2)
    ref = _run(ref_params, first, grads[:5])
    second = torch.optim.Adam(ref_params, lr=1e-2)  # a new optimizer: Adam's state anew
    ref += _run(ref_params, second, grads[5:])
    for a, b in zip(ours, ref, strict=True):
        for x, y in zip(a, b, strict=True):
            assert torch.equal(x, y)


def test_restart_follows_stable_spam():
    """Stable-SPAM's reset (``pytorch-optimizer``'s ``StableSPAM``: before every
    ``update_proj_gap``-th step it zeroes both moments and restarts the step count at 1)
    against torch's Adam with ``reset_moments_(restart=True)`` before the same step, on a
    gradient sequence with a 1000× spike just before the reset.

    StableSPAM is more than the reset: AdaClip (entries above a running max of ``|g|``,
    ``theta``) and a per-tensor norm scaling (``gamma1``, ``gamma2``) are optimizer
    features, not the guard's remedy. Set to ``theta=0`` the clip never acts (its running
    max is the current max), and at ``gamma1=gamma2=0`` the scaling divides each gradient
    by ``‖g‖ + eps`` — applied to the sequence our Adam is fed, so that only the reset
    differs from plain Adam in either."""
    gap, eps = 6, 1e-8
    grads = _grads(11, spikes={4: 1e3})
    ref_params = _params()
    stable = pytorch_optimizer.StableSPAM(ref_params, lr=1e-2, betas=(0.9, 0.999), eps=eps,
                                          gamma1=0.0, gamma2=0.0, theta=0.0,
                                          update_proj_gap=gap)  # fmt: skip
    ref = _run(ref_params, stable, grads)
    scaled = [[g / (g.norm() + eps) for g in gs] for gs in grads]

    def ours(**reset):
        params = _params()
        adam = torch.optim.Adam(params, lr=1e-2, betas=(0.9, 0.999), eps=eps)
        return _run(params, adam, scaled, lambda t: t + 1 == gap and reset_moments_(adam, **reset))

    for t, (a, b) in enumerate(zip(ours(), ref, strict=True)):
        for x, y in zip(a, b, strict=True):
            torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-14, msg=f"step {t}")
    # …and the restart is what matches: SPAM's reset (step count kept) or none leave
    # StableSPAM's path at the reset step, and not before.
    for other in (ours(restart=False), ours(params=[])):
        assert torch.allclose(other[gap - 2][0], ref[gap - 2][0], rtol=1e-12)
        assert not torch.allclose(other[gap - 1][0], ref[gap - 1][0], rtol=1e-6)


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


@pytest.mark.parametrize("on_spike", ["skip", "step"])
@pytest.mark.parametrize("which", ["all", "spiked"])
def test_the_hook_resets_after_a_flagged_step(on_spike, which):
    model = _model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    hook = MomentumReset(opt, params=which)
    guard = SpikeGuard(model, opt, on_spike=on_spike, clipper=None, rollback_after=None)
    guard.hooks.append(hook)
    x, y = torch.randn(32, 4), torch.randn(32, 1)
    spike_at, head = 40, model[2].weight
    for t in range(spike_at + 1):
        opt.zero_grad(set_to_none=True)
        loss = (model(x) - y).square().mean()
        loss.backward()
        if t == spike_at:
            head.grad.mul_(1e4)  # one tensor's gradient blows up
        record = guard.step(loss)
    assert record.kind == "spike" and record.action == on_spike
    assert hook.resets == [(spike_at, 4 if which == "all" else 1)]
    if which == "spiked":
        kept = {id(p) for p in opt.state}
        assert id(head) not in kept  # restarted: Adam starts its state anew
        assert all(id(p) in kept for p in model.parameters() if p is not head)
    else:
        assert not opt.state


def test_spiked_params_judges_against_the_moment_before_the_step():
    model = _model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.randn(32, 4), torch.randn(32, 1)
    for _ in range(20):
        opt.zero_grad()
        (model(x) - y).square().mean().backward()
        opt.step()

    def ids(params):
        return [id(p) for p in params]

    assert spiked_params(opt) == []
    model[0].weight.grad.mul_(1e4)
    assert ids(spiked_params(opt)) == [id(model[0].weight)]
    opt.step()  # the spike enters v; recovered from β₂, it is still found
    assert ids(spiked_params(opt, stepped=True)) == [id(model[0].weight)]
    assert spiked_params(opt) == []  # (judged against v after the step, it would be missed)
    model[0].bias.grad.fill_(math.nan)
    assert id(model[0].bias) in ids(spiked_params(opt, stepped=True))


def test_infinite_threshold_clips_nothing():
    # θ = inf is a threshold (gradguard._validate's one meaning): g² > inf · v never holds.
    model = _model()
    opt = torch.optim.Adam(model.parameters())
    model(torch.ones(2, 4)).sum().backward()
    opt.step()
    for p in model.parameters():
        p.grad.mul_(1e6)
    before = [p.grad.clone() for p in model.parameters()]
    assert int(spike_aware_clip_(opt, math.inf)) == 0
    assert all(torch.equal(p.grad, b) for p, b in zip(model.parameters(), before, strict=True))


@pytest.mark.parametrize("bad", [0, -1.0, -math.inf, math.nan, True, "5"])
def test_bad_threshold(bad):
    opt = torch.optim.Adam(_model().parameters())
    with pytest.raises(InputError, match="threshold"):
        spike_aware_clip_(opt, bad)
    with pytest.raises(InputError, match="threshold"):
        MomentumReset(opt, threshold=bad)
    with pytest.raises(InputError, match="params"):
        MomentumReset(opt, params="some")


@pytest.mark.parametrize("which", ["all", "spiked"])
def test_the_guard_option_is_the_hook(which):
    # SpikeGuard(reset_moments=which) does what the hook appended by hand does.
    states = []
    for option in (True, False):
        model = _model()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        kwargs = {"reset_moments": which} if option else {}
        guard = SpikeGuard(model, opt, clipper=None, rollback_after=None, **kwargs)
        if not option:
            guard.hooks.append(MomentumReset(opt, params=which))
        x, y = torch.randn(32, 4, generator=torch.Generator().manual_seed(1)), torch.ones(32, 1)
        for t in range(45):
            opt.zero_grad(set_to_none=True)
            loss = (model(x) - y).square().mean()
            loss.backward()
            if t == 40:
                model[2].weight.grad.mul_(1e4)
            guard.step(loss)
        states.append(([p.detach().clone() for p in model.parameters()], opt.state_dict()))
        assert guard.header()["reset_moments"] == (which if option else None)
    (p1, s1), (p2, s2) = states
    assert all(torch.equal(a, b) for a, b in zip(p1, p2, strict=True))
    assert s1["state"].keys() == s2["state"].keys()
    for k in s1["state"]:
        assert all(torch.equal(s1["state"][k][n], s2["state"][k][n]) for n in s1["state"][k])
    if which == "spiked":  # the head restarted at step 40: 4 Adam steps since, others 44
        assert s1["state"][2]["step"] == 4 and s1["state"][0]["step"] == 44


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"reset_moments": "some"}, "reset_moments must be one of all, spiked"),
        ({"reset_moments": True}, "reset_moments must be one of all, spiked"),
        ({"reset_moments": "all", "sync": False}, "reset_moments must be None when `sync=False`"),
    ],
)
def test_the_guard_option_bad_values(kwargs, match):
    model = _model()
    with pytest.raises(InputError, match=match):
        SpikeGuard(model, torch.optim.Adam(model.parameters()), **kwargs)
