"""The seed's rule: clip to a fixed threshold ``c`` (Pascanu, Mikolov & Bengio 2013)."""

from __future__ import annotations

from typing import Any

from gradguard.rules._rule import (
    DeviceForm,
    Judgement,
    ReplayParam,
    Rule,
    Verdict,
    check_clip_threshold,
    finite,
)

__all__ = ["FixedThreshold"]


class FixedDevice(DeviceForm):
    """:class:`FixedThreshold` on the device: nothing to learn."""

    rule: FixedThreshold

    def __init__(self, rule: FixedThreshold, device: Any) -> None:
        super().__init__(rule, device)
        self.c = self.full(rule.max_norm)
        self.nan = self.full(float("nan"))

    def state(self) -> dict[str, Any]:
        return {}

    def judge(self, state: dict[str, Any], x: Any) -> tuple[Judgement, dict[str, Any]]:
        flagged = x.isfinite() & (x.double() > self.c)
        return Judgement(self.c, flagged, self.torch.where(flagged, self.c, self.nan)), state

    def store(self, state: dict[str, Any]) -> None:
        pass


class FixedThreshold(Rule):
    """The seed's rule: clip to a fixed threshold ``c`` (``max_norm``).

    Args:
      max_norm: the threshold ``c``, a number > 0 (``inf``: never clip).
    """

    name = "fixed"
    clipper = "NormClipper"
    device = FixedDevice
    sync_free = True
    replay_params = (ReplayParam("max_norm", 1.0, recorded=True),)

    def __init__(self, max_norm: float) -> None:
        self.max_norm = check_clip_threshold("max_norm", max_norm)

    def judge(self, x: float) -> Verdict:
        flagged = finite(x) and x > self.max_norm
        return Verdict(self.max_norm, flagged, self.max_norm if flagged else None)

    def state_dict(self) -> dict[str, Any]:
        return {"max_norm": self.max_norm}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.max_norm = float(state["max_norm"])
