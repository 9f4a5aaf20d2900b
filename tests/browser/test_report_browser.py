"""The HTML report opened in Chromium: no console errors, every image loads, Bengali shown."""

from __future__ import annotations

import math

import pytest

from gradguard.records import StepRecord, write_log
from gradguard.report import write_report

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("lang", ["en", "bn"])
def test_report_opens_cleanly(page, tmp_path, screenshot, lang):
    log = tmp_path / "train.jsonl"
    recs = [
        StepRecord(
            step=s,
            loss=1.0 / (s + 1),
            grad_norm=1.0 + s,
            clip_coef=0.5 if s > 5 else 1.0,
            layer_norms={"a": 1.0 + s, "b": 0.5} if s % 2 == 0 else None,
        )
        for s in range(12)
    ]
    recs.append(
        StepRecord(step=12, grad_norm=math.inf, action="skip", kind="nonfinite", nonfinite_count=1)
    )
    write_log(log, recs)
    out = write_report(tmp_path / f"report-{lang}.html", log, lang=lang, lesson=True)
    page.goto(out.resolve().as_uri())
    page.wait_for_load_state("load")
    n_images = page.locator("img").count()
    assert n_images >= 3  # explosion, guard timeline, layer heat map
    loaded = page.evaluate(
        "Array.from(document.images).every(i => i.complete && i.naturalWidth > 100)"
    )
    assert loaded
    # a guard log's report: the run first, then the lesson; no empty remedies/flow sections
    ids = page.evaluate("Array.from(document.querySelectorAll('section')).map(s => s.id)")
    assert ids == ["run", "forward", "backward", "explosion", "why", "sgd", "answer"]
    if lang == "bn":
        assert "পরীক্ষার জন্য এক লাইনের উত্তর" in page.locator("#answer h3").inner_text()
    # the forward and backward formulas are typeset by the inlined KaTeX, with its own fonts
    page.evaluate("document.fonts.ready")
    assert page.locator("#forward .katex-display").count() == 1
    assert page.locator("#backward .katex-display").count() == 1
    assert page.locator(".katex-error").count() == 0
    assert page.evaluate("document.fonts.check('16px KaTeX_Main')")
    screenshot(page, f"report-{lang}")
    assert page.errors == []


def test_bengali_report_draws_bengali_with_the_font_it_embeds(page, tmp_path):
    # This machine may have no Bengali font at all: the page must bring its own.
    out = write_report(tmp_path / "report-bn.html", None, lang="bn")
    page.goto(out.resolve().as_uri())
    page.wait_for_load_state("load")
    page.evaluate("document.fonts.ready.then(() => true)")
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    for selector in ("#answer p", "h1", "#why p"):
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
        # Chromium reports the font each glyph run was drawn with; Bengali must be the embedded one
        custom = [f for f in fonts if f["isCustomFont"]]
        assert custom and custom[0]["glyphCount"] > 0, (selector, fonts)
    assert page.errors == []


def test_report_prints_part_by_part(page, tmp_path):
    # Print (A4): the table of contents on its own page, each part from a new page, no
    # figure or table cut across two pages, nothing wider than the paper.
    from gradguard.report import write_report

    out = write_report(tmp_path / "r.html", lang="en")
    page.goto(out.resolve().as_uri())
    page.wait_for_load_state("load")
    page.emulate_media(media="print")
    style = "(s, p) => getComputedStyle(document.querySelector(s))[p]"
    assert page.evaluate(f"({style})('.part', 'breakBefore')") == "page"
    assert page.evaluate(f"({style})('nav.toc', 'breakAfter')") == "page"
    assert page.evaluate(f"({style})('figure', 'breakInside')") == "avoid"
    assert page.evaluate(f"({style})('table', 'breakInside')") == "avoid"
    pdf = page.pdf(path=str(tmp_path / "r.pdf"), prefer_css_page_size=True)
    import io

    from pypdf import PdfReader

    pages = PdfReader(io.BytesIO(pdf)).pages
    box = pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)  # A4
    assert len(pages) >= 3  # contents, the lesson, the remedies (its "not measured" note)
