"""The command line's own usage errors (typer's parser), told in the user's language.

When parsing fails no command has run, so the language is read from the words
typed (``--lang bn`` / ``--lang=bn``), else the locale. The line is built from
the error's parts (the option, the value typed, the rule the value broke) with
the ``errors`` catalog's ``[usage]`` section, and a value the parser refused is
told as an :class:`gradguard.errors.InputError` (``--port must be a number ≤
65535, got '99999'.``).

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
    from gradguard._catalog import default_lang, languages

    for i, token in enumerate(args):
        value = args[i + 1] if token == "--lang" and i + 1 < len(args) else None
        if token.startswith("--lang="):
            value = token[len("--lang=") :]
        if value in languages():
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


def usage_line(error: Any, args: list[str], lang: str) -> str:
    """Return the parser's usage error as one line in ``lang``."""
    from gradguard._catalog import load_catalog

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
        if getattr(param, "param_type_name", "") == "argument":
            return cat.get("usage.missing_argument", name=getattr(param, "name", "") or "")
        name = option or str(getattr(param, "name", "") or "").upper()
        return cat.get("usage.missing", option=name)
    if kind == "BadParameter":
        typed, value = typed_value(args, param)
        option = typed or option
        rule = _rule(error)
        if rule is not None and value is not None:
            rule_id, fields = rule
            return InputError(option, value, rule_id, **fields).message(lang)
        # The parser's own (English) detail: another language's catalog may leave it out.
        return cat.get("usage.bad_value", option=option, detail=message)
    found = re.match(r"No such command '(.*?)'\.?(?: Did you mean (.*)\?)?$", message)
    if found and found[2]:  # typer's suggestions: "Did you mean 'explain', 'replay'?"
        names = re.findall(r"'[^']*'", found[2]) or [found[2]]
        close = names[0]
        if len(names) > 1:
            close = cat.get("rules.either", a=", ".join(names[:-1]), b=names[-1])
        return cat.get("usage.no_command_close", command=found[1], close=close)
    if found:
        return cat.get("usage.no_command", command=found[1])
    extra = re.match(r"Got unexpected extra arguments? ?(?:\(s\))? ?\((.*)\)$", message)
    if extra:
        shown = ", ".join(repr(a) for a in extra[1].split())
        return cat.get("usage.extra_args", args=shown, typed=extra[1])
    return cat.get("usage.other", detail=message)


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
    """Return " (see 'gradguard X --help')" in ``lang``: the error's command, else the one typed.

    ``commands`` are the command names (the first one of ``args`` among them is named
    when the parser stopped before reaching it); with none, ``gradguard --help``.
    """
    from gradguard._catalog import load_catalog

    ctx = getattr(error, "ctx", None)
    name = ctx.info_name if ctx and ctx.parent else next((a for a in args if a in commands), "")
    command = f"gradguard {name}" if name else "gradguard"
    return " " + load_catalog(lang, "errors").get("usage.see_help", command=command)
