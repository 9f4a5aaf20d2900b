"""The typer application every command module registers on, and the shared CLI plumbing.

Conventions (every command follows them):

- results on stdout (``--json`` where a machine reads them), diagnostics and
  progress on stderr;
- exit 0 on success, 1 on a runtime failure, 2 on a usage error;
- a usage error is one line on stderr: ``gradguard: error: --steps must be a
  whole number ≥ 1, got '0'.`` — never a traceback;
- heavy imports (torch, matplotlib) happen inside the command functions, so
  ``gradguard explain`` starts without them.
"""

from __future__ import annotations

import importlib
from contextvars import ContextVar
from typing import Any

import typer
from typer.core import TyperGroup

from gradguard.errors import InputError

#: ``gradguard --help`` lists the commands as the story goes: the lab, the remedies
#: measured, the guard, then what shows it all (a command not named here comes last).
COMMAND_ORDER = (
    "explain",
    "table",
    "sgd",
    "clip",
    "exercises",
    "flow",
    "remedies",
    "replay",
    "doctor",
    "guard",
    "report",
    "serve",
    "tour",
)


class _StoryOrder(TyperGroup):
    def list_commands(self, ctx: Any) -> list[str]:  # typer vendors click: its Context
        rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
        return sorted(super().list_commands(ctx), key=lambda n: rank.get(n, len(rank)))


