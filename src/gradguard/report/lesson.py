"""The lesson as the report writes it — and the explorer's server writes it the same way.

- :func:`said` — the sentences of :func:`gradguard.explain.claims` on some topics
  (:data:`WHY_TOPICS`, the report's "why" section; :data:`SGD_TOPICS`, its SGD section);
- :func:`fmt`, :func:`factor`, :func:`base`, :func:`tidy` — a lesson value written for
  people, as a factor, as the base of a power, with its ``≈`` where it reads naturally;
- :func:`shown_steps` — which steps of a long trace a page shows;
- :func:`power_value`, :func:`sub_scaled`, :func:`compare_abs`, :func:`show_json` —
  bounded-precision arithmetic (:mod:`decimal`) for values too long to compute exactly;
- :func:`catalog`, :func:`t` — the report's messages in a language.
"""

from gradguard.report._approx import compare_abs, power_value, show_json, sub_scaled
from gradguard.report._html import SGD_TOPICS, WHY_TOPICS
from gradguard.report._i18n import catalog, t
from gradguard.report._lesson import base, factor, fmt, said, shown_steps, tidy

__all__ = [
    "SGD_TOPICS",
    "WHY_TOPICS",
    "base",
    "catalog",
    "compare_abs",
    "factor",
    "fmt",
    "power_value",
    "said",
    "show_json",
    "shown_steps",
    "sub_scaled",
    "t",
    "tidy",
]
