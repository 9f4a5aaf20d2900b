"""The worksheet and its answer key as printable HTML: one file each, A4, math by KaTeX.

The sheets' content is :func:`gradguard.explain._exercises.sheet_blocks` (the same blocks
the Markdown is made of); this module lays them out for print — an A4 page, room to
write under each question on the worksheet, no problem split across two pages — with
KaTeX and the Bengali glyphs inlined (:func:`gradguard.report._katex.katex_head`,
:func:`gradguard.report._fonts.font_css`), so the file opens and prints offline.
"""

from __future__ import annotations

import html

from gradguard._catalog import load_catalog
from gradguard.explain import Problem
from gradguard.explain.text import sheet_blocks
from gradguard.report._fonts import font_css
from gradguard.report._katex import katex_head

# Internal to the report: the package's API is build_report and write_report.
__all__: list[str] = []

_CSS = """
body{max-width:780px;margin:2em auto;padding:0 1em;line-height:1.55;color:#111}
h1{font-size:1.5em;margin:.2em 0}.meta{color:#444;margin:.2em 0 1em}
.name{font-family:inherit;white-space:pre-wrap;margin:1em 0 1.4em}
.problem{break-inside:avoid;page-break-inside:avoid;margin:1.1em 0 1.3em}
.problem h2{font-size:1.1em;margin:0 0 .3em}
.space{height:7.5em;border:1px dashed #bbb;border-radius:4px;margin-top:.5em}
.answer{background:#eef6ff;border-left:4px solid #3a7bd5;padding:.4em .8em;margin-top:.5em}
.answer b{margin-right:.4em}
@media print{@page{size:A4;margin:16mm 15mm}body{max-width:none;margin:0;padding:0;
font-size:11pt}.answer{background:none}}
"""


def render_sheet_html(
    problems: list[Problem], lang: str = "en", *, seed: int = 1, answers: bool = False
) -> str:
    """Return the worksheet (or the answer key) as one self-contained, printable HTML page.

    Args:
      problems: from :func:`gradguard.explain._exercises.exercises`.
      lang: the language of the words.
      seed: the problem set's number, printed on the sheet.
      answers: the answer key instead of the worksheet.
    """
    cat = load_catalog(lang)
    body: list[str] = []
    title = ""
    problem: list[str] = []

    def close() -> None:
        if problem:
            body.append('<section class="problem">' + "".join(problem) + "</section>")
            problem.clear()

    for kind, text in sheet_blocks(problems, lang, seed=seed, answers=answers):
        t = html.escape(text, quote=False)
        if kind == "title":
            title = t
            body.append(f"<h1>{t}</h1>")
        elif kind in ("meta", "name", "intro"):
            body.append(f'<p class="{kind}">{t}</p>')
        elif kind == "problem":
            close()
            problem.append(f"<h2>{t}</h2>")
        elif kind == "question":
            problem.append(f"<p>{t}</p>")
        elif kind == "space":
            problem.append('<div class="space"></div>')
        elif kind == "answer":
            problem.append(
                f'<p class="answer"><b>{html.escape(cat["exercises.answer"])}</b>{t}</p>'
            )
    close()
    page = "\n".join(body)
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{title}</title>\n<style>{font_css(html.unescape(title + page))}{_CSS}</style>\n"
        f"{katex_head()}\n</head>\n<body>\n{page}\n</body>\n</html>\n"
    )
