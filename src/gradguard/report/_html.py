"""The self-contained HTML report: the seed's lesson, computed, plus the measured evidence.

One file, no network: CSS inline, plots inlined as base64 PNG, and the Bengali glyphs the
page uses inlined as a font (:func:`gradguard.report._fonts.font_css`). For a user's
guard log the report leads with the run — counts, loss and norm timeline, per-layer heat
map, every step the guard acted on and why — then (unless left out) the lesson. The
lesson follows the seed — forward, backward, explosion (with errata), why, SGD, each
remedy with its measured evidence, gradient flow, the one-line answer.

$ gradguard report --from runs/ --lang bn --out report.html
"""

from __future__ import annotations

import base64
import html
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gradguard._atomic import write_text_atomic
from gradguard._validate import check_choice
from gradguard.errors import InputError
from gradguard.experiments import REQUIRED_COLUMNS, Paper, RunSummary, paper_of
from gradguard.explain.text import count, exact_text
from gradguard.lab import exact_to_json as exact_json
from gradguard.report._fonts import font_css
from gradguard.report._i18n import check_lang, t
from gradguard.report._inputs import Source, load_source, recorded_flow
from gradguard.report._katex import katex_head
from gradguard.report._lesson import (
    CLOSE,
    OPEN,
    SEP,
    erratum,
    factor,
    fmt,
    lesson_data,
    num,
    prose_num,
    said,
    shown_steps,
    tidy,
)
from gradguard.report._mathtext import MARK_CSS, math_html
from gradguard.report._words import config_words, run_title, short_name

__all__ = ["build_report", "write_report"]

#: Section ids in the order they appear, in three parts (each a ``<div class="part">``): your
#: run (``run``, then ``run-2``… for a log), the lesson (``forward`` … ``answer``), the remedies
#: (every run at a glance, one section per question the runs answer, a paper preset's runs
#: beside the paper, the gradient flow). With a log, or results of no paper preset, a section
#: with nothing measured is left out, not shown empty.
SECTIONS = (
    "run",
    "forward",
    "backward",
    "explosion",
    "why",
    "sgd",
    "answer",
    "remedies",
    "q-nan",
    "q-learn",
    "literature",
    "flow",
)

#: The seed's four remedies → the configuration names the remedy runner uses for them.
REMEDY_GROUPS: dict[str, tuple[str, ...]] = {
    "remedy_none": ("none", "rnn"),
    "remedy_clip": ("clip-norm", "clip-value", "rnn-clip"),
    "remedy_init": ("init-orthogonal", "init-xavier", "irnn"),
    "remedy_gates": ("lstm", "gru"),
    "remedy_lr": ("low-lr",),
}

_CSS = """
body{max-width:1100px;
margin:2em auto;padding:0 1em;line-height:1.5;color:#1b1b1b}
h1{font-size:1.6em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
code{background:#f4f4f4;padding:0 .25em}
div.math{overflow-x:auto;margin:.6em 0}p.more{color:#555;text-align:center;margin:.2em 0}
table{border-collapse:collapse;margin:1em 0;font-size:.92em;display:block;overflow-x:auto;
max-width:100%}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}th{background:#f0f0f0}
td.l,th.l{text-align:left}.errata{background:#fff4e5;border-left:4px solid #f0a020;padding:.6em 1em}
.answer{font-size:1.1em;background:#eef6ff;border-left:4px solid #3a7bd5;padding:.8em 1em}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
.note{color:#555;font-size:.9em}
.exact{border-bottom:1px dotted #888;cursor:help}
.part>h2{font-size:1.45em;border-bottom:3px solid #3a7bd5;margin-top:2.2em}
section>h3{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
nav.toc{background:#f7f9fc;border:1px solid #dde3ec;padding:.4em 1.2em;margin:1.2em 0}
nav.toc h2{font-size:1.1em;border:0;margin:.5em 0}nav.toc ol{margin:.2em 0}
nav.toc a{color:#1d4f91;text-decoration:none}nav.toc a:hover{text-decoration:underline}
@media print{
@page{size:A4;margin:16mm 14mm}
body{max-width:none;margin:0;padding:0;font-size:10.5pt;color:#000}
.part{break-before:page}nav.toc{break-after:page;background:none}
h2,h3,h4{break-after:avoid}figure,table,pre,.errata,.answer,li{break-inside:avoid}
figure img{border:0;max-height:125mm;width:auto}
table{display:table;overflow:visible;font-size:9pt}
a{color:inherit;text-decoration:none}
}
"""


def _esc(x: object) -> str:
    return html.escape(str(x), quote=True)


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<figure><img alt="{_esc(alt)}" src="data:image/png;base64,{data}"></figure>'


_MARKED = re.compile(f"{OPEN}(.*?){SEP}(.*?){CLOSE}", re.DOTALL)


def _html(text: str, math: bool = True) -> str:
    """``text`` as HTML; a number marked by :func:`~gradguard.report._lesson.num` becomes
    ``<span class="exact" title="= exact">shown</span>`` (its exact value on hover).

    With ``math``, the sentence's plain-text math is typeset (:func:`math_html`: ``h_T``,
    ``w^(T−1)``); text that carries the user's own names (a log's file name, a label)
    is only escaped: ``my_run.jsonl`` is a name, not ``my`` with a subscript.
    """
    show = math_html if math else _esc
    out, at = [], 0
    for m in _MARKED.finditer(text):
        out.append(show(text[at : m.start()]))
        out.append(f'<span class="exact" title="= {_esc(m[2])}">{show(m[1])}</span>')
        at = m.end()
    return "".join(out) + show(text[at:])


