"""Loops that carry state across batches: the documented pattern, state=, GuardError."""

from __future__ import annotations

import math

import pytest
import torch
from workloads import WORKLOADS, train

from gradguard.torch import SpikeGuard


def _guard(**kwargs):
    kwargs = {"rollback_after": 3, **kwargs}  # (three NaN batches: a rollback at the third)

    def make(model, opt, sched):
        return SpikeGuard(model, opt, scheduler=sched, clipper=0.25, snapshot_every=10, **kwargs)

    return make


def test_three_nan_batches_in_a_row_recover_with_the_documented_pattern():
    # NaN in the forward pass: the loss, the gradients and the carried hidden state.
    w = WORKLOADS["lstm-lm"]
    clean = train(w, seed=0, steps=120)
    # (at 81: the snapshot staged at step 80 is kept, step 80 being healthy)
    run = train(w, seed=0, steps=120, guard=_guard(), fault="nan3", fault_at=81)
    assert run.error is None
    assert run.actions[81:84] == ["skip", "skip", "rollback"]
    assert run.records[83].extra["restored_step"] == 80
    assert run.actions[84:] == ["step"] * 36
    assert abs(run.eval_loss - clean.eval_loss) < 0.05


def test_the_pattern_as_a_hook_does_exactly_what_the_loop_does():
    # For loops that never see guard.step's return value (a trainer callback): the same
    # reset from guard.hooks gives the same run, batch for batch.
    w = WORKLOADS["lstm-lm"]
    by_loop = train(w, seed=0, steps=100, guard=_guard(), fault="nan3", fault_at=70)
    by_hook = train(w, seed=0, steps=100, guard=_guard(), fault="nan3", fault_at=70, carry="hook")
    assert by_hook.actions[70:73] == ["skip", "skip", "rollback"]
    assert by_hook.actions == by_loop.actions
    assert by_hook.eval_loss == by_loop.eval_loss
    assert by_hook.losses[:70] == by_loop.losses[:70] and by_hook.losses[73:] == by_loop.losses[73:]
    assert all(math.isnan(x) for x in by_hook.losses[70:73] + by_loop.losses[70:73])


def test_without_it_guard_error_names_carried_state():
    w = WORKLOADS["lstm-lm"]
    run = train(
        w,
        seed=0,
        steps=120,
        guard=_guard(max_rollbacks=2),
        fault="nan",
        fault_at=80,
        carry="ignore",
    )
    assert run.error is not None
    message = run.error
    # what it saw, then the likely causes, carried state first
    assert "bad steps in a row" in message and "nonfinite" in message
    assert "carried" in message and "hidden state" in message
    assert "state=" in message and "carried-state" in message


class EmaTeacher:
    """An EMA of the model's parameters, kept by the loop (not in the model)."""

    def __init__(self, model: torch.nn.Module, decay: float = 0.9) -> None:
        self.decay = decay
        self.params = [p.detach().clone() for p in model.parameters()]

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        for e, p in zip(self.params, model.parameters(), strict=True):
            e.mul_(self.decay).add_(p.detach(), alpha=1 - self.decay)

    def state_dict(self) -> dict:
        return {"params": [e.clone() for e in self.params]}

    def load_state_dict(self, state: dict) -> None:
        for e, s in zip(self.params, state["params"], strict=True):
            e.copy_(s)


def test_state_argument_joins_the_snapshot():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    teacher = EmaTeacher(model)
    guard = SpikeGuard(
        model, opt, clipper=1.0, state={"teacher": teacher}, snapshot_every=1, rollback_after=2
    )
    x, y = torch.randn(16, 3), torch.randn(16, 1)
    kept = None
    for step in range(8):
        opt.zero_grad(set_to_none=True)
        loss = (model(x) - y).square().mean()
        if step in (5, 6):
            loss = loss * float("nan")
        loss.backward()
        if step == 4:
            kept = [e.clone() for e in teacher.params]
        record = guard.step(loss)
        if record.action == "step":
            teacher.update(model)
        if step == 5:
            teacher.update(model)  # a loop that moves the teacher on a skip, by mistake
        if record.action == "rollback":
            # the snapshot staged as step 5 started was dropped (step 5 was bad): the one
            # of step 4's start is restored, the teacher as it was then
            assert all(torch.equal(e, k) for e, k in zip(teacher.params, kept, strict=True))
    assert guard.rollbacks == 1 and guard.snapshot.step == 4


