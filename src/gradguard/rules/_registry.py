"""Every rule gradguard knows, one line each: the one list the CLI, the errors and the docs read.

A rule's class declares everything about it (:class:`gradguard.rules.Rule`): its name,
what it acts on, its parameters and their checks, its host arithmetic or why a norm log
cannot replay it, its device form, and the :mod:`gradguard.torch` class that applies it.
Adding a rule is a new file declaring its class, plus one line below.
"""

from __future__ import annotations

from gradguard.rules._adagc import AdaGCRule
from gradguard.rules._autoclip import PercentileRule
from gradguard.rules._fixed import FixedThreshold
from gradguard.rules._rule import Rule
from gradguard.rules._spike import MeanStdRule, MedianMadRule
from gradguard.rules._unitwise import AGCRule, ValueRule
from gradguard.rules._update import UpdateRMSRule
from gradguard.rules._zclip import EmaZScoreRule

__all__ = ["RULES"]

#: Every rule by name, as the CLI and logs spell it, in the order ``replay`` lists them.
RULES: dict[str, type[Rule]] = {
    rule.name: rule
    for rule in (
        FixedThreshold,
        PercentileRule,
        EmaZScoreRule,
        MedianMadRule,
        MeanStdRule,
        AdaGCRule,
        ValueRule,
        AGCRule,
        UpdateRMSRule,
    )
}


def replayable() -> list[type[Rule]]:
    """The rules ``gradguard replay`` runs on a log's pre-clip norms, in order."""
    return [r for r in RULES.values() if r.replay_needs is None]
