"""Publish the fonts gradguard ships (one per script) with the docs site, and their CSS.

Bengali pages (the lesson, the notebook, the glossary) must read on a machine with no
Bengali font, and the site loads nothing from the network. This hook copies each font of
the package's font table (:data:`gradguard.report._fonts.SCRIPT_FONTS`) to
``assets/fonts/`` in the site and writes ``assets/stylesheets/fonts.css``: an
``@font-face`` per font, limited to its script by ``unicode-range`` (Latin text keeps the
theme's fonts), made the first font of the theme's text and code (``--md-text-font``,
``--md-code-font``) and of form controls (the search box).

Loaded by mkdocs.yml (``hooks: [tools/mkdocs/fonts.py]``; ``extra_css`` lists the CSS).
"""

from __future__ import annotations

from typing import Any

from mkdocs.structure.files import File, Files

from gradguard.report._fonts import SCRIPT_FONTS, font_face_css, packaged_font

CSS = "assets/stylesheets/fonts.css"


def on_files(files: Files, config: Any) -> Files:
    for font in SCRIPT_FONTS:
        path = packaged_font(font)
        files.append(File.generated(config, f"assets/fonts/{path.name}", content=path.read_bytes()))
    families = ",".join(f'"{f.family}"' for f in SCRIPT_FONTS)
    css = (
        "/* Written by tools/mkdocs/fonts.py from gradguard.report._fonts.SCRIPT_FONTS. */\n"
        + font_face_css(None, url="../fonts/{file}")
        + f"\n:root{{--md-text-font:{families};--md-code-font:{families}}}\n"
        + "input,button,select,textarea{font-family:inherit}\n"
    )
    files.append(File.generated(config, CSS, content=css))
    return files
