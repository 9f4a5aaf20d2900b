"""The vendored KaTeX typesets in Chromium from local files, its fonts loaded with no network."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

KATEX = Path(str(resources.files("gradguard.serve").joinpath("static/vendor/katex")))


def test_katex_renders_offline_with_its_fonts(page: Any, tmp_path: Path) -> None:
    html = tmp_path / "math.html"
    html.write_text(
        f"""<!DOCTYPE html><meta charset="utf-8">
<link rel="stylesheet" href="{KATEX.as_uri()}/katex.min.css">
<script src="{KATEX.as_uri()}/katex.min.js"></script>
<p id="m"></p>
<script>katex.render(String.raw`\\frac{{\\partial L}}{{\\partial w}} = T\\,w^{{T-1}} h_0`,
  document.getElementById("m"));</script>
""",
        encoding="utf-8",
    )
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(html.as_uri())
    page.evaluate("document.fonts.ready")
    assert page.locator("#m .katex-html").count() == 1
    assert page.evaluate("document.fonts.check('16px KaTeX_Main')")
    assert page.evaluate("document.fonts.check('italic 16px KaTeX_Math')")
    loaded = page.evaluate(
        "[...document.fonts].filter(f => f.status === 'loaded').map(f => f.family)"
    )
    assert "KaTeX_Main" in loaded and "KaTeX_Math" in loaded
    assert all(u.startswith(("file://", "data:")) for u in requests), requests
    assert not page.errors


#: The words that start a line right after an inline formula they end (in the page's lines),
#: and how many formulas with a word right after them were checked.
_ORPHANS = """() => {
  const out = [];
  let checked = 0;
  document.querySelectorAll('.katex').forEach(k => {
    let math = k;  // the formula as its paragraph holds it (auto-render's span, arithmatex's)
    while (math.parentNode.tagName === 'SPAN' && math.parentNode.childNodes.length === 1)
      math = math.parentNode;
    const next = math.nextSibling;
    if (!next || next.nodeType !== Node.TEXT_NODE || !/^\\S/.test(next.data)) return;
    checked++;
    const r = document.createRange();
    r.setStart(next, 0);
    r.setEnd(next, 1);
    const parts = k.querySelectorAll('.katex-html > *');
    if (r.getClientRects()[0].top > parts[parts.length - 1].getBoundingClientRect().bottom - 2)
      out.push(next.data.split(' ')[0]);
  });
  return {out, checked};
}"""


ROOT = Path(__file__).resolve().parents[2]


def _glue_page(medium: str, text: str) -> str:
    """A paragraph of ``text`` ($…$ formulas) as ``medium`` typesets it: the report's and the
    worksheets' inlined head, or the docs site's scripts on arithmatex's markup."""
    if medium == "report":
        from gradguard.report._katex import katex_head

        return f"<!DOCTYPE html><meta charset='utf-8'>{katex_head()}<p id='p'>{text}</p>"
    import re

    marked = re.sub(r"\$([^$]+)\$", r'<span class="arithmatex">\\(\1\\)</span>', text)
    scripts = "".join(
        f"<script src='{p.as_uri()}'></script>"
        for p in (
            KATEX / "katex.min.js",
            KATEX / "contrib" / "auto-render.min.js",
            KATEX.parents[1] / "katex-glue.js",  # the site's assets/katex-glue.js
            ROOT / "docs" / "javascripts" / "katex.js",
        )
    )
    return (
        f"<!DOCTYPE html><meta charset='utf-8'>"
        f"<link rel='stylesheet' href='{KATEX.as_uri()}/katex.min.css'>{scripts}"
        f"<p id='p'>{marked}</p>"
    )


@pytest.mark.parametrize("medium", ["report", "docs"])
def test_a_formula_keeps_the_word_that_ends_it(page: Any, tmp_path: Path, medium: str) -> None:
    """A Bengali case ending, a classifier or a danda written right after a formula
    ($T$-এর, $k$টি, = 80।) never starts a line on its own, at any width: in the report's and
    the worksheets' KaTeX and on the docs site, which run the same script."""
    symbols = ["w", "T", "h_0", "\\eta", "c", "2^{T-1}", "\\frac{1}{2}"] * 4
    text = " ".join(
        f"ধরি ${s}$-এর মান বদলায়, তখন $T = {n}$-এ ${n}$টি পদ; যোগফল $= {n * 16}$।"
        for n, s in enumerate(symbols, start=1)
    )
    html = tmp_path / "glue.html"
    html.write_text(_glue_page(medium, text), "utf-8")
    page.goto(html.as_uri())
    page.evaluate("document.fonts.ready")
    assert page.locator(".katex").count() == 4 * len(symbols)
    assert page.locator(".gradguard-glue").count() == 4 * len(symbols)
    orphans = []
    for width in range(160, 700, 7):
        page.evaluate(f"document.getElementById('p').style.width = '{width}px'")
        found = page.evaluate(_ORPHANS)
        assert found["checked"] == 4 * len(symbols)  # every formula has a word after it
        orphans += [(width, w) for w in found["out"]]
    assert orphans == []
    assert not page.errors


def test_one_typesetting_script_for_every_page() -> None:
    """The report (and worksheets), the explorer and the docs site carry the same script,
    not copies: gradguard.serve's static/katex-glue.js."""
    from gradguard.report._katex import katex_head
    from gradguard.serve import build_page

    glue = (KATEX.parents[1] / "katex-glue.js").read_text("utf-8")
    assert glue in katex_head() and "gradguardMath.typeset(document.body,'dollars')" in katex_head()
    assert glue in build_page("bn")
    assert "gradguardMath.typeset" in (ROOT / "docs" / "javascripts" / "katex.js").read_text()
    site = (ROOT / "mkdocs.yml").read_text("utf-8")
    assert site.index("assets/katex-glue.js") < site.index("javascripts/katex.js")
