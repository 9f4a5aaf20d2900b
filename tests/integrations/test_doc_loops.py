"""The loop examples of the guard page and the trainer pages, run as written.

Each ``<!-- name -->``-marked Python block is executed with the names it leaves to the
reader (``model``, ``optimizer``, ``loader``, …) bound to a small model on generated data;
the tests then check what the surrounding text says of it: one record per optimizer step,
the step's loss (the sum of the micro-batches' shares) recorded, a bad step withheld and
the schedule waiting for it, the log closed.
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import pytest
import torch

from gradguard.records import read_log

from .conftest import load_example

DOCS = Path(__file__).resolve().parents[2] / "docs"


def block(page: str, marker: str) -> str:
    """The Python block after ``<!-- marker -->`` on ``docs/page``."""
    text = (DOCS / page).read_text(encoding="utf-8")
    match = re.search(rf"<!-- {marker} -->\s*```python\n(.*?)```", text, re.S)
    assert match, f"no python block after <!-- {marker} --> in {page}"
    return match.group(1)


def run(page: str, marker: str, namespace: dict) -> dict:
    exec(compile(block(page, marker), f"{page}:{marker}", "exec"), namespace)
    return namespace


class Losses:
    """An MSE loss that remembers each micro-batch's value, and is NaN on the calls listed."""

    def __init__(self, nan_at: set[int] = frozenset()) -> None:
        self.values: list[float] = []
        self.nan_at = nan_at

    def __call__(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = torch.nn.functional.mse_loss(out.float().squeeze(-1), y)
        if len(self.values) in self.nan_at:
            loss = loss * math.nan
        self.values.append(float(loss.detach()))
        return loss


def setting(n: int = 64, batch_size: int = 4) -> dict:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 8, generator=g)
    data = torch.utils.data.TensorDataset(x, torch.sin(x).sum(-1))
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.9)
    return {"model": model, "optimizer": optimizer, "loader": loader, "scheduler": scheduler}


def shares(values: list[float], n: int = 4) -> list[float]:
    """Each optimizer step's loss: the sum of its micro-batches' shares (loss / n)."""
    return [sum(v / n for v in values[i : i + n]) for i in range(0, len(values), n)]


def test_the_guard_pages_accumulation_loop(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    loss_fn = Losses(nan_at={9})  # micro-batch 9: in optimizer step 2
    ns = run("guard/index.md", "guard-accumulation", {**setting(), "loss_fn": loss_fn, "steps": 4})
    records = read_log(tmp_path / "run.jsonl").steps
    assert [r.action for r in records] == ["step", "step", "skip", "step"]
    expected = shares(loss_fn.values)
    for r, e in zip(records, expected, strict=True):
        assert (math.isnan(r.loss) and math.isnan(e)) or r.loss == pytest.approx(e, rel=1e-6)
    assert records[2].extra["batch"] == 2  # batch=step: the skipped step names its batch
    assert ns["scheduler"].last_epoch == 3  # three taken steps
    assert ns["guard"].log._fd is None  # guard.close() closed it


def _accelerate(marker: str, loss_fn, tmp_path, monkeypatch, **extra):
    monkeypatch.chdir(tmp_path)
    imports = {}
    exec(
        compile(
            block("integrations/accelerate.md", "accelerate-accumulate").split("\n\n")[0],
            "imports",
            "exec",
        ),
        imports,
    )
    ns = {**imports, **setting(), "loss_fn": loss_fn, **extra}
    run("integrations/accelerate.md", marker, ns)
    return ns, read_log(tmp_path / "run.jsonl").steps


@pytest.mark.parametrize("marker", ["accelerate-accumulate", "accelerate-by-hand"])
def test_the_accelerate_pages_loops(tmp_path, monkeypatch, capfd, marker):
    loss_fn = Losses(nan_at={5})  # micro-batch 5: in optimizer step 1
    capfd.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ns, records = _accelerate(marker, loss_fn, tmp_path, monkeypatch)
    # The page's loop as written prints nothing: no warning, no note of the guard's.
    assert [str(w.message) for w in caught] == []
    assert capfd.readouterr() == ("", "")
    assert len(records) == 4  # 16 micro-batches, 4 per optimizer step
    assert [r.action for r in records] == ["step", "skip", "step", "step"]
    for r, e in zip(records, shares(loss_fn.values), strict=True):
        assert (math.isnan(r.loss) and math.isnan(e)) or r.loss == pytest.approx(e, rel=1e-6)
    # The prepared scheduler counted the taken steps only (the withheld one was "skipped").
    assert ns["scheduler"].scheduler.last_epoch == 3
    assert ns["guard"].log._fd is None


def test_a_guarded_script_that_clipped_nothing_is_the_unguarded_one(tmp_path, monkeypatch):
    """The page's advice for a script without clipping: clipper=None, bit for bit the same."""
    ns, _ = _accelerate("accelerate-by-hand", Losses(), tmp_path, monkeypatch)
    plain = setting()
    model, optimizer, loader = plain["model"], plain["optimizer"], plain["loader"]
    loss_fn = Losses()
    for i, (x, y) in enumerate(loader):
        (loss_fn(model(x), y) / 4).backward()
        if (i + 1) % 4 == 0:
            optimizer.step()
            plain["scheduler"].step()
            optimizer.zero_grad()
    for p, q in zip(model.parameters(), ns["model"].parameters(), strict=True):
        assert torch.equal(p, q)


def test_the_lightning_pages_loop(tmp_path, monkeypatch):
    ex = load_example("lightning_spikeguard")
    monkeypatch.chdir(tmp_path)
    model = ex.SequenceSum()
    seen = []
    model.on_before_backward = lambda loss: seen.append(float(loss))
    ns = {"model": model, "loader": ex.make_loader(n=128, batch_size=8), "steps": 3}
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's notes on a CPU-only machine
        run("integrations/lightning.md", "lightning-accumulate", ns)
    records = read_log(tmp_path / "run.jsonl").steps
    assert len(records) == 3 and ns["trainer"].global_step == 3
    # Lightning backpropagates each micro-batch's share (loss / 4): the record is their sum.
    assert [r.loss for r in records] == pytest.approx(
        [sum(seen[i : i + 4]) for i in range(0, 12, 4)],
        rel=1e-2,  # (bf16 autocast)
    )
    assert ns["guard"].guard.log._fd is None


def test_the_transformers_pages_loop(tmp_path, monkeypatch):
    ex = load_example("transformers_spikeguard")
    monkeypatch.chdir(tmp_path)
    ns = {"model": ex.make_model(), "data": ex.Counting(n=128), "steps": 3}
    run("integrations/transformers.md", "transformers-accumulate", ns)
    records = read_log(tmp_path / "run.jsonl").steps
    assert len(records) == 3 and ns["trainer"].state.global_step == 3
    assert all(math.isfinite(r.loss) for r in records)
    from gradguard.integrations.transformers import SpikeGuardCallback

    (cb,) = [
        c for c in ns["trainer"].callback_handler.callbacks if isinstance(c, SpikeGuardCallback)
    ]
    assert cb.guard.log._fd is None
