"""The ``gradguard`` command: a thin shell over the library.

$ gradguard explain --w 2 --h0 1 --steps 5 --lang bn
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

# Each command module registers its commands on `app` when imported.
from gradguard.cli import _doctor, _experiments, _guard, _lab, _report, _teach  # noqa: F401
from gradguard.cli._app import (
    EXTRAS,
    TYPED_ARGS,
    Failure,
    Interrupted,
    app,
    extra_hint,
    usage,
)
from gradguard.cli._help import localized_command
from gradguard.cli._parse_errors import help_hint, typed_lang, usage_line
from gradguard.errors import InputError

__all__ = ["app", "main"]


def _fail(message: str, code: int, lang: str) -> int:
    from gradguard._catalog import load_catalog

    word = load_catalog(lang, "errors")["frame.error"]
    print(f"gradguard: {word}: {message}", file=sys.stderr)
    return code


def _command_names() -> set[str]:
    return {c.name or c.callback.__name__ for c in app.registered_commands if c.callback}


def _interrupted(args: list[str]) -> int:
    """Say on stderr, in the command's language, that Ctrl-C stopped it; return 130."""
    from gradguard._catalog import load_catalog

    print(f"gradguard: {load_catalog(typed_lang(args))['cli.interrupted']}", file=sys.stderr)
    return 130


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status (0 ok, 1 runtime failure, 2 usage error)."""
    args = list(sys.argv[1:] if argv is None else argv)
    typed = TYPED_ARGS.set(tuple(args))  # an error names an option as the user spelled it
    try:
        return _main(args)
    finally:
        TYPED_ARGS.reset(typed)


def _main(args: list[str]) -> int:
    try:
        command = localized_command(typed_lang(args))  # --help in the command's language
        result = command.main(args=args, prog_name="gradguard", standalone_mode=False)
    except Failure as e:  # UsageFailure (exit 2) or RuntimeFailure (exit 1)
        return _fail(str(e), e.exit_code, e.lang)
    except InputError as e:
        lang = typed_lang(args)
        return _fail(usage(e, lang).args[0], 2, lang)
    except Interrupted as e:  # a command that says what it kept
        print(e, file=sys.stderr)
        return 130
    except typer.Exit as e:
        return int(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        return _interrupted(args)
    except typer.TyperException as e:  # the parser's usage errors (exit_code 2) and others
        lang = typed_lang(args)
        line = usage_line(e, args, lang)
        hint = help_hint(e, args, _command_names(), lang)
        return _fail(line + hint, getattr(e, "exit_code", 1), lang)
    except BrokenPipeError:
        return 0
    except ModuleNotFoundError as e:
        # A command reached an optional module its extra did not install: say which extra.
        root = (e.name or "").partition(".")[0]
        if root not in EXTRAS:
            raise
        from gradguard._catalog import load_catalog

        command = next((a for a in args if not a.startswith("-")), "")
        lang = typed_lang(args)
        hint = extra_hint(root, e, lang)
        line = load_catalog(lang).get("cli.command_needs", command=command, hint=hint)
        return _fail(line, 2, lang)
    if result == 130:  # typer's answer to a Ctrl-C: the exit status, said nowhere
        return _interrupted(args)
    return int(result) if isinstance(result, int) else 0
