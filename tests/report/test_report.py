"""The HTML report: built from a remedy results folder, from a guard log, and from nothing."""

from __future__ import annotations

import html.parser
import math
import re
from pathlib import Path

import pytest

from gradguard.cli import main
from gradguard.records import StepRecord, write_log
from gradguard.report import build_report, write_report
from gradguard.report._html import SECTIONS
from gradguard.report._inputs import InputFileError, load_source
from gradguard.report._lesson import erratum

from ..glossary import page_text

BENGALI = re.compile(r"[\u0980-\u09FF]")
VOID = {"meta", "img", "br", "hr", "link", "input", "col", "area", "base", "wbr", "source"}


class _Checker(html.parser.HTMLParser):
    """Fail on a mis-nested or unclosed element; collect section ids, images, external refs."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.sections: list[str] = []
        self.images: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.sections.append(a.get("id", ""))
        if tag == "img":
            self.images.append(a.get("src", ""))
        for key in ("src", "href"):
            if a.get(key, "").startswith(("http:", "https:", "//")):
                self.external.append(a[key])
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()


def _body(page: str) -> str:
    """The page's body: the inlined KaTeX script in its head holds "<img" and "<svg" too."""
    return page.split("<body>", 1)[1]


def _check(text: str) -> _Checker:
    assert text.startswith("<!DOCTYPE html>")
    c = _Checker()
    c.feed(text)
    c.close()
    assert c.stack == [], f"unclosed: {c.stack}"
    assert c.external == [], "the report must not need the network"
    assert all(src.startswith("data:image/png;base64,") for src in c.images)
    return c


def test_report_from_results_has_every_section_and_measured_evidence(results_dir):
    text = build_report(results_dir)
    c = _check(text)
    assert c.sections == [s for s in SECTIONS if s not in ("run", "literature")]  # no paper
    assert "and the remedies as measured." in text  # the lead: this report has them
    # forward trace and BPTT as the seed, in LaTeX for KaTeX: h_5 = 2 × 16 = 32;
    # 16 + 16 + 16 + 16 + 16 = 80
    assert "h_{5} &amp;= 2 \\times 16 = 32" in text and "&amp;= 16 + 16 + 16 + 16 + 16" in text
    assert "renderMathInElement" in text  # KaTeX inlined: typeset offline
    assert "∂L/∂w = 80;" in text
    # the table with errata: T = 50 → 28,147,497,671,065,600, the seed's ≈ 10^15, off by ≈ 28.1×
    # (the math typeset, 10<sup>15</sup>, its text the same)
    shown = page_text(text)
    assert "≈ 10^15" in shown and "28.1×" in text
    # its cells grouped as the erratum under it (28,147,497,671,065,600), never bare digits
    table = re.search(r"<table.*?</table>", text, re.S)
    assert table is not None and "<td>28,147,497,671,065,600</td>" in table[0]
    assert "<td>1,125,899,906,842,624</td>" in table[0] and "<td>1125899906842624<" not in text
    assert "<sup>15</sup>" in text
    assert erratum("table", "en") in shown
    # SGD: 2 − 0.01 × 80 = 1.2; with 10^6: −9998; clipping 80 at c = 5 → 5, w = 2 − 0.05 = 1.95
    assert "= 1.2." in text and "-9,998" in text
    assert "clipping scales the gradient 80 down to 5, and the update gives w = 1.95" in text
    # each remedy with its rows from summary.csv
    for heading in (
        "Gradient clipping",
        "Good weight initialization",
        "LSTM / GRU",
        "lower learning rate",
    ):
        assert heading in text
    assert "norm clipping" in text and "orthogonal init" in text and "A GRU" in text
    # measured evidence, one sentence per run, in words (no ids such as "divergence / none"),
    # under the question it answers
    nan = text.split('<section id="q-nan">')[1].split("</section>")[0]
    learn = text.split('<section id="q-learn">')[1].split("</section>")[0]
    assert "No remedy: diverged — the first non-finite loss or gradient at step 7." in nan
    assert "Clipping the gradient&#x27;s norm: stayed finite; final training loss 0.05." in nan
    assert (
        "A GRU — the adding task over T = 10 steps: stayed finite; test loss 0.004 against the "
        "memoryless baseline 0.1667 — beats it." in learn
    )
    rnn = "A plain tanh RNN — the adding task over T = 10 steps: stayed finite; test loss 0.17"
    assert rnn in learn
    assert "does not beat it" in learn and "diverged" not in learn
    assert "divergence / none" not in text and "divergence/none/seed0" not in text
    # the divergence runs' plots answer the NaN question, the adding runs' the learning one
    # (5 + 2), each titled in words: the remedy, then what was trained
    assert nan.count("<img") == 5 and learn.count("<img") == 2
    assert '<img alt="No remedy — the exploding linear RNN: loss and gradient norm"' in nan
    # summary chart + explosion plot + a run plot per config (7 configs) = at least 9 images
    assert len(c.images) >= 9
    # a table of contents: every part and section, linked
    toc = text.split('<nav class="toc"')[1].split("</nav>")[0]
    assert re.findall(r'href="#([^"]+)"', toc) == [
        "part-lesson",
        *[
            s
            for s in SECTIONS
            if s not in ("run", "remedies", "q-nan", "q-learn", "literature", "flow")
        ],
        "part-remedies",
        "remedies",
        "q-nan",
        "q-learn",
        "flow",
    ]


