"""Glyph coverage of what a page or a figure actually shows (shared by the tests).

A character renders as an empty box when no font the reader has draws it. gradguard's
pages carry their fonts (``@font-face``, one per script: ``gradguard.report._fonts``), so
a page is checked against the fonts it carries, character by character, from the text it
shows — never from a fixed range:

- :func:`page_problems` (Chromium, Playwright): every text node the page renders, every
  form control's value, every image's alt text, with the ``font-family`` the page's CSS
  gives its element. Each character is resolved as the browser does: the families in
  order; a family the page declares with ``@font-face`` draws the character when one of
  its faces' ``unicode-range`` includes it *and* the face's font file has it (its cmap);
  otherwise the next family. A family the page does not carry is the reader's own: it is
  trusted only for characters a plain Latin font has (the reference is DejaVu Sans and
  DejaVu Sans Mono, which matplotlib ships: Latin, Greek, Cyrillic, math) and for emoji
  (every current system has a colour emoji font) — a Bengali
  letter or a danda left to it is a box on a machine without a Bengali font. A ``<select>``
  whose options need a carried font is a problem too: its popup is drawn by the system,
  which ignores page fonts.
- :func:`figure_problems` (matplotlib): every string a figure draws against the fonts of
  its text's family list, glyph by glyph, as matplotlib falls back.

Each returns a list of problems, ``[]`` when every character is covered. Use it on any page
(``engineer explorer``: on the explorer's page after a few interactions)::

    from ..glyphs import page_problems
    assert page_problems(page) == []
"""

from __future__ import annotations

import base64
import os
import re
import unicodedata
import urllib.parse
import urllib.request
from dataclasses import dataclass
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

from fontTools.ttLib import TTFont

#: What the page shows, with the font-family its CSS gives each piece (run in the page).
_SHOWN_JS = """() => {
  const out = [];
  const family = (el) => getComputedStyle(el).fontFamily;
  const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "");
  const skip = new Set(["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "TITLE"]);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n; (n = walker.nextNode());) {
    const el = n.parentElement;
    if (!el || skip.has(el.tagName) || !n.textContent.trim()) continue;
    if (el.closest("select")) continue;  // a select is read whole, below
    if (!el.getClientRects().length) continue;  // not rendered (display: none)
    out.push({text: n.textContent, family: family(el), where: name(el)});
  }
  for (const el of document.querySelectorAll("input, textarea")) {
    if (["hidden", "range", "checkbox", "radio"].includes(el.type)) continue;
    for (const t of [el.value, el.placeholder]) {
      if (t) out.push({text: t, family: family(el), where: name(el)});
    }
  }
  for (const el of document.querySelectorAll("select")) {
    const text = Array.from(el.options).map((o) => o.text).join(" ");
    out.push({text: text, family: family(el), where: name(el), native: true});
  }
  for (const el of document.querySelectorAll("img[alt]")) {
    if (el.alt) out.push({text: el.alt, family: family(el), where: "img alt"});
  }
  return out;
}"""

#: The page's @font-face rules (top-level and inside @media/@supports).
_FACES_JS = """() => {
  const faces = [];
  const walk = (rules, base) => {
    for (const r of rules) {
      if (r instanceof CSSFontFaceRule) {
        faces.push({family: r.style.getPropertyValue("font-family"),
                    src: r.style.getPropertyValue("src"),
                    range: r.style.getPropertyValue("unicode-range"), base: base});
      } else if (r.cssRules) walk(r.cssRules, base);
    }
  };
  for (const sheet of document.styleSheets) {
    let rules;
    try { rules = sheet.cssRules; } catch (e) { continue; }
    walk(rules, sheet.href || document.baseURI);
  }
  return faces;
}"""


@dataclass
class Face:
    """One ``@font-face`` rule: its family, the characters it may draw, its font's cmap."""

    family: str
    ranges: list[tuple[int, int]]
    cmap: frozenset[int]

    def draws(self, cp: int) -> bool:
        return any(lo <= cp <= hi for lo, hi in self.ranges) and cp in self.cmap


#: Emoji (the seed's 🔥 💥 headings): every current system ships a colour emoji font.
EMOJI = ((0x2600, 0x27BF), (0x1F300, 0x1FAFF), (0xFE0F, 0xFE0F))


@cache
def system_cmap() -> frozenset[int]:
    """The characters a reader's own fonts are trusted with: DejaVu Sans + Mono's, and emoji."""
    import matplotlib

    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    cps: set[int] = {cp for lo, hi in EMOJI for cp in range(lo, hi + 1)}
    for name in ("DejaVuSans.ttf", "DejaVuSansMono.ttf"):
        cps |= set(TTFont(ttf / name).getBestCmap())
    return frozenset(cps)


