"""SpikeGuard and Monitor: bitwise skip, rollback, policies, AMP order, logs, fault injection."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch  # the [dev] extra installs torch: these tests always run

from gradguard.errors import InputError
from gradguard.records import read_log
from gradguard.rules import MedianMadRule
from gradguard.torch import GuardError, Monitor, NormClipper, SpikeGuard, ValueClipper, ZClip

from .conftest import Net


def _batch(step: int, n: int = 16):
    g = torch.Generator().manual_seed(1000 + step)
    x = torch.rand(n, 10, 1, generator=g)
    return x, x.mean(dim=(1, 2))


def _setup(seed: int = 0, lr: float = 1e-2):
    torch.manual_seed(seed)
    model = Net()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.9)
    return model, opt, sched


def _forward_backward(model, opt, step, fault=None):
    opt.zero_grad(set_to_none=True)
    x, y = _batch(step)
    if fault == "loss":  # a corrupted batch: the loss (and its gradient) spike
        y = y * 50
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    if fault == "nan":
        model.rnn.weight_hh_l0.grad[0, 0] = math.nan
    elif fault == "inf":
        model.head.weight.grad[0, 0] = math.inf
    elif fault == "spike":
        for p in model.parameters():
            p.grad.mul_(1e4)
    return loss


def _state(model, opt, sched=None):
    """A bitwise-comparable copy of the training state."""
    out = {f"model.{k}": v.detach().clone() for k, v in model.state_dict().items()}
    for i, (pid, st) in enumerate(opt.state_dict()["state"].items()):
        for k, v in st.items():
            out[f"opt.{i}.{pid}.{k}"] = v.clone() if torch.is_tensor(v) else torch.tensor(v)
    if sched is not None:
        out["sched.last_epoch"] = torch.tensor(sched.last_epoch)
        out["lr"] = torch.tensor(opt.param_groups[0]["lr"])
    return out


def _assert_bitwise_equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("fault", ["nan", "inf", "spike"])
def test_skip_leaves_state_bitwise_unchanged(fault):
    model, opt, sched = _setup()
    guard = SpikeGuard(
        model, opt, scheduler=sched, clipper=1.0, spike_rule=MedianMadRule(window=32, min_history=8)
    )
    for step in range(20):
        loss = _forward_backward(model, opt, step)
        assert guard.step(loss).action == "step"
        sched.step()
    before = _state(model, opt, sched)
    loss = _forward_backward(model, opt, 20, fault)
    record = guard.step(loss)
    assert record.action == "skip"
    assert record.kind == ("spike" if fault == "spike" else "nonfinite")
    _assert_bitwise_equal(_state(model, opt, sched), before)
    # The pre-clip norm is recorded as measured (inf/NaN included).
    if fault == "nan":
        assert math.isnan(record.grad_norm) and record.nonfinite_count == 1
    elif fault == "inf":
        assert record.grad_norm == math.inf and not record.grad_finite
    else:
        assert record.grad_norm > 100 and record.grad_finite


def test_overflowing_norm_with_finite_entries_is_measured_in_float64():
    # Entries of 1e30 are finite (grad_finite) but their float32 norm is inf, which no
    # rule can judge and no clipper can clip (stepping would move weights by ~1e29).
    # The guard measures such a norm in float64: a spike after a calm history ...
    model, opt, _ = _setup()
    guard = SpikeGuard(model, opt, clipper=1.0, spike_rule=MedianMadRule(16, min_history=8))
    for step in range(10):
        guard.step(_forward_backward(model, opt, step))
    before = _state(model, opt)
    _forward_backward(model, opt, 10)
    model.head.weight.grad.fill_(1e30)  # 16 entries: ‖g‖ ≈ 4e30
    record = guard.step(1.0)
    assert record.grad_finite and record.grad_norm == pytest.approx(4e30, rel=1e-3)
    assert record.kind == "spike" and record.action == "skip"
    _assert_bitwise_equal(_state(model, opt), before)
    # ... and without a spike rule, clipped to c like any other large norm.
    guard = SpikeGuard(model, opt, clipper=1.0, spike_rule=None)
    _forward_backward(model, opt, 11)
    model.head.weight.grad.fill_(1e30)
    record = guard.step(1.0)
    assert record.kind == "clipped" and record.grad_norm_clipped == pytest.approx(1.0)
    assert all(torch.isfinite(p).all() and p.abs().max() < 10 for p in model.parameters())


def test_max_abs_is_read_with_the_layer_norms_on_bad_steps_and_for_value_clipping():
    # The norms decide a norm-based guard's every action; max |g| costs a second pass over
    # the gradients, so it is read every layer_norms_every steps, on a non-finite norm
    # (to tell NaN from overflow) and on every step of a value clipper.
    model, opt, _ = _setup()
    guard = SpikeGuard(model, opt, clipper=1.0, layer_norms_every=3)
    got = []
    for step in range(7):
        loss = _forward_backward(model, opt, step)
        if step == 4:
            model.head.weight.grad[0, 0] = math.nan
        want = max(float(p.grad.abs().max()) for p in model.parameters())  # before clipping
        record = guard.step(loss)
        got.append(record.max_abs)
        if step % 3 == 0:
            assert record.max_abs == want and record.layer_norms
        elif step == 4:
            assert math.isnan(record.max_abs) and record.nonfinite_count == 1
            assert record.action == "skip"
        else:
            assert record.max_abs is None and not record.layer_norms
    assert [m is None for m in got] == [False, True, True, False, False, True, False]
    guard = SpikeGuard(model, opt, clipper=ValueClipper(0.001), layer_norms_every=0)
    loss = _forward_backward(model, opt, 7)
    want = max(float(p.grad.abs().max()) for p in model.parameters())
    assert guard.step(loss).max_abs == want


def test_record_grad_norm_is_the_pre_clip_norm():
    model, opt, _ = _setup()
    guard = SpikeGuard(model, opt, clipper=0.05)
    loss = _forward_backward(model, opt, 0)
    pre = torch.nn.utils.get_total_norm([p.grad for p in model.parameters()])
    record = guard.step(loss)
    assert record.kind == "clipped" and record.grad_norm == float(pre) > 0.05
    assert record.grad_norm_clipped == pytest.approx(0.05, rel=1e-4)
    assert record.clip_coef == pytest.approx(0.05 / (float(pre) + 1e-6), rel=1e-6)


def test_rollback_restores_snapshot_bitwise_and_skips_batches():
    model, opt, sched = _setup()
    guard = SpikeGuard(
        model,
        opt,
        scheduler=sched,
        rollback_after=2,
        skip_batches=3,
        snapshot_every=5,
        spike_rule=None,
    )
    snap = None
    for step in range(8):
        loss = _forward_backward(model, opt, step)
        guard.step(loss)
        sched.step()
        if step == 4:  # 5 healthy steps: the guard snapshots here
            snap = _state(model, opt, sched)
            rng = (torch.get_rng_state(), random.getstate(), np.random.get_state()[1].copy())
    assert guard.snapshot.step == 5
    torch.rand(3), random.random(), np.random.rand()  # move every RNG on
    r1 = guard.step(_forward_backward(model, opt, 8, "nan"))
    assert r1.action == "skip" and guard.consecutive_bad == 1
    r2 = guard.step(_forward_backward(model, opt, 9, "inf"))
    assert r2.action == "rollback" and r2.extra["restored_step"] == 5
    _assert_bitwise_equal(_state(model, opt, sched), snap)
    assert torch.equal(torch.get_rng_state(), rng[0])
    assert random.getstate() == rng[1]
    assert np.array_equal(np.random.get_state()[1], rng[2])
    assert all(p.grad is None for p in model.parameters())
    assert [guard.skip_batch() for _ in range(4)] == [True, True, True, False]
    # Training continues normally from the restored state.
    assert guard.step(_forward_backward(model, opt, 10)).action == "step"


def test_rollback_from_disk_snapshot(tmp_path):
    model, opt, _ = _setup()
    path = tmp_path / "snap" / "guard.pt"
    guard = SpikeGuard(
        model, opt, rollback_after=1, snapshot_every=2, snapshot_path=path, spike_rule=None
    )
    for step in range(2):
        guard.step(_forward_backward(model, opt, step))
    snap = _state(model, opt)  # staged at the start of step 2, kept as step 2 is healthy
    for step in range(2, 4):
        guard.step(_forward_backward(model, opt, step))
    assert guard.snapshot.step == 2
    assert path.is_file() and not list(path.parent.glob(".*tmp*"))
    assert not path.with_name(path.name + ".pending").exists()
    guard.step(_forward_backward(model, opt, 4, "nan"))
    _assert_bitwise_equal(_state(model, opt), snap)


def test_raise_policy_and_max_rollbacks():
    model, opt, _ = _setup()
    guard = SpikeGuard(model, opt, on_nonfinite="raise")
    with pytest.raises(GuardError, match=r"step 0: nonfinite .*on_nonfinite='skip'") as err:
        guard.step(_forward_backward(model, opt, 0, "nan"))
    assert err.value.record.action == "skip"
    guard = SpikeGuard(model, opt, rollback_after=1, max_rollbacks=2, spike_rule=None)
    guard.step(_forward_backward(model, opt, 0, "nan"))
    guard.step(_forward_backward(model, opt, 1, "nan"))
    with pytest.raises(GuardError, match="after 2 rollbacks"):
        guard.step(_forward_backward(model, opt, 2, "nan"))


def test_bad_guard_arguments():
    model, opt, _ = _setup()
    with pytest.raises(ValueError, match="on_spike must be one of skip, raise, step"):
        SpikeGuard(model, opt, on_spike="ignore")
    with pytest.raises(ValueError, match="rollback_after must be a whole number ≥ 1 or None"):
        SpikeGuard(model, opt, rollback_after=0)
    with pytest.raises(ValueError, match="snapshot_every must be a whole number ≥ 1"):
        SpikeGuard(model, opt, snapshot_every=0)
    with pytest.raises(ValueError, match=r"norm_type must be a number ≥ 1 or inf, got 0.5"):
        SpikeGuard(model, opt, norm_type=0.5)
    with pytest.raises(
        ValueError,
        match=r"clipper must be a number > 0 \(the clipping threshold; inf: never clip\), got -1",
    ):
        SpikeGuard(model, opt, clipper=-1)
    with pytest.raises(ValueError, match=r"clipper must be a Clipper .*, got '1.0'"):
        SpikeGuard(model, opt, clipper="1.0")
    with pytest.raises(ValueError, match=r"spike_rule must be a gradguard.rules rule"):
        SpikeGuard(model, opt, spike_rule="mad")
    guard = SpikeGuard(model, opt)
    loss = _forward_backward(model, opt, 0)
    with pytest.raises(ValueError, match=r"loss must be one number .*shape \(16,\).*mean\(\)"):
        guard.step(loss * torch.ones(16))
    with pytest.raises(ValueError, match="loss must be one number"):
        guard.step("abc")


def test_loss_rule_flags_loss_spike():
    model, opt, _ = _setup()
    guard = SpikeGuard(
        model, opt, spike_rule=None, loss_rule=MedianMadRule(window=16, min_history=8)
    )
    for step in range(12):
        guard.step(_forward_backward(model, opt, step))
    loss = _forward_backward(model, opt, 12)
    record = guard.step(loss * 1e3)
    assert record.kind == "spike" and record.action == "skip"


def test_log_records_and_tensorboard(tmp_path):
    class FakeWriter:
        def __init__(self):
            self.scalars = []

        def add_scalar(self, tag, value, step):
            self.scalars.append((tag, value, step))

    tb = FakeWriter()
    model, opt, _ = _setup()
    path = tmp_path / "run.jsonl"
    with SpikeGuard(
        model,
        opt,
        clipper=0.05,
        log=path,
        tensorboard=tb,
        layer_norms_every=2,
        update_ratio_every=1,
        run="test/0",
    ) as guard:
        for step in range(5):
            guard.step(_forward_backward(model, opt, step, "nan" if step == 3 else None))
    log = read_log(path)
    assert [r.step for r in log.steps] == [0, 1, 2, 3, 4]
    assert [r.action for r in log.steps] == ["step", "step", "step", "skip", "step"]
    assert log.steps[3].kind == "nonfinite" and math.isnan(log.steps[3].grad_norm)
    first = log.steps[0]
    assert first.clipped and first.kind == "clipped" and first.threshold == 0.05
    assert first.grad_norm_clipped == pytest.approx(0.05, rel=1e-4)
    assert first.lr == 1e-2 and first.run == "test/0" and first.update_ratio > 0
    assert set(first.layer_norms) == {"rnn", "head"} and log.steps[1].layer_norms is None
    tags = {t for t, _, _ in tb.scalars}
    assert {"gradguard/loss", "gradguard/grad_norm", "gradguard/skipped"} <= tags
    assert ("gradguard/skipped", 1.0, 3) in tb.scalars
    assert {"gradguard/layer/rnn", "gradguard/layer/head"} <= tags
    # max |g| where it was read (with the layer norms; step 3's is NaN): no None written
    assert [s for t, _, s in tb.scalars if t == "gradguard/max_abs"] == [0, 2, 4]
    assert [r.max_abs is None for r in log.steps] == [False, True, False, False, False]


def test_real_tensorboard_event_file(tmp_path):
    # The real writer (tensorboard is in the dev extra): the guard makes a SummaryWriter
    # from a folder, and the event file holds exactly the JSONL log's numbers.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    model, opt, _ = _setup()
    path, tb_dir = tmp_path / "run.jsonl", tmp_path / "tb"
    with SpikeGuard(model, opt, clipper=0.05, log=path, tensorboard=str(tb_dir)) as guard:
        for step in range(4):
            guard.step(_forward_backward(model, opt, step, "nan" if step == 2 else None))
    events = EventAccumulator(str(tb_dir))
    events.Reload()
    steps = read_log(path).steps
    norms = {e.step: e.value for e in events.Scalars("gradguard/grad_norm")}
    assert sorted(norms) == [0, 1, 3]  # the NaN step's norm is not a plottable scalar
    for r in steps:
        if r.step in norms:
            assert norms[r.step] == pytest.approx(r.grad_norm, rel=1e-6)  # stored as float32
    skipped = {e.step: e.value for e in events.Scalars("gradguard/skipped")}
    assert skipped == {0: 0.0, 1: 0.0, 2: 1.0, 3: 0.0}


def test_tensorboard_missing_is_a_clear_error(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tb(name, *a, **k):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_tb)
    model, opt, _ = _setup()
    with pytest.raises(ValueError, match="pip install tensorboard"):
        SpikeGuard(model, opt, tensorboard=str(tmp_path))


def test_tensorboard_writer_made_from_a_directory_is_closed(tmp_path, monkeypatch):
    import sys
    import types

    made = []

    class Writer:  # stands in for torch.utils.tensorboard.SummaryWriter
        def __init__(self, logdir):
            self.logdir, self.closed, self.scalars = logdir, False, []
            made.append(self)

        def add_scalar(self, tag, value, step):
            self.scalars.append(tag)

        def close(self):
            self.closed = True

    module = types.ModuleType("torch.utils.tensorboard")
    module.SummaryWriter = Writer
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", module)
    model, opt, _ = _setup()
    with SpikeGuard(model, opt, tensorboard=tmp_path / "tb") as guard:
        guard.step(_forward_backward(model, opt, 0))
    (writer,) = made
    assert writer.logdir == str(tmp_path / "tb") and "gradguard/grad_norm" in writer.scalars
    assert writer.closed  # queued events are flushed when the guard closes
    # A writer passed in stays the caller's: the guard does not close it.
    mine = Writer("mine")
    with SpikeGuard(model, opt, tensorboard=mine):
        pass
    assert not mine.closed


def test_monitor_always_steps_and_classifies():
    model, opt, _ = _setup()
    monitor = Monitor(
        model,
        opt,
        clipper=ZClip(warmup_steps=5),
        spike_rule=MedianMadRule(window=16, min_history=8),
    )
    kinds = []
    for step in range(14):
        fault = "spike" if step == 12 else None
        kinds.append(monitor.step(_forward_backward(model, opt, step, fault)))
    assert all(r.action == "step" for r in kinds)
    assert kinds[12].kind == "spike"
    assert kinds[0].layer_norms is not None and kinds[10].layer_norms is not None
    assert kinds[0].update_ratio > 0 and kinds[1].update_ratio is None
    with pytest.raises(
        InputError,
        match=r"^on_spike must be left out: Monitor always steps and never rolls back .*"
        r"got 'skip'\.$",
    ):
        Monitor(model, opt, on_spike="skip")


def _amp_step(model, opt, scaler, step, scale_loss=1.0):
    opt.zero_grad(set_to_none=True)
    x, y = _batch(step)
    loss = torch.nn.functional.mse_loss(model(x), y)
    scaler.scale(loss * scale_loss).backward()
    return loss


def test_amp_unscale_before_clipping_and_amp_skip():
    model, opt, _ = _setup()
    ref_model, ref_opt, _ = _setup()
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    guard = SpikeGuard(model, opt, scaler=scaler, clipper=NormClipper(0.05), spike_rule=None)
    ref = SpikeGuard(ref_model, ref_opt, clipper=NormClipper(0.05), spike_rule=None)
    rec = guard.step(_amp_step(model, opt, scaler, 0))
    ref_rec = ref.step(_forward_backward(ref_model, ref_opt, 0))
    # The guard unscaled before measuring: the norm is the true one, not 2^10 times it.
    assert rec.grad_norm == pytest.approx(ref_rec.grad_norm, rel=1e-5)
    assert rec.amp_scale == 2.0**10 and rec.action == "step"
    for p, q in zip(model.parameters(), ref_model.parameters(), strict=True):
        torch.testing.assert_close(p, q)
    # An overflowing scaled loss: the scaler finds inf, skips, and lowers its scale.
    before = _state(model, opt)
    rec = guard.step(_amp_step(model, opt, scaler, 1, scale_loss=1e38))
    assert rec.kind == "amp_skip" and rec.action == "skip"
    assert rec.flagged_by is None  # the scaler's scale search, not a fault
    assert scaler.get_scale() == 2.0**9
    _assert_bitwise_equal(_state(model, opt), before)
    assert guard.consecutive_bad == 0  # AMP's own skip is not a fault
    # A non-finite loss under AMP is a fault, not the scaler's business.
    loss = _amp_step(model, opt, scaler, 2)
    before_scaler = scaler.state_dict()
    rec = guard.step(loss * math.nan)
    assert rec.kind == "nonfinite" and rec.action == "skip" and guard.consecutive_bad == 1
    # A withheld step leaves the scaler as it was: it does not count towards growth.
    assert scaler.state_dict() == before_scaler
    # A user who already called unscale_ is not unscaled twice.
    loss = _amp_step(model, opt, scaler, 2)
    scaler.unscale_(opt)
    assert guard.step(loss).action == "step"
    # The wrong order — scaler.step before the guard — is refused with what to do.
    loss = _amp_step(model, opt, scaler, 3)
    scaler.step(opt)
    with pytest.raises(RuntimeError, match=r"guard.step\(loss\) replaces scaler.step"):
        guard.step(loss)


def test_rollback_under_amp_restores_the_scaler():
    # The scaler is part of the snapshot: after a rollback its scale and growth tracker
    # are those of the snapshot, not those of the bad steps in between.
    model, opt, sched = _setup()
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10, growth_interval=2)
    guard = SpikeGuard(
        model,
        opt,
        scheduler=sched,
        scaler=scaler,
        rollback_after=2,
        snapshot_every=3,
        spike_rule=None,
    )
    for step in range(3):
        guard.step(_amp_step(model, opt, scaler, step))
        sched.step()
    # 3 steps taken, growth_interval 2: the scale grew once (2^11), tracker at 1.
    snap_scaler = scaler.state_dict()
    assert snap_scaler["scale"] == 2.0**11 and snap_scaler["_growth_tracker"] == 1
    snap = _state(model, opt, sched)
    # One overflow: the scaler halves its scale itself (amp_skip, not a fault) ...
    guard.step(_amp_step(model, opt, scaler, 3, scale_loss=1e38))
    assert scaler.get_scale() == 2.0**10
    assert guard.snapshot.pending_step == 3  # (staged at step 3: the next step judges it)
    guard.step(_amp_step(model, opt, scaler, 4))  # healthy: the snapshot of step 3 is kept
    assert (guard.snapshot.step, guard.snapshot.pending_step) == (3, None)
    # ... then two non-finite losses in a row: rollback to the snapshot of step 3.
    guard.step(_amp_step(model, opt, scaler, 5) * math.nan)
    record = guard.step(_amp_step(model, opt, scaler, 6) * math.nan)
    assert record.action == "rollback" and record.extra["restored_step"] == 3
    assert scaler.state_dict() == snap_scaler
    _assert_bitwise_equal(_state(model, opt, sched), snap)


def _train(steps, faults, guard_kwargs, seed=0):
    model, opt, _ = _setup(seed, lr=5e-3)
    guard = SpikeGuard(model, opt, **guard_kwargs)
    records = []
    step = 0
    while step < steps:
        if guard.skip_batch():
            step += 1
            continue
        loss = _forward_backward(model, opt, step, faults.get(step))
        records.append((step, guard.step(loss)))  # (batch index, record)
        for p in model.parameters():
            assert torch.isfinite(p).all()
        step += 1
    x, y = _batch(10_000, n=256)
    with torch.no_grad():
        final = float(torch.nn.functional.mse_loss(model(x), y))
    return final, records


@pytest.mark.slow
def test_fault_injection_training_finishes_close_to_clean_run():
    steps = 240

    def kwargs():  # fresh rule objects for every run
        return {
            "clipper": 1.0,
            "rollback_after": 3,
            "skip_batches": 2,
            "snapshot_every": 20,
            "spike_rule": MedianMadRule(window=64, k=6, min_history=16),
            "loss_rule": MedianMadRule(window=64, k=6, min_history=16),
        }

    clean, clean_records = _train(steps, {}, kwargs())
    assert all(r.action == "step" for _, r in clean_records)
    rng = random.Random(7)
    faults = {
        s: rng.choice(["nan", "inf", "spike", "loss"]) for s in rng.sample(range(30, steps), 14)
    }
    faults.update({100: "spike", 101: "loss"})  # every kind of fault at least once
    faults.update({150: "nan", 151: "nan", 152: "nan"})  # three in a row → rollback
    faulted, records = _train(steps, faults, kwargs())
    actions = {batch: r.action for batch, r in records}
    assert "rollback" in actions.values()
    for s, kind in faults.items():
        if s in actions:  # steps inside a post-rollback skip window never ran
            assert actions[s] in ("skip", "rollback"), (s, kind)
    # Unguarded, the same faults wreck the run: a NaN step poisons Adam's moments.
    with pytest.raises(AssertionError):
        _train(
            steps,
            faults,
            {
                "on_nonfinite": "step",
                "on_spike": "step",
                "spike_rule": None,
                "rollback_after": None,
            },
        )
    # Guarded, it finishes close to the clean run (a few batches fewer were learnt from).
    # Predicting a constant scores Var(mean of 10 U(0,1)) = 1/120 ≈ 8.3e-3; both runs
    # learn far below that, and the faulted one ends within 1e-3 of the clean one.
    assert math.isfinite(faulted)
    assert clean < 1e-3
    assert faulted == pytest.approx(clean, abs=1e-3), (clean, faulted)
    kinds = {r.kind for _, r in records}
    assert {"nonfinite", "spike"} <= kinds


@pytest.mark.slow
def test_log_survives_a_kill_mid_run(tmp_path):
    # A crash (SIGKILL) at any moment loses at most the record being written: the log
    # always reads back, every complete line parses.
    import signal
    import subprocess
    import sys
    import time

    log = tmp_path / "killed.jsonl"
    code = f"""
