"""KaTeX inlined into a self-contained page: formulas typeset offline, in one file.

The package vendors KaTeX (``gradguard/serve/static/vendor/katex``, MIT licence, from
npm; ``tools/vendor_js.py``). A page gradguard writes as one file — the report, the
worksheets — carries it inline: the stylesheet with its fonts as ``data:`` URLs, the
script, and KaTeX's auto-render, which typesets every ``$…$`` (inline) and ``$$…$$``
(display) in the page when it loads, through gradguard's one typesetting script
(``serve/static/katex-glue.js``, shared with the explorer and the docs site): it also keeps
a short formula and the word that ends it (``$T$-এর``, ``= 80।``) on one line. Nothing is
fetched; a browser without JavaScript shows the LaTeX source, which still reads.

Only the fonts gradguard's formulas use are inlined (Main, Math italic, AMS and the
four sizes of big operators and delimiters, about 140 kB): the others (Caligraphic,
Fraktur, Script, SansSerif, Typewriter) serve ``\\mathcal``-style commands the pages
never write.
"""

from __future__ import annotations

import base64
import re
from functools import cache
from pathlib import Path
from typing import Literal

# Internal to the report: the package's API is build_report and write_report.
__all__: list[str] = []

#: The vendored KaTeX (read from the installed package).
KATEX_DIR = Path(__file__).resolve().parents[1] / "serve" / "static" / "vendor" / "katex"
#: The font files inlined (the rest are left out, see the module's docstring).
FONTS = (
    "KaTeX_Main-Regular",
    "KaTeX_Main-Bold",
    "KaTeX_Main-Italic",
    "KaTeX_Math-Italic",
    "KaTeX_AMS-Regular",
    "KaTeX_Size1-Regular",
    "KaTeX_Size2-Regular",
    "KaTeX_Size3-Regular",
    "KaTeX_Size4-Regular",
)
#: gradguard's one typesetting script: auto-render's call with the page's delimiters, then a
#: short formula and the word that ends it ($T$-এর, = 80।) kept on one line.
GLUE_JS = KATEX_DIR.parent.parent / "katex-glue.js"
#: The delimiters ``gradguardMath.typeset`` knows: ``$…$`` and ``$$…$$`` (pages gradguard
#: writes), or ``\\(…\\)`` and ``\\[…\\]`` (Markdown converted by ``pymdownx.arithmatex``).
Delimiters = Literal["dollars", "brackets"]


def _render_call(delimiters: Delimiters) -> str:
    """The page's call, when it has loaded: typeset the whole body (an error shows the
    formula's source), glued."""
    return (
        "document.addEventListener('DOMContentLoaded',function(){"
        f"gradguardMath.typeset(document.body,'{delimiters}')}});"
    )


def _font_face(rule: re.Match[str]) -> str:
    """One ``@font-face`` rule with its WOFF2 file inlined, or ``""`` for a font left out."""
    found = re.search(r"url\(fonts/([\w-]+)\.woff2\)", rule[0])
    if found is None or found[1] not in FONTS:
        return ""
    data = base64.b64encode((KATEX_DIR / "fonts" / f"{found[1]}.woff2").read_bytes())
    src = f'src:url(data:font/woff2;base64,{data.decode("ascii")}) format("woff2")'
    return re.sub(r"src:[^;}]*", src, rule[0])


@cache
def katex_head(delimiters: Delimiters = "dollars") -> str:
    """Return the ``<style>`` and ``<script>`` elements that typeset a page's math offline.

    Put the result in the page's ``<head>``; write formulas in the body as LaTeX between
    ``$`` (inline) or ``$$`` (display), or with ``delimiters="brackets"`` between ``\\(``
    and ``\\)`` or ``\\[`` and ``\\]``. Text inside ``<pre>`` and ``<code>`` is left alone.
    """
    css = (KATEX_DIR / "katex.min.css").read_text(encoding="utf-8")
    css = re.sub(r"@font-face\{[^}]*\}", _font_face, css)
    js = (KATEX_DIR / "katex.min.js").read_text(encoding="utf-8")
    auto = (KATEX_DIR / "contrib" / "auto-render.min.js").read_text(encoding="utf-8")
    glue = GLUE_JS.read_text(encoding="utf-8")
    call = _render_call(delimiters)
    return f"<style>{css}</style>\n<script>{js}</script>\n<script>{auto}\n{glue}\n{call}</script>"
