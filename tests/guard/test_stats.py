"""grad_stats: against per-tensor torch references, non-finite counting, one host sync."""

from __future__ import annotations

import math

import pytest
import torch  # the [dev] extra installs torch: these tests always run

from gradguard.records import StepRecord
from gradguard.torch import grad_stats
from gradguard.torch.stats import step_record

from .conftest import HostSyncs, backward, make_model

INF = math.inf


@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0, INF])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_reference(norm_type, dtype):
    model = make_model(0, dtype)
    backward(model)
    named = [(n, p) for n, p in model.named_parameters()]
    stats = grad_stats(model, norm_type)
    host, _ = stats.host()
    ref_norms = [float(torch.linalg.vector_norm(p.grad, norm_type)) for _, p in named]
    assert host.names == [n for n, _ in named]
    assert host.param_norms == pytest.approx(ref_norms, rel=1e-6)
    flat = torch.cat([p.grad.reshape(-1) for _, p in named])
    assert host.total_norm == pytest.approx(
        float(torch.linalg.vector_norm(flat, norm_type)), rel=1e-5
    )
    # Identical to what torch's clip_grad_norm_ would return (same grouping and order).
    want = torch.nn.utils.get_total_norm([p.grad for _, p in named], norm_type)
    assert torch.equal(stats.total_norm, want)
    assert host.max_abs == float(flat.abs().max())
    assert host.nonfinite_count == 0
    # Per-layer norms: the norm of each module's gradients as one vector.
    for layer in ("rnn", "head", "proj"):
        mine = torch.cat([p.grad.reshape(-1) for n, p in named if n.startswith(layer + ".")])
        want_layer = float(torch.linalg.vector_norm(mine, norm_type))
        assert host.layer_norms[layer] == pytest.approx(want_layer, rel=1e-5)


def test_counts_nonfinite_tensors_not_entries():
    model = make_model()
    backward(model)
    params = dict(model.named_parameters())
    params["rnn.weight_ih_l0"].grad[0, 0] = math.nan
    params["rnn.weight_ih_l0"].grad[1, 1] = math.inf  # same tensor: still one
    params["head.bias"].grad[0] = -math.inf
    host, _ = grad_stats(model).host()
    assert host.nonfinite_count == 2
    assert math.isnan(host.total_norm)
    assert math.isnan(host.max_abs)
    assert not host.finite


def test_inf_only_gives_inf_norm_and_max():
    model = make_model()
    backward(model)
    dict(model.named_parameters())["proj.weight"].grad[0, 0] = -math.inf
    host, _ = grad_stats(model).host()
    assert host.nonfinite_count == 1
    assert host.total_norm == INF and host.max_abs == INF


def test_float32_overflow_is_not_counted_as_nonfinite():
    # 1e20² = 1e40 overflows float32 (max ≈ 3.4e38): the L2 norm is inf, yet every
    # entry is finite. max |g| tells the two apart.
    p = torch.nn.Parameter(torch.zeros(3))
    p.grad = torch.tensor([1e20, 1.0, -2.0])
    assert torch.isinf(torch.linalg.vector_norm(p.grad))
    stats = grad_stats([p])
    host, _ = stats.host()
    assert host.total_norm == INF
    assert host.nonfinite_count == 0 and int(stats.nonfinite_count) == 0
    assert host.max_abs == pytest.approx(1e20, rel=1e-6)


def test_unnamed_input_and_missing_grads():
    a = torch.nn.Parameter(torch.ones(2))
    b = torch.nn.Parameter(torch.ones(3))  # no grad: left out, like torch does
    a.grad = torch.tensor([3.0, 4.0])
    host, _ = grad_stats([a, b]).host()
    # ‖(3, 4)‖₂ = 5
    assert host.total_norm == 5.0 and host.param_norms == [5.0]
    assert host.names is None and host.layer_norms is None
    empty, _ = grad_stats([b]).host()
    assert empty.total_norm == 0.0 and empty.nonfinite_count == 0


