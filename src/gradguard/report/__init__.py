"""See it: plots, the self-contained HTML report, and the explorer's data.

Needs the ``[plot]`` extra (matplotlib). Importing this package does not import
matplotlib; the plotting functions do, when called.

- :mod:`gradguard.report.plots` — one function per picture (PNG/SVG).
- :func:`build_report` — the HTML report, from a remedy results folder or a
  guard log (or neither: the lesson and the scalar system only); :class:`InputFileError`
  — an input it cannot read;
- :func:`render_sheet_html` — a worksheet of :func:`gradguard.explain.exercises` as one
  printable HTML page;
- :mod:`gradguard.report.fonts` — the fonts the pages embed;
  :mod:`gradguard.report.lesson` — the lesson as the report (and the explorer) writes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["InputFileError", "build_report", "render_sheet_html", "write_report"]

if TYPE_CHECKING:
    from gradguard.report._html import build_report, write_report
    from gradguard.report._inputs import InputFileError
    from gradguard.report._worksheet import render_sheet_html

#: Each public name → its private module, imported when the name is first used.
_HOME = {
    "InputFileError": "_inputs",
    "build_report": "_html",
    "render_sheet_html": "_worksheet",
    "write_report": "_html",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        import importlib

        return getattr(importlib.import_module(f"gradguard.report.{_HOME[name]}"), name)
    raise AttributeError(name)
