"""What gradguard prints in Bengali follows the glossary: no Latin word but its terms and math.

The seed's Bengali text keeps technical words in Latin script ("gradient", "weight",
"training", "Exploding Gradient"); gradguard's Bengali does the same with the terms of
``docs/glossary.md`` and nothing else, and uses none of the variants it rejects. Scanned:
`explain --lang bn` in every format, `table --lang bn`, the Bengali report (with a remedies
folder and with a guard log), the explorer's Bengali answers and page, errors, progress
lines (the catalogs themselves: tests/test_glossary.py).
"""

from __future__ import annotations

import json
import math
import re
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from itertools import pairwise
from pathlib import Path

import pytest

from gradguard.cli import main
from gradguard.records import ACTIONS
from gradguard.report import build_report
from gradguard.serve import explorer_state, make_server

from ..glossary import BENGALI, WORD, page_text, rejected_variants, strings
from ..glossary import latin_words as glossary_latin_words
from ..terminal import glibc_char_width, glibc_width

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

CATALOGS = Path(__file__).resolve().parents[2] / "src" / "gradguard" / "explain" / "catalogs"


def latin_words(text: str, identifiers: frozenset[str] = frozenset()) -> set[str]:
    """Return what the glossary forbids in ``text``: Latin words no glossary term, rejected forms.

    ``identifiers`` are names shown as typed (a run's name, a configuration): allowed.
    """
    return glossary_latin_words(text, identifiers) | rejected_variants(text)


def test_the_scan_finds_english():
    # The check can fail: an English sentence, a stray word, "seed" on its own.
    assert latin_words("T-এর মান must be a whole number") == {"must", "be", "whole", "number"}
    assert latin_words("seed-এ লেখা") == {"seed"}
    assert latin_words("random seed, closed form, h_T, w^(T-t), `gradguard table`") == set()


@pytest.mark.parametrize(
    "args",
    [
        ["explain", "--lang", "bn"],
        ["explain", "--lang", "bn", "--format", "markdown"],
        ["explain", "--lang", "bn", "--format", "json"],
        ["explain", "--lang", "bn", "--table-steps", "5,150"],
        ["explain", "--lang", "bn", "--w", "0.9", "-T", "12"],
        ["explain", "--lang", "bn", "--w", "-1", "-T", "200"],
        ["table", "--lang", "bn"],
    ],
)
def test_bengali_command_output(args, capsys):
    assert main(args) == 0
    out = capsys.readouterr().out
    if "json" in args:  # keys and ids are for programs; any prose is a Bengali string
        out = "\n".join(s for s in strings(json.loads(out)) if BENGALI.search(s))
    else:
        assert BENGALI.search(out)
    assert latin_words(out) == set()


