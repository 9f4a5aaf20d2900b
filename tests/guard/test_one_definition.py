"""One definition per concept: every caller of the clip coefficient and of the step-record
constructor goes through the same function, and their results agree."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import gradguard.records as records
import gradguard.torch._record as record_mod
import gradguard.torch._step as step_mod
from gradguard.lab import clip_coefficient
from gradguard.records import RecordWriter, read_log
from gradguard.torch import (
    Monitor,
    NormClipper,
    SpikeGuard,
    clip_coef,
    clip_grads_with_norm_,
    grad_stats,
)
from gradguard.torch._clip import EPS
from gradguard.torch.stats import step_record

norms = st.floats(0.0, 1e12, allow_nan=False, allow_infinity=False)
thresholds = st.floats(1e-6, 1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(n=norms, c=thresholds)
def test_every_caller_of_the_clip_coefficient_agrees(n, c):
    # The lab's exact rule 1 / max(1, ‖g‖/c), evaluated in rationals at ‖g‖ + 1e-6 (the
    # float 1e-6, exactly): the reference every other path rounds.
    exact = clip_coefficient(Fraction(n) + Fraction(EPS), Fraction(c))
    host = clip_coef(n, c)
    assert host == pytest.approx(float(exact), rel=1e-15, abs=0)
    # The tensor path gives the host path's float64 value, bit for bit; and a float32
    # norm gives the same number on the host (numpy) as on a float32 tensor.
    assert float(clip_coef(torch.tensor(n, dtype=torch.float64), c)) == host
    # A device-side target (a 0-d tensor c, as the sync-free guard has) rounds the same.
    c64 = torch.tensor(c, dtype=torch.float64)
    assert float(clip_coef(torch.tensor(n, dtype=torch.float64), c64)) == host
    n32 = np.float32(n)
    assert float(clip_coef(torch.tensor(n32), c)) == float(clip_coef(n32, c))
    # NormClipper on a real gradient of norm n uses the same coefficient.
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    p.grad = torch.tensor([n], dtype=torch.float64)
    result = NormClipper(c).clip_([p])
    if result.total_norm > c:
        assert result.clip_coef == clip_coef(result.total_norm, c) and result.clipped
        # ... and scales the gradient exactly as torch's clip_grad_norm_ does.
        q = torch.zeros(1, dtype=torch.float64, requires_grad=True)
        q.grad = torch.tensor([n], dtype=torch.float64)
        torch.nn.utils.clip_grad_norm_([q], c)
        assert torch.equal(p.grad, q.grad)
    else:
        # At or below c the seed's rule leaves g alone (torch would still multiply by
        # c / (‖g‖ + 1e-6), a hair below 1, within 1e-6 of c).
        assert result.clip_coef == 1.0 and not result.clipped
        assert p.grad.item() == n


@pytest.mark.parametrize(
    ("norm", "skip", "zero", "propagate"),
    [(math.inf, 1.0, 0.0, 0.0), (math.nan, 1.0, 0.0, math.nan)],
)
def test_nonfinite_modes_agree_on_host_and_tensor(norm, skip, zero, propagate):
    for mode, want in (("skip", skip), ("zero", zero), ("propagate", propagate)):
        for got in (clip_coef(norm, 1.0, mode), float(clip_coef(torch.tensor(norm), 1.0, mode))):
            assert (math.isnan(got) and math.isnan(want)) or got == want, (mode, got)


def test_clip_grads_with_norm_returns_clip_coef():
    p = torch.zeros(3, requires_grad=True)
    p.grad = torch.tensor([3.0, 4.0, 0.0])
    total = torch.linalg.vector_norm(p.grad)
    coef = clip_grads_with_norm_([p], 1.0, total)
    assert torch.equal(coef, clip_coef(total, 1.0))


def test_per_unit_and_per_tensor_clippers_take_the_one_coefficient(monkeypatch):
    # AGC (per unit) and AdaGC (per tensor) scale by clip_coef's formula taken
    # elementwise, not by a coefficient of their own: every scale they apply is a value
    # the one function returned (or exactly 1, for a part at or below its threshold).
    import gradguard.torch._adagc as adagc_mod
    import gradguard.torch._clippers as clippers_mod
    from gradguard.torch import AGC, AdaGC
    from gradguard.torch._clip import coefficient

    returned: list[torch.Tensor] = []

    def spy(*args, **kwargs):
        out = coefficient(*args, **kwargs)
        returned.append(out.clone())
        return out

    monkeypatch.setattr(clippers_mod, "coefficient", spy)
    monkeypatch.setattr(adagc_mod, "coefficient", spy)
    w = torch.nn.Parameter(torch.ones(3, 4))  # ‖W_i‖ = 2: λ‖W_i‖ = 0.2 with λ = 0.1
    w.grad = torch.tensor([[10.0, 0, 0, 0], [0, 0.05, 0, 0], [0, 3.0, 4.0, 0]])
    before = w.grad.clone()
    AGC(clipping=0.1).clip_([w])
    unit = torch.linalg.vector_norm(before, dim=1)
    assert len(returned) == 1
    # Each clipped unit's scale is the one coefficient, with nothing added to ‖G_i‖.
    want = coefficient(unit, torch.full((3,), 0.2), eps=0.0)
    assert torch.equal(returned[0].flatten(), want)  # unit norms keep their dims
    scale = torch.where(unit > 0.2, want, 1.0)
    assert torch.equal(w.grad, before * scale[:, None])
    returned.clear()
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    clip = AdaGC(max_norm=1.0, ratio=2.0, warmup_steps=1, eps=1e-6)
    for g1, g2 in ((0.3, 0.4), (5.0, 0.1)):  # a warm-up step, then per tensor
        a.grad, b.grad = torch.tensor([g1, 0.0]), torch.tensor([g2, 0.0])
        clip.clip_([a, b])
    # the warm-up's global coefficient, then (step 2) the global and per-tensor ones
    assert len(returned) == 4 and returned[3].shape == (2,)
    # (float32: the gradient times the coefficient, rounded once; b is below 2γ: untouched)
    assert torch.equal(a.grad[0], torch.tensor(5.0) * returned[3][0])
    assert torch.equal(b.grad[0], torch.tensor(0.1)) and float(returned[3][1]) == 1.0


class _Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)
        self.head = torch.nn.Linear(3, 1)

    def forward(self, x):
        return self.head(torch.tanh(self.fc(x))).squeeze(-1)


def _train(make, steps, fault_at=()):
    torch.manual_seed(0)
    model = _Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    tool = make(model, opt)
    out = []
    for step in range(steps):
        opt.zero_grad(set_to_none=True)
        g = torch.Generator().manual_seed(step)
        x = torch.randn(8, 4, generator=g)
        loss = torch.nn.functional.mse_loss(model(x), x.sum(1))
        loss.backward()
        if step in fault_at:
            model.fc.weight.grad[0, 0] = math.nan
        out.append(tool.step(loss))
    tool.close()
    return out


def test_guard_monitor_and_step_record_use_the_one_constructor(tmp_path, monkeypatch):
    made = []

    def counting(*args, **kwargs):
        record = records.make_record(*args, **kwargs)
        made.append(record)
        return record

    monkeypatch.setattr(step_mod, "make_record", counting)
    monkeypatch.setattr(record_mod, "make_record", counting)

    guard_log, monitor_log, manual_log = (tmp_path / f"{n}.jsonl" for n in "gmr")
    guarded = _train(
        lambda m, o: SpikeGuard(m, o, clipper=0.5, log=guard_log, rollback_after=2),
        8,
        fault_at=(3, 4),
    )
    monitored = _train(lambda m, o: Monitor(m, o, clipper=0.5, log=monitor_log), 5, (2,))

    torch.manual_seed(0)
    model = _Net()
    manual = []
    with RecordWriter(manual_log) as log:
        for step in range(3):
            model.zero_grad(set_to_none=True)
            loss = model(torch.randn(8, 4)).pow(2).mean()
            loss.backward()
            stats = grad_stats(model)
            coef = clip_grads_with_norm_(model, 0.5, stats.total_norm, nonfinite="skip")
            manual.append(step_record(step, stats, loss=loss, clip_coef=coef, threshold=0.5))
            log.write(manual[-1])

    every = guarded + monitored + manual
    assert len(made) == len(every) and all(any(r is m for m in made) for r in every)
    # The run covered the interesting kinds and actions.
    assert {r.action for r in guarded} >= {"step", "skip", "rollback"}
    assert {r.kind for r in guarded + monitored} >= {"clipped", "nonfinite"}
    # Each log reads back, through the one reader, to the records the loop was given.
    for path, recs in ((guard_log, guarded), (monitor_log, monitored), (manual_log, manual)):
        back = read_log(path).steps
        assert [r.to_json() for r in back] == [r.to_json() for r in recs]


def test_make_record_derives_the_fields_the_same_way_for_every_caller():
    # Not taken: no post-clip norm. Taken with a coefficient: norm × coef, clipped.
    skip = records.make_record(0, grad_norm=4.0, max_abs=1.0, nonfinite_count=2, action="skip")
    assert skip.grad_norm_clipped is None and not skip.grad_finite and skip.kind == "nonfinite"
    step = records.make_record(1, grad_norm=4.0, max_abs=1.0, nonfinite_count=0, clip_coef=0.25)
    assert step.grad_norm_clipped == 1.0 and step.clipped and step.kind == "clipped"
    plain = records.make_record(2, grad_norm=4.0, max_abs=1.0, nonfinite_count=0, loss=math.nan)
    assert plain.grad_norm_clipped == 4.0 and not plain.loss_finite and plain.kind == "nonfinite"
    measured = records.make_record(
        3, grad_norm=4.0, max_abs=1.0, nonfinite_count=0, clip_coef=0.75, grad_norm_clipped=3.0
    )
    assert measured.clipped and measured.grad_norm_clipped == 3.0
    # The derived fields cannot contradict the numbers they come from.
    with pytest.raises(TypeError):
        records.StepRecord(step=4, clip_coef=1.0, clipped=True)  # type: ignore[call-arg]
