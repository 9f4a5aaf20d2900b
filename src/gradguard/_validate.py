"""The checks on public input every layer uses: whole numbers, choices, lists of whole numbers.

Each check returns the value in its canonical type or raises
:class:`~gradguard.errors.InputError` naming the argument as the library names
it (``T``, ``eta``, ``c``…) with a rule id, so the message can be told in the
user's language. Stdlib only (numpy scalars are accepted when numpy is already
imported), so the lab, the explorer and the torch layer can all use it.

>>> check_whole("50", "T")
50
>>> check_choice("bn", "lang", ("en", "bn"))
'bn'
>>> check_whole_list("5,10,20", "table_T")
[5, 10, 20]
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import Any

from gradguard.errors import InputError

__all__ = ["check_choice", "check_whole", "check_whole_list"]

_WHOLE = re.compile(r"^[+-]?\d+$")
#: int() of a string of digits is quadratic in its length: longer ones are refused first.
_MAX_WHOLE_DIGITS = 30


def check_whole(
    value: object, name: str = "T", minimum: int = 1, maximum: int | None = None
) -> int:
    """Return ``value`` as an ``int`` if it is a whole number ``minimum ≤ value ≤ maximum``.

    Accepts an ``int``, a numpy integer, or a string of digits (``"1_000"`` too);
    ``2.5``, ``"abc"``, ``True`` and numbers out of range are refused.

    Args:
      value: what the user passed.
      name: the parameter's name, for the message.
      minimum: the smallest value allowed.
      maximum: the largest value allowed (``None``: no limit). When set, every
        refusal states the whole range.

    Returns:
      The value as an ``int``.

    Raises:
      InputError: ``value`` is not a whole number in range.
    """
    fields: dict[str, Any]
    if maximum is None:
        rule, fields = "whole", {"min": minimum}
    else:
        rule, fields = "whole_range", {"min": minimum, "max": maximum}
    np = sys.modules.get("numpy")  # a numpy scalar implies numpy is imported: no import here
    if isinstance(value, bool) or (np is not None and isinstance(value, np.bool_)):
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
