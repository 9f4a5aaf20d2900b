"""`gradguard flow` and `gradguard remedies` through the CLI: output, files, and bad input."""

import json

import pytest

from gradguard.cli import main


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def assert_usage_error(code, err, *fragments):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gradguard: error: ")
    assert "Traceback" not in err
    for f in fragments:
        assert f in lines[0], (f, lines[0])


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["flow", "--model", "transformer"], ["--model", "'transformer'", "linear, tanh"]),
        (["flow", "--model", "linear,lstmm"], ["--model", "'lstmm'"]),
        (["flow", "--init", "glorot"], ["--init", "'glorot'", "xavier-normal"]),
        (["flow", "--init", "scaled-orthogonal"], ["--rho", "scaled-orthogonal"]),
        (["flow", "--init", "scaled-orthogonal", "--rho", "-2"], ["--rho", "> 0"]),
        (["flow", "-T", "0"], ["-T", "≥ 1", "got 0"]),
        (["flow", "-T", "-5"], ["-T", "got -5"]),
        (["flow", "--hidden", "0"], ["--hidden"]),
        (["flow", "--inputs", "ones"], ["--inputs"]),
        (["flow", "--dtype", "float16"], ["--dtype"]),
        (["flow", "--plot", "x.jpg"], ["--plot", ".png"]),
        (["flow", "-T", "ten"], ["-T"]),
        (["remedies", "--experiments", "parity"], ["--experiments", "'parity'"]),
        (["remedies", "--configs", "adamw"], ["--configs", "'adamw'"]),
        (["remedies", "--configs", ","], ["--configs", "one of none, clip-norm", "got ','"]),
        (["remedies", "--experiments", ""], ["--experiments", "one of divergence", "got ''"]),
        (["remedies", "-T", "0"], ["-T", "≥ 2", "got 0"]),
        (["remedies", "-T", "50,x"], ["-T", "'x'"]),
        (["remedies", "--lr", "-0.01"], ["--lr", "> 0", "-0.01"]),
        (["remedies", "--lr", "nan"], ["--lr"]),
        (["remedies", "--train-steps", "0"], ["--train-steps"]),
        (["remedies", "--jobs", "0"], ["--jobs", "from 1 to"]),
        (["remedies", "--seeds", "-1"], ["--seeds"]),
        (["remedies", "--bogus"], ["--bogus"]),
        (["flow", "--seed", "99999999999999999999"], ["--seed", "from 0 to"]),
        (["flow", "--seed", "-1"], ["--seed"]),
        (["flow", "--hidden", "100000"], ["--hidden", "from 1 to 2048"]),
        (["flow", "-T", "10000000"], ["-T", "from 1 to 100000"]),
        (["flow", "--batch", "0"], ["--batch"]),
        (["flow", "--h0", "nan"], ["--h0", "finite"]),
        (["remedies", "--seeds", "99999999999999999999"], ["--seeds", "from 0 to"]),
        (["remedies", "-T", "20000"], ["-T", "from 2 to 10000"]),
        (["remedies", "--train-steps", "100000000"], ["--train-steps", "from 1 to"]),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, args, fragments):
    code, out, err = run(capsys, *args)
    assert_usage_error(code, err, *fragments)
    assert out == ""


def test_unwritable_out(capsys, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    code, _, err = run(capsys, "remedies", "--out", str(blocker / "sub"), "--no-progress")
    assert_usage_error(code, err, "--out", "file.txt")
    assert blocker.read_text() == "not a folder"


def test_flow_table_json_and_plot(capsys, tmp_path):
    code, out, _ = run(capsys, "flow", "-T", "20", "--hidden", "32")
    assert code == 0
    assert "| linear | he |" in out and "| linear | xavier-normal |" in out
    assert "ρ(W)" in out and "‖∂L/∂h_t‖" in out
    code, out, _ = run(
        capsys, "flow", "--hidden", "1", "--init", "scaled-orthogonal", "--rho", "2",
        "--inputs", "zero", "--h0", "1", "-T", "5", "--json",
    )  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert data[0]["grad_W"] == 80.0 and data[0]["grad_h"] == [16.0, 8.0, 4.0, 2.0, 1.0]
    plot = tmp_path / "flow.png"
    code, _, err = run(capsys, "flow", "-T", "10", "--model", "lstm,gru", "--plot", str(plot))
    assert code == 0 and plot.stat().st_size > 1000 and "plot written" in err


def test_remedies_small_run(capsys, tmp_path):
    code, out, err = run(
        capsys, "remedies", "--experiments", "divergence", "--configs", "none,clip-norm,low-lr",
        "--train-steps", "20", "--out", str(tmp_path), "--no-progress", "--jobs", "1",
    )  # fmt: skip
    assert code == 0, err
    assert "diverged at step" in out and "| clip-norm |" in out and "| low-lr |" in out
    assert (tmp_path / "summary.csv").exists()
    assert len(list((tmp_path / "runs").glob("*.jsonl"))) == 3
    code, out, err = run(
        capsys, "remedies", "--experiments", "divergence", "--configs", "none",
        "--train-steps", "5", "--json",
    )  # fmt: skip
    assert code == 0
    rows = json.loads(out)
    assert rows[0]["config"] == "none" and rows[0]["diverged"] is True
    assert rows[0]["test_loss"] == "nan"


def test_remedies_progress_goes_to_stderr(capsys):
    code, out, err = run(
        capsys, "remedies", "--experiments", "divergence", "--configs", "none", "--train-steps", "5"
    )
    assert code == 0
    assert out.startswith("### divergence") and "steps" not in out.splitlines()[0]
    assert "1/1 runs done · 0 running · 0 failed" in err and "100%" in err and "ETA" in err


def test_sigint_stops_cleanly_and_keeps_finished_runs(tmp_path):
    # A real Ctrl-C (SIGINT) to a real process, once its first runs have finished.
    import os
    import signal
    import subprocess
    import sys
    import time

    out_dir = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gradguard", "remedies", "--experiments", "divergence",
         "--train-steps", "100000", "--configs", "none,init-xavier", "--out", str(out_dir),
         "--no-progress", "--jobs", "2"],  # Ctrl-C reaches the parent; it stops the workers
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # Ctrl-C as in a terminal, even where this test runs with SIGINT ignored (a shell's
        # background job): the child starts with the default disposition.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    summary = out_dir / "summary.csv"
    deadline = time.monotonic() + 180
    while not summary.exists() and time.monotonic() < deadline:
        time.sleep(0.2)  # `none` diverges within a few steps, then init-xavier runs long
    assert summary.exists()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    assert "| none |" in out and "init-xavier" not in out
    rows = summary.read_text().splitlines()
    assert len(rows) == 2 and rows[1].startswith("divergence,none,0,")
    # the finished run's records are in place; the interrupted run left nothing half-written
    assert sorted(p.name for p in (out_dir / "runs").iterdir()) == [
        "divergence-T10-none-seed0.jsonl"
    ]
    assert os.path.exists(out_dir / "runs" / "divergence-T10-none-seed0.jsonl")


