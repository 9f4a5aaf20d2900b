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
from gradguard._cells import cell_width, rich_counts_cells
from gradguard.cli._app import app

__all__ = ["fill_fields", "help_keys", "localized_command"]

_FIELD = re.compile(r"\{(languages|source|replayable|not_replayable)\}")


def fill_fields(text: str) -> str:
    """Fill the lists a help text names from where they are kept: ``{languages}`` (the
    catalogs), ``{replayable}`` and ``{not_replayable}`` (the rules of
    :data:`gradguard.rules.RULES` that ``replay`` runs, and the others)."""
    # Only the named fields: help texts hold formulas with braces (h_{t-1}, {5, 10, 20, 50}).
    found = set(_FIELD.findall(text))
    values = {"languages": ", ".join(languages()), "source": SOURCE}
    if found & {"replayable", "not_replayable"}:
        from gradguard.rules import RULES

        for key, wanted in (("replayable", True), ("not_replayable", False)):
            names = [n for n, r in RULES.items() if (r.replay_needs is None) == wanted]
            values[key] = ", ".join(names)
    return _FIELD.sub(lambda m: values[m[1]], text)


#: What rich would read as a markup tag ("[plot]", "[default: …]"), as rich.markup.escape
#: finds it (rich itself is imported only when a help screen is shown).
_TAG = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")


def _text(words: Catalog, key: str) -> str | None:
    # typer reads help as rich markup: "[plot]" or "[default: …]" would vanish as a tag.
    if key not in words:
        return None
    return _TAG.sub(lambda m: f"{m[1]}{m[1]}\\{m[2]}", _reflow(fill_fields(words[key])))


def _reflow(text: str) -> str:
    """Join each paragraph's lines into one, so the terminal's width decides the breaks.

    The catalogs keep their paragraphs within ~90 columns for reading; typer keeps a
    command's line breaks as they are, which would break lines mid-sentence on any other
    width. Paragraphs are separated by a blank line; one starting with click's ``\\b``
    keeps its lines.
    """
    paragraphs = text.strip().split("\n\n")
    return "\n\n".join(p if p.startswith("\b") else " ".join(p.split()) for p in paragraphs)


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
    group.subcommand_metavar = words["chrome.command_metavar"]
    group.options_metavar = words["chrome.options_metavar"]
    _params(group, "app", words)
    _help_option(group, names, words)
    for name, cmd in group.commands.items():
        cmd.help = _text(words, f"{name}._help")
        cmd.short_help = None  # the command list shows the first line of the help
        cmd.options_metavar = words["chrome.options_metavar"]
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
        usage_name = f"chrome.argument_{param.name}"
        if param.param_type_name == "argument" and usage_name in words:
            # typer writes a required argument "{log}" in the usage line: a template's slot
            shown = words[usage_name] + ("..." if param.nargs != 1 else "")
            param._usage_display_name = lambda shown=shown: shown
        if param.name == "lang":  # --lang's values: the languages that have catalogs
            param.metavar = "|".join(languages())
        elif param.metavar is not None:  # NUMBER, NUMBER[,NUMBER…]: in the catalog's words
            declared = param.__dict__.setdefault("_declared_metavar", param.metavar)
            param.metavar = _VALUE.sub(lambda m: words[_VALUE_KEY[m[1]]], declared)


#: The placeholder words of the options' values (``metavar=`` in the commands): the same
#: words as typer's types (``NUMBER`` is shown as ``<number>``, as a float option's value).
_VALUE = re.compile(r"\b(NUMBER|DIGITS|INTEGER)\b")
_VALUE_KEY = {"NUMBER": "chrome.value_number", "DIGITS": "chrome.value_digits"}
_VALUE_KEY["INTEGER"] = "chrome.type_int"


def _help_option(cmd: Any, names: list[str], words: Catalog) -> None:
    # The help option is made on first use and kept (click's Command.get_help_option).
    option = cmd.get_help_option(cmd.context_class(cmd, help_option_names=names))
    if option is not None:
        option.help = words["chrome.help_option"]


