"""The remedy grid's executors: scheduling overhead per run, and throughput with 2 workers.

    .venv/bin/python benchmarks/bench_grid.py            # both parts, about 3 minutes idle
    .venv/bin/python benchmarks/bench_grid.py --part throughput --steps 3000

overhead: the quick preset's grid (13 runs, at ``--budget``) on each executor — this
process (``jobs=1``), the local pool (2 processes), a Dask ``LocalCluster`` (2 worker
processes, 1 thread each) and a local Ray runtime (2 CPUs). For each: the grid's wall
time, the runs' own time (the sum of their ``wall_s``), and the overhead per run: the
slot-seconds not spent training, ``(slots × grid wall − Σ wall_s) / runs`` — process
start-up, moving the spec and the records, and the idle tail of the last runs. The
engine's own start (spawning a pool, a cluster, a runtime) is timed apart.

throughput: a grid of equal-sized runs (the divergence experiment's ``clip-norm`` run,
one per seed) with ``jobs=1`` and with ``jobs=2``; the ratio of their wall times is the
speed-up of two local workers. On an idle 2-core machine it should be ≥ 1.8. The load
average (``os.getloadavg``) is printed before and after: with other work on the machine
the ratio measures the machine, not the grid.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def _grid(executor: object, jobs: int, budget: float, out: Path) -> tuple[float, float, int]:
    from gradguard.experiments import run_remedies

    start = time.perf_counter()
    rows = run_remedies("quick", out, budget=budget, jobs=jobs, executor=executor)
    wall = time.perf_counter() - start
    return wall, sum(r.wall_s for r in rows), len(rows)


def overhead(budget: float) -> None:
    print(f"== overhead: the quick preset's grid at --budget {budget} ({_load()})")
    print("| executor | slots | start s | grid wall s | Σ run wall_s | runs | overhead per run s |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)

        def row(name: str, slots: int, start: float, executor: object, jobs: int) -> None:
            wall, own, n = _grid(executor, jobs, budget, base / name)
            per = (slots * wall - own) / n
            print(f"| {name} | {slots} | {start:.2f} | {wall:.2f} | {own:.2f} | {n} | {per:.3f} |")

        row("this process (jobs=1)", 1, 0.0, None, 1)
        row("local pool (jobs=2)", 2, 0.0, None, 2)  # its start is inside the grid's wall
        try:
            import distributed
        except ImportError:
            print("| Dask | – | not installed (the [dask] extra) | | | | |")
        else:
            t = time.perf_counter()
            cluster = distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            )
            client = distributed.Client(cluster)
            row("Dask LocalCluster (2 workers)", 2, time.perf_counter() - t, client, 1)
            client.close()
            cluster.close()
        try:
            import ray
        except ImportError:
            print("| Ray | – | not installed (the [ray] extra) | | | | |")
        else:
            t = time.perf_counter()
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            row("Ray local runtime (2 CPUs)", 2, time.perf_counter() - t, "ray", 1)
            ray.shutdown()
    print(f"({_load()})")


def throughput(runs: int, steps: int) -> None:
    from gradguard.experiments import run_remedies

    print(f"== throughput: {runs} equal runs of {steps} steps ({_load()})")
    kw = dict(experiments=["divergence"], configs=["clip-norm"], seeds=list(range(runs)))
    walls = {}
    with tempfile.TemporaryDirectory() as tmp:
        for jobs in (1, 2):
            start = time.perf_counter()
            rows = run_remedies("quick", Path(tmp) / str(jobs), steps=steps, jobs=jobs, **kw)
            walls[jobs] = time.perf_counter() - start
            own = sum(r.wall_s for r in rows) / len(rows)
            print(f"jobs={jobs}: {walls[jobs]:.2f} s for {len(rows)} runs ({own:.2f} s each)")
    print(f"speed-up of 2 workers: {walls[1] / walls[2]:.2f}x ({_load()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("overhead", "throughput", "both"), default="both")
    parser.add_argument("--budget", type=float, default=0.2)
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3000)
    args = parser.parse_args()
    if args.part in ("overhead", "both"):
        overhead(args.budget)
    if args.part in ("throughput", "both"):
        throughput(args.runs, args.steps)


if __name__ == "__main__":
    main()
