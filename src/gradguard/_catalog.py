"""Message catalogs: every sentence gradguard shows, per language, as TOML data files.

The one catalog mechanism of the package, and a leaf: it imports nothing of
gradguard, so :mod:`gradguard.errors`, :mod:`gradguard._validate` and every layer
above can use it without an import cycle.

A language is its catalog files; nothing in the code names one. The files live
in ``gradguard/explain/catalogs/``, one per part and language:

* ``"lesson"`` — ``{lang}.toml``: the lesson, the CLI's messages and the tour;
* ``"report"`` — ``report/{lang}.toml``: the plots, the HTML report, the explorer;
* ``"errors"`` — ``errors/{lang}.toml``: input errors (:mod:`gradguard.errors`),
  file errors, the command line's usage errors;
* ``"cli"`` — ``cli/{lang}.toml``: the command line's ``--help`` texts.

The languages are the stems of ``catalogs/*.toml`` (:func:`languages`); each
lesson catalog's ``[meta]`` names its language (``name``, as its readers write
it) and its script (``script``, an ISO 15924 code such as ``Latn`` or ``Beng``,
which picks the fonts: :mod:`gradguard.report._fonts`). Adding a language is
adding its four files (and a font if its script needs one); a test checks that
every language has every key of :data:`SOURCE` with the same ``{placeholders}``.

``GRADGUARD_CATALOGS`` (folders separated by :data:`os.pathsep`, each laid out
like ``catalogs/``) adds languages, or replaces files, without touching the
installed package: a translator can try a catalog, and the pseudo-locale test
runs every command in a language built at test time.

The catalogs hold prose only; numbers and formulas are computed and inserted by
the renderers.
"""

from __future__ import annotations

import os
import string
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "PARTS",
    "PART_FILES",
    "SOURCE",
    "Catalog",
    "catalog_dirs",
    "default_lang",
    "languages",
    "load_catalog",
]

#: The language the catalogs are written in first; every other one has its keys.
SOURCE = "en"
#: Each part's file, relative to a catalog folder.
PART_FILES: dict[str, str] = {
    "lesson": "{lang}.toml",
    "report": "report/{lang}.toml",
    "errors": "errors/{lang}.toml",
    "cli": "cli/{lang}.toml",
}
PARTS: tuple[str, ...] = tuple(PART_FILES)
#: The folders searched before the packaged one (see the module's docstring).
ENV = "GRADGUARD_CATALOGS"
# A plain path next to the package (package data): importing importlib.resources
# would add to the start-up of `gradguard explain`, which must start fast.
_PACKAGED = Path(__file__).parent / "explain" / "catalogs"


class UnknownLanguage(LookupError):
    """``lang`` has no catalog (:func:`gradguard._validate.check_lang` tells the user)."""


def catalog_dirs() -> tuple[Path, ...]:
    """Return the catalog folders, first match wins: ``$GRADGUARD_CATALOGS``, then the package's."""
    extra = os.environ.get(ENV, "")
    return (*(Path(p) for p in extra.split(os.pathsep) if p), _PACKAGED)


def languages() -> tuple[str, ...]:
    """Return the languages that have catalogs: :data:`SOURCE` first, then the others sorted."""
    return _languages(catalog_dirs())


@cache
def _languages(dirs: tuple[Path, ...]) -> tuple[str, ...]:
    found = {p.stem for d in dirs if d.is_dir() for p in d.glob("*.toml")}
    return (SOURCE, *sorted(found - {SOURCE}))


def default_lang(environ: Mapping[str, str] | None = None) -> str:
    """Return the locale's language if it has a catalog (``bn_BD.UTF-8`` → ``"bn"``), else
    :data:`SOURCE`.

    Looks at ``LC_ALL``, ``LC_MESSAGES`` and ``LANG`` in POSIX precedence order; the
    first one set decides.
    """
    env = os.environ if environ is None else environ
    for key in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(key, "")
        if value:
            code = value.partition(".")[0].partition("@")[0]  # bn_BD.UTF-8@x → bn_BD
            for candidate in (code.replace("_", "-"), code.partition("_")[0]):
                if candidate in languages():
                    return candidate
            return SOURCE
    return SOURCE


