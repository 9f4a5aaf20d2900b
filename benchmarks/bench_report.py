"""Benchmark the report and the explorer against their budgets (issue 5).

$ python benchmarks/bench_report.py [--from RESULTS_DIR] [--repeat 3] [--requests 30]

1. ``gradguard report`` from a quick remedy run (budget: < 10 s). The results
   folder is ``--from`` if given; else a fresh ``run_remedies("quick")`` when
   ``gradguard.experiments`` is installed (takes about a minute, not timed); else a
   synthetic folder of the quick preset's shape (8 divergence runs × 300 steps,
   5 adding runs × 1500 steps). Baseline in the same run: the report with no
   results (the lesson and the scalar plots only).
2. ``gradguard serve``: one update (``GET /api/lesson``) for T = 5 … 10^4
   (budget: < 50 ms). Baseline in the same run: ``GET /`` (the static page), so
   the ratio shows the lab's share over the HTTP round trip.
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from gradguard.experiments import DIVERGENCE_CONFIGS, LONG_RANGE_CONFIGS
from gradguard.records import RecordWriter, StepRecord
from gradguard.report import write_report
from gradguard.serve import make_server

REPORT_BUDGET_S = 10.0
SERVE_BUDGET_MS = 50.0


def synthetic_quick(out: Path) -> Path:
    """Write a results folder shaped like the quick preset (same run count and steps)."""
    runs = [("divergence", c, 300) for c in DIVERGENCE_CONFIGS] + [
        ("adding", c, 1500) for c in LONG_RANGE_CONFIGS
    ]
    rows = []
    (out / "runs").mkdir(parents=True, exist_ok=True)
    for exp, cfg, steps in runs:
        blowup = 3 if cfg == "none" else None
        with RecordWriter(out / "runs" / f"{exp}-{cfg}-seed0.jsonl") as log:
            log.write_meta(
                {
                    "run": f"{exp}/{cfg}/seed0",
                    "experiment": exp,
                    "config": cfg,
                    "seed": 0,
                    "T": 10 if exp == "divergence" else 50,
                }
            )
            for s in range(steps if blowup is None else blowup + 1):
                bad = blowup is not None and s >= blowup
                log.write(
                    StepRecord(
                        step=s,
                        loss=math.nan if bad else 1.0 / (1 + s),
                        grad_norm=math.inf if bad else 1.0 + math.sin(s),
                        kind="nonfinite" if bad else "ok",
                        loss_finite=not bad,
                        grad_finite=not bad,
                        layer_norms=None,
                    )
                )
        rows.append(
            {
                "experiment": exp,
                "config": cfg,
                "seed": 0,
                "diverged": blowup is not None,
                "first_nonfinite_step": blowup if blowup is not None else "",
                "final_loss": 0.1,
                "max_grad_norm": 2.0,
                "steps_to_success": "",
                "wall_s": 1.0,
            }
        )
    with (out / "summary.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return out


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def bench_report(results: Path, repeat: int, tmp: Path) -> None:
    base = timed(lambda: write_report(tmp / "lesson.html"), repeat)
    full = timed(lambda: write_report(tmp / "report.html", results), repeat)
    b, f = statistics.median(base), statistics.median(full)
    size = (tmp / "report.html").stat().st_size / 1e6
    print(f"report from {results} ({size:.1f} MB HTML), median of {repeat}:")
    print(f"  baseline, lesson only:       {b:6.2f} s")
    print(f"  from the quick run:          {f:6.2f} s   ratio to baseline {f / b:4.1f}x")
    verdict = "OK" if f < REPORT_BUDGET_S else "OVER"
    share = f / REPORT_BUDGET_S
    print(f"  budget {REPORT_BUDGET_S:.0f} s:                 {verdict}   ({share:.0%} of it)")


def bench_serve(requests: int) -> None:
    server = make_server(0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"

    def get(path: str) -> None:
        with urllib.request.urlopen(url + path, timeout=10) as r:
            r.read()

    try:
        get("/api/lesson")  # warm: first import of the lab and catalogs
        page = [x * 1e3 for x in timed(lambda: get("/"), requests)]
        pm = statistics.median(page)
        print(f"serve, {requests} requests each (ms):")
        print(f"  baseline GET / (static page):        median {pm:6.2f}")
        # slider values have ≤ 2 decimals; 0.123456789 is a long exact fraction (exactly,
        # w^(T-1) has 90,000 digits at T = 10^4: ~70-110 ms; the page computes the values it
        # abbreviates in 50-digit decimal instead, see gradguard.report._approx).
        for w in ("2", "0.99", "1.01", "0.123456789"):
            for T in (5, 100, 1000, 10_000):
                ms = [
                    x * 1e3
                    for x in timed(lambda w=w, T=T: get(f"/api/lesson?w={w}&T={T}"), requests)
                ]
                med, p95 = statistics.median(ms), sorted(ms)[int(0.95 * (len(ms) - 1))]
                flag = "OK" if p95 < SERVE_BUDGET_MS else "OVER"
                print(
                    f"  update w={w:<4} T={T:<6}  median {med:6.2f}  p95 {p95:6.2f}  "
                    f"ratio to baseline {med / pm:5.1f}x  budget {SERVE_BUDGET_MS:.0f} ms: {flag}"
                )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="source", type=Path, help="a results folder to report on")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--requests", type=int, default=30)
    args = ap.parse_args()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        results = args.source
        if results is None:
            try:
                from gradguard.experiments import run_remedies  # type: ignore[attr-defined]
            except ImportError:
                run_remedies = None
            if run_remedies is not None:
                print("running the remedies' quick preset (not timed) …", file=sys.stderr)
                results = tmp / "quick"
                run_remedies("quick", out=results)
            else:
                print(
                    "gradguard.experiments not installed: synthetic quick-shaped results",
                    file=sys.stderr,
                )
                results = synthetic_quick(tmp / "quick")
        bench_report(results, args.repeat, tmp)
    bench_serve(args.requests)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
