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

import typer

from gradguard.errors import InputError

app = typer.Typer(
    name="gradguard",
    help=(
        "The exploding-gradient problem, exact, visible and fixable.\n\n"
        "Start with `gradguard explain` (the seed's lesson, computed live) "
        "or `gradguard tour` (the whole story, end to end)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class UsageFailure(Exception):
    """Raised by commands for a usage error the CLI reports in one line (exit 2)."""


class RuntimeFailure(Exception):
    """Raised by commands for a failure that is not the user's input (exit 1)."""


def usage(error: InputError, flag: str | None = None) -> UsageFailure:
    """Turn a library :class:`InputError` into a CLI usage failure naming ``flag``."""
    return UsageFailure(str(error.renamed(flag) if flag else error))


#: The extra (``pip install 'gradguard[EXTRA]'``) that installs each optional module.
EXTRAS = {"torch": "torch", "matplotlib": "plot"}


def missing_extra(module: str) -> str | None:
    """Return why ``module`` (a key of :data:`EXTRAS`) is unusable and how to fix it, or ``None``.

    Imports the module: a broken installation counts as missing, with its error.
    """
    try:
        importlib.import_module(module)
    except ImportError as e:
        return extra_hint(module, e)
    return None


def extra_hint(module: str, error: BaseException | None = None) -> str:
    """Say which extra installs ``module``: "needs the [torch] extra (…): pip install …"."""
    extra = EXTRAS[module]
    # "No module named 'torch'" says nothing the hint does not; a broken install's error does.
    plain = isinstance(error, ModuleNotFoundError) and error.name == module
    why = f" ({error})" if error is not None and not plain else ""
    return f"needs the [{extra}] extra{why}: pip install 'gradguard[{extra}]'"


def require_extra(module: str, command: str) -> None:
    """Raise a one-line :class:`UsageFailure` if ``command`` cannot import ``module``."""
    hint = missing_extra(module)
    if hint is not None:
        raise UsageFailure(f"`gradguard {command}` {hint}.")


def _version(value: bool) -> None:
    if value:
        from gradguard import __version__

        print(f"gradguard {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """The exploding-gradient problem, exact, visible and fixable."""