def test_bengali_report(results_dir, guard_log):
    import csv

    with (results_dir / "summary.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    # experiment and configuration names are identifiers from the results, shown as they are
    names = frozenset(r[k] for r in rows for k in ("experiment", "config"))
    for source in (None, results_dir, guard_log):
        # the log's file name is the user's, shown as it is
        text = page_text(build_report(source, lang="bn")).replace(guard_log.name, " ")
        assert BENGALI.search(text)
        assert latin_words(text, names) == set(), source


def test_explorer_bengali_answers_and_errors():
    for q in ({}, {"w": "0.9", "T": "300"}, {"w": "1"}, {"w": "0"}, {"w": "-1.5", "T": "12"}):
        state = explorer_state({**q, "lang": "bn"})
        del state["params"]
        text = " ".join(strings(state))
        assert latin_words(text) == set(), q
    server = make_server(0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}/api/lesson?"
    try:
        for q in ({"T": "0"}, {"w": "x"}, {"eta": "-1"}, {"c": "0"}, {"zz": "1"}, {"w": "nan"}):
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(base + urllib.parse.urlencode({**q, "lang": "bn"}))
            error = json.loads(e.value.read())["error"]
            assert e.value.code == 400 and BENGALI.search(error), error
            assert latin_words(error) == set(), error
    finally:
        server.shutdown()
        server.server_close()


def test_bengali_missing_extra_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as without the [plot] extra
    assert main(["report", "--lang", "bn", "-o", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert BENGALI.search(err) and "[plot] extra" in err, err
    assert latin_words(err) == set(), err
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize(
    ("failure", "status"), [(OverflowError("math range error"), 400), (RuntimeError("bug"), 500)]
)
def test_explorer_bengali_answer_when_it_cannot_compute(failure, status, monkeypatch):
    import gradguard.serve._server as server_module

    def fail(params):
        raise failure

    server = make_server(0)  # its warm-up computes one answer: fail only after it
    monkeypatch.setattr(server_module, "explorer_state", fail)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}/api/lesson?"
    try:
        answers = {}
        for lang in ("bn", "en"):
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(base + urllib.parse.urlencode({"lang": lang}))
            assert e.value.code == status
            answers[lang] = json.loads(e.value.read())["error"]
    finally:
        server.shutdown()
        server.server_close()
    assert BENGALI.search(answers["bn"]) and str(failure) in answers["bn"], answers
    assert latin_words(answers["bn"]) == set(), answers["bn"]
    assert not BENGALI.search(answers["en"]) and str(failure) in answers["en"], answers


def test_bengali_tour_line_for_a_folder_it_cannot_create(tmp_path, capsys):
    (tmp_path / "f").write_text("")  # a file where the folder's parent should be
    assert main(["tour", "--lang", "bn", "--out", str(tmp_path / "f" / "t")]) == 2
    err = capsys.readouterr().err.replace(str(tmp_path), "")
    assert BENGALI.search(err) and "--out" in err, err
    assert latin_words(err) == set(), err


# ---- errors under --lang bn: every kind of bad input, the parser's own, the OS's reasons ----

_STEP = '{"v":1,"type":"step","step":0}\n'
#: A bad input for `report --from` → the end of its English line (pinned: English stays as is).
BAD_INPUTS = {
    "missing": (None, "no such file or folder (give a results folder or a JSONL log)."),
    "no_results": ({}, "no summary.csv and no *.jsonl logs in this folder "
                     "(expected the output of `gradguard remedies --out DIR`)."),
    "not_utf8": ({"x.jsonl": b"\xff\xfe\n"}, "not a UTF-8 text file (invalid start byte)."),
    "not_json": ({"x.jsonl": _STEP + "{oops\n"}, "not valid JSON "
                 "(Expecting property name enclosed in double quotes column 2)."),
    "not_record": ({"x.jsonl": '{"a": 1}\n'}, "not a gradguard record (no 'v' key)."),
    "version": ({"x.jsonl": '{"v": 9}\n'}, "record format version 9; "
                "this gradguard reads version 1."),
    "bad_step": ({"x.jsonl": '{"v":1,"type":"step","step":0,"action":"fly"}\n'},
                 "bad step record (action must be one of step, skip, rollback, got 'fly')."),
    "no_steps": ({"x.jsonl": '{"v":1,"type":"run"}\n'},
                 "no step records (a guard writes one line per training step; "
                 "this log has none)."),
    "no_step_key": ({"x.jsonl": '{"v":1,"type":"step"}\n'},
                    "bad step record (a step record needs the key 'step')."),
    "record_type": ({"x.jsonl": '{"v":1,"type":"zz"}\n'}, "unknown record type 'zz'."),
    "empty_csv": ({"summary.csv": ""}, "empty file (expected a header line)."),
    "missing_columns": ({"summary.csv": "experiment,config\nx,y\n"},
                        "header lacks the columns seed, diverged, first_nonfinite_step, "
                        "max_grad_norm, final_loss, steps_to_success, wall_s."),
    "not_flow": ({"flow.json": '{"curves": 3}', "x.jsonl": _STEP},
                 'expected {"curves": {label: [numbers]}}.'),
    "flow_not_json": ({"flow.json": "{", "x.jsonl": _STEP}, "not valid JSON "
                      "(Expecting property name enclosed in double quotes column 2)."),
}  # fmt: skip


def _bad_source(tmp_path, files):
    if files is None:
        return tmp_path / "nope"
    folder = tmp_path / "in"
    folder.mkdir()
    for name, content in files.items():
        path = folder / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    return folder / next(iter(files)) if len(files) == 1 and "flow.json" not in files else folder


def _error_line(capsys, argv, word="ভুল", code=2):
    assert main(argv) == code
    captured = capsys.readouterr()
    err = captured.err
    assert captured.out == "" and err.count("\n") == 1, err  # one line, no traceback
    assert err.startswith(f"gradguard: {word}: "), err
    return err.strip()


@pytest.mark.parametrize("kind", sorted(BAD_INPUTS))
def test_report_bad_input_in_bengali_and_english(kind, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LC_ALL", "C.UTF-8")  # English unless --lang says otherwise
    files, english = BAD_INPUTS[kind]
    source = _bad_source(tmp_path, files)
    out = tmp_path / "r.html"
    argv = ["report", "--from", str(source), "-o", str(out)]
    en = _error_line(capsys, argv, "error")
    assert en.endswith(": " + english), en
    where = en.split(": ")[2]  # the file (and the line), named as the user gave it
    bn = _error_line(capsys, [*argv, "--lang", "bn"])
    assert bn.startswith(f"gradguard: ভুল: {where}: "), bn
    bn = bn.replace(where, "")
    # the record format's own keys and values are identifiers, shown as they are
    keys = frozenset({"action", *ACTIONS})
    assert BENGALI.search(bn) and latin_words(bn, keys) == set(), bn
    assert not out.exists()


def test_file_errors_in_bengali_for_what_the_cli_cannot_make(tmp_path):
    import errno

    from gradguard.errors import FileError, file_problems, os_reason

    # summary.csv rows the runner never writes, and a file gradguard may not read
    made = {
        "field_count": FileError("s.csv:4", "field_count", found=4, expected=13),
        "empty_cell": FileError("s.csv:2", "empty_cell", column="seed"),
        "bad_bool": FileError("s.csv:2", "bad_bool", column="diverged", found="maybe"),
        "bad_int": FileError("s.csv:2", "bad_int", column="seed", found="x"),
        "bad_float": FileError("s.csv:2", "bad_float", column="wall_s", found="x"),
        "not_csv": FileError("s.csv:3", "not_csv", reason="line contains NUL"),
        "unreadable": FileError(
            "s.csv", "unreadable", reason=PermissionError(errno.EACCES, "Permission denied")
        ),
        "log_is_folder": FileError("runs", "log_is_folder"),  # (replay reads logs too)
        "no_log": FileError("x.jsonl", "no_log"),
        # the doctor's --skip file
        "no_skip_list": FileError("skip.json", "no_skip_list"),
        "not_skip_list": FileError("skip.json", "not_skip_list"),
        # a results folder that a resumed grid must not mix with (remedies --out)
        "other_config": FileError(
            "s.csv:2", "other_config", run="adding/T50/gru/seed0", found="ab12", expected="cd34"
        ),
        "other_source": FileError(
            "s.csv:2", "other_source", run="adding/T50/gru/seed0", found="ab12", expected="cd34"
        ),
        "not_in_grid": FileError("s.csv:2", "not_in_grid", run="adding/T50/gru/seed0"),
        # a second grid started on a results folder another grid is writing to
        "grid_running": FileError("out", "grid_running"),
    }
    assert set(made) | set(BAD_INPUTS) >= file_problems()
    assert str(made["unreadable"]) == "s.csv: cannot be read (Permission denied)."
    for kind, error in made.items():
        bn = error.message("bn")
        assert bn.startswith(error.where + ": ") and BENGALI.search(bn), kind
        assert latin_words(_run_ids(bn.replace(error.where, ""))) == set(), (kind, bn)
    # every errno the catalog words, and one it does not (named by its code)
    for name in ("EACCES", "EPERM", "ENOENT", "ENOTDIR", "EROFS", "ENOSPC", "EEXIST", "EISDIR"):
        error = OSError(getattr(errno, name), "English")
        bn = os_reason(error, "bn")
        assert BENGALI.search(bn) and latin_words(bn) == set(), name
        assert os_reason(error) == "English"
    assert os_reason(OSError(errno.ELOOP, "Too many levels"), "bn").endswith(" ELOOP")


@pytest.mark.parametrize(
    ("args", "english"),
    [
        (["report", "--bogus"], "No such option: --bogus (Possible options: --out) "
         "(see 'gradguard report --help')"),
        (["report", "--plot-format"], "Option '--plot-format' requires an argument. "
         "(see 'gradguard report --help')"),
        (["nosuch"], "No such command 'nosuch'. (see 'gradguard --help')"),
        (["explian"], "No such command 'explian'. Did you mean 'explain' or 'replay'? "
         "(see 'gradguard --help')"),
        (["explain", "extra"], "Got unexpected extra argument(s) (extra) "
         "(see 'gradguard explain --help')"),
        (["serve", "--port", "99999"], "--port must be a number ≤ 65535, got '99999'. "
         "(see 'gradguard serve --help')"),
        (["tour", "--jobs", "x"], "--jobs must be a whole number, got 'x'. "
         "(see 'gradguard tour --help')"),
        (["flow", "--rho", "abc"], "--rho must be a number, got 'abc'. "
         "(see 'gradguard flow --help')"),
        (["flow", "--json=3"], "Option '--json' does not take a value. "
         "(see 'gradguard flow --help')"),
    ],
)  # fmt: skip
def test_parser_errors_in_bengali(args, english, capsys, monkeypatch):
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    assert _error_line(capsys, args, "error") == "gradguard: error: " + english
    for lang in (["--lang", "bn"], ["--lang=bn"]):
        bn = _error_line(capsys, [args[0], *lang, *args[1:]])
        assert BENGALI.search(bn) and latin_words(bn) == set(), bn
        command = "gradguard" if args[0] in ("nosuch", "explian") else f"gradguard {args[0]}"
        assert bn.endswith(f"('{command} --help' দেখুন)"), bn  # where to read more
    # the locale speaks when --lang is not typed
    monkeypatch.setenv("LC_ALL", "bn_BD.UTF-8")
    assert BENGALI.search(_error_line(capsys, args))


def test_a_command_typed_wrong_is_named_with_its_suggestions_in_bengali(capsys, monkeypatch):
    monkeypatch.setenv("LC_ALL", "bn_BD.UTF-8")
    bn = _error_line(capsys, ["explian"])
    assert "'explian'" in bn and "'explain' অথবা 'replay'" in bn, bn


def test_a_language_without_catalogs_is_refused_in_the_locales_language(capsys, monkeypatch):
    monkeypatch.setenv("LC_ALL", "bn_BD.UTF-8")
    bn = _error_line(capsys, ["explain", "--lang", "fr"])
    assert "--lang" in bn and "'fr'" in bn, bn
    assert latin_words(bn, identifiers=frozenset({"en", "bn"})) == set(), bn
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    en = _error_line(capsys, ["explain", "--lang", "fr"], "error")
    assert en == "gradguard: error: --lang must be one of en, bn, got 'fr'."


def test_bengali_plots_folder_it_cannot_create(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    (tmp_path / "f").write_text("")  # a file where the folder should be, or its parent
    out = str(tmp_path / "r.html")
    for plots, english in (("f", "(File exists)."), ("f/p", "(Not a directory).")):
        argv = ["report", "-o", out, "--plots", str(tmp_path / plots)]
        en = _error_line(capsys, argv, "error")
        assert en.endswith(f"--plots must be a folder gradguard can create, got "
                           f"'{tmp_path / plots}'. {english}"), en  # fmt: skip
        bn = _error_line(capsys, [*argv, "--lang", "bn"]).replace(str(tmp_path), "")
        assert "--plots" in bn and BENGALI.search(bn) and latin_words(bn) == set(), bn
    assert not (tmp_path / "r.html").exists()


def test_bengali_report_it_cannot_write(tmp_path, capsys, monkeypatch):
    import errno

    import gradguard.report as report_module

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(report_module, "write_report", full_disk)
    out = tmp_path / "r.html"
    en = _error_line(capsys, ["report", "-o", str(out), "--lang", "en"], "error", code=1)
    assert en == f"gradguard: error: cannot write {out}: No space left on device."
    bn = _error_line(capsys, ["report", "-o", str(out), "--lang", "bn"], code=1)
    bn = bn.replace(str(out), "")
    assert "ডিস্কে আর জায়গা নেই" in bn and latin_words(bn) == set(), bn


# ---- flow and remedies in Bengali ----

#: Names the user types and the tables show as they are: cells, inits, experiments, configs.
_NAMES = frozenset(
    {"linear", "tanh", "relu", "lstm", "gru", "default", "xavier-uniform", "xavier-normal"}
    | {"he", "orthogonal", "identity", "scaled-orthogonal", "divergence", "adding", "copy"}
    | {"none", "clip-norm", "clip-value", "low-lr", "init-orthogonal", "init-xavier", "rnn"}
    | {"rnn-clip", "irnn", "norm", "adam", "mse", "ce", "MSE", "CE", "Adam"}
)


def test_flow_in_bengali(capsys, tmp_path):
    pytest.importorskip("torch")
    plot = tmp_path / "flow.png"
    argv = ["flow", "-T", "12", "--hidden", "8", "--model", "linear,relu", "--init", "he,identity"]
    assert main([*argv, "--lang", "bn", "--plot", str(plot)]) == 0
    out, err = capsys.readouterr()
    assert plot.stat().st_size > 1000
    assert BENGALI.search(out) and BENGALI.search(err), (out, err)
    for text in (out, err.replace(str(plot), "")):
        assert latin_words(text, _NAMES) == set(), text
    # the numbers are the same in both languages; English reads as it did
    assert main([*argv, "--lang", "en"]) == 0
    en = capsys.readouterr().out
    assert not BENGALI.search(en) and "each step back the gradient grows ×" in en
    assert en.splitlines()[2].split("|")[3:] == out.splitlines()[2].split("|")[3:]


def test_remedies_in_bengali(capsys, tmp_path):
    pytest.importorskip("torch")
    argv = [
        "remedies", "--experiments", "divergence,adding",
        "--configs", "none,clip-norm,clip-value,rnn",
        "--train-steps", "5", "-T", "5", "--jobs", "1",
    ]  # fmt: skip
    # with the progress bar: off a terminal it prints its last state when the runs end
    assert main([*argv, "--lang", "bn", "--out", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert BENGALI.search(out) and BENGALI.search(err), (out, err)
    assert "diverge করেছে" in out and "### adding" in out
    assert "| প্রতিটি মান ±" in out  # how clip-value clipped: in words, not "value 0.1"
    assert "সমাধান" in err, err
    assert "4টির মধ্যে 4টি রান শেষ · 0টি চলছে · 0টি ব্যর্থ" in err and "বাকি" in err, err
    err = err.replace(str(tmp_path / "runs"), "").replace(str(tmp_path / "summary.csv"), "")
    for text in (out, _run_ids(err)):
        assert latin_words(text, _NAMES) == set(), text
    assert main([*argv, "--lang", "en", "--no-progress"]) == 0
    en, err = capsys.readouterr()
    assert "| config | model | init |" in en and "diverged at step 2" in en
    assert "| value 0.1 |" in en
    assert "steps" not in err  # --no-progress: no bar


def _run_ids(text: str) -> str:
    """``text`` without the remedies' run ids (``adding/T5/rnn/seed0``: names as typed)."""
    return re.sub(r"\b\w+/T\d+/[\w-]+/seed\d+\b", " ", text)


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def _as_on_a_terminal(monkeypatch) -> None:
    """Make rich draw its live progress bars into the captured stderr, as on a terminal."""
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("TTY_INTERACTIVE", "1")
    monkeypatch.setenv("NO_COLOR", "1")


def test_tour_progress_in_bengali(tmp_path, capsys, monkeypatch):
    import time

    import gradguard.report as report_module
    from gradguard._catalog import load_catalog
    from gradguard.cli import _report
    from gradguard.experiments import GridProgress

    _as_on_a_terminal(monkeypatch)
    seen: list[str] = []

    counts = "13টির মধ্যে 3টি রান শেষ · 2টি চলছে · 0টি ব্যর্থ"

    def remedies(out, on_progress, jobs):  # the remedies stage, reporting as the runner does
        on_progress(GridProgress("adding/T50/lstm/seed0", 3, 2, 0, 13, 3.0, 10.0))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until the live bar has drawn the runs' line
            seen.append(capsys.readouterr().err)
            if counts in _ANSI.sub("", "".join(seen)):
                break
            time.sleep(0.05)
        return None

    def write_report(path, *args, **kwargs):
        path.write_text("")
        return path

    monkeypatch.setattr(_report, "_stage_flow", lambda out: None)
    monkeypatch.setattr(_report, "_stage_remedies", remedies)
    monkeypatch.setattr(report_module, "write_report", write_report)
    assert main(["tour", "--lang", "bn", "--out", str(tmp_path / "t"), "--jobs", "1"]) == 0
    out, last = capsys.readouterr()
    seen.append(last)
    err = _ANSI.sub("", "".join(seen))  # the lesson and the table too: the live bar relays them
    assert "টিউটোরিয়াল কোথায় ভুল" in err and "রিপোর্ট: " in out, (out, err)
    assert latin_words(out.replace(str(tmp_path / "t" / "report.html"), "")) == set(), out
    for stage in ("lesson", "remedies", "report"):  # drawn: first, while it waits, last
        assert load_catalog("bn")[f"tour.{stage}"] in err, stage
    assert counts + " ━" in err and "None" not in err, err
    assert latin_words(_run_ids(err)) == set(), err
    # before the first run reports, the runs' line is named in Bengali (drawn or not)
    line = re.search(r"([^\s━]+)[\s━]+0/\?", err)
    assert line is None or line[1] == load_catalog("bn")["progress.runs"], err


def test_replay_progress_in_bengali(tmp_path, capsys, monkeypatch):
    from gradguard.cli import _guard
    from gradguard.records import StepRecord, write_log

    log = tmp_path / "run.jsonl"
    write_log(log, [StepRecord(step=i, grad_norm=1.0 + (i % 5)) for i in range(40)])
    _as_on_a_terminal(monkeypatch)
    monkeypatch.setattr(_guard, "_PROGRESS_FROM", 1)  # a bar for a short log too
    assert main(["replay", str(log), "--lang", "bn"]) == 0
    err = _ANSI.sub("", capsys.readouterr().err)
    assert "আবার চালানো হচ্ছে" in err and "সিদ্ধান্ত" in err, err
    assert latin_words(err) == set(), err


@pytest.mark.parametrize(
    "args",
    [
        ["flow", "--model", ","], ["flow", "--init", "scaled-orthogonal"],
        ["flow", "--init", "scaled-orthogonal", "--rho", "-2"], ["flow", "-T", "0"],
        ["flow", "--inputs", "ones"], ["flow", "--plot", "x.jpg"],
        ["flow", "--plot", "no/such/x.png"], ["flow", "-T", "ten"], ["flow", "--h0", "nan"],
        ["flow", "--seed", "-1"], ["flow", "--hidden", "100000"], ["flow", "--batch", "0"],
        ["remedies", "--experiments", "parity"], ["remedies", "-T", "50,x"],
        ["remedies", "-T", "0"], ["remedies", "--lr", "-0.01"], ["remedies", "--jobs", "0"],
        ["remedies", "--train-steps", "0"], ["remedies", "--seeds", "-1"],
        ["remedies", "--steps", "3", "--train-steps", "4"], ["remedies", "--bogus"],
    ],
)  # fmt: skip
def test_flow_and_remedies_bad_input_in_bengali(args, capsys):
    bn = _error_line(capsys, [args[0], "--lang", "bn", *args[1:]])
    assert BENGALI.search(bn) and latin_words(bn, _NAMES) == set(), bn


def test_remedies_unwritable_out_in_bengali(capsys, tmp_path):
    (tmp_path / "f").write_text("")
    bn = _error_line(capsys, ["remedies", "--lang", "bn", "--out", str(tmp_path / "f" / "x")])
    bn = bn.replace(str(tmp_path), "")
    assert "কারণ: " in bn and latin_words(bn) == set(), bn


@pytest.mark.parametrize(
    "args",
    [
        ["sgd", "--compare", "-n", "3"],
        ["sgd", "--mode", "exact", "-T", "40", "-n", "3"],
        ["sgd", "--mode", "float32", "-n", "8"],
        ["clip", "--g", "3,4", "--c", "1"],
        ["clip"],
    ],
)
def test_sgd_and_clip_in_bengali(args, capsys):
    assert main([args[0], "--lang", "bn", *args[1:]]) == 0
    out = capsys.readouterr().out
    # the runs' names and the --loss/--mode values are shown as typed
    assert latin_words(out, frozenset({"low-lr", "target", "exact"})) == set(), out
    if args[0] == "sgd" or "--g" in args:
        assert BENGALI.search(out), out


def test_serve_line_in_bengali():
    import signal
    import subprocess

    proc = subprocess.Popen(
        [sys.executable, "-m", "gradguard", "serve", "--port", "0", "--lang", "bn"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # Ctrl-C, as typed
    )
    try:
        line = proc.stdout.readline()
        url = re.search(r"http://\S+", line)
        assert url, line
        with urllib.request.urlopen(url[0]) as page:  # it serves: Ctrl-C stops a serving loop
            assert page.status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert url and BENGALI.search(line) and url[0].endswith("/?lang=bn"), line
    assert latin_words(line.replace(url[0], "")) == set(), line
    assert proc.returncode == 0 and err.strip() == "থেমে গেছে", err


def test_replay_in_bengali(tmp_path, capsys, monkeypatch):
    from gradguard.records import StepRecord, write_log

    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    log = tmp_path / "run.jsonl"
    norms = [1.0 + 0.01 * (i % 7) for i in range(60)]
    norms[30], norms[40] = 50.0, math.inf
    records = [
        StepRecord(step=i, grad_norm=x, run="a" if i < 50 else "b") for i, x in enumerate(norms)
    ]
    records[40].action, records[40].kind = "skip", "nonfinite"
    write_log(log, records)
    assert main(["replay", str(log), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rules = out["runs"][0]["policies"]
    # the rules' names and parameters are shown as the rules spell them (as --json does)
    names = frozenset(w for p in rules for w in WORD.findall(p["description"]))
    names |= {x["rule"] for x in out["not_replayable"]}
    for argv in (["--run", "a"], ["--run", "b"], ["--skip-list", "--run", "a"]):
        assert main(["replay", str(log), "--lang", "bn", *argv]) == 0
        out = capsys.readouterr().out.replace(str(log), "")
        assert BENGALI.search(out) and latin_words(out, names) == set(), out
    for argv in (["--run", "zz"], ["--skip-list"], ["--window", "1"], ["--max-norm", "0"]):
        bn = _error_line(capsys, ["replay", str(log), "--lang", "bn", *argv])
        assert latin_words(bn.replace(str(log), "")) == set(), bn
    # English reads as it did
    assert main(["replay", str(log), "--run", "a"]) == 0
    en = capsys.readouterr().out
    assert "where (first steps)" in en and "recorded: 50 steps: 1 skipped, 1 non-finite" in en
    # a kind of step that never occurred is not counted: no "0 clipped", no "0টি clip করা"
    assert main(["replay", str(log), "--run", "a", "--lang", "bn"]) == 0
    bn = " ".join(capsys.readouterr().out.split())  # the caption as one line, however wrapped
    assert "0 clipped" not in en and "50টি ধাপের মধ্যে 1টি বাদ দেওয়া, 1টি সসীম নয়" in bn
    assert main(["replay", str(log), "--run", "b", "--lang", "bn"]) == 0
    assert "10টি training ধাপ, সবগুলোর মান সসীম" in capsys.readouterr().out


# ---- Bengali tables line up on a terminal: by display width, not by characters ----


def _cells(line: str) -> list[str]:
    """The characters of ``line`` by glibc terminal cell (marks ride on the cell before them)."""
    cells: list[str] = []
    for ch in line:
        width = max(0, glibc_char_width(ch))
        if width == 0 and cells:
            cells[-1] += ch
        else:
            cells += [ch] + [""] * (width - 1)
    return cells


def _assert_aligned(lines: list[str]) -> None:
    """A padded table (header, ─ rule, rows): every cell sits in its column's span.

    The rows' cells are right-aligned; the header may be either.
    """
    rule = next(i for i, x in enumerate(lines) if x.startswith("─"))
    spans = [m.span() for m in re.finditer("─+", lines[rule])]
    gaps = {p for (_, end), (start, _) in pairwise(spans) for p in range(end, start)}
    for i, line in enumerate(lines[rule - 1 :]):
        cells = _cells(line)
        assert len(cells) <= spans[-1][1], line  # no row runs past the last column
        assert all(cells[p] == " " for p in gaps if p < len(cells)), line
        for start, end in spans if i > 1 else []:  # rows: a cell ends where its column does
            text = "".join(cells[start:end]).strip()
            assert not text or cells[end - 1].strip(), (line, text)


@pytest.mark.parametrize(
    "args",
    [
        ["sgd", "--lang", "bn", "--compare", "-n", "3"],
        ["sgd", "--lang", "bn", "--clip", "5", "-n", "20"],
        ["sgd", "--lang", "en", "--compare", "-n", "3"],
        ["table", "--lang", "bn"],
        ["table", "--lang", "bn", "--w", "0.5"],
        ["explain", "--lang", "bn", "--table-steps", "5,10,150"],
    ],
)
def test_bengali_terminal_tables_line_up(args, capsys):
    assert main(args) == 0
    blocks = capsys.readouterr().out.split("\n\n")
    tables = [b.splitlines() for b in blocks if "\n─" in b]
    assert tables
    for block in tables:
        start = next(i for i, x in enumerate(block) if x.startswith("─")) - 1
        end = next((i for i, x in enumerate(block[start:]) if x.startswith("->")), None)
        _assert_aligned(block[start : None if end is None else start + end])


def test_replay_tables_line_up_in_bengali(tmp_path, capsys, monkeypatch):
    from gradguard.records import StepRecord, write_log

    monkeypatch.setenv("COLUMNS", "160")
    log = tmp_path / "run.jsonl"
    write_log(log, [StepRecord(step=i, grad_norm=1.0 + (i % 5) + 40 * (i == 7)) for i in range(40)])
    assert main(["replay", str(log), "--lang", "bn"]) == 0
    rows = [x for x in capsys.readouterr().out.splitlines() if x[:1] in "┏┃┡│└"]
    assert len(rows) > 6 and any(BENGALI.search(x) for x in rows)
    assert len({glibc_width(x) for x in rows}) == 1, rows
    bars = {tuple(i for i, c in enumerate(_cells(x)) if c in "┃│") for x in rows if x[0] in "┃│"}
    assert len(bars) == 1, rows


def test_one_display_width_for_every_table():
    # gradguard's own count (the lesson's tables start without rich; rich lays out the
    # replay's tables and the help screens by it) is a glibc terminal's, on every Bengali
    # string gradguard prints
    from gradguard._cells import cell_width

    for path in sorted(CATALOGS.rglob("bn.toml")):
        for s in strings(tomllib.loads(path.read_text("utf-8"))):
            for line in s.splitlines():  # a help text's paragraphs: a table cell is one line
                assert cell_width(line) == glibc_width(line), line


def test_bengali_headings_are_underlined_to_their_width(capsys):
    assert main(["explain", "--lang", "bn"]) == 0
    lines = capsys.readouterr().out.splitlines()
    pairs = [(a, b) for a, b in pairwise(lines) if b and set(b) == {"─"}]
    assert len(pairs) > 5 and any(BENGALI.search(a) for a, _ in pairs)
    for text, rule in pairs:
        assert len(rule) == min(72, max(8, glibc_width(text))), text


def test_explorer_bengali_page():
    from gradguard.serve import build_page

    page = build_page("bn")
    text = page_text(page)
    assert BENGALI.search(text)
    # the language menu names each language in itself: "English", "বাংলা"
    assert latin_words(text, frozenset({"English"})) == set(), latin_words(text)
