"""Typeset the docs' formulas with the KaTeX that ships in gradguard: offline, no CDN.

``pymdownx.arithmatex`` (generic mode, in mkdocs.yml) marks ``$…$`` and ``$$…$$`` in the
Markdown — the pages', the lesson's (``explain --format markdown``) and the notebook's —
as ``\\(…\\)`` and ``\\[…\\]``; ``docs/javascripts/katex.js`` typesets them in the browser.
This hook copies the package's own vendored KaTeX (``gradguard/serve/static/vendor/katex``:
the script, its auto-render, the stylesheet and the WOFF2 fonts, MIT licence) to
``assets/katex/`` in the site, the one copy the explorer and the report use too.

Loaded by mkdocs.yml (``hooks: [tools/mkdocs/katex.py]``).
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from mkdocs.structure.files import File, Files

SOURCE = "static/vendor/katex"
TARGET = "assets/katex"
#: gradguard's own script run after KaTeX: a short formula and the word that ends it
#: ($T$-এর) stay on one line (``assets/katex-glue.js``, as the report and worksheets inline it).
GLUE = "static/katex-glue.js"


def _walk(node: Any, prefix: str) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    for child in node.iterdir():
        name = f"{prefix}/{child.name}"
        if child.is_dir():
            out += _walk(child, name)
        else:
            out.append((name, child.read_bytes()))
    return out


def on_files(files: Files, config: Any) -> Files:
    vendored = resources.files("gradguard.serve").joinpath(SOURCE)
    for name, data in _walk(vendored, TARGET):
        files.append(File.generated(config, name, content=data))
    glue = resources.files("gradguard.serve").joinpath(GLUE).read_bytes()
    files.append(File.generated(config, "assets/katex-glue.js", content=glue))
    return files
