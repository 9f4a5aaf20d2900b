"""The teacher's pack: the handout prints on exactly two A4 pages, in English and Bengali.

The PDFs are made as the docs build makes them (``tools/mkdocs/teach.py``: Chromium's own
print-to-PDF); their pages are counted with pypdf. Without Chromium these tests skip.
"""

from __future__ import annotations

import importlib.util
import io
import re
from pathlib import Path

import pytest

from gradguard.lab import (
    SEED_TABLE,
    clip_by_norm,
    grad_closed_form,
    overflow_horizon,
    sgd_step,
)

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("teach_pack", ROOT / "tools/mkdocs/teach.py")
assert _spec is not None and _spec.loader is not None
pack = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pack)


def _pages(pdf: bytes) -> int:
    from pypdf import PdfReader

    return len(PdfReader(io.BytesIO(pdf)).pages)


def _chromium() -> str:
    if not Path(pack.CHROMIUM).is_file():
        pytest.skip(f"Chromium not found at {pack.CHROMIUM}: no PDF to count the pages of")
    return str(pack.CHROMIUM)


@pytest.mark.parametrize("lang", ["en", "bn"])
def test_the_handout_prints_on_two_a4_pages(lang):
    text = (ROOT / "docs" / pack.SOURCES[lang]).read_text("utf-8")
    pdf = pack.print_pdf(pack.handout_html(text, lang), _chromium())
    assert pdf is not None and pdf.startswith(b"%PDF")
    assert _pages(pdf) == 2
    from pypdf import PdfReader

    box = PdfReader(io.BytesIO(pdf)).pages[0].mediabox  # A4: 210 × 297 mm = 595 × 842 pt
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)


@pytest.mark.parametrize("lang", ["en", "bn"])
def test_the_slides_are_one_per_section(lang):
    text = (ROOT / "docs" / pack.SOURCES[lang]).read_text("utf-8")
    sections = len(re.findall(r"^## ", text, re.MULTILINE))
    pdf = pack.print_pdf(pack.slides_html(text, lang), _chromium())
    assert pdf is not None and _pages(pdf) == 1 + sections  # the title slide, then one each


@pytest.mark.parametrize("lang", ["en", "bn"])
def test_the_handouts_numbers_are_the_labs(lang):
    text = (ROOT / "docs" / pack.SOURCES[lang]).read_text("utf-8")
    # grouped as the lesson writes every number: 5,120 in text, 1{,}016 in LaTeX math
    numbers = set(re.findall(r"\d[\d,]*(?:\.\d+)?", text.replace("{,}", ",")))
    exact = {f"{grad_closed_form(2, 1, T):,}" for T in SEED_TABLE}  # 80, 5,120, …
    assert exact <= numbers
    assert {f"{overflow_horizon(2, 1, dt):,}" for dt in ("float64", "float32")} <= numbers
    assert str(float(sgd_step(2, 80, "0.01"))) in numbers  # 1.2
    assert f"{-int(sgd_step(2, 10**6, '0.01')):,}" in numbers  # 9,998 (-9,998)
    assert str(clip_by_norm(100, 5)) in numbers and str(float(sgd_step(2, 5, "0.01"))) in numbers
    # the table's "off by": 5120/1024 = 5, 10485760/10^6 ≈ 10.5, 2.8e16/10^15 ≈ 28
    for T, claim in SEED_TABLE.items():
        off = grad_closed_form(2, 1, T) / claim
        shown = f"{off:.3g}" if off < 10 else f"{off:.1f}" if T == 20 else f"{off:.0f}"
        assert T == 5 or f"{shown}×" in text