app = typer.Typer(
    name="gradguard",
    cls=_StoryOrder,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Failure(Exception):
    """A failure the CLI reports in one line, in the command's language.

    Args:
      message: the line, already in ``lang``.
      lang: the language the command speaks (its ``--lang``).
    """

    exit_code = 1

    def __init__(self, message: str, lang: str = "en") -> None:
        super().__init__(message)
        self.lang = lang


class UsageFailure(Failure):
    """Raised by commands for a usage error (exit 2)."""

    exit_code = 2


class RuntimeFailure(Failure):
    """Raised by commands for a failure that is not the user's input (exit 1)."""


class Interrupted(Exception):
    """Raised by a command that Ctrl-C stopped and that says what it kept (exit 130).

    Args:
      message: the whole line (``gradguard: …``), already in the command's language.
    """


def lang_option() -> Any:
    """Return the ``--lang`` option, the one definition every command that speaks declares.

    Its value goes through :func:`command_lang`; ``None`` means "not given". Its help and
    its values (the languages that have catalogs) are filled in by :mod:`gradguard.cli._help`.
    """
    return typer.Option(None, "--lang", metavar="LANG", show_default=False)


def command_lang(lang: str | None) -> str:
    """Return the command's language: ``--lang``, else the locale's (a bad one is told in the
    locale's).

    Raises:
      UsageFailure: ``--lang`` names no catalog.
    """
    from gradguard._catalog import default_lang
    from gradguard._validate import check_lang

    try:
        return check_lang(lang if lang is not None else default_lang())
    except InputError as e:
        raise usage(e, default_lang()) from None


def cannot_write(path: object, error: OSError, lang: str = "en") -> RuntimeFailure:
    """Return the failure "cannot write PATH: REASON." in ``lang`` (the OS's reason told in it)."""
    from gradguard._catalog import load_catalog
    from gradguard.errors import os_reason

    line = load_catalog(lang).get("cli.cannot_write", path=path, reason=os_reason(error, lang))
    return RuntimeFailure(line, lang)


#: The library's parameter names → the flags a user types, for every command. A command
#: whose flag for a parameter differs passes it to :func:`usage` (``clip``'s ``c`` is ``--c``).
FLAGS: dict[str, str] = {
    # the seed's system (lab, explain, report)
    "w": "--w",
    "h0": "--h0",
    "T": "--steps",
    "Ts": "--steps",
    "eta": "--lr",
    "c": "--clip",
    "clip": "--clip",
    "table_T": "--table-steps",
    "iters": "--iters",
    "loss": "--loss",
    "y": "--target",
    "low_lr": "--low-lr",
    "g": "--g",
    "by": "--by",
    "mode": "--mode",
    "lang": "--lang",
    "format": "--format",
    "abbreviate": "--abbreviate",
    # files and the explorer
    "out": "--out",
    "plot_format": "--plot-format",
    "plots_dir": "--plots",
    "port": "--port",
    # experiments
    "model": "--model",
    "init": "--init",
    "hidden": "--hidden",
    "rho": "--rho",
    "batch": "--batch",
    "inputs": "--inputs",
    "seed": "--seed",
    "seeds": "--seeds",
    "experiment": "--experiments",
    "config": "--configs",
    "steps": "--train-steps",  # optimizer steps (remedies); --steps is T
    "lr": "--lr",
    "dtype": "--dtype",
    "rows": "--rows",
    "preset": "--preset",
    "budget": "--budget",
    "device": "--device",
    "executor": "--executor",
    # the guard's rules (replay)
    "max_norm": "--max-norm",
    "percentile": "--percentile",
    "history_size": "--history",
    "alpha": "--alpha",
    "z_thresh": "--z-thresh",
    "warmup_steps": "--warmup",
    "window": "--window",
    "k": "--k",
    "zclip_cap": "--zclip-cap",
}


#: The command line as typed (:func:`gradguard.cli.main` sets it): an error names an option
#: by the spelling the user typed (``-T``, not ``--steps``).
TYPED_ARGS: ContextVar[tuple[str, ...]] = ContextVar("gradguard_typed_args", default=())


def usage(error: InputError, lang: str = "en", **flags: str) -> UsageFailure:
    """Turn a library :class:`InputError` into a CLI usage failure naming the user's flag.

    Args:
      error: the library's error (naming ``T``, ``eta``, ``c``…).
      lang: the language to say it in.
      **flags: this command's flags where they differ from :data:`FLAGS` (``c="--c"``).
    """
    flag = flags.get(error.argument) or FLAGS.get(error.argument, error.argument)
    return UsageFailure(error.message(lang, typed_flag(flag)), lang)


def typed_flag(flag: str, args: tuple[str, ...] | None = None) -> str:
    """Return ``flag`` as the user typed it: ``-T`` where ``-T 0`` stood for ``--steps``.

    Args:
      flag: the option's long name (``--steps``), or any name that is not an option.
      args: the command line (default: :data:`TYPED_ARGS`); the option's spellings are
        those of the command named first in it. The last spelling typed wins, as click
        keeps the last value.
    """
    args = TYPED_ARGS.get() if args is None else args
    if not flag.startswith("-") or not args:
        return flag
    spellings = _spellings(flag, args)
    typed = flag
    for arg in args:
        if arg == "--":
            break
        for name in spellings:
            long_form = name.startswith("--") and arg.startswith(name + "=")
            short_form = len(name) == 2 and arg.startswith(name) and not arg.startswith("--")
            if arg == name or long_form or short_form:
                typed = name
    return typed


def _spellings(flag: str, args: tuple[str, ...]) -> tuple[str, ...]:
    """Every spelling of the option ``flag`` in the command ``args`` names (``-T, --steps``)."""
    group: Any = typer.main.get_command(app)
    name = next((a for a in args if not a.startswith("-")), None)
    command = getattr(group, "commands", {}).get(name)
    for param in getattr(command, "params", ()):
        opts = (*param.opts, *param.secondary_opts)
        if flag in opts:
            return tuple(o for o in opts if o.startswith("-"))
    return (flag,)


#: The extra (``pip install 'gradguard[EXTRA]'``) that installs each optional module.
EXTRAS = {"torch": "torch", "matplotlib": "plot", "distributed": "dask", "ray": "ray"}


def missing_extra(module: str) -> str | None:
    """Return why ``module`` (a key of :data:`EXTRAS`) is unusable and how to fix it, or ``None``.

    Imports the module: a broken installation counts as missing, with its error.
    """
    try:
        importlib.import_module(module)
    except ImportError as e:
        return extra_hint(module, e)
    return None


def extra_hint(module: str, error: BaseException | None = None, lang: str = "en") -> str:
    """Say which extra installs ``module``: "needs the [torch] extra (…): pip install …".

    Args:
      module: a key of :data:`EXTRAS`.
      error: the import's error; named when it says more than "No module named …".
      lang: the language to say it in (the command's ``--lang``).
    """
    from gradguard._catalog import load_catalog

    extra = EXTRAS[module]
    # "No module named 'torch'" says nothing the hint does not; a broken install's error does.
    plain = isinstance(error, ModuleNotFoundError) and error.name == module
    why = f" ({error})" if error is not None and not plain else ""
    return load_catalog(lang).get("cli.needs_extra", extra=extra, why=why)


def require_extra(module: str, command: str, lang: str = "en") -> None:
    """Raise a one-line :class:`UsageFailure`, in ``lang``, if ``command`` lacks ``module``."""
    try:
        importlib.import_module(module)
    except ImportError as e:
        from gradguard._catalog import load_catalog

        hint = extra_hint(module, e, lang)
        line = load_catalog(lang).get("cli.command_needs", command=command, hint=hint)
        raise UsageFailure(line, lang) from None


def _version(value: bool) -> None:
    if value:
        from gradguard import __version__

        print(f"gradguard {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_version,
        is_eager=True,
    ),
) -> None:
    """The root of ``gradguard``: its help is the ``cli`` catalog's ``[app]``."""
