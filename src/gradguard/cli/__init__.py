"""The ``gradguard`` command: a thin shell over the library.

$ gradguard explain --w 2 --h0 1 --steps 5 --lang bn
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

# Each command module registers its commands on `app` when imported.
from gradguard.cli import _experiments, _guard, _lab, _report  # noqa: F401
from gradguard.cli._app import EXTRAS, RuntimeFailure, UsageFailure, app, extra_hint, usage
from gradguard.errors import InputError

__all__ = ["app", "main"]


def _fail(message: str, code: int, lang: str = "en") -> int:
    word = "error"
    if lang != "en":
        from gradguard.explain._catalog import load_catalog

        word = load_catalog(lang, "errors")["frame.error"]
    print(f"gradguard: {word}: {message}", file=sys.stderr)
    return code


def _offending_value(args: list[str], param: object) -> str | None:
    """Find the value the user typed for ``param`` (click's messages do not always echo it)."""
    for opt in getattr(param, "opts", None) or []:
        for i, token in enumerate(args):
            if token == opt and i + 1 < len(args):
                return args[i + 1]
            if token.startswith(opt + "=") and opt.startswith("--"):
                return token[len(opt) + 1 :]
    return None


def _typed_lang(args: list[str]) -> str:
    """Return the ``--lang`` the user typed, if it names a catalog, else ``"en"``."""
    from gradguard.explain._catalog import LANGS

    for i, token in enumerate(args):
        value = args[i + 1] if token == "--lang" and i + 1 < len(args) else None
        if token.startswith("--lang="):
            value = token[len("--lang=") :]
        if value in LANGS:
            return value
    return "en"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status (0 ok, 1 runtime failure, 2 usage error)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = app(args=args, prog_name="gradguard", standalone_mode=False)
    except UsageFailure as e:
        return _fail(str(e), 2, e.lang)
    except InputError as e:
        return _fail(usage(e).args[0], 2)
    except RuntimeFailure as e:
        return _fail(str(e), 1)
    except typer.Exit as e:
        return int(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        print("gradguard: interrupted", file=sys.stderr)
        return 130
    except typer.TyperException as e:  # click's usage errors (exit_code 2) and others
        ctx = getattr(e, "ctx", None)
        where = f" (see 'gradguard {ctx.info_name} --help')" if ctx and ctx.parent else ""
        message = e.format_message().replace("\n", " ")
        value = _offending_value(args, getattr(e, "param", None))
        if value is not None and repr(value) not in message:
            message = message.replace(": ", f": got {value!r}; ", 1)
        return _fail(message + where, getattr(e, "exit_code", 1))
    except BrokenPipeError:
        return 0
    except ModuleNotFoundError as e:
        # A command reached an optional module its extra did not install: say which extra.
        root = (e.name or "").partition(".")[0]
        if root not in EXTRAS:
            raise
        from gradguard.explain._catalog import load_catalog

        command = next((a for a in args if not a.startswith("-")), "")
        lang = _typed_lang(args)
        hint = extra_hint(root, e, lang)
        line = load_catalog(lang).get("cli.command_needs", command=command, hint=hint)
        return _fail(line, 2, lang)
    return int(result) if isinstance(result, int) else 0
