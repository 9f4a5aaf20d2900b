"""Errors that say what went wrong, why, and how to fix it — in the user's language.

Every check on public input raises :class:`InputError` (a ``ValueError``) with a
one-line message naming the argument, the value received and the rule, e.g.::

    T must be a whole number ≥ 1, got '-3'.

The error carries its parts — the argument, the value, a rule id from
:data:`RULES` with the rule's fields, an optional hint id from :data:`HINTS` —
so it can be told in another language: :meth:`InputError.message` renders it in
English (``str(error)``) or from the ``errors`` message catalog
(``gradguard/explain/catalogs/errors/bn.toml``). Arguments are named as the
library names them (``T``, ``eta``, ``c``, ``w``, ``h0``); the CLI renames them
to its flags (``--steps``, ``--lr``, ``--clip``) when it prints the line on
stderr and exits with status 2. Library callers catch it as an ordinary
``ValueError``.

A file the user gave that gradguard cannot read (a guard log, a ``summary.csv``,
a results folder) raises a :class:`FileError` the same way: where (the path, or
``path:line``), a problem id from :data:`FILE_PROBLEMS` and its fields, told in
English (``str(error)``) or from the catalog's ``files`` section.

The checks themselves (a whole number, one of a few choices, a list of whole
numbers) live in :mod:`gradguard._validate`.
"""

from __future__ import annotations

import errno
from typing import Any

__all__ = ["FILE_PROBLEMS", "HINTS", "RULES", "FileError", "InputError", "os_reason"]

#: What an argument must be, by rule id: English phrases, ``{fields}`` filled from the error.
RULES: dict[str, str] = {
    "whole": "a whole number ≥ {min}",
    "whole_range": "a whole number from {min:,} to {max:,}",
    "whole_digits": "a whole number ≥ {min} with at most {digits} digits",
    "whole_or_none": "a whole number ≥ 1 or None",
    "whole_between": "a whole number from {min} to {max}",
    "sequence_length": "a whole number ≥ {min} (the sequence length)",
    "whole_list_min": "a comma-separated list of whole numbers ≥ {min}",
    "nonempty_list": "a non-empty list of whole numbers ≥ {min}",
    "whole_list": "a comma-separated list of whole numbers ≥ 1, like 5,10,20",
    "whole_array": "whole numbers ≥ {min}",
    "choice": "one of {choices}",
    "integer": "a whole number",
    "real": "a number",
    "at_least": "a number ≥ {min}",
    "at_most": "a number ≤ {max}",
    "above": "a number > {min}",
    "below": "a number < {max}",
    "either": "{a} or {b}",
    "number": "a finite number such as 2, -0.9, 1e-3 or 3/7",
    "number_digits": "a finite number such as 2, -0.9, 1e-3 or 3/7 (at most 4300 digits)",
    "fraction": "a fraction p/q with q ≠ 0",
    "exponent": "a number with an exponent between -{limit} and {limit}",
    "positive": "a number > 0",
    "finite": "a finite number",
    "positive_finite": "a finite number > 0",
    "nonnegative_finite": "a finite number ≥ 0",
    "percent": "a number in (0, 100]",
    "open_unit": "a number in (0, 1)",
    "half_open_unit": "a number in [0, 1)",
    "learning_rate": "a finite number > 0 (the learning rate)",
    "rho_needed": "given with scaled-orthogonal (its spectral radius, a number > 0)",
    "cell_list": "a comma-separated list of cells",
    "init_list": "a comma-separated list of inits",
    "plot_path": "a path ending in .png or .svg",
    "path_in_folder": "a path in an existing folder",
    "threshold": "a finite number > 0 (the clipping threshold)",
    "finite_array": "finite everywhere",
    "in_range": "within {dtype}'s range ±{max:.4g}",
    "not_tiny": "large enough not to round to 0 in {dtype} (its smallest value is {tiny:.2g})",
    "vector_range": "a vector of numbers within float64's ±1.8e308",
    "exact_state": (
        "small enough for an exact state h_T of at most {max:,} digits "
        "(this one would have about {digits:,})"
    ),
    "exact_gradient": (
        "small enough for an exact gradient of at most {max:,} digits "
        "(this one would have about {digits:,})"
    ),
    "exact_row": (
        "small enough for an exact table row of at most {max:,} digits "
        "(this one would have about {digits:,})"
    ),
    "trace_T": "at most {max:,} for a step-by-step trace",
    "trace_size": (
        "small enough for a trace of at most {max:,} digits in all "
        "(this one would have about {total:,})"
    ),
    "lesson_T": "at most {max:,} for the lesson (it lists every state)",
    "file_path": "a file path, not a folder",
    "file_in_folder": "a file in an existing folder",
    "folder": "a folder (it exists and is a file)",
    "folder_creatable": "a folder gradguard can create",
    "folder_writable": "a folder gradguard can write",
    "folder_usable": "a folder gradguard can create and write",
    "existing_folder": "an existing folder",
    "port": "a whole number from 0 to 65535 (0 = choose a free port)",
    "free_port": "a free port",
    "workers": "a whole number from 1 to {max} (worker processes)",
}

