"""Message catalogs for the plots, the report and the explorer (English, Bengali).

A thin wrapper over the package's one catalog loader
(:func:`gradguard.explain._catalog.load_catalog`, part ``"report"``): the text
lives in ``explain/catalogs/report/<lang>.toml``, not in code. A key missing
from a catalog falls back to English so a half-translated catalog never crashes.
"""

from __future__ import annotations

import re
from functools import cache

# One list of languages, one check and one loader for the whole package: the lesson's catalogs.
from gradguard.explain._catalog import check_lang, load_catalog

_FIELD = re.compile(r"\{([A-Za-z_0-9]+)\}")


@cache
def catalog(lang: str) -> dict[str, str]:
    """Return the message catalog for ``lang`` (English keys fill any gap)."""
    check_lang(lang)
    base: dict[str, str] = _load("en")
    if lang != "en":
        base = {**base, **_load(lang)}
    return base


def _load(lang: str) -> dict[str, str]:
    return load_catalog(lang, "report").section("report")


def t(lang: str, key: str, **values: object) -> str:
    """Return the message ``key`` in ``lang`` with ``{name}`` fields filled from ``values``."""
    # Only the named fields are filled, so formulas such as ``h_{t-1}`` stay as written.
    return _FIELD.sub(lambda m: str(values[m[1]]) if m[1] in values else m[0], catalog(lang)[key])
