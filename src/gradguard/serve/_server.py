"""The explorer's local server and its Python reference.

:func:`explorer_state` is what the page shows, computed by the Python lab: the
reference that ``static/lab.js`` is held to (``tests/browser/test_explorer_parity.py``).
:func:`make_server` serves the static page (:mod:`gradguard.serve._static`) on the
loopback interface: ``gradguard serve`` hosts the same file the docs site publishes.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy  # noqa: F401  # the lab imports it lazily; here it is imported once, in one thread

from gradguard._catalog import SOURCE, languages
from gradguard._validate import check_choice, check_lang, check_whole
from gradguard.errors import InputError
from gradguard.explain import erratum
from gradguard.explain.table import CellStyle, table_cells
from gradguard.explain.text import count
from gradguard.report.lesson import (
    SGD_TOPICS,
    WHY_TOPICS,
    base,
    catalog,
    compare_abs,
    factor,
    fmt,
    power_value,
    said,
    show_json,
    shown_steps,
    sub_scaled,
    t,
    tidy,
)

__all__ = ["explorer_state", "make_server", "serve"]

HOST = "127.0.0.1"
#: The explorer's largest T (an update stays interactive up to here: docs/benchmarks.md).
MAX_EXPLORER_T = 10**4
#: Points of the plot's curve at most (the curve is sampled for large T).
_CURVE_POINTS = 200
_PARAMS = ("w", "h0", "T", "eta", "c", "lang")
#: Values longer than this many digits are abbreviated on the page: the report's and the
#: lesson's limit (``gradguard.explain.format_number`` writes shorter ones exactly, or as a
#: rounded decimal when a fraction is long), so every medium shows a value alike.
_DIGITS = 40
#: The explosion table's time steps (the seed's).
TABLE_T = (5, 10, 20, 50)


def explorer_state(params: Mapping[str, str]) -> dict[str, Any]:
    """Return everything the page shows for ``params`` (strings, as from a query string).

    The numbers are the lab's, computed only for what the page shows: the first
    and last states ``h_t = w^t·h_0`` (:func:`gradguard.lab.state`), the BPTT
    term ``h_{t-1}·w^(T-t) = w^(T-1)·h_0`` (the same for every t), the gradient
    ``T·w^(T-1)·h_0``, the explosion table, the overflow horizons, one SGD step
    and the seed's clipping — so an update at T = 10^4 costs what ten states
    cost, not a whole trace. Values over :data:`_DIGITS` digits are shown
    abbreviated (``≈ d.ddd × 10^k``); those estimated far longer are computed at
    bounded precision (:mod:`gradguard.report._approx`), not exactly, with the
    shown digits still the correctly rounded ones.

    Keys: ``params``, ``labels`` (UI text in the chosen language), ``forward``
    (lines), ``backward`` (symbolic and numeric terms), ``grad``, ``loss``,
    ``table`` (rows T, h_T, grad, seed, off_by), ``trend`` (the line under it), ``sgd``,
    ``clip``, ``why``, ``overflow``, ``errata``, ``curve`` (T and log10|∂L/∂w| for the plot).
    The sentences are the lesson's claims (:mod:`gradguard.explain._claims`).

    Raises:
      InputError: a missing, non-numeric or out-of-range parameter, or an
        unknown parameter name.
    """
    from gradguard._validate import check_threshold
    from gradguard.explain.table import overflow_inf
    from gradguard.lab import (
        explosion_table,
        gradient_log,
        is_seed_system,
        overflow_horizon,
        table_to_json,
        to_exact,
    )
    from gradguard.lab.numbers import check_lr

    for name in sorted(params):
        check_choice(name, "parameter", _PARAMS)
    lang = check_lang(params.get("lang", SOURCE))
    T = check_whole(params.get("T", "5"), "T", 1, MAX_EXPLORER_T)
    w, h0 = to_exact(params.get("w", "2"), "w"), to_exact(params.get("h0", "1"), "h0")
    eta = check_lr(params.get("eta", "0.01"), "eta")
    c = to_exact(params.get("c", "5"), "c")
    check_threshold(c, "c", finite=True)

    def show(x: Any) -> str:  # grouped, as the sentences beside it: -9,998
        return fmt(show_json(x, _DIGITS))

    # Values the page abbreviates come from bounded-precision arithmetic (report._approx):
    # exact ones of ~90,000 digits (w = 0.123456789, T = 10^4) would take the whole budget.
    grad = power_value(w, h0, T - 1, T)
    ws = show(w)
    idx = shown_steps(T, 6, 3)
    states = {k: power_value(w, h0, k) for k in {0, *idx, *(i - 1 for i in idx if i)}}
    # negative or abbreviated factors and every base but a whole number in parentheses:
    # h_2 = (-1.5) × (-1.5), 1·(-1.5)^4 + (-1.5)·(-1.5)^3 (never 1·-1.5^4, read −5.0625)
    forward = [
        f"h_{i} = {factor(ws)} × {factor(show(states[i - 1]))} = {show(states[i])}"
        if i
        else t(lang, "ui_more", n=count(T - 9))
        for i in idx
    ]
    symbolic = [f"{factor(show(states[i - 1]))}·{base(ws)}^{T - i}" if i else "…" for i in idx]
    # term t of the BPTT sum: w^(T-t)·h_{t-1} = w^(T-1)·h_0 for every t (the closed form's reason)
    term = factor(show(power_value(w, h0, T - 1)))  # = (-1.5) + (-1.5), as the lesson
    values = [term if i else "…" for i in idx]
    # The explosion table's cells as every medium writes them (gradguard.explain._table).
    rows = table_to_json(explosion_table(w, h0, TABLE_T, mode="exact"))
    columns = ("h_T", "grad", "seed", "off_by")
    cells = table_cells(rows, columns, CellStyle(blank="", group=True, lang=lang))  # 5,120
    table = [
        {"T": r["T"], **dict(zip(columns, row, strict=True))}
        for r, row in zip(rows, cells, strict=True)
    ]
    f64, f32 = (overflow_horizon(w, h0, dt) for dt in ("float64", "float32"))
    if f64 is not None and f32 is not None:
        inf = overflow_inf(w, h0)
        overflow = t(
            lang, "overflow_note", w=ws, h0=show(h0), f64=count(f64), f32=count(f32), inf=inf
        )
    else:
        overflow = t(lang, "overflow_never", w=ws, h0=show(h0))
    Tmax = max(T, 60)
    Ts = sorted({1, *range(1, Tmax + 1, max(1, Tmax // _CURVE_POINTS)), T, Tmax})
    wf, hf = _as_float(w), _as_float(h0)
    curve: list[float | None] = [None] * len(Ts)
    if wf is not None and hf is not None:
        logs = gradient_log(wf, Ts, hf)[1]
        curve = [round(float(v), 6) if math.isfinite(v) else None for v in logs]
    w_new, g_clip, w_clip = _updates(w, h0, T, grad, eta, c)
    g_text, loss = show(grad), show(states[T])
    # The sentences are the lesson's claims (gradguard.explain._claims), for these values.
    from gradguard.explain import claims

    found = [x.to_json() for x in claims(w, h0, T, eta, c, TABLE_T, abbreviate=_DIGITS)]
    ui = {k: v for k, v in catalog(lang).items() if k.startswith(("ui_", "sec_", "col_"))}
    return {
        "params": {"w": ws, "h0": show(h0), "T": T, "eta": show(eta), "c": show(c), "lang": lang},
        "labels": ui,
        "forward": [tidy(line) for line in forward],
        "loss": loss,
        "backward": {"symbolic": " + ".join(symbolic), "values": tidy(" + ".join(values))},
        "grad": g_text,
        "grad_text": tidy(t(lang, "backward_sum", grad=g_text)),
        "table": table,
        "errata": erratum("table", lang) if is_seed_system(w, h0) else "",
        "trend": " ".join(said(found, ("trend",), lang)),
        "why": tidy(
            " ".join([t(lang, "why_text"), *said(found, WHY_TOPICS, lang)])
            + " "
            + erratum("proportional", lang)
        ),
        "overflow": tidy(overflow),
        "sgd": {
            "w_new": show(w_new),
            "text": tidy(
                " ".join(
                    [
                        t(
                            lang,
                            "sgd_text",
                            w=ws,
                            eta=show(eta),
                            grad=factor(g_text),
                            w_new=show(w_new),
                        ),
                        *said(found, SGD_TOPICS, lang),
                    ]
                )
            ),
        },
        "clip": {
            "grad_clipped": show(g_clip),
            "w_new": show(w_clip),
            "text": tidy(" ".join(said(found, ("clipping",), lang))),
        },
        "curve": {"T": Ts, "log10_grad": curve, "current_T": T},
    }


def _updates(w: Any, h0: Any, T: int, grad: Any, eta: Any, c: Any) -> tuple[Any, Any, Any]:
    """Return ``w − η·g``, the seed's clipped ``g`` and ``w − η·g_clipped`` (lab's when exact).

    With an approximate gradient (a :class:`~decimal.Decimal`), the update is
    computed at bounded precision; where that cannot decide (``w`` and ``η·g``
    cancel, or ``|g|`` is within 10^-40 of ``c``) the gradient is made exact.
    """
    from gradguard.lab import clip_by_norm, grad_closed_form, sgd_step

    if isinstance(grad, Decimal):
        w_new = sub_scaled(w, eta, grad)
        side = compare_abs(grad, c)
        if w_new is not None and side is not None:
            if side <= 0:  # |g| ≤ c: the rule leaves g as it is
                return w_new, grad, w_new
            g_clip = Fraction(c) if grad > 0 else -Fraction(c)  # g·c/|g|, exactly
            return w_new, g_clip, sgd_step(w, g_clip, eta)
        grad = grad_closed_form(w, h0, T)
    g_clip = clip_by_norm(Fraction(grad), Fraction(c))
    return sgd_step(w, grad, eta), g_clip, sgd_step(w, g_clip, eta)


def _as_float(x: Any) -> float | None:
    try:
        v = float(Fraction(x))
    except (OverflowError, ValueError, ZeroDivisionError):
        return None
    return v if math.isfinite(v) else None


def _say(params: Mapping[str, str], key: str, **values: object) -> str:
    """Return the report catalog's ``key`` in the request's ``lang`` (English if it names none)."""
    lang = params.get("lang", SOURCE)
    return t(lang if lang in languages() else SOURCE, key, **values)


def params_of(url: Any) -> dict[str, str]:
    """A request's query parameters, the last value of each."""
    return {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}