def families(css: str) -> list[str]:
    """``'"gradguard Bengali", "DejaVu Sans", sans-serif'`` → its family names, unquoted."""
    return [f.strip().strip("\"'") for f in re.findall(r'"[^"]*"|\'[^\']*\'|[^,]+', css)]


def _ranges(value: str) -> list[tuple[int, int]]:
    """A CSS ``unicode-range`` → inclusive code-point ranges (everything when empty)."""
    out = []
    for part in filter(None, (p.strip() for p in value.split(","))):
        spec = part.upper().removeprefix("U+")
        if "-" in spec:
            lo, hi = spec.split("-")
        elif "?" in spec:
            lo, hi = spec.replace("?", "0"), spec.replace("?", "F")
        else:
            lo = hi = spec
        out.append((int(lo, 16), int(hi, 16)))
    return out or [(0, 0x10FFFF)]


def _font_bytes(src: str, base: str, page: Any) -> bytes:
    """The bytes of the first ``url(...)`` of a ``src`` descriptor."""
    m = re.search(r'url\(\s*["\']?([^"\')]+)["\']?\s*\)', src)
    assert m, f"no url() in @font-face src {src[:80]!r}"
    url = m.group(1)
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        return base64.b64decode(data) if header.endswith(";base64") else data.encode()
    url = urllib.parse.urljoin(base, url)
    if url.startswith("file:"):
        return Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path)).read_bytes()
    response = page.request.get(url)
    assert response.ok, f"{url}: HTTP {response.status}"
    return response.body()


def page_faces(page: Any) -> list[Face]:
    """The page's ``@font-face`` rules, with the cmap of the font each one loads."""
    faces = []
    for rule in page.evaluate(_FACES_JS):
        data = _font_bytes(rule["src"], rule["base"], page)
        cmap = frozenset(TTFont(BytesIO(data)).getBestCmap())
        faces.append(Face(families(rule["family"])[0], _ranges(rule["range"]), cmap))
    return faces


def _shown(ch: str) -> bool:
    """Whether ``ch`` is drawn (spaces and control characters draw no glyph)."""
    return not ch.isspace() and unicodedata.category(ch) != "Cc"


def covered(ch: str, family_list: list[str], faces: list[Face]) -> bool:
    """Whether a page with ``faces`` draws ``ch`` in an element using ``family_list``."""
    cp = ord(ch)
    carried = {f.family for f in faces}
    for family in family_list:
        if family in carried:
            if any(f.draws(cp) for f in faces if f.family == family):
                return True
            continue  # not in this family's faces: the browser tries the next family
        return cp in system_cmap()  # the reader's own font from here on
    return cp in system_cmap()


def page_problems(page: Any) -> list[str]:
    """Every character the page shows that no font it may use draws (``[]`` when none)."""
    faces = page_faces(page)
    problems = []
    for item in page.evaluate(_SHOWN_JS):
        text, fams = item["text"], families(item["family"])
        if item.get("native"):  # drawn by the system: only what a plain Latin font has
            beyond = sorted({ch for ch in text if _shown(ch) and ord(ch) not in system_cmap()})
            if beyond:
                problems.append(
                    f"{item['where']}: a <select> shows {''.join(beyond)!r} in {text[:60]!r}; "
                    "its popup ignores page fonts (use links or buttons)"
                )
            continue
        missing = sorted({ch for ch in text if _shown(ch) and not covered(ch, fams, faces)})
        if missing:
            problems.append(f"{item['where']}: {''.join(missing)!r} in {text[:60]!r}")
    return problems


def shown_text(page: Any) -> str:
    """Everything the page shows (text, form values, alt texts), one piece per line."""
    return "\n".join(item["text"] for item in page.evaluate(_SHOWN_JS))


def figure_problems(fig: Any) -> list[str]:
    """Every character a matplotlib figure draws that none of its text's fonts has."""
    from matplotlib import font_manager
    from matplotlib.text import Text

    problems = []
    for text in fig.findobj(Text):
        s = text.get_text()
        if not s or not text.get_visible():
            continue
        fonts = []
        for family in text.get_fontproperties().get_family():
            props = font_manager.FontProperties(family=family)
            try:
                path = font_manager.findfont(props, fallback_to_default=False)
            except ValueError:
                continue
            fonts.append(_cmap(path))
        missing = sorted({ch for ch in s if _shown(ch) and not any(ord(ch) in c for c in fonts)})
        if missing:
            problems.append(f"{''.join(missing)!r} in {s[:60]!r}")
    return problems


@cache
def _cmap(path: str | os.PathLike[str]) -> frozenset[int]:
    return frozenset(TTFont(path).getBestCmap())