def test_report_from_a_log_shows_the_run_alone(guard_log):
    """The user's run alone unless the lesson is asked for (`report --from LOG --lesson`)."""
    text = build_report(guard_log)
    assert _check(text).sections == ["run"]
    assert 'id="part-lesson"' not in text and "lesson" not in text.lower()


def test_report_from_guard_log_leads_with_the_run(guard_log):
    text = build_report(guard_log, lesson=True)
    c = _check(text)
    # the run first, then the lesson; no section without content (no remedies, no flow)
    assert c.sections == ["run", "forward", "backward", "explosion", "why", "sgd", "answer"]
    # the run and the lesson are separate parts, listed in the table of contents
    assert text.index('<div class="part" id="part-run">') < text.index('id="part-lesson"')
    assert '<a href="#part-run">Your run</a>' in text
    # 40 steps; clipped 18 (see test_plots); skipped: step 12 (a spike) and 20; rollback: 21
    assert (
        "40 steps from train.jsonl: 18 clipped, 2 skipped, 1 rolled back, 2 non-finite, "
        "1 flagged as spike." in text
    )
    # loss 2/(s+1): 2 at step 0, 2/40 = 0.05 at step 39
    assert "Loss 2 at step 0, 0.05 at step 39; lowest 0.05." in text
    assert "No measured remedy runs" not in text and "was not measured" not in text
    # the event table: the skips and the rollback, not the 18 plain clipped steps, with
    # what flagged each (a log without flagged_by: derived from the kind)
    run = text.split('id="run"')[1].split("</section>")[0]
    rows = re.findall(r"<tr><td>(\d+)</td><td>([\w ]+)</td><td>(\w+)</td><td>([\w:-]+)</td>", run)
    assert [(int(s), a, by) for s, a, _, by in rows] == [
        (12, "skip", "spike"),
        (20, "skip", "nonfinite"),
        (21, "rollback to step 10", "nonfinite"),  # the step it restored, from the record
    ]
    bn = build_report(guard_log, lang="bn")
    assert "<td>10 নম্বর ধাপে rollback করেছে</td>" in bn
    assert text.index('id="run"') < text.index('id="forward"')
    # titled by the run, not by the lesson (whose lead promises remedies this page lacks)
    assert "<h1>gradguard report: train.jsonl</h1>" in text
    assert "<title>gradguard report: train.jsonl</title>" in text
    assert "the remedies as measured" not in text


