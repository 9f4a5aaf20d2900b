"""The lab's commands through the real CLI entry point: output, exit codes, one-line errors."""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradguard.cli import main

BENGALI = re.compile(r"[\u0980-\u09FF]")


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def assert_usage_error(capsys, args, *needles):
    code, out, err = run(capsys, *args)
    assert code == 2, (args, out, err)
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err  # one line, no traceback
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_explain_default_text(capsys, monkeypatch):
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    code, out, err = run(capsys, "explain")
    assert code == 0 and err == ""
    assert "h_5 = 2 × 16 = 32" in out and "= 80" in out and "5,120" in out
    assert not BENGALI.search(out)


def test_explain_json_keys(capsys):
    code, out, _ = run(capsys, "explain", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert {"states", "loss", "terms", "grad", "table"} <= set(data)
    assert data["grad"] == "80" and data["table"][3]["grad"] == "28147497671065600"


def test_explain_fraction_and_markdown(capsys):
    code, out, _ = run(capsys, "explain", "--w", "0.9", "--steps", "3", "--format", "markdown")
    assert code == 0 and "$$" in out
    # 3·0.9^2·1 = 2.43
    assert "= 2.43" in out


@pytest.mark.parametrize("how", ["flag", "env"])
def test_explain_bengali(capsys, monkeypatch, how):
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    if how == "env":
        monkeypatch.setenv("LANG", "bn_BD.UTF-8")
        args = ["explain"]
    else:
        monkeypatch.setenv("LANG", "C")
        args = ["explain", "--lang", "bn"]
    code, out, _ = run(capsys, *args)
    assert code == 0 and BENGALI.search(out)
    assert "16 + 16 + 16 + 16 + 16 = 80" in out and "28,147,497,671,065,600" in out


def test_table_text_and_json(capsys):
    code, out, _ = run(capsys, "table")
    assert code == 0 and "28,147,497,671,065,600" in out and "≈ 10^15" in out
    assert "float64: the gradient is inf from T = 1,016 on." in out
    assert "float32: the gradient is inf from T = 123 on." in out
    code, out, _ = run(capsys, "table", "--steps", "5,1016", "--mode", "float64", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["T"] for r in rows] == [5, 1016] and rows[1]["grad"] == "inf"
    assert {"T", "h_T", "grad"} <= set(rows[0])
    code, out, _ = run(capsys, "table", "--steps", "1000000000000", "--mode", "log", "--json")
    assert code == 0
    assert json.loads(out)[0]["grad"]["sign"] == 1


def test_sgd(capsys):
    code, out, _ = run(capsys, "sgd", "--compare")
    assert code == 0 and "NON-FINITE at update k = 3" in out and "(clipped)" in out
    # numbers as the lesson's tables write them: 2,480 grouped, 1.8981 × 10^13, never 1.8981e+13
    assert "2,480" in out and "1.8981 × 10^13" in out and not re.search(r"\de[+-]\d", out)
    code, out, _ = run(capsys, "sgd", "--loss", "seed", "--iters", "1", "--mode", "exact", "--json")
    assert code == 0
    run_ = json.loads(out)["none"]
    assert run_["steps"][0]["w_next"] == "6/5"  # the seed's 2 − 0.01·80 = 1.2
    code, out, _ = run(capsys, "sgd", "--mode", "float32", "--json")
    assert code == 0
    assert json.loads(out)["none"]["first_nonfinite"] is not None


def test_clip(capsys):
    code, out, _ = run(capsys, "clip")
    assert code == 0 and out.strip() == "g = 100, c = 5 → 5"
    code, out, _ = run(capsys, "clip", "--g", "3,4", "--c", "1", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["clipped"] == pytest.approx([0.6, 0.8]) and data["norm"] == 5.0
    code, out, _ = run(capsys, "clip", "--g", "-7", "--by", "value", "--json")
    assert code == 0
    assert json.loads(out)["clipped"] == "-5"


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["explain", "--steps", "0"], ["--steps", "'0'", "whole number ≥ 1"]),
        (["explain", "--steps", "-3"], ["--steps", "'-3'", "whole number ≥ 1"]),
        (["explain", "--steps", "2.5"], ["--steps", "'2.5'", "whole number ≥ 1"]),
        (["explain", "--steps", "abc"], ["--steps", "'abc'", "whole number ≥ 1"]),
        (["explain", "--w", "nan"], ["--w", "'nan'", "finite number"]),
        (["explain", "--w", "inf"], ["--w", "'inf'", "finite number"]),
        (["explain", "--w", "abc"], ["--w", "'abc'", "finite number"]),
        (["explain", "--h0", "1/0"], ["--h0", "q ≠ 0"]),
        (["explain", "--lang", "xx"], ["--lang", "'xx'", "en, bn"]),
        (["explain", "--format", "pdf"], ["--format", "'pdf'"]),
        (["explain", "--lr", "-1"], ["--lr", "> 0"]),
        (["explain", "--clip", "0"], ["--clip", "> 0"]),
        (["explain", "--steps", "1000000"], ["--steps", "100,000", "--mode log"]),
        (["explain", "--table-steps", "5,abc"], ["--table-steps"]),
        (["explain", "--abbreviate", "0"], ["--abbreviate", "whole number ≥ 1, got 0"]),
        (["explain", "--abbreviate", "-1", "-f", "json"], ["--abbreviate", "got -1"]),
        (["explain", "--table-steps", "5,10000000"], ["--table-steps", "10000000", "--mode log"]),
        (["table", "--steps", "0"], ["--steps", "'0'"]),
        (["table", "--steps", "5,-3"], ["--steps"]),
        (["table", "--steps", "2.5"], ["--steps"]),
        (["table", "--w", "inf"], ["--w"]),
        (["table", "--mode", "float16"], ["--mode", "exact, float64, float32, log"]),
        (["table", "--steps", "100000000"], ["--steps", "1,000,000 digits", "--mode log"]),
        (["table", "--steps", "-3"], ["--steps", "'-3'"]),
        (["table", "--steps", "abc"], ["--steps", "'abc'"]),
        (["table", "--w", "nan"], ["--w", "'nan'", "finite number"]),
        (["table", "--w", "abc"], ["--w", "'abc'", "finite number"]),
        (["sgd", "--steps", "0"], ["--steps", "'0'", "whole number ≥ 1"]),
        (["sgd", "--steps", "-3"], ["--steps", "'-3'", "whole number ≥ 1"]),
        (["sgd", "--steps", "2.5"], ["--steps", "'2.5'", "whole number ≥ 1"]),
        (["sgd", "--w", "nan"], ["--w", "'nan'", "finite number"]),
        (["sgd", "--w", "inf"], ["--w", "'inf'", "finite number"]),
        (["sgd", "--w", "abc"], ["--w", "'abc'", "finite number"]),
        (["sgd", "--steps", "abc"], ["--steps"]),
        (["sgd", "--w", "1e400"], ["--w", "float64's range"]),  # float(w) once raised
        (["sgd", "--w", "1e300", "--mode", "float32"], ["--w", "float32's range"]),
        (["sgd", "--lr", "1e-50", "--mode", "float32"], ["--lr", "round to 0 in float32"]),
        (["sgd", "--iters", "0"], ["--iters"]),
        (["sgd", "--lr", "0"], ["--lr"]),
        (["sgd", "--loss", "mse"], ["--loss", "seed, target"]),
        (["sgd", "--mode", "log"], ["--mode"]),
        (["sgd", "--clip", "nan"], ["--clip"]),
        (["clip", "--c", "0"], ["--c", "> 0"]),
        (["clip", "--g", "abc"], ["--g", "'abc'"]),
        (["clip", "--by", "magic"], ["--by", "norm, value"]),
        (["explain", "--nope"], ["--nope"]),
        (["explain", "--steps", "9" * 35], ["--steps", "at most 30 digits"]),
        (["clip", "--g", "1e400,1"], ["--g", "'1e400'", "float64"]),
        (["explain", "--w", "0." + "9" * 5000], ["--w", "4300 digits"]),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, args, needles):
    assert_usage_error(capsys, args, *needles)


