"""The printable worksheet and answer key typeset every formula offline in Chromium."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from gradguard.cli import main

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("lang", ["en", "bn"])
def test_sheets_typeset_offline(page: Any, tmp_path: Path, screenshot: Any, lang: str) -> None:
    assert main(["exercises", "--lang", lang, "--seed", "3", "--out", str(tmp_path)]) == 0
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    for stem in ("worksheet", "answers"):
        md = (tmp_path / f"{stem}-{lang}-3.md").read_text("utf-8")
        page.goto((tmp_path / f"{stem}-{lang}-3.html").as_uri())
        page.evaluate("document.fonts.ready")
        # every $…$ of the Markdown is typeset by KaTeX, none failed
        formulas = len(re.findall(r"\$[^$]+\$", md))
        assert formulas > 20
        assert page.locator(".katex").count() == formulas
        assert page.locator(".katex-error").count() == 0
        assert page.locator(".problem").count() == 8
        assert page.evaluate("document.fonts.check('16px KaTeX_Main')")
        screenshot(page, f"{stem}-{lang}")
    assert all(u.startswith(("file://", "data:")) for u in requests), requests
    assert not page.errors