def test_report_no_lesson_and_rule_threshold_in_the_table(tmp_path):
    recs = [StepRecord(step=s, loss=1.0, grad_norm=1.0, spike_threshold=10.0) for s in range(5)]
    recs.append(
        StepRecord(
            step=5,
            loss=1.0,
            grad_norm=1e6,
            action="skip",
            kind="spike",
            spike_threshold=10.0,
            flagged_by="spike-mad",
        )
    )
    path = tmp_path / "one.jsonl"
    write_log(path, recs)
    text = build_report(path, lesson=False)
    assert _check(text).sections == ["run"]
    assert "<h1>gradguard report: one.jsonl</h1>" in text and "lesson" not in text
    assert (
        "<td>5</td><td>skip</td><td>spike</td><td>spike-mad</td><td>1e+06</td><td>10</td>" in text
    )


def test_report_reads_a_log_with_two_runs_as_two(tmp_path):
    from gradguard.records import RecordWriter

    path = tmp_path / "twice.jsonl"
    for start in range(2):
        with RecordWriter(path) as log:
            log.write_meta({"started": start})
            for s in range(3 + start):
                log.write(StepRecord(step=s, loss=1.0, grad_norm=0.5))
    text = build_report(path, lesson=False)
    assert _check(text).sections == ["run", "run-2"]
    assert "3 steps from twice.jsonl (1/2)" in text and "4 steps from twice.jsonl (2/2)" in text


def test_report_without_source_and_bengali():
    text = build_report(lang="bn")
    c = _check(text)
    assert '<html lang="bn">' in text
    assert len(BENGALI.findall(text)) > 500
    assert "পরীক্ষার জন্য এক লাইনের উত্তর" in text
    assert c.sections[0] == "forward" and c.sections[-1] == "flow"
    assert "<h2>সূচিপত্র</h2>" in text and "সমাধানগুলো, আসল RNN-এ মেপে দেখা" in text
    # no remedy runs: the lead does not say the remedies were measured
    assert "মেপে দেখা কোনো সমাধান নেই" in text and "সমাধানগুলো মেপে দেখা হয়েছে" not in text
    assert "remedies as measured" not in build_report()


def test_report_other_parameters():
    text = build_report(w="0.5", h0=3, T=12)
    # 12 > 10 steps: the trace shows the first 6 and last 3; h_12 = 3·0.5^12 = 3/4096
    # = 0.000732421875 (a terminating decimal, shown as one), h_11 = 3/2048 = 0.00146484375
    assert "h_{12} &amp;= 0.5 \\times 0.00146484375 = 0.000732421875" in text
    assert "… 3 more …" in text
    assert "never overflows" in text
    assert html.escape(erratum("table", "en")) not in text  # only for the seed's w = 2, h0 = 1


def test_report_near_w_one_has_no_raw_giant_numbers():
    # w = 1: float64 overflows at T ≈ 1.798e308, float32 at ≈ 3.403e38 (|grad| = T·h0)
    text = build_report(w="1", T=5)
    shown = page_text(text)
    assert "T ≈ 1.798 × 10^308" in shown and "T ≈ 3.403 × 10^38" in shown
    assert not re.search(r"\d{40}", text.split("<figure>")[0] + text.split("</figure>")[-1])
    # |w| within 1e-308 of 1: −1/ln|w| is inf as a float; the peak is shown from the exact one
    why = build_report(w="0." + "9" * 310, T=5).split('id="why"')[1].split("</section>")[0]
    # a/(1−a) = 10^310 − 1 is whole: a tie between it and 10^310, both named
    assert "largest at two time steps, T ≈ 1.000 × 10^310 and T ≈ 1.000 × 10^310" in page_text(why)


