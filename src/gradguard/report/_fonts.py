"""The fonts gradguard ships, one per script: for figures, the report, the explorer, the docs.

matplotlib's default DejaVu Sans and a reader's machine may have no glyphs for a script
gradguard writes in (Windows and macOS have no Bengali font under the names Linux uses),
so every script beyond the Latin, Greek and math of DejaVu Sans brings its own font:
:data:`SCRIPT_FONTS` is the one table of them — script → font file(s) in ``fonts/`` and
the characters (Unicode ranges) each draws. Nothing else in the package names a language
for font purposes: a page or a figure takes the fonts of the characters it shows.

- :func:`setup_fonts` registers every font of the table with matplotlib
  (:meth:`matplotlib.font_manager.FontManager.addfont`) after DejaVu Sans in the family
  list, so Latin text keeps DejaVu's look and each other script falls through, glyph by
  glyph, to its font;
- :func:`font_face_css` writes the ``@font-face`` rules for the characters a page uses
  (embedded as a subset in a ``data:`` URL, or fetched from a URL), and :func:`font_css`
  adds the rules that make every element use them — body text, ``pre``/``code`` and form
  controls (which do not inherit the page's font by default);
- :func:`fonts_for` says which of the table's fonts a text needs; :func:`needs_font` and
  :func:`require_fonts` do the same for a language, by its script (its lesson catalog's
  ``meta.script``, an ISO 15924 code), the latter checking that they can be used (before
  a long command starts, and before a figure is drawn).

Adding a script = one :class:`ScriptFont` row (and its file, with its licence, in ``fonts/``,
and the script's name in the catalogs' ``fonts.script_<code>``). The Bengali row: Noto Sans
Bengali (unmodified, SIL Open Font License 1.1, the licence text in ``fonts/OFL.txt``);
``GRADGUARD_BENGALI_FONT`` (the path of any font file with Bengali glyphs, a system one for
instance) overrides it.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

# Internal to the report: the package's API is build_report and write_report.
__all__: list[str] = []


@dataclass(frozen=True)
class ScriptFont:
    """One row of the font table: a script, the font that draws it, the characters it draws.

    Attributes:
      script: the script's ISO 15924 code (``"Beng"``), as a language's catalog names it in
        ``meta.script``; the catalogs' ``fonts.script_<code>`` says its name in each language.
      family: the CSS ``font-family`` name pages give the font (``"gradguard Bengali"``).
      files: the font file(s) in the package's ``fonts/`` folder (the first is used).
      ranges: inclusive code-point ranges the font draws on a page (its CSS
        ``unicode-range``): the script's block and the characters its text uses from other
        blocks (Bengali: the dandas U+0964–U+0965 of the Devanagari block, ZWNJ/ZWJ, the
        dotted circle its shaping inserts).
      override: the environment variable that names another font file for the script.
    """

    script: str
    family: str
    files: tuple[str, ...]
    ranges: tuple[tuple[int, int], ...]
    override: str

    def covers(self, ch: str) -> bool:
        """Whether ``ch`` is one of the characters this font draws on a page."""
        cp = ord(ch)
        return any(lo <= cp <= hi for lo, hi in self.ranges)

    def unicode_range(self) -> str:
        """The CSS ``unicode-range`` value: ``U+0964-0965,U+0980-09FF,…``."""
        return ",".join(
            f"U+{lo:04X}" if lo == hi else f"U+{lo:04X}-{hi:04X}" for lo, hi in self.ranges
        )


#: The font table: script → font file(s) + the characters each draws.
SCRIPT_FONTS: tuple[ScriptFont, ...] = (
    ScriptFont(
        script="Beng",
        family="gradguard Bengali",
        files=("NotoSansBengali-Regular.ttf",),
        ranges=((0x0964, 0x0965), (0x0980, 0x09FF), (0x200C, 0x200D), (0x25CC, 0x25CC)),
        override="GRADGUARD_BENGALI_FONT",
    ),
)

#: The fonts a page lists after the table's (Latin, Greek, math; then the reader's own).
TEXT_FALLBACK = ('"DejaVu Sans"', '"Noto Sans"', "sans-serif")
MONO_FALLBACK = ('"DejaVu Sans Mono"', '"Noto Sans Mono"', "monospace")


class FontMissing(RuntimeError):
    """A script's font cannot be used: its text would be empty boxes.

    Args:
      problem: ``"override_missing"`` (the override variable names no file) or
        ``"packaged_missing"`` (a broken installation), a key of the catalogs' ``fonts``.
      font: the table's row.
      **fields: the message's ``{path}``.
    """

    def __init__(self, problem: str, font: ScriptFont, **fields: object) -> None:
        self.problem = problem
        self.font = font
        self.fields = {"variable": font.override, **fields}
        super().__init__(self.message())

    def message(self, lang: str = "en") -> str:
        """Return the one-line message in ``lang`` (what is missing and how to fix it)."""
        from gradguard._catalog import load_catalog

        words = load_catalog(lang)
        script = words[f"fonts.script_{self.font.script}"]
        return words.get(f"fonts.{self.problem}", script=script, **self.fields)


def packaged_font(font: ScriptFont = SCRIPT_FONTS[0]) -> Path:
    """Return the path of ``font``'s file inside the installed package."""
    path = resources.files("gradguard.report").joinpath("fonts", font.files[0])
    return Path(str(path))


