"""SpikeGuard(sync=False): no host sync, skips through found_inf, the default mode's decisions."""

from __future__ import annotations

import copy
import gc
import json
import math
import warnings
import weakref

import pytest
import torch  # the [dev] extra installs torch: these tests always run
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from gradguard.records import read_log
from gradguard.rules import MedianMadRule
from gradguard.torch import AutoClip, SpikeGuard, ZClip
from gradguard.torch._adagc import AdaGC

from .conftest import HostSyncs, Net


def _batch(step, device="cpu"):
    g = torch.Generator().manual_seed(1000 + step)
    x = torch.rand(16, 10, 1, generator=g)
    return x.to(device), x.mean(dim=(1, 2)).to(device)


#: The injected faults of one trace: NaN, inf, a 1e6× spike, three bad in a row, and
#: gradients 3× larger than usual (for the adaptive clippers to clip).
FAULTS = {30: "nan", 40: "inf", 50: "spike", 60: "nan", 61: "spike", 62: "inf"}
FAULTS.update({s: "bump" for s in (20, 26, 35, 45, 55, 70)})


def _forward_backward(model, opt, step, fault=None, scaler=None, device="cpu"):
    opt.zero_grad(set_to_none=True)
    x, y = _batch(step, device)
    loss = torch.nn.functional.mse_loss(model(x), y)
    (scaler.scale(loss) if scaler is not None else loss).backward()
    if fault == "nan":
        model.rnn.weight_hh_l0.grad[0, 0] = math.nan
    elif fault == "inf":
        model.head.weight.grad[0, 0] = math.inf
    elif fault == "spike":
        for p in model.parameters():
            p.grad.mul_(1e6)
    elif fault == "bump":
        for p in model.parameters():
            p.grad.mul_(3.0)
    return loss


def _setup(optim="adamw", device="cpu"):
    torch.manual_seed(0)
    model = Net().to(device)
    if optim == "adamw":
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2, fused=True)
    elif optim == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9, fused=True)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)  # no found_inf route
    return model, opt


def _guard(model, opt, sync, clipper=1.0, **kwargs):
    kwargs.setdefault("spike_rule", MedianMadRule(window=32, min_history=8))
    kwargs.setdefault("snapshot_every", 10)
    kwargs.setdefault("rollback_after", 3)  # (the fault trace rolls back on its third bad step)
    return SpikeGuard(model, opt, clipper=clipper, sync=sync, **kwargs)


def _run(sync, clipper, steps=75, log=None, optim="adamw", device="cpu", **kwargs):
    model, opt = _setup(optim, device)
    records = []
    guard = _guard(model, opt, sync, clipper, log=log, **kwargs)
    guard.hooks.append(records.append)
    for step in range(steps):
        loss = _forward_backward(model, opt, step, FAULTS.get(step), device=device)
        guard.step(loss, batch=step)
    guard.close()
    return records, model