#: How to fix it, by hint id: English sentences, ``{fields}`` filled from the error.
HINTS: dict[str, str] = {
    "use_log": "Use mode='log' (--mode log) for the sign and log10 of the value.",
    "use_log_gradient": "Use mode='log' (--mode log) for the gradient alone.",
    "trace_use_table": (
        "Use `gradguard table --mode log` (or gradient(..., mode='log')) for larger T."
    ),
    "lesson_use_table": "For larger T use `gradguard table --mode log --steps T`.",
    "lesson_abbreviate": (
        "Pass abbreviate=N (--abbreviate N) to get long values as ≈ approximations,"
        " or use `gradguard table --mode log` for the gradient alone."
    ),
    "table_T_too_large": (
        "Leave it out of the lesson's table; `gradguard table --mode log` shows any T."
    ),
    "create_folder": "Create '{folder}' first.",
    "add_rho": "Add e.g. --rho 2.",
    "os_error": "({reason}).",
}

_FRAME = "{argument} must be {rule}, got {value}."


class InputError(ValueError):
    """A public argument broke its rule.

    Args:
      argument: the parameter's name in the library (``"T"``, ``"eta"``, ``"max_norm"``).
      value: what was received (shown with ``repr`` for strings).
      rule: a rule id from :data:`RULES` (told in any language), or else what the
        argument must be as an English phrase: ``"a whole number ≥ 1"``.
      hint: an optional hint id from :data:`HINTS`, or a second English sentence
        saying how to fix it.
      **fields: the values the rule's and the hint's ``{placeholders}`` take.

    Attributes:
      argument, value, rule_id, hint_id, fields: the parts above (``rule_id`` and
        ``hint_id`` are ``None`` for free English text).
      rule, hint: the rule and the hint as English text.
    """

    def __init__(
        self, argument: str, value: object, rule: str, hint: str = "", **fields: Any
    ) -> None:
        self.argument = argument
        self.value = value
        self.rule_id = rule if rule in RULES else None
        self.hint_id = hint if hint in HINTS else None
        self.fields = fields
        told = _told(fields, "en")
        try:
            self.rule = RULES[rule].format(**told) if self.rule_id else rule
            self.hint = HINTS[hint].format(**told) if self.hint_id else hint
        except KeyError as e:  # a caller's mistake, not the user's: say which field is missing
            raise TypeError(f"InputError({rule!r}, {hint!r}) needs the field {e}") from None
        super().__init__(self.message())

    def message(self, lang: str = "en", argument: str | None = None) -> str:
        """Return the one-line message in ``lang``, naming ``argument`` (default: the parameter).

        Bengali comes from the ``errors`` catalog: the rule's phrase in the frame
        ``frame.message``, or a whole sentence (``sentences``) where the language
        words the rule better so. An error whose rule is free English text (no
        rule id) is told in English whatever ``lang`` is.
        """
        name = self.argument if argument is None else argument
        shown = repr(self.value) if isinstance(self.value, str) else str(self.value)
        if lang == "en" or self.rule_id is None or (self.hint and self.hint_id is None):
            text = _FRAME.format(argument=name, rule=self.rule, value=shown)
            return f"{text} {self.hint}" if self.hint else text
        from gradguard.explain._catalog import load_catalog

        cat = load_catalog(lang, "errors")
        fields = _told(self.fields, lang)
        sentence = cat.section("sentences").get(self.rule_id)
        if sentence is not None:  # a rule that reads best as a sentence of its own
            text = sentence.format(argument=name, value=shown, **fields)
        else:
            rule = cat.get(f"rules.{self.rule_id}", **fields)
            text = cat.get("frame.message", argument=name, rule=rule, value=shown)
        if self.hint_id:
            text += " " + cat.get(f"hints.{self.hint_id}", **fields)
        return text

    def renamed(self, argument: str) -> InputError:
        """Return the same error naming ``argument`` instead (a CLI flag, say)."""
        rule = self.rule_id or self.rule
        hint = self.hint_id or self.hint
        return InputError(argument, self.value, rule, hint, **self.fields)


