"""The vendored KaTeX (serve/static/vendor/katex) is whole, licensed and packaged."""

from __future__ import annotations

import re
from importlib import resources

KATEX = resources.files("gradguard.serve").joinpath("static/vendor/katex")


def test_version_file_names_the_vendored_build() -> None:
    version = KATEX.joinpath("VERSION").read_text("utf-8").strip()
    js = KATEX.joinpath("katex.min.js").read_text("utf-8")
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert f'version:"{version}"' in js


def test_licence_travels_with_it() -> None:
    text = KATEX.joinpath("LICENSE").read_text("utf-8")
    assert "The MIT License" in text and "Khan Academy" in text


def test_every_woff2_font_the_css_names_is_there() -> None:
    css = KATEX.joinpath("katex.min.css").read_text("utf-8")
    names = set(re.findall(r"url\(fonts/([\w-]+\.woff2)\)", css))
    assert len(names) >= 19  # KaTeX's 20 faces (one per family/style)
    for name in names:
        assert KATEX.joinpath("fonts", name).is_file(), name
    # the CSS lists WOFF2 first in every src, so a browser never falls back to the absent files
    for src in re.findall(r"src:([^;}]+)", css):
        assert src.startswith("url(fonts/") and ".woff2)" in src.split(",")[0], src


def test_auto_render_is_there() -> None:
    assert "renderMathInElement" in KATEX.joinpath("contrib/auto-render.min.js").read_text("utf-8")
