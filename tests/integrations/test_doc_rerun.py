"""The re-run examples of docs/guard/rerun.md and of the trainer pages, run as written.

Each block runs with a fault injected from outside, on the forward/backward of one layer:
one that fires once (a transient fault: the re-run is healthy) or one tied to the batch a
given forward saw (a reproducible one: every forward on that batch, the re-run's included,
gets it). The tests check what the pages say of the block: a transient step taken with the
re-run's gradients (the clean run, bit for bit), a reproducible one skipped and its batch
skipped when it comes again.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from gradguard.records import read_log

from .conftest import load_example
from .test_doc_loops import Losses, block, run, setting


class Fault:
    """An inf in one gradient entry of ``param``, on the backward after chosen forwards of
    ``watch``: the forward numbered ``once_at`` only (transient), or every forward on the
    input the forward numbered ``batch_at`` saw (reproducible: the batch carries it)."""

    def __init__(self, watch, param, *, once_at=None, batch_at=None):
        self.once_at, self.batch_at = once_at, batch_at
        self.calls, self.bad, self.hit, self.fired = 0, None, False, 0
        watch.register_forward_pre_hook(self._forward)
        param.register_hook(self._backward)

    def _forward(self, module, args):
        x = args[0]
        if self.calls == self.batch_at:
            self.bad = x.detach().clone()
        same = self.bad is not None and x.shape == self.bad.shape and torch.equal(x, self.bad)
        self.hit = self.calls == self.once_at or same
        self.calls += 1

    def _backward(self, grad):
        if not self.hit:
            return grad
        self.fired += 1
        grad = grad.clone()
        grad.view(-1)[0] = math.inf
        return grad


def dropout_setting(n=64, batch_size=4):
    """The doc loops' setting with dropout in the model: a re-run must draw the same masks."""
    ns = setting(n, batch_size)
    torch.manual_seed(0)
    ns["model"] = torch.nn.Sequential(
        torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Dropout(0.3), torch.nn.Linear(16, 1)
    )
    ns["optimizer"] = torch.optim.SGD(ns["model"].parameters(), lr=0.05)
    ns["scheduler"] = torch.optim.lr_scheduler.StepLR(ns["optimizer"], step_size=1, gamma=0.9)
    return ns


def guard_page(tmp_path, monkeypatch, marker, fault=None, **names):
    where = tmp_path / (f"{marker}-{sorted(fault.items())}" if fault else f"{marker}-clean")
    where.mkdir()
    monkeypatch.chdir(where)
    ns = {**dropout_setting(), "loss_fn": Losses(), **names}
    injector = None
    if fault:
        injector = Fault(ns["model"][0], ns["model"][0].weight, **fault)
    torch.manual_seed(1)  # the dropout masks: the same in every run
    run("guard/rerun.md", marker, ns)
    return ns, read_log(where / "run.jsonl").steps, injector


def same_params(a, b):
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def verdicts(records):
    return {r.step: r.extra["rerun"]["verdict"] for r in records if "rerun" in r.extra}


def test_the_rerun_pages_loop(tmp_path, monkeypatch):
    clean, records, _ = guard_page(tmp_path, monkeypatch, "rerun-loop", epochs=2)
    assert [r.action for r in records] == ["step"] * 32 and verdicts(records) == {}
    ns, records, fault = guard_page(tmp_path, monkeypatch, "rerun-loop", {"once_at": 3}, epochs=2)
    assert fault.fired == 1 and [r.action for r in records] == ["step"] * 32
    assert verdicts(records) == {3: "transient"} and records[3].extra["batch"] == 3
    assert same_params(clean["model"], ns["model"])  # nothing lost, dropout's masks alike
    ns, records, fault = guard_page(tmp_path, monkeypatch, "rerun-loop", {"batch_at": 5}, epochs=2)
    # Batch 5 is bad on its step and its re-run; the next epoch never runs it.
    assert fault.fired == 2 and len(records) == 31
    assert [r.step for r in records if r.action != "step"] == [5]
    assert verdicts(records) == {5: "reproducible"} and ns["guard"].rerun_skips == [5]
    assert ns["guard"].log._fd is None