def test_write_is_atomic_and_keeps_old_file_on_error(tmp_path, guard_log):
    out = tmp_path / "r.html"
    out.write_text("old report")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"v":1,"type":"step","step":0}\n{oops\n{"v":1,"type":"step","step":2}\n')
    with pytest.raises(InputFileError, match=r"bad.jsonl:2: not valid JSON"):
        write_report(out, bad)
    assert out.read_text() == "old report"
    write_report(out, guard_log)
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl", "r.html", "train.jsonl"]


def test_load_source_errors(tmp_path, results_dir):
    with pytest.raises(InputFileError, match="no such file or folder"):
        load_source(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError, match=r"no summary\.csv and no"):
        load_source(tmp_path / "empty")
    summary = results_dir / "summary.csv"
    lines = summary.read_text().splitlines()
    summary.write_text("\n".join([*lines[:3], "divergence,none,0,true", *lines[3:]]) + "\n")
    with pytest.raises(InputFileError, match=r"summary\.csv:4: 4 fields where the header has 13"):
        load_source(results_dir)
    summary.write_text("experiment,config\nx,y\n")
    with pytest.raises(InputFileError, match=r"summary.csv:1: header lacks the columns seed"):
        load_source(summary)  # summary.csv itself is accepted as the folder
    # a tour folder: flow.json at the top, the results one level down
    tour = results_dir.parent / "tour"
    tour.mkdir()
    results_dir.rename(tour / "remedies")
    (tour / "remedies" / "summary.csv").write_text("\n".join(lines) + "\n")
    (tour / "flow.json").write_text('{"curves": {"gru": [1.0, 0.5]}}')
    src = load_source(tour)
    assert len(src.summary) == 7 and len(src.runs) == 7 and src.flow is not None
    results_dir = tour / "remedies"
    src = load_source(results_dir / "divergence" / "none-seed0.jsonl")
    assert src.kind == "log" and len(src.log.steps) == 20
    # a summary saved under another name is still read as CSV, never as a JSONL log
    (results_dir / "summary.csv").rename(results_dir / "quick.csv")
    src = load_source(results_dir / "quick.csv")
    assert src.kind == "results" and len(src.summary) == 7 and len(src.runs) == 7


# ---- through the CLI: exit codes, one-line errors, no traceback ----


def _one_line_error(capsys, argv, code=2) -> str:
    assert main(argv) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gradguard: error: "), err
    assert "Traceback" not in err
    return err


def test_cli_report_from_results(tmp_path, results_dir, capsys):
    out = tmp_path / "r.html"
    assert main(["report", "--from", str(results_dir), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out.resolve())
    _check(out.read_text())


def test_cli_report_bengali_from_log(tmp_path, guard_log, capsys):
    out = tmp_path / "bn.html"
    assert main(["report", "--from", str(guard_log), "--lang", "bn", "-o", str(out)]) == 0
    text = out.read_text()
    assert "আপনার training: train.jsonl" in text and BENGALI.search(text)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--from", "MISSING"], "MISSING: no such file or folder"),
        (["--lang", "fr"], "--lang must be one of en, bn, got 'fr'."),
        (["--steps", "0"], "--steps must be a whole number ≥ 1, got '0'."),
        (["--w", "abc"], "--w must be a finite number"),
        (["--clip", "-1"], "--clip must be a finite number > 0"),
        (["--lr", "-0.5"], "--lr must be a number > 0"),
        (["--out", "no/such/dir/r.html"], "--out must be a file in an existing folder"),
    ],
)
def test_cli_report_bad_input(tmp_path, capsys, monkeypatch, argv, needle):
    monkeypatch.chdir(tmp_path)
    err = _one_line_error(capsys, ["report", *argv])
    assert needle in err
    assert not (tmp_path / "report.html").exists()


def test_cli_report_malformed_log_names_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"v":1,"type":"step","step":0}\n{"v":1,"type":"step","step":1,"action":"fly"}\n'
    )
    err = _one_line_error(capsys, ["report", "--from", str(bad), "--out", str(tmp_path / "r.html")])
    assert f"{bad}:2: bad step record" in err
    assert err.strip().endswith("got 'fly').")  # one full stop, not "'fly'.)."


def test_cli_report_out_is_folder(tmp_path, capsys):
    err = _one_line_error(capsys, ["report", "--out", str(tmp_path)])
    assert "--out must be a file path, not a folder" in err


def test_cli_help_for_each_command(capsys):
    for cmd in ("report", "tour", "serve"):
        assert main([cmd, "--help"]) == 0
        out = capsys.readouterr().out
        assert "--help" in out and "Usage" in out


