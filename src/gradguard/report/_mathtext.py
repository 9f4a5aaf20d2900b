"""The catalogs' plain-text math as HTML math: subscripts, superscripts and code.

The lesson's sentences write formulas in plain text (``h_T = L = 32``, ``w^(T−1)·h_0``,
``10^6``, ```gradguard flow```). :func:`math_html` shows them as math: ``x_t``, ``x_{t−1}``,
``h_(t−1)``, ``σ_max`` as subscripts; ``w^(T−t)``, ``w^{p}``, ``10^6`` as superscripts (the
brackets not shown, as a typeset formula shows them); a span in backticks as code. The marks
themselves (``_``, ``^``, the brackets, the backticks) stay in the text in
``<span class="mk">``, which the page's stylesheet draws at no width (:data:`MARK_CSS`): the
text reads, copies and searches exactly as the catalog's sentence, only its look changes.

The explorer applies the same rule in the browser (``mathNodes`` in
``gradguard/serve/static/page.js``); ``tests/browser/test_explorer_parity.py`` holds the two
to the same HTML for every catalog sentence.
"""

from __future__ import annotations

import html

#: The stylesheet rule that hides the marks (kept in the text, drawn at no width).
MARK_CSS = ".mk{font-size:0}"

_CLOSING = {"{": "}", "(": ")"}


def _alnum(ch: str) -> bool:
    """A letter or a number (JavaScript's ``[\\p{L}\\p{N}]``)."""
    return ch.isalnum()


def _group(s: str, i: int) -> tuple[str, int] | None:
    """The balanced ``{…}`` or ``(…)`` group opening at ``s[i]``: its inside and its end."""
    opening = s[i]
    closing = _CLOSING[opening]
    depth = 0
    for k in range(i, len(s)):
        if s[k] == opening:
            depth += 1
        elif s[k] == closing:
            depth -= 1
            if depth == 0:
                return s[i + 1 : k], k + 1
    return None


def _run(s: str, i: int, sign: bool) -> int:
    """The end of the letters and numbers from ``s[i]`` (after one leading minus if ``sign``)."""
    k = i + 1 if sign and i < len(s) and s[i] in "−-" else i
    start = k
    while k < len(s) and _alnum(s[k]):
        k += 1
    return k if k > start else i


def _mark(m: str) -> str:
    return f'<span class="mk">{html.escape(m)}</span>'


def math_html(s: str) -> str:
    """``s`` as HTML (escaped), its math marks typeset; see the module's docstring."""
    out: list[str] = []
    buf: list[str] = []

    def flush() -> None:
        if buf:
            out.append(html.escape("".join(buf), quote=True))
            buf.clear()

    i = 0
    while i < len(s):
        ch = s[i]
        if ch == "`":
            end = s.find("`", i + 1)
            if end > i:
                flush()
                out.append(_mark("`") + f"<code>{html.escape(s[i + 1 : end])}</code>" + _mark("`"))
                i = end + 1
                continue
        if ch in "_^" and i > 0 and (_alnum(s[i - 1]) or s[i - 1] in ")|‖ᵀ"):
            nxt = s[i + 1] if i + 1 < len(s) else ""
            group = _group(s, i + 1) if nxt in ("{", "(") else None
            inner: str | None
            if group is not None:
                inner, end = group
            else:
                end = _run(s, i + 1, sign=ch == "^")
                inner = s[i + 1 : end] if end > i + 1 else None
            if inner is not None:
                flush()
                tag = "sub" if ch == "_" else "sup"
                out.append(_mark(ch + nxt if group else ch))
                out.append(f"<{tag}>{math_html(inner)}</{tag}>")
                if group:
                    out.append(_mark(s[end - 1]))
                i = end
                continue
        buf.append(ch)
        i += 1
    flush()
    return "".join(out)
