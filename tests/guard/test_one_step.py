"""The guard's step is one function: both modes give the same records and the same weights.

One trace — NaN, inf, a 10⁶× gradient spike, a loss spike, three bad steps in a row (a
rollback), gradients 3× larger than usual (for the adaptive clippers), and a float32
overflow of finite entries — through ``sync=True`` and ``sync=False``, for every clipper
and spike rule both modes accept (the registry's ``sync_free`` ones). The records agree
field by field and the parameters and optimizer state end bitwise equal, except the two
differences docs/guard/scale.md states for ``sync=False``: it reads no max |g| on a step
whose norm is not finite (the default mode reads it to tell NaN/inf from an overflow),
and it skips a float32 overflow with finite entries as non-finite (the default mode
measures that norm again in float64 and judges it).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math

import pytest
import torch  # the [dev] extra installs torch: these tests always run

import gradguard.torch._run as run_mod
from gradguard.records import StepRecord
from gradguard.rules import RULES, MeanStdRule, MedianMadRule
from gradguard.torch import AdaGC, AutoClip, NormClipper, SpikeGuard, UpdateClipper, ZClip
from gradguard.torch._step import FIELDS

from .conftest import HostSyncs, Net

FAULTS = {20: "nan", 25: "inf", 30: "spike", 35: "loss", 40: "nan", 41: "inf", 42: "nan"}
FAULTS.update({s: "bump" for s in (10, 15, 27, 45, 50)})
STEPS = 56
OVERFLOW = STEPS - 1  # the last step: what the two modes judge differently comes last
FAULTS[OVERFLOW] = "overflow"
LAYERS = 7  # layer norms (and max |g|) every 7 steps, in both modes

CLIPPERS = {
    "NormClipper": lambda: NormClipper(1.0),
    "AutoClip": lambda: AutoClip(50, 20),
    "ZClip": lambda: ZClip(z_thresh=1.0, warmup_steps=5),
    "AdaGC": lambda: AdaGC(warmup_steps=5),
    "UpdateClipper": lambda: UpdateClipper(max_rms=1.0),
}
SPIKE_RULES = {
    "spike-mad": lambda: MedianMadRule(window=32, min_history=8),
    "spike-std": lambda: MeanStdRule(window=32, min_history=8),
}


def test_the_trace_covers_every_rule_both_modes_accept():
    both = {r.clipper for r in RULES.values() if r.clipper and r.sync_free}
    assert both == set(CLIPPERS)
    spike = {n for n, r in RULES.items() if r.action == "skip" and r.device is not None}
    assert spike == set(SPIKE_RULES)


def _step(model, opt, step, fault, scaler=None):
    opt.zero_grad(set_to_none=True)
    g = torch.Generator().manual_seed(1000 + step)
    x = torch.rand(16, 10, 1, generator=g)
    loss = torch.nn.functional.mse_loss(model(x), x.mean(dim=(1, 2)))
    (loss if scaler is None else scaler.scale(loss)).backward()
    if fault == "nan":
        model.rnn.weight_hh_l0.grad[0, 0] = math.nan
    elif fault == "inf":
        model.head.weight.grad[0, 0] = math.inf
    elif fault in ("spike", "bump"):
        for p in model.parameters():
            p.grad.mul_(1e6 if fault == "spike" else 3.0)
    elif fault == "overflow":
        model.head.weight.grad.fill_(1e30)  # finite entries; ‖g‖² overflows float32
    return loss.detach() * (1e4 if fault == "loss" else 1.0)


def _run(sync, clipper, spike_rule):
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, fused=True)
    guard = SpikeGuard(
        model,
        opt,
        clipper=clipper,
        spike_rule=spike_rule,
        loss_rule=MedianMadRule(window=32, min_history=8),
        rollback_after=3,
        snapshot_every=5,
        layer_norms_every=LAYERS,
        sync=sync,
    )
    records = []
    guard.hooks.append(records.append)
    for step in range(STEPS):
        guard.step(_step(model, opt, step, FAULTS.get(step)), batch=step)
    guard.close()
    return records, model, opt


@pytest.mark.parametrize("spike", sorted(SPIKE_RULES))
@pytest.mark.parametrize("clipper", sorted(CLIPPERS))
def test_both_modes_give_the_same_records_and_weights(clipper, spike, monkeypatch):
    calls = []
    one_step = run_mod.judge_step

    def counted(ops, *args, **kwargs):
        calls.append(ops.device)
        return one_step(ops, *args, **kwargs)

    monkeypatch.setattr(run_mod, "judge_step", counted)
    host, host_model, host_opt = _run(True, CLIPPERS[clipper](), SPIKE_RULES[spike]())
    device, device_model, device_opt = _run(False, CLIPPERS[clipper](), SPIKE_RULES[spike]())
    # One step function judged every step of both runs.
    assert calls == [False] * STEPS + [True] * STEPS
    assert len(host) == len(device) == STEPS
    by = {r.step: r for r in host}
    # The trace met what it meant to: skips, a loss spike, a rollback, clipping.
    assert by[20].kind == by[25].kind == "nonfinite" and by[30].kind == "spike"
    assert by[35].flagged_by == "loss:spike-mad" and by[42].action == "rollback"
    assert any(r.kind == "clipped" for r in host) or clipper == "ZClip"
    for a, b in zip(host, device, strict=True):
        x, y = json.loads(a.to_json()), json.loads(b.to_json())
        for line in (x, y):
            line.pop("time")
        if (not math.isfinite(a.grad_norm) or a.step == OVERFLOW) and a.step % LAYERS:
            # The default mode read max |g| again to tell NaN/inf from an overflow
            # (both read it with the layer norms).
            assert a.max_abs is not None and b.max_abs is None, a.step
            x.pop("max_abs")
        if a.step == OVERFLOW:
            # Finite entries: the default mode measured the norm in float64 and the spike
            # rule flagged it; sync=False skipped it as non-finite. Both withheld it.
            assert (a.kind, a.flagged_by, a.grad_finite) == ("spike", spike, True)
            assert a.grad_norm == pytest.approx(4e30, rel=1e-3)
            assert (b.kind, b.flagged_by, b.grad_norm) == ("nonfinite", "nonfinite", math.inf)
            assert a.action == b.action == "skip"
            continue
        assert x == y, a.step
    # Same decisions, same arithmetic: the weights and the optimizer state, bitwise.
    for p, q in zip(host_model.parameters(), device_model.parameters(), strict=True):
        assert torch.equal(p, q)
        for key, value in host_opt.state[p].items():
            assert torch.equal(value, device_opt.state[q][key]), key


def test_the_step_fields_are_read_off_the_records_schema(monkeypatch):
    # The device vector's layout is StepRecord's schema: every field not marked as the
    # step's context, then the guard's bookkeeping; both modes fill exactly those.
    context = {"step", "lr", "layer_norms", "run", "time", "extra"}
    judged = [f.name for f in dataclasses.fields(StepRecord) if f.name not in context]
    assert (*judged, "outcome", "consecutive_bad") == FIELDS
    seen = []
    settle = run_mod.settle

    def spy(g, step, fields, meta):
        seen.append(tuple(fields))
        return settle(g, step, fields, meta)

    monkeypatch.setattr(run_mod, "settle", spy)
    for sync in (True, False):
        torch.manual_seed(0)
        model = Net()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2, fused=True)
        guard = SpikeGuard(model, opt, clipper=1.0, sync=sync)
        guard.step(_step(model, opt, 0, None))
        guard.close()
    assert [set(f) for f in seen] == [set(FIELDS)] * 2


@pytest.mark.parametrize("amp", [False, True], ids=["plain", "gradscaler"])
def test_a_sync_free_step_and_its_snapshots_read_nothing_on_the_host(amp):
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, fused=True)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8) if amp else None
    guard = SpikeGuard(
        model,
        opt,
        clipper=ZClip(z_thresh=1.0, warmup_steps=3),
        scaler=scaler,
        loss_rule=MedianMadRule(window=16, min_history=4),
        spike_rule=MedianMadRule(window=16, min_history=4),
        rollback_after=3,
        snapshot_every=4,
        sync=False,
    )
    records = []
    guard.hooks.append(records.append)
    for step in range(3):  # the optimizer's and the rules' state allocated
        guard.step(_step(model, opt, step, None, scaler))
    ops = HostSyncs()
    # (With a grad scaler NaN/inf gradients are its own found-inf: AMP skips, not faults.)
    faults = {12: "spike", 24: "spike", 25: "spike", 26: "spike", 30: "loss"}
    if not amp:
        faults.update({12: "nan", 24: "nan", 26: "inf"})
    with ops:  # also the reads made inside torch, which no Python patch sees
        for step in range(3, 40):
            guard.step(_step(model, opt, step, faults.get(step), scaler))
    assert ops.calls == []
    # ... though the run took snapshots, rolled back and skipped.
    actions = [r.action for r in records]
    assert actions.count("rollback") == 1 and actions.count("skip") >= 2
    assert guard.snapshot.step is not None and guard.snapshot.step > 3


def test_a_resumed_sync_free_snapshot_restores_the_device_rules(tmp_path):
    # A snapshot under sync=False keeps the rules' tensors; a checkpoint with the snapshot
    # carries them, and a rollback after resuming restores them bitwise.
    def run(stop=None, checkpoint=None):
        torch.manual_seed(0)
        model = Net()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2, fused=True)
        guard = SpikeGuard(
            model,
            opt,
            clipper=ZClip(warmup_steps=3),
            rollback_after=3,
            snapshot_every=4,
            sync=False,
        )
        start = 0
        if checkpoint is not None:
            model.load_state_dict(checkpoint["model"])
            opt.load_state_dict(checkpoint["opt"])
            guard.load_state_dict(checkpoint["guard"])
            start = checkpoint["step"]
        records = []
        guard.hooks.append(records.append)
        for step in range(start, 30 if stop is None else stop):
            guard.step(_step(model, opt, step, {20: "nan", 21: "nan", 22: "nan"}.get(step)))
        if stop is not None:
            return {
                "model": copy.deepcopy(model.state_dict()),
                "opt": copy.deepcopy(opt.state_dict()),
                "guard": copy.deepcopy(guard.state_dict(snapshot=True)),
                "step": stop,
            }
        guard.close()
        return records, [p.detach().clone() for p in model.parameters()]

    full, weights = run()
    resumed, resumed_weights = run(checkpoint=run(stop=18))
    assert [r.action for r in full][18:] == [r.action for r in resumed]
    assert "rollback" in [r.action for r in resumed]
    for a, b in zip(full[18:], resumed, strict=True):
        x, y = json.loads(a.to_json()), json.loads(b.to_json())
        x.pop("time"), y.pop("time")
        assert x == y, a.step
    for a, b in zip(weights, resumed_weights, strict=True):
        assert torch.equal(a, b)