@pytest.mark.parametrize(
    "clipper",
    [1.0, ZClip(z_thresh=1.0, warmup_steps=5), AutoClip(50, 20), AdaGC(warmup_steps=5)],
    ids=["norm", "zclip", "autoclip", "adagc"],
)
def test_same_decisions_as_the_default_mode_on_an_injected_fault_trace(clipper):
    host, host_model = _run(True, copy.deepcopy(clipper))
    device, device_model = _run(False, copy.deepcopy(clipper))
    actions = [(r.step, r.action, r.kind) for r in host]
    assert [(r.step, r.action, r.kind) for r in device] == actions
    # The faults were met as expected: skipped, and a rollback on the third bad in a row.
    by_step = {s: (a, k) for s, a, k in actions}
    assert by_step[30] == ("skip", "nonfinite") and by_step[40] == ("skip", "nonfinite")
    assert by_step[50] == ("skip", "spike") and by_step[62][0] == "rollback"
    if not isinstance(clipper, ZClip):  # (ZClip's EMA stays above this falling trace)
        assert sum(k == "clipped" for _, _, k in actions) > 0  # clipping acted, too
    for a, b in zip(host, device, strict=True):
        assert a.flagged_by == b.flagged_by, a.step
        keys = ("grad_norm", "grad_norm_clipped", "clip_coef", "threshold", "loss")
        for key in (*keys, "spike_threshold", "loss_threshold"):
            x, y = getattr(a, key), getattr(b, key)
            assert (x is None) == (y is None), key
            if x is not None and not (math.isnan(x) and math.isnan(y)):
                assert x == pytest.approx(y, rel=1e-12, abs=1e-300), (a.step, key)
        assert a.extra == b.extra
    # Same decisions, same arithmetic: the parameters end bitwise equal.
    for p, q in zip(host_model.parameters(), device_model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_a_guarded_step_reads_nothing_on_the_host():
    model, opt = _setup()
    guard = _guard(model, opt, False, ZClip(warmup_steps=3), rollback_after=None)
    for step in range(3):  # optimizer state and rule state allocated
        guard.step(_forward_backward(model, opt, step), batch=step)
    syncs = HostSyncs()
    for step in range(3, 20):
        loss = _forward_backward(model, opt, step, FAULTS.get(step + 27))
        with syncs:  # also the reads made inside torch, which no Python patch sees
            guard.step(loss)
    assert syncs.calls == []


#: A read of one of the step's own tensors on the host, and what the counter calls it.
READ_BACK = {
    "tolist": (lambda t: t.tolist(), ["tolist"]),  # (on the CPU: no op dispatched)
    "numpy": (lambda t: t.numpy(), ["numpy"]),  # (on the CPU: only a detach)
    "item": (lambda t: t.item(), ["item", "_local_scalar_dense"]),
    "bool": (lambda t: bool(t > 0), ["__bool__", "_local_scalar_dense"]),
    "cpu": (lambda t: t.cpu(), ["cpu"]),
}


@pytest.mark.parametrize("read", sorted(READ_BACK))
def test_the_sync_counter_sees_a_step_that_reads_on_the_host(read, monkeypatch):
    # The counter is not blind: a sync-free step made to read one of its own tensors on
    # the host — the bad-step count, as it is learned — is caught, however it reads.
    import gradguard.torch._run as run_mod

    model, opt = _setup()
    guard = _guard(model, opt, False, ZClip(warmup_steps=3), rollback_after=None)
    for step in range(3):
        guard.step(_forward_backward(model, opt, step))
    learn, (reads, expected) = run_mod.learn, READ_BACK[read]

    def learn_and_read(ops, judged):
        reads(judged.consecutive_bad)
        return learn(ops, judged)

    monkeypatch.setattr(run_mod, "learn", learn_and_read)
    loss = _forward_backward(model, opt, 3)
    with HostSyncs() as syncs:
        guard.step(loss)
    assert syncs.calls == expected


def test_staged_snapshots_read_nothing_on_the_host(monkeypatch):
    # A snapshot after every healthy step: staged at the start of a step, committed by a
    # healthy verdict, dropped by a bad one (steps 8 and 12–14), restored by a rollback
    # (step 14) — all without a host read.
    from gradguard.torch._snapshot import Snapshot

    model, opt = _setup()
    guard = _guard(model, opt, False, 1.0, rollback_after=3, snapshot_every=1)
    for step in range(3):
        guard.step(_forward_backward(model, opt, step))
    seen = []
    for name in ("stage", "commit", "drop"):
        original = getattr(Snapshot, name)

        def spy(self, *args, _name=name, _original=original):
            if self.pending_step is not None or _name == "stage":
                seen.append(_name)
            return _original(self, *args)

        monkeypatch.setattr(Snapshot, name, spy)
    syncs = HostSyncs()
    records = []
    guard.hooks.append(records.append)
    faults = {8: "nan", 12: "nan", 13: "inf", 14: "nan"}
    for step in range(3, 20):
        loss = _forward_backward(model, opt, step, faults.get(step))
        with syncs:
            guard.step(loss)
    monkeypatch.undo()
    assert syncs.calls == []
    assert {"stage", "commit", "drop"} <= set(seen)
    assert [r.action for r in records if r.step in faults] == ["skip", "skip", "skip", "rollback"]


def test_same_decisions_on_the_device_without_rollback(device):
    # On a GPU the records (and so a rollback) arrive a step or a few late: without
    # rollback the two modes decide the same on every step there too.
    host, _ = _run(True, 1.0, device=device.type, rollback_after=None)
    dev, _ = _run(False, 1.0, device=device.type, rollback_after=None)
    assert [(r.action, r.kind) for r in dev] == [(r.action, r.kind) for r in host]
    assert sum(r.action == "skip" for r in host) == 6


@pytest.mark.parametrize("optim", ["adamw", "sgd"])
@pytest.mark.parametrize("amp", [False, True], ids=["plain", "gradscaler"])
def test_fused_skip_leaves_state_bitwise_unchanged(optim, amp, device):
    dev = device.type
    model, opt = _setup(optim, dev)
    scaler = torch.amp.GradScaler(dev, init_scale=2.0**10) if amp else None
    guard = _guard(model, opt, False, 1.0, scaler=scaler, rollback_after=None)
    for step in range(12):
        guard.step(_forward_backward(model, opt, step, scaler=scaler, device=dev))
    # (With a GradScaler a NaN gradient is AMP's found_inf: tested below.)
    for fault in ("spike",) if amp else ("nan", "spike"):
        params = [p.detach().clone() for p in model.parameters()]
        state = {
            i: {k: v.clone() for k, v in opt.state[p].items()}
            for i, p in enumerate(model.parameters())
        }
        scale = scaler.get_scale() if amp else None
        records = []
        guard.hooks[:] = [records.append]
        guard.step(_forward_backward(model, opt, 12, fault, scaler=scaler, device=dev))
        guard.flush()  # (on a GPU the record may still be in flight)
        assert records[-1].action == "skip"
        assert records[-1].kind == ("nonfinite" if fault == "nan" else "spike")
        for p, q in zip(params, model.parameters(), strict=True):
            assert torch.equal(p, q)
        for i, p in enumerate(model.parameters()):
            assert state[i].keys() == opt.state[p].keys()
            for k, v in state[i].items():
                assert torch.equal(v, opt.state[p][k]), (i, k)  # exp_avg, exp_avg_sq, step
        if amp:
            # The guard skipped, not AMP: the scale stays (no back-off, no growth count).
            assert scaler.get_scale() == scale
    if optim == "adamw":
        assert "exp_avg_sq" in opt.state[next(model.parameters())]


def test_gradscaler_found_inf_is_an_amp_skip_and_backs_off():
    model, opt = _setup()
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    guard = _guard(model, opt, False, 1.0, scaler=scaler, rollback_after=None)
    records = []
    guard.hooks.append(records.append)
    for step in range(5):
        loss = _forward_backward(model, opt, step, scaler=scaler)
        if step == 3:
            next(model.parameters()).grad[0, 0] = math.inf  # a scaled-gradient overflow
        guard.step(loss)
    kinds = [r.kind for r in records]
    assert kinds[3] == "amp_skip" and set(kinds[:3] + kinds[4:]) <= {"ok", "clipped"}
    assert records[3].action == "skip" and records[3].flagged_by is None  # not a fault
    assert scaler.get_scale() == 2.0**9
    assert records[3].amp_scale == 2.0**9


def test_other_optimizers_fall_back_to_one_sync_with_one_warning():
    model, opt = _setup("adam")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        guard = _guard(model, opt, False, rollback_after=None)
        records = []
        guard.hooks.append(records.append)
        for step in range(35):
            guard.step(_forward_backward(model, opt, step, FAULTS.get(step)))
    assert len([w for w in caught if "sync=False" in str(w.message)]) == 1
    assert records[30].action == "skip" and records[29].action == "step"


def test_bad_settings_for_the_sync_free_mode_are_clear_errors():
    from gradguard.errors import InputError
    from gradguard.torch import AGC

    model, opt = _setup()
    with pytest.raises(InputError, match=r"^on_spike must be 'skip' or 'step' with sync=False"):
        SpikeGuard(model, opt, sync=False, on_spike="raise")
    with pytest.raises(InputError, match=r"^clipper must be None, a number"):
        SpikeGuard(model, opt, sync=False, clipper=AGC())


def test_records_reach_the_log(tmp_path):
    path = tmp_path / "run.jsonl"
    records, _ = _run(False, 1.0, steps=65, log=path)
    logged = read_log(path).steps
    assert [r.to_json() for r in logged] == [r.to_json() for r in records]
    assert logged[30].extra["batch"] == 30 and "batch" not in logged[29].extra


class _Retained(TorchDispatchMode):
    """Record every tensor an op creates; afterwards, count the bytes still alive."""

    def __init__(self):
        super().__init__()
        self.refs = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self.refs.append(weakref.ref(t))
        return out

    def bytes_alive(self):
        gc.collect()
        storages = {}
        for r in self.refs:
            t = r()
            if t is not None:
                s = t.untyped_storage()
                storages[s.data_ptr()] = s.nbytes()
        return sum(storages.values())


@pytest.mark.parametrize("sync", [True, False])
def test_without_rollback_the_guard_keeps_no_copy_of_the_parameters(sync):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.Linear(256, 64))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, fused=True)  # keeps no state
    param_bytes = sum(p.numel() * p.element_size() for p in model.parameters())

    def train(**kwargs):
        mode = _Retained()
        with mode:
            guard = SpikeGuard(model, opt, clipper=1.0, sync=sync, **kwargs)
        for _step in range(3):
            opt.zero_grad(set_to_none=True)
            model(torch.randn(8, 64)).square().mean().backward()
            with mode:
                guard.step(1.0)
        return guard, mode.bytes_alive()

    guard, kept = train(rollback_after=None)
    assert guard.snapshot.step is None
    assert kept < 0.02 * param_bytes  # rule state and index tensors only
    guard, kept = train(rollback_after=3)
    assert kept >= param_bytes  # the snapshot: the accounting sees copies


