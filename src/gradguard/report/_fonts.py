"""The Bengali font gradguard ships, for matplotlib and for the HTML report.

matplotlib's default DejaVu Sans has no Bengali glyphs (each character would be
an empty box), and a reader's machine may have no Bengali font at all (Windows
and macOS have none under the names Linux uses). So the package carries Noto
Sans Bengali (``fonts/NotoSansBengali-Regular.ttf``, unmodified, SIL Open Font
License 1.1, the licence text beside it in ``fonts/OFL.txt``):

- :func:`setup_fonts` registers it with matplotlib
  (:meth:`matplotlib.font_manager.FontManager.addfont`) after DejaVu Sans in
  the family list, so Latin text keeps DejaVu's look and Bengali falls
  through, glyph by glyph, to Noto;
- :func:`font_face_css` embeds the glyphs a page uses in the HTML report as an
  ``@font-face`` with a ``data:`` URL, so the report reads in a browser on a
  machine with no Bengali font.

``GRADGUARD_BENGALI_FONT`` (the path of any font file with Bengali glyphs, a
system one for instance) overrides the packaged font. No system font path is
needed.
"""

from __future__ import annotations

import base64
import io
import os
from functools import cache
from importlib import resources
from pathlib import Path

#: The ``font-family`` name the HTML report gives the embedded font.
BENGALI_FAMILY_CSS = "gradguard Bengali"
#: The Bengali block, U+0980–U+09FF.
_BENGALI = range(0x0980, 0x0A00)


class FontMissing(RuntimeError):
    """The Bengali font cannot be used: Bengali labels would be empty boxes.

    Args:
      problem: ``"override_missing"`` (``GRADGUARD_BENGALI_FONT`` names no file) or
        ``"packaged_missing"`` (a broken installation), a key of the catalogs' ``fonts``.
      **fields: the message's ``{path}``.
    """

    def __init__(self, problem: str, **fields: object) -> None:
        self.problem = problem
        self.fields = fields
        super().__init__(self.message())

    def message(self, lang: str = "en") -> str:
        """Return the one-line message in ``lang`` (what is missing and how to fix it)."""
        from gradguard._catalog import load_catalog

        return load_catalog(lang).get(f"fonts.{self.problem}", **self.fields)


def packaged_font() -> Path:
    """Return the path of the Noto Sans Bengali file inside the installed package."""
    font = resources.files("gradguard.report").joinpath("fonts/NotoSansBengali-Regular.ttf")
    return Path(str(font))


def bengali_font() -> Path:
    """Return the Bengali font file: ``GRADGUARD_BENGALI_FONT`` if set, else the packaged one.

    Raises:
      FontMissing: ``GRADGUARD_BENGALI_FONT`` names no file, or the packaged
        font is missing (a broken installation).
    """
    override = os.environ.get("GRADGUARD_BENGALI_FONT")
    if override:
        if not Path(override).is_file():
            raise FontMissing("override_missing", path=override)
        return Path(override)
    path = packaged_font()
    if not path.is_file():
        raise FontMissing("packaged_missing", path=path)
    return path


@cache
def setup_fonts() -> str:
    """Register the Bengali font with matplotlib; return its family name.

    Safe to call many times (cached).

    Raises:
      FontMissing: see :func:`bengali_font`.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import font_manager, rcParams

    path = bengali_font()
    font_manager.fontManager.addfont(str(path))
    family = font_manager.FontProperties(fname=str(path)).get_name()
    # DejaVu first keeps Latin glyphs, digits and math symbols unchanged; matplotlib
    # falls back per glyph to the next *named* family (a generic "sans-serif"
    # resolves to one font only, so the families are listed explicitly).
    rcParams["font.family"] = ["DejaVu Sans", family]
    return family


def require_bengali() -> str:
    """Return the Bengali font family registered with matplotlib (see :func:`setup_fonts`)."""
    return setup_fonts()


#: The font each script needs beyond matplotlib's DejaVu Sans and the browsers' own, by
#: ISO 15924 code (a language's script is its lesson catalog's ``meta.script``).
SCRIPT_FONTS: dict[str, str] = {"Beng": "NotoSansBengali-Regular.ttf"}


def script_of(lang: str) -> str:
    """Return the ISO 15924 script ``lang`` is written in (its catalog's ``meta.script``)."""
    from gradguard._catalog import load_catalog

    return load_catalog(lang)["meta.script"]


def needs_font(lang: str) -> bool:
    """Whether text in ``lang`` needs a font gradguard ships (:data:`SCRIPT_FONTS`)."""
    return script_of(lang) in SCRIPT_FONTS


def require_fonts(lang: str) -> None:
    """Make sure the fonts ``lang``'s text needs are usable in figures (register them).

    Raises:
      FontMissing: see :func:`bengali_font`.
    """
    if needs_font(lang):
        setup_fonts()


def font_face_css(text: str) -> str:
    """Return an ``@font-face`` rule embedding the Bengali glyphs ``text`` uses ("" if none).

    The font is subset to the Bengali characters of ``text`` with their
    conjuncts and shaping rules (fontTools, which matplotlib depends on) and
    inlined as a base64 WOFF; without fontTools the whole font is inlined.
    The family is :data:`BENGALI_FAMILY_CSS`.

    Raises:
      FontMissing: see :func:`bengali_font`.
    """
    used = sorted({ord(ch) for ch in text if ord(ch) in _BENGALI})
    if not used:
        return ""
    data, mime, fmt = _subset(str(bengali_font()), tuple(used))
    b64 = base64.b64encode(data).decode("ascii")
    return (
        f'@font-face{{font-family:"{BENGALI_FAMILY_CSS}";'
        f'src:url(data:{mime};base64,{b64}) format("{fmt}");'
        "unicode-range:U+0980-09FF,U+200C-200D,U+25CC;font-display:block}"
    )


@cache
def _subset(path: str, codepoints: tuple[int, ...]) -> tuple[bytes, str, str]:
    """Subset the font at ``path`` to ``codepoints``: (bytes, MIME type, CSS format)."""
    try:
        from fontTools import subset
    except ImportError:
        return Path(path).read_bytes(), "font/ttf", "truetype"
    options = subset.Options()
    options.layout_features = ["*"]  # every shaping feature: conjuncts, reph, vowel signs
    options.flavor = "woff"  # zlib-compressed; WOFF2 would need brotli
    options.name_IDs = ["*"]  # keep the copyright and licence records (OFL condition 2)
    options.notdef_outline = True
    font = subset.load_font(path, options)
    # ZWNJ/ZWJ and the dotted circle take part in Bengali shaping.
    sub = subset.Subsetter(options)
    sub.populate(unicodes=[*codepoints, 0x200C, 0x200D, 0x25CC])
    sub.subset(font)
    buf = io.BytesIO()
    subset.save_font(font, buf, options)
    return buf.getvalue(), "font/woff", "woff"
