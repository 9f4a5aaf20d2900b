"""Guard an Accelerate loop: a small MLP regression, with a NaN gradient at steps 5 and 12.

$ python examples/accelerate_spikeguard.py                 # CPU, one process, seconds
$ torchrun --nproc_per_node 2 examples/accelerate_spikeguard.py   # DDP, 2 CPU processes

``guard.step(loss)`` replaces ``optimizer.step()``: the poisoned steps are withheld
(parameters and Adam's state untouched) and the LR scheduler is stepped only for taken
steps. The records land in ``accelerate_run.jsonl``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import torch
from accelerate import Accelerator

from gradguard.integrations.accelerate import spike_guard
from gradguard.records import read_log


def make_loader(n: int = 512, batch_size: int = 32, seed: int = 0):
    """Return a loader of ``x`` (n, 8) and ``y = sin(x) · w`` (n,): generated data."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    y = torch.sin(x) @ torch.linspace(-1, 1, 8)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=batch_size)


def train(log: Path, poison: set[int], steps: int = 30, accumulate: int = 1, watch=None):
    """Train with the guard; return (model, optimizer, the LRs seen at each step).

    ``watch(when, model, optimizer)``, if given, is called with ``"before"`` and
    ``"after"`` around every ``guard.step`` (the tests compare states there).
    """
    accelerator = Accelerator(cpu=True, gradient_accumulation_steps=accumulate)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=5, gamma=0.5)
    loader = make_loader()
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    guard = spike_guard(accelerator, model, optimizer, clipper=1.0, log=log, scheduler=scheduler)
    lrs, step = [], 0
    while step < steps:
        for x, y in loader:
            with accelerator.accumulate(model):
                loss = torch.nn.functional.mse_loss(model(x).squeeze(-1), y)
                accelerator.backward(loss)
                if accelerator.sync_gradients:  # the step's last micro-batch
                    if step in poison:
                        next(model.parameters()).grad.view(-1)[0] = float("nan")
                    lrs.append(optimizer.param_groups[0]["lr"])
                    if watch:
                        watch("before", model, optimizer)
                    record = guard.step(loss)  # in place of optimizer.step()
                    if watch:
                        watch("after", model, optimizer)
                    if record.action == "step":
                        scheduler.step()  # the schedule counts taken steps
                    step += 1
                optimizer.zero_grad()
            if step >= steps:
                break
    guard.close()
    return model, optimizer, lrs


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    log = out / "accelerate_run.jsonl"
    train(log, poison={5, 12})
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # the first process writes the log
    records = read_log(log).steps
    skipped = [r.step for r in records if r.action != "step"]
    print(f"{len(records)} steps, skipped {skipped}, last loss {records[-1].loss:.4f}")
    return 0 if {5, 12} <= set(skipped) else 1


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())))
