"""What a paper preset's runs cost on one CPU core: time per training step and per evaluation.

    .venv/bin/python benchmarks/bench_presets.py                 # both paper presets
    .venv/bin/python benchmarks/bench_presets.py --steps 50

For every run of ``le2015-adding`` and ``copy-memory`` it times ``--steps`` training steps
(single-threaded, deterministic, as the grid trains) and one evaluation (the test set's
loss and the gradient-flow profile), then gives the run's time at the preset's full budget
and at ``--budget``: steps × time per step + evaluations × time per evaluation. Those are
extrapolations from the measured times, not timed full runs; the load average before and
after is printed beside them.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--budget", type=float, default=0.001)
    parser.add_argument("--presets", default="le2015-adding,copy-memory")
    args = parser.parse_args()

    import torch

    from gradguard.experiments import build_grid, train_run
    from gradguard.experiments._runner import deterministic
    from gradguard.experiments._tasks import Batch
    from gradguard.experiments._train import _evaluate, make_model, task_flow

    print(f"({_load()}; torch {torch.__version__}, one thread)")
    for preset in args.presets.split(","):
        print(f"== {preset}")
        print(
            "| T | config | ms per step | ms per evaluation | full budget | "
            f"--budget {args.budget:g} |"
        )
        print("|---|---|---|---|---|---|")
        total_full = total_small = 0.0
        with deterministic():
            for spec in build_grid(preset):
                short = replace(
                    spec, steps=args.steps, eval_every=10**9, flow_every=0, stop_at_success=False
                )
                train_run(replace(short, steps=2))  # warm-up
                start = time.perf_counter()
                train_run(short)
                per_step = (time.perf_counter() - start) / args.steps
                net = make_model(spec, torch.Generator().manual_seed(0))
                test = spec.problem.batch(spec.T, spec.test_size, torch.Generator().manual_seed(1))
                probe = Batch(x=test.x[:64], y=test.y[:64])
                start = time.perf_counter()
                _evaluate(spec, net, test)
                task_flow(spec, net, probe)
                per_eval = time.perf_counter() - start
                full = spec.steps * per_step + spec.steps / spec.eval_every * per_eval
                small_spec = build_grid(
                    preset, budget=args.budget, T=[spec.T], configs=[spec.config]
                )[0]
                small = small_spec.steps * per_step + (
                    small_spec.steps / small_spec.eval_every * per_eval
                )
                total_full += full
                total_small += small
                print(
                    f"| {spec.T} | {spec.config} | {per_step * 1e3:.2f} | {per_eval * 1e3:.0f} "
                    f"| {full / 3600:.1f} h | {small:.1f} s |"
                )
        print(
            f"all runs, one core: full budget {total_full / 3600:.1f} h; "
            f"--budget {args.budget:g}: {total_small:.0f} s"
        )
    print(f"({_load()})")


if __name__ == "__main__":
    main()
