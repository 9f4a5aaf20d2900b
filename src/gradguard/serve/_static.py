"""The explorer as one static page: the lab in JavaScript, the catalogs as data, all inlined.

The page computes in the browser (``static/lab.js``: exact rationals in
``BigInt``) and draws with ``static/page.js``; nothing asks a server. Its data —
the message catalogs (report part plus the explorer's own section), the input
errors' sentences, the seed's table claims and the measured LSTM/GRU flow — is
generated here from the package's catalog files every time the page is built,
never copied by hand.

:func:`build_page` inlines everything (scripts, styles, KaTeX with its fonts, the
Bengali font) into one HTML file, so the page works saved as a single file and
opened over ``file://``, with no server and no network. ``gradguard serve`` serves
this same page; the docs build publishes it in the site (``tools/mkdocs``).
"""

from __future__ import annotations

import base64
import html
import json
import re
import unicodedata
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from gradguard._atomic import write_text_atomic
from gradguard._catalog import SOURCE, languages, load_catalog
from gradguard._validate import check_lang
from gradguard.explain.text import TOPICS
from gradguard.report.fonts import font_css, fonts_for

__all__ = ["build_page", "page_data", "write_page"]

#: The catalog sections the page reads (from ``catalogs/report/<lang>.toml``).
_SECTIONS = ("report", "explorer")
#: The page's scripts in load order (``static/``): libraries and gradguard's typesetting
#: (shared with the report and the docs), the lab, matrix mode, the page.
_SCRIPTS = (
    "vendor/katex/katex.min.js",
    "katex-glue.js",
    "vendor/ml-matrix/matrix.umd.js",
    "lab.js",
    "matrix.js",
    "page.js",
)
#: The lesson catalog's sections the page reads: the claims' sentences and the errata.
_LESSON_SECTIONS = (*TOPICS, "errata")
#: The input errors the page can meet: (argument, rule id, rule fields).
_ERRORS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("T", "whole_range", {"min": 1, "max": 10_000}),
    *((name, rule, {}) for name in ("w", "h0", "eta", "c") for rule in ("number", "fraction")),
    *((name, "exponent", {"limit": 4000}) for name in ("w", "h0", "eta", "c")),
    ("eta", "positive", {}),
    ("c", "threshold", {}),
)


class _Marker:
    """Stands for the value in an error template: ``str()`` is NUL, which the page replaces."""

    def __str__(self) -> str:
        return "\0"


def _static() -> Traversable:
    return resources.files("gradguard.serve").joinpath("static")


def page_data() -> dict[str, Any]:
    """Return the data the page carries, from the catalog files (a JSON-ready dict).

    Keys: ``langs`` (every language with catalogs, :func:`gradguard._catalog.languages`);
    ``names`` (each language's name as its readers write it, ``meta.name``);
    ``catalogs`` (per language: the report catalog's ``report`` and ``explorer``
    sections, plus ``numbers_digits`` from the lesson catalog; a key the source
    language has and another lacks is a :class:`KeyError`, never English on its page);
    ``lesson`` (per language, ``"section.key"`` → the lesson catalog's sentences of the
    claims, :mod:`gradguard.explain._claims`, and of the errata); ``errors`` (per
    language, ``"argument:rule"`` → the message with NUL where the value goes);
    ``seed_table`` (the seed's claims and how far off they are, as the lesson's
    table writes them); ``flow`` (the measured LSTM/GRU cell-path factors,
    ``static/flow.json``).
    """
    from gradguard.errors import InputError
    from gradguard.explain.table import CellStyle, table_cells
    from gradguard.lab import explosion_table, table_to_json

    catalogs: dict[str, dict[str, str]] = {}
    lesson: dict[str, dict[str, str]] = {}
    errors: dict[str, dict[str, str]] = {}
    for lang in languages():
        cat = load_catalog(lang, "report")
        texts = {key: text for section in _SECTIONS for key, text in cat.section(section).items()}
        texts["numbers_digits"] = load_catalog(lang, "lesson")["numbers.digits"]
        catalogs[lang] = texts
        missing = catalogs[SOURCE].keys() - texts.keys()
        if missing:  # never English in another language's page: the catalog is incomplete
            raise KeyError(f"catalog {lang!r} (report) has no message {sorted(missing)}")
        cat = load_catalog(lang, "lesson")
        lesson[lang] = {
            f"{section}.{key}": text
            for section in _LESSON_SECTIONS
            for key, text in cat.section(section).items()
        }
        errors[lang] = {
            f"{name}:{rule}": InputError(name, _Marker(), rule, **fields).message(lang)
            for name, rule, fields in _ERRORS
        }
    rows = table_to_json(explosion_table(2, 1, (5, 10, 20, 50), mode="exact"))
    cells = table_cells(rows, ("seed", "off_by"), CellStyle(blank="", group=False))
    seed_table = {
        str(r["T"]): {"seed": s, "off_by": o} for r, (s, o) in zip(rows, cells, strict=True)
    }
    flow = json.loads(_static().joinpath("flow.json").read_text("utf-8"))
    return {
        "langs": list(languages()),
        "names": {code: load_catalog(code)["meta.name"] for code in languages()},
        "catalogs": catalogs,
        "lesson": lesson,
        "errors": errors,
        "seed_table": seed_table,
        "flow": flow,
    }


