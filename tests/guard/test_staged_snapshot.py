"""A snapshot staged at the start of a step: nothing left behind, and a checkpoint taken
while it waits for its verdict resumes to the same decisions as the run never stopped."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from gradguard.torch import SpikeGuard

STEPS = 30
BAD = (18, 19)  # two non-finite steps in a row: a rollback (rollback_after=2)


def _setup():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8, growth_interval=1000)
    return model, opt, scaler


def _step(guard, model, opt, scaler, step, overflow_at):
    opt.zero_grad(set_to_none=True)
    g = torch.Generator().manual_seed(step)
    x, y = torch.randn(16, 4, generator=g), torch.randn(16, 1, generator=g)
    loss = torch.nn.functional.mse_loss(model(x), y)
    if step in BAD:  # a non-finite loss: a fault under AMP too (not the scaler's overflow)
        loss = loss * math.nan
    scaler.scale(loss).backward()
    if step == overflow_at:  # the scaler's own overflow: an amp_skip, judged by the next step
        model[0].weight.grad[0, 0] = math.inf
    guard.step(loss, batch=step)


def _guard(model, opt, scaler, sync, path):
    return SpikeGuard(model, opt, scaler=scaler, sync=sync, spike_rule=None,
                      rollback_after=2, snapshot_every=5, snapshot_path=path)  # fmt: skip


@pytest.mark.parametrize("sync", [True, False])
@pytest.mark.parametrize("where", ["memory", "disk"])
def test_a_checkpoint_while_a_snapshot_is_staged_resumes_to_the_same_decisions(
    tmp_path, sync, where
):
    # Find the step at which a snapshot is staged (past the first): the overflow goes there.
    model, opt, scaler = _setup()
    path = None if where == "memory" else tmp_path / "full" / "snap.pt"
    guard = _guard(model, opt, scaler, sync, path)
    overflow_at = None
    full = []
    guard.hooks.append(full.append)
    for step in range(STEPS):
        if overflow_at is None and step > 12 and guard._snapshot_due:
            overflow_at = step
        _step(guard, model, opt, scaler, step, overflow_at)
    guard.close()
    assert overflow_at is not None and full[overflow_at].kind == "amp_skip"
    rollback = [r for r in full if r.action == "rollback"]
    assert rollback and rollback[0].extra["restored_step"] == overflow_at  # committed by +1
    final = [p.detach().clone() for p in model.parameters()]

    model, opt, scaler = _setup()
    path = None if where == "memory" else tmp_path / "resumed" / "snap.pt"
    guard = _guard(model, opt, scaler, sync, path)
    for step in range(overflow_at + 1):  # stop right after the overflow: the snapshot waits
        _step(guard, model, opt, scaler, step, overflow_at)
    checkpoint = copy.deepcopy({
        "model": model.state_dict(), "opt": opt.state_dict(), "scaler": scaler.state_dict(),
        "guard": guard.state_dict(snapshot=True),
    })  # fmt: skip
    model, opt, scaler = _setup()
    model.load_state_dict(checkpoint["model"])
    opt.load_state_dict(checkpoint["opt"])
    scaler.load_state_dict(checkpoint["scaler"])
    guard = _guard(model, opt, scaler, sync, path)
    guard.load_state_dict(checkpoint["guard"])
    resumed = []
    guard.hooks.append(resumed.append)
    for step in range(overflow_at + 1, STEPS):
        _step(guard, model, opt, scaler, step, overflow_at)
    guard.close()
    for a, b in zip(full[overflow_at + 1 :], resumed, strict=True):
        assert (a.action, a.kind, a.extra.get("restored_step")) == (
            b.action, b.kind, b.extra.get("restored_step")
        ), a.step  # fmt: skip
    for p, q in zip(final, model.parameters(), strict=True):
        assert torch.equal(p, q)
    if path is not None:
        assert sorted(p.name for p in path.parent.iterdir()) == ["snap.pt"]


def test_a_step_that_raises_leaves_no_pending_file(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(16, 4), torch.randn(16, 1)
    path = tmp_path / "snap.pt"

    def closure():
        raise RuntimeError("the data loader died during the re-run")

    def run(guard):
        with pytest.raises(RuntimeError, match="data loader"):
            for i in range(40):
                opt.zero_grad()
                loss = (model(x) - y).square().mean()
                loss.backward()
                if i == 25:
                    model.weight.grad.fill_(math.nan)
                guard.step(loss, batch=i, closure=closure)

    guard = SpikeGuard(model, opt, snapshot_path=path)
    run(guard)
    assert guard.snapshot.pending_step == 25  # staged at its start; the step never finished
    checkpoint = copy.deepcopy(guard.state_dict(snapshot=True))
    guard.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snap.pt"]
    assert guard.snapshot.pending_step is None and guard.snapshot.step == 0
    # Left behind by a run that was killed (no close): a new guard's checkpoint removes it
    # when the checkpoint does not refer to it.
    guard = SpikeGuard(model, opt, snapshot_path=path)
    run(guard)
    stale = SpikeGuard(model, opt, snapshot_path=path)
    stale.load_state_dict(
        {**checkpoint, "snapshot": {**checkpoint["snapshot"], "pending_step": None}}
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snap.pt"]
    stale.close()