def test_rollback_snapshot_of_a_meta_model_is_on_the_cpu():
    with torch.device("meta"):
        model = torch.nn.Linear(512, 512)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    guard = SpikeGuard(model, opt, rollback_after=2)
    tensors = tree_flatten(guard.snapshot._state)[0]
    tensors = [t for t in tensors if isinstance(t, torch.Tensor)]
    assert tensors and {t.device.type for t in tensors} == {"cpu"}


def test_restore_function_replaces_snapshots():
    model, opt = _setup()
    calls = []
    guard = _guard(model, opt, True, restore=lambda: calls.append("restored") or 7)
    assert guard.snapshot.step is None  # no copy taken
    records = []
    guard.hooks.append(records.append)
    for step in range(64):
        guard.step(_forward_backward(model, opt, step, FAULTS.get(step)))
    assert calls == ["restored"]
    assert records[62].action == "rollback" and records[62].extra["restored_step"] == 7


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_sync_debug_mode_raises_nothing_over_20_steps():
    model, opt = _setup(device="cuda")
    guard = _guard(model, opt, False, ZClip(warmup_steps=3), rollback_after=None)
    for step in range(3):
        guard.step(_forward_backward(model, opt, step, device="cuda"))
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for step in range(3, 23):
            guard.step(_forward_backward(model, opt, step, FAULTS.get(step + 27), device="cuda"))
    finally:
        torch.cuda.set_sync_debug_mode("default")
    guard.close()


