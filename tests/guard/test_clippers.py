"""Adaptive clippers: one interface, references, NaN safety, AGC aliasing, checkpoints."""

from __future__ import annotations

import json
import math

import pytest
import torch  # the [dev] extra installs torch: these tests always run

from gradguard.errors import InputError
from gradguard.rules import AGCRule, EmaZScoreRule, PercentileRule
from gradguard.torch import AGC, AutoClip, NormClipper, ValueClipper, ZClip, grad_stats

from .conftest import backward, make_model


def _norm(model):
    return float(grad_stats(model, per_layer=False).total_norm)


def test_norm_clipper_matches_torch():
    a, b = make_model(), make_model()
    backward(a)
    backward(b)
    c = _norm(a) / 3
    res = NormClipper(c).clip_(a)
    ref = torch.nn.utils.clip_grad_norm_(b.parameters(), c)
    assert res.total_norm == pytest.approx(float(ref))
    assert res.clipped and res.threshold == c
    assert res.total_norm_clipped == pytest.approx(c, rel=1e-5)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad)


def _scaled_steps(clipper, scales, seed=0):
    """Run ``clipper`` on gradients of one model scaled by ``scales`` (a norm trace)."""
    model = make_model(seed)
    results = []
    for i, s in enumerate(scales):
        backward(model, seed=i % 3, scale=s)
        results.append(clipper.clip_(model))
    return results


def test_zclip_follows_the_rule_and_clips_a_spike():
    scales = [100.0 + (i % 5) for i in range(40)]
    scales[35] = 5000.0
    # Without its cap ZClip is the rule alone (the capped default: test_zclip_paper.py).
    results = _scaled_steps(ZClip(max_grad_norm=None), scales)
    rule = EmaZScoreRule()
    for r in results:
        v = rule.observe(r.total_norm)
        assert r.threshold == v.threshold
        assert r.clipped == (v.clip_to is not None)
        if r.clipped:
            assert r.total_norm_clipped == pytest.approx(v.clip_to, rel=1e-5)
    assert results[35].clipped
    assert not any(r.clipped for r in results[:25])  # uncapped warm-up: never clips


def test_autoclip_global_and_per_parameter():
    scales = [50.0 * (1 + (i % 4)) for i in range(20)]
    results = _scaled_steps(AutoClip(percentile=50, history_size=8), scales)
    rule = PercentileRule(50, 8)
    for r in results:
        v = rule.observe(r.total_norm)
        assert r.threshold == v.threshold and r.clipped == v.flagged
    assert any(r.clipped for r in results)
    per = _scaled_steps(AutoClip(percentile=50, history_size=8, per_parameter=True), scales)
    assert any(r.clipped for r in per)
    assert all(r.total_norm_clipped <= r.total_norm * (1 + 1e-6) for r in per)


def test_clippers_leave_nonfinite_gradients_alone_and_stay_finite():
    for clipper in (NormClipper(0.1), ZClip(warmup_steps=3), AutoClip(), AGC(0.01)):
        model = make_model()
        for step in range(6):
            backward(model, seed=step)
            if step == 4:
                next(model.parameters()).grad[0, 0] = math.nan
            before = [p.grad.clone() for p in model.parameters()]
            r = clipper.clip_(model)
            if step == 4 and not isinstance(clipper, AGC):
                assert not r.clipped and r.clip_coef == 1.0
                for p, b in zip(model.parameters(), before, strict=True):
                    assert torch.equal(p.grad.isnan(), b.isnan())
                    assert torch.equal(p.grad.nan_to_num(), b.nan_to_num())
            if step == 4:
                # NaN stays in the one entry it was in; nothing else turns NaN.
                total_nan = sum(int(p.grad.isnan().sum()) for p in model.parameters())
                assert total_nan == 1, clipper.name
        state = json.dumps(clipper.state_dict())
        assert "NaN" not in state and "Infinity" not in state, clipper.name


def _agc_reference(w, g, lam, eps):
    """Unit-wise AGC written out row by row in float64 (the paper's formula)."""
    w64, g64 = w.double(), g.double()
    out = g64.clone()
    rows = [(i,) for i in range(w.shape[0])] if w.ndim > 1 else [()]
    for idx in rows:
        wn = max(float(w64[idx].norm()), eps)
        gn = float(g64[idx].norm())
        if gn / wn > lam:
            out[idx] = g64[idx] * (lam * wn / gn)
    return out


def test_agc_matches_unitwise_reference():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(2, 3, 3)  # weight (out=3, in=2, 3, 3): units are out rows
    lin = torch.nn.Linear(12, 5)
    model = torch.nn.Sequential(conv, torch.nn.Flatten(), lin)
    with torch.no_grad():
        lin.weight[0].zero_()  # ‖W_0‖ = 0: the ε floor applies
    out = model(torch.randn(2, 2, 4, 4))
    (out.square().sum() * 10).backward()
    expected = {
        n: _agc_reference(p.detach(), p.grad, 0.05, 1e-3) for n, p in model.named_parameters()
    }
    result = AGC(0.05).clip_(model)
    assert result.clipped
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad.double(), expected[n], rtol=1e-5, atol=1e-9)


