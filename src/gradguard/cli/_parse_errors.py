"""The command line's own usage errors (typer's parser), told in the user's language.

When parsing fails no command has run, so the language is read from the words
typed (``--lang bn`` / ``--lang=bn``), else the locale. English is the parser's
own message; another language builds the line from the error's parts (the option,
the value typed, the rule the value broke) with the ``errors`` catalog's
``usage`` section, and the frame of :class:`gradguard.errors.InputError`.

The parser's exceptions are told apart by class name (``NoSuchOption``,
``BadOptionUsage``…, shared by click and the copy typer vendors), so no private
module is imported.
"""

from __future__ import annotations

import re
from typing import Any

from gradguard.errors import InputError

#: pydantic's error types (typer checks typed values with it) → a rule id and its field.
_PYDANTIC_RULES: dict[str, tuple[str, str | None]] = {
    "int_parsing": ("integer", None),
    "int_from_float": ("integer", None),
    "float_parsing": ("real", None),
    "greater_than_equal": ("at_least", "ge"),
    "less_than_equal": ("at_most", "le"),
    "greater_than": ("above", "gt"),
    "less_than": ("below", "lt"),
}
#: The rule's field each constraint fills.
_FIELD = {"ge": "min", "gt": "min", "le": "max", "lt": "max"}


def typed_lang(args: list[str]) -> str:
    """Return the ``--lang`` the user typed if it names a catalog, else the locale's language."""
    from gradguard.explain._catalog import LANGS, default_lang

    for i, token in enumerate(args):
        value = args[i + 1] if token == "--lang" and i + 1 < len(args) else None
        if token.startswith("--lang="):
            value = token[len("--lang=") :]
        if value in LANGS:
            return value
    return default_lang()


def typed_value(args: list[str], param: object) -> tuple[str, str] | tuple[None, None]:
    """Return ``(option, value)`` as the user typed them for ``param``, else ``(None, None)``."""
    for opt in getattr(param, "opts", None) or []:
        for i, token in enumerate(args):
            if token == opt and i + 1 < len(args):
                return opt, args[i + 1]
            if token.startswith(opt + "=") and opt.startswith("--"):
                return opt, token[len(opt) + 1 :]
    return None, None


def _kind(error: BaseException) -> str:
    names = [cls.__name__ for cls in type(error).__mro__]
    for name in ("NoSuchOption", "BadOptionUsage", "MissingParameter", "BadParameter"):
        if name in names:
            return name
    return "UsageError"


def english_line(error: Any, args: list[str]) -> str:
    """Return the parser's English message, naming the value typed where it did not."""
    message = str(error.format_message()).replace("\n", " ")
    _, value = typed_value(args, getattr(error, "param", None))
    if value is not None and repr(value) not in message:
        message = message.replace(": ", f": got {value!r}; ", 1)
    return message


def translated_line(error: Any, args: list[str], lang: str) -> str:
    """Return the usage error's one line in ``lang`` (not English: see :func:`english_line`)."""
    from gradguard.explain._catalog import load_catalog

    cat = load_catalog(lang, "errors")
    kind = _kind(error)
    param = getattr(error, "param", None)
    message = str(getattr(error, "message", "") or "")
    option = getattr(error, "option_name", None) or next(iter(getattr(param, "opts", [])), "")
    if kind == "NoSuchOption":
        close = getattr(error, "possibilities", None)
        if close:
            return cat.get("usage.no_option_close", option=option, close=", ".join(close))
        return cat.get("usage.no_option", option=option)
    if kind == "BadOptionUsage":
        if "requires" in message:  # "Option '--lang' requires an argument."
            return cat.get("usage.needs_value", option=option)
        if "does not take a value" in message:
            return cat.get("usage.takes_no_value", option=option)
        return cat.get("usage.bad_usage", option=option)
    if kind == "MissingParameter":
        name = option or str(getattr(param, "name", "") or "").upper()
        return cat.get("usage.missing", option=name)
    if kind == "BadParameter":
        typed, value = typed_value(args, param)
        option = typed or option
        rule = _rule(error)
        if rule is not None and value is not None:
            rule_id, fields = rule
            return InputError(option, value, rule_id, **fields).message(lang)
        return cat.get("usage.bad_value", option=option)
    found = re.match(r"No such command '(.*)'\.?$", message)
    if found:
        return cat.get("usage.no_command", command=found[1])
    extra = re.match(r"Got unexpected extra arguments? ?(?:\(s\))? ?\((.*)\)$", message)
    if extra:
        shown = ", ".join(repr(a) for a in extra[1].split())
        return cat.get("usage.extra_args", args=shown)
    return cat["usage.other"]


def _rule(error: BaseException) -> tuple[str, dict[str, Any]] | None:
    """The rule id (and its fields) behind a typed value typer refused, from pydantic's error."""
    cause = error.__cause__
    errors = getattr(cause, "errors", None)
    if not callable(errors):
        return None
    try:
        first = errors()[0]
    except (IndexError, TypeError):
        return None
    found = _PYDANTIC_RULES.get(str(first.get("type")))
    if found is None:
        return None
    rule_id, key = found
    if key is None:
        return rule_id, {}
    bound = (first.get("ctx") or {}).get(key)
    return (rule_id, {_FIELD[key]: bound}) if bound is not None else None


def help_hint(error: Any, args: list[str], commands: set[str], lang: str) -> str:
    """Return " (see 'gradguard X --help')" in ``lang`` for the error's command.

    English names it where the parser knew the command; another language always
    points to some help, the command's if one was typed (one of ``commands``).
    """
    ctx = getattr(error, "ctx", None)
    if lang == "en":
        return f" (see 'gradguard {ctx.info_name} --help')" if ctx and ctx.parent else ""
    from gradguard.explain._catalog import load_catalog

    name = ctx.info_name if ctx and ctx.parent else next((a for a in args if a in commands), "")
    command = f"gradguard {name}" if name else "gradguard"
    return " " + load_catalog(lang, "errors").get("usage.see_help", command=command)
