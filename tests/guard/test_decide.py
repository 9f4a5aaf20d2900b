"""SpikeGuard.decide: the decision of step() without touching the optimizer or the scaler."""

from __future__ import annotations

import torch  # the [dev] extra installs torch: these tests always run

from gradguard.torch import NormClipper, SpikeGuard

from .conftest import backward, make_model


def _run(use_decide: bool, faults=(3, 7)):
    model = make_model(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    guard = SpikeGuard(model, opt, clipper=NormClipper(1.0), spike_rule=None)
    records = []
    for step in range(10):
        backward(model, seed=step)
        if step in faults:
            next(model.parameters()).grad.view(-1)[0] = float("nan")
        if use_decide:
            before = [p.detach().clone() for p in model.parameters()]
            steps_before = [s.get("step") for s in opt.state.values()]
            record = guard.decide(torch.tensor(1.0))
            # decide() never steps: the caller does, exactly when the action is "step".
            assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
            assert [s.get("step") for s in opt.state.values()] == steps_before
            if record.action == "step":
                opt.step()
        else:
            record = guard.step(torch.tensor(1.0))
        records.append(record)
    return model, records


def test_decide_then_step_equals_step():
    ours, a = _run(True)
    ref, b = _run(False)
    assert [r.action for r in a] == [r.action for r in b]
    assert [r.step for r in a if r.action != "step"] == [3, 7]
    assert [r.grad_norm_clipped for r in a] == [r.grad_norm_clipped for r in b]
    for p, q in zip(ours.parameters(), ref.parameters(), strict=True):
        assert torch.equal(p, q)


def test_decide_leaves_the_scaler_to_the_caller():
    model = make_model(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8)
    guard = SpikeGuard(model, opt, scaler=scaler, clipper=1.0, spike_rule=None)
    scaler.scale(torch.ones(()))  # creates the scale, as scaler.scale(loss) does
    backward(model, seed=0)
    for p in model.parameters():
        p.grad.mul_(scaler.get_scale())  # as scaler.scale(loss).backward() would
    record = guard.decide(torch.tensor(1.0))
    assert record.action == "step" and record.grad_norm_clipped <= 1.0 + 1e-6
    # Unscaled by decide(), but neither stepped nor updated: the caller does both.
    from torch.amp.grad_scaler import OptState

    assert scaler._per_optimizer_states[id(opt)]["stage"] is OptState.UNSCALED
    scaler.step(opt)
    scaler.update()
    assert scaler.get_scale() == 2.0**8