def test_huge_exact_result_is_refused_fast(capsys):
    import time

    start = time.perf_counter()
    assert_usage_error(capsys, ["table", "--steps", "10000000000"], "--mode log")
    # A hang guard, not a speed claim: the refusal is an estimate from log10.
    assert time.perf_counter() - start < 10


def test_every_command_has_help(capsys):
    for cmd in ("explain", "table", "sgd", "clip"):
        code, out, _ = run(capsys, cmd, "--help")
        assert code == 0 and "--help" in out and "Usage" in out


def test_explain_process_does_not_import_heavy_modules():
    code = (
        "import sys; from gradguard.cli import main; main(['explain', '--format', 'json']);"
        "print([m for m in ('torch', 'matplotlib', 'sympy') if m in sys.modules], file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr.strip() == "[]"


def test_long_values_beyond_4300_digits(capsys):
    # 1e-300 to the 20th power has a 6,000-digit denominator: past int→str's default limit.
    code, out, _ = run(capsys, "explain", "--w", "1e-300", "--steps", "20", "--format", "json")
    assert code == 0
    assert json.loads(out)["loss"] == "1/1" + "0" * 6000
    code, out, _ = run(capsys, "explain", "--w", "1e-300", "--steps", "20")
    assert code == 0 and "L ≈ 1.000 × 10^-6000" in out


def test_large_T_text_abbreviates_and_json_needs_abbreviate(capsys):
    code, out, _ = run(capsys, "explain", "--steps", "20000")
    assert code == 0 and "L ≈ 3.980 × 10^6020" in out  # 2^20000 = 3.98…·10^6020
    assert_usage_error(capsys, ["explain", "--steps", "20000", "--format", "json"], "--abbreviate")
    code, out, _ = run(
        capsys, "explain", "--steps", "20000", "--format", "json", "--abbreviate", "40"
    )
    assert code == 0 and json.loads(out)["loss"] == "≈3.980e+6020"


def test_table_counts_digits_in_its_language(capsys):
    # a value past 40 digits is abbreviated with its digit count, in the table's language
    code, out, _ = run(capsys, "table", "--steps", "20000", "--lang", "bn")
    assert code == 0 and "(6,025 অঙ্ক)" in out and "digits" not in out
    code, out, _ = run(capsys, "table", "--steps", "20000")
    assert code == 0 and "(6,025 digits)" in out


@settings(max_examples=25, deadline=None)
@given(
    w=st.fractions(min_value=-4, max_value=4, max_denominator=20),
    h0=st.fractions(min_value=-4, max_value=4, max_denominator=20),
    T=st.integers(1, 60),
)
def test_any_small_parameters_run_cleanly(w, h0, T):
    # Every format of every command: exit 0 and no traceback, whatever the regime.
    params = ["--w", str(w), "--h0", str(h0), "--steps", str(T)]
    for args in (
        ["explain", *params],
        ["explain", *params, "--format", "markdown"],
        ["explain", *params, "--format", "json", "--lang", "bn"],
        ["table", "--w", str(w), "--h0", str(h0), "--steps", f"1,{T},{T + 7}"],
        ["sgd", *params, "--iters", "5", "--compare"],
    ):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args)
        assert code == 0, (args, err.getvalue())
        assert out.getvalue()


