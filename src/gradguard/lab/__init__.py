"""The lab: the seed's system ``h_t = w·h_{t-1}``, ``L = h_T``, computed exactly.

Stdlib and numpy only — no torch, no matplotlib.

>>> from gradguard.lab import forward, bptt, grad_closed_form, explosion_table
>>> forward(2, 1, 5)
[1, 2, 4, 8, 16, 32]
>>> bptt(2, 1, 5).grad, grad_closed_form(2, 1, 50)
(80, 28147497671065600)
"""

from gradguard.lab._clipping import clip_by_norm, clip_by_value, clip_coefficient
from gradguard.lab._numbers import (
    MAX_DIGITS,
    Exact,
    LogValue,
    exact_to_json,
    int_to_str,
    to_exact,
)
from gradguard.lab._recurrence import (
    BPTT,
    MAX_TRACE_T,
    MODES,
    Regime,
    bptt,
    forward,
    grad_closed_form,
    gradient,
    gradient_log,
    overflow_horizon,
    regime,
    round_to_format,
    state,
    state_log,
)
from gradguard.lab._sgd import (
    LOSSES,
    SGDStep,
    Trajectory,
    compare_remedies,
    sgd_step,
    trajectory,
)
from gradguard.lab._table import (
    SEED_TABLE,
    SEED_TABLE_TEXT,
    TableRow,
    explosion_table,
    is_seed_system,
    table_to_json,
)

__all__ = [
    "BPTT",
    "LOSSES",
    "MAX_DIGITS",
    "MAX_TRACE_T",
    "MODES",
    "SEED_TABLE",
    "SEED_TABLE_TEXT",
    "Exact",
    "LogValue",
    "Regime",
    "SGDStep",
    "TableRow",
    "Trajectory",
    "bptt",
    "clip_by_norm",
    "clip_by_value",
    "clip_coefficient",
    "compare_remedies",
    "exact_to_json",
    "explosion_table",
    "forward",
    "grad_closed_form",
    "gradient",
    "gradient_log",
    "int_to_str",
    "is_seed_system",
    "overflow_horizon",
    "regime",
    "round_to_format",
    "sgd_step",
    "state",
    "state_log",
    "table_to_json",
    "to_exact",
    "trajectory",
]
