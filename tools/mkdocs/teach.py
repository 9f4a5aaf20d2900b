"""The teacher's pack: the handout as a printable two-page A4 sheet and as slides, both languages.

The handout's Markdown is a docs page of its own (``docs/teach/handout.md``, and in Bengali
``docs/bn/handout.md``). From the same Markdown this MkDocs hook writes, for each language,

- ``teach/handout-LANG.html``: one self-contained page with a print stylesheet (A4, two
  pages), the formulas typeset by the KaTeX inlined from the gradguard package, the Bengali
  glyphs it shows inlined too;
- ``teach/slides-LANG.html``: the same content as slides — a title slide, then one slide
  per ``##`` section; plain HTML and CSS, no library: one slide per screen (scroll or press
  PageDown/Space) and one slide per page in print (16:9);
- where Chromium is installed (``/usr/bin/chromium``, or ``GRADGUARD_CHROMIUM``), their
  PDFs, printed by Chromium's own print-to-PDF: ``teach/handout-LANG.pdf`` and
  ``teach/slides-LANG.pdf``.

``tests/browser/test_pack_browser.py`` prints the handouts and checks each PDF has exactly
two pages. Nothing is fetched from the network.

On the handout's own pages the hook adds the links to these files; and it fills
``<!-- gradguard-exercises: LANG SEED COUNT -->`` with that problem set's worksheet and
answer key (``gradguard exercises``' Markdown, its headings nested under the page's).

Loaded by mkdocs.yml (``hooks: [tools/mkdocs/teach.py]``).
"""

from __future__ import annotations

import html
import os
import posixpath
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import markdown

#: The handout's Markdown per language, relative to ``docs/``.
SOURCES = {"en": "teach/handout.md", "bn": "bn/handout.md"}
#: The docs folder whose pages are in Bengali.
BENGALI_SECTION = "bn/"
CHROMIUM = os.environ.get("GRADGUARD_CHROMIUM", "/usr/bin/chromium")

_HANDOUT_CSS = """
body{margin:0;color:#111;line-height:1.38;font-size:10pt}
main{max-width:190mm;margin:1.5em auto;padding:0 1em}
h1{font-size:17pt;margin:0 0 .1em}h1+p{margin:0 0 .5em;color:#444}
h2{font-size:11.5pt;margin:.8em 0 .25em;padding-bottom:1px;border-bottom:1.5px solid #3a7bd5;
break-after:avoid}
p,ul,ol{margin:.3em 0}li{margin:.1em 0}ul,ol{padding-left:1.4em}
table{border-collapse:collapse;margin:.35em 0;font-size:9.5pt}
th,td{border:1px solid #bbb;padding:.15em .55em;text-align:right}th{background:#eef2f8}
td:first-child,th:first-child{text-align:center}
code{background:#f2f2f2;padding:0 .2em;font-size:9pt}
.arithmatex{break-inside:avoid}div.arithmatex{margin:.3em 0;overflow-x:auto}
@media print{@page{size:A4;margin:13mm 14mm}main{max-width:none;margin:0;padding:0}}
"""

_SLIDES_CSS = """
html{scroll-snap-type:y mandatory}body{margin:0;color:#111;background:#fff}
section.slide{box-sizing:border-box;height:100vh;scroll-snap-align:start;overflow:hidden;
display:flex;flex-direction:column;justify-content:center;padding:5vh 7vw;font-size:3.1vh;
line-height:1.4;border-bottom:1px solid #ddd}
section.slide h1{font-size:6.5vh;margin:0 0 .4em}section.slide h2{font-size:5vh;margin:0 0 .5em;
color:#1d4f91}section.title{background:#f3f7fd}
table{border-collapse:collapse}th,td{border:1px solid #bbb;padding:.15em .6em;text-align:right}
th{background:#eef2f8}code{background:#f2f2f2;padding:0 .2em}
@media print{@page{size:254mm 142.875mm;margin:0}html{scroll-snap-type:none}
section.slide{height:142.875mm;width:254mm;font-size:13.5pt;border:0;break-after:page}
section.slide h1{font-size:28pt}section.slide h2{font-size:21pt}}
"""


def _to_html(text: str) -> str:
    """Markdown → HTML: tables, and ``$…$``/``$$…$$`` marked for KaTeX as the docs mark them."""
    return markdown.markdown(
        text,
        extensions=["tables", "attr_list", "pymdownx.arithmatex"],
        extension_configs={"pymdownx.arithmatex": {"generic": True}},
    )


