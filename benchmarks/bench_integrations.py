"""Per-step time of a guarded trainer run against the same trainer's own clipping.

$ .venv/bin/python benchmarks/bench_integrations.py            # ~2 min, one thread
$ .venv/bin/python benchmarks/bench_integrations.py --reps 5

For Lightning (``gradient_clip_val=c`` against ``SpikeGuardCallback(clipper=c)``) and the
Hugging Face ``Trainer`` (``max_grad_norm=c`` against ``max_grad_norm=0`` plus the
callback), on a tiny model and on one whose step takes tens of milliseconds: the same
model, data and seed; the two settings alternate (interleaved repeats); each run's figure
is the median time between consecutive optimizer steps after a warm-up, as the main
thread's CPU time (what the step costs; little affected by other jobs on the machine) and
as wall time; the table shows the min and the median over repeats and the ratio
guarded / own clipping of each.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
WARMUP = 5


def _example(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _median_step(times: list[tuple[float, float]]) -> tuple[float, float]:
    """Return the median (CPU, wall) seconds between consecutive steps after the warm-up."""
    after = times[WARMUP:]
    cpu = [b[0] - a[0] for a, b in itertools.pairwise(after)]
    wall = [b[1] - a[1] for a, b in itertools.pairwise(after)]
    return statistics.median(cpu), statistics.median(wall)


def _now() -> tuple[float, float]:
    # The trainer's work, torch's included (one thread), runs on this thread.
    return time.thread_time(), time.perf_counter()


# -- Lightning -----------------------------------------------------------------------------
def lightning_run(size: str, guarded: bool, steps: int) -> tuple[float, float]:
    import lightning.pytorch as pl

    from gradguard.integrations.lightning import SpikeGuardCallback

    ex = sys.modules.get("lightning_spikeguard") or _example("lightning_spikeguard")
    hidden, length, batch = {"tiny": (16, 12, 32), "large": (256, 48, 64)}[size]

    class Model(ex.SequenceSum):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = torch.nn.LSTM(1, hidden)
            self.head = torch.nn.Linear(hidden, 1)

    times: list[tuple[float, float]] = []

    class Clock(pl.Callback):
        def on_train_batch_end(self, *args):
            times.append(_now())

    torch.manual_seed(0)
    x = torch.randn(batch * 8, length, 1)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, x.sum(dim=(1, 2))), batch_size=batch
    )
    callbacks: list = [Clock()]
    kwargs = {}
    if guarded:
        callbacks.insert(0, SpikeGuardCallback(clipper=0.5))
    else:
        kwargs["gradient_clip_val"] = 0.5
    trainer = pl.Trainer(max_steps=steps, callbacks=callbacks, **ex.trainer_kwargs(**kwargs))
    trainer.fit(Model(), loader)
    return _median_step(times)


# -- Hugging Face --------------------------------------------------------------------------
def hf_run(size: str, guarded: bool, steps: int) -> tuple[float, float]:
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainerCallback
    from transformers.trainer_callback import PrinterCallback

    from gradguard.integrations.transformers import SpikeGuardCallback

    ex = sys.modules.get("transformers_spikeguard") or _example("transformers_spikeguard")
    layers, width, batch = {"tiny": (2, 64, 8), "large": (4, 256, 16)}[size]
    times: list[tuple[float, float]] = []

    class Clock(TrainerCallback):
        def on_step_end(self, *args, **kwargs):
            times.append(_now())

    torch.manual_seed(0)
    config = GPT2Config(
        n_layer=layers, n_head=4, n_embd=width, vocab_size=ex.VOCAB, n_positions=ex.LENGTH
    )
    callbacks: list = [Clock()]
    if guarded:
        callbacks.insert(0, SpikeGuardCallback(clipper=0.5))
    args = ex.training_args(
        Path(tempfile.mkdtemp()),
        max_steps=steps,
        per_device_train_batch_size=batch,
        max_grad_norm=0.0 if guarded else 0.5,
        logging_steps=10**6,
    )
    trainer = Trainer(
        model=GPT2LMHeadModel(config),
        args=args,
        train_dataset=ex.Counting(n=batch * steps),
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # its log lines would interleave with the table
    trainer.train()
    return _median_step(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="interleaved repeats per setting")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    for name in ("lightning", "lightning.pytorch", "transformers", "accelerate"):
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    load = os.getloadavg()
    print(
        f"torch {torch.__version__}, 1 thread, {os.cpu_count()} CPUs, "
        f"load average at start {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min)"
    )
    cases = [
        ("Lightning", "tiny", lightning_run, 40),
        ("Lightning", "large", lightning_run, 25),
        ("HF Trainer", "tiny", hf_run, 40),
        ("HF Trainer", "large", hf_run, 25),
    ]
    print(
        f"{'trainer':<11} {'model':<6} {'clock':<5} {'own clip ms/step':>17} "
        f"{'guarded ms/step':>17} {'ratio (min)':>12} {'ratio (median)':>15}"
    )
    for trainer, size, run, steps in cases:
        own: list[tuple[float, float]] = []
        ours: list[tuple[float, float]] = []
        for _ in range(args.reps):
            own.append(run(size, False, steps))
            ours.append(run(size, True, steps))
        for i, clock in enumerate(("cpu", "wall")):
            o = [t[i] * 1e3 for t in own]
            g = [t[i] * 1e3 for t in ours]
            o_min, g_min, o_med, g_med = min(o), min(g), statistics.median(o), statistics.median(g)
            print(
                f"{trainer:<11} {size:<6} {clock:<5} {o_min:7.2f} ({o_med:7.2f}) "
                f"{g_min:7.2f} ({g_med:7.2f}) {g_min / o_min:11.3f}× {g_med / o_med:14.3f}×",
                flush=True,
            )
    load = os.getloadavg()
    print(f"load average at end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")


if __name__ == "__main__":
    main()