def test_mixed_dtypes_keep_parameter_order():
    a = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
    b = torch.nn.Parameter(torch.ones(1))
    c = torch.nn.Parameter(torch.ones(1, dtype=torch.float64))
    a.grad = torch.tensor([3.0, 4.0], dtype=torch.float64)
    b.grad = torch.tensor([2.0])
    c.grad = torch.tensor([-7.0], dtype=torch.float64)
    host, _ = grad_stats([("a", a), ("b", b), ("c", c)], per_layer=False).host()
    assert host.param_norms == [5.0, 2.0, 7.0]
    assert host.max_abs == 7.0
    # √(25 + 4 + 49) = √78
    assert host.total_norm == pytest.approx(math.sqrt(78))


def test_one_host_sync_per_step():
    model = make_model()
    backward(model)
    loss = torch.tensor(0.25)
    with HostSyncs() as syncs:
        stats = grad_stats(model)
    assert syncs.calls == []  # nothing leaves the device while computing
    with HostSyncs() as syncs:
        record = step_record(
            3, stats, loss=loss, clip_coef=torch.tensor(0.5), threshold=1.0, layer_norms=True
        )
    assert syncs.calls == ["tolist"]
    assert isinstance(record, StepRecord)


def test_step_record_fields():
    model = make_model()
    backward(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.125)
    stats = grad_stats(model)
    host, _ = stats.host()
    coef = torch.tensor(0.5)
    rec = step_record(
        7,
        stats,
        loss=torch.tensor(2.0),
        clip_coef=coef,
        threshold=1.5,
        optimizer=opt,
        layer_norms=True,
        run="t/0",
    )
    assert rec.step == 7 and rec.loss == 2.0 and rec.lr == 0.125 and rec.run == "t/0"
    assert rec.grad_norm == host.total_norm
    assert rec.grad_norm_clipped == pytest.approx(host.total_norm * 0.5)
    assert rec.clipped and rec.kind == "clipped" and rec.action == "step"
    assert rec.layer_norms == host.layer_norms
    # Round trip through the shared JSON line format.
    again = StepRecord.from_dict(__import__("json").loads(rec.to_json()))
    assert again == rec


def test_step_record_nonfinite_classification():
    model = make_model()
    backward(model)
    next(model.parameters()).grad[0, 0] = math.nan
    rec = step_record(0, grad_stats(model), loss=math.inf, action="skip")
    assert rec.kind == "nonfinite" and not rec.grad_finite and not rec.loss_finite
    assert rec.nonfinite_count == 1 and rec.grad_norm_clipped is None
    ok = make_model()
    backward(ok)
    rec = step_record(1, grad_stats(ok), loss=1.0)
    assert rec.kind == "ok" and rec.clip_coef is None and rec.grad_norm_clipped == rec.grad_norm


@pytest.mark.parametrize("seed", range(6))
def test_nonfinite_count_matches_isfinite_on_mixed_sizes(seed):
    # Small tensors share one aminmax and big ones (≥ 2^16 entries) get their own:
    # both paths must count exactly what isfinite() counts.
    g = torch.Generator().manual_seed(seed)
    sizes = [3, 500, 70_000, 1, 65_536, 65_535, 2000, 0]
    params = [torch.nn.Parameter(torch.zeros(n)) for n in sizes]
    for p, n in zip(params, sizes, strict=True):
        p.grad = torch.randn(n, generator=g)
    rng = __import__("random").Random(seed)
    for i in rng.sample([i for i, n in enumerate(sizes) if n], 3):
        n = sizes[i]
        params[i].grad[rng.randrange(n)] = rng.choice([math.nan, math.inf, -math.inf])
    want = sum(1 for p in params if not torch.isfinite(p.grad).all())
    stats = grad_stats(params)
    host, _ = stats.host()
    assert host.nonfinite_count == want
    # The device-side values (for callers who stay on the device) agree with the host's.
    assert int(stats.nonfinite_count) == want
    device_max = float(stats.max_abs)
    assert (math.isnan(device_max) and math.isnan(host.max_abs)) or device_max == host.max_abs
    flat = torch.cat([p.grad for p in params])
    want_max = flat.abs().max()
    assert (math.isnan(host.max_abs) and torch.isnan(want_max)) or host.max_abs == float(want_max)


