"""A paper preset's results beside the paper: which paper, the table, the plot, both languages.

The expected cells are computed here from ``summary.csv`` and ``PAPERS`` (the report's
inputs), not from the report's code.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import replace

import pytest

from gradguard.experiments import PAPERS, build_grid, paper_of, write_summary
from gradguard.report import build_report
from gradguard.report._html import _Figures, _literature
from gradguard.report._i18n import t
from gradguard.report._inputs import load_source

from ..made_up_runs import preset_rows


def test_paper_of_knows_a_paper_preset_by_itspreset_rows():
    for paper in PAPERS.values():
        assert set(paper.configs) == {s.config for s in build_grid(paper.preset)}
        assert {paper.task} == {s.experiment for s in build_grid(paper.preset)}
    assert paper_of(preset_rows("copy-memory")) is PAPERS["arjovsky2016"]
    assert paper_of(preset_rows("le2015-adding")) is PAPERS["le2015"]
    # --budget scales steps only; a narrowed grid is still the paper's
    assert paper_of(preset_rows("copy-memory", budget=0.001)) is PAPERS["arjovsky2016"]
    assert paper_of(preset_rows("le2015-adding")[:2]) is PAPERS["le2015"]
    # gradguard's own presets, another learning rate or clipping, nothing: no paper
    assert paper_of(preset_rows("quick")) is None
    assert paper_of(preset_rows("full")) is None
    assert paper_of([replace(r, lr=0.01) for r in preset_rows("copy-memory")]) is None
    assert paper_of([replace(r, threshold=5.0) for r in preset_rows("copy-memory")]) is None
    assert paper_of([replace(r, optimizer="adam") for r in preset_rows("copy-memory")]) is None
    mixed = preset_rows("copy-memory") + preset_rows("le2015-adding")
    assert paper_of(mixed) is None
    assert paper_of([]) is None


def _section(page: str) -> str:
    return page.split('<section id="literature"', 1)[1].split("</section>", 1)[0]


def _cells(section: str) -> list[list[str]]:
    body = section.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        [html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", tr)]
        for tr in re.findall(r"<tr>(.*?)</tr>", body)
    ]


def _g(x: float) -> str:
    return f"{x:.4g}"


@pytest.mark.parametrize("lang", ["en", "bn"])
@pytest.mark.parametrize("preset", ["copy-memory", "le2015-adding"])
def test_the_table_says_what_the_paper_and_the_runs_say(preset, lang, tmp_path):
    rows = preset_rows(preset, budget=0.01)
    write_summary(tmp_path / "summary.csv", rows)
    paper = paper_of(rows)
    assert paper is not None
    # the section alone (the whole report draws the lesson's plots too: see the slow test)
    section = _literature(paper, load_source(tmp_path), lang, _Figures(lang))
    assert html.escape(paper.citation) in section
    steps = next(s.value for s in paper.settings if s.name == "steps")
    cells = _cells(section)
    assert len(cells) == len(rows)
    for r, cell in zip(rows, cells, strict=True):
        assert cell[1:3] == [str(r.T), str(r.seed)]
        # the paper's claim about this configuration at this T (or at every T), as PAPERS says
        said = [p for p in paper.reported if p.config == r.config and p.T in (r.T, None)]
        if said:
            p = min(said, key=lambda p: p.T is None)
            assert t(lang, f"lit_says_{p.claim}") in cell[3]
            assert t(lang, "lit_verified" if p.verified else "lit_unverified") in cell[3]
            if p.loss is not None:
                assert _g(p.loss) in cell[3]
            if p.approx:  # read off a plot: the figure, the sequences seen, "≈"
                says = t(lang, f"lit_says_{p.claim}")
                read = t(lang, "lit_loss_read", says=says, loss=_g(p.loss), figure=p.figure,
                         after=f"{p.after:,}")  # fmt: skip
                assert cell[3].startswith(read), cell[3]
        else:
            assert cell[3] == t(lang, "lit_none")
        if r.diverged:
            assert cell[4] == t(lang, "lit_ours_diverged", k=r.first_nonfinite_step)
        else:
            assert _g(r.test_loss) in cell[4] and _g(r.baseline) in cell[4]
            beats = t(lang, "evidence_beats" if r.beats_baseline else "evidence_not")
            assert beats in cell[4]
        assert cell[5] == t(lang, "lit_steps", ours=f"{r.steps_run:,}", paper=f"{steps:,}")
    assert "<img" not in section  # no records: no curve to draw
    assert {p.verified("steps") for p in PAPERS.values()} == {True, False}  # both kinds here


def _header(section: str) -> list[str]:
    head = section.split("<thead>", 1)[1].split("</thead>", 1)[0]
    cells = re.findall(r"<th[^>]*>(.*?)</th>", head)
    return [html.unescape(re.sub(r"<[^>]+>", "", c)) for c in cells]


@pytest.mark.parametrize("lang", ["en", "bn"])
@pytest.mark.parametrize("key", sorted(PAPERS))
def test_the_steps_are_the_papers_only_where_papers_marks_them_verified(key, lang, tmp_path):
    # le2015's 10^6 steps are the preset's own choice (not verified): never "the paper's"
    paper = PAPERS[key]
    rows = preset_rows(paper.preset, budget=0.01)
    write_summary(tmp_path / "summary.csv", rows)
    section = html.unescape(_literature(paper, load_source(tmp_path), lang, _Figures(lang)))
    setting = next(s for s in paper.settings if s.name == "steps")
    steps = f"{setting.value:,}"
    papers = [t(lang, "lit_budget_paper", steps=steps), t(lang, "lit_col_steps_paper")]
    presets = [t(lang, "lit_budget_preset", steps=steps), t(lang, "lit_col_steps_preset")]
    said, unsaid = (papers, presets) if setting.verified else (presets, papers)
    assert all(s in section for s in said)
    assert not any(s in section for s in unsaid)
    assert _header(section)[5] == said[1]
    if not setting.verified:
        assert t(lang, "lit_unverified") in said[0] and t(lang, "lit_unverified") in said[1]


@pytest.mark.slow
def test_a_small_copy_memory_run_beside_the_paper(tmp_path):
    from gradguard.experiments import read_summary, run_remedies

    # 3 runs of 4 steps at T = 100, evaluated at steps 3 and … (a few seconds)
    run_remedies("copy-memory", tmp_path, budget=0.0002, T=[100], jobs=1)
    rows = read_summary(tmp_path / "summary.csv")
    paper = paper_of(rows)
    assert paper is PAPERS["arjovsky2016"]
    page = build_report(tmp_path)  # the whole report once: the section is in it
    for lang in ("en", "bn"):
        section = (
            _section(page)
            if lang == "en"
            else _literature(paper, load_source(tmp_path), lang, _Figures(lang))
        )
        # one plot: the test loss of every run at T = 100 over training
        assert section.count("<img") == 1
        assert f'alt="{t(lang, "title_beside_paper", T=100)}"' in section
        for r, cell in zip(rows, _cells(section), strict=True):
            assert math.isfinite(r.test_loss) and _g(r.test_loss) in cell[4]
            assert cell[5] == t(lang, "lit_steps", ours=f"{r.steps_run:,}", paper="20,000")


@pytest.mark.parametrize("preset", ["le2015-adding", "copy-memory", "quick"])
def test_each_run_is_filed_under_the_remedy_it_used(preset, tmp_path):
    # The papers train their tanh RNN with clipping: it is not "without a remedy".
    from gradguard.report._html import _by_remedy

    rows = preset_rows(preset)
    write_summary(tmp_path / "summary.csv", rows)
    src = load_source(tmp_path)
    page = _by_remedy(rows, [], lambda r: f"@{r.config}@", src, "en", _Figures("en"))
    headings = {t("en", k): k for k in ("remedy_none", "remedy_clip", "remedy_init",
                                         "remedy_gates", "remedy_lr", "remedy_other")}  # fmt: skip
    filed = {}
    for part in page.split("<h4>")[1:]:
        heading, items = part.split("</h4>", 1)
        for config in re.findall(r"@([\w-]+)@", items):
            filed[config] = headings[html.unescape(heading)]
    clipped = {r.config for r in rows if r.clip not in (None, "", "none")}
    for config, key in filed.items():
        assert (key == "remedy_none") == (config not in clipped and config in ("none", "rnn"))
    assert set(filed) == {r.config for r in rows}
