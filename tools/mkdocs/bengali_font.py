"""Publish the Noto Sans Bengali font that ships in gradguard with the docs site.

Bengali pages (the lesson, the notebook) must read on a machine with no Bengali font, and
the site loads nothing from the network. This hook copies the package's own font file to
``assets/fonts/`` in the site; ``docs/stylesheets/bengali.css`` declares it for the Bengali
block only (``unicode-range``), so Latin text keeps the theme's fonts.

Loaded by mkdocs.yml (``hooks: [tools/mkdocs/bengali_font.py]``).
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from mkdocs.structure.files import File, Files

FONT = "NotoSansBengali-Regular.ttf"


def on_files(files: Files, config: Any) -> Files:
    font = resources.files("gradguard.report") / "fonts" / FONT
    files.append(File.generated(config, f"assets/fonts/{FONT}", content=font.read_bytes()))
    return files
