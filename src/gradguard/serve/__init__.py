"""The interactive explorer: one static page that computes in the browser.

The page (:func:`build_page`) carries the lab in JavaScript (exact rationals in
``BigInt``), the message catalogs as data, KaTeX and the Bengali font, all inlined:
saved as one file it works over ``file://`` with no server and no network. The docs
site publishes it; ``gradguard serve`` hosts it locally (:func:`make_server`, the
standard library's server, ``127.0.0.1`` only).

:func:`explorer_state` is the Python reference of what the page shows: a parity
test holds the page's numbers and sentences to it.
"""

from __future__ import annotations

from gradguard.serve._server import explorer_state, make_server, serve
from gradguard.serve._static import build_page, page_data, write_page

__all__ = ["build_page", "explorer_state", "make_server", "page_data", "serve", "write_page"]
