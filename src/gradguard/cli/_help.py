"""The command line's help texts, in the user's language, from the ``cli`` message catalog.

No help text is written in code: the commands and options are declared bare and
:func:`localized_command` fills every ``--help`` from ``catalogs/cli/<lang>.toml`` —
a section per command (``_help``: its help; then one key per option, by its Python
name), ``[app]`` for ``gradguard --help`` and ``[chrome]`` for the words typer's help
screen puts around them (``Usage:``, ``Options``, ``[default: …]``). A key missing
from the catalog leaves the text empty; ``tests/test_cli_help.py`` fails on it.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import typer

from gradguard._catalog import SOURCE, Catalog, languages, load_catalog
from gradguard.cli._app import app

__all__ = ["help_keys", "localized_command"]

_FIELD = re.compile(r"\{(languages|source)\}")


def _fill(text: str) -> str:
    # Only the named fields: help texts hold formulas with braces (h_{t-1}, {5, 10, 20, 50}).
    values = {"languages": ", ".join(languages()), "source": SOURCE}
    return _FIELD.sub(lambda m: values[m[1]], text)


def _text(words: Catalog, key: str) -> str | None:
    return _fill(words[key]) if key in words else None


def help_keys(group: Any) -> set[str]:
    """Every key of the ``cli`` catalog the command line ``group`` shows (``explain.w`` …)."""
    keys = {"app.help", *(f"app.{p.name}" for p in group.params)}
    for name, cmd in group.commands.items():
        keys |= {f"{name}._help", *(f"{name}.{p.name}" for p in cmd.params)}
    return keys


def localized_command(lang: str = SOURCE) -> Any:
    """Return ``gradguard`` as a click group whose help texts are in ``lang``.

    Args:
      lang: a language with catalogs.
    """
    words = load_catalog(lang, "cli")
    _Shown.words = words
    group: Any = typer.main.get_command(app)
    names = (app.info.context_settings or {}).get("help_option_names", ["--help"])
    group.help = _text(words, "app.help")
    _params(group, "app", words)
    _help_option(group, names, words)
    for name, cmd in group.commands.items():
        cmd.help = _text(words, f"{name}._help")
        cmd.short_help = None  # the command list shows the first line of the help
        _params(cmd, name, words)
        _help_option(cmd, names, words)
    for cmd in (group, *group.commands.values()):
        cmd.context_class = _context_class(cmd.context_class)
    return group


def _params(cmd: Any, section: str, words: Catalog) -> None:
    for param in cmd.params:
        text = _text(words, f"{section}.{param.name}")
        if text is not None:
            param.help = text
        if param.name == "lang":  # --lang's values: the languages that have catalogs
            param.metavar = "|".join(languages())


def _help_option(cmd: Any, names: list[str], words: Catalog) -> None:
    # The help option is made on first use and kept (click's Command.get_help_option).
    option = cmd.get_help_option(cmd.context_class(cmd, help_option_names=names))
    if option is not None:
        option.help = words["chrome.help_option"]


def _chrome(words: Catalog) -> None:
    """The words typer's help screen adds, in the catalog's language (rich is imported here:
    only a help screen needs it)."""
    from typer import rich_utils

    rich_utils.ARGUMENTS_PANEL_TITLE = words["chrome.arguments"]
    rich_utils.OPTIONS_PANEL_TITLE = words["chrome.options"]
    rich_utils.COMMANDS_PANEL_TITLE = words["chrome.commands"]
    rich_utils.DEFAULT_STRING = words["chrome.default"].replace("{value}", "{}")
    rich_utils.REQUIRED_LONG_STRING = words["chrome.required"]


class _Shown:
    """The ``cli`` catalog of the command line being run (set by :func:`localized_command`)."""

    words: Catalog | None = None


@cache
def _context_class(base: type) -> type:
    """``base`` (a click context class) whose help screen speaks :attr:`_Shown.words`'s language."""

    class Formatter(base.formatter_class):  # type: ignore[name-defined]
        def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
            if prefix is None and _Shown.words is not None:
                prefix = _Shown.words["chrome.usage"] + " "
            super().write_usage(prog, args, prefix)

    def make_formatter(self: Any) -> Any:  # a help screen is being made: its words
        if _Shown.words is not None:
            _chrome(_Shown.words)
        return base.make_formatter(self)  # type: ignore[attr-defined]

    return type(
        base.__name__, (base,), {"formatter_class": Formatter, "make_formatter": make_formatter}
    )
