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