def test_flow_reports_float32_overflow(capsys):
    # He init on a linear recurrence: ×√2 per step overflows float32 (max ≈ 3.4e38,
    # √2^256 ≈ 3.4e38) a few hundred steps back.
    code, out, _ = run(capsys, "flow", "-T", "400", "--init", "he", "--dtype", "float32")
    assert code == 0
    assert "is not finite from t = " in out and "float32 overflow" in out


def test_write_failure_mid_run_is_one_line_exit_1(capsys, tmp_path, monkeypatch):
    # A full disk (or a yanked drive) while records are written: exit 1, one line.
    import gradguard._atomic as atomic

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", no_space)
    code, _, err = run(
        capsys, "remedies", "--experiments", "divergence", "--configs", "none",
        "--train-steps", "3", "--out", str(tmp_path), "--no-progress",
    )  # fmt: skip
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "No space left on device" in err and "Traceback" not in err


def test_replay_reads_remedies_records(capsys, tmp_path):
    # The shared record format: `gradguard replay` reads what `remedies` writes.
    code, _, err = run(
        capsys, "remedies", "--experiments", "divergence", "--configs", "none,clip-norm",
        "--train-steps", "12", "--out", str(tmp_path), "--no-progress", "--jobs", "1",
    )  # fmt: skip
    assert code == 0, err
    clip = tmp_path / "runs" / "divergence-T10-clip-norm-seed0.jsonl"
    code, out, err = run(capsys, "replay", str(clip), "--json")
    assert code == 0, err
    (report,) = json.loads(out)["runs"]
    assert report["run"] == "divergence/T10/clip-norm/seed0" and report["steps"] == 12
    assert report["recorded"]["clipped"] == 12 and report["nonfinite_steps"] == []
    none = tmp_path / "runs" / "divergence-T10-none-seed0.jsonl"
    code, out, _ = run(capsys, "replay", str(none), "--json")
    (report,) = json.loads(out)["runs"]
    assert code == 0 and report["recorded"]["skipped"] == 1 and report["nonfinite_steps"]


def test_flow_labels_rho_only_for_scaled_orthogonal(capsys):
    code, out, _ = run(
        capsys, "flow", "-T", "6", "--hidden", "8", "--model", "linear,relu",
        "--init", "default,scaled-orthogonal,identity", "--rho", "0.9", "--inputs", "zero",
    )  # fmt: skip
    assert code == 0
    rows = {}
    for line in out.splitlines():
        if line.startswith(("| linear", "| relu")):
            cells = line.split("|")
            rows[cells[1].strip() + "/" + cells[2].strip()] = cells
    assert "linear/default" in rows and "linear/scaled-orthogonal (0.9)" in rows
    assert float(rows["linear/default"][4]) == pytest.approx(0.5774, abs=1e-4)  # 1/√3, not 0.9
    assert "relu/identity: ‖∂L/∂h_t‖ is exactly 0 from t = 5 back" in out


def test_remedies_steps_is_the_deprecated_train_steps(capsys):
    # --steps means time steps T in explain/table/report; remedies calls its optimizer
    # steps --train-steps and keeps --steps working for one release, with one warning line.
    args = ("remedies", "--experiments", "divergence", "--configs", "clip-norm", "--json")
    code, out, err = run(capsys, *args, "--train-steps", "7", "--no-progress")
    assert code == 0 and "deprecated" not in err
    new = json.loads(out)
    code, out, err = run(capsys, *args, "--steps", "7", "--no-progress")
    assert code == 0
    warnings = [line for line in err.splitlines() if "deprecated" in line]
    assert len(warnings) == 1 and "--train-steps" in warnings[0]
    old = json.loads(out)
    assert [r["steps_run"] for r in old] == [r["steps_run"] for r in new] == [7]
    assert [{**r, "wall_s": 0} for r in old] == [{**r, "wall_s": 0} for r in new]
    code, _, err = run(capsys, *args, "--steps", "7", "--train-steps", "8")
    assert code == 2 and "disagree" in err


def test_remedies_progress_with_two_workers(capsys, tmp_path):
    code, out, err = run(
        capsys, "remedies", "--experiments", "divergence", "--configs", "clip-norm,low-lr",
        "--train-steps", "20", "--jobs", "2", "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0, err
    assert "2/2 runs done · 0 running · 0 failed" in err and "100%" in err
    assert "| clip-norm |" in out and "| low-lr |" in out