class _Handler(BaseHTTPRequestHandler):
    server_version = "gradguard-explorer"

    def log_message(self, format: str, *args: Any) -> None:
        if getattr(self.server, "verbose", False):
            super().log_message(format, *args)

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        # a client that leaves before the page (about 1 MB) is sent needs no answer
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        self._send(
            status,
            json.dumps(data, ensure_ascii=False).encode("utf-8"),
            "application/json; charset=utf-8",
        )

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        pages: dict[str, bytes] = self.server.pages  # type: ignore[attr-defined]
        if url.path in ("/", "/index.html"):
            lang = parse_qs(url.query).get("lang", [SOURCE])[-1]
            if lang in pages:
                self._send(HTTPStatus.OK, pages[lang], "text/html; charset=utf-8")
            else:
                error = InputError("lang", lang, "choice", choices=", ".join(pages)).message()
                self._send(HTTPStatus.BAD_REQUEST, error.encode(), "text/plain; charset=utf-8")
        elif url.path == "/api/lesson":
            query = parse_qs(url.query, keep_blank_values=True)
            params = {k: v[-1] for k, v in query.items()}
            try:
                self._json(HTTPStatus.OK, {"ok": True, **explorer_state(params)})
            except InputError as e:
                # A bad value is the user's input, not a server failure: 400 with the message,
                # in the page's language.
                lang = params.get("lang", SOURCE)
                self._json(
                    HTTPStatus.BAD_REQUEST,
                    {
                        "ok": False,
                        "error": e.message(lang if lang in languages() else SOURCE),
                        "argument": e.argument,
                    },
                )
            except (ValueError, ArithmeticError, MemoryError) as e:
                error = _say(params, "api_cannot_compute", detail=e)
                self._json(HTTPStatus.BAD_REQUEST, {"ok": False, "error": error})
            except Exception as e:  # a bug, not the input: say so in the page, keep serving
                error = _say(params, "api_internal_error", detail=f"{type(e).__name__}: {e}")
                self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"ok": False, "error": error})
        elif url.path == "/favicon.ico":
            self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
        else:
            error = _say(params_of(url), "api_no_page", path=url.path)
            self._json(HTTPStatus.NOT_FOUND, {"ok": False, "error": error})