def _chrome(words: Catalog) -> None:
    """The words typer's help screen adds, in the catalog's language (rich is imported here:
    only a help screen needs it)."""
    from typer import rich_utils

    rich_counts_cells()  # a Bengali vowel sign takes a cell: the panels' borders line up
    rich_utils.ARGUMENTS_PANEL_TITLE = words["chrome.arguments"]
    rich_utils.OPTIONS_PANEL_TITLE = words["chrome.options"]
    rich_utils.COMMANDS_PANEL_TITLE = words["chrome.commands"]
    rich_utils.DEFAULT_STRING = words["chrome.default"].replace("{value}", "{}")
    rich_utils.REQUIRED_LONG_STRING = words["chrome.required"]
    rich_utils._print_options_panel = _options_panel


#: Below this many cells for the help column, each option's help goes under its name.
_NARROW = 34


def _options_panel(
    *, name: str, params: list[Any], ctx: Any, markup_mode: Any, console: Any
) -> None:
    """Print one panel of options or arguments, its help wrapped at word boundaries.

    typer's own panel gives an option's names, its negative form, its short names and
    its type a column each, and squeezes the help into what is left: at 60 columns a
    word no longer fits and is cut ("Comma-separ…"). Here an option's names share one
    column (the negative form on a line of its own), and where the help column would
    be narrower than :data:`_NARROW` cells each option's help goes under its name,
    indented, across the panel's width.
    """
    from rich.padding import Padding
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text
    from typer import rich_utils as ru
    from typer.core import TyperArgument

    if not params:
        return
    rows = []
    for param in params:
        if isinstance(param, TyperArgument):
            names = [param.display_name_raw + ("..." if param.nargs != 1 else "")]
        else:
            names = [" ".join(sorted(param.opts, key=lambda o: not o.startswith("--")))]
            if param.secondary_opts:
                names.append(" ".join(param.secondary_opts))
        kind = Text(style=ru.STYLE_TYPES, overflow="fold")
        # a flag takes no value: no "<bool>"; a type's name in the catalog's words
        shown = None if getattr(param, "is_flag", False) else param.display_type_rich(ctx=ctx)
        # "<int range>" is an <integer> too: its bounds are in the option's help, in words
        typed = re.fullmatch(r"<(int|float|str|path)(?: range)?>", shown or "")
        if typed and _Shown.words is not None:
            shown = _Shown.words[f"chrome.type_{typed[1]}"]
        if shown is not None:
            kind.append(shown)
        required = Text(ru.REQUIRED_SHORT_STRING, style=ru.STYLE_REQUIRED_SHORT)
        rows.append(
            (
                required if param.required else Text(""),
                ru.highlighter("\n".join(names)),
                ru.types_highlighter(kind),
                ru._get_parameter_help(param=param, ctx=ctx, markup_mode=markup_mode),
            )
        )
    marks = any(param.required for param in params)
    name_w = max(cell_width(line) for _, n, _, _ in rows for line in n.plain.splitlines())
    kind_w = max(cell_width(k.plain) for _, _, k, _ in rows)
    # The panel's border and padding take 4 cells, each column gap 1.
    help_w = console.width - 4 - name_w - kind_w - 2 - (2 if marks else 0)
    table = Table(highlight=True, show_header=False, expand=True, box=None, padding=(0, 1))
    table.pad_edge = False
    if marks:
        table.add_column(no_wrap=True, width=1)
    if help_w >= _NARROW:
        table.add_column(no_wrap=True, width=name_w)
        table.add_column(no_wrap=True, width=kind_w)
        table.add_column(ratio=1)
        for required, names_t, kind, help_ in rows:
            table.add_row(*([required] if marks else []), names_t, kind, help_)
    else:
        table.add_column(ratio=1)
        for required, names_t, kind, help_ in rows:
            head = Text.assemble(names_t, "  ", kind)
            table.add_row(*([required] if marks else []), head)
            table.add_row(*([Text("")] if marks else []), Padding(help_, (0, 0, 0, 4)))
    console.print(
        Panel(
            table,
            border_style=ru.STYLE_OPTIONS_PANEL_BORDER,
            title=name,
            title_align=ru.ALIGN_OPTIONS_PANEL,
        )
    )


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