@pytest.mark.parametrize("sync", [True, False])
def test_resumed_run_makes_the_same_decisions_bitwise(sync):
    def guarded(model, opt):
        return _guard(model, opt, sync, ZClip(z_thresh=1.0, warmup_steps=5), rollback_after=3)

    model, opt = _setup()
    full = []
    guard = guarded(model, opt)
    guard.hooks.append(full.append)
    for step in range(75):
        guard.step(_forward_backward(model, opt, step, FAULTS.get(step)))
    guard.close()
    for stop in (37, 61):  # mid-run, and in the middle of three bad steps in a row
        model, opt = _setup()
        guard = guarded(model, opt)
        for step in range(stop):
            guard.step(_forward_backward(model, opt, step, FAULTS.get(step)))
        checkpoint = {
            "model": {k: v.clone() for k, v in model.state_dict().items()},
            "opt": opt.state_dict(),
            "guard": guard.state_dict(snapshot=True),
        }
        checkpoint = copy.deepcopy(checkpoint)  # nothing shared with the stopped run
        model, opt = _setup()
        model.load_state_dict(checkpoint["model"])
        opt.load_state_dict(checkpoint["opt"])
        guard = guarded(model, opt)
        guard.load_state_dict(checkpoint["guard"])
        resumed = []
        guard.hooks.append(resumed.append)
        for step in range(stop, 75):
            guard.step(_forward_backward(model, opt, step, FAULTS.get(step)))
        guard.close()
        assert [r.step for r in resumed] == list(range(stop, 75))
        for a, b in zip(full[stop:], resumed, strict=True):
            assert (a.action, a.kind, a.clipped) == (b.action, b.kind, b.clipped), a.step
            assert a.grad_norm == b.grad_norm or math.isnan(a.grad_norm), a.step  # bitwise
        assert any(r.action == "rollback" for r in resumed)


