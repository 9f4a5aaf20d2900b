"""Every rule gradguard knows, one line each: the one list the CLI, the errors and the docs read.

A rule's class declares everything about it (:class:`gradguard.rules.Rule`): its name,
what it acts on, its parameters and their checks, its host arithmetic or why a norm log
cannot replay it, the options ``gradguard replay`` builds it from, its device form, and
the :mod:`gradguard.torch` class that applies it. Everything that lists rules reads
:data:`RULES`: ``replay``'s options (:func:`replay_params`) and its ``--help``, the
errors naming the clippers, the doctor's skip rules; tests hold the API docs and the
guide's tables to it.

Adding a rule is a new file declaring its class, its line in :data:`RULES` (with its
import), its name in ``gradguard.rules.__all__``, its words in each language's catalog
and its tests — no other list to extend; a rule of the total gradient norm needs no torch
code (:class:`gradguard.torch.RuleClipper` applies it). ``docs/development.md``
("Adding a rule") walks through one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from gradguard.errors import InputError
from gradguard.rules._adagc import AdaGCRule
from gradguard.rules._autoclip import PercentileRule
from gradguard.rules._fixed import FixedThreshold
from gradguard.rules._rule import ReplayParam, Rule
from gradguard.rules._spike import MeanStdRule, MedianMadRule
from gradguard.rules._unitwise import AGCRule, ValueRule
from gradguard.rules._update import UpdateRMSRule
from gradguard.rules._zclip import EmaZScoreRule

__all__ = ["RULES", "ReplayOptions"]

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


def replay_params() -> dict[str, ReplayParam]:
    """The options ``gradguard replay`` builds its rules from, by name, in the rules' order:
    every replayable rule's :attr:`~gradguard.rules.Rule.replay_params`, each name once
    (rules sharing a name declare it alike: ``tests/guard/test_registry.py`` checks).
    """
    out: dict[str, ReplayParam] = {}
    for rule in replayable():
        for param in rule.replay_params:
            out.setdefault(param.name, param)
    return out


class ReplayOptions(Mapping[str, Any]):
    """The values ``gradguard replay`` builds its rules from: name → value.

    Every :func:`replay_params` name, at its declared default unless given::

        ReplayOptions(max_norm=0.5)["percentile"]   # 10.0: AutoClip()'s own

    The defaults are those of the rules' clippers and of the guard: replaying a run
    trained with ``ZClip()`` replays ``ZClip()``, its cap and its warm-up clipping
    included. A value is checked by the rule built from it (:meth:`Rule.for_replay`).

    Raises:
      InputError: a name no replayable rule declares.
    """

    def __init__(self, **values: Any) -> None:
        params = replay_params()
        unknown = sorted(set(values) - set(params))
        if unknown:
            raise InputError("option", unknown[0], "choice", choices=", ".join(params))
        self._values = {name: values.get(name, p.default) for name, p in params.items()}

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"ReplayOptions({', '.join(f'{k}={v!r}' for k, v in self._values.items())})"