def test_the_rerun_pages_accumulation_loop(tmp_path, monkeypatch):
    clean, records, _ = guard_page(tmp_path, monkeypatch, "rerun-accumulation", steps=4)
    assert [r.action for r in records] == ["step"] * 4
    # the step's loss is the shares' sum: the mean of its micro-batches' losses
    for r, i in zip(records, range(0, 16, 4), strict=True):
        assert r.loss == pytest.approx(sum(clean["loss_fn"].values[i : i + 4]) / 4, rel=1e-6)
    ns, records, _ = guard_page(
        tmp_path, monkeypatch, "rerun-accumulation", {"once_at": 6}, steps=4
    )
    assert [r.action for r in records] == ["step"] * 4 and verdicts(records) == {1: "transient"}
    assert same_params(clean["model"], ns["model"])  # every micro-batch was re-run
    ns, records, fault = guard_page(
        tmp_path, monkeypatch, "rerun-accumulation", {"batch_at": 9}, steps=4
    )
    assert [r.action for r in records] == ["step", "step", "skip", "step"]
    assert verdicts(records) == {2: "reproducible"} and fault.fired == 2
    assert ns["scheduler"].last_epoch == 3  # three taken steps


def test_the_accelerate_pages_rerun_loop(tmp_path, monkeypatch):
    from .test_doc_loops import _accelerate

    def go(name, **fault):
        (tmp_path / name).mkdir()
        ns = setting()
        if fault:
            Fault(ns["model"][0], ns["model"][0].weight, **fault)
        model = ns["model"]
        out, records = _accelerate("accelerate-rerun", Losses(), tmp_path / name, monkeypatch, **ns)
        return model, out, records

    clean, _, records = go("clean")
    assert [r.action for r in records] == ["step"] * 16
    model, _, records = go("transient", once_at=3)
    assert [r.action for r in records] == ["step"] * 16 and verdicts(records) == {3: "transient"}
    assert same_params(clean, model)
    _, ns, records = go("reproducible", batch_at=5)
    assert [r.step for r in records if r.action != "step"] == [5]
    assert verdicts(records) == {5: "reproducible"} and ns["guard"].rerun_skips == [5]
    assert ns["scheduler"].scheduler.last_epoch == 15  # the skipped step did not count


def test_the_lightning_pages_rerun(tmp_path, monkeypatch):
    ex = load_example("lightning_spikeguard")

    def go(name, **fault):
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)
        torch.manual_seed(0)
        model = ex.SequenceSum()
        if fault:
            Fault(model.rnn, model.rnn.weight_ih_l0, **fault)
        ns = {"model": model, "loader": ex.make_loader(n=128, batch_size=8), "steps": 6}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Lightning's notes on a CPU-only machine
            run("integrations/lightning.md", "lightning-rerun", ns)
        return model, read_log(tmp_path / name / "run.jsonl").steps

    clean, records = go("clean")
    assert [r.action for r in records] == ["step"] * 6
    model, records = go("transient", once_at=2)
    assert [r.action for r in records] == ["step"] * 6 and verdicts(records) == {2: "transient"}
    assert same_params(clean, model)
    _, records = go("reproducible", batch_at=4)
    assert [r.step for r in records if r.action != "step"] == [4]
    assert verdicts(records) == {4: "reproducible"}


def test_the_transformers_pages_rerun(tmp_path, monkeypatch):
    ex = load_example("transformers_spikeguard")

    def go(name, **fault):
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)
        model = ex.make_model()
        wte = model.transformer.wte
        if fault:
            Fault(wte, wte.weight, **fault)
        ns = {"model": model, "data": ex.Counting(n=128), "steps": 5}
        run("integrations/transformers.md", "transformers-rerun", ns)
        return model, read_log(tmp_path / name / "run.jsonl").steps

    clean, records = go("clean")
    assert [r.action for r in records] == ["step"] * 5
    model, records = go("transient", once_at=2)
    assert [r.action for r in records] == ["step"] * 5 and verdicts(records) == {2: "transient"}
    assert same_params(clean, model)
    _, records = go("reproducible", batch_at=3)
    assert [r.step for r in records if r.action != "step"] == [3]
    assert verdicts(records) == {3: "reproducible"}


def test_every_rerun_block_is_tested():
    """Each marked block on the pages that mention re-runs is one of those run above."""
    import re

    from .test_doc_loops import DOCS

    tested = {
        "rerun-loop",
        "rerun-accumulation",
        "accelerate-rerun",
        "lightning-rerun",
        "transformers-rerun",
    }
    for page in (
        "guard/rerun.md",
        "integrations/accelerate.md",
        "integrations/lightning.md",
        "integrations/transformers.md",
    ):
        text = (DOCS / page).read_text(encoding="utf-8")
        markers = set(re.findall(r"<!-- ([a-z-]+) -->\s*```python", text))
        for m in markers:
            if "rerun" in m:
                assert m in tested, f"{page}: block {m} is not run by a test"
        assert {m for m in markers if "rerun" in m} <= tested
    assert all(block(page, m) for page, m in [("guard/rerun.md", "rerun-loop")])
