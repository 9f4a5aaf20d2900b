"""The explosion table for people: one cell logic, one renderer per medium.

The rows are computed once, by :func:`gradguard.lab.explosion_table` (as
:func:`~gradguard.lab.table_to_json` dicts); :func:`table_cells` turns them into
text cells — the one place that says how a value, a growth ratio or the factor
the seed is off by is written. :func:`render_terminal` and
:func:`render_markdown_table` lay those cells out for a terminal (``gradguard
table``, the lesson, the tour) or Markdown (the lesson); the HTML report lays
them out with its one table writer and the explorer sends them as JSON. The
words (headers, notes) come from the caller's message catalog, so every medium
speaks the chosen language.

Columns: ``T``, ``h_T``, ``grad`` (``grad+sci`` adds the scientific form to long
values), ``sci``, ``ratio``, ``float32``, ``seed`` and ``off_by``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from gradguard._cells import cell_width
from gradguard._validate import check_choice
from gradguard.explain._format import format_number

#: The columns :func:`table_cells` writes, in the module docstring's order.
_COLUMNS = ("T", "h_T", "grad", "grad+sci", "sci", "ratio", "float32", "seed", "off_by")
#: Exact values with more characters than this get their rounded form beside them
#: (``grad+sci``): 28,147,497,671,065,600 is easier to read as ≈ 2.815 × 10^16 too.
_SCI_BESIDE = 8


@dataclass(frozen=True)
class CellStyle:
    """How :func:`table_cells` writes a row.

    Attributes:
      blank: the seed's cells where it says nothing (no claim, or a claim that is right).
      ratio_mark: written before a growth ratio (``"×"``; ``""`` under a ``× prev`` header).
      group: thousands separators in exact whole numbers (``5,120``).
      max_chars: exact values longer than this are written ``≈ 2.815 × 10^16``
        (``None``: only past 40 digits, with their digit count).
      lang: the language of the digit count (``(46 digits)``).
    """

    blank: str = "—"
    ratio_mark: str = "×"
    group: bool = True
    max_chars: int | None = None
    lang: str = "en"


#: The lesson, the tour and the report: ``×64``, ``—`` where the seed says nothing.
PROSE = CellStyle()
#: ``gradguard table``: bare ratios under its ``× prev`` header, empty seed cells.
COMPACT = CellStyle(blank="", ratio_mark="")


def off_by_cell(off_by: float | None, blank: str = "—") -> str:
    """Write the factor the seed's claim is off by: ``5×``, ``28.1×``; ``blank`` if it is right.

    Example:
      >>> off_by_cell(28.147), off_by_cell(1.0), off_by_cell(None, "")
      ('28.1×', '—', '')
    """
    return blank if off_by is None or off_by == 1 else f"{off_by:.3g}×"


def _ratio_cell(ratio: Any, style: CellStyle) -> str:
    if ratio is None or ratio == "nan":  # no ratio for the first row or after 0/0
        return "—"
    if isinstance(ratio, str):  # "inf": the gradient left float64's range
        return f"{style.ratio_mark}{ratio}"
    text = rounded_cell(ratio)  # ×2,048 in the lesson, 2,048 in `gradguard table`
    # ×(-15.19), never ×-15.19, and ×(2.684 × 10^9): a factor, as the lesson writes one
    if style.ratio_mark and (ratio < 0 or " × " in text):
        text = f"({text})"
    return f"{style.ratio_mark}{text}"


def _sci_cell(text: str, mark: bool = False) -> str:
    """``"2.815e+16"`` written as every medium writes a rounded number: ``2.815 × 10^16``
    (``≈ …`` with ``mark``); ``25.31``, ``12,350`` from 10^-3 to 10^5, as
    :func:`~gradguard.explain.format_number` does."""
    from gradguard.explain._format import _grouped

    shown = _grouped(format_number("≈" + text))
    return shown if mark else shown.removeprefix("≈ ")


def rounded_cell(x: float, digits: int = 4) -> str:
    """Write a float to ``digits`` significant digits as the lesson's tables write a rounded
    number: ``2,048``, ``-15.19``, ``2.684 × 10^9`` (never ``2.684e+09``).

    Example:
      >>> rounded_cell(2048.0), rounded_cell(-15.1875), rounded_cell(2.684e9)
      ('2,048', '-15.19', '2.684 × 10^9')
      >>> rounded_cell(1.8981e13, 6)
      '1.8981 × 10^13'
    """
    from gradguard.explain._format import _grouped

    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    text = f"{x:.{digits}g}"
    return _sci_cell(text) if "e" in text else _grouped(text)


def _value_cell(v: Any, style: CellStyle) -> str:
    if isinstance(v, dict):  # log mode: sign and log10
        from gradguard.lab.numbers import sci_from_log

        return _sci_cell(sci_from_log(v["sign"], float(v["log10"])))
    text = format_number(v, group=style.group, lang=style.lang)
    if style.max_chars is not None and len(text) > style.max_chars and isinstance(v, str):
        return format_number("≈" + _sci_text(v))
    return text


def _sci_text(v: str) -> str:
    """``"2.815e+16"`` for an exact value's text, correctly rounded while it is short."""
    from gradguard.explain._format import _approx_long
    from gradguard.lab.numbers import sci

    if len(v) <= 300:
        return sci(Fraction(v))
    return _approx_long(v).lstrip("≈")


