"""gradguard — the exploding-gradient problem, exact, visible and fixable.

- :mod:`gradguard.lab` — the seed's system ``h_t = w·h_{t-1}``, ``L = h_T``, exact.
- :mod:`gradguard.explain` — the lesson rendered from a live computation (en, bn).
- :mod:`gradguard.records` — the step-record format every component shares.
- :mod:`gradguard.torch` — the guard for real training (needs the ``[torch]`` extra).
- :mod:`gradguard.experiments` — the remedies measured on real RNNs (``[torch]``).
- :mod:`gradguard.report` — plots and the HTML report (``[plot]``).

``import gradguard`` stays light: it never imports torch or matplotlib.
"""

__version__ = "0.1.0"

from gradguard.lab import clip_by_norm, clip_by_value

__all__ = ["__version__", "clip_by_norm", "clip_by_value"]
