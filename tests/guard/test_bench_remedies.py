"""benchmarks/bench_remedies_spikes.py, smoke-sized: every arm runs, and what it reports holds.

One seed, 30 steps, a NaN injected at step 21, on the MLP and the high-learning-rate GPT
(the benchmark's own workload). What must hold whatever the speed: every arm gets a row
(those gradguard lacks say so), the unguarded optimizer loses its model to the NaN while
every guarded arm keeps a finite one, and the steps lost are counted from the records.
"""

from __future__ import annotations

import importlib.util
import math
import re
import sys
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_remedies_spikes.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_remedies_spikes", PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (dataclasses look their module up by name)
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def _rows(text: str, workload: str) -> dict[str, list[str]]:
    block = text.split(f"## {workload}:")[1].split("\n## ")[0]
    rows = {}
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] not in ("arm",):
            rows[cells[0]] = cells
    return rows


@pytest.mark.slow
def test_smoke_every_arm(bench, capsys):
    argv = ["--smoke", "--steps", "30", "--jobs", "1", "--workloads", "mlp,gpt-high-lr"]
    assert bench.main(argv) == 0
    out = capsys.readouterr().out
    for workload in ("mlp", "gpt-high-lr"):
        rows = _rows(out, workload)
        assert set(rows) == set(bench.arms())
        for name, arm in bench.arms().items():
            cells = rows[name]
            if not arm.available:
                assert "not yet available" in cells[1]
                continue
            nan_cell = cells[6]  # held-out loss after the injected NaN
            if name in ("none", "recipe"):
                assert nan_cell == "nan×1"  # no guard: the NaN destroys the model
                assert cells[3] == "0.0"  # (and no step is withheld)
            else:
                assert math.isfinite(float(nan_cell)), (workload, name, nan_cell)
                assert cells[3] == "1.0"  # one step lost: the NaN step, skipped
            assert float(cells[-1]) > 0 and re.fullmatch(r"[\d.]+", cells[-2])


def test_none_does_not_clip_and_recipe_does(bench):
    # A 10^4× loss: unclipped SGD takes a 10^4× step; the recipe clips it to c.
    mlp = bench.ALL_WORKLOADS["mlp"]
    arms = bench.arms()
    none = bench.run_arm(mlp, arms["none"], 0, 30, ("loss1e4",))
    recipe = bench.run_arm(mlp, arms["recipe"], 0, 30, ("loss1e4",))
    guarded = bench.run_arm(mlp, arms["fixed"], 0, 30, ("loss1e4",))
    assert recipe.faults["loss1e4"] == pytest.approx(guarded.faults["loss1e4"], rel=1e-6)
    assert not none.faults["loss1e4"] < 2 * recipe.faults["loss1e4"]  # wrecked (or NaN)


def test_loss_spikes_and_steps_lost_counting(bench):
    flat = [1.0] * 60
    assert bench.loss_spikes(flat) == 0
    spiky = [*flat[:30], 1.6, *flat[31:50], 9.0, *flat[51:]]
    assert bench.loss_spikes(spiky) == 2
    assert bench.loss_spikes([*flat[:30], 1.4, *flat[31:]]) == 0  # below 1.5× the median

    class Rec:
        def __init__(self, restored=None):
            self.extra = {} if restored is None else {"restored_step": restored}

    # 10 steps; a rollback at step 6 to the snapshot of step 3 undoes steps 3, 4 (taken)
    # and 5 (skipped) and itself; then two batches skipped after it, then 2 steps taken.
    actions = ["step"] * 5 + ["skip", "rollback", "skipped-batch", "skipped-batch", "step"]
    run = bench.Run(actions=actions, records=[Rec()] * 6 + [Rec(3), Rec()])
    # kept: steps 0, 1, 2 and 9 → lost 6 of 10
    assert bench.steps_lost(run) == 6
