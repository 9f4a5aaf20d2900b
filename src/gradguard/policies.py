"""Deprecated: the rules moved to :mod:`gradguard.rules`; import them from there.

Every name of :mod:`gradguard.rules` still reads from here for one release
(``PolicyReplay`` is now :class:`gradguard.rules.RuleReplay`); importing this module
warns once.
"""

import warnings
from typing import Any

import gradguard.rules as _rules

warnings.warn(
    "gradguard.policies is deprecated: import the rules from gradguard.rules "
    "(PolicyReplay is now gradguard.rules.RuleReplay).",
    DeprecationWarning,
    stacklevel=2,
)

_RENAMED = {"PolicyReplay": "RuleReplay"}

__all__ = [*_rules.__all__, *_RENAMED]


def __getattr__(name: str) -> Any:
    if name in _rules.__all__ or name in _RENAMED:
        return getattr(_rules, _RENAMED.get(name, name))
    raise AttributeError(f"module 'gradguard.policies' has no attribute {name!r}")
