"""The paper presets' results the docs quote are the committed runs', and those runs are the
presets' as they stand (copy-memory at its full budget; both presets at a small budget).

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


def _sci(x: float) -> str:
    """``m × 10^k`` with one decimal, as the page writes a large norm."""
    k = int(f"{x:e}".split("e")[1])
    return f"{x / 10**k:.1f} × 10^{k}"


def _small_budget_rows(name: str, preset: str, budget: float):
    rows = {(r.T, r.config): r for r in read_summary(RESULTS / name)}
    specs = {(s.T, s.config): s for s in build_grid(preset, budget=budget)}
    assert set(rows) == set(specs)
    for key, row in rows.items():
        assert row.config_hash == specs[key].config_hash, key  # the preset as it stands
        assert row.steps_run == specs[key].steps == 1000, key
    return rows


def _paper_rows_text() -> str:
    text = PAGE.read_text(encoding="utf-8")
    start = text.index("### Paper says / we measured / budget")
    return " ".join(text[start : text.index("\n### ", start + 10)].split())


def test_the_le2015_small_budget_figures_are_the_committed_run():
    rows = _small_budget_rows("le2015-adding-budget-0.001-summary.csv", "le2015-adding", 0.001)
    text = _paper_rows_text()
    Ts = (150, 200, 300, 400)

    def losses(config: str) -> str:
        return ", ".join(f"{rows[T, config].test_loss:.4f}" for T in Ts)

    assert not any(r.beats_baseline or r.diverged for r in rows.values())
    assert f"the IRNN beats the baseline 0.1667 at no T: {losses('irnn')} at T = 150" in text
    assert f"tanh RNN {losses('rnn')} and LSTM {losses('lstm')} at T = 150, 200, 300, 400" in text
    finite = [T for T in Ts if rows[T, "irnn"].max_grad_norm != float("inf")]
    assert finite == [150, 200, 400]
    norms = ", ".join(_sci(rows[T, "irnn"].max_grad_norm) for T in finite[:-1])
    assert f"{norms} and {_sci(rows[400, 'irnn'].max_grad_norm)} at T = 150, 200 and 400" in text
    clipped = sorted(rows[T, "irnn"].clipped_steps for T in Ts)
    assert f"clipping acted on {clipped[0]}–{clipped[-1]} of the 1,000 steps" in text


def test_the_copy_memory_small_budget_figures_are_the_committed_run():
    rows = _small_budget_rows("copy-memory-budget-0.05-summary.csv", "copy-memory", 0.05)
    text = _paper_rows_text()

    def loss(T: int, config: str) -> str:
        return f"{rows[T, config].test_loss:.3g}"

    assert (
        f"T = 200: tanh RNN {loss(200, 'rnn')}, LSTM {loss(200, 'lstm')}; "
        f"T = 500: tanh RNN {loss(500, 'rnn')}, LSTM {loss(500, 'lstm')}"
    ) in text
    assert f"T = 100: LSTM {loss(100, 'lstm')} against the baseline 0.173" in text
    assert f"(tanh RNN {loss(100, 'rnn')}, IRNN {loss(100, 'irnn')})" in text
    assert all(rows[T, "irnn"].test_loss > rows[T, "irnn"].baseline for T in (100, 200, 500))
    irnn = [f"{rows[T, 'irnn'].test_loss:#.3g}" for T in (100, 200, 500)]
    base = [f"{rows[T, 'irnn'].baseline:#.3g}" for T in (100, 200, 500)]
    assert (
        f"{irnn[0]}, {irnn[1]} and {irnn[2]} against {base[0]}, {base[1]} and {base[2]} "
        "at T = 100, 200 and 500"
    ) in text
    assert rows[500, "irnn"].max_grad_norm == float("inf")
