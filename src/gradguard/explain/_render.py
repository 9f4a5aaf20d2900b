"""Renderers: the lesson dict + a message catalog → terminal text or Markdown.

The math is language-neutral and built here from the lesson's values (Unicode
for the terminal, LaTeX in ``$$`` blocks for Markdown, like the seed); prose
comes from the catalog. Long traces are elided in the middle (the JSON keeps
every value).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gradguard._catalog import Catalog, load_catalog
from gradguard._validate import check_choice
from gradguard.explain._format import _EXACT, _LANG, _frac, count, format_number

__all__ = ["erratum", "render_markdown", "render_text"]

_SHOW_ALL = 12  # traces up to this T are shown in full
_HEAD, _TAIL = 5, 2
_TERMS_ALL = 8


def _eq(v: Any, latex: bool = False) -> str:
    """`` = value``, or `` ≈ value`` when the value is shown abbreviated (grouped: ``-9,998``)."""
    s = format_number(v, group=True, latex=latex)
    for mark in ("≈ ", "\\approx "):
        if s.startswith(mark):
            return f" {mark}{s[len(mark) :]}"
    return f" = {s}"


def _base(v: Any, latex: bool = False) -> str:
    """A number as the base of a power: parenthesised unless a non-negative integer."""
    s = format_number(v, group=True, latex=latex)
    x = _frac(v)
    if x is not None and x.denominator == 1 and x >= 0:
        return s
    return f"\\left({s}\\right)" if latex else f"({s})"


def _negative(v: Any) -> bool:
    """Whether a lesson value is negative — a long one (shown from its digits) by its sign."""
    x = _frac(v)
    if x is not None:
        return x < 0
    return isinstance(v, str) and v.removeprefix("≈").lstrip().startswith("-")


def _factor(v: Any, latex: bool = False) -> str:
    """A number as a factor: parenthesised when negative or abbreviated.

    ``2 × (-8034…)``, ``+ (≈ -8.035 × 10^59 (60 digits))·2^1`` — never ``× -8034…``: a long
    value (every digit, or rounded with its digit count) is as negative as a short one.
    """
    s = format_number(v, group=True, latex=latex)
    if _negative(v) or (isinstance(v, str) and v.startswith("≈")):
        return f"\\left({s}\\right)" if latex else f"({s})"
    return s


def _elide(n: int, show_all: int = _SHOW_ALL) -> list[int | None]:
    """Indices 0..n-1 to show, ``None`` marking the elided middle."""
    if n <= show_all:
        return list(range(n))
    return [*range(_HEAD), None, *range(n - _TAIL, n)]


#: An approximation read as math: ``x = ≈ 1.2`` → ``x ≈ 1.2``, and an operand loses its mark
#: (``1.5 × ≈ 2216.84`` → ``1.5 × 2216.84``): the ``≈`` that matters is the one before the
#: result — as the report's pages print it (:func:`gradguard.report._lesson.tidy`).
_TIDY = (("= ≈ ", "≈ "), ("× ≈ ", "× "), ("+ ≈ ", "+ "), ("− ≈ ", "− "))
_TIDY_TEX = (
    ("= \\approx ", "\\approx "),
    ("\\times \\approx ", "\\times "),
    ("+ \\approx ", "+ "),
    ("- \\approx ", "- "),
)


def _tidy(text: str, tex: bool = False) -> str:
    for before, after in _TIDY_TEX if tex else _TIDY:
        text = text.replace(before, after)
    return text


class _Doc:
    """Collects lines for one renderer (text or markdown)."""

    def __init__(self, md: bool, markup: bool = False) -> None:
        self.md = md
        self.markup = markup
        self.lines: list[str] = []

    def heading(self, text: str, level: int = 2) -> None:
        if self.lines and self.lines[-1] != "":
            self.lines.append("")
        if self.md:
            rule = ["---", ""] if level == 2 else []
            self.lines += [*rule, f"{'#' * level} {text}", ""]
        elif self.markup:
            self.lines += [f"[bold]{_esc(text)}[/bold]", ""]
        else:
            from gradguard._cells import cell_width

            self.lines += [text, "─" * min(72, max(8, cell_width(text))), ""]  # under the text

    def para(self, text: str) -> None:
        # A catalog's "w = {w}" with an abbreviated value reads "w ≈ …", not "w = ≈ …".
        text = _tidy(text)
        self.lines.append(_esc(text) if self.markup else text)
        self.lines.append("")

    def math(self, *rows: str) -> None:
        """Display math: ``$$`` LaTeX in Markdown, indented Unicode in text."""
        rows = tuple(_tidy(r, tex=self.md) for r in rows)
        if self.md:
            self.lines += ["$$", *rows, "$$", ""]
        else:
            self.lines += [("    " + (_esc(r) if self.markup else r)) for r in rows]
            self.lines.append("")

    def bullet(self, text: str) -> None:
        self.lines.append(("* " if self.md else "  • ") + (_esc(text) if self.markup else text))

    def text(self) -> str:
        while self.lines and self.lines[-1] == "":
            self.lines.pop()
        return "\n".join(self.lines) + "\n"


def _esc(s: str) -> str:
    from rich.markup import escape

    return escape(s)


def render_text(data: dict[str, Any], catalog: Catalog | None = None, markup: bool = False) -> str:
    """Render a :func:`~gradguard.explain.lesson` dict as terminal text.

    Args:
      data: the lesson dict.
      catalog: the messages (default: the catalog of ``data["lang"]``).
      markup: emit rich console markup (bold headings) instead of plain text.
    """
    return _render(data, catalog or load_catalog(data["lang"]), _Doc(md=False, markup=markup))


def render_markdown(data: dict[str, Any], catalog: Catalog | None = None) -> str:
    """Render a :func:`~gradguard.explain.lesson` dict as Markdown with LaTeX math (as the seed)."""
    return _render(data, catalog or load_catalog(data["lang"]), _Doc(md=True))


#: The seed's errata, by id (the lesson catalog's ``[errata]`` keys).
ERRATA = ("table", "proportional")


def erratum(kind: str, lang: str = "en") -> str:
    """Return the seed's erratum ``kind`` (``"table"``, ``"proportional"``) in ``lang``.

    The one definition of that text — the lesson catalog's ``[errata]`` — shown by the
    lesson, the report, the explorer, the notebook and the docs:

    >>> erratum("proportional")[:68]
    'Where the seed is wrong: The seed writes "Gradient ∝ w^T". The sum h'
    """
    check_choice(kind, "kind", tuple(ERRATA))
    cat = load_catalog(lang)
    return f"{cat['errata.heading']}: {cat[f'errata.{kind}']}"


@contextmanager
def numbers_in(lang: str, exact: bool | None = None) -> Iterator[None]:
    """Make :func:`format_number` say its words (``46 digits``) in ``lang`` inside the block.

    ``exact=True`` writes every exact value in full there (``--exact``); None keeps the
    enclosing block's choice.
    """
    token = _LANG.set(lang)
    etoken = _EXACT.set(exact) if exact is not None else None
    try:
        yield
    finally:
        _LANG.reset(token)
        if etoken is not None:
            _EXACT.reset(etoken)


def _render(d: dict[str, Any], cat: Catalog, doc: _Doc) -> str:
    with numbers_in(cat.lang):
        return _render_steps(d, cat, doc)


def _render_steps(d: dict[str, Any], cat: Catalog, doc: _Doc) -> str:
    md = doc.md
    p = d["params"]
    T = p["T"]

    def t(v: Any) -> str:  # numbers inside prose: never LaTeX; grouped as formulas are
        return format_number(v, group=True)

    times = " \\times " if md else " × "
    cdot = " \\cdot " if md else "·"
    eq = " &= " if md else " = "

    def sub(name: str, idx: Any) -> str:
        if md:
            return f"{name}_{{{idx}}}"
        plain = len(str(idx)) == 1 or str(idx).isdigit()
        return f"{name}_{idx}" if plain else f"{name}_({str(idx).replace('-', '−')})"

    def pw(base: str, e: Any) -> str:
        if md:
            return f"{base}^{{{e}}}"
        return f"{base}^{e}" if str(e).isdigit() else f"{base}^({str(e).replace('-', '−')})"

    dldw = "\\frac{\\partial L}{\\partial w}" if md else "∂L/∂w"

    title = cat["meta.title"]
    if md:
        doc.lines += [f"# {title}", ""]
    else:
        doc.heading(title)
    doc.para(
        cat.get(
            "meta.params_line", w=t(p["w"]), h0=t(p["h0"]), T=count(T), eta=t(p["eta"]), c=t(p["c"])
        )
    )

    for step in d["steps"]:
        kind = step["kind"]
        if kind == "definition":
            doc.heading(cat["definition.heading"])
            doc.para(cat["definition.text"])
        elif kind == "setup":
            doc.heading(cat["setup.heading"])
            doc.para(cat["setup.recurrence"])
            doc.math(f"{sub('h', 't')} = w{cdot}{sub('h', 't-1')}")
            doc.para(cat["setup.loss"])
            doc.math(f"L = {sub('h', 'T')}")
        elif kind == "forward":
            doc.heading(cat["forward.heading"])
            doc.para(cat["forward.let"])
            doc.bullet(f"{cat['forward.initial_state']}: h_0 = {t(p['h0'])}")
            doc.bullet(f"{cat['forward.weight']}: w = {t(p['w'])}")
            doc.bullet(f"{cat['forward.time_steps']}: T = {count(T)}")
            doc.lines.append("")
            doc.para(cat["forward.compute"])
            states = d["states"]
            rows = []
            shown = _elide(T)
            for i in shown:
                if i is None:
                    rows.append(
                        (
                            "\\vdots & \\quad \\text{"
                            + cat.get("forward.elided", n=count(T - _HEAD - _TAIL))
                            + "}"
                        )
                        if md
                        else "⋮   " + cat.get("forward.elided", n=count(T - _HEAD - _TAIL))
                    )
                    continue
                k = i + 1
                rows.append(
                    f"{sub('h', k)}{eq}{_factor(p['w'], md)}{times}{_factor(states[k - 1], md)}"
                    f"{_eq(states[k], md)}"
                )
            if md:
                body = [r + (" \\\\" if j < len(rows) - 1 else "") for j, r in enumerate(rows)]
                doc.math("\\begin{aligned}", *body, "\\end{aligned}")
            else:
                doc.math(*rows)
            doc.para(cat["forward.therefore"])
            doc.math(f"L{_eq(d['loss'], md)}")
        elif kind == "backward":
            doc.heading(cat["backward.heading"])
            doc.para(cat["backward.need"])
            doc.math(dldw)
            doc.para(cat["backward.multiplied"])
            doc.para(cat["backward.formula"])
            if md:
                doc.math(
                    "\\frac{\\partial L}{\\partial w}",
                    "= \\sum_{t=1}^{T} h_{t-1} \\cdot w^{(T-t)}",
                )
            else:
                doc.math("∂L/∂w = Σ_{t=1..T} h_(t−1) · w^(T−t)")
        elif kind == "substitute":
            doc.heading(cat["substitute.heading"])
            states, terms = d["states"], d["terms"]
            w = _base(p["w"], md)
            parts, values = [], []
            for i in _elide(T, _TERMS_ALL):
                if i is None:
                    parts.append("\\dots" if md else "…")
                    values.append("\\dots" if md else "…")
                    continue
                parts.append(f"{_factor(states[i], md)}{cdot}{pw(w, T - 1 - i)}")
                values.append(_factor(terms[i], md))
            if T == 1:  # one term: its value is the sum
                doc.math(f"{dldw} = " + parts[0] + f"{_eq(step['grad'], md)}")
            else:
                doc.math(f"{dldw} = " + " + ".join(parts))
                doc.math("= " + " + ".join(values) + f"{_eq(step['grad'], md)}")
            doc.para(cat.get("substitute.gradient_is", grad=t(step["grad"])))
            _say(d, cat, doc, "large")
        elif kind == "closed_form":
            doc.heading(cat["closed_form.heading"])
            doc.para(cat["closed_form.text"])
            power = pw(_base(p["w"], md), T - 1)
            doc.math(
                f"{dldw} = T{cdot}{pw('w', 'T-1')}{cdot}h_0 = {T}{cdot}{power}"
                f"{cdot}{_factor(p['h0'], md)}{_eq(step['grad'], md)}"
            )
            if step["matches"]:
                doc.para(cat["closed_form.agrees"])
        elif kind == "table":
            _table(d, step, cat, doc)
        elif kind == "why":
            _why(d, step, cat, doc)
        elif kind == "sgd":
            _sgd(d, step, cat, doc)
        elif kind == "remedies":
            _remedies(d, step, cat, doc)
        elif kind == "exam":
            doc.heading(cat["exam.heading"])
            doc.lines.append(("> **" + cat["exam.text"] + "**") if md else cat["exam.text"])
            doc.lines.append("")
            _say(d, cat, doc, "example")
    return doc.text()


def _table(d: dict[str, Any], step: dict[str, Any], cat: Catalog, doc: _Doc) -> None:
    from gradguard.explain._table import (
        CellStyle,
        render_markdown_table,
        render_terminal,
        table_cells,
    )

    doc.heading(cat["table.heading"])
    doc.para(cat["table.question"])
    columns = ["T", "h_T", "grad+sci", "ratio"]
    if step["seed_system"]:
        columns += ["seed", "off_by"]
    head = [cat[f"table.{TABLE_HEADERS[c]}"] for c in columns]
    body = table_cells(d["table"], columns, CellStyle(lang=cat.lang))
    if doc.md:
        doc.lines += render_markdown_table(head, body)
    else:
        doc.lines += render_terminal(head, body, head_left=True, escape=doc.markup)
    doc.lines.append("")
    _say(d, cat, doc, "trend")
    for line in horizon_lines(step["horizons"], cat, step["inf"]):
        doc.para(line)
    if "table" in d["errata"]:
        doc.para("⚠ " + cat["errata.heading"] + ": " + cat["errata.table"])


#: Each explosion-table column's header key in a catalog's ``table`` section.
TABLE_HEADERS = {
    "T": "col_T",
    "h_T": "col_hT",
    "grad": "col_grad",
    "grad+sci": "col_grad",
    "sci": "col_sci",
    "ratio": "col_ratio",
    "float32": "col_float32",
    "seed": "col_seed",
    "off_by": "col_off",
}

#: The largest finite value of each float format, as the horizon notes print it (written by
#: :func:`format_number`: ``≈ 1.798 × 10^308``, as every rounded number in the lesson).
_FLOAT_MAX = {"float64": "≈1.798e+308", "float32": "≈3.403e+38"}


def overflow_inf(w: object, h0: object) -> str:
    """What ``g(T) = T·w^(T−1)·h₀`` overflows to: ``inf``, ``-inf``, or ``±inf`` for ``w < 0``.

    For ``w < 0`` the sign of ``w^(T−1)`` alternates with ``T``, so the overflowed gradient is
    ``+inf`` at every other ``T`` and ``-inf`` between; otherwise its sign is ``h₀``'s. A
    value's sign is the ASCII ``-`` the lesson writes every number with (``-9998``,
    ``(-1.5)``), and records and JSON write ``"-inf"``; ``−`` is the operator in formulas.
    """
    from fractions import Fraction

    wx, hx = Fraction(str(w)), Fraction(str(h0))
    if wx < 0:
        return "±inf"
    return "-inf" if hx < 0 else "inf"


def horizon_lines(horizons: dict[str, int | None], cat: Catalog, inf: str = "inf") -> list[str]:
    """Say, per float format, from which T the gradient is ``inf`` (``table.horizon``).

    ``inf`` is what it overflows to (:func:`overflow_inf`): ``inf``, ``-inf`` or ``±inf``.
    """
    return [
        cat.get("table.no_horizon", dtype=dt)
        if at is None
        else cat.get(
            "table.horizon", dtype=dt, T=count(at), max=format_number(_FLOAT_MAX[dt]), inf=inf
        )
        for dt, at in horizons.items()
    ]


def _why(d: dict[str, Any], step: dict[str, Any], cat: Catalog, doc: _Doc) -> None:
    md = doc.md
    doc.heading(cat["why.heading"])
    doc.para(cat["why.cause"])
    if md:
        doc.math("\\frac{\\partial L}{\\partial w} = T \\cdot w^{T-1} \\cdot h_0")
    else:
        doc.math("∂L/∂w = T · w^(T−1) · h_0")
    for key in ("exploding", "vanishing", "linear", "zero"):
        doc.bullet(cat[f"why.{key}"])
    doc.lines.append("")
    for topic in ("regime", "peak", "next_T", "alternating"):
        _say(d, cat, doc, topic)
    doc.para("⚠ " + cat["errata.heading"] + ": " + cat["errata.proportional"])


def claim_of(d: dict[str, Any], topic: str) -> dict[str, Any] | None:
    """The lesson's claim on ``topic`` (``{"id", "values"}``), or None where it states none."""
    for c in d.get("claims", ()):
        if c["id"].partition(".")[0] == topic:
            return dict(c)
    return None