def _warm_up() -> None:
    """Run every code path a request takes once, in this thread, before serving.

    Requests are answered in threads, and a first import racing in several of them
    can see a half-initialised module (``numpy has no attribute 'bool_'``): the
    lab's lazy imports, the catalogs and the bounded-precision path are loaded here.
    """
    for lang in languages():
        explorer_state({"lang": lang})
        explorer_state({"lang": lang, "w": "0.9", "T": "3000"})  # abbreviated values
        for bad in ({"T": "x"}, {"w": "nan"}, {"foo": "1"}):
            try:
                explorer_state({"lang": lang, **bad})
            except InputError as e:
                e.message(lang)  # the errors' catalog, loaded here too


def make_server(port: int = 0, *, verbose: bool = False) -> ThreadingHTTPServer:
    """Create the explorer's server bound to ``127.0.0.1:port`` (``0`` = a free port).

    It serves the static page of :func:`gradguard.serve.build_page` (built once,
    per language, before the socket accepts connections): the page computes in the
    browser. ``GET /api/lesson?w=…&T=…&lang=…`` answers :func:`explorer_state` as
    JSON — the Python reference the page is checked against, not something the
    page asks for. Everything a request needs is imported and computed once before
    the socket accepts connections, so a burst of first requests meets no lazy import.
    """
    from gradguard.serve._static import build_page

    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise InputError("port", port, "port")
    _warm_up()
    pages = {lang: build_page(lang).encode("utf-8") for lang in languages()}
    server = ThreadingHTTPServer((HOST, port), _Handler)
    server.daemon_threads = True
    server.verbose = verbose  # type: ignore[attr-defined]
    server.pages = pages  # type: ignore[attr-defined]
    return server


def serve(port: int = 0, *, ready: threading.Event | None = None, verbose: bool = False) -> None:
    """Run the explorer until interrupted (blocking)."""
    server = make_server(port, verbose=verbose)
    try:
        if ready is not None:
            ready.set()
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