def test_lab_and_explain_start_without_numpy():
    # numpy is imported where arrays are used; the exact lesson never needs it (start-up time).
    code = (
        "import sys; from gradguard.explain import lesson, render_text;"
        "render_text(lesson()); print('numpy' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_explain_regimes_say_the_right_thing(capsys):
    # |w| ≤ 1/2: no rise before vanishing (f(2)/f(1) = 2|w| ≤ 1); at |w| = 1/2 a tie.
    code, out, _ = run(capsys, "explain", "--w", "-0.5", "--lang", "en")
    assert code == 0 and "equally large at T = 1 and T = 2" in out and "first grows" not in out
    code, out, _ = run(capsys, "explain", "--w", "0.25", "--lang", "en")
    assert code == 0 and "largest at T = 1 and shrinks" in out and "first grows" not in out
    # Not exploding to start with: nothing "no longer" or "still" explodes.
    code, out, _ = run(capsys, "explain", "--w", "0.9", "--lang", "en")
    assert code == 0 and "no longer" not in out and "still explodes" not in out
    # w = 1, h0 = −1: g = −5, w_new = 1 + 0.05 = 1.05, which does explode.
    code, out, _ = run(capsys, "explain", "--w", "1", "--h0", "-1", "--lang", "en")
    assert code == 0 and "|w| = 1.05 > 1: at this w the gradient explodes" in out
    # w = 0: a 0/0 growth ratio is shown as "—", not "nan".
    code, out, _ = run(capsys, "explain", "--w", "0", "--lang", "en")
    assert code == 0 and "nan" not in out
    # w within 10^-400 of 1 (float(w) == 1.0) once crashed the peak formula.
    code, out, err = run(capsys, "explain", "--w", "0." + "9" * 400, "--steps", "3")
    assert code == 0 and err == ""


def test_sgd_says_still_explodes_from_the_exact_first_update(capsys):
    # η = (1 − 10^-12)/2480: w_1 = 1 + 10^-12 exactly, which float64 prints as "1"; the note
    # says |w| is still > 1 with a number that is (never "|w| = 1 is still > 1")
    for mode in ("float64", "exact"):
        code, out, _ = run(capsys, "sgd", "--lr", "999999999999/2480000000000000", "-n", "2",
                           "--mode", mode, "--lang", "en")  # fmt: skip
        assert code == 0 and "|w| = 1.000000000001 is still > 1" in out, out
    # η = 1/2480: w_1 = 1 exactly — not above 1, so no note (float64 agrees here)
    code, out, _ = run(capsys, "sgd", "--lr", "1/2480", "-n", "2", "--lang", "en")
    assert code == 0 and "still" not in out
    # the seed's clipped run: |w| = 1.95 after the first update
    code, out, _ = run(capsys, "sgd", "--clip", "5", "-n", "2", "--lang", "en")
    assert code == 0 and "|w| = 1.95 is still > 1" in out


def test_abbreviated_values_read_approximately_equal(capsys):
    # 200·2^199 has 63 digits: shown abbreviated, and prose says "w ≈ …", never "w = ≈ …".
    code, out, _ = run(capsys, "explain", "--steps", "200", "--lang", "en")
    assert code == 0 and "w ≈ -" in out and "= ≈" not in out


def test_one_step_lesson_has_no_exaggeration(capsys):
    # T = 1: ∂L/∂w = h_0 = 1 — one term, and nothing "very large" about it.
    code, out, _ = run(capsys, "explain", "--steps", "1", "--lang", "en")
    assert code == 0 and "∂L/∂w = 1·2^0 = 1" in out
    assert "very large" not in out and "= 1 = 1" not in out
    code, out, _ = run(capsys, "explain", "--lang", "en")  # the seed's 80 is, as it says
    assert "(even for such a small network this is very large)" in out


@pytest.mark.parametrize(
    "args",
    [
        ["--compare", "-n", "4"],  # a run without clipping, one that clips every update, low η
        ["--clip", "100000", "-n", "2", "--lr", "0.0001"],  # |g| ≤ c at every update
        ["--clip", "1e12", "-n", "3"],  # clipped once |g| passes 10^12
    ],
)
@pytest.mark.parametrize("lang", ["en", "bn"])
def test_sgd_says_what_clipping_did_from_the_gradients(args, lang, capsys):
    # The oracle: each run's gradients against its c, read from --json (not the status line).
    assert main(["sgd", *args, "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert main(["sgd", *args, "--lang", lang]) == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("->")]
    assert len(lines) == len(runs)
    for line, run in zip(lines, runs.values(), strict=True):
        c = run["params"]["clip"]
        acted = sum(abs(s["grad"]) > float(Fraction(c)) for s in run["steps"]) if c else None
        n = len(run["steps"])
        if acted is None:  # no clipping in this run: no word on it
            assert "clipping" not in line, line
        elif acted == 0:
            zero = f"{n}টি update-এর কোনোটিতেই clipping লাগেনি" if lang == "bn" else "none of the"
            assert zero in line and "0" not in line.split(";")[-1], line
        else:
            some = f"{n}টি update-এর মধ্যে {acted}টিতে" if lang == "bn" else f"on {acted} of {n}"
            assert some in line, line