def font_file(font: ScriptFont) -> Path:
    """Return ``font``'s file: the one its override variable names if set, else the packaged one.

    Raises:
      FontMissing: the override names no file, or the packaged font is missing (a broken
        installation).
    """
    override = os.environ.get(font.override)
    if override:
        if not Path(override).is_file():
            raise FontMissing("override_missing", font, path=override)
        return Path(override)
    path = packaged_font(font)
    if not path.is_file():
        raise FontMissing("packaged_missing", font, path=path)
    return path


def fonts_for(text: str) -> list[ScriptFont]:
    """Return the table's fonts that ``text`` needs (those drawing one of its characters)."""
    chars = set(text)
    return [f for f in SCRIPT_FONTS if any(f.covers(ch) for ch in chars)]


def script_of(lang: str) -> str:
    """Return the ISO 15924 script ``lang`` is written in (its catalog's ``meta.script``)."""
    from gradguard._catalog import load_catalog

    return load_catalog(lang)["meta.script"]


def needs_font(lang: str) -> bool:
    """Whether text in ``lang`` needs a font of the table (a Latin script needs none)."""
    return any(f.script == script_of(lang) for f in SCRIPT_FONTS)


def require_fonts(lang: str) -> None:
    """Check that the fonts text in ``lang`` needs can be used (call before long work).

    Raises:
      FontMissing: see :func:`font_file`.
    """
    for font in SCRIPT_FONTS:
        if font.script == script_of(lang):
            font_file(font)


@cache
def setup_fonts() -> tuple[str, ...]:
    """Register the table's fonts with matplotlib; return the family list it draws with.

    Safe to call many times (cached). A font that cannot be found is left out: a figure
    that needs it fails in :func:`require_fonts`, which the figure's maker calls.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import font_manager, rcParams

    families = ["DejaVu Sans"]
    for font in SCRIPT_FONTS:
        try:
            path = font_file(font)
        except FontMissing:
            continue
        font_manager.fontManager.addfont(str(path))
        families.append(font_manager.FontProperties(fname=str(path)).get_name())
    # DejaVu first keeps Latin glyphs, digits and math symbols unchanged; matplotlib
    # falls back per glyph to the next *named* family (a generic "sans-serif"
    # resolves to one font only, so the families are listed explicitly).
    rcParams["font.family"] = families
    return tuple(families)


def font_face_css(text: str | None, url: str | None = None) -> str:
    """Return the ``@font-face`` rules for the table's fonts ``text`` needs ("" if none).

    With ``url`` (a format string with ``{file}``, such as ``"/fonts/{file}"`` or
    ``"../fonts/{file}"``) each rule fetches the whole file from there; without it the
    font is subset to the characters of ``text`` that it draws, with their conjuncts and
    shaping rules (fontTools, which matplotlib depends on), and inlined as a base64 WOFF
    (without fontTools the whole font is inlined). ``text=None`` (with a ``url``): every
    font of the table, for pages whose text is not known when the CSS is written (the
    docs site). Each rule's ``unicode-range`` is the table's, so other characters keep
    the page's other fonts.

    Raises:
      FontMissing: see :func:`font_file`.
    """
    rules = []
    for font in SCRIPT_FONTS if text is None else fonts_for(text):
        if url is not None or text is None:
            src = f'url("{(url or "{file}").format(file=font.files[0])}") format("truetype")'
        else:
            used = tuple(sorted({ord(ch) for ch in text if font.covers(ch)}))
            data, mime, fmt = _subset(str(font_file(font)), used)
            b64 = base64.b64encode(data).decode("ascii")
            src = f'url(data:{mime};base64,{b64}) format("{fmt}")'
        rules.append(
            f'@font-face{{font-family:"{font.family}";src:{src};'
            f"unicode-range:{font.unicode_range()};font-display:block}}"
        )
    return "\n".join(rules)


def font_stack(fonts: Iterable[ScriptFont] = SCRIPT_FONTS, *, mono: bool = False) -> str:
    """The CSS ``font-family`` value: the table's families, then Latin (or monospace) fonts."""
    families = [f'"{f.family}"' for f in fonts]
    return ",".join([*families, *(MONO_FALLBACK if mono else TEXT_FALLBACK)])


def font_css(text: str | None, url: str | None = None) -> str:
    """Return the CSS that makes a page draw ``text`` with the table's fonts.

    The ``@font-face`` rules of :func:`font_face_css`, then a ``font-family`` for the
    body, for ``pre``/``code``/``kbd``/``samp`` (the monospace fonts have no Bengali, so
    the table's families come first there too) and for form controls (``input``,
    ``button``, ``select``, ``textarea``, which browsers give their own font). A page
    includes this once and names no font itself. A ``<select>``'s popup is drawn by the
    system and ignores page fonts: a page offers choices in its script as links or buttons.
    ``tests/glyphs.py`` checks a page's coverage from the text it shows.
    """
    return (
        font_face_css(text, url)
        + f"\nbody,input,button,select,textarea{{font-family:{font_stack()}}}"
        + f"\npre,code,kbd,samp{{font-family:{font_stack(mono=True)}}}\n"
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
    # ZWNJ/ZWJ and the dotted circle take part in shaping.
    sub = subset.Subsetter(options)
    sub.populate(unicodes=[*codepoints, 0x200C, 0x200D, 0x25CC])
    sub.subset(font)
    buf = io.BytesIO()
    subset.save_font(font, buf, options)
    return buf.getvalue(), "font/woff", "woff"
