"""The guard's torch-free rules: judge one number per step, decide, replay offline.

One definition of each rule, used three ways: by ``gradguard replay`` offline on a
recorded log, and by the guard (:mod:`gradguard.torch`) during training — its host
arithmetic in the default mode, its device form with ``sync=False``. Nothing here
imports torch (a device form imports it when it is built).

- The rules (:class:`Rule` → :class:`Verdict`), each declared in one class and listed
  once in :data:`RULES`: :class:`FixedThreshold`, :class:`PercentileRule` (AutoClip),
  :class:`EmaZScoreRule` (ZClip), :class:`AdaGCRule`, :class:`ValueRule` and
  :class:`AGCRule` clip the gradient, :class:`UpdateRMSRule` (StableAdamW) the
  optimizer's update; :class:`MedianMadRule` and :class:`MeanStdRule` detect spikes —
  each says which in :attr:`Rule.action`.
- The order statistics they read: :func:`percentile`, :func:`median_and_mad`.
- The guard's decision (:func:`decide`): a classified step, the guard's policy
  (:data:`POLICIES`: ``"skip"``, ``"raise"``, ``"step"``) and its history → what to do.
- Offline replay (:func:`replay_trace`, :func:`replay_guard`): a recorded norm trace
  through every rule, and a guard's own decisions recomputed from its log.

::

    from gradguard.rules import MedianMadRule, replay_trace

    rule = MedianMadRule(window=128, k=6.0)
    verdict = rule.observe(grad_norm)      # Verdict(threshold, flagged, clip_to)
"""

from gradguard.rules._adagc import AdaGCRule
from gradguard.rules._autoclip import PercentileRule
from gradguard.rules._decision import (
    OUTCOMES,
    POLICIES,
    Decision,
    Outcome,
    Policy,
    check_policy,
    decide,
)
from gradguard.rules._fixed import FixedThreshold
from gradguard.rules._order import median_and_mad, percentile
from gradguard.rules._registry import RULES, ReplayOptions, replay_params
from gradguard.rules._replay import (
    GuardReplay,
    RuleReplay,
    TraceReplay,
    replay_guard,
    replay_rules,
    replay_trace,
    rule_from_header,
)
from gradguard.rules._rule import ReplayParam, Rule, RuleAction, RuleSide, Verdict, describe_rule
from gradguard.rules._spike import MeanStdRule, MedianMadRule
from gradguard.rules._unitwise import AGCRule, ValueRule
from gradguard.rules._update import UpdateRMSRule
from gradguard.rules._zclip import EmaZScoreRule

__all__ = [
    "OUTCOMES",
    "POLICIES",
    "RULES",
    "AGCRule",
    "AdaGCRule",
    "Decision",
    "EmaZScoreRule",
    "FixedThreshold",
    "GuardReplay",
    "MeanStdRule",
    "MedianMadRule",
    "Outcome",
    "PercentileRule",
    "Policy",
    "ReplayOptions",
    "ReplayParam",
    "Rule",
    "RuleAction",
    "RuleReplay",
    "RuleSide",
    "TraceReplay",
    "UpdateRMSRule",
    "ValueRule",
    "Verdict",
    "check_policy",
    "decide",
    "describe_rule",
    "median_and_mad",
    "percentile",
    "replay_guard",
    "replay_params",
    "replay_rules",
    "replay_trace",
    "rule_from_header",
]
