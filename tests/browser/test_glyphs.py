"""No empty boxes: every character a Bengali page or figure shows has a glyph in its fonts.

Checked from the text actually shown (``tests/glyphs.py``): the Bengali report (with a
guard log and a remedies folder) and its figures, the explorer after a few interactions
(from either language), and the docs pages that show Bengali, built with mkdocs.
"""

from __future__ import annotations

import functools
import http.server
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gradguard.report._fonts import font_css, packaged_font

from ..glyphs import figure_problems, page_problems, shown_text
from ..report.conftest import write_guard_log, write_results

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
BENGALI = re.compile(r"[\u0980-\u09FF]")
SENTENCE = "Gradient exponential হারে বাড়ে। দুই দাঁড়ি॥ ক্‌ষ"


def _page(body: str, css: str) -> str:
    head = f'<meta charset="utf-8"><style>{css}</style>'
    return f'<!DOCTYPE html><html lang="bn"><head>{head}</head><body>{body}</body></html>'


def test_the_checker_finds_every_kind_of_box(page):
    # The font as the report and the explorer declared it before: the Bengali block only.
    font = packaged_font().as_uri()
    block_only = (
        f'@font-face{{font-family:"B";src:url("{font}");unicode-range:U+0980-09FF}}'
        'body{font-family:"B","DejaVu Sans",sans-serif}pre{font-family:monospace}'
    )
    body = f"<p>{SENTENCE}</p><pre>… আরও 51টি …</pre><select><option>বাংলা</option></select>"
    page.set_content(_page(body, block_only))
    found = "\n".join(page_problems(page))
    assert "p: '।॥'" in found  # the dandas lie outside U+0980–09FF
    assert "\npre: " in found  # the monospace stack has no Bengali font
    assert "<select>" in found  # a native popup ignores page fonts
    # The same page with the CSS gradguard writes, and the switch as buttons: no box.
    body = f"<p>{SENTENCE}</p><pre>… আরও 51টি …</pre><button>বাংলা</button><input value='বাংলা'>"
    page.set_content(_page(body, font_css(SENTENCE + "আরও 51টি বাংলা")))
    assert page_problems(page) == []
    assert "বাংলা" in shown_text(page)


def test_the_bengali_report_and_its_figures(page, tmp_path, monkeypatch, screenshot):
    from gradguard.report import plots, write_report

    drawn = []
    real = plots.figure_bytes

    def record(fig, fmt="png"):
        drawn.append(fig)
        return real(fig, fmt)

    monkeypatch.setattr(plots, "figure_bytes", record)
    log = write_guard_log(tmp_path / "train.jsonl")
    results = write_results(tmp_path / "results")
    for source in (log, results):
        out = write_report(tmp_path / f"report-{source.stem}.html", source, lang="bn", w="0.5")
        page.goto(out.resolve().as_uri())
        page.wait_for_load_state("load")
        assert BENGALI.search(shown_text(page)) and "।" in shown_text(page)
        assert page_problems(page) == [], source
    screenshot(page, "report-bn")
    assert len(drawn) >= 5
    assert [p for fig in drawn for p in figure_problems(fig)] == []


@pytest.mark.parametrize("start", ["en", "bn"])
def test_the_explorer_after_a_few_interactions(page, explorer_url, start):
    page.goto(explorer_url + f"?lang={start}")
    page.wait_for_function("document.getElementById('grad').textContent === '80'")
    assert page_problems(page) == []  # the English page too: its switch says "বাংলা"
    page.click(".lang[data-lang=bn]")
    page.wait_for_function("document.documentElement.lang === 'bn'")
    page.click("#bp-step")  # the backward pass's status, δ and sum in Bengali
    page.click("#quiz-next")
    page.fill("#quiz-answer", "৮০")  # typed in Bengali digits
    page.click("#quiz-check")
    page.click("#mx-nonnormal")
    page.click(".gate-cell[data-cell=gru]")
    page.fill("#T-num", "60")  # the forward pass elides: "… আরও 51টি …"
    page.wait_for_function("document.getElementById('forward').textContent.includes('51')")
    page.fill("#w-num", "-1.5")
    page.wait_for_function("document.getElementById('sgd').textContent.includes('-1.5')")
    page.fill("#eta-num", "x")  # an error, in Bengali
    page.locator("#error").wait_for(state="visible")
    text = shown_text(page)
    assert (
        "আরও 51টি" in text and "।" in text and BENGALI.search(page.locator("#error").inner_text())
    )
    assert "৮০" in text and BENGALI.search(page.locator("#quiz-feedback").inner_text())
    assert page_problems(page) == []


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def docs_site(tmp_path_factory) -> Iterator[tuple[Path, str]]:
    pytest.importorskip("mkdocs", reason="the [docs] extra builds the site")
    site = tmp_path_factory.mktemp("site")
    r = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_the_docs_pages_that_show_bengali(page, docs_site):
    site, url = docs_site

    # every page whose own text (not only the navigation) has Bengali in it
    def article(p: Path) -> str:
        text = p.read_text("utf-8")
        start = text.find("<article")
        return text[start : text.find("</article>", start)] if start >= 0 else ""

    pages = sorted(
        str(p.parent.relative_to(site)) + "/"
        for p in site.rglob("index.html")
        if BENGALI.search(article(p))
    )
    assert {"lesson/", "report/", "tutorial/seed-lesson/", "glossary/"} <= set(pages), pages
    found = {}
    for path in pages:
        page.goto(url + path)  # over HTTP: the pages' fonts load as on a web host
        page.wait_for_load_state("load")
        assert BENGALI.search(shown_text(page)), path
        if problems := page_problems(page):
            found[path] = problems
    assert found == {}