def test_regression_agc_does_not_rescale_units_below_threshold():
    # The defect (agc-optims): aliasing in-place ops set every unit's gradient norm to
    # exactly λ‖W_i‖. Units below the ratio must be left bitwise unchanged.
    w = torch.nn.Parameter(torch.ones(3, 4))  # ‖W_i‖ = 2 for every row
    w.grad = torch.tensor(
        [
            [0.001, 0.0, 0.0, 0.0],  # ratio 0.0005 < λ: untouched
            [10.0, 0.0, 0.0, 0.0],  # ratio 5 > λ: scaled to norm λ·2 = 0.2
            [0.0, 0.05, 0.0, 0.0],  # ratio 0.025 < λ: untouched
        ]
    )
    before = w.grad.clone()
    result = AGC(clipping=0.1).clip_([w])
    assert torch.equal(w.grad[0], before[0]) and torch.equal(w.grad[2], before[2])
    torch.testing.assert_close(w.grad[1], torch.tensor([0.2, 0.0, 0.0, 0.0]))
    assert result.clipped


def test_agc_leaves_nonfinite_units_alone_without_spreading_nan():
    # A unit with an inf entry has ‖G_i‖ = inf > λ‖W_i‖; scaling it by λ‖W_i‖ / inf = 0
    # would turn the inf into NaN (0 · inf). It is left alone, like a NaN unit, and the
    # finite units are still clipped.
    w = torch.nn.Parameter(torch.ones(3, 4))  # ‖W_i‖ = 2: λ‖W_i‖ = 0.2
    w.grad = torch.tensor(
        [
            [1.0, math.inf, 0.0, 0.0],
            [math.nan, 1.0, 0.0, 0.0],
            [10.0, 0.0, 0.0, 0.0],  # finite, above λ: scaled to norm 0.2
        ]
    )
    before = w.grad.clone()
    AGC(clipping=0.1).clip_([w])
    assert torch.equal(w.grad[0], before[0])
    assert torch.equal(w.grad[1].isnan(), before[1].isnan())
    assert torch.equal(w.grad[1].nan_to_num(), before[1].nan_to_num())
    torch.testing.assert_close(w.grad[2], torch.tensor([0.2, 0.0, 0.0, 0.0]))


def test_agc_exclude_accepts_one_name():
    model = make_model()
    backward(model, scale=1e4)
    head_before = model["head"].weight.grad.clone()
    agc = AGC(0.001, exclude="head")  # one string is one name, not "h", "e", "a", "d"
    assert agc.exclude == ("head",)
    agc.clip_(model)
    assert torch.equal(model["head"].weight.grad, head_before)


def test_agc_excludes_named_layers():
    model = make_model()
    backward(model, scale=1e4)
    head_before = model["head"].weight.grad.clone()
    AGC(0.001, exclude=["head"]).clip_(model)
    assert torch.equal(model["head"].weight.grad, head_before)
    assert not torch.equal(model["proj"].weight.grad, head_before[:2, :2])
    with pytest.raises(ValueError, match="parameters must be a module or named_parameters"):
        AGC(0.01, exclude=["head"]).clip_(list(model.parameters()))


@pytest.mark.parametrize(
    "make",
    [
        lambda: ZClip(warmup_steps=5),
        lambda: AutoClip(percentile=30, history_size=6),
        lambda: AutoClip(percentile=30, history_size=6, per_parameter=True),
        lambda: NormClipper(1.0),
        lambda: AGC(0.02),
    ],
)
def test_state_dict_resumes_identically(make):
    scales = [100.0 * (1 + (i % 3)) for i in range(16)]
    scales[12] = 1e4
    first = make()
    _scaled_steps(first, scales[:10])
    second = make()
    second.load_state_dict(json.loads(json.dumps(first.state_dict())))
    a = _scaled_steps(first, scales[10:], seed=1)
    b = _scaled_steps(second, scales[10:], seed=1)
    assert a == b


def test_agc_keeps_its_parameters_in_its_rule_only():
    # AGC's λ, ε and exclusions are its AGCRule's (declared, checked and saved once there);
    # a state saved with the fields flat, before AGC held its rule, still loads.
    clipper = AGC(0.02, eps=1e-2, exclude="head")
    assert isinstance(clipper.rule, AGCRule)
    assert (clipper.clipping, clipper.eps, clipper.exclude) == (0.02, 1e-2, ("head",))
    assert clipper.state_dict() == {"rule": clipper.rule.state_dict()}
    clipper.load_state_dict({"clipping": 0.5, "eps": 0.25, "exclude": ["fc"]})
    assert (clipper.rule.clipping, clipper.rule.eps, clipper.rule.exclude) == (0.5, 0.25, ("fc",))
    assert (clipper.clipping, clipper.eps, clipper.exclude) == (0.5, 0.25, ("fc",))


