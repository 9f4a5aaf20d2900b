"""The guard's torch-free rules: judge one number per step, decide, replay offline.

One definition of each rule, used twice: by the torch clippers and the guard
(:mod:`gradguard.torch`) during training, and by ``gradguard replay`` offline on a
recorded log. Nothing here imports torch.

- The scalar rules (:class:`Rule` → :class:`Verdict`): :class:`FixedThreshold`,
  :class:`PercentileRule` (AutoClip), :class:`EmaZScoreRule` (ZClip) clip;
  :class:`MedianMadRule`, :class:`MeanStdRule` detect spikes — each says which in
  :attr:`Rule.action`.
- The order statistics they read: :func:`percentile`, :func:`median_and_mad`.
- The guard's decision (:func:`decide`): a classified step, the guard's policy
  (:data:`POLICIES`: ``"skip"``, ``"raise"``, ``"step"``) and its history → what to do.
- Offline replay (:func:`replay_trace`): a recorded norm trace through every rule.

::

    from gradguard.rules import MedianMadRule, replay_trace

    rule = MedianMadRule(window=128, k=6.0)
    verdict = rule.observe(grad_norm)      # Verdict(threshold, flagged, clip_to)
"""

from gradguard.rules._decision import (
    OUTCOMES,
    POLICIES,
    Decision,
    Outcome,
    Policy,
    check_policy,
    decide,
)
from gradguard.rules._order import median_and_mad, percentile
from gradguard.rules._replay import (
    GuardReplay,
    RuleReplay,
    TraceReplay,
    replay_guard,
    replay_trace,
    rule_from_header,
)
from gradguard.rules._scalar import (
    RULES,
    AdaGCRule,
    EmaZScoreRule,
    FixedThreshold,
    MeanStdRule,
    MedianMadRule,
    PercentileRule,
    Rule,
    RuleAction,
    Verdict,
)

__all__ = [
    "OUTCOMES",
    "POLICIES",
    "RULES",
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
    "Rule",
    "RuleAction",
    "RuleReplay",
    "TraceReplay",
    "Verdict",
    "check_policy",
    "decide",
    "median_and_mad",
    "percentile",
    "replay_guard",
    "replay_trace",
    "rule_from_header",
]
