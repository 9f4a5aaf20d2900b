"""The docs build's teaching hook (tools/mkdocs/teach.py).

Its links lead to files that exist; its Bengali pages say their language.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("markdown")  # the docs extra
ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("teach_hook", ROOT / "tools/mkdocs/teach.py")
assert _spec is not None and _spec.loader is not None
teach = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(teach)


def _page(src_uri: str) -> SimpleNamespace:
    return SimpleNamespace(file=SimpleNamespace(src_uri=src_uri))


@pytest.mark.parametrize("lang", ["en", "bn"])
def test_the_pdf_links_are_there_only_where_chromium_prints_the_pdfs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, lang: str
) -> None:
    source = teach.SOURCES[lang]
    text = (ROOT / "docs" / source).read_text("utf-8")
    monkeypatch.setattr(teach, "CHROMIUM", str(tmp_path / "no-chromium"))
    without = teach.on_page_markdown(text, _page(source))
    assert ".pdf" not in without and f"handout-{lang}.html" in without
    assert teach.pack(ROOT / "docs").keys() == {
        f"teach/{k}-{x}.html" for k in ("handout", "slides") for x in teach.SOURCES
    }
    fake = tmp_path / "chromium"
    fake.write_text("")
    monkeypatch.setattr(teach, "CHROMIUM", str(fake))
    with_pdf = teach.on_page_markdown(text, _page(source))
    up = "../" * (source.count("/") + 1)
    for kind in ("handout", "slides"):
        assert f'<a href="{up}teach/{kind}-{lang}.pdf">PDF</a>' in with_pdf


def test_the_bengali_pages_say_they_are_bengali() -> None:
    page = '<!doctype html>\n<html lang="en" class="no-js">\n<head>'
    assert '<html lang="bn"' in teach.on_post_page(page, _page("bn/plan.md"))
    assert teach.on_post_page(page, _page("teach/plan.md")) == page
    built = ROOT / "site" / "bn" / "plan" / "index.html"
    if built.is_file():  # the site as `make docs` built it
        assert '<html lang="bn"' in built.read_text("utf-8")[:200]