def _table(
    header: Sequence[str], rows: Sequence[Sequence[object]], left: int = 0, math: bool = False
) -> str:
    """A table; with ``math``, its cells' math typeset (the lesson's ``h_T``, ``≈ 10^6``)."""

    def cell(tag: str, i: int, v: object) -> str:
        cls = ' class="l"' if i < left else ""
        return f"<{tag}{cls}>{_html(str(v), math)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}"><h3>{_esc(title)}</h3>\n{body}\n</section>'


_SECTION = re.compile(r'<section id="([^"]+)"><h3>(.*?)</h3>')


def _part(pid: str, title: str, sections: Sequence[str]) -> str:
    """One part of the report (your run, the lesson, the remedies): a heading over its sections."""
    body = "\n".join(sections)
    return f'<div class="part" id="{pid}">\n<h2>{_esc(title)}</h2>\n{body}\n</div>'


def _contents(parts: Sequence[tuple[str, str, Sequence[str]]], lang: str) -> str:
    """The table of contents: each part, then its sections (their ids and titles as rendered)."""
    items = []
    for pid, title, sections in parts:
        found = [m.groups() for m in map(_SECTION.match, sections) if m]
        inner = "".join(f'<li><a href="#{sid}">{heading}</a></li>' for sid, heading in found)
        items.append(f'<li><a href="#{pid}">{_esc(title)}</a><ol>{inner}</ol></li>')
    heading = _esc(t(lang, "toc"))
    listed = "".join(items)
    return f'<nav class="toc" aria-label="{heading}"><h2>{heading}</h2><ol>{listed}</ol></nav>'


def _p(text: str, cls: str = "", math: bool = True) -> str:
    return f"<p{f' class={cls!r}' if cls else ''}>{_html(tidy(text), math)}</p>"


def _tex(v: Any) -> str:
    r"""A lesson value in LaTeX, as the lesson's Markdown writes it.

    ``6/5`` → ``1.2``; ``≈1.3e+30`` → ``\approx 1.3 \times 10^{30}``; ``-9998`` →
    ``-9{,}998`` (grouped as the sentences beside it write ``-9,998``).
    """
    from gradguard.explain import format_number

    return format_number(v, group=True, latex=True)


def _tex_tidy(text: str) -> str:
    r""":func:`tidy` for LaTeX: ``= \approx x`` reads ``\approx x``; an operand drops its mark."""
    for before, after in (("= \\approx ", "\\approx "), ("\\times \\approx ", "\\times ")):
        text = text.replace(before, after)
    return text.replace("+ \\approx ", "+ ").replace("- \\approx ", "- ")


def _display(rows: Sequence[str]) -> str:
    r"""Aligned display math (``$$\begin{aligned}…\end{aligned}$$``), typeset by KaTeX.

    The LaTeX source stays readable where the page is read without JavaScript.
    """
    body = " \\\\\n".join(_tex_tidy(r) for r in rows)
    return f'<div class="math">$$\\begin{{aligned}}\n{_esc(body)}\n\\end{{aligned}}$$</div>'


def _steps_shown(T: int, head: int, tail: int) -> tuple[list[int], list[int]]:
    """The steps before and after the elided middle (``[]`` after it when none is elided)."""
    shown = shown_steps(T, head, tail)
    if 0 not in shown:
        return shown, []
    gap = shown.index(0)
    return shown[:gap], shown[gap + 1 :]


def _forward(d: Mapping[str, Any], lang: str) -> str:
    w, T, states = _tex(d["params"]["w"]), d["params"]["T"], d["states"]

    def row(i: int) -> str:
        return f"h_{{{i}}} &= {_factor_tex(w)} \\times {_factor_tex(_tex(states[i - 1]))}" + (
            f" = {_tex(states[i])}"
        )

    head, tail = _steps_shown(T, 6, 3)
    body = _p(t(lang, "forward_intro")) + _display([row(i) for i in head])
    if tail:  # the elided middle is said in words, between two blocks of math
        body += _p(t(lang, "ui_more", n=count(T - 9)), "more") + _display([row(i) for i in tail])
    return body + _p(t(lang, "forward_loss", L=prose_num(d["loss"])))


def _factor_tex(text: str) -> str:
    """A LaTeX number as a factor: parenthesised when negative or abbreviated."""
    if text.startswith(("-", _APPROX)):
        return "\\left(" + text.removeprefix(_APPROX) + "\\right)"
    return text


_APPROX = "\\approx "


def _backward(d: Mapping[str, Any], lang: str) -> str:
    w, T, states, terms = _tex(d["params"]["w"]), d["params"]["T"], d["states"], d["terms"]
    head, tail = _steps_shown(T, 4, 2)
    base = (
        w if not w.startswith("-") and "frac" not in w and "." not in w else f"\\left({w}\\right)"
    )

    def symbolic(i: int) -> str:
        return f"{_factor_tex(_tex(states[i - 1]))} \\cdot {base}^{{{T - i}}}"

    def joined(part: Any) -> str:
        first = " + ".join(part(i) for i in head)
        return first + (" + \\cdots + " + " + ".join(part(i) for i in tail) if tail else "")

    rows = [
        "\\frac{\\partial L}{\\partial w} &= \\sum_{t=1}^{T} h_{t-1} \\cdot w^{T-t}",
        "&= " + joined(symbolic),
        "&= " + joined(lambda i: _factor_tex(_tex(terms[i - 1]))),
    ]
    body = _p(t(lang, "backward_intro")) + _display(rows)
    if tail:
        body += _p(t(lang, "ui_more", n=count(T - 6)), "more")
    return body + _p(t(lang, "backward_sum", grad=prose_num(d["grad"])))


