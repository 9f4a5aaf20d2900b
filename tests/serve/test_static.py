"""The static page carries the catalogs as they are in the files, and nothing from outside."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from gradguard.errors import InputError
from gradguard.serve import build_page, page_data, write_page

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CATALOGS = Path(__file__).resolve().parents[2] / "src/gradguard/explain/catalogs"


def _toml(path: Path) -> dict:
    return tomllib.loads(path.read_text("utf-8"))


@pytest.mark.parametrize("lang", ["en", "bn"])
def test_the_page_data_equals_the_catalog_files(lang: str) -> None:
    # read the files here, not through the loader: the language's own, nothing from English
    report = _toml(CATALOGS / "report" / f"{lang}.toml")
    expected = {**report["report"], **report["explorer"]}
    expected["numbers_digits"] = _toml(CATALOGS / f"{lang}.toml")["numbers"]["digits"]
    assert page_data()["catalogs"][lang] == expected


def test_a_language_missing_a_page_key_fails_not_english(tmp_path: Path, monkeypatch) -> None:
    """A catalog without one of the page's keys is an error, never English on its page."""
    import shutil

    for part in ("{}.toml", "report/{}.toml", "errors/{}.toml", "cli/{}.toml"):
        (tmp_path / part.format("xx")).parent.mkdir(exist_ok=True)
        shutil.copy(CATALOGS / part.format("en"), tmp_path / part.format("xx"))
    report = (tmp_path / "report/xx.toml").read_text("utf-8")
    key = next(iter(_toml(CATALOGS / "report/en.toml")["explorer"]))
    report, n = re.subn(rf"(?m)^{key} = .*$", "", report)
    assert n == 1
    (tmp_path / "report/xx.toml").write_text(report, "utf-8")
    monkeypatch.setenv("GRADGUARD_CATALOGS", str(tmp_path))
    with pytest.raises(KeyError, match=key):
        page_data()


def test_every_explorer_key_is_in_both_languages() -> None:
    en = _toml(CATALOGS / "report" / "en.toml")["explorer"]
    bn = _toml(CATALOGS / "report" / "bn.toml")["explorer"]
    assert set(en) == set(bn)


def test_the_built_page_carries_exactly_the_page_data() -> None:
    page = build_page("bn")
    m = re.search(r'<script type="application/json" id="gg-data">(.*?)</script>', page, re.S)
    assert m
    assert json.loads(m[1].replace("<\\/", "</")) == page_data()
    assert '<html lang="bn">' in page


@pytest.mark.parametrize("lang", ["en", "bn"])
def test_error_templates_give_the_libraries_messages(lang: str) -> None:
    templates = page_data()["errors"][lang]
    cases = [
        ("T:whole_range", InputError("T", "x", "whole_range", min=1, max=10_000), "'x'"),
        ("w:number", InputError("w", "abc", "number"), "'abc'"),
        ("eta:positive", InputError("eta", "-1", "positive"), "'-1'"),
        ("c:threshold", InputError("c", 0, "threshold"), "0"),
    ]
    for key, error, shown in cases:
        assert templates[key].replace("\0", shown) == error.message(lang)


def test_the_page_is_one_file_that_links_to_nothing_outside() -> None:
    page = re.sub(r"<script[^>]*>.*?</script>", "", build_page("en"), flags=re.S)
    # no resource is loaded from anywhere: every src/href/url() is inline (data:) or a fragment
    # (what the scripts request is checked in Chromium: tests/browser/test_explorer_browser.py)
    refs = re.findall(r'(?:src|href)="([^"]*)"', page) + re.findall(r"url\(([^)]*)\)", page)
    assert refs and all(r.startswith(("data:", "#")) for r in refs), {
        r[:40] for r in refs if not r.startswith(("data:", "#"))
    }
    assert "<link" not in page and "@import" not in page


def test_write_page_and_a_bad_language(tmp_path: Path) -> None:
    out = tmp_path / "explorer.html"
    write_page(out, "bn")
    assert out.read_text("utf-8") == build_page("bn")
    with pytest.raises(InputError) as e:
        build_page("de")
    assert e.value.argument == "lang"