#: What is wrong with an input file, by problem id: English text after ``"{where}: "``.
FILE_PROBLEMS: dict[str, str] = {
    "missing": "no such file or folder (give a results folder or a JSONL log).",
    "no_log": "no such log file (expected a JSONL log from gradguard).",
    "log_is_folder": "is a folder; give the path of a JSONL log file inside it.",
    "no_results": (
        "no summary.csv and no *.jsonl logs in this folder "
        "(expected the output of `gradguard remedies --out DIR`)."
    ),
    "not_utf8": "not a UTF-8 text file ({reason}).",
    "not_json": "not valid JSON ({reason} column {column}).",
    "not_record": "not a gradguard record (no 'v' key).",
    "version": "record format version {found!r}; this gradguard reads version {version}.",
    "no_steps": "no step records (a guard writes one line per training step; this log has none).",
    "no_step_key": "bad step record (a step record needs the key 'step').",
    "bad_step": "bad step record ({reason}).",
    "record_type": "unknown record type {found!r}.",
    "not_flow": 'expected {{"curves": {{label: [numbers]}}}}.',
    "empty_csv": "empty file (expected a header line).",
    "missing_columns": "header lacks the columns {columns}.",
    "field_count": "{found} fields where the header has {expected}.",
    "empty_cell": "column {column} is empty (it needs a value).",
    "bad_bool": "column {column} must be True or False, got {found!r}.",
    "bad_int": "column {column} must be a whole number or empty, got {found!r}.",
    "bad_float": "column {column} must be a number (nan and inf included) or empty, got {found!r}.",
    "not_csv": "not valid CSV ({reason}).",
    "unreadable": "cannot be read ({reason}).",
}


class FileError(ValueError):
    """An input file is missing or malformed; the message names the file (and the line).

    Args:
      where: the path, or ``path:line`` for a bad line.
      problem: a problem id from :data:`FILE_PROBLEMS`.
      cause: the :class:`InputError` behind a bad record, told in the same language.
      **fields: the values the problem's ``{placeholders}`` take; ``reason`` is
        Python's own English detail (a JSON or CSV parser's), left out in other languages.

    Attributes:
      where, problem, cause, fields: the parts above.
    """

    def __init__(
        self, where: object, problem: str, cause: InputError | None = None, **fields: Any
    ) -> None:
        if problem not in FILE_PROBLEMS:  # a caller's mistake, not the user's
            raise TypeError(f"FileError: unknown problem {problem!r}")
        self.where = str(where)
        self.problem = problem
        self.cause = cause
        self.fields = fields
        super().__init__(self.message())

    def message(self, lang: str = "en") -> str:
        """Return the one-line message in ``lang``: ``"{where}: {problem}"``."""
        fields = _told(self.fields, lang)
        if self.cause is not None:  # "… got 'fly'." inside parentheses: no stray full stop
            fields["reason"] = self.cause.message(lang).rstrip(".।")
        if lang == "en":
            return f"{self.where}: " + FILE_PROBLEMS[self.problem].format(**fields)
        from gradguard.explain._catalog import load_catalog

        cat = load_catalog(lang, "errors")
        problem = cat.get(f"files.{self.problem}", **fields)
        return cat.get("frame.file", where=self.where, problem=problem)


def os_reason(error: OSError, lang: str = "en") -> str:
    """Say why the operating system refused, in ``lang``: ``"Permission denied"``.

    English is the system's own ``strerror``; other languages take the phrase for
    the error's ``errno`` name (``EACCES``, ``ENOSPC``…) from the ``errors``
    catalog's ``os`` section, else name the code (``ELOOP``).
    """
    if lang == "en" or error.errno is None:
        return str(error.strerror or error)
    from gradguard.explain._catalog import load_catalog

    cat = load_catalog(lang, "errors")
    name = errno.errorcode.get(error.errno, str(error.errno))
    phrase = cat.section("os").get(name)
    return phrase if phrase is not None else cat.get("frame.os_other", name=name)


def _told(fields: dict[str, Any], lang: str) -> dict[str, Any]:
    """``fields`` with every :class:`OSError` replaced by its reason in ``lang``."""
    return {k: os_reason(v, lang) if isinstance(v, OSError) else v for k, v in fields.items()}
