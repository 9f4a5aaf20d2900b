"""Message catalogs: gradguard's prose per language, as TOML data files.

The one catalog mechanism of the package. Two parts share it:

* ``"lesson"`` — ``catalogs/{en,bn}.toml``, the lesson, the CLI and the tour;
* ``"report"`` — ``catalogs/report/{en,bn}.toml``, the plots, the HTML report
  and the explorer (read through :func:`gradguard.report._i18n.t`);
* ``"errors"`` — ``catalogs/errors/bn.toml``, input errors in other languages
  (English is :data:`gradguard.errors.RULES`; read by
  :meth:`gradguard.errors.InputError.message`).

They are separate files so ``gradguard explain`` parses only what it shows.
The catalogs hold prose only; numbers and formulas are computed and inserted
by the renderers. The lesson catalogs have the same keys (a test checks it).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from gradguard._validate import check_choice

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["LANGS", "Catalog", "check_lang", "default_lang", "load_catalog"]

LANGS: tuple[str, ...] = ("en", "bn")
# Each part's file, relative to ``catalogs/``.
_PART_FILES: dict[str, str] = {
    "lesson": "{lang}.toml",
    "report": "report/{lang}.toml",
    "errors": "errors/{lang}.toml",
}
PARTS: tuple[str, ...] = tuple(_PART_FILES)


def check_lang(lang: object, name: str = "lang") -> str:
    """Return ``lang`` if a catalog exists for it; raise :class:`InputError` otherwise."""
    return check_choice(lang, name, LANGS)


def default_lang(environ: Mapping[str, str] | None = None) -> str:
    """Return ``"bn"`` when the locale is Bengali (``bn_BD.UTF-8``, ``bn_IN``…), else ``"en"``.

    Looks at ``LC_ALL``, ``LC_MESSAGES`` and ``LANG`` in POSIX precedence order.
    """
    env = os.environ if environ is None else environ
    for key in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(key, "")
        if value:
            return "bn" if value.lower().startswith("bn") else "en"
    return "en"


class Catalog:
    """One language's messages; ``catalog["table.heading"]`` or ``catalog.get(key, **fields)``."""

    def __init__(self, lang: str, data: dict[str, Any]) -> None:
        self.lang = lang
        self._data = data

    def __getitem__(self, key: str) -> str:
        section, _, name = key.partition(".")
        try:
            value = self._data[section][name]
        except KeyError:
            raise KeyError(f"catalog {self.lang!r} has no message {key!r}") from None
        return str(value)

    def get(self, key: str, **fields: object) -> str:
        """Return the message ``key`` with ``{placeholders}`` filled from ``fields``."""
        return self[key].format(**fields)

    def keys(self) -> set[str]:
        """Every ``section.name`` key in the catalog."""
        return {f"{s}.{n}" for s, names in self._data.items() for n in names}

    def section(self, name: str) -> dict[str, str]:
        """Return the messages of section ``name`` in file order (empty if it is absent)."""
        return {k: str(v) for k, v in self._data.get(name, {}).items()}


@cache
def load_catalog(lang: str = "en", part: str = "lesson") -> Catalog:
    """Load the message catalog for ``lang`` (``"en"`` or ``"bn"``).

    Args:
      lang: the language.
      part: ``"lesson"`` (the lesson, the CLI, the tour) or ``"report"`` (the
        plots, the HTML report, the explorer).

    Returns:
      The catalog, cached per ``(lang, part)``.

    Raises:
      InputError: no catalog for ``lang`` or no such ``part``.
    """
    check_lang(lang)
    check_choice(part, "part", PARTS)
    # A plain path next to this file (package data): importing importlib.resources
    # would add to the start-up of `gradguard explain`, which must start fast.
    path = Path(__file__).parent / "catalogs" / _PART_FILES[part].format(lang=lang)
    return Catalog(lang, tomllib.loads(path.read_text(encoding="utf-8")))
