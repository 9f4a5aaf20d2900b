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
