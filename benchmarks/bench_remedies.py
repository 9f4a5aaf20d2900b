"""Benchmark the remedy runner: training steps/s per model, unrolled vs fused, runner overhead.

$ .venv/bin/python benchmarks/bench_remedies.py            # ~2 min on 2 cores
$ .venv/bin/python benchmarks/bench_remedies.py --quick    # fewer steps, noisier

Prints, single-threaded (as the runner trains):

1. steps/s of one adding-problem training step (forward, backward, Adam step;
   batch 64, hidden 128) for each model at T = 50 and 100, with the unrolled
   cell loop (every h_t readable) and torch's fused nn.RNN/LSTM/GRU on the same
   weights; ratio = fused / unrolled speed.
2. the runner's per-step overhead: ``train_run`` (gradient statistics, norm
   clipping, one StepRecord appended to a JSONL file per step) against a bare
   loop doing the same forward/backward/step on the same batches, and the added
   work timed alone; the target is ≤ 5% of the training step. These are CPU
   times of this process (``time.process_time``): on a shared machine other jobs
   stretch wall time but not this process's CPU time.

$ .venv/bin/python benchmarks/bench_remedies.py --overhead   # part 2 only
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from gradguard.experiments import RecurrentNet, adding_problem, build_grid, train_run
from gradguard.experiments._train import clip_and_measure, make_model, run_clipper
from gradguard.records import RecordWriter, StepRecord


def steps_per_second(cell: str, T: int, fused: bool, steps: int, hidden: int = 128) -> float:
    gen = torch.Generator().manual_seed(0)
    net = RecurrentNet(cell, 2, hidden, 1, fused=fused, generator=gen)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    batches = [adding_problem(T, 64, gen) for _ in range(4)]
    for b in batches[:2]:  # warm-up
        loss = torch.nn.functional.mse_loss(net(b.x), b.y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    start = time.perf_counter()
    for i in range(steps):
        b = batches[i % 4]
        loss = torch.nn.functional.mse_loss(net(b.x), b.y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps / (time.perf_counter() - start)


def bare_loop(spec, steps: int) -> float:
    """The same training work as ``train_run`` without statistics, clipping or records."""
    start = time.process_time()  # set-up included, as train_run's is
    gen_model = torch.Generator().manual_seed(spec.seed)
    gen_train = torch.Generator().manual_seed(10_000 + spec.seed)
    net = make_model(spec, gen_model)
    opt = (torch.optim.SGD if spec.optimizer == "sgd" else torch.optim.Adam)(
        net.parameters(), lr=spec.lr
    )
    for _ in range(steps):
        b = adding_problem(spec.T, spec.batch, gen_train)
        loss = spec.problem.loss(net(b.x), b.y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        float(loss.detach())  # the runner reads the loss once per step too
    return time.process_time() - start


def runner_loop(spec, steps: int, folder: Path) -> float:
    path = folder / f"{spec.file_stem}.jsonl"
    path.unlink(missing_ok=True)
    start = time.process_time()
    with RecordWriter(path) as log:
        # flow_every=0: the every-100-steps gradient-flow profile is not per-step work
        train_run(replace(spec, steps=steps, eval_every=10**9, test_size=1, flow_every=0), log)
    return time.process_time() - start


def extra_work_ms(spec, folder: Path, reps: int) -> float:
    """Time only what the runner adds to a step: statistics, clipping, one JSONL record."""
    net = make_model(spec, torch.Generator().manual_seed(spec.seed))
    params = list(net.parameters())
    b = adding_problem(spec.T, spec.batch, torch.Generator().manual_seed(1))
    loss = spec.problem.loss(net(b.x), b.y)
    loss.backward()
    path = folder / "extra.jsonl"
    clipper = run_clipper(spec.clip, spec.threshold)
    with RecordWriter(path) as log:
        start = time.process_time()
        for step in range(reps):
            pre, post, coef, max_abs, bad, _, _ = clip_and_measure(params, clipper, loss)
            log.write(
                StepRecord(
                    step=step, loss=0.1, grad_norm=pre, grad_norm_clipped=post,
                    clip_coef=coef, threshold=spec.threshold, lr=spec.lr,
                    max_abs=max_abs, nonfinite_count=int(bad), run=spec.run_id, time=0.0,
                )
            )  # fmt: skip
        elapsed = time.process_time() - start
    path.unlink()
    return elapsed / reps * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps (noisier figures)")
    parser.add_argument("--overhead", action="store_true", help="only the runner overhead")
    args = parser.parse_args()
    torch.set_num_threads(1)
    n = 15 if args.quick else 40
    if not args.overhead:
        speeds(n)
    overhead(args.quick)
    return 0


def speeds(n: int) -> None:
    print("== training steps/s, adding problem, batch 64, hidden 128, Adam, 1 thread")
    print(f"{'model':<8}{'T':>5}{'unrolled':>12}{'fused':>12}{'fused/unrolled':>16}")
    for T in (50, 100):
        for cell in ("linear", "tanh", "relu", "lstm", "gru"):
            unrolled = steps_per_second(cell, T, False, n)
            if cell == "linear":
                print(f"{cell:<8}{T:>5}{unrolled:>12.1f}{'–':>12}{'(no fused)':>16}")
                continue
            fused = steps_per_second(cell, T, True, n)
            print(f"{cell:<8}{T:>5}{unrolled:>12.1f}{fused:>12.1f}{fused / unrolled:>15.2f}×")
        sys.stdout.flush()
    print()


def overhead(quick: bool) -> None:
    print("== runner overhead per step (statistics + clipping + JSONL record) vs bare step")
    print("   bare, runner: whole steps, CPU ms, fastest of 5 interleaved repeats;")
    print("   extra: the added work alone, timed on the model's real gradients.")
    print(
        f"{'setting':<34}{'bare ms':>9}{'runner ms':>11}{'end-to-end':>12}"
        f"{'extra ms':>10}{'extra/bare':>12}"
    )
    divergence = build_grid("quick", experiments=["divergence"], configs=["clip-norm"])[0]
    adding = build_grid("quick", experiments=["adding"], configs=["rnn-clip", "lstm", "gru"])
    settings = [("divergence clip-norm (linear, T=10)", divergence, 300 if quick else 1000)]
    settings += [(f"adding {s.config} (fused, T=50)", s, 60 if quick else 200) for s in adding]
    with tempfile.TemporaryDirectory() as tmp:
        for label, spec, steps in settings:
            bare, runner = [], []
            for _ in range(5):
                bare.append(bare_loop(spec, steps) / steps * 1e3)
                runner.append(runner_loop(spec, steps, Path(tmp)) / steps * 1e3)
            b, r = min(bare), min(runner)
            extra = extra_work_ms(spec, Path(tmp), 2000)
            print(
                f"{label:<34}{b:>9.3f}{r:>11.3f}{(r - b) / b:>11.1%}"
                f"{extra:>10.3f}{extra / b:>11.1%}"
            )
            sys.stdout.flush()


if __name__ == "__main__":
    raise SystemExit(main())
