"""Clipping rules that act below the total norm: per entry (value clipping) and per unit (AGC).

They judge more than one number per step, so ``gradguard replay`` cannot run them on a
log's total norms; they are declared here (name, parameters and their checks) and
applied by their :mod:`gradguard.torch` clippers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gradguard._validate import check_number
from gradguard.rules._rule import Rule, check_clip_threshold

__all__ = ["AGCRule", "ValueRule"]


class ValueRule(Rule):
    """Value clipping: every gradient entry into ``[-clip_value, clip_value]``.

    Acts when ``max |g| > clip_value``; a log records max |g| on some steps only, so
    ``replay`` does not run it. Applied by :class:`gradguard.torch.ValueClipper`.

    Args:
      clip_value: the bound ``c``, a number > 0 (``inf``: never clip).
    """

    name = "value"
    clipper = "ValueClipper"
    replay_needs = "max_abs"

    def __init__(self, clip_value: float) -> None:
        self.clip_value = check_clip_threshold("clip_value", clip_value)

    def state_dict(self) -> dict[str, Any]:
        return {"clip_value": self.clip_value}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.clip_value = float(state["clip_value"])


class AGCRule(Rule):
    """Adaptive gradient clipping, unit-wise (Brock, De, Smith & Simonyan, ICML 2021).

    Clips each unit's ``‖G_i‖ / max(‖W_i‖, ε)`` to λ; it needs the weights and the
    per-unit gradient norms, which a norm log does not hold. Applied by
    :class:`gradguard.torch.AGC`.

    Args:
      clipping: λ, a number > 0 (``inf``: never clip).
      eps: ε, the floor on ``‖W_i‖``: a finite number > 0.
      exclude: names (or name prefixes) of parameters not to clip; a lone string is one name.
    """

    name = "agc"
    clipper = "AGC"
    replay_needs = "weights"

    def __init__(
        self, clipping: float = 0.01, eps: float = 1e-3, exclude: Iterable[str] | str = ()
    ) -> None:
        self.clipping = check_clip_threshold("clipping", clipping)
        self.eps = check_number(eps, "eps", above=0)
        self.exclude = (exclude,) if isinstance(exclude, str) else tuple(exclude)

    def state_dict(self) -> dict[str, Any]:
        return {"clipping": self.clipping, "eps": self.eps, "exclude": list(self.exclude)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.clipping = float(state["clipping"])
        self.eps = float(state["eps"])
        self.exclude = tuple(state["exclude"])
