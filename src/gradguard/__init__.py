"""gradguard — the exploding-gradient problem, exact, visible and fixable.

- :mod:`gradguard.lab` — the seed's system ``h_t = w·h_{t-1}``, ``L = h_T``, exact.
- :mod:`gradguard.explain` — the lesson rendered from a live computation (en, bn).
- :mod:`gradguard.records` — the step-record format every component shares.
- :mod:`gradguard.torch` — the guard for real training (needs the ``[torch]`` extra).
- :mod:`gradguard.experiments` — the remedies measured on real RNNs (``[torch]``).
- :mod:`gradguard.report` — plots and the HTML report (``[plot]``).

``import gradguard`` stays light: it never imports torch or matplotlib.

>>> import gradguard
>>> gradguard.grad_closed_form(2, 1, 5), gradguard.bptt(2, 1, 5).terms
(80, [16, 16, 16, 16, 16])
"""

__version__ = "0.1.0"

from gradguard.explain import lesson, render_markdown, render_text
from gradguard.lab import (
    LogValue,
    bptt,
    clip_by_norm,
    clip_by_value,
    explosion_table,
    forward,
    grad_closed_form,
    gradient,
    overflow_horizon,
    regime,
    sgd_step,
    to_exact,
    trajectory,
)

__all__ = [
    "LogValue",
    "__version__",
    "bptt",
    "clip_by_norm",
    "clip_by_value",
    "explosion_table",
    "forward",
    "grad_closed_form",
    "gradient",
    "lesson",
    "overflow_horizon",
    "regime",
    "render_markdown",
    "render_text",
    "sgd_step",
    "to_exact",
    "trajectory",
]