def _explosion(d: Mapping[str, Any], lang: str, plot: Callable[..., str]) -> str:
    from gradguard.explain.table import CellStyle, table_cells

    columns = ("T", "h_T", "grad", "seed", "off_by", "ratio")
    keys = ("col_T", "col_hT", "col_grad", "col_seed", "col_off", "col_ratio")
    # Digits grouped, as the erratum under it writes them (28,147,497,671,065,600): a long
    # column of ungrouped digits beside grouped prose reads as two different numbers.
    style = CellStyle(blank=t(lang, "none"), group=True, lang=lang)
    rows = table_cells(d["table"], columns, style)
    for row, lab in zip(rows, d["table"], strict=True):  # rounded cells carry the exact value
        for j, key in ((1, "h_T"), (2, "grad")):
            exact = exact_text(lab[key])
            if exact is not None and row[j].startswith("≈") and len(exact) <= 400:
                row[j] = f"{OPEN}{row[j]}{SEP}{exact}{CLOSE}"
    header = [t(lang, k) for k in keys]
    body = _p(t(lang, "explosion_intro")) + _table(header, rows, math=True)
    body += "".join(_p(x) for x in said(d["claims"], ("trend",), lang, prose_num))
    if "table" in d["errata"]:
        body += f'<div class="errata">{_html(erratum("table", lang))}</div>'
    from gradguard.explain.table import overflow_inf

    hz = d["horizons"]
    w, h0 = fmt(d["params"]["w"]), fmt(d["params"]["h0"])
    if hz["float64"] is not None and hz["float32"] is not None:
        f64, f32 = count(hz["float64"]), count(hz["float32"])
        inf = overflow_inf(d["params"]["w"], d["params"]["h0"])
        body += _p(t(lang, "overflow_note", w=w, h0=h0, f64=f64, f32=f32, inf=inf))
    else:
        body += _p(t(lang, "overflow_never", w=w, h0=h0))
    return body + plot("explosion")


#: The lesson's claims the report's "why" section states, in order.
WHY_TOPICS = ("regime", "peak", "next_T", "alternating")
#: … and its SGD section: what the update did to |w|, what that means, the gradient after it.
SGD_TOPICS = ("update", "after_update", "compare")


def _why(d: Mapping[str, Any], lang: str) -> str:
    body = "".join(
        _p(x) for x in [t(lang, "why_text"), *said(d["claims"], WHY_TOPICS, lang, prose_num)]
    )
    return body + f'<div class="errata">{_html(erratum("proportional", lang))}</div>'


def _sgd(d: Mapping[str, Any], lang: str, plot: Callable[..., str] | None) -> str:
    sgd, w = d["sgd"], fmt(d["params"]["w"])
    body = _p(
        t(
            lang,
            "sgd_text",
            w=w,
            eta=prose_num(sgd["eta"]),
            grad=factor(prose_num(sgd["grad"])),
            w_new=prose_num(sgd["w_new"]),
        )
    )
    body += "".join(_p(x) for x in said(d["claims"], SGD_TOPICS, lang, prose_num))
    body += "".join(_p(x) for x in said(d["claims"], ("clipping",), lang, prose_num))
    body += _p(t(lang, "sgd_big_text", w_big=fmt(sgd["w_new_big"])))
    body += "".join(_p(x) for x in said(d["claims"], ("big_grad", "big_fate"), lang, prose_num))
    return body + (plot("sgd") if plot else "")


#: summary.csv columns shown, in order: (column, header key, formatter kind).
_SUMMARY_COLUMNS = (
    ("experiment", "col_experiment", "experiment"),
    ("config", "col_config", "config"),
    ("T", "col_T", "text"),
    ("seed", "col_seed_n", "text"),
    ("diverged", "col_diverged", "bool"),
    ("first_nonfinite_step", "col_first_nonfinite", "text"),
    ("max_grad_norm", "col_max_norm", "num"),
    ("final_loss", "col_final_loss", "num"),
    ("test_loss", "col_test_loss", "num"),
    ("baseline", "col_baseline", "num"),
    ("beats_baseline", "col_beats", "bool"),
    ("steps_to_success", "col_success", "text"),
    ("wall_s", "col_wall", "num"),
)


def _given(v: object) -> bool:
    """A value the file gave (an absent column reads as ``None`` or ``nan``)."""
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def _summary_table(rows: Sequence[RunSummary], lang: str) -> str:
    """The rows of summary.csv as a table; an optional column only where some row has it."""
    cols = [
        c
        for c in _SUMMARY_COLUMNS
        if c[0] in REQUIRED_COLUMNS or any(_given(getattr(r, c[0])) for r in rows)
    ]
    header = [t(lang, key) for _, key, _ in cols]
    body: list[list[object]] = []
    for r in rows:
        line: list[object] = []
        for col, _, kind in cols:
            v = getattr(r, col)
            if kind == "bool":
                line.append(t(lang, "none") if v is None else t(lang, "yes" if v else "no"))
            elif kind == "num":
                line.append(_g(v))
            elif kind in ("experiment", "config"):  # in words: "exploding RNN", "norm clipping"
                line.append(short_name(kind, str(v), lang))
            else:
                line.append(t(lang, "none") if v is None or v == "" else v)
        body.append(line)
    return _table(header, body, left=2)


def _run_info(r: RunSummary) -> dict[str, Any]:
    """A summary row as the settings :mod:`gradguard.report._words` reads."""
    return {
        "experiment": r.experiment,
        "config": r.config,
        "T": r.T,
        "rho": getattr(r, "rho_init", None),
        "lr": getattr(r, "lr", None),
        "clip": getattr(r, "clip", None),
        "threshold": getattr(r, "threshold", None),
    }


def _nan_line(r: RunSummary, lang: str) -> str:
    """Whether one run of the exploding RNN met a NaN: where, or for how long it did not."""
    run = config_words(_run_info(r), lang)
    if r.diverged:
        k = "?" if r.first_nonfinite_step is None else r.first_nonfinite_step
        return t(lang, "evidence_diverged", run=run, k=k)
    steps = getattr(r, "steps_run", None)
    if _given(steps):
        return t(lang, "evidence_finite_steps", run=run, n=steps, loss=_g(r.final_loss))
    return t(lang, "evidence_finite", run=run, loss=_g(r.final_loss))