def test_big_tensor_overflow_is_not_counted():
    big = torch.nn.Parameter(torch.zeros(1 << 17))
    big.grad = torch.ones(1 << 17)
    big.grad[5] = -3e19  # (3e19)² overflows float32; the entry is finite
    small = torch.nn.Parameter(torch.zeros(4))
    small.grad = torch.tensor([1.0, -math.inf, 0.0, 2.0])
    host, _ = grad_stats([big, small]).host()
    assert host.nonfinite_count == 1 and host.max_abs == math.inf


def test_step_record_with_value_clipping_post_norm():
    from gradguard.torch import clip_grad_value_, get_total_norm

    model = make_model()
    backward(model)
    stats = grad_stats(model)
    c = 0.5 * float(max(p.grad.abs().max() for p in model.parameters()))
    clip_grad_value_(model.parameters(), c)
    post = get_total_norm([p.grad for p in model.parameters()])
    rec = step_record(0, stats, loss=1.0, grad_norm_clipped=post, threshold=c)
    assert rec.grad_norm_clipped == pytest.approx(float(post))
    assert rec.clipped and rec.kind == "clipped" and rec.grad_norm > rec.grad_norm_clipped


def test_guard_step_has_one_host_sync():
    from gradguard.rules import MedianMadRule
    from gradguard.torch import SpikeGuard, ZClip

    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    guard = SpikeGuard(
        model,
        opt,
        clipper=ZClip(warmup_steps=2),
        spike_rule=MedianMadRule(window=8, min_history=2),
        layer_norms_every=1,
    )
    for step in range(4):  # past the rules' warm-up, so every branch is live
        backward(model, seed=step)
        guard.step(torch.tensor(1.0))
    backward(model, seed=9)
    loss = torch.tensor(0.5)
    with HostSyncs() as syncs:
        record = guard.step(loss)
    assert record.action == "step" and record.threshold is not None
    assert syncs.calls == ["tolist"]


def test_step_record_rejects_a_non_scalar_loss():
    model = make_model()
    backward(model)
    with pytest.raises(ValueError, match=r"loss must be one number .*shape \(7,\)"):
        step_record(0, grad_stats(model), loss=torch.ones(7))


def test_default_guard_step_reads_no_max_abs_and_a_nonfinite_step_reads_it_once(monkeypatch):
    # With the defaults, max |g| (torch.aminmax: a second pass over the gradients) is read
    # only every layer_norms_every steps and on a step whose norm is not finite.
    from gradguard.torch import SpikeGuard

    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    guard = SpikeGuard(model, opt, clipper=1e-3)  # clipping acts
    backward(model, seed=0)
    guard.step(torch.tensor(1.0))  # step 0: with the layer norms, max |g| too
    passes = []
    original = torch.aminmax
    monkeypatch.setattr(torch, "aminmax", lambda *a, **k: passes.append(1) or original(*a, **k))
    backward(model, seed=1)
    loss = torch.tensor(1.0)
    with HostSyncs() as syncs:
        record = guard.step(loss)
    assert record.action == "step" and record.clipped and record.max_abs is None
    assert passes == [] and syncs.calls == ["tolist"]
    backward(model, seed=2)
    next(model.parameters()).grad.view(-1)[0] = math.nan
    with HostSyncs() as syncs:
        record = guard.step(loss)
    assert record.action == "skip" and record.kind == "nonfinite" and math.isnan(record.max_abs)
    assert passes and syncs.calls == ["tolist", "tolist"]  # the norm, then max |g|


@pytest.mark.parametrize("clipper", ["norm", "value"])
def test_a_clipper_on_its_own_syncs_once(clipper):
    from gradguard.torch import NormClipper, ValueClipper

    model = make_model()
    backward(model)
    clip = NormClipper(1e-3) if clipper == "norm" else ValueClipper(1e9)  # value: idle
    with HostSyncs() as syncs:
        result = clip.clip_(model)
    assert syncs.calls == ["tolist"]
    assert result.clipped == (clipper == "norm")
