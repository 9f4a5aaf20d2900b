"""The explosion table as each medium writes it: the cells once, a renderer per medium.

- :func:`table_cells` — the table's rows as text cells, in a :class:`CellStyle`
  (:data:`COMPACT` for a terminal);
- :func:`render_terminal` — the cells as a terminal table; :func:`rounded_cell` — a float
  as the table writes a rounded number (``2.684 × 10^9``);
- :data:`TABLE_HEADERS` — each column's catalog key; :func:`horizon_lines` — the lines under
  the table that say from which ``T`` each float format overflows, and to what
  (:func:`overflow_inf`).

The lesson's renderers, the report, the explorer and ``gradguard lab table`` all write the
table through these.
"""

from gradguard.explain._render import TABLE_HEADERS, horizon_lines, overflow_inf
from gradguard.explain._table import (
    COMPACT,
    CellStyle,
    render_terminal,
    rounded_cell,
    table_cells,
)

__all__ = [
    "COMPACT",
    "TABLE_HEADERS",
    "CellStyle",
    "horizon_lines",
    "overflow_inf",
    "render_terminal",
    "rounded_cell",
    "table_cells",
]