def test_value_clipper_matches_torch_and_reports():
    from gradguard.torch import ValueClipper

    a, b = make_model(), make_model()
    backward(a)
    backward(b)
    c = 0.5 * float(max(p.grad.abs().max() for p in b.parameters()))
    result = ValueClipper(c).clip_(a)
    torch.nn.utils.clip_grad_value_(b.parameters(), c)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p.grad, q.grad)
    assert result.clipped and result.threshold == c
    assert result.total_norm_clipped == pytest.approx(_norm(b), rel=1e-6)
    assert result.total_norm_clipped < result.total_norm
    # Below the bound nothing is touched and nothing is reported as clipped.
    again = ValueClipper(10 * c).clip_(a)
    assert not again.clipped and again.clip_coef == 1.0


@pytest.mark.parametrize(
    ("norm", "c"), [(100.0, 5.0), (3.0, 5.0), (5.0, 5.0), (1e-9, 1e-3), (7.0, math.inf)]
)
def test_clipper_coefficient_is_the_seeds_rule_with_torchs_epsilon(norm, c):
    from gradguard.torch import clip_coef

    # The lab's 1 / max(1, ‖g‖/c) at ‖g‖ + 1e-6 equals torch's min(1, c / (‖g‖ + 1e-6));
    # the seed's example: ‖g‖ = 100, c = 5 → 5 / 100.000001 ≈ 0.05.
    want = min(1.0, c / (norm + 1e-6))
    assert clip_coef(norm, c) == pytest.approx(want, rel=1e-15)


@pytest.mark.parametrize("c", [0, 0.0, -1.0, math.nan, True, "1.0"])
def test_clip_coef_takes_a_threshold_as_every_clipper_does(c):
    from gradguard.torch import clip_coef
    from gradguard.torch._clip import coefficient

    # A user's max_norm is a threshold (> 0; inf clips nothing), as for clip_grad_norm_;
    # 0 would zero every gradient.
    with pytest.raises(InputError) as e:
        clip_coef(7.0, c)
    assert e.value.rule_id == "threshold_or_inf" and e.value.argument == "max_norm"
    with pytest.raises(InputError, match=r"^max_norm must be a number > 0"):
        clip_coef(torch.tensor(7.0), c)
    # A threshold a rule learned (AutoClip over an all-zero history) may be 0: clip to 0.
    assert coefficient(7.0, 0.0) == 0.0


def test_float32_overflowing_norm_is_clipped_not_left_alone():
    # Entries of 1e30 are finite, but the float32 L2 norm overflows to inf: the clipper
    # recomputes it in float64 and clips to c (it used to leave such a step unclipped).
    w = torch.nn.Parameter(torch.zeros(2, 2))
    w.grad = torch.tensor([[1e30, 0.0], [0.0, 1e30]])
    assert torch.linalg.vector_norm(w.grad) == math.inf
    result = NormClipper(1.0).clip_([w])
    assert result.clipped and result.total_norm == pytest.approx(math.sqrt(2) * 1e30)
    assert torch.isfinite(w.grad).all()
    torch.testing.assert_close(torch.linalg.vector_norm(w.grad), torch.tensor(1.0))


def test_clipper_arguments_are_checked_when_built():
    from gradguard.torch import ValueClipper

    with pytest.raises(ValueError, match=r"norm_type must be a number ≥ 1 or inf, got 0.5"):
        NormClipper(1.0, norm_type=0.5)
    with pytest.raises(ValueError, match="norm_type must be a number ≥ 1 or inf"):
        ZClip(norm_type=0)
    with pytest.raises(ValueError, match="norm_type must be a number ≥ 1 or inf"):
        AutoClip(norm_type="fro")
    with pytest.raises(ValueError, match=r"clip_value must be a number > 0 .*, got nan"):
        ValueClipper(math.nan)


@pytest.mark.parametrize(
    "make",
    [
        lambda: NormClipper(0.1),
        lambda: AutoClip(10, per_parameter=True),
        lambda: AGC(0.001),
        lambda: ValueClipper(0.01),
    ],
)
def test_clippers_accept_a_parameters_generator(make):
    # model.parameters() is a generator: read once for the statistics, it used to leave
    # nothing to scale (an error, or a result claiming a clip that never happened).
    a, b = make_model(), make_model()
    backward(a)
    backward(b)
    on_generator = make().clip_(a.parameters())
    on_module = make().clip_(b)
    assert on_generator == on_module
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p.grad, q.grad)
