"""HTTP server and JSON endpoint of the explorer (standard library only)."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from gradguard.errors import InputError
from gradguard.report._i18n import catalog, check_lang, t
from gradguard.report._lesson import fmt, lesson_data, shown_steps

__all__ = ["MAX_EXPLORER_T", "explorer_state", "make_server", "serve"]

HOST = "127.0.0.1"
#: The explorer's largest T (exact arithmetic stays well under 50 ms up to here).
MAX_EXPLORER_T = 10**4
#: Points of the plot's curve at most (the curve is sampled for large T).
_CURVE_POINTS = 200
_PARAMS = ("w", "h0", "T", "eta", "c", "lang")
#: Values longer than this many digits are abbreviated on the page.
_DIGITS = 20


def explorer_state(params: Mapping[str, str]) -> dict[str, Any]:
    """Return everything the page shows for ``params`` (strings, as from a query string).

    The numbers are :func:`gradguard.explain.lesson`'s (values over
    :data:`_DIGITS` digits abbreviated, so T = 10^4 stays fast); this only picks
    what the page shows and formats it.

    Keys: ``params``, ``labels`` (UI text in the chosen language), ``forward``
    (lines), ``backward`` (symbolic and numeric terms), ``grad``, ``loss``,
    ``table`` (rows T, h_T, grad, seed, off_by), ``sgd``, ``clip``, ``why``,
    ``overflow``, ``errata``, ``curve`` (T and log10|dL/dw| for the plot).

    Raises:
      InputError: a missing, non-numeric or out-of-range parameter, or an
        unknown parameter name.
    """
    from gradguard.lab import gradient_log

    unknown = sorted(set(params) - set(_PARAMS))
    if unknown:
        raise InputError("parameter", unknown[0], "one of " + ", ".join(_PARAMS))
    lang = check_lang(params.get("lang", "en"))
    d = lesson_data(
        params.get("w", "2"),
        params.get("h0", "1"),
        params.get("T", "5"),
        params.get("eta", "0.01"),
        params.get("c", "5"),
        lang,
        abbreviate=_DIGITS,
        max_T=MAX_EXPLORER_T,
    )
    p = d["params"]
    T, w, states, terms = p["T"], fmt(p["w"]), d["states"], d["terms"]
    more = t(lang, "ui_more", n=T - 9)
    forward = [
        f"h_{i} = {w} × {fmt(states[i - 1])} = {fmt(states[i])}" if i else more
        for i in shown_steps(T, 6, 3)
    ]
    idx = shown_steps(T, 6, 3)
    symbolic = [f"{fmt(states[i - 1])}·{w}^{T - i}" if i else "…" for i in idx]
    values = [fmt(terms[i - 1]) if i else "…" for i in idx]
    table = [
        {
            "T": r["T"],
            "h_T": fmt(r["h_T"]),
            "grad": fmt(r["grad"]),
            "seed": r.get("seed_claim_text") or "",
            "off_by": "" if r.get("off_by") in (None, 1) else f"{r['off_by']:.3g}×",
        }
        for r in d["table"]
    ]
    hz = d["horizons"]
    if hz["float64"] is not None and hz["float32"] is not None:
        overflow = t(
            lang, "overflow_note", w=w, h0=fmt(p["h0"]), f64=hz["float64"], f32=hz["float32"]
        )
    else:
        overflow = t(lang, "overflow_never", w=w)
    Tmax = max(T, 60)
    Ts = sorted({1, *range(1, Tmax + 1, max(1, Tmax // _CURVE_POINTS)), T, Tmax})
    wf, hf = _as_float(p["w"]), _as_float(p["h0"])
    curve: list[float | None] = [None] * len(Ts)
    if wf is not None and hf is not None:
        curve = [
            None if not math.isfinite(v) else round(float(v), 6)
            for v in gradient_log(wf, Ts, hf)[1]
        ]
    sgd, clip = d["sgd"], d["clip"]
    ui = {k: v for k, v in catalog(lang).items() if k.startswith(("ui_", "sec_", "col_"))}
    return {
        "params": {k: (fmt(p[k]) if k != "T" else T) for k in ("w", "h0", "T", "eta", "c")}
        | {"lang": lang},
        "labels": ui,
        "forward": forward,
        "loss": fmt(d["loss"]),
        "backward": {"symbolic": " + ".join(symbolic), "values": " + ".join(values)},
        "grad": fmt(d["grad"]),
        "grad_text": t(lang, "backward_sum", grad=fmt(d["grad"])),
        "table": table,
        "errata": t(lang, "errata") if "table" in d["errata"] else "",
        "why": t(lang, "why_text"),
        "overflow": overflow,
        "sgd": {
            "w_new": fmt(sgd["w_new"]),
            "text": t(
                lang,
                "sgd_text",
                w=w,
                eta=fmt(sgd["eta"]),
                grad=fmt(sgd["grad"]),
                w_new=fmt(sgd["w_new"]),
            ),
        },
        "clip": {
            "grad_clipped": fmt(clip["grad_clipped"]),
            "w_new": fmt(clip["w_new"]),
            "text": t(
                lang,
                "sgd_clip_text",
                c=fmt(clip["c"]),
                grad=fmt(clip["grad"]),
                g_clip=fmt(clip["grad_clipped"]),
                w_clip=fmt(clip["w_new"]),
            ),
        },
        "curve": {"T": Ts, "log10_grad": curve, "current_T": T},
    }


def _as_float(x: str) -> float | None:
    from fractions import Fraction

    try:
        v = float(Fraction(x))
    except (OverflowError, ValueError, ZeroDivisionError):
        return None
    return v if math.isfinite(v) else None


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
        self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        self._send(
            status,
            json.dumps(data, ensure_ascii=False).encode("utf-8"),
            "application/json; charset=utf-8",
        )

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path in ("/", "/index.html"):
            page = resources.files("gradguard.serve").joinpath("static/index.html").read_bytes()
            self._send(HTTPStatus.OK, page, "text/html; charset=utf-8")
        elif url.path == "/api/lesson":
            query = parse_qs(url.query, keep_blank_values=True)
            params = {k: v[-1] for k, v in query.items()}
            try:
                self._json(HTTPStatus.OK, {"ok": True, **explorer_state(params)})
            except InputError as e:
                # A bad value is the user's input, not a server failure: 400 with the message.
                self._json(
                    HTTPStatus.BAD_REQUEST, {"ok": False, "error": str(e), "argument": e.argument}
                )
            except (ValueError, ArithmeticError, MemoryError) as e:
                self._json(
                    HTTPStatus.BAD_REQUEST, {"ok": False, "error": f"cannot compute this: {e}"}
                )
        elif url.path == "/favicon.ico":
            self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
        else:
            self._json(HTTPStatus.NOT_FOUND, {"ok": False, "error": f"no such page: {url.path}"})


def make_server(port: int = 0, *, verbose: bool = False) -> ThreadingHTTPServer:
    """Create the explorer's server bound to ``127.0.0.1:port`` (``0`` = a free port)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise InputError("port", port, "a whole number from 0 to 65535 (0 = choose a free port)")
    server = ThreadingHTTPServer((HOST, port), _Handler)
    server.daemon_threads = True
    server.verbose = verbose  # type: ignore[attr-defined]
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
