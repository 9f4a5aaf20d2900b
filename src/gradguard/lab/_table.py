"""The explosion table: ``h_T`` and ``∂L/∂w`` over many ``T``, with the seed's errata.

The seed's table (Step 4) claims, for ``w = 2, h_0 = 1``:

====  ===========  ==============================  ============
T     seed says    exact ``T·2^(T-1)``              off by
====  ===========  ==============================  ============
5     80           80                              —
10    ≈ 1024       5,120                           5×
20    ≈ 10^6       10,485,760                      ≈ 10×
50    ≈ 10^15      28,147,497,671,065,600          ≈ 28×
====  ===========  ==============================  ============

Its values after T = 5 are about ``2^T = h_T`` — the *state* (the loss), not
the gradient: the gradient is larger by the factor ``T/w``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from gradguard._validate import check_whole_list
from gradguard.lab._numbers import (
    Exact,
    LogValue,
    exact_to_json,
    float_to_json,
    sci_from_log,
    to_exact,
)
from gradguard.lab._recurrence import (
    _check_exact_size,
    _power_round,
    check_mode,
    power_exact,
    power_log,
)

__all__ = [
    "SEED_TABLE",
    "SEED_TABLE_TEXT",
    "TableRow",
    "explosion_table",
    "is_seed_system",
    "table_to_json",
]

SEED_TABLE: dict[int, int] = {5: 80, 10: 1024, 20: 10**6, 50: 10**15}
"""The gradient the seed claims for ``w = 2, h_0 = 1`` at each T (its Step 4 table)."""

SEED_TABLE_TEXT: dict[int, str] = {5: "80", 10: "≈ 1024", 20: "≈ 10^6", 50: "≈ 10^15"}
"""The seed's table cells as it prints them."""


def is_seed_system(w: object, h0: object) -> bool:
    """Return whether ``(w, h0)`` are the seed's ``(2, 1)`` — the parameters its table is for."""
    return to_exact(w, "w") == 2 and to_exact(h0, "h0") == 1


@dataclass(frozen=True)
class TableRow:
    """One row of the explosion table.

    Attributes:
      T: time steps.
      mode: ``"exact"``, ``"float64"``, ``"float32"`` or ``"log"``.
      h_T: the state ``w^T·h_0`` (= the loss) in ``mode``.
      grad: ``∂L/∂w = T·w^(T-1)·h_0`` in ``mode``.
      log10: ``log10 |∂L/∂w|`` (``-inf`` for 0), whatever the mode.
      sign: the gradient's sign (``-1``, ``0``, ``1``).
      ratio_log10: ``log10`` of ``|grad|`` over the previous row's (``None`` for the first).
      ratio: ``grad`` over the previous row's, signed (``-15.19`` when the sign flips), as
        a float (``±inf`` past float64, ``nan`` for 0/0).
      float64, float32: the gradient as each format holds it (``±inf`` past its range).
      seed_claim: the seed's table value for this T (seed's parameters only), else ``None``.
      seed_claim_text: the cell as the seed prints it (``"≈ 10^6"``).
      off_by: exact gradient ÷ the seed's claim (a float), else ``None``.
    """

    T: int
    mode: str
    h_T: Exact | float | LogValue
    grad: Exact | float | LogValue
    log10: float
    sign: int
    ratio_log10: float | None
    ratio: float | None
    float64: float
    float32: float
    seed_claim: int | None = None
    seed_claim_text: str | None = None
    off_by: float | None = None

    @property
    def sci(self) -> str:
        """The gradient in scientific notation (4 significant digits)."""
        return sci_from_log(self.sign, self.log10)

    def to_json(self) -> dict[str, Any]:
        """Return the row as a JSON-ready dict (the ``table --json`` row format)."""

        def value(x: Exact | float | LogValue) -> Any:
            if isinstance(x, LogValue):
                return x.to_json()
            if isinstance(x, float):
                return float_to_json(x)
            return exact_to_json(x)

        return {
            "T": self.T,
            "mode": self.mode,
            "h_T": value(self.h_T),
            "grad": value(self.grad),
            "sci": self.sci,
            "log10": float_to_json(self.log10),
            "sign": self.sign,
            "ratio": None if self.ratio is None else float_to_json(self.ratio),
            "float64": float_to_json(self.float64),
            "float32": float_to_json(self.float32),
            "seed_claim": None if self.seed_claim is None else str(self.seed_claim),
            "seed_claim_text": self.seed_claim_text,
            "off_by": self.off_by,
        }