def _learn_line(r: RunSummary, lang: str) -> str:
    """Whether one finite run learned: its test loss against the memoryless baseline."""
    verdict = t(lang, "evidence_beats" if r.beats_baseline else "evidence_not")
    return t(
        lang,
        "evidence_baseline",
        run=run_title(_run_info(r), lang),
        test=_g(r.test_loss),
        base=_g(r.baseline),
        verdict=verdict,
    )


def _learned(r: RunSummary) -> bool:
    """A run the learning question can judge: finite, with a test loss and a baseline."""
    return not r.diverged and _given(r.test_loss) and _given(r.baseline)


def _items(lines: Sequence[str]) -> str:
    return "<ul>" + "".join(f"<li>{_esc(x)}</li>" for x in lines) + "</ul>"


def _g(v: float | str | None) -> str:
    """A number in 4 significant digits; ``nan``/``inf`` as words, ``—`` when absent."""
    if v is None:
        return "—"
    try:
        x = float(v)
    except ValueError:  # free text (a flow.json written by hand)
        return str(v) or "nan"
    return "nan" if math.isnan(x) else f"{x:.4g}"


def _by_remedy(
    rows: Sequence[RunSummary],
    runs: Sequence[str],
    line: Callable[[RunSummary], str],
    src: Source,
    lang: str,
    figs: Any,
) -> str:
    """The seed's remedies in its order: for each, one line per run and one plot per config."""
    body = ""
    # A configuration named for no remedy that clips (the papers' tanh RNN, clipped as
    # they trained it) is filed under clipping: its heading must say what it did.
    clipped = {r.config for r in rows if r.clip not in (None, "", "none")}

    def group(config: str) -> str:
        key = next((k for k, cs in REMEDY_GROUPS.items() if config in cs), "")
        return "remedy_clip" if key == "remedy_none" and config in clipped else key

    for key in REMEDY_GROUPS:
        mine = [r for r in rows if group(r.config) == key]
        plotted = [name for name in runs if group(src.run_info[name][1]) == key]
        if not mine and not plotted:
            continue
        body += f"<h4>{_esc(t(lang, key))}</h4>"
        if mine:
            body += _items([line(r) for r in mine])
        for name in _one_per_config(plotted, src):
            body += figs.run(name, src.runs[name])
    grouped = {c for configs in REMEDY_GROUPS.values() for c in configs}
    rest = [r for r in rows if r.config not in grouped]
    if rest:
        body += f"<h4>{_esc(t(lang, 'remedy_other'))}</h4>" + _items([line(r) for r in rest])
    return body


def _remedies(src: Source | None, lang: str, figs: Any) -> list[str]:
    """The remedies part: every run at a glance, then one section per question the runs answer.

    - ``q-nan`` "Does the remedy stop the NaN?" — the divergence experiment (the seed's
      system in matrix form, plain SGD): where each run met a non-finite value, or that
      it did not; a plot per configuration.
    - ``q-learn`` "Does it make the net learn?" — every finite run's test loss against
      the memoryless baseline; plots of the long-range experiments (adding, copy).
    """
    if src is None or src.kind != "results" or not (src.summary or src.runs):
        missing = _p(t(lang, "remedies_missing"), "note")
        return [_section("remedies", t(lang, "sec_remedies"), missing)]
    glance = _p(t(lang, "glance_intro"))
    if src.summary:
        glance += figs.summary(src.summary) + _summary_table(src.summary, lang)
    out = [_section("remedies", t(lang, "sec_glance"), glance)]
    diverging = [r for r in src.summary if r.experiment == "divergence"]
    div_runs = [n for n, info in src.run_info.items() if info[0] == "divergence"]
    if diverging or div_runs:
        body = _p(t(lang, "q_nan_intro"))
        body += _by_remedy(diverging, div_runs, lambda r: _nan_line(r, lang), src, lang, figs)
        out.append(_section("q-nan", t(lang, "q_nan"), body))
    learning = [r for r in src.summary if _learned(r)]
    other_runs = [n for n, info in src.run_info.items() if info[0] != "divergence"]
    if learning or other_runs:
        body = _p(t(lang, "q_learn_intro"))
        body += _by_remedy(learning, other_runs, lambda r: _learn_line(r, lang), src, lang, figs)
        out.append(_section("q-learn", t(lang, "q_learn"), body))
    paper = paper_of(src.summary)
    if paper is not None:
        out.append(
            _section("literature", t(lang, "sec_literature"), _literature(paper, src, lang, figs))
        )
    return out


def _test_curve(log: Any) -> tuple[list[int], list[float]]:
    """A run's test loss at its evaluations, from its records (``test_loss`` on those steps)."""
    evaluated = [r for r in log.steps if isinstance(r.extra.get("test_loss"), (int, float))]
    return [r.step for r in evaluated], [float(r.extra["test_loss"]) for r in evaluated]


