"""The guard in an Accelerate loop (one CPU process; DDP and FSDP2: test_distributed_trainers)."""

from __future__ import annotations

import accelerate  # the [dev] extra installs accelerate: these tests always run
import pytest
import torch

from gradguard.errors import InputError
from gradguard.integrations.accelerate import grad_norm, spike_guard
from gradguard.records import read_log

from .conftest import assert_same_state, load_example, state_of

ex = load_example("accelerate_spikeguard")


class Watch:
    def __init__(self) -> None:
        self.before: list[dict] = []
        self.after: list[dict] = []

    def __call__(self, when, model, optimizer):
        getattr(self, when).append(state_of(model, optimizer.optimizer))


def test_withheld_steps_and_schedule(tmp_path):
    _, _, clean_lrs = ex.train(tmp_path / "clean.jsonl", poison=set())
    watch = Watch()
    _, _, lrs = ex.train(tmp_path / "run.jsonl", poison={5, 12}, watch=watch)
    records = read_log(tmp_path / "run.jsonl").steps
    assert [r.step for r in records if r.action != "step"] == [5, 12]
    for s in (5, 12):
        assert records[s].kind == "nonfinite"
        assert_same_state(watch.before[s], watch.after[s])
    assert watch.after[-1]["opt"][0]["step"] == 28  # Adam counted the taken steps only
    taken = 0
    for s, lr in enumerate(lrs):
        assert lr == clean_lrs[taken]  # StepLR(5, 0.5) over taken steps
        taken += s not in (5, 12)


def test_accumulation_one_decision_per_step(tmp_path):
    ex.train(tmp_path / "run.jsonl", poison={3}, steps=8, accumulate=2)
    records = read_log(tmp_path / "run.jsonl").steps
    assert len(records) == 8
    assert [r.step for r in records if r.action != "step"] == [3]


def test_grad_norm_is_torchs_on_one_process():
    model = torch.nn.Linear(4, 3)
    model(torch.randn(5, 4)).square().sum().backward()
    expected = torch.nn.utils.get_total_norm([p.grad for p in model.parameters()])
    assert grad_norm(model) == pytest.approx(float(expected), rel=1e-6)
    assert isinstance(grad_norm(model), float)


def test_bad_input():
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(InputError, match=r"accelerator must be an accelerate\.Accelerator"):
        spike_guard(object(), model, opt)
    accelerator = accelerate.Accelerator(cpu=True)
    with pytest.raises(InputError, match="clipper must be a Clipper"):
        spike_guard(accelerator, model, opt, clipper="norm")


def test_example_runs(tmp_path, capsys):
    assert ex.main(tmp_path) == 0
    assert "skipped [5, 12]" in capsys.readouterr().out


def _scheduled_run(guarded: bool, poison=(), steps=12):
    """A loop whose LR scheduler is built on accelerate's wrapper and prepared (as the
    Trainer and accelerate's examples build it), stepped after every optimizer step."""
    import warnings

    accelerator = accelerate.Accelerator(cpu=True)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model, optimizer, loader = accelerator.prepare(model, optimizer, ex.make_loader())
    scheduler = accelerator.prepare(torch.optim.lr_scheduler.StepLR(optimizer, 3, gamma=0.5))
    guard = spike_guard(accelerator, model, optimizer, clipper=1.0) if guarded else None
    lrs = []
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")  # (accelerate hides the scheduler's warnings)
        for step, (x, y) in zip(range(steps), loader, strict=False):
            loss = torch.nn.functional.mse_loss(model(x).squeeze(-1), y)
            accelerator.backward(loss)
            if step in poison:
                next(model.parameters()).grad.view(-1)[0] = float("nan")
            if guard is not None:
                guard.step(loss)
            else:
                accelerator.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
            scheduler.step()  # unconditionally: a withheld step is a skipped one for it
            lrs.append(optimizer.param_groups[0]["lr"])
            optimizer.zero_grad()
    return model, lrs, [str(w.message) for w in seen]


