"""Re-run to attribute: ``guard.step(loss, closure=...)`` re-runs a bad step on its batch.

Two fault injectors: one that fires once (a transient fault: the re-run is healthy, the
step is taken with the re-run's gradients and the run is the clean one bit for bit) and
one tied to a batch (reproducible: bad again, skipped, its batch on the skip list).
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradguard.cli import main
from gradguard.errors import InputError
from gradguard.records import read_log
from gradguard.rules import replay_guard
from gradguard.torch import SpikeGuard
from gradguard.torch._rerun import judge_rerun

N_BATCHES = 6


class Fault:
    """Put ``value`` into one entry of the first layer's gradient during backward.

    ``once_at``: on the first backward of that step only (a transient fault); ``batch``:
    on every backward of that batch (a reproducible one: the batch carries it).
    """

    def __init__(self, model, *, once_at=None, batch=None, value=math.inf):
        self.once_at, self.batch, self.value = once_at, batch, value
        self.step = self.current = None
        self.fired = 0
        model[0].weight.register_hook(self._hook)

    def _hook(self, grad):
        once = self.once_at is not None and self.step == self.once_at and not self.fired
        if once or (self.batch is not None and self.current == self.batch):
            self.fired += 1
            grad = grad.clone()
            if self.value == "spike":
                return grad * 1e5
            grad.view(-1)[0] = self.value
        return grad


def batches():
    g = torch.Generator().manual_seed(3)
    out = []
    for _ in range(N_BATCHES):
        x = torch.randn(16, 8, generator=g)
        out.append((x, torch.sin(x).sum(-1, keepdim=True)))
    return out


def train(tmp_path, *, steps=12, form="loss", fault=None, closure=True, batchnorm=False, **options):
    """Two epochs of a small MLP with dropout (and BatchNorm: ``batchnorm``) under the guard;
    return (model, guard, records, closure calls)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    norm = [torch.nn.BatchNorm1d(32)] if batchnorm else []
    model = torch.nn.Sequential(
        torch.nn.Linear(8, 32),
        *norm,
        torch.nn.Tanh(),
        torch.nn.Dropout(0.3),
        torch.nn.Linear(32, 1),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    injector = Fault(model, **fault) if fault else None
    options.setdefault("spike_rule", None)
    guard = SpikeGuard(model, opt, clipper=1.0, log=tmp_path / "run.jsonl", **options)
    data = batches()
    calls = [0]
    for step in range(steps):
        b = step % N_BATCHES
        if guard.skip_batch(b):
            continue
        x, y = data[b]
        if injector:
            injector.step, injector.current = step, b

        def closure_fn(x=x, y=y):
            calls[0] += 1
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            return loss

        if form == "loss":  # the first run is the loop's own
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            guard.step(loss, batch=b, closure=closure_fn if closure else None)
        else:  # the guard runs the closure for the first run too
            guard.step(batch=b, closure=closure_fn)
    guard.close()
    return model, guard, read_log(tmp_path / "run.jsonl").steps, calls[0]


def params(model):
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("batchnorm", [False, True])
@pytest.mark.parametrize("form", ["loss", "closure"])
def test_a_transient_fault_is_re_run_and_nothing_is_lost(tmp_path, form, batchnorm):
    clean, _, clean_records, calls = train(tmp_path / "clean", form=form, batchnorm=batchnorm)
    assert calls == (12 if form == "closure" else 0)  # no bad step: the closure never re-runs
    model, guard, records, _ = train(
        tmp_path / "faulty", form=form, fault={"once_at": 4, "value": math.inf}, batchnorm=batchnorm
    )
    assert [r.action for r in records] == ["step"] * 12
    r = records[4]
    # The record: the first run as measured (one inf entry, one tensor), then the re-run.
    assert r.grad_norm == math.inf and r.nonfinite_count == 1 and r.kind == "nonfinite"
    assert r.extra["rerun"]["verdict"] == "transient"
    assert r.extra["rerun"]["grad_norm"] == clean_records[4].grad_norm  # the clean step's
    assert r.extra["rerun"]["loss"] == clean_records[4].loss  # dropout drew the same masks
    assert r.extra["batch"] == 4
    # The step taken is the re-run's, clipped as any: the run is the clean one, bit for bit.
    for p, q in zip(params(clean), params(model), strict=True):
        assert torch.equal(p, q)
    # Buffers too: BatchNorm's running statistics were updated once, by the re-run.
    clean_state, state = clean.state_dict(), model.state_dict()
    assert clean_state.keys() == state.keys()
    for k in state:
        assert torch.equal(clean_state[k], state[k]), k
    assert guard.rerun_skips == [] and guard.consecutive_bad == 0


@pytest.mark.parametrize("value", [math.nan, "spike"])
def test_a_fault_tied_to_a_batch_is_reproducible_and_its_batch_is_skipped(tmp_path, value):
    from gradguard.rules import MedianMadRule

    rule = MedianMadRule(window=16, min_history=2)
    fault = {"batch": 3, "value": value}
    _model, guard, records, _ = train(tmp_path, fault=fault, spike_rule=rule, rollback_after=None)
    bad = [r for r in records if r.action != "step"]
    assert [r.step for r in bad] == [3]  # epoch 2 never ran batch 3: skip_batch(3) said so
    assert len(records) == 11
    r = bad[0]
    assert r.kind == ("spike" if value == "spike" else "nonfinite") and r.action == "skip"
    assert r.extra["rerun"]["verdict"] == "reproducible" and r.extra["batch"] == 3
    assert r.extra["rerun"]["kind"] == r.kind
    assert guard.rerun_skips == [3]


def test_the_rules_learn_each_step_once(tmp_path):
    """A transient re-run leaves the spike rule's window as a clean run leaves it: it
    learned the re-run's norm, not the first run's as well."""
    from gradguard.rules import MedianMadRule

    def rule():
        return MedianMadRule(window=16, min_history=2)

    _, clean, *_ = train(tmp_path / "c", spike_rule=rule())
    fault = {"once_at": 7, "value": "spike"}  # judged by the rule (a NaN is never learned)
    _, faulty, records, _ = train(tmp_path / "f", spike_rule=rule(), fault=fault)
    assert records[7].kind == "spike"
    assert records[7].extra["rerun"]["verdict"] == "transient"
    assert faulty.spike_rule.state_dict() == clean.spike_rule.state_dict()


def test_replay_and_the_skip_list_read_re_runs(tmp_path, capsys):
    """The guard's own replay reproduces every decision (a transient step judged by its
    re-run); `replay --skip-list` lists the reproducible batch, not the transient one."""
    from gradguard.rules import MedianMadRule

    torch.manual_seed(0)
    fault = {"batch": 5, "value": math.nan}
    _, _guard, records, _ = train(
        tmp_path, fault=fault, spike_rule=MedianMadRule(window=16, min_history=2)
    )
    # and one transient fault in the same log
    log = read_log(tmp_path / "run.jsonl")
    assert [r.extra["rerun"]["verdict"] for r in records if "rerun" in r.extra] == ["reproducible"]
    # A transient spike: its record's kind is "spike", its action "step" (the re-run's).
    _, _, records2, _ = train(
        tmp_path / "t",
        fault={"once_at": 4, "value": "spike"},
        spike_rule=MedianMadRule(window=16, min_history=2),
    )
    assert (records2[4].kind, records2[4].action) == ("spike", "step")
    assert records2[4].extra["rerun"]["verdict"] == "transient"
    both = tmp_path / "both.jsonl"
    both.write_text(
        (tmp_path / "run.jsonl").read_text() + (tmp_path / "t" / "run.jsonl").read_text()
    )
    for run in read_log(both).runs:
        assert replay_guard(run).mismatches == []
    assert replay_guard(log.runs[0]).reproduced == len(records)
    assert main(["replay", str(tmp_path / "t" / "run.jsonl"), "--skip-list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"steps": [], "batches": []}
    assert main(["replay", str(tmp_path / "run.jsonl"), "--skip-list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["batches"] == [5] and listed["steps"] == [[5, 5]]


def test_resuming_from_a_checkpoint_keeps_the_skip_list(tmp_path):
    _, guard, *_ = train(tmp_path, steps=6, fault={"batch": 2, "value": math.inf})
    assert guard.rerun_skips == [2]
    state = json.loads(json.dumps(guard.state_dict()))  # plain data, as a checkpoint holds it
    model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
    resumed = SpikeGuard(model, torch.optim.SGD(model.parameters(), lr=0.1))
    resumed.load_state_dict(state)
    assert resumed.rerun_skips == [2]
    assert [resumed.skip_batch(b) for b in range(4)] == [False, False, True, False]


def test_the_verdict_and_its_tolerance():
    # bad again: reproducible, whatever the numbers
    assert judge_rerun((math.inf, 1.0), (2.0, 1.0), True, 0.0) == "reproducible"
    # healthy and different: transient
    assert judge_rerun((50.0, 1.0), (1.0, 0.9), False, 1e-4) == "transient"
    # healthy by the rules but the same step within rtol (a value that moved across a
    # threshold by a kernel's rounding): reproducible; with rtol = 0 it would be transient
    assert judge_rerun((10.0, 1.0), (10.0 * (1 - 1e-6), 1.0), False, 1e-4) == "reproducible"
    assert judge_rerun((10.0, 1.0), (10.0 * (1 - 1e-6), 1.0), False, 0.0) == "transient"
    assert judge_rerun((math.nan, None), (math.nan, None), False, 0.0) == "reproducible"


def test_bad_settings_are_refused():
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(InputError, match=r"rerun_rtol must be a finite number ≥ 0, got -1"):
        SpikeGuard(model, opt, rerun_rtol=-1)
    guard = SpikeGuard(model, torch.optim.Adam(model.parameters(), fused=True), sync=False)
    model(torch.ones(1, 2)).sum().backward()
    with pytest.raises(InputError, match=r"closure must be None with sync=False"):
        guard.step(1.0, closure=lambda: 1.0)


def test_re_runs_can_be_turned_off_with_one_note(tmp_path):
    """What a trainer integration does where it cannot re-run a whole step: one note, at
    set-up; closures passed later are not called, and bad steps are skipped as before."""
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    guard = SpikeGuard(model, opt, spike_rule=None)
    with pytest.warns(UserWarning, match="the reason") as seen:
        guard.rerun_unavailable("the reason")
    calls = []
    for _step in range(3):
        opt.zero_grad()
        model(torch.ones(1, 2)).sum().backward()
        model.weight.grad[0, 0] = math.nan
        record = guard.step(1.0, closure=lambda: calls.append(1) or 1.0)
        assert record.action in ("skip", "rollback") and "rerun" not in record.extra
    assert calls == [] and len(seen) == 1


def test_with_re_runs_off_a_closure_without_a_loss_still_makes_the_first_run():
    """``guard.step(closure=c)`` (no loss) asks the guard to run the step: with re-runs
    off it still does, once, and judges it — only the re-run is left out."""
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    guard = SpikeGuard(model, opt, spike_rule=None)
    with pytest.warns(UserWarning, match="the reason"):
        guard.rerun_unavailable("the reason")
    calls = []

    def closure(bad):
        calls.append(bad)
        opt.zero_grad()
        loss = model(torch.ones(1, 2)).sum()
        loss.backward()
        if bad:
            model.weight.grad[0, 0] = math.nan
        return loss

    ok = guard.step(closure=lambda: closure(False))
    assert ok.action == "step" and ok.loss is not None  # the closure's loss, measured
    bad = guard.step(closure=lambda: closure(True))
    assert bad.action == "skip" and "rerun" not in bad.extra
    assert calls == [False, True]  # each step run once: no re-run


def test_a_re_run_under_amp_unscales_its_own_gradients(tmp_path):
    """Under a GradScaler the re-run's gradients are scaled again; the guard makes the
    scaler ready to unscale them once more (its scale untouched), so a transient spike's
    re-run is the clean step, bit for bit."""
    from gradguard.rules import MedianMadRule

    def run(fault):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
        injector = Fault(model, once_at=5, value="spike") if fault else None
        rule = MedianMadRule(window=16, min_history=2)
        guard = SpikeGuard(model, opt, scaler=scaler, spike_rule=rule)
        records = []
        for step, (x, y) in enumerate(batches() * 2):
            if injector:
                injector.step = step

            def closure(x=x, y=y):
                opt.zero_grad(set_to_none=True)
                loss = torch.nn.functional.mse_loss(model(x), y)
                scaler.scale(loss).backward()
                return loss

            records.append(guard.step(closure=closure))
        return model, records, scaler

    clean, _, clean_scaler = run(False)
    model, records, scaler = run(True)
    assert records[5].kind == "spike" and records[5].extra["rerun"]["verdict"] == "transient"
    assert all(r.action == "step" for r in records)
    assert scaler.get_scale() == clean_scaler.get_scale()
    for p, q in zip(params(clean), params(model), strict=True):
        assert torch.equal(p, q)


def test_the_doctor_reads_the_verdicts(tmp_path):
    """`gradguard doctor` on a run with re-runs: which bad steps were transient and which
    reproducible; a transient step (taken with its re-run's gradients) is not a bad step
    the guard took."""
    from gradguard.doctor import diagnose

    _, _, _records, _ = train(tmp_path, fault={"once_at": 1, "value": math.nan})
    run = read_log(tmp_path / "run.jsonl").runs[0]
    d = diagnose(run)
    found = {f.key: f.evidence for f in d.findings}
    assert found["reruns"]["transient"] == [1] and found["reruns"]["reproducible"] == []
    assert "took_bad" not in found and "took_bad_ruined" not in found


class Faults:
    """Several faults at once: ``once``: loop steps whose first backward only gets
    ``value`` (transient); ``bad``: batches every backward of which gets it (reproducible)."""

    def __init__(self, model, once, bad, value):
        self.once, self.bad, self.value = set(once), set(bad), value
        self.step = self.batch = None
        self.done: set[int] = set()
        model[0].weight.register_hook(self._hook)

    def _hook(self, grad):
        once = self.step in self.once and self.step not in self.done
        if once:
            self.done.add(self.step)
        if once or self.batch in self.bad:
            grad = grad.clone()
            if self.value == "spike":
                return grad * 1e5
            grad.view(-1)[0] = self.value
        return grad


def faulty_run(path, once, bad, value, steps=12):
    """The module's MLP (with dropout) under a guard with re-runs, two epochs.

    Returns (params, log, guard, the loop step of each guard step)."""
    from gradguard.rules import MedianMadRule

    path.mkdir(parents=True)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(8, 32), torch.nn.Tanh(), torch.nn.Dropout(0.3), torch.nn.Linear(32, 1)
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    faults = Faults(model, once, bad, value)
    rule = MedianMadRule(window=16, min_history=2)
    guard = SpikeGuard(model, opt, clipper=1.0, spike_rule=rule, log=path / "run.jsonl")
    data, loop_steps = batches(), []
    for step in range(steps):
        b = step % N_BATCHES
        if guard.skip_batch(b):
            continue
        x, y = data[b]
        faults.step, faults.batch = step, b

        def closure(x=x, y=y):
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            return loss

        guard.step(batch=b, closure=closure)
        loop_steps.append(step)
    guard.close()
    return params(model), read_log(path / "run.jsonl"), guard, loop_steps


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    once=st.sets(st.integers(0, 11), max_size=3),
    bad=st.sets(st.integers(0, N_BATCHES - 1), max_size=2),
    value=st.sampled_from([math.inf, math.nan, "spike"]),
)
def test_transient_faults_cost_nothing_and_reproducible_ones_are_their_batches(
    tmp_path_factory, once, bad, value
):
    """Any mix of one-off faults and faults tied to batches: each one-off fault is
    transient and the run is the run without it, bit for bit (the oracle: the same run
    with the faults tied to batches alone); each bad batch is reproducible on its first
    step and never runs again; the guard's replay reproduces every decision, and the skip
    list lists the bad batches only."""
    from gradguard.skiplist import skip_list

    if value == "spike":  # the spike rule judges from its third step on
        once = {s for s in once if s >= 3}
        bad = {b for b in bad if b >= 3}
    base = tmp_path_factory.mktemp("prop")
    oracle, _, oracle_guard, oracle_steps = faulty_run(base / "oracle", set(), bad, value)
    got, log, guard, loop_steps = faulty_run(base / "faulty", once, bad, value)
    assert loop_steps == oracle_steps  # the same batches ran
    by_loop = {loop_steps[r.step]: r for r in log.steps}
    verdicts = {s: r.extra["rerun"]["verdict"] for s, r in by_loop.items() if "rerun" in r.extra}
    expected = {s: "transient" for s in once if s in by_loop and s % N_BATCHES not in bad}
    expected.update({s: "reproducible" for s in by_loop if s % N_BATCHES in bad})
    assert verdicts == expected
    assert all(by_loop[s].action == "step" for s, v in expected.items() if v == "transient")
    assert all(by_loop[s].action == "skip" for s, v in expected.items() if v != "transient")
    assert all(p.equal(q) for p, q in zip(got, oracle, strict=True))
    assert guard.spike_rule.state_dict() == oracle_guard.spike_rule.state_dict()  # once
    assert sorted(guard.rerun_skips) == sorted(bad)
    assert [s for s in loop_steps if s >= N_BATCHES and s % N_BATCHES in bad] == []
    assert replay_guard(log.runs[0]).mismatches == []
    assert set(skip_list(log.steps).batches) == bad