class Catalog:
    """One language's messages of one part: ``catalog["table.heading"]``, ``catalog.get(key)``.

    Attributes:
      lang: the language.
      part: the part (a key of :data:`PARTS`).
    """

    def __init__(self, lang: str, data: dict[str, Any], part: str = "lesson") -> None:
        self.lang = lang
        self.part = part
        self._data = data

    def __getitem__(self, key: str) -> str:
        section, _, name = key.partition(".")
        try:
            value = self._data[section][name]
        except (KeyError, TypeError):
            raise KeyError(f"catalog {self.lang!r} ({self.part}) has no message {key!r}") from None
        return str(value)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self.keys()))

    def __contains__(self, key: object) -> bool:
        section, _, name = str(key).partition(".")
        return name in self._data.get(section, {})

    def get(self, key: str, **fields: object) -> str:
        """Return the message ``key`` with ``{placeholders}`` filled from ``fields``.

        ``{n:one|other}`` chooses a count's form (:func:`fill`): ``"{n} step{n:|s}"``; a
        language without such endings writes ``{n}`` alone.
        """
        return fill(self[key], **fields)

    def keys(self) -> set[str]:
        """Every ``section.name`` key in the catalog."""
        return {f"{s}.{n}" for s, names in self._data.items() for n in names}

    def section(self, name: str) -> dict[str, str]:
        """Return the messages of section ``name`` in file order (empty if it is absent)."""
        return {k: str(v) for k, v in self._data.get(name, {}).items()}


def fill(template: str, **fields: object) -> str:
    """Fill a catalog message's ``{placeholders}``: ``str.format``, and ``{n:one|other}``.

    The format ``one|other`` (no standard format has a ``|``) writes ``one`` where the field
    counts 1 — the int, or its text ``"1"`` — and ``other`` else: ``"{n} step{n:|s}"`` is
    "1 step", "2 steps", "1,000 steps".
    """
    if "|" not in template:
        return template.format(**fields)
    return _PLURAL.vformat(template, (), fields)


def count_form(value: object, forms: str) -> str:
    """Pick ``one`` of ``forms = "one|other"`` where ``value`` counts 1, else ``other``."""
    one, _, other = forms.partition("|")
    return one if str(value).strip() == "1" else other


class _PluralFormatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        if "|" in format_spec:
            return count_form(value, format_spec)
        return str(format(value, format_spec))


_PLURAL = _PluralFormatter()


def load_catalog(lang: str = SOURCE, part: str = "lesson") -> Catalog:
    """Load the message catalog of ``part`` for ``lang``.

    Args:
      lang: a language of :func:`languages`.
      part: one of :data:`PARTS`.

    Returns:
      The catalog, cached per folders, language and part.

    Raises:
      UnknownLanguage: no catalog for ``lang`` (check user input with
        :func:`gradguard._validate.check_lang` first).
      ValueError: no such part (a caller's mistake).
    """
    if part not in PART_FILES:
        raise ValueError(f"no catalog part {part!r}; the parts are {', '.join(PARTS)}")
    return _load(catalog_dirs(), lang, part)


@cache
def _load(dirs: tuple[Path, ...], lang: str, part: str) -> Catalog:
    if lang not in _languages(dirs):
        raise UnknownLanguage(f"no catalog for language {lang!r}")
    name = PART_FILES[part].format(lang=lang)
    for folder in dirs:
        path = folder / name
        if path.is_file():
            return Catalog(lang, _parse(path.read_text(encoding="utf-8")), part)
    raise UnknownLanguage(f"language {lang!r} has no {part} catalog ({name})")


def _parse(text: str) -> dict[str, Any]:
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    return tomllib.loads(text)