def test_no_scheduler_order_warning_and_the_schedule_counts_taken_steps():
    """The guard steps accelerate's wrapper: torch's "lr_scheduler.step() before
    optimizer.step()" warning never fires in a clean guarded run (it did when only the
    optimizer inside the wrapper was stepped), the result is the unguarded run's bit for
    bit, and a withheld step does not advance a prepared scheduler."""
    plain, plain_lrs, plain_warned = _scheduled_run(guarded=False)
    guarded, lrs, warned = _scheduled_run(guarded=True)
    assert not [w for w in warned if "lr_scheduler.step()" in w], warned
    assert not [w for w in plain_warned if "lr_scheduler.step()" in w]
    assert lrs == plain_lrs
    for p, q in zip(plain.parameters(), guarded.parameters(), strict=True):
        assert torch.equal(p, q)
    _, faulty_lrs, warned = _scheduled_run(guarded=True, poison={1, 4})
    assert not [w for w in warned if "lr_scheduler.step()" in w]
    # StepLR(3, ½) over the taken steps: steps 1 and 4 withheld, so the halvings come later.
    taken = [sum(1 for s in range(i + 1) if s not in (1, 4)) for i in range(12)]
    assert faulty_lrs == [1e-2 * 0.5 ** (t // 3) for t in taken]


def _rerun_loop(fault_steps=(), once=True, accumulate=1, steps=8, rerun=False, said=None):
    """A guarded Accelerate loop passing a closure; ``fault_steps``: inf in the first layer's
    gradient (once: on the step's first backward only; else on every one, a re-run's too).
    ``said``: a list that gets, at each point (set-up, then each step), the warnings
    about re-runs said by then."""
    import warnings

    accelerator = accelerate.Accelerator(cpu=True, gradient_accumulation_steps=accumulate)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Dropout(0.2), torch.nn.Linear(16, 1)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model, optimizer, loader = accelerator.prepare(model, optimizer, ex.make_loader())
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        guard = spike_guard(
            accelerator, model, optimizer, clipper=1.0, spike_rule=None, rerun=rerun
        )
    notes = [str(w.message) for w in seen if "re-run" in str(w.message)]
    if said is not None:
        said.append(("set-up", notes))
    else:
        for w in seen:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    state = {"step": -1, "hit": set()}

    def poison(grad):
        s = state["step"]
        if s in fault_steps and not (once and s in state["hit"]):
            state["hit"].add(s)
            grad = grad.clone()
            grad.view(-1)[0] = float("inf")
        return grad

    accelerator.unwrap_model(model)[0].weight.register_hook(poison)
    records = []
    for _i, (x, y) in zip(range(steps * accumulate), loader, strict=False):
        state["step"] = len(records)

        def closure(x=x, y=y):
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x).squeeze(-1), y)
            accelerator.backward(loss)
            return loss

        with accelerator.accumulate(model):
            loss = torch.nn.functional.mse_loss(model(x).squeeze(-1), y)
            accelerator.backward(loss)
            if accelerator.sync_gradients:
                with warnings.catch_warnings(record=True) as seen:
                    warnings.simplefilter("always")
                    records.append(guard.step(loss, batch=len(records), closure=closure))
                notes = [str(w.message) for w in seen if "re-run" in str(w.message)]
                if said is not None:
                    said.append((len(records) - 1, notes))
                else:
                    for w in seen:
                        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            optimizer.zero_grad()
    guard.close()
    return model, records


def test_rerun_in_an_accelerate_loop():
    clean, records = _rerun_loop()
    model, records = _rerun_loop(fault_steps={3})
    assert [r.action for r in records] == ["step"] * 8
    assert records[3].extra["rerun"]["verdict"] == "transient"
    for p, q in zip(clean.parameters(), model.parameters(), strict=True):
        assert torch.equal(p, q)  # dropout drew the same masks: nothing lost
    _, records = _rerun_loop(fault_steps={3}, once=False)
    assert records[3].action == "skip" and records[3].extra["rerun"]["verdict"] == "reproducible"


def test_rerun_under_accumulation_is_refused_once():
    with pytest.warns(
        UserWarning, match=r"Accelerate: bad steps are not re-run — it accumulates 2"
    ) as seen:
        _, records = _rerun_loop(fault_steps={2}, accumulate=2, steps=4)
    assert len([w for w in seen if "re-run" in str(w.message)]) == 1
    assert records[2].action == "skip" and "rerun" not in records[2].extra


def test_rerun_under_accumulation_is_said_at_set_up():
    """spike_guard(..., rerun=True) with the accelerator's gradient_accumulation_steps > 1:
    the one line naming the reason comes at set-up, before any step, and never again;
    with one micro-batch per step nothing is said and the re-run happens."""
    said: list = []
    _, records = _rerun_loop(fault_steps={2}, accumulate=2, steps=4, rerun=True, said=said)
    when = [(at, notes) for at, notes in said if notes]
    assert [at for at, _ in when] == ["set-up"]
    assert len(when[0][1]) == 1
    assert when[0][1][0].startswith(
        "Accelerate: bad steps are not re-run — it accumulates 2 micro-batches"
    )
    assert records[2].action == "skip" and "rerun" not in records[2].extra
    said = []
    _, records = _rerun_loop(fault_steps={2}, steps=4, rerun=True, said=said)
    assert all(not notes for _, notes in said)
    assert records[2].action == "step" and records[2].extra["rerun"]["verdict"] == "transient"
    with pytest.raises(InputError, match="rerun must be True or False"):
        spike_guard(
            accelerate.Accelerator(cpu=True),
            torch.nn.Linear(2, 1),
            torch.optim.SGD(torch.nn.Linear(2, 1).parameters()),
            rerun="yes",
        )
