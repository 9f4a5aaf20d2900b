"""Message catalogs for the plots, the report and the explorer.

A thin wrapper over the package's one catalog loader
(:func:`gradguard._catalog.load_catalog`, part ``"report"``): the text lives in
``explain/catalogs/report/<lang>.toml``, not in code. Every language has every
key (a test checks), so a missing key is an error, not a silent English gap.
"""

from __future__ import annotations

import re

from gradguard._catalog import count_form, load_catalog
from gradguard._validate import check_lang

#: ``{name}``, or ``{name:one|other}`` (a count's form, :func:`gradguard._catalog.fill`).
_FIELD = re.compile(r"\{([A-Za-z_0-9]+)(?::([^{}|]*\|[^{}]*))?\}")


def catalog(lang: str) -> dict[str, str]:
    """Return the report's messages in ``lang`` (the catalog's ``[report]``)."""
    return load_catalog(check_lang(lang), "report").section("report")


def t(lang: str, key: str, **values: object) -> str:
    """Return the message ``key`` in ``lang`` with ``{name}`` fields filled from ``values``."""

    # Only the named fields are filled, so formulas such as ``h_{t-1}`` stay as written.
    def one(m: re.Match[str]) -> str:
        if m[1] not in values:
            return m[0]
        return count_form(values[m[1]], m[2]) if m[2] is not None else str(values[m[1]])

    return _FIELD.sub(one, catalog(lang)[key])
