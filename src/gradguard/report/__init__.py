"""See it: plots, the self-contained HTML report, and the explorer's data.

Needs the ``[plot]`` extra (matplotlib). Importing this package does not import
matplotlib; the plotting functions do, when called.

- :mod:`gradguard.report.plots` — one function per picture (PNG/SVG).
- :func:`build_report` — the HTML report, from a remedy results folder or a
  guard log (or neither: the lesson and the scalar system only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["build_report", "write_report"]

if TYPE_CHECKING:
    from gradguard.report._html import build_report, write_report


def __getattr__(name: str) -> Any:
    if name in __all__:
        from gradguard.report import _html

        return getattr(_html, name)
    raise AttributeError(name)