def _literature(paper: Paper, src: Source, lang: str, figs: Any) -> str:
    """A paper preset's runs beside the paper: what it reports, what these runs measured, budget.

    One row per run: the paper's claim about that configuration at that length (or at
    every length), marked verified or not (:data:`gradguard.experiments.PAPERS`); the run's
    test loss against the task's memoryless baseline; its steps against the full budget —
    the authors' code's, read there, when ``PAPERS`` marks the steps verified, else the
    preset's own choice (said to be not verified). A plot per length shows each run's test
    loss over training beside the paper's numbers.
    """
    paper_steps = f"{int(paper.setting('steps')):,}"  # type: ignore[call-overload]
    # the authors' budget only where PAPERS marks it verified; else the preset's own choice
    whose = "paper" if paper.verified("steps") else "preset"
    body = _p(
        t(lang, "lit_intro", preset=paper.preset, citation=paper.citation)
        + " "
        + t(lang, f"lit_budget_{whose}", steps=paper_steps)
    )
    body += _p(t(lang, f"lit_read_{paper.key}"), "note")
    rows: list[list[object]] = []
    curves: dict[int, dict[str, tuple[list[int], list[float]]]] = {}
    lines: dict[int, dict[str, float]] = {}
    for r in src.summary:
        said = paper.said(r.config, r.T)
        if said is None:
            paper_text = t(lang, "lit_none")
        else:
            paper_text = t(lang, f"lit_says_{said.claim}")
            if said.loss is not None and said.approx:  # read off a plot: where, when, approx.
                after = t(lang, "none") if said.after is None else f"{said.after:,}"
                paper_text = t(
                    lang, "lit_loss_read", says=paper_text, loss=_g(said.loss),
                    figure=said.figure, after=after,
                )  # fmt: skip
            elif said.loss is not None:
                paper_text = t(lang, "lit_loss", says=paper_text, loss=_g(said.loss))
            paper_text += " — " + t(lang, "lit_verified" if said.verified else "lit_unverified")
        if r.diverged:
            k = "?" if r.first_nonfinite_step is None else r.first_nonfinite_step
            ours = t(lang, "lit_ours_diverged", k=k)
        else:
            verdict = t(lang, "evidence_beats" if r.beats_baseline else "evidence_not")
            ours = t(lang, "lit_ours", test=_g(r.test_loss), base=_g(r.baseline), verdict=verdict)
        steps = t(lang, "none") if r.steps_run is None else f"{r.steps_run:,}"
        rows.append(
            [short_name("config", r.config, lang), r.T, r.seed, paper_text, ours,
             t(lang, "lit_steps", ours=steps, paper=paper_steps)]
        )  # fmt: skip
        if r.T is None:
            continue
        T = int(r.T)
        if _given(r.baseline):
            lines.setdefault(T, {})[t(lang, "legend_baseline", base=_g(r.baseline))] = r.baseline
        if said is not None and said.loss is not None:
            legend = "legend_paper" if said.verified else "legend_paper_unverified"
            lines.setdefault(T, {})[t(lang, legend, loss=_g(said.loss))] = said.loss
        log = src.runs.get(f"{r.experiment}/T{r.T}/{r.config}/seed{r.seed}")  # its run_id
        if log is not None:
            steps_at, losses = _test_curve(log)
            if steps_at:
                label = t(
                    lang,
                    "legend_run_seed",
                    config=short_name("config", r.config, lang),
                    seed=r.seed,
                )
                curves.setdefault(T, {})[label] = (steps_at, losses)
    header = [
        t(lang, "col_config"), t(lang, "col_T"), t(lang, "col_seed_n"), t(lang, "lit_col_paper"),
        t(lang, "lit_col_ours"), t(lang, f"lit_col_steps_{whose}"),
    ]  # fmt: skip
    body += _table(header, rows, left=6)
    if curves:
        body += figs.beside_paper(curves, lines)
    return body


def _one_per_config(runs: Sequence[str], src: Source) -> list[str]:
    """One run per (experiment, config): the shortest T, then the first name (lowest seed).

    Every configuration gets its plot (a fixed cap per group dropped the fourth,
    e.g. the divergence LSTM), and the report does not grow with seeds or T.
    """

    def order(name: str) -> tuple[float, str]:
        T = src.run_info[name][2]
        return (float(T) if T.isdigit() else math.inf, name)

    seen: dict[tuple[str, str], str] = {}
    for name in sorted(runs, key=order):
        experiment, config, _ = src.run_info[name]
        seen.setdefault((experiment, config), name)
    return list(seen.values())


def _reason(r: Any, lang: str) -> tuple[str, str, str]:
    """What flagged a step, the value it judged and the threshold in force (as text).

    A rule is named as the log names it (``spike-mad``, ``loss:spike-std``); NaN/inf and
    a log written before records named the rule read as the step's kind, in ``lang``.
    """
    by = r.flagged_by
    if by is None or by == "nonfinite":
        kind = r.kind if by is None else "nonfinite"
        if kind not in ("nonfinite", "spike", "amp_skip"):
            return "—", "—", "—"
        value = r.loss if kind == "nonfinite" and not r.loss_finite else r.grad_norm
        threshold = "—" if kind != "spike" else _g(r.spike_threshold)
        return _word(lang, "kind", kind), _g(value), threshold
    if by.startswith("loss:"):
        return by, _g(r.loss), _g(r.loss_threshold)
    if by == "overflow":
        return by, _g(r.grad_norm), "—"
    return by, _g(r.grad_norm), _g(r.spike_threshold)


def _run_section(run: Any, name: str, lang: str, figs: Any) -> str:
    """One run of a guard log: the summary line, its plots and every step the guard acted on."""
    from gradguard.records import count_steps

    steps = run.steps
    c = count_steps(steps)
    counts = c.counts_text(lang)  # a kind of step that never occurred is not named
    body = _p(
        t(
            lang,
            "guard_intro" if counts else "guard_intro_none",
            n=c.steps,
            source=name,
            counts=counts,
        ),
        math=False,  # the log's name, as the user wrote it
    )
    finite = [(r.step, r.loss) for r in steps if r.loss is not None and math.isfinite(r.loss)]
    if finite:
        body += _p(
            t(
                lang,
                "guard_loss",
                first=f"{finite[0][1]:.4g}",
                s0=finite[0][0],
                last=f"{finite[-1][1]:.4g}",
                s1=finite[-1][0],
                low=f"{min(v for _, v in finite):.4g}",
            )
        )
    body += figs.timeline(steps, name)
    if any(r.layer_norms for r in steps):
        body += figs.layers(steps)
    # Every step the guard acted on beyond clipping (plain clipping is in the plot).
    events = [r for r in steps if r.action != "step" or r.kind not in ("ok", "clipped")]
    if not events:
        return body + _p(t(lang, "guard_none"))
    body += _p(t(lang, "guard_events"))
    rows = []
    for r in events[:_MAX_EVENTS]:
        by, value, threshold = _reason(r, lang)
        rows.append(
            [
                r.step,
                _action(r, lang),
                _word(lang, "kind", r.kind),
                by,
                value,
                threshold,
                _g(r.loss),
            ]
        )
    keys = ("col_step", "col_action", "col_kind", "col_flagged_by", "col_value")
    header = [t(lang, k) for k in keys] + [t(lang, "col_threshold"), t(lang, "col_loss")]
    body += _table(header, rows)
    if len(events) > _MAX_EVENTS:
        body += _p(t(lang, "guard_events_more", n=len(events) - _MAX_EVENTS), "note")
    return body