def _float_cell(v: Any) -> str:
    return v if isinstance(v, str) else rounded_cell(v)  # 5,120 as the exact columns group it


def table_cells(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], style: CellStyle = PROSE
) -> list[list[str]]:
    """Write each row's cells for ``columns`` — the one cell logic every medium shares.

    Args:
      rows: :func:`gradguard.lab.table_to_json` rows.
      columns: which cells, in order (see the module docstring).
      style: how to write them (:data:`PROSE` or :data:`COMPACT`).

    Returns:
      One list of strings per row.

    Raises:
      InputError: a column that is not one of those above.
    """
    for col in columns:
        check_choice(col, "columns", _COLUMNS)
    out = []
    for r in rows:
        cells = []
        for col in columns:
            if col == "T":
                cells.append(str(r["T"]))
            elif col == "h_T":
                cells.append(_value_cell(r["h_T"], style))
            elif col in ("grad", "grad+sci"):
                g = r["grad"]
                text = _value_cell(g, style)
                long = isinstance(g, str) and len(g) > _SCI_BESIDE and not g.startswith("≈")
                # beside a long exact value its size (≈ 2.815 × 10^16); never beside a
                # rounded one, nor where it would repeat the digits (≈ 384.4)
                sci = _sci_cell(r["sci"], mark=True)
                long = long and " × 10^" in sci and not text.startswith("≈")
                cells.append(f"{text}  ({sci})" if col == "grad+sci" and long else text)
            elif col == "sci":
                cells.append(_sci_cell(r["sci"]) if "e" in str(r["sci"]) else str(r["sci"]))
            elif col == "ratio":
                cells.append(_ratio_cell(r["ratio"], style))
            elif col == "float32":
                cells.append(_float_cell(r["float32"]))
            elif col == "seed":
                cells.append(r["seed_claim_text"] or style.blank)
            else:  # off_by (every column was checked above)
                cells.append(off_by_cell(r["off_by"], style.blank))
        out.append(cells)
    return out


def render_terminal(
    head: Sequence[str],
    body: Sequence[Sequence[str]],
    *,
    head_left: bool = False,
    escape: bool = False,
) -> list[str]:
    """Lay the table out for a terminal: columns padded to their width, a rule under the header.

    Args:
      head: the column headers (in the chosen language).
      body: :func:`table_cells`.
      head_left: left-align the headers (the cells are always right-aligned).
      escape: escape rich markup in the lines (for a rich console).

    Returns:
      The lines, without trailing spaces.
    """
    widths = [max(cell_width(x) for x in col) for col in zip(head, *body, strict=True)]

    def line(cells: Sequence[str], left: bool) -> str:
        pads = [" " * (wd - cell_width(c)) for c, wd in zip(cells, widths, strict=True)]
        text = "  ".join(c + p if left else p + c for c, p in zip(cells, pads, strict=True))
        text = text.rstrip()
        if escape:
            from rich.markup import escape as rich_escape

            return rich_escape(text)
        return text

    lines = [line(head, head_left), "  ".join("─" * wd for wd in widths)]
    return lines + [line(r, False) for r in body]


def render_markdown_table(head: Sequence[str], body: Sequence[Sequence[str]]) -> list[str]:
    """Lay the table out as a Markdown (GitHub) table."""
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    return lines + ["| " + " | ".join(r) + " |" for r in body]
