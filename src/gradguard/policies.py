"""Deprecated: the rules moved to :mod:`gradguard.rules`; import them from there.

This module re-exports the old names for one release (``PolicyReplay`` is now
:class:`gradguard.rules.RuleReplay`) and warns once on import.
"""

import warnings

from gradguard.rules import (
    RULES,
    EmaZScoreRule,
    FixedThreshold,
    MeanStdRule,
    MedianMadRule,
    PercentileRule,
    Rule,
    TraceReplay,
    Verdict,
    median_and_mad,
    percentile,
    replay_trace,
)
from gradguard.rules import RuleReplay as PolicyReplay

warnings.warn(
    "gradguard.policies is deprecated: import the rules from gradguard.rules "
    "(PolicyReplay is now gradguard.rules.RuleReplay).",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = [
    "RULES",
    "EmaZScoreRule",
    "FixedThreshold",
    "MeanStdRule",
    "MedianMadRule",
    "PercentileRule",
    "PolicyReplay",
    "Rule",
    "TraceReplay",
    "Verdict",
    "median_and_mad",
    "percentile",
    "replay_trace",
]