def test_state_argument_is_checked():
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"state\['h'\] must be an object with state_dict"):
        SpikeGuard(model, opt, state={"h": torch.zeros(3)})


def test_a_hand_written_update_is_refused_with_the_way_out():
    model = torch.nn.Linear(2, 1)
    with pytest.raises(ValueError, match=r"optimizer must be a torch\.optim\.Optimizer.*SGD"):
        SpikeGuard(model, None)  # type: ignore[arg-type]


def _doc_blocks() -> list[str]:
    import re
    from pathlib import Path

    doc = Path(__file__).resolve().parents[2] / "docs" / "guard" / "carried-state.md"
    return re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)


def _doc_batches(ns: dict, n: int, nan_at: tuple[int, ...]):
    """Token chunks ``(bptt, batch)`` in order; NaN in the forward pass of ``nan_at``."""
    g = torch.Generator().manual_seed(1)
    stream = torch.randint(0, 128, (n * 10 + 1, ns["batch_size"]), generator=g)
    handle = None
    for i in range(n):
        if i == nan_at[0]:  # the model exists by now: poison the encoder's output
            handle = ns["model"].encoder.register_forward_hook(lambda m, a, out: out * math.nan)
        if handle is not None and i == nan_at[-1] + 1:
            handle.remove()
        yield stream[i * 10 : (i + 1) * 10], stream[i * 10 + 1 : (i + 1) * 10 + 1]


def _run_doc_example(tmp_path, monkeypatch, by_hook: bool, nan_at: tuple[int, ...]):
    loop, hook = _doc_blocks()[:2]
    ns: dict = {"batch_size": 4, "batches": ()}
    tmp_path.mkdir()
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    if by_hook:
        exec(compile(loop, "carried-state.md", "exec"), ns)  # the model; no batches yet
        ns["batches"] = _doc_batches(ns, 24, nan_at)
        exec(compile(hook, "carried-state.md", "exec"), ns)
    else:
        ns["batches"] = _doc_batches(ns, 24, nan_at)
        exec(compile(loop, "carried-state.md", "exec"), ns)
    return ns


@pytest.mark.parametrize(
    ("nan_at", "acted"),
    [((5,), ["skip"]), ((5, 6, 7), ["skip", "skip", "skip"])],
    ids=["one-nan", "three-nan"],
)
def test_the_documented_lstm_examples_run_and_agree(tmp_path, monkeypatch, nan_at, acted):
    # The page's two examples as written (the loop's `if record.action` lines, and the
    # hook), on NaN batches that reach the hidden state: a skip must restore the state
    # from before the batch, a rollback must start it afresh.
    from gradguard.records import read_log

    by_loop = _run_doc_example(tmp_path / "loop", monkeypatch, False, nan_at)
    by_hook = _run_doc_example(tmp_path / "hook", monkeypatch, True, nan_at)
    logs = [read_log(tmp_path / d / "lm.jsonl").steps for d in ("loop", "hook")]
    actions = [[r.action for r in log] for log in logs]
    assert actions[0] == ["step"] * 5 + acted + ["step"] * (19 - len(acted))
    assert actions[1] == actions[0]
    after = 5 + len(acted)
    assert all(math.isfinite(r.loss) for log in logs for r in log[after:])  # state recovered
    pairs = zip(by_loop["model"].parameters(), by_hook["model"].parameters(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