def _runs(src: Source, lang: str, figs: Any) -> list[str]:
    """One section per run of the log (a log appended to by several runs holds several)."""
    log = src.log
    assert log is not None
    runs = log.runs or []
    out = []
    for i, run in enumerate(runs):
        name = src.path.name
        if run.name:
            name += f" — {run.name}"
        if len(runs) > 1:
            name += f" ({i + 1}/{len(runs)})"
        sid = "run" if i == 0 else f"run-{i + 1}"
        body = _run_section(run, name, lang, figs)
        if i == 0 and log.truncated_tail:
            body = _p(t(lang, "guard_truncated"), "note") + body
        out.append(_section(sid, t(lang, "sec_run", name=name), body))
    if not out:
        title = t(lang, "sec_run", name=src.path.name)
        out.append(_section("run", title, _p(t(lang, "guard_none"))))
    return out


#: Rows of a run's event table at most.
_MAX_EVENTS = 200


def _word(lang: str, field: str, value: str) -> str:
    """A record's ``action``/``kind`` in ``lang`` (the catalog's ``action_skip`` …).

    A value the record format does not define (a newer writer's) is shown as written.
    """
    from gradguard.report._i18n import catalog

    return catalog(lang).get(f"{field}_{value}", value)


def _action(r: Any, lang: str) -> str:
    """What the guard did at a step, in ``lang``; a rollback names the step it restored, a
    re-run step its verdict (transient: taken with the re-run's gradients; reproducible)."""
    restored = r.extra.get("restored_step") if r.action == "rollback" else None
    if isinstance(restored, int) and not isinstance(restored, bool):
        action = t(lang, "action_rollback_to", step=restored)
    else:
        action = _word(lang, "action", r.action)
    verdict = r.rerun_verdict
    if verdict is not None:
        return t(lang, f"action_rerun_{verdict}", action=action)
    return action


def _flow(flow: Mapping[str, Any] | None, lang: str, figs: Any) -> str:
    if not flow or not (flow.get("curves") or flow.get("heatmap")):
        return _p(t(lang, "flow_missing"), "note")
    body = figs.flow(flow["curves"]) if flow.get("curves") else ""
    if flow.get("heatmap"):
        body += figs.flow_heat(
            flow["heatmap"], flow.get("heatmap_steps"), str(flow.get("heatmap_label", ""))
        )
    for m in flow.get("measured", []):
        body += _p(
            t(
                lang,
                "flow_measured",
                label=m.get("label", "?"),
                rho=_g(m.get("rho")),
                factor=_g(m.get("factor")),
                T=flow.get("T", "?"),
            ),
            math=False,  # the run's label, as recorded
        )
    labels = " ".join(str(m.get("label", "")) for m in flow.get("measured", []))
    if re.search(r"\b(lstm|gru)\b", labels):  # gated cells measured at initialization: why
        from gradguard._catalog import load_catalog

        body += _p(load_catalog(lang)["remedies.gates_text"])
    for line in flow.get("notes", []):  # free text (flow.json written by hand or by older tours)
        body += _p(str(line), math=False)
    return body


def _to_float(v: str) -> float:
    from fractions import Fraction

    try:
        return float(Fraction(v))
    except (ValueError, OverflowError, ZeroDivisionError):
        return math.nan


