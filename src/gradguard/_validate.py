"""The checks on public input every layer uses — one module, one meaning per kind of value.

Each check returns the value in its canonical type or raises
:class:`~gradguard.errors.InputError` naming the argument as the library names it
(``T``, ``eta``, ``max_norm``…), the value received and a *rule id*, whose words
live in the message catalogs, so the one-line message is told in the user's
language. Stdlib only (numpy scalars are accepted when numpy is already imported),
so the lab, the explorer, the rules and the torch layer can all use it.

What each kind of value means, everywhere in gradguard:

=====================  ==========================================================
whole number           an ``int`` (a numpy integer too); never ``True``/``False``,
                       never ``2.0``; a string of digits only where the value came
                       from a command line (:func:`check_whole`)
number                 a real number (``int``, ``float``, ``Fraction``, numpy
                       scalars); never a ``bool``, never a string, never NaN;
                       finite unless ``allow_inf`` (:func:`check_number`)
threshold              a clipping threshold — ``c``, ``max_norm``, ``clip_value``,
                       a cap, AGC's λ, ``max_rms`` — in the lab, the rules, the
                       torch layer, the CLI, the experiments and the trainer
                       integrations alike: a number > 0; ``inf`` clips nothing
                       (torch's ``clip_grad_norm_(…, inf)``); ``0``, ``True``
                       and ``"1.0"`` are refused (:func:`check_threshold`)
fraction               a number in (0, 1): a probability, a smoothing factor
                       (:func:`check_fraction`; ``[0, 1)`` with ``closed_low``)
choice                 one of a few strings (:func:`check_choice`)
language               a language with catalogs (:func:`check_lang`)
flag                   ``True`` or ``False`` (:func:`check_bool`)
output file            a path whose folder exists, not a folder
                       (:func:`check_out_file`), with a given suffix
                       (:func:`check_suffix`)
output folder          a folder gradguard can create and write
                       (:func:`check_out_folder`)
=====================  ==========================================================

Adding a rule (a new kind of check, or a new wording):

1. pick an id and add it to ``[rules]`` in
   ``gradguard/explain/catalogs/errors/en.toml``: the English phrase that
   completes "ARGUMENT must be …, got VALUE.", with ``{placeholders}`` for the
   numbers it names (``whole_range = "a whole number from {min:,} to {max:,}"``);
2. add the same id to every other language's ``errors/<lang>.toml``, in
   ``[rules]`` (a phrase for the same frame) or in ``[sentences]`` (a whole
   sentence with ``{argument}`` and ``{value}``, where the frame reads badly);
   ``tests/test_catalogs.py`` checks that every language tells every id with
   the same placeholders;
3. raise it: ``raise InputError(name, value, "whole_range", min=1, max=10)``,
   from a check here if the kind of value is shared, else where the value is
   used. A hint (how to fix it) is an id of ``[hints]`` added the same way:
   ``InputError(name, value, "lesson_T", "lesson_use_table", max=100_000)``.

>>> check_whole("50", "T")
50
>>> check_threshold(0, "c", finite=True)
Traceback (most recent call last):
...
gradguard.errors.InputError: c must be a finite number > 0 (the clipping threshold), got 0.
>>> check_fraction(0.97, "alpha")
0.97
>>> check_whole_list("5,10,20", "table_T")
[5, 10, 20]
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Sequence
from fractions import Fraction
from numbers import Real
from pathlib import Path
from typing import Any

from gradguard._catalog import languages
from gradguard.errors import InputError

__all__ = [
    "check_bool",
    "check_choice",
    "check_fraction",
    "check_lang",
    "check_number",
    "check_out_file",
    "check_out_folder",
    "check_suffix",
    "check_threshold",
    "check_whole",
    "check_whole_list",
    "is_number",
]

_WHOLE = re.compile(r"^[+-]?\d+$")
#: int() of a string of digits is quadratic in its length: longer ones are refused first.
_MAX_WHOLE_DIGITS = 30


def _is_bool(value: object) -> bool:
    np = sys.modules.get("numpy")  # a numpy scalar implies numpy is imported: no import here
    return isinstance(value, bool) or (np is not None and isinstance(value, np.bool_))


def check_whole(
    value: object,
    name: str = "T",
    minimum: int = 1,
    maximum: int | None = None,
    *,
    text: bool = True,
) -> int:
    """Return ``value`` as an ``int`` if it is a whole number ``minimum ≤ value ≤ maximum``.

    Accepts an ``int``, a numpy integer, or a string of digits (``"1_000"`` too: the
    lab and the CLI pass what the user typed); ``2.5``, ``2.0``, ``"abc"``, ``True``
    and numbers out of range are refused.

    Args:
      value: what the user passed.
      name: the parameter's name, for the message.
      minimum: the smallest value allowed.
      maximum: the largest value allowed (``None``: no limit). When set, every
        refusal states the whole range.
      text: accept a string of digits (what a command line or a form passes); ``False``
        for a library argument, where ``"5"`` is not a number.

    Returns:
      The value as an ``int``.

    Raises:
      InputError: ``value`` is not a whole number in range (rule ``whole`` or
        ``whole_range``; ``whole_digits`` for a string of more than 30 digits).
    """
    fields: dict[str, Any]
    if maximum is None:
        rule, fields = "whole", {"min": minimum}
    else:
        rule, fields = "whole_range", {"min": minimum, "max": maximum}
    np = sys.modules.get("numpy")
    if _is_bool(value):
        raise InputError(name, value, rule, **fields)
    if isinstance(value, str) and not text:
        raise InputError(name, value, rule, **fields)
    if isinstance(value, str):
        s = value.strip().replace("_", "")
        if not _WHOLE.match(s):
            raise InputError(name, value, rule, **fields)
        if len(s.lstrip("+-").lstrip("0")) > _MAX_WHOLE_DIGITS:
            raise InputError(name, value, "whole_digits", min=minimum, digits=_MAX_WHOLE_DIGITS)
        number = int(s)
    elif isinstance(value, int) or (np is not None and isinstance(value, np.integer)):
        number = int(value)
    else:
        raise InputError(name, value, rule, **fields)
    if number < minimum or (maximum is not None and number > maximum):
        raise InputError(name, value, rule, **fields)
    return number


def check_number(
    value: object,
    name: str,
    *,
    minimum: float | None = None,
    above: float | None = None,
    maximum: float | None = None,
    below: float | None = None,
    allow_inf: bool = False,
    rule: str | None = None,
) -> float:
    """Return ``value`` as a ``float`` if it is a real number within the bounds given.

    A real number is an ``int``, ``float``, ``Fraction`` or numpy scalar; a ``bool``,
    a string and NaN are refused, and so is ±inf unless ``allow_inf``. Bounds are
    compared exactly (a huge ``int`` is not rounded first).

    Args:
      value: what the user passed.
      name: the parameter's name, for the message.
      minimum, above: ``value ≥ minimum`` / ``value > above`` (give at most one).
      maximum, below: ``value ≤ maximum`` / ``value < below`` (give at most one).
      allow_inf: accept ±inf (within the bounds).
      rule: a rule id that says the same bounds in words of its own, raised instead
        (``open_unit`` for ``above=0, below=1``; ``norm_type``); it takes no fields.

    Raises:
      InputError: with the rule that states every bound at once: ``finite``,
        ``real``, ``positive_finite``, ``positive``, ``nonnegative_finite``,
        ``nonnegative``, ``at_least``, ``above``, ``at_most``, ``below`` or
        ``interval`` (``{interval}`` such as ``(0, 1]``); or ``rule`` when given.
    """
    try:
        x = _real(value, name, minimum, above, maximum, below, allow_inf)
    except InputError:
        if rule is None:
            raise
        raise InputError(name, value, rule) from None
    try:
        return float(x)
    except OverflowError:  # an int or Fraction beyond float's range
        raise InputError(name, value, "in_range", dtype="float64", max=sys.float_info.max) from None


def _real(
    value: object,
    name: str,
    minimum: float | None = None,
    above: float | None = None,
    maximum: float | None = None,
    below: float | None = None,
    allow_inf: bool = False,
) -> Any:
    """``value`` itself once it is a real number within the bounds (see :func:`check_number`)."""
    rule, fields = _number_rule(minimum, above, maximum, below, allow_inf)
    if _is_bool(value) or not isinstance(value, Real):
        raise InputError(name, value, rule, **fields)
    x: Any = value  # a Real: compared exactly with the bounds (numbers.Real has no order)
    if not isinstance(x, (int, Fraction)) and (math.isnan(x) or (math.isinf(x) and not allow_inf)):
        raise InputError(name, value, rule, **fields)
    if (
        (minimum is not None and not x >= minimum)
        or (above is not None and not x > above)
        or (maximum is not None and not x <= maximum)
        or (below is not None and not x < below)
    ):
        raise InputError(name, value, rule, **fields)
    return x


def _number_rule(
    minimum: float | None,
    above: float | None,
    maximum: float | None,
    below: float | None,
    allow_inf: bool,
) -> tuple[str, dict[str, Any]]:
    """The rule id (and fields) that says every bound of :func:`check_number` at once."""
    if (minimum is not None and above is not None) or (maximum is not None and below is not None):
        raise TypeError("check_number: give at most one lower and one upper bound")
    low, high = (minimum if above is None else above), (maximum if below is None else below)
    if low is not None and high is not None:
        left = "(" if above is not None else "["
        right = ")" if below is not None else "]"
        return "interval", {"interval": f"{left}{_num(low)}, {_num(high)}{right}"}
    if high is not None:
        return ("at_most", {"max": high}) if below is None else ("below", {"max": high})
    if above == 0:
        return ("positive" if allow_inf else "positive_finite"), {}
    if minimum == 0:
        return ("nonnegative" if allow_inf else "nonnegative_finite"), {}
    if above is not None:
        return "above", {"min": above}
    if minimum is not None:
        return "at_least", {"min": minimum}
    return ("real" if allow_inf else "finite"), {}


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def is_number(value: object) -> bool:
    """Whether ``value`` is a real number (``int``, ``float``, ``Fraction``, a numpy
    scalar) and not a ``bool`` — what :func:`check_number` and :func:`check_threshold`
    take; whether it is in range is theirs to say."""
    return isinstance(value, Real) and not _is_bool(value)


def check_threshold(value: object, name: str = "max_norm", *, finite: bool = False) -> Any:
    """Return a clipping threshold — a number > 0, ``inf`` meaning "never clip" — checked.

    One meaning of *threshold* wherever a gradient (or an update) is clipped: the
    seed's ``c`` in the lab, ``max_norm`` / ``clip_value`` / a cap / AGC's λ /
    ``max_rms`` in the rules and the torch layer, the CLI's and the runner's
    thresholds, a number given to a trainer callback as its clipper. A threshold is
    a real number (``int``, ``float``, ``Fraction``, a numpy scalar) > 0:

    - ``inf`` is one, and clips nothing — ``min(1, inf / ‖g‖) = 1``, as torch's
      ``clip_grad_norm_(parameters, inf)`` measures the norm without clipping;
    - ``0`` is not (it would zero every gradient; torch accepts it), nor is NaN;
    - ``True`` is not ``1.0`` and ``"1.0"`` is not a number: a command line parses
      its text first.

    An exact ``int`` or ``Fraction`` comes back unchanged (the lab keeps it exact),
    any other number as a ``float``.

    Args:
      value: what the user passed.
      name: the parameter's name, for the message.
      finite: refuse ``inf`` too — for the lesson and the explorer, whose worked
        example clips the seed's gradient to ``c`` and needs a finite one.

    Raises:
      InputError: rule ``threshold_or_inf`` (``threshold`` with ``finite``).
    """
    rule = "threshold" if finite else "threshold_or_inf"
    try:
        x = _real(value, name, above=0, allow_inf=not finite)
    except InputError:
        raise InputError(name, value, rule) from None
    return x if isinstance(x, (int, Fraction)) else float(x)


def check_fraction(value: object, name: str, *, closed_low: bool = False) -> float:
    """Return ``value`` as a ``float`` if it lies in (0, 1) — ``[0, 1)`` with ``closed_low``.

    For probabilities, smoothing factors (an EMA's α) and shares.

    Raises:
      InputError: rule ``interval`` naming the interval.
    """
    if closed_low:
        return check_number(value, name, minimum=0, below=1)
    return check_number(value, name, above=0, below=1)


def check_choice(value: object, name: str, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``; raise :class:`InputError` otherwise.

    Example:
      >>> check_choice("pdf", "format", ("text", "json"))
      Traceback (most recent call last):
      ...
      gradguard.errors.InputError: format must be one of text, json, got 'pdf'.
    """
    if not isinstance(value, str) or value not in choices:
        raise InputError(name, value, "choice", choices=", ".join(choices))
    return value


def check_lang(value: object, name: str = "lang") -> str:
    """Return ``value`` if it names a language with catalogs (``languages()``)."""
    return check_choice(value, name, languages())


def check_bool(value: object, name: str) -> bool:
    """Return ``value`` if it is ``True`` or ``False`` (a numpy bool too); not ``1``, not ``"yes"``.

    Raises:
      InputError: rule ``boolean``.
    """
    if not _is_bool(value):
        raise InputError(name, value, "boolean")
    return bool(value)


def check_whole_list(text: object, name: str = "Ts") -> list[int]:
    """Parse ``"5,10,20,50"`` (or a sequence of whole numbers) into a list of whole numbers ≥ 1.

    Raises:
      InputError: the list is empty or an entry is not a whole number ≥ 1.
    """
    items: list[object]
    if isinstance(text, str):
        items = list(text.replace(" ", "").split(","))
    elif isinstance(text, (list, tuple, range)):
        items = list(text)
    else:
        raise InputError(name, text, "whole_list")
    if not items or any(item == "" for item in items):
        raise InputError(name, text, "whole_list")
    out = []
    for item in items:
        try:
            out.append(check_whole(item, name))
        except InputError:
            raise InputError(name, text, "whole_list") from None
    return out


def check_suffix(path: object, name: str, suffixes: Sequence[str]) -> Path:
    """Return ``path`` as a :class:`~pathlib.Path` if its name ends in one of ``suffixes``.

    Example: ``check_suffix("fig.png", "plot", (".png", ".svg"))``.

    Raises:
      InputError: rule ``suffix``.
    """
    p = Path(str(path))
    if p.suffix.lower() not in suffixes:
        raise InputError(name, str(path), "suffix", suffixes=", ".join(suffixes))
    return p


def check_out_file(path: object, name: str = "out") -> Path:
    """Return ``path`` as a :class:`~pathlib.Path` if a file can be written there.

    It must not be a folder, and its folder must exist (nothing is created: a typo
    in a folder name should not scatter new folders).

    Raises:
      InputError: rule ``file_path`` (a folder) or ``file_in_folder`` with the hint
        ``create_folder``.
    """
    p = Path(str(path))
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise InputError(name, str(path), "file_path")
    if not parent.is_dir():
        raise InputError(name, str(path), "file_in_folder", "create_folder", folder=str(parent))
    return p


def check_out_folder(path: object, name: str = "out", *, create: bool = True) -> Path:
    """Return ``path`` as a :class:`~pathlib.Path` once it is a folder gradguard can write.

    With ``create`` the folder (and its parents) is made if missing. A probe file is
    written and removed, so a read-only or full disk fails now, not after minutes of
    work.

    Raises:
      InputError: rule ``folder_creatable`` (it cannot be made), ``folder_writable`` (a
        file cannot be written in it) or ``existing_folder`` (missing, without
        ``create``), with the operating system's reason in the hint ``os_error``.
    """
    from gradguard import _atomic

    p = Path(str(path))
    if not create and not p.is_dir():
        raise InputError(name, str(path), "existing_folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(name, str(path), "folder_creatable", "os_error", reason=e) from None
    try:
        _atomic.check_writable(p)  # the one write probe
    except OSError as e:
        raise InputError(name, str(path), "folder_writable", "os_error", reason=e) from None
    return p
