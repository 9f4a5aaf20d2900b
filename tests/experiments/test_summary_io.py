"""summary.csv: one schema, one writer, one reader — used by the runner and the report."""

import csv
import math
from dataclasses import replace

import pytest

from gradguard.experiments import (
    REQUIRED_COLUMNS,
    SUMMARY_COLUMNS,
    RunSummary,
    SummaryError,
    read_summary,
    write_summary,
)


def _row(**kw):
    base = dict(
        experiment="adding", config="gru", seed=0, T=50, model="gru", init="default",
        rho_init=None, optimizer="adam", lr=3e-3, clip=None, threshold=None, diverged=False,
        first_nonfinite_step=None, max_grad_norm=1.25, clipped_steps=0, final_loss=0.004,
        test_loss=0.0049, baseline=1 / 6, beats_baseline=True, steps_to_success=500,
        steps_run=500, stopped_early=True, stop_step=500, wall_s=8.5, log="runs/x.jsonl",
    )  # fmt: skip
    base.update(kw)
    return RunSummary(**base)


def test_round_trip_keeps_every_value_and_type(tmp_path):
    rows = [
        _row(),
        _row(config="none", experiment="divergence", diverged=True, first_nonfinite_step=2,
             max_grad_norm=math.inf, final_loss=math.nan, test_loss=math.nan, rho_init=2.0,
             clip="norm", threshold=1.0, beats_baseline=False, steps_to_success=None,
             stopped_early=False, stop_step=None, log=None),
    ]  # fmt: skip
    write_summary(tmp_path / "summary.csv", rows)
    back = read_summary(tmp_path / "summary.csv")
    assert [repr(r) for r in back] == [repr(r) for r in rows]  # repr: nan == nan here
    assert type(back[0].seed) is int and type(back[0].diverged) is bool
    with (tmp_path / "summary.csv").open() as f:
        # no row has a momentum: the column is left out (the bytes of a grid from before it)
        assert tuple(next(csv.reader(f))) == tuple(c for c in SUMMARY_COLUMNS if c != "momentum")


def test_the_momentum_column_is_written_where_a_row_has_one(tmp_path):
    rows = [_row(optimizer="sgd", momentum=0.9, lr=0.01), _row()]
    write_summary(tmp_path / "summary.csv", rows)
    with (tmp_path / "summary.csv").open() as f:
        lines = list(csv.reader(f))
    assert tuple(lines[0]) == SUMMARY_COLUMNS
    at = SUMMARY_COLUMNS.index("momentum")
    assert [line[at] for line in lines[1:]] == ["0.9", ""]
    assert [r.momentum for r in read_summary(tmp_path / "summary.csv")] == [0.9, None]


def test_a_file_with_only_the_required_columns_reads_with_defaults(tmp_path):
    path = tmp_path / "s.csv"
    values = {"experiment": "divergence", "config": "none", "seed": "0", "diverged": "true",
              "first_nonfinite_step": "3", "max_grad_norm": "inf", "final_loss": "nan",
              "steps_to_success": "", "wall_s": "0.5"}  # fmt: skip
    assert set(values) == set(REQUIRED_COLUMNS)
    path.write_text(",".join(values) + "\n" + ",".join(values.values()) + "\n")
    (r,) = read_summary(path)
    assert (r.diverged, r.first_nonfinite_step, r.steps_to_success) == (True, 3, None)
    assert r.T is None and math.isnan(r.test_loss) and r.beats_baseline is None
    assert r.stopped_early is False and r.stop_step is None


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("experiment,config\nx,y\n", r"s.csv:1: header lacks the columns seed, diverged"),
        ("", r"s.csv:1: empty file"),
    ],
)
def test_malformed_files_name_the_file_and_line(tmp_path, text, match):
    (tmp_path / "s.csv").write_text(text)
    with pytest.raises(SummaryError, match=match):
        read_summary(tmp_path / "s.csv")


def test_bad_cells_name_the_line_and_column(tmp_path):
    path = tmp_path / "s.csv"
    write_summary(path, [_row(), _row(config="lstm")])
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    for column, bad, rule in [
        ("seed", "zero", "a whole number"),
        ("diverged", "maybe", "True or False"),
        ("wall_s", "fast", "a number"),
        ("experiment", "", "is empty"),
    ]:
        cells = lines[2].split(",")
        cells[header.index(column)] = bad
        path.write_text("\n".join([*lines[:2], ",".join(cells)]) + "\n")
        with pytest.raises(SummaryError, match=rf"s.csv:3: column {column} .*{rule}"):
            read_summary(path)


def test_remedies_rows_round_trip_and_the_report_reads_the_same_values(tmp_path):
    """What the runner returns = what read_summary reads = what the report shows."""
    from gradguard.experiments import run_remedies  # the dev extra installs torch, matplotlib
    from gradguard.report import build_report
    from gradguard.report._html import _g
    from gradguard.report._inputs import load_source

    rows = run_remedies(
        "quick", tmp_path, experiments=["divergence"], configs=["none", "clip-norm"], steps=15
    )
    back = read_summary(tmp_path / "summary.csv")
    assert [repr(replace(r)) for r in back] == [repr(r) for r in rows]
    src = load_source(tmp_path)
    assert [repr(r) for r in src.summary] == [repr(r) for r in rows]
    html = build_report(src)
    for r in rows:
        for value in (r.max_grad_norm, r.final_loss, r.test_loss, r.baseline):
            assert f"<td>{_g(value)}</td>" in html
    none = next(r for r in rows if r.config == "none")
    assert f"at step {none.first_nonfinite_step}." in html