def _say(d: dict[str, Any], cat: Catalog, doc: _Doc, topic: str, mark: str = "") -> None:
    """Write the lesson's sentence on ``topic`` (:mod:`gradguard.explain._claims`), if any."""
    from gradguard.explain._claims import say

    c = claim_of(d, topic)
    if c is not None:
        doc.para(mark + say(c, cat.lang))


def _sgd(d: dict[str, Any], step: dict[str, Any], cat: Catalog, doc: _Doc) -> None:
    md = doc.md
    p = d["params"]
    doc.heading(cat["sgd.heading"])
    doc.para(cat["sgd.update"])
    word = cat["sgd.gradient_word"]  # the word in the formula, in the lesson's language
    doc.math(f"w_{{new}} = w - \\eta \\cdot \\text{{{word}}}" if md else f"w_new = w − η · {word}")
    doc.para(cat.get("sgd.lr", eta=format_number(step["eta"], group=True)))
    times = " \\times " if md else " × "
    w = format_number(p["w"], group=True, latex=md)
    eta = format_number(step["eta"], group=True, latex=md)
    lhs = "w_{new}" if md else "w_new"
    minus = " - " if md else " − "
    doc.math(f"{lhs} = {w}{minus}{eta}{times}{_factor(step['grad'], md)}{_eq(step['w_new'], md)}")
    _say(d, cat, doc, "update")
    # The seed stops at w = 1.2; that the gradient still explodes after it is an erratum.
    _say(d, cat, doc, "after_update", "⚠ " if "after_update" in d["errata"] else "")
    _say(d, cat, doc, "compare")
    doc.para(cat["sgd.but_if"])
    doc.math(
        f"{lhs} = {w} - {eta}{times}10^{{6}}{_eq(step['w_new_big'], md)}"
        if md
        else f"w_new = {w} − {eta} × 10^6{_eq(step['w_new_big'])}"
    )
    _say(d, cat, doc, "big_grad")
    fate = claim_of(d, "big_fate")
    _say(d, cat, doc, "big_fate", "💥 " if fate and fate["id"] == "big_fate.breaks" else "")


def _remedies(d: dict[str, Any], step: dict[str, Any], cat: Catalog, doc: _Doc) -> None:
    md = doc.md
    doc.heading(cat["remedies.heading"])
    doc.heading(cat["remedies.clip_name"], 3)
    doc.para(cat["remedies.clip_text"])
    if md:
        doc.math("g_\\text{clipped} = \\frac{g}{\\max(1, \\frac{|g|}{c})}")
    else:
        doc.math("g_clipped = g / max(1, |g| / c)")
    doc.para(cat["remedies.clip_example"])
    _say(d, cat, doc, "clipping")
    doc.heading(cat["remedies.init_name"], 3)
    doc.para(cat["remedies.init_text"])
    doc.heading(cat["remedies.gates_name"], 3)
    doc.para(cat["remedies.gates_text"])
    doc.heading(cat["remedies.lr_name"], 3)
    doc.para(
        cat.get(
            "remedies.lr_text",
            eta_low=format_number(step["eta_low"], group=True),
            w_low=format_number(step["w_new_low_lr"], group=True),
        )
    )
    doc.para(cat["remedies.measured"])
