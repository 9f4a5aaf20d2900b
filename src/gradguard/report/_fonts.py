"""Fonts for Bengali labels in matplotlib.

matplotlib's default DejaVu Sans has no Bengali glyphs (each character would be
an empty box). Debian's ``fonts-noto-core`` ships Noto Sans Bengali; it is
registered with :func:`matplotlib.font_manager.FontManager.addfont` and put
first in the sans-serif fallback list, so Latin text keeps DejaVu's look and
Bengali falls through to Noto.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

__all__ = ["BENGALI_FONT_FILES", "FontMissing", "bengali_font", "require_bengali", "setup_fonts"]


class FontMissing(RuntimeError):
    """No installed font has Bengali glyphs: Bengali labels would be empty boxes."""


#: Where Noto Sans Bengali is looked for; ``GRADGUARD_BENGALI_FONT`` overrides.
BENGALI_FONT_FILES = (
    "/usr/share/fonts/truetype/noto/NotoSansBengali-Regular.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansBengali-Regular.ttf",
    "/usr/share/fonts/noto/NotoSansBengali-Regular.ttf",
    "/usr/local/share/fonts/NotoSansBengali-Regular.ttf",
    "/Library/Fonts/NotoSansBengali-Regular.ttf",
)


def bengali_font() -> Path | None:
    """Return the path of a font file with Bengali glyphs, or ``None`` if none is installed."""
    override = os.environ.get("GRADGUARD_BENGALI_FONT")
    candidates = ([override] if override else []) + list(BENGALI_FONT_FILES)
    for name in candidates:
        p = Path(name)
        if p.is_file():
            return p
    return None


@cache
def setup_fonts() -> str | None:
    """Register the Bengali font with matplotlib; return its family name or ``None``.

    Safe to call many times (cached). Without the font, Bengali labels would
    render as empty boxes, so plots asked for in Bengali raise
    :class:`FontMissing` instead (see :func:`require_bengali`).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import font_manager, rcParams

    path = bengali_font()
    if path is None:
        return None
    font_manager.fontManager.addfont(str(path))
    family = font_manager.FontProperties(fname=str(path)).get_name()
    # DejaVu first keeps Latin glyphs, digits and math symbols unchanged; matplotlib
    # falls back per glyph to the next *named* family (a generic "sans-serif"
    # resolves to one font only, so the families are listed explicitly).
    rcParams["font.family"] = ["DejaVu Sans", family]
    return family


def require_bengali() -> str:
    """Return the Bengali font family registered with matplotlib, or raise :class:`FontMissing`."""
    family = setup_fonts()
    if family is None:
        raise FontMissing(
            "Bengali plots need a font with Bengali glyphs: install Debian's fonts-noto-core "
            "(apt-get install fonts-noto-core) or set GRADGUARD_BENGALI_FONT to a "
            "NotoSansBengali-Regular.ttf."
        )
    return family
