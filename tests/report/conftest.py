"""Synthetic inputs for the report: a remedy results folder and a guard log.

They are written through :mod:`gradguard.records` (the shared format), so the
report is tested against the documented format, not against one writer.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from gradguard.records import RecordWriter, StepRecord, write_log

# (experiment, config, first non-finite step or None)
RUNS = [
    ("divergence", "none", 7),
    ("divergence", "clip-norm", None),
    ("divergence", "low-lr", None),
    ("divergence", "init-orthogonal", None),
    ("divergence", "lstm", None),
    ("adding", "rnn", None),
    ("adding", "gru", None),
]


def _records(run: str, blowup: int | None, n: int = 20) -> list[StepRecord]:
    out = []
    for s in range(n):
        if blowup is not None and s >= blowup:
            out.append(
                StepRecord(
                    step=s,
                    loss=math.nan,
                    grad_norm=math.inf,
                    kind="nonfinite",
                    action="step",
                    nonfinite_count=1,
                    run=run,
                )
            )
            continue
        norm = 3.0 * (2.0**s if blowup is not None else 1.0 / (s + 1))
        clipped = "clip" in run and norm > 1.0
        out.append(
            StepRecord(
                step=s,
                loss=1.0 / (s + 1),
                grad_norm=norm,
                grad_norm_clipped=min(norm, 1.0) if clipped else norm,
                clip_coef=min(1.0, 1.0 / norm) if clipped else 1.0,
                threshold=1.0 if "clip" in run else None,
                kind="clipped" if clipped else "ok",
                run=run,
            )
        )
    return out


@pytest.fixture()
def results_dir(tmp_path: Path) -> Path:
    return write_results(tmp_path / "results")


@pytest.fixture()
def guard_log(tmp_path: Path) -> Path:
    return write_guard_log(tmp_path / "train.jsonl")


def write_results(d: Path) -> Path:
    """Write a remedies results folder (records and ``summary.csv``) at ``d``; return it."""
    d.mkdir()
    rows = []
    for experiment, config, blowup in RUNS:
        run = f"{experiment}/{config}/seed0"
        path = d / experiment / f"{config}-seed0.jsonl"
        path.parent.mkdir(exist_ok=True)
        with RecordWriter(path) as log:
            log.write_meta(
                {
                    "run": run,
                    "experiment": experiment,
                    "config": config,
                    "seed": 0,
                    "T": 10,
                    "clip": "norm" if "clip" in config else None,
                }
            )
            for r in _records(run, blowup):
                log.write(r)
        rows.append(
            {
                "experiment": experiment,
                "config": config,
                "seed": 0,
                "diverged": blowup is not None,
                "first_nonfinite_step": "" if blowup is None else blowup,
                "final_loss": "nan" if blowup is not None else 0.05,
                "max_grad_norm": "inf" if blowup is not None else 3.0,
                "steps_to_success": "" if config != "gru" else 15,
                "wall_s": 0.5,
                "T": 10,
                # adding: the gru learns (test loss 0.004 < 0.9 × 1/6), the rnn does not (0.17)
                "test_loss": {"gru": 0.004, "rnn": 0.17}.get(config, ""),
                "baseline": 1 / 6 if experiment == "adding" else "",
                "beats_baseline": {"gru": True, "rnn": False}.get(config, ""),
            }
        )
    with (d / "summary.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return d


def write_guard_log(path: Path) -> Path:
    """Write a guard's log (clipped, spike, skipped, rolled back, per-layer norms) at ``path``."""
    recs = []
    for s in range(40):
        norm = 1.0 + 0.1 * s
        kw: dict = {
            "grad_norm": norm,
            "grad_norm_clipped": min(norm, 3.0),
            "threshold": 3.0,
            "clip_coef": min(1.0, 3.0 / norm),
            "kind": "clipped" if norm > 3.0 else "ok",
            "loss": 2.0 / (s + 1),
        }
        if s == 12:
            kw.update(grad_norm=500.0, kind="spike", action="skip", clip_coef=None)
        if s == 20:
            kw.update(
                grad_norm=math.inf,
                kind="nonfinite",
                action="skip",
                nonfinite_count=1,
                clip_coef=None,
            )
        if s == 21:
            kw.update(
                action="rollback",
                kind="nonfinite",
                grad_norm=math.nan,
                nonfinite_count=1,
                clip_coef=None,
                extra={"restored_step": 10},
            )
        if s % 5 == 0:
            kw["layer_norms"] = {
                "rnn.weight_hh": norm * 0.7,
                "rnn.weight_ih": norm * 0.2,
                "fc.weight": 0.1,
            }
        recs.append(StepRecord(step=s, **kw))
    write_log(path, recs)
    return path