class _Figures:
    """Render plots lazily into inline <figure> elements (matplotlib imported on first use)."""

    def __init__(self, lang: str, plots_dir: Path | None = None, plot_format: str = "png") -> None:
        from gradguard.report import plots

        self.plots = plots
        self.lang = lang
        self.plots_dir = plots_dir
        self.plot_format = plot_format
        self.saved: list[Path] = []

    def _emit(self, fig: Any, name: str) -> str:
        """Encode ``fig`` as a <figure>; ``name`` is its file's stem under ``--plots``.

        The image's alt text is what the figure says of itself, in the report's
        language: its titles (a screen reader reads them, not the file's name).
        """
        png = self.plots.figure_bytes(fig, "png")
        if self.plots_dir is not None:
            stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "figure"
            path = self.plots_dir / f"{stem}.{self.plot_format}"
            self.saved.append(self.plots.save_figure(fig, path))
        titles = [fig.get_suptitle(), *(ax.get_title() for ax in fig.axes)]
        alt = " · ".join(dict.fromkeys(" ".join(t.split()) for t in titles if t)) or name
        fig.clear()
        return _img(png, alt)

    def explosion(self, d: Mapping[str, Any]) -> str:
        ws = [2.0, 1.5, 1.0, 0.9, 0.5]
        w = _to_float(d["params"]["w"])
        if w not in ws and math.isfinite(w) and w != 0:
            ws.insert(0, w)
        h0 = _to_float(d["params"]["h0"])
        h0 = h0 if math.isfinite(h0) and h0 != 0 else 1.0
        ow = w if abs(w) > 1 else 2.0
        return self._emit(
            self.plots.plot_explosion(ws, h0, 60, lang=self.lang, overflow_w=ow), "explosion"
        )

    def sgd(self, traj: Mapping[str, Sequence[float]], loss: str) -> str:
        return self._emit(self.plots.plot_sgd(traj, loss=loss, lang=self.lang), "sgd")

    def summary(self, rows: Sequence[RunSummary]) -> str:
        return self._emit(self.plots.plot_summary(rows, lang=self.lang), "summary")

    def beside_paper(self, curves: Any, lines: Any) -> str:
        return self._emit(self.plots.plot_beside_paper(curves, lines, lang=self.lang), "paper")

    def run(self, name: str, log: Any) -> str:
        if not log.steps:
            return ""
        # A value-clipping threshold bounds entries, not the norm: not drawn beside norms.
        norm_threshold = all(m.get("clip") != "value" for m in log.meta)
        # Titled in words ("Clipping the gradient's norm at c = 1 — the exploding linear
        # RNN …"), from the run's own settings; a log without them keeps its name.
        info = next((m for m in log.meta if "config" in m), None)
        title = run_title(info, self.lang) if info else name
        fig = self.plots.plot_run(
            log.steps, title=title, lang=self.lang, show_threshold=norm_threshold
        )
        return self._emit(fig, name)

    def timeline(self, steps: Any, source: str) -> str:
        return self._emit(
            self.plots.plot_log_timeline(steps, source=source, lang=self.lang), "timeline"
        )

    def layers(self, steps: Any) -> str:
        return self._emit(self.plots.plot_layer_heatmap(steps, lang=self.lang), "layers")

    def flow(self, curves: Mapping[str, Sequence[float]]) -> str:
        return self._emit(self.plots.plot_gradient_flow(curves, lang=self.lang), "flow")

    def flow_heat(self, matrix: Any, steps: Any, label: str) -> str:
        fig = self.plots.plot_flow_heatmap(matrix, steps=steps, label=label, lang=self.lang)
        return self._emit(fig, "flow heat map")


#: The target ``y`` of the SGD plot's loss ``L = ½(h_T − y)²``.
SGD_TARGET = 1


def sgd_plot_note(d: Mapping[str, Any], lang: str) -> str:
    """Say which loss the SGD plot descends, and why its first step differs from the text's.

    The lesson's step uses the seed's ``L = h_T``; the plot needs a loss with a minimum,
    ``L = ½(h_T − y)²`` (gradient ``(h_T − y)·T·w^(T−1)·h0``), so its first update, from
    the same ``w``, is computed here (the lab's :func:`~gradguard.lab.trajectory`, exactly).
    """
    from gradguard.lab import trajectory

    p = d["params"]
    first = trajectory(
        p["w"], p["h0"], p["T"], p["eta"], iters=1, loss="target", y=SGD_TARGET, mode="exact"
    ).steps[0]
    assert not isinstance(first.grad, float) and not isinstance(first.w_next, float)  # exact
    g1, w1 = exact_json(first.grad), exact_json(first.w_next)
    key = "sgd_plot_loss_same" if w1 == d["sgd"]["w_new"] else "sgd_plot_loss"
    return t(
        lang, key, y=SGD_TARGET, w=num(p["w"]), g1=num(g1), w1=num(w1), w_new=num(d["sgd"]["w_new"])
    )


def sgd_trajectories(d: Mapping[str, Any], lang: str, iters: int = 30) -> dict[str, list[float]]:
    """Return ``w`` per update for no remedy, the seed's clipping and a lower η (from the lab).

    Runs :func:`gradguard.lab.compare_remedies` in float64 on the target loss
    ``L = ½(h_T − y)²`` with the lesson's ``w, h0, T, η, c``; ``{}`` when T is too
    large for a quick run (T > 1000).
    """
    from gradguard.lab import compare_remedies

    p = d["params"]
    if p["T"] > 1000:
        return {}
    runs = compare_remedies(
        p["w"], p["h0"], p["T"], p["eta"], iters=iters, y=SGD_TARGET, clip=p["c"]
    )
    out: dict[str, list[float]] = {}
    for key, run in runs.items():
        eta = fmt(str(run.params["eta"]))
        label = {
            "none": t(lang, "sgd_none", eta=eta),
            "clip": t(lang, "sgd_clip", c=fmt(p["c"])),
            "low-lr": t(lang, "sgd_low_lr", eta=eta),
        }.get(key, key)
        out[label] = (
            [float(run.steps[0].w)] + [float(s.w_next) for s in run.steps] if run.steps else []
        )
    return out


def build_report(
    source: str | os.PathLike[str] | Source | None = None,
    *,
    lang: str = "en",
    w: object = 2,
    h0: object = 1,
    T: object = 5,
    eta: object = "0.01",
    c: object = 5,
    flow: Mapping[str, Any] | None = None,
    sgd: Mapping[str, Sequence[float]] | None = None,
    plots_dir: str | os.PathLike[str] | None = None,
    plot_format: str = "png",
    lesson: bool = False,
) -> str:
    """Return the report as one self-contained HTML document.

    With a guard log the report leads with the run (one section per run in the log):
    the counts, the loss and norm timeline, the per-layer heat map when recorded and a
    table of every step the guard acted on, and nothing else unless ``lesson=True``.

    Args:
      source: a remedy results folder, its ``summary.csv``, a JSONL guard log, a
        loaded :class:`Source`, or ``None`` (the lesson and the scalar system only).
      lang: a language with catalogs (``gradguard.explain.languages()``).
      w, h0, T, eta, c: the lesson's parameters (the seed's by default).
      flow: gradient-flow data (``{"curves": {label: norms}, "heatmap": …}``); by
        default the source folder's ``flow.json``. Without a ``heatmap`` the heat map
        over training is read from a remedy run's records
        (:func:`~gradguard.report._inputs.recorded_flow`).
      sgd: SGD trajectories of ``w`` (label → values) for the SGD section's plot;
        by default the lab's :func:`gradguard.lab.compare_remedies` on the target
        loss ``L = ½(h_T − y)²`` (no remedy, the seed's clipping, a lower η).
      plots_dir: also save every figure there as a file (``explosion.svg``, …).
      plot_format: ``"png"`` or ``"svg"`` for ``plots_dir``.
      lesson: add the seed's lesson after a log's runs (always shown without a log).

    Raises:
      InputError: a bad parameter or language.
      InputFileError: a missing or malformed input (naming the file and line).
    """
    check_lang(lang)
    from gradguard.explain.text import numbers_in

    with numbers_in(lang):  # "(46 digits)" in the report's language
        return _build(source, lang, w, h0, T, eta, c, flow, sgd, plots_dir, plot_format, lesson)