def _page(lang: str, title: str, css: str, body: str) -> str:
    from gradguard.report._fonts import font_css
    from gradguard.report._katex import katex_head

    return (
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{font_css(title + body)}{css}</style>\n"
        f"{katex_head('brackets')}\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _title(text: str) -> str:
    found = re.search(r"^# (.+)$", text, re.MULTILINE)
    return found[1].strip() if found else "gradguard"


def handout_html(text: str, lang: str) -> str:
    """Return the handout's Markdown ``text`` as one printable A4 page (two sheets)."""
    return _page(lang, _title(text), _HANDOUT_CSS, f"<main>\n{_to_html(text)}\n</main>")


def slides_html(text: str, lang: str) -> str:
    """Return the handout's Markdown ``text`` as slides: the title, then one slide per section."""
    parts = re.split(r"^(?=## )", text, flags=re.MULTILINE)
    slides = [f'<section class="slide title">{_to_html(parts[0])}</section>']
    slides += [f'<section class="slide">{_to_html(part)}</section>' for part in parts[1:]]
    return _page(lang, _title(text), _SLIDES_CSS, "\n".join(slides))


def print_pdf(page: str, chromium: str | None = None) -> bytes | None:
    """Print an HTML page to PDF with Chromium's print-to-PDF (default :data:`CHROMIUM`).

    Returns ``None`` without Chromium.
    """
    chromium = CHROMIUM if chromium is None else chromium
    if not Path(chromium).is_file():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "page.html", Path(tmp) / "page.pdf"
        src.write_text(page, encoding="utf-8")
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-pdf-header-footer",
                "--virtual-time-budget=10000",  # lets KaTeX typeset before the page is printed
                f"--print-to-pdf={out}",
                src.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        return out.read_bytes()


def pack(docs_dir: Path) -> dict[str, bytes]:
    """Return every file of the pack (``teach/…`` → its bytes), PDFs where Chromium is."""
    files: dict[str, bytes] = {}
    for lang, source in SOURCES.items():
        text = (docs_dir / source).read_text(encoding="utf-8")
        pages = {"handout": handout_html(text, lang), "slides": slides_html(text, lang)}
        for kind, page in pages.items():
            files[f"teach/{kind}-{lang}.html"] = page.encode("utf-8")
            pdf = print_pdf(page)
            if pdf is not None:
                files[f"teach/{kind}-{lang}.pdf"] = pdf
    return files


EXERCISES = re.compile(r"^<!-- gradguard-exercises: (\w+) (\d+) (\d+) -->$", re.MULTILINE)

#: The links the handout's page gets, per language (the PDFs where the build had Chromium).
_LINKS = {
    "en": "Print it: [the handout]({h}.html) ({h}.pdf) · [the slides]({s}.html) ({s}.pdf)",
    "bn": "ছাপার জন্য: [হ্যান্ডআউট]({h}.html) ({h}.pdf) · [স্লাইড]({s}.html) ({s}.pdf)",
}


def _sample(lang: str, seed: int, count: int) -> str:
    from gradguard.explain import exercises, render_sheet

    problems = exercises(seed, count)
    parts = [render_sheet(problems, lang, seed=seed, answers=a) for a in (False, True)]
    return re.sub(r"^(#{1,3}) ", r"##\1 ", "\n".join(parts), flags=re.MULTILINE)


def on_page_markdown(text: str, page: Any, **kwargs: Any) -> str:
    text = EXERCISES.sub(lambda m: _sample(m[1], int(m[2]), int(m[3])), text)
    for lang, source in SOURCES.items():
        if page.file.src_uri == source:
            # Markdown links are relative to the page's file (MkDocs checks and rewrites them);
            # the PDFs are plain HTML links, relative to the page's URL (``teach/handout/``),
            # and only where the build has Chromium to print them (else there are none).
            folder = posixpath.dirname(source)
            h, s = (posixpath.relpath(f"teach/{k}-{lang}", folder) for k in ("handout", "slides"))
            up, printed = "../" * (source.count("/") + 1), Path(CHROMIUM).is_file()
            links = re.sub(
                r" \(([^()\s]+)\.pdf\)",
                lambda m, up=up, printed=printed: (
                    f' (<a href="{up}teach/{posixpath.basename(m[1])}.pdf">PDF</a>)'
                    if printed
                    else ""
                ),
                _LINKS[lang].format(h=h, s=s),
            )
            title, _, rest = text.partition("\n")
            text = f'{title}\n\n!!! note ""\n    {links}\n{rest}'
    return text


def on_post_page(output: str, page: Any, **kwargs: Any) -> str:
    """The Bengali section's pages say their language: ``<html lang="bn">``.

    The theme writes the site's language (``en``) on every page; a page in Bengali must say
    ``bn`` for screen readers (which voice reads it), hyphenation and font choice.
    """
    if page.file.src_uri.startswith(BENGALI_SECTION):
        output = output.replace('<html lang="en"', '<html lang="bn"', 1)
    return output


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    for name, data in pack(Path(config["docs_dir"])).items():
        files.append(File.generated(config, name, content=data))
    return files
