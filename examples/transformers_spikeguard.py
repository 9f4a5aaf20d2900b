"""Guard a Hugging Face ``Trainer``: a tiny GPT-2 (built from a config) learns to count.

$ python examples/transformers_spikeguard.py       # CPU, a few seconds, nothing downloaded

Two optimizer steps get a NaN gradient; the callback withholds them (parameters, AdamW's
state and the LR schedule untouched) and records every step in ``hf_run.jsonl``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainerCallback, TrainingArguments

from gradguard.integrations.transformers import SpikeGuardCallback
from gradguard.records import read_log
from gradguard.torch import NormClipper

VOCAB, LENGTH = 128, 16


def make_model(seed: int = 0) -> GPT2LMHeadModel:
    """Return a randomly initialised two-layer GPT-2 (no download)."""
    torch.manual_seed(seed)
    config = GPT2Config(n_layer=2, n_head=2, n_embd=64, vocab_size=VOCAB, n_positions=LENGTH)
    return GPT2LMHeadModel(config)


class Counting(torch.utils.data.Dataset):
    """Token sequences ``s, s+k, s+2k, …`` (mod the vocabulary): learnable next tokens."""

    def __init__(self, n: int = 512, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        start = torch.randint(0, VOCAB, (n, 1), generator=g)
        stride = torch.randint(1, 4, (n, 1), generator=g)
        self.ids = (start + stride * torch.arange(LENGTH)) % VOCAB

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


class PoisonGradients(TrainerCallback):
    """Put ``value`` into one entry of one gradient during the backward passes of the
    optimizer steps in ``at`` (``global_step``): a fault where faults happen, before the
    Trainer or the guard see the gradients.

    Args:
      at: the steps to poison.
      rank: poison on this process only (before DDP's all-reduce, which then carries it
        to every process); ``None``: every process.
      value: what to put there (NaN, inf, or a huge finite number).
      once: the step's first backward only (a fault of the moment: a re-run of the step is
        clean); ``False``: every backward of the step, a re-run's too (a fault the step's
        batch carries).
    """

    def __init__(
        self, at: set[int], rank: int | None = None, value: float = float("nan"), once=True
    ):
        self.at = set(at)
        self.rank = rank
        self.value = value
        self.once = once
        self.armed = False
        self.hook = None

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if self.hook is None:
            # The first parameter's gradient, as its backward computes it (the embedding).
            self.hook = next(model.parameters()).register_hook(self._poison)

    def on_step_begin(self, args, state, control, **kwargs):
        self.armed = state.global_step in self.at and self.rank in (None, args.process_index)

    def _poison(self, grad: torch.Tensor) -> torch.Tensor:
        if not self.armed:
            return grad
        self.armed = not self.once  # once: one micro-batch's gradient per poisoned step
        grad = grad.clone()
        grad.view(-1)[0] = self.value
        return grad

    def on_train_end(self, args, state, control, **kwargs):
        if self.hook is not None:
            self.hook.remove()
            self.hook = None


def training_args(out: Path, **overrides) -> TrainingArguments:
    """Quiet CPU settings the example and the tests share (max_grad_norm=0: the guard clips)."""
    kwargs = dict(
        output_dir=str(out),
        max_steps=50,
        per_device_train_batch_size=8,
        learning_rate=1e-3,
        max_grad_norm=0.0,
        logging_steps=10,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
        dataloader_num_workers=0,
    )
    kwargs.update(overrides)
    return TrainingArguments(**kwargs)


def main(out: Path) -> int:
    guard = SpikeGuardCallback(clipper=NormClipper(1.0), log=out / "hf_run.jsonl")
    trainer = Trainer(
        model=make_model(),
        args=training_args(out),
        train_dataset=Counting(),
        callbacks=[PoisonGradients({10, 25}), guard],
    )
    trainer.train()
    records = read_log(out / "hf_run.jsonl").steps
    skipped = [r.step for r in records if r.action != "step"]
    print(f"{len(records)} steps, skipped {skipped}, clipped {sum(r.clipped for r in records)}")
    print(f"loss {records[0].loss:.3f} -> {records[-1].loss:.3f}")
    return 0 if {10, 25} <= set(skipped) else 1


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())))