def test_skip_list_from_replay_makes_a_resumed_run_skip_those_batches_only(tmp_path, capsys):
    from gradguard.cli import main

    log = tmp_path / "run.jsonl"
    _run(True, 1.0, steps=65, log=log)
    assert main(["replay", str(log), "--skip-list", "--json"]) == 0
    skip = tmp_path / "skip.json"
    skip.write_text(capsys.readouterr().out)
    listed = json.loads(skip.read_text())["batches"]
    # The run skipped 30, 40, 50, 60, 61 and rolled back at 62 (undoing 60-62).
    assert listed == [30, 40, 50, 60, 61, 62]
    model, opt = _setup()
    guard = _guard(model, opt, True, skip_steps=skip)
    skipped = []
    for batch in range(65):  # a restart over the same data
        if guard.skip_batch(batch):
            skipped.append(batch)
            continue
        guard.step(_forward_backward(model, opt, batch), batch=batch)
    assert skipped == listed


def test_giving_up_names_what_it_saw_and_carried_state_as_the_synced_step_does():
    from gradguard.torch import GuardError

    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, fused=True)
    guard = SpikeGuard(model, opt, clipper=1.0, sync=False, rollback_after=1, max_rollbacks=1)
    with pytest.raises(GuardError) as err:
        for step in range(10):
            _forward_backward(model, opt, step, fault="nan" if step >= 3 else None)
            guard.step(1.0)
    message = str(err.value)
    assert "after 1 rollback to step" in message and "step 4 nonfinite (grad_norm=nan" in message
    assert "state your loop carries across batches" in message


def test_a_sync_free_log_opens_each_run_and_replays_as_its_run(tmp_path):
    # Like the synced guard's: a header per run (a log two runs appended to reads as
    # two), from which replay reproduces every decision and threshold of the run.
    from gradguard.rules import replay_guard

    path = tmp_path / "sf.jsonl"
    _run(False, 1.0, log=path)
    _run(False, 1.0, steps=20, log=path)
    runs = read_log(path).runs
    assert [len(r.steps) for r in runs] == [75, 20]
    assert all(r.meta["guard"]["spike_rule"]["name"] == "spike-mad" for r in runs)
    (first, _) = runs
    assert [r.action for r in first.steps].count("rollback") == 1
    result = replay_guard(first)
    assert result.mismatches == [] and result.actions == [r.action for r in first.steps]
    assert result.thresholds == [r.spike_threshold for r in first.steps]
