"""The interactive explorer: ``gradguard serve``, a local page over the lab's numbers.

The page (``static/index.html``) has sliders for ``w, h0, T, eta, c`` and the
language; every change asks ``GET /api/lesson`` for the numbers, which the
Python lab computes (no second implementation of the math in JavaScript).

Server: the standard library's :class:`http.server.ThreadingHTTPServer`. The
explorer serves one static page and one small JSON endpoint to one user on
the loopback interface; a framework (Starlette, Flask) would add dependencies
and an ASGI/WSGI server without adding anything this needs. It binds
``127.0.0.1`` only.
"""

from __future__ import annotations

from gradguard.serve._server import explorer_state, make_server, serve

__all__ = ["explorer_state", "make_server", "serve"]