import torch
from gradguard.torch import SpikeGuard
torch.manual_seed(0)
model = torch.nn.Linear(8, 1)
opt = torch.optim.SGD(model.parameters(), lr=1e-3)
guard = SpikeGuard(model, opt, clipper=1.0, log={str(log)!r}, layer_norms_every=1)
print("ready", flush=True)
while True:
    opt.zero_grad()
    model(torch.randn(4, 8)).square().mean().backward()
    guard.step(1.0)
"""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.time() + 30
        while (not log.exists() or log.stat().st_size < 40_000) and time.time() < deadline:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    result = read_log(log)
    assert len(result.steps) > 50
    assert [r.step for r in result.steps] == list(range(len(result.steps)))


def test_ema_zscore_as_the_spike_rule():
    from gradguard.rules import EmaZScoreRule

    model, opt, _ = _setup()
    guard = SpikeGuard(model, opt, spike_rule=EmaZScoreRule(z_thresh=6.0, warmup_steps=10))
    actions = []
    for step in range(16):
        fault = "spike" if step == 14 else None
        actions.append(guard.step(_forward_backward(model, opt, step, fault)))
    assert [r.kind for r in actions].count("spike") == 1 and actions[14].kind == "spike"
    assert actions[14].action == "skip"


def test_giving_up_names_the_step_a_restore_function_went_back_to():
    model, opt, _ = _setup()
    guard = SpikeGuard(
        model, opt, clipper=1.0, restore=lambda: 7, rollback_after=1, max_rollbacks=1
    )
    with pytest.raises(GuardError, match=r"after 1 rollback to step 7 \(max_rollbacks=1\)"):
        for step in range(5):
            loss = _forward_backward(model, opt, step)
            model.head.weight.grad[0, 0] = math.nan
            guard.step(loss)


def test_a_resumed_guard_still_names_the_step_its_last_rollback_went_back_to():
    model, opt, _ = _setup()
    kwargs = dict(clipper=1.0, restore=lambda: 7, rollback_after=1, max_rollbacks=1)
    guard = SpikeGuard(model, opt, **kwargs)
    loss = _forward_backward(model, opt, 0)
    model.head.weight.grad[0, 0] = math.nan
    assert guard.step(loss).action == "rollback"
    resumed = SpikeGuard(model, opt, **kwargs)
    resumed.load_state_dict(guard.state_dict())  # a checkpoint taken after the rollback
    with pytest.raises(GuardError, match=r"after 1 rollback to step 7 \(max_rollbacks=1\)"):
        for step in range(1, 5):
            loss = _forward_backward(model, opt, step)
            model.head.weight.grad[0, 0] = math.nan
            resumed.step(loss)


@pytest.mark.parametrize("sync", [True, False])
def test_a_rollback_record_keeps_the_lr_of_its_step(sync):
    """The record of a rollback step says the LR the loop set for that step, not the one
    the rollback restored (the snapshot's, an older point of the schedule)."""
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, fused=not sync)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (1 + s))  # a new LR each step
    guard = SpikeGuard(
        model, opt, scheduler=sched, rollback_after=2, snapshot_every=3, spike_rule=None, sync=sync
    )
    seen, records = [], []
    guard.hooks.append(records.append)
    for step in range(9):
        seen.append(opt.param_groups[0]["lr"])
        guard.step(_forward_backward(model, opt, step, "nan" if step in (7, 8) else None))
        sched.step()
    guard.close()
    assert [r.action for r in records][7:] == ["skip", "rollback"]
    assert [r.lr for r in records] == seen  # 1e-2 / (1 + step), the rollback's too
    assert opt.param_groups[0]["lr"] != seen[8]  # the rollback did restore an older LR


def test_guard_errors_are_told_in_every_language():
    from gradguard.torch import GuardError

    model, opt, _ = _setup()
    guard = SpikeGuard(model, opt, clipper=1.0, rollback_after=1, max_rollbacks=0)
    _forward_backward(model, opt, 0)
    model.head.weight.grad[0, 0] = math.nan
    with pytest.raises(GuardError) as err:
        guard.step(1.0)
    assert err.value.reason == "gave_up" and err.value.record.kind == "nonfinite"
    en, bn = str(err.value), err.value.message("bn")
    assert en.startswith("step 0: 1 bad step in a row after 0 rollbacks")
    assert "ধাপ 0" in bn and "max_rollbacks=0" in bn and "{" not in bn
    guard = SpikeGuard(model, opt, clipper=1.0, on_nonfinite="raise")
    _forward_backward(model, opt, 1)
    model.head.weight.grad[0, 0] = math.inf
    with pytest.raises(GuardError, match="pass on_nonfinite='skip'") as err:
        guard.step(1.0)
    assert "on_nonfinite='skip'" in err.value.message("bn")
