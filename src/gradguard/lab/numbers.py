"""The lab's numbers, as the lesson, the report, the explorer and the CLI show them.

The lab's own surface (:mod:`gradguard.lab`) computes; these helpers turn its exact
values into what a page or a terminal prints, without losing exactness on the way:

- :func:`power_exact` / :func:`power_log` — ``factor·w^power·h0`` exactly, or as a
  :class:`~gradguard.lab.LogValue` in O(1) (the closed form every row of the table is);
  :func:`estimate_digits` — how long its text would be, before it is computed;
- :func:`log10_abs`, :func:`digits_of` — the size of an exact value;
- :func:`sci`, :func:`sci_from_log` — scientific notation (``1.268e30``) of an exact value
  or of a log;
- :func:`float_to_json`, :func:`approx_powers_json` — JSON for a float (``"nan"``,
  ``"inf"``, ``"-inf"`` as records write them) and for the approximate powers a page
  shows;
- :func:`check_lr` — a learning rate ``η`` read exactly, refused unless it is > 0.
"""

from gradguard.lab._numbers import (
    approx_powers_json,
    digits_of,
    float_to_json,
    log10_abs,
    sci,
    sci_from_log,
)
from gradguard.lab._recurrence import estimate_digits, power_exact, power_log
from gradguard.lab._sgd import check_lr

__all__ = [
    "approx_powers_json",
    "check_lr",
    "digits_of",
    "estimate_digits",
    "float_to_json",
    "log10_abs",
    "power_exact",
    "power_log",
    "sci",
    "sci_from_log",
]
