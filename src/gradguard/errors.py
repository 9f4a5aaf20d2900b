"""Errors that say what went wrong, why, and how to fix it — in the user's language.

Every check on public input raises :class:`InputError` (a ``ValueError``) with a
one-line message naming the argument, the value received and the rule, e.g.::

    T must be a whole number ≥ 1, got '-3'.

The error carries its parts — the argument, the value, a rule id with the rule's
fields, an optional hint id — and its words come from the ``errors`` message
catalog (``gradguard/explain/catalogs/errors/<lang>.toml``): ``str(error)`` is
English, :meth:`InputError.message` tells it in any language that has a catalog.
Arguments are named as the library names them (``T``, ``eta``, ``c``, ``w``,
``h0``); the CLI renames them to its flags (``--steps``, ``--lr``, ``--clip``)
when it prints the line on stderr and exits with status 2. Library callers catch
it as an ordinary ``ValueError``.

A file the user gave that gradguard cannot read (a guard log, a ``summary.csv``,
a results folder) raises a :class:`FileError` the same way: where (the path, or
``path:line``), a problem id (the catalog's ``[files]``) and its fields. A call made
at a moment it cannot be carried out — a trainer callback used before it was set up,
a closed log written to, a scaler that stepped before the guard — raises a
:class:`CallError` (a ``RuntimeError``): a problem id of the catalog's ``[calls]``.

The checks themselves (a whole number, a threshold, a fraction, one of a few
choices…) live in :mod:`gradguard._validate`, whose docstring says how to add a
rule.
"""

from __future__ import annotations

import errno
from typing import Any

from gradguard._catalog import SOURCE, Catalog, fill, load_catalog

__all__ = [
    "CallError",
    "FileError",
    "InputError",
    "call_problems",
    "file_problems",
    "hint_ids",
    "os_reason",
    "rule_ids",
]

_ERRORS = "errors"


def _english() -> Catalog:
    return load_catalog(SOURCE, _ERRORS)


def rule_ids() -> set[str]:
    """Every rule id the errors catalog tells (its ``[rules]`` and ``[sentences]``)."""
    cat = _english()
    return set(cat.section("rules")) | set(cat.section("sentences"))


def hint_ids() -> set[str]:
    """Every hint id the errors catalog tells (its ``[hints]``)."""
    return set(_english().section("hints"))


def file_problems() -> set[str]:
    """Every problem id of :class:`FileError` (the errors catalog's ``[files]``)."""
    return set(_english().section("files"))


def call_problems() -> set[str]:
    """Every problem id of :class:`CallError` (the errors catalog's ``[calls]``)."""
    return set(_english().section("calls"))


class InputError(ValueError):
    """A public argument broke its rule.

    Args:
      argument: the parameter's name in the library (``"T"``, ``"eta"``, ``"max_norm"``).
      value: what was received (shown with ``repr`` for strings).
      rule: a rule id of the errors catalog (:func:`rule_ids`), told in any language.
        (Free English text — ``"a whole number ≥ 1"`` — is still accepted from code not
        yet moved to rule ids, and is told in English whatever the language.)
      hint: an optional hint id (:func:`hint_ids`) saying how to fix it.
      **fields: the values the rule's and the hint's ``{placeholders}`` take.

    Attributes:
      argument, value, rule_id, hint_id, fields: the parts above (``rule_id`` and
        ``hint_id`` are ``None`` for free text).
      rule, hint: the rule and the hint as English text.

    Raises:
      TypeError: a field the rule or the hint needs is missing (a caller's mistake).
    """

    def __init__(
        self, argument: str, value: object, rule: str, hint: str = "", **fields: Any
    ) -> None:
        self.argument = argument
        self.value = value
        self.rule_id = rule if rule in rule_ids() else None
        self.hint_id = hint if hint in hint_ids() else None
        self.fields = fields
        english = _english()
        told = _told(fields, SOURCE)
        try:
            self.rule = english.get(f"rules.{rule}", **told) if self.rule_id else rule
            self.hint = english.get(f"hints.{hint}", **told) if self.hint_id else hint
        except KeyError as e:  # a caller's mistake, not the user's: say which field is missing
            raise TypeError(f"InputError({rule!r}, {hint!r}) needs the field {e}") from None
        super().__init__(self.message())

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by the parts (a process pool sends the error back whole, not a TypeError)."""
        args = (self.argument, self.value, self.rule_id or self.rule, self.hint_id or self.hint)
        return (_rebuild, (type(self), args, self.fields), self.__dict__)

    def message(self, lang: str = SOURCE, argument: str | None = None) -> str:
        """Return the one-line message in ``lang``, naming ``argument`` (default: the parameter).

        The rule's phrase goes in the catalog's frame (``frame.message``), or the rule is
        a whole sentence of its own (``[sentences]``) where the language words it better
        so; the hint follows. An error whose rule or hint is free text (no id) is told
        in English.
        """
        name = self.argument if argument is None else argument
        shown = repr(self.value) if isinstance(self.value, str) else str(self.value)
        free = self.rule_id is None or (self.hint and self.hint_id is None)
        cat = _english() if free else load_catalog(lang, _ERRORS)
        fields = _told(self.fields, cat.lang)
        sentence = cat.section("sentences").get(self.rule_id or "")
        if sentence is not None:  # a rule that reads best as a sentence of its own
            text = fill(sentence, argument=name, value=shown, **fields)
        else:
            rule = cat.get(f"rules.{self.rule_id}", **fields) if self.rule_id else self.rule
            text = cat.get("frame.message", argument=name, rule=rule, value=shown)
        if self.hint_id:
            text += " " + cat.get(f"hints.{self.hint_id}", **fields)
        elif self.hint:
            text += " " + self.hint
        return text

    def renamed(self, argument: str) -> InputError:
        """Return the same error naming ``argument`` instead (a CLI flag, say)."""
        rule = self.rule_id or self.rule
        hint = self.hint_id or self.hint
        return InputError(argument, self.value, rule, hint, **self.fields)


class FileError(ValueError):
    """An input file is missing or malformed; the message names the file (and the line).

    Args:
      where: the path, or ``path:line`` for a bad line.
      problem: a problem id of the errors catalog's ``[files]`` (:func:`file_problems`).
      cause: the :class:`InputError` behind a bad record, told in the same language.
      **fields: the values the problem's ``{placeholders}`` take; ``reason`` is
        Python's own English detail (a JSON or CSV parser's), which another language's
        catalog may leave out.

    Attributes:
      where, problem, cause, fields: the parts above.
    """

    def __init__(
        self, where: object, problem: str, cause: InputError | None = None, **fields: Any
    ) -> None:
        if problem not in file_problems():  # a caller's mistake, not the user's
            raise TypeError(f"FileError: unknown problem {problem!r}")
        self.where = str(where)
        self.problem = problem
        self.cause = cause
        self.fields = fields
        super().__init__(self.message())

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by the parts, as :meth:`InputError.__reduce__` (subclasses too)."""
        args = (self.where, self.problem, self.cause)
        return (_rebuild, (type(self), args, self.fields), self.__dict__)

    def message(self, lang: str = SOURCE) -> str:
        """Return the one-line message in ``lang``: ``"{where}: {problem}"``."""
        fields = _told(self.fields, lang)
        if self.cause is not None:  # "… got 'fly'." inside parentheses: no stray full stop
            fields["reason"] = _without_stop(self.cause.message(lang))
        cat = load_catalog(lang, _ERRORS)
        problem = cat.get(f"files.{self.problem}", **fields)
        return cat.get("frame.file", where=self.where, problem=problem)


