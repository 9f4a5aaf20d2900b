"""The copy-memory full-budget results the docs quote are the committed run's, and that run
is the preset's as it stands.

The run itself takes over an hour (docs/remedies.md, "copy-memory at the full budget"), so
the suite does not repeat it: it checks that the committed ``summary.csv`` rows are exactly
the preset's runs (same settings hash, every step of the budget trained), and that every
number the page's table and sentences state is read from those rows and the committed
evaluation curves. A change to the preset, or to a number on the page, fails here.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from pathlib import Path

import pytest

from gradguard.experiments import build_grid, read_summary

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs" / "results"
PAGE = ROOT / "docs" / "remedies.md"
CONFIGS = {"tanh RNN": "rnn", "IRNN": "irnn", "LSTM": "lstm"}


def _rows():
    return {(r.T, r.config): r for r in read_summary(RESULTS / "copy-memory-full-summary.csv")}


def _curves() -> dict[str, list[tuple[int, float]]]:
    curves: dict[str, list[tuple[int, float]]] = defaultdict(list)
    with open(RESULTS / "copy-memory-full-curves.csv", encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            curves[r["run"]].append((int(r["step"]), float(r["test_loss"])))
    return curves


def _section() -> str:
    text = PAGE.read_text(encoding="utf-8")
    start = text.index("### `copy-memory` at the full budget")
    return text[start : text.index("\n## ", start)]


def _four(x: float) -> str:
    """Four significant digits, trailing zeros kept (0.04000), as the page writes them."""
    return f"{x:#.4g}"


def test_the_rows_are_the_presets_runs_at_its_full_budget():
    rows = _rows()
    specs = {(s.T, s.config): s for s in build_grid("copy-memory")}
    assert set(rows) == set(specs)
    for key, row in rows.items():
        spec = specs[key]
        assert row.config_hash == spec.config_hash, key  # the preset has not changed since
        assert row.steps_run == spec.steps == 20_000, key
        assert not row.diverged and not row.stopped_early, key
    curves = _curves()
    assert set(curves) == {s.run_id for s in specs.values()}
    for spec in specs.values():
        steps = [s for s, _ in curves[spec.run_id]]
        assert steps == list(range(spec.eval_every - 1, spec.steps, spec.eval_every))
        last = curves[spec.run_id][-1][1]
        assert last == pytest.approx(rows[spec.T, spec.config].test_loss, rel=1e-6)


def test_the_pages_table_is_the_summary():
    rows = _rows()
    table = _section().split("<!-- full-budget-table")[1]
    lines = [ln for ln in table.splitlines() if re.match(r"\| \d", ln)]
    assert len(lines) == 3
    header = ["T", "baseline", *CONFIGS]
    seen = set()
    for line in lines:
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert len(cells) == len(header)
        T = int(cells[0])
        seen.add(T)
        assert cells[1] == _four(rows[T, "rnn"].baseline)
        for name, cell in zip(header[2:], cells[2:], strict=True):
            row = rows[T, CONFIGS[name]]
            bold = cell.startswith("**")
            assert cell.strip("*") == _four(row.test_loss), (T, name)
            assert bold == bool(row.beats_baseline), (T, name)  # bold: below 0.9 × baseline
    assert seen == {100, 200, 500}


def test_the_pages_sentences_are_the_curves():
    text = " ".join(_section().split())
    rows, curves = _rows(), _curves()

    def stays_below_from(run: str, level: float) -> int:
        """The first evaluation from which every later one is below ``level`` (steps done)."""
        pts = curves[run]
        for i, (step, _) in enumerate(pts):
            if all(loss < level for _, loss in pts[i:]):
                return step + 1
        raise AssertionError(f"{run} never stays below {level}")

    lstm100 = stays_below_from("copy/T100/lstm/seed0", rows[100, "lstm"].baseline)
    irnn100 = stays_below_from("copy/T100/irnn/seed0", rows[100, "irnn"].baseline)
    assert f"every evaluation from {lstm100:,} steps ({lstm100 * 20:,} sequences)" in text
    assert f"below it at every evaluation from {irnn100:,} steps" in text
    step, low = min(curves["copy/T200/lstm/seed0"], key=lambda p: p[1])
    assert f"its lowest {low:.3g} after {step + 1:,} steps ({(step + 1) * 20:,} sequences)" in text
    spikes = [
        sum(loss > 10 * rows[T, "irnn"].baseline for _, loss in curves[f"copy/T{T}/irnn/seed0"])
        for T in (200, 500)
    ]
    assert f"10 × the baseline at {spikes[0]} and {spikes[1]} of its 400 evaluations" in text
    assert (
        sum(loss > 10 * rows[100, "irnn"].baseline for _, loss in curves["copy/T100/irnn/seed0"])
        == 0
    )
    overflowed = sorted(
        T for (T, c), r in rows.items() if c == "irnn" and r.max_grad_norm == float("inf")
    )
    assert overflowed == [100, 500]
    assert "norm overflowed at T = 100 and 500" in text