def test_cli_tour_writes_report(tmp_path, capsys, monkeypatch, results_dir):
    from gradguard.cli import _report as tour_mod

    # The remedies' quick preset takes a minute (measured in the README, not here): the tour
    # is tested with a finished results folder standing in for it; flow runs for real, made
    # small (one model × init, T = 12). Without torch the tour skips both
    # (tests/test_extras.py).
    monkeypatch.setattr(tour_mod, "_stage_remedies", lambda out, on_progress, jobs: results_dir)
    monkeypatch.setattr(tour_mod, "FLOW_CONFIGS", (("linear", "scaled-orthogonal", 2.0),))
    monkeypatch.setattr(tour_mod, "FLOW_T", 12)
    out = tmp_path / "tour"
    assert main(["tour", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip().endswith(f"report: {(out / 'report.html').resolve()}")
    # the lab's table with the seed's claims, its errata and where floats give up
    assert "seed says" in captured.out and "28.1×" in captured.out
    assert "28,147,497,671,065,600" in captured.out  # 50·2^49, the seed's "≈ 10^15"
    assert "≈ 3.567 × 10^308" in captured.out  # 1016·2^1015, the first inf in float64
    assert "The seed's table says ≈ 1024, ≈ 10^6 and ≈ 10^15" in captured.out
    assert "In float64 this gradient is inf from T = 1,016 on" in captured.out
    assert "In float32 this gradient is inf from T = 123 on" in captured.out
    text = (out / "report.html").read_text()
    _check(text)
    assert "No remedy: diverged" in text
    assert (out / "flow.json").is_file() and "linear × scaled-orthogonal (ρ = 2)" in text
    # the linear RNN with orthogonal W scaled to ρ = 2 multiplies ‖∂L/∂h_t‖ by 2 per step
    assert "ρ(W) = 2, measured per-step factor" in text and "= 2 over T = 12." in text


def test_tour_table_in_bengali():
    from gradguard.cli._report import _stage_table

    text = _stage_table("bn")
    # headers, regime, horizons and the erratum from the lesson's Bengali catalog
    for needle in ("আগের সারির কত গুণ", "টিউটোরিয়ালে লেখা", "exponential হারে", "টিউটোরিয়াল কোথায় ভুল"):
        assert needle in text
    assert "float64-এ এই gradient T = 1,016 থেকে inf হয়ে যায়" in text
    assert "seed says" not in text and "Erratum" not in text
    # the numbers are the lab's: 50·2^49 = 28,147,497,671,065,600, off from 10^15 by 28.1×
    assert "28,147,497,671,065,600" in text and "28.1×" in text


def test_cli_tour_out_is_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    err = _one_line_error(capsys, ["tour", "--out", str(f)])
    assert "--out must be a folder" in err
    assert f.read_text() == "x"


def test_outputs_are_paths(tmp_path: Path):
    assert write_report(tmp_path / "x.html").name == "x.html"


def test_report_flow_section_with_curves_and_heatmap():
    # ‖∂L/∂h_t‖ for a linear RNN with ρ = 2: each backward step multiplies by 2 (t = T … 1)
    T = 20
    curves = {"linear × scaled-orthogonal (ρ = 2)": [2.0 ** (T - t) for t in range(1, T + 1)]}
    heat = [[0.5**k * 2.0 ** (T - t) for t in range(1, T + 1)] for k in range(4)]
    flow = {
        "curves": curves,
        "notes": ["linear × scaled-orthogonal (ρ = 2): measured per-step factor 2."],
        "heatmap": heat,
        "heatmap_steps": [0, 10, 20, 30],
        "heatmap_label": "tanh × xavier-normal, adding T = 20",
    }
    text = build_report(flow=flow)
    flow_html = text[text.index('<section id="flow">') :].split("</section>")[0]
    assert flow_html.count("<img") == 2  # the curves and the heat map
    assert "measured per-step factor 2." in flow_html
    assert "Gradient flow was not measured" not in text
    # what the tour measures is worded in the report's language
    label = "linear × scaled-orthogonal (ρ = 2)"
    flow = {"curves": curves, "measured": [{"label": label, "rho": 2.0, "factor": 2.0}], "T": T}
    bn = build_report(flow=flow, lang="bn")
    assert f"{label}: ρ(W) = 2; T = 20 সময় ধাপে মাপা প্রতি সময় ধাপের গুণক" in bn
    assert "per-step factor" not in bn


def test_flow_json_in_results_folder(results_dir):
    (results_dir / "flow.json").write_text('{"curves": {"gru × default": [1.0, 0.9, 0.8]}}')
    text = build_report(results_dir)
    assert "Gradient flow was not measured" not in text
    (results_dir / "flow.json").write_text('{"curves": {"x": ["a"]}}')
    with pytest.raises(InputFileError, match=r"flow\.json:1: expected"):
        build_report(results_dir)


def test_cli_report_saves_plots_as_svg(tmp_path, guard_log, capsys):
    out, plots_dir = tmp_path / "r.html", tmp_path / "figs"
    argv = ["report", "--from", str(guard_log), "-o", str(out), "--plots", str(plots_dir)]
    argv.append("--lesson")  # the run alone has no lesson figures
    assert main([*argv, "--plot-format", "svg"]) == 0
    names = sorted(p.name for p in plots_dir.iterdir())
    # one file per inlined figure: explosion, sgd, guard timeline, layer heat map
    assert names == ["explosion.svg", "layers.svg", "sgd.svg", "timeline.svg"]
    assert _body(out.read_text()).count("<img") == len(names)
    assert all(b"<svg" in (plots_dir / n).read_bytes()[:600] for n in names)
    capsys.readouterr()
    err = _one_line_error(capsys, [*argv, "--plot-format", "jpg"])
    assert "--plot-format must be png or svg, got 'jpg'." in err


@pytest.mark.parametrize(("T", "kind"), [(5, "slower"), (200, "faster")])
@pytest.mark.parametrize("lang", ["en", "bn"])
def test_report_after_update_sentence_follows_the_lesson(T, kind, lang):
    # w = 2, η = 0.01: w_new = 1.2 at T = 5 (|w| shrank); ≈ −1.6 × 10^60 at T = 200 (it grew)
    from gradguard.explain import load_catalog

    text = build_report(lang=lang, T=T)
    cat = load_catalog(lang)
    # what follows |w_new| in each sentence is its own: "is still above 1", "larger than before"
    ends = {k: html.escape(cat[f"after_update.{k}"].split("{a_new}")[1]) for k in _KINDS}
    assert [k for k, s in ends.items() if s in text] == [kind]


_KINDS = ("slower", "same", "faster")


def test_cli_tour_checks_its_prerequisites_before_any_stage(tmp_path, capsys):
    # A bad --jobs fails in one line before the lesson is printed or anything is trained.
    assert main(["tour", "--out", str(tmp_path / "t"), "--jobs", "0"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    assert captured.err.count("\n") == 1 and "--jobs must be a whole number" in captured.err
    assert not (tmp_path / "t" / "remedies").exists()


@pytest.mark.parametrize(
    ("lang", "transient", "reproducible"),
    [
        ("en", "step — re-run on its batch: transient", "skip — re-run on its batch: reproducible"),
        ("bn", "update করেছে — একই ব্যাচে আবার চালানো হয়েছে: ক্ষণস্থায়ী", "পুনরাবৃত্তিযোগ্য"),
    ],
)
def test_the_event_table_shows_a_re_run_and_its_verdict(tmp_path, lang, transient, reproducible):
    """A re-run step's row says it was re-run and the verdict: a transient step was taken
    (re-run healthy), not the plain 'step' of a non-finite one."""
    records = [StepRecord(step=i, grad_norm=1.0, loss=1.0) for i in range(8)]
    for i, verdict in ((3, "reproducible"), (6, "transient")):
        r = records[i]
        r.kind, r.grad_norm, r.nonfinite_count = "nonfinite", math.inf, 1
        r.action = "step" if verdict == "transient" else "skip"
        r.extra["rerun"] = {"verdict": verdict, "grad_norm": 1.0, "loss": 1.0}
    write_log(tmp_path / "run.jsonl", records)
    text = build_report(tmp_path / "run.jsonl", lang=lang)
    run = text.split('id="run"')[1].split("</section>")[0]
    row3 = run.split("<tr><td>3</td>")[1].split("</tr>")[0]
    row6 = run.split("<tr><td>6</td>")[1].split("</tr>")[0]
    assert reproducible in row3 and transient not in row3
    assert transient in row6
