"""Guard a Lightning run: an LSTM learns to sum a sequence; two steps get a NaN gradient.

$ python examples/lightning_spikeguard.py          # CPU, a few seconds

The callback measures every optimizer step's gradients, clips them, and withholds the
two poisoned steps (parameters, Adam's moments and its step counter untouched); the
records land in ``lightning_run.jsonl`` (``gradguard report lightning_run.jsonl``).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import lightning.pytorch as pl
import torch

from gradguard.integrations.lightning import SpikeGuardCallback
from gradguard.records import read_log
from gradguard.torch import NormClipper

T, HIDDEN = 12, 16  # sequence length, LSTM width


class SequenceSum(pl.LightningModule):
    """An LSTM reads ``T`` numbers and predicts their sum (mean squared error)."""

    def __init__(self, lr: float = 1e-2) -> None:
        super().__init__()
        self.lr = lr
        self.rnn = torch.nn.LSTM(1, HIDDEN)
        self.head = torch.nn.Linear(HIDDEN, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x.transpose(0, 1))  # (T, batch, 1) for the LSTM
        return self.head(out[-1]).squeeze(-1)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int):
        x, y = batch
        return torch.nn.functional.mse_loss(self(x), y)

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.parameters(), lr=self.lr)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.7)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def make_loader(n: int = 640, batch_size: int = 32, seed: int = 0):
    """Return a data loader of generated sequences ``x`` (n, T, 1) and their sums ``y``."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, T, 1, generator=g)
    y = x.sum(dim=(1, 2)) / T**0.5
    data = torch.utils.data.TensorDataset(x, y)
    return torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False)


class PoisonGradients(pl.Callback):
    """Put a NaN into one gradient at the optimizer steps in ``at`` (``trainer.global_step``).

    Args:
      at: the steps to poison (every micro-batch of them, under accumulation).
      rank: poison on this rank only (after DDP's all-reduce); ``None``: every rank.
      once: poison a step's first backward only (a fault of the moment: a re-run of the
        step is clean); ``False``: every backward of the step, a re-run's too (a fault the
        step's batch carries).
    """

    def __init__(self, at: set[int], rank: int | None = None, once: bool = False) -> None:
        self.at = set(at)
        self.rank = rank
        self.once = once
        self.done: set[int] = set()

    def on_after_backward(self, trainer, pl_module):
        step = trainer.global_step
        if step in self.at and self.rank in (None, trainer.global_rank):
            if self.once and step in self.done:
                return
            self.done.add(step)
            p = next(pl_module.parameters())
            p.grad.view(-1)[0] = float("nan")


def trainer_kwargs(**overrides):
    """Quiet, CPU, no checkpoint files: the settings the example and the tests share."""
    kwargs = dict(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    kwargs.update(overrides)
    return kwargs


def main(log: Path) -> int:
    torch.manual_seed(0)
    model = SequenceSum()
    guard = SpikeGuardCallback(clipper=NormClipper(1.0), log=log)
    trainer = pl.Trainer(
        max_steps=50, callbacks=[guard, PoisonGradients({10, 25})], **trainer_kwargs()
    )
    trainer.fit(model, make_loader())
    records = read_log(log).steps
    skipped = [r.step for r in records if r.action != "step"]
    clipped = sum(r.clipped for r in records)
    print(f"{len(records)} steps, skipped {skipped}, clipped {clipped}")
    print(f"final loss {records[-1].loss:.4f}, lr {records[-1].lr:.5f}")
    return 0 if {10, 25} <= set(skipped) else 1


if __name__ == "__main__":
    out = (
        Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "lightning_run.jsonl"
    )
    raise SystemExit(main(out))