def _shown_text(data: dict[str, Any]) -> str:
    """Every character the page can show: its text in every language, and any digit typed.

    The page switches language without reloading, so its fonts cover all of them; the
    inputs read digits of any script the catalogs' languages write (``৮০``).
    """
    strings = [*data["names"].values()]
    for part in ("catalogs", "lesson", "errors"):
        for texts in data[part].values():
            strings.extend(texts.values())
    text = "".join(strings)
    # the digits of every script the text needs a font for (an answer typed as ৮০)
    digits = [ch for font in fonts_for(text) for ch in _DIGITS if font.covers(ch)]
    return text + "0123456789" + "".join(digits)


#: Every decimal digit Unicode has (category Nd), in code point order.
_DIGITS = "".join(chr(c) for c in range(0x30, 0x20000) if unicodedata.category(chr(c)) == "Nd")


def _data_uri(path: Traversable, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _katex_css() -> str:
    """KaTeX's CSS with its WOFF2 fonts inlined (the ``.woff``/``.ttf`` fallbacks dropped)."""
    katex = _static().joinpath("vendor/katex")
    css = katex.joinpath("katex.min.css").read_text("utf-8")

    def src(m: re.Match[str]) -> str:
        woff2 = re.search(r"url\(fonts/([\w-]+\.woff2)\)", m.group(0))
        if woff2 is None:
            raise ValueError(f"a KaTeX font without a WOFF2 file: {m.group(0)[:80]}")
        font = katex.joinpath("fonts", woff2.group(1))
        return f'src:url({_data_uri(font, "font/woff2")}) format("woff2")'

    return re.sub(r"src:[^;}]+", src, css)


def _script(text: str) -> str:
    # "</script" inside an inline script would end it early
    return "<script>" + text.replace("</script", "<\\/script") + "</script>"


@cache
def _assets() -> dict[str, str]:
    static = _static()
    return {
        "katex_css": _katex_css(),
        "scripts": "".join(_script(static.joinpath(name).read_text("utf-8")) for name in _SCRIPTS),
        "page_css": static.joinpath("page.css").read_text("utf-8"),
        "template": static.joinpath("index.html").read_text("utf-8"),
    }


def build_page(lang: str = "en") -> str:
    """Return the explorer as one self-contained HTML page, opening in ``lang``.

    Everything is inlined: the page's script and style, the lab, the data of
    :func:`page_data` (as a JSON script the page parses), KaTeX and its fonts and
    the Bengali font as ``data:`` URIs. ``{{key}}`` in ``static/index.html`` is the
    catalog's text (HTML-escaped) in ``lang``, so the first paint is already in it.

    Raises:
      InputError: ``lang`` is not a language gradguard speaks.
    """
    lang = check_lang(lang)
    a = _assets()
    data = page_data()
    text = data["catalogs"][lang]
    data_json = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    buttons = "".join(
        f'<button type="button" class="lang" data-lang="{html.escape(code)}"'
        f' lang="{html.escape(code)}">{html.escape(name)}</button>'
        for code, name in data["names"].items()
    )
    parts = {
        "lang": lang,
        "lang_buttons": buttons,
        "font_css": font_css(_shown_text(data)),
        "katex_css": "<style>" + a["katex_css"] + "</style>",
        "page_css": "<style>" + a["page_css"] + "</style>",
        "data": '<script type="application/json" id="gg-data">'
        + data_json.replace("</", "<\\/")
        + "</script>",
        "scripts": a["scripts"],
    }

    def fill(m: re.Match[str]) -> str:
        key = m.group(1)
        if key in parts:
            return parts[key]
        return html.escape(text[key])

    return re.sub(r"\{\{(\w+)\}\}", fill, a["template"])


def write_page(path: Any, lang: str = "en") -> None:
    """Write :func:`build_page` to ``path`` atomically (the docs build, a user's copy)."""
    write_text_atomic(path, build_page(lang))