class CallError(RuntimeError):
    """A call gradguard cannot carry out now: not a bad value, the wrong moment or state.

    A trainer callback used before the trainer set it up, a closed log written to, an
    AMP scaler that stepped before the guard measured, a non-finite norm the caller
    asked to be stopped at. ``str(error)`` is English; :meth:`message` tells it in any
    language with a catalog.

    Args:
      problem: a problem id of the errors catalog's ``[calls]`` (:func:`call_problems`).
      **fields: the values the problem's ``{placeholders}`` take.

    Attributes:
      problem, fields: the parts above.

    Raises:
      TypeError: an unknown problem id or a missing field (a caller's mistake).
    """

    def __init__(self, problem: str, **fields: Any) -> None:
        if problem not in call_problems():  # a caller's mistake, not the user's
            raise TypeError(f"CallError: unknown problem {problem!r}")
        self.problem = problem
        self.fields = fields
        try:
            text = self.message()
        except KeyError as e:
            raise TypeError(f"CallError({problem!r}) needs the field {e}") from None
        super().__init__(text)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by the parts, as :meth:`InputError.__reduce__` (subclasses too)."""
        return (_rebuild, (type(self), (self.problem,), self.fields), self.__dict__)

    def message(self, lang: str = SOURCE) -> str:
        """Return the message in ``lang``."""
        cat = load_catalog(lang, _ERRORS)
        return cat.get(f"calls.{self.problem}", **_told(self.fields, lang))


def _rebuild(cls: type[Exception], args: tuple[Any, ...], fields: dict[str, Any]) -> Exception:
    """``cls(*args, **fields)``: how a pickled :class:`InputError` or :class:`FileError` returns."""
    return cls(*args, **fields)


def os_reason(error: OSError, lang: str = SOURCE) -> str:
    """Say why the operating system refused, in ``lang``: ``"Permission denied"``.

    The ``errors`` catalog's ``[os]`` words an ``errno`` by its name (``EACCES``,
    ``ENOSPC``…); any other is ``frame.os_other`` with the system's own (English)
    words ``{strerror}`` and the code's name ``{name}`` (``ELOOP``).
    """
    strerror = str(error.strerror or error)
    if error.errno is None:
        return strerror
    cat = load_catalog(lang, _ERRORS)
    name = errno.errorcode.get(error.errno, str(error.errno))
    phrase = cat.section("os").get(name)
    if phrase is not None:
        return phrase
    return cat.get("frame.os_other", name=name, strerror=strerror)


def _without_stop(sentence: str) -> str:
    """``sentence`` without its closing full stop (``.``, the danda ``।``, any script's)."""
    import unicodedata

    while sentence and unicodedata.category(sentence[-1]) == "Po" and sentence[-1] not in ")\"'":
        sentence = sentence[:-1]
    return sentence


def _told(fields: dict[str, Any], lang: str) -> dict[str, Any]:
    """``fields`` with every :class:`OSError` replaced by its reason in ``lang``."""
    return {k: os_reason(v, lang) if isinstance(v, OSError) else v for k, v in fields.items()}