def explosion_table(
    w: object = 2, h0: object = 1, Ts: Iterable[int] | str = (5, 10, 20, 50), mode: str = "exact"
) -> list[TableRow]:
    """Tabulate ``h_T`` and ``∂L/∂w = T·w^(T-1)·h_0`` for every ``T`` in ``Ts``.

    For the seed's parameters (``w = 2, h_0 = 1``) each row at T ∈ {5, 10, 20,
    50} also carries the seed's claimed value and the factor it is off by.

    Args:
      w, h0: the weight and initial state.
      Ts: the time steps (whole numbers ≥ 1), or a string ``"5,10,20,50"``.
      mode: ``"exact"``, ``"float64"``, ``"float32"`` or ``"log"``.

    Returns:
      One :class:`TableRow` per ``T``, in the given order.

    Raises:
      InputError: a bad argument, or (exact mode) a value over
        :data:`~gradguard.lab.MAX_DIGITS` digits — use ``mode="log"``.

    Example:
      >>> [(r.T, r.grad, r.off_by) for r in explosion_table(2, 1, [5, 10])]
      [(5, 80, 1.0), (10, 5120, 5.0)]
    """
    m = check_mode(mode)
    wx, hx = to_exact(w, "w"), to_exact(h0, "h0")
    steps = check_whole_list(Ts, "Ts")
    seed = wx == 2 and hx == 1
    if m == "exact":  # refuse before computing anything
        for T in steps:
            _check_exact_size(wx, hx, T, "exact_row", power=T)
    rows: list[TableRow] = []
    prev_log: float | None = None
    prev_T: int | None = None
    prev_sign = 0
    for T in steps:
        g_log = power_log(wx, hx, T - 1, T)
        h_log = power_log(wx, hx, T)
        h_T: Exact | float | LogValue
        grad: Exact | float | LogValue
        if m == "exact":
            h_T, grad = power_exact(wx, hx, T), power_exact(wx, hx, T - 1, T)
        elif m == "log":
            h_T, grad = h_log, g_log
        else:
            h_T, grad = _power_round(m, wx, hx, T), _power_round(m, wx, hx, T - 1, T)
        ratio_log = None if prev_log is None else _log_diff(g_log.log10, prev_log)
        ratio: float | None = None
        if ratio_log is not None:
            ratio = _ratio_from_log(ratio_log)
            if (
                prev_T is not None
                and g_log.sign
                and abs(ratio_log) < 300
                and abs(T - prev_T) < 2000
            ):
                # (T/T')·|w|^(T-T') exactly, then rounded once: 5120/80 = 64.0, not 63.99…
                ratio = float(Fraction(T, prev_T) * abs(Fraction(wx)) ** (T - prev_T))
            if g_log.sign * prev_sign < 0:  # w < 0 and an odd step between the rows
                ratio = -ratio
        prev_log, prev_T, prev_sign = g_log.log10, T, g_log.sign
        claim = SEED_TABLE.get(T) if seed else None
        off_by = None
        if claim is not None:
            # exact ÷ claim; the gradient here is an int: T·2^(T-1).
            off_by = round((T * 2 ** (T - 1)) / claim, 3)
        rows.append(
            TableRow(
                T=T,
                mode=m,
                h_T=h_T,
                grad=grad,
                log10=g_log.log10,
                sign=g_log.sign,
                ratio_log10=ratio_log,
                ratio=ratio,
                float64=_power_round("float64", wx, hx, T - 1, T),
                float32=_power_round("float32", wx, hx, T - 1, T),
                seed_claim=claim,
                seed_claim_text=SEED_TABLE_TEXT.get(T) if seed else None,
                off_by=off_by,
            )
        )
    return rows


def _ratio_from_log(x: float) -> float:
    if math.isnan(x):
        return math.nan
    try:
        return 10.0**x
    except OverflowError:
        return math.inf


def _log_diff(a: float, b: float) -> float:
    if math.isinf(a) and math.isinf(b):
        return math.nan  # 0 / 0: no ratio
    return a - b


def table_to_json(rows: Iterable[TableRow]) -> list[dict[str, Any]]:
    """Return the rows as the JSON list ``gradguard table --json`` prints."""
    return [row.to_json() for row in rows]
