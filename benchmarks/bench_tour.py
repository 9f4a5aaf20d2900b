"""Benchmark the main job: `gradguard tour` and `gradguard remedies --quick`, --jobs 1 vs 2.

$ .venv/bin/python benchmarks/bench_tour.py              # ~3 min on 2 cores
$ .venv/bin/python benchmarks/bench_tour.py --repeat 2   # interleaved repeats, min / median
$ .venv/bin/python benchmarks/bench_tour.py --report-only --from gradguard-tour

Prints, in one run (the commands run as a user runs them, each in a fresh process):

1. the wall time of `gradguard remedies --quick --out DIR --jobs J` for J = 1 and 2,
   interleaved, and the ratio jobs 1 / jobs 2; then whether the two summary.csv files
   and every run's records are the same bytes (wall-time fields aside);
2. the wall time of `gradguard tour --out DIR --jobs J`, J = 1 and 2, with the tour's own
   per-stage times (its last stderr line);
3. the report stage alone: `write_report` from the tour's folder, in this process,
   min / median of ``--report-repeat`` runs, against the lesson-only report as baseline.

The machine's load average is printed before and after: on a shared machine other jobs
stretch wall times, and the ratios between runs measured together are the figures to read.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GRADGUARD = [sys.executable, "-m", "gradguard"]


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_command(args: list[str], label: str) -> tuple[float, str]:
    start, cpu = time.perf_counter(), children_cpu()
    env = {**os.environ, "COLUMNS": "200"}  # the tour's stage timings on one line
    done = subprocess.run(args, capture_output=True, text=True, check=False, env=env)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    # CPU seconds of the command and its workers: what other jobs on the machine stretch least.
    CPU.setdefault(label, []).append(children_cpu() - cpu)
    return wall, done.stderr


CPU: dict[str, list[float]] = {}


def without_wall_time(folder: Path) -> tuple[list[list[str]], dict[str, list[dict]]]:
    with (folder / "summary.csv").open(newline="") as f:
        table = list(csv.reader(f))
    wall = table[0].index("wall_s")
    summary = [row[:wall] + row[wall + 1 :] for row in table]
    records = {}
    for path in sorted((folder / "runs").glob("*.jsonl")):
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        records[path.name] = [{k: v for k, v in d.items() if k != "time"} for d in lines]
    return summary, records


def show(name: str, times: dict[int, list[float]]) -> None:
    for jobs, ts in times.items():
        print(
            f"  {name} --jobs {jobs}: min {min(ts):6.1f} s  median {statistics.median(ts):6.1f} s"
        )
    ratio = min(times[1]) / min(times[2])
    print(f"  ratio jobs 1 / jobs 2 (min): {ratio:.2f}x")
    for jobs in times:
        cpu = CPU[f"{name} --jobs {jobs}"]
        print(f"  CPU time (user + sys, workers included), --jobs {jobs}: min {min(cpu):6.1f} s")


def bench_remedies(tmp: Path, repeat: int) -> None:
    times: dict[int, list[float]] = {1: [], 2: []}
    for r in range(repeat):
        for jobs in (1, 2) if r % 2 == 0 else (2, 1):  # interleaved
            out = tmp / f"remedies-j{jobs}-{r}"
            wall, _ = timed_command(
                [*GRADGUARD, "remedies", "--quick", "--out", str(out), "--jobs", str(jobs),
                 "--no-progress"], f"remedies --quick --jobs {jobs}",
            )  # fmt: skip
            times[jobs].append(wall)
    print("gradguard remedies --quick:")
    show("remedies --quick", times)
    same = without_wall_time(tmp / "remedies-j1-0") == without_wall_time(tmp / "remedies-j2-0")
    print(f"  summary.csv and records identical, --jobs 1 vs 2 (wall times aside): {same}")
    if not same:
        raise SystemExit("--jobs 1 and --jobs 2 gave different results")


def bench_tour(tmp: Path, repeat: int) -> Path:
    times: dict[int, list[float]] = {1: [], 2: []}
    stages: dict[int, str] = {}
    for r in range(repeat):
        for jobs in (1, 2) if r % 2 == 0 else (2, 1):
            out = tmp / f"tour-j{jobs}-{r}"
            wall, err = timed_command(
                [*GRADGUARD, "tour", "--out", str(out), "--jobs", str(jobs)], f"tour --jobs {jobs}"
            )
            times[jobs].append(wall)
            stages[jobs] = next(
                (line.strip() for line in reversed(err.splitlines()) if "tour" in line), ""
            )
    print("gradguard tour:")
    show("tour", times)
    for jobs, line in stages.items():
        print(f"  --jobs {jobs}, last run: {line}")
    return tmp / "tour-j2-0"


def bench_report(folder: Path, repeat: int) -> None:
    from gradguard.report import write_report

    def run(source: Path | None) -> list[float]:
        out = []
        for _ in range(repeat):
            start = time.perf_counter()
            write_report(Path(tempfile.gettempdir()) / "bench-report.html", source)
            out.append(time.perf_counter() - start)
        return out

    run(None)  # warm-up: imports, fonts
    base, full = run(None), run(folder)
    size = (Path(tempfile.gettempdir()) / "bench-report.html").stat().st_size / 1e6
    print(f"report stage (write_report from {folder.name}, {size:.1f} MB HTML), {repeat} runs:")
    print(f"  lesson-only report: min {min(base):5.2f} s  median {statistics.median(base):5.2f} s")
    print(f"  from the tour:      min {min(full):5.2f} s  median {statistics.median(full):5.2f} s")
    print(f"  ratio to the lesson-only report (min): {min(full) / min(base):.1f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs per command and --jobs")
    parser.add_argument("--report-repeat", type=int, default=3, help="runs of the report stage")
    parser.add_argument("--report-only", action="store_true", help="only the report stage")
    parser.add_argument("--from", dest="source", type=Path, help="a tour folder (--report-only)")
    args = parser.parse_args()
    print(load())
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        if args.report_only:
            if args.source is None:
                parser.error("--report-only needs --from TOUR_FOLDER")
            bench_report(args.source, args.report_repeat)
        else:
            bench_remedies(tmp, args.repeat)
            folder = bench_tour(tmp, args.repeat)
            bench_report(folder, args.report_repeat)
    print(load())
    return 0


if __name__ == "__main__":
    sys.exit(main())