def _build(
    source: str | os.PathLike[str] | Source | None,
    lang: str,
    w: object,
    h0: object,
    T: object,
    eta: object,
    c: object,
    flow: Mapping[str, Any] | None,
    sgd: Mapping[str, Sequence[float]] | None,
    plots_dir: str | os.PathLike[str] | None,
    plot_format: str,
    lesson: bool = False,
) -> str:
    d = lesson_data(w, h0, T, eta, c, lang)
    default_sgd = sgd is None
    if sgd is None:
        sgd = sgd_trajectories(d, lang)
    src = source if isinstance(source, Source) or source is None else load_source(Path(source))
    from gradguard.report.plots import FORMATS

    check_choice(plot_format, "plot_format", FORMATS)
    pdir = Path(plots_dir) if plots_dir is not None else None
    if pdir is not None and not pdir.is_dir():
        raise InputError("plots_dir", str(pdir), "existing_folder")
    figs = _Figures(lang, pdir, plot_format)
    if flow is None and src is not None:
        flow = src.flow
    if src is not None and not (flow or {}).get("heatmap"):
        # The heat map over training is what a remedy run recorded (its grad_h profiles).
        heat = recorded_flow(src)
        if heat is not None:
            flow = {**(flow or {}), **heat}
    from gradguard import __version__

    is_log = src is not None and src.kind == "log"
    parts: list[tuple[str, str, list[str]]] = []
    if is_log and src is not None:
        parts.append(("part-run", t(lang, "part_run"), _runs(src, lang, figs)))
    if lesson or not is_log:
        sgd_plot: Callable[..., str] | None = None
        if sgd:
            # The lab's own run from the lesson's w: say which loss it descends.
            note = _p(sgd_plot_note(d, lang)) if default_sgd else ""
            sgd_plot = lambda _k: note + figs.sgd(sgd, "L = ½(h_T − y)²")  # noqa: E731
        answer = f'<p class="answer">{_esc(t(lang, "answer"))}</p>'
        answer += "".join(_p(x) for x in said(d["claims"], ("example",), lang, prose_num))
        lesson_sections = [
            _section("forward", t(lang, "sec_forward"), _forward(d, lang)),
            _section("backward", t(lang, "sec_backward"), _backward(d, lang)),
            _section(
                "explosion",
                t(lang, "sec_explosion"),
                _explosion(d, lang, lambda _k: figs.explosion(d)),
            ),
            _section("why", t(lang, "sec_why"), _why(d, lang)),
            _section("sgd", t(lang, "sec_sgd"), _sgd(d, lang, sgd_plot)),
            _section("answer", t(lang, "sec_answer"), answer),
        ]
        parts.append(("part-lesson", t(lang, "part_lesson"), lesson_sections))
        # With a log, sections with nothing measured are left out, not shown empty.
        measured: list[str] = []
        if not is_log or (src is not None and src.kind == "results"):
            measured += _remedies(src, lang, figs)
        if not is_log or (flow and flow.get("curves")):
            measured.append(_section("flow", t(lang, "sec_flow"), _flow(flow, lang, figs)))
        if measured:
            parts.append(("part-remedies", t(lang, "part_remedies"), measured))
    p = d["params"]
    if is_log and src is not None:
        # A report of the user's run is titled by it; the lesson's lead (which promises
        # the remedies) would describe a page this is not.
        title = _esc(t(lang, "report_title_run", name=src.path.name))
        lead = ""
    else:
        title = _esc(t(lang, "report_title"))
        # the lead promises measured remedies only where the page shows some
        ran = src is not None and src.kind == "results" and bool(src.summary or src.runs)
        lead = _p(
            t(
                lang,
                "report_lead" if ran else "report_lead_unmeasured",
                w=fmt(p["w"]),
                h0=fmt(p["h0"]),
                T=p["T"],
                eta=fmt(p["eta"]),
                c=fmt(p["c"]),
            )
        )
    contents = _contents(parts, lang) if sum(len(x[2]) for x in parts) > 1 else ""
    if is_log and len(parts) > 1:
        lead += _p(t(lang, "guard_lesson_next"), "note")
    body = (
        f"<h1>{title}</h1>\n{lead}\n{contents}\n"
        + "\n".join(_part(pid, heading, sections) for pid, heading, sections in parts)
        + f"\n<footer>{_p(t(lang, 'report_generated', version=__version__), 'note')}</footer>\n"
    )
    # The glyphs the page uses travel with it: a reader's machine may have no font for its
    # script. font_css also gives pre/code and form controls the same fonts.
    fonts = font_css(html.unescape(title + body))
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>{fonts}{_CSS}{MARK_CSS}</style>\n{katex_head()}\n</head>\n"
        "<body>\n"
        f"{body}</body>\n</html>\n"
    )


def write_report(out: str | os.PathLike[str], source: Any = None, **kwargs: Any) -> Path:
    """Build the report (see :func:`build_report`) and write it to ``out`` atomically."""
    text = build_report(source, **kwargs)
    return write_text_atomic(Path(out), text)
