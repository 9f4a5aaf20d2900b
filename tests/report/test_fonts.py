"""The Bengali font ships with the package and is all a Bengali figure or report needs.

The subprocess tests run `tests/clean_env.py`, which hides every system font from
matplotlib (and checks that it did), as on a Windows or macOS machine with no Bengali
font installed.
"""

from __future__ import annotations

import base64
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont

from gradguard.report import _fonts

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

TESTS = Path(__file__).resolve().parents[1]
CATALOGS = Path(_fonts.__file__).resolve().parents[1] / "explain" / "catalogs"


def _strings(node: object) -> list[str]:
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    return [node] if isinstance(node, str) else []


def _bengali_used() -> set[str]:
    """Every character of the Bengali block (U+0980–U+09FF) the Bengali catalogs use."""
    text = "".join(
        s for p in sorted(CATALOGS.rglob("bn.toml")) for s in _strings(tomllib.loads(p.read_text()))
    )
    return {ch for ch in text if 0x0980 <= ord(ch) <= 0x09FF}


def _run(*args: str, tmp_path: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path / "mpl"), "PYTHONWARNINGS": "always"}
    env.pop("GRADGUARD_BENGALI_FONT", None)
    return subprocess.run(
        [sys.executable, str(TESTS / "clean_env.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=timeout,
    )


def test_the_packaged_font_and_its_licence_are_in_the_package():
    path = _fonts.packaged_font()
    assert path.is_file() and path.name == "NotoSansBengali-Regular.ttf"
    licence = (path.parent / "OFL.txt").read_text()
    assert "SIL OPEN FONT LICENSE Version 1.1" in licence and "Copyright 2017 Google" in licence
    bengali = next(f for f in _fonts.SCRIPT_FONTS if f.script == "Beng")
    assert _fonts.font_file(bengali) == path  # no override set: the packaged font, no system path


def test_the_packaged_font_covers_every_bengali_letter_the_catalogs_use():
    used = _bengali_used()
    assert len(used) > 40  # the catalogs really are Bengali
    cmap = TTFont(_fonts.packaged_font()).getBestCmap()
    assert sorted(ch for ch in used if ord(ch) not in cmap) == []


def test_a_bengali_figure_renders_with_no_missing_glyph_and_no_system_font(tmp_path):
    # Every Bengali character of the catalogs in one title, drawn with system fonts hidden.
    code = (
        "import sys, warnings; sys.path.insert(0, sys.argv[1]); sys.argv[1:] = []\n"
        "from clean_env import hide_system_fonts; hide_system_fonts()\n"
        "from gradguard.report import plots\n"
        "fig = plots.plot_explosion(lang='bn')\n"
        f"fig.axes[0].set_title({''.join(sorted(_bengali_used()))!r})\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    png = plots.figure_bytes(fig, 'png')\n"
        "print([str(x.message) for x in w if 'missing from font' in str(x.message)], len(png))\n"
    )
    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path / "mpl")}
    env.pop("GRADGUARD_BENGALI_FONT", None)
    r = subprocess.run(
        [sys.executable, "-c", code, str(TESTS)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    missing, size = r.stdout.rsplit(" ", 1)
    assert missing == "[]" and int(size) > 10_000


def test_without_the_font_matplotlib_would_draw_empty_boxes(tmp_path):
    # The check above can fail: with the font's registration skipped, the same figure warns.
    code = (
        "import sys, warnings; sys.path.insert(0, sys.argv[1])\n"
        "from clean_env import hide_system_fonts; hide_system_fonts()\n"
        "from gradguard.report import _fonts, plots\n"
        "_fonts.setup_fonts = lambda: ('DejaVu Sans',); plots.setup_fonts = _fonts.setup_fonts\n"
        "fig = plots.plot_explosion(lang='bn')\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    plots.figure_bytes(fig, 'png')\n"
        "print(sum('missing from font' in str(x.message) for x in w))\n"
    )
    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path / "mpl")}
    r = subprocess.run(
        [sys.executable, "-c", code, str(TESTS)], capture_output=True, text=True, env=env
    )
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) > 0


def _embedded_font(page: str) -> TTFont:
    m = re.search(r"@font-face\{[^}]*url\(data:font/woff;base64,([A-Za-z0-9+/=]+)\)", page)
    assert m, "no embedded font in the page"
    return TTFont(io.BytesIO(base64.b64decode(m.group(1))))


@pytest.mark.slow
def test_bengali_report_and_tour_without_system_fonts(tmp_path):
    out = tmp_path / "r.html"
    r = _run("--no-system-fonts", "--", "report", "--lang", "bn", "-o", str(out), tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "missing from font" not in r.stderr
    page = out.read_text()
    # The page carries its glyphs: every Bengali character it shows is in the embedded subset.
    used = {ord(ch) for ch in page if 0x0980 <= ord(ch) <= 0x09FF}
    assert len(used) > 40
    cmap = _embedded_font(page).getBestCmap()
    assert sorted(chr(c) for c in used - set(cmap)) == []
    assert f'font-family:"{_fonts.SCRIPT_FONTS[0].family}"' in page

    tour = tmp_path / "tour"
    r = _run(
        "--no-system-fonts",
        "--tiny",
        "--",
        "tour",
        "--lang",
        "bn",
        "--out",
        str(tour),
        tmp_path=tmp_path,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "missing from font" not in r.stderr
    report = (tour / "report.html").read_text()
    flow = report[report.index('<section id="flow">') :].split("</section>")[0]
    assert "<figure>" in flow  # the gradient flow was measured and drawn
    assert (tour / "remedies" / "summary.csv").is_file()
    assert f'font-family:"{_fonts.SCRIPT_FONTS[0].family}"' in report


def test_an_english_report_embeds_no_font():
    from gradguard.report import build_report

    # no Bengali font; the math fonts (KaTeX's) are the page's only ones
    rules = re.findall(r"@font-face\{[^}]*\}", build_report(lang="en"))
    faces = [re.search(r"font-family:\"?([^;\"}]+)", r)[1] for r in rules]
    assert faces and all(f.startswith("KaTeX_") for f in faces), faces


def test_gradguard_bengali_font_overrides_the_packaged_font(tmp_path, monkeypatch):
    own = tmp_path / "MyBengali.ttf"
    own.write_bytes(_fonts.packaged_font().read_bytes())
    monkeypatch.setenv("GRADGUARD_BENGALI_FONT", str(own))
    assert _fonts.font_file(_fonts.SCRIPT_FONTS[0]) == own
    _fonts.setup_fonts.cache_clear()
    try:
        assert _fonts.setup_fonts() == ("DejaVu Sans", "Noto Sans Bengali")
        from matplotlib import font_manager

        assert str(own) in {f.fname for f in font_manager.fontManager.ttflist}
    finally:
        _fonts.setup_fonts.cache_clear()
