"""Errors that say what went wrong, why, and how to fix it.

Every check on public input raises :class:`InputError` (a ``ValueError``) with a
one-line message naming the argument, the value received and the rule, e.g.::

    steps must be a whole number ≥ 1, got '-3'.

The CLI prints that line on stderr and exits with status 2; library callers
catch it as an ordinary ``ValueError``.
"""

from __future__ import annotations

__all__ = ["InputError"]


class InputError(ValueError):
    """A public argument broke its rule.

    Args:
      argument: the name the user typed (``"steps"``, ``"--w"``, ``"max_norm"``).
      value: what was received (shown with ``repr`` for strings).
      rule: what the argument must be, as a phrase: ``"a whole number ≥ 1"``.
      hint: an optional second sentence saying how to fix it.
    """

    def __init__(self, argument: str, value: object, rule: str, hint: str = "") -> None:
        self.argument = argument
        self.value = value
        self.rule = rule
        self.hint = hint
        shown = repr(value) if isinstance(value, str) else str(value)
        message = f"{argument} must be {rule}, got {shown}."
        if hint:
            message += f" {hint}"
        super().__init__(message)

    def renamed(self, argument: str) -> InputError:
        """Return the same error naming ``argument`` instead (a CLI flag, say)."""
        return InputError(argument, self.value, self.rule, self.hint)
