"""The types in the clippers' signatures.

- :class:`ClipResult` — what :meth:`gradguard.torch.Clipper.clip_` returns (the norm
  measured, the coefficient applied, whether it clipped);
- :data:`NonfiniteMode` and :data:`NONFINITE_MODES` — the values of the clipping
  functions' ``nonfinite=`` argument (``"propagate"``, ``"skip"``, ``"zero"``,
  ``"error"``).
"""

from gradguard.torch._clip import NONFINITE_MODES, NonfiniteMode
from gradguard.torch._clippers import ClipResult

__all__ = ["NONFINITE_MODES", "ClipResult", "NonfiniteMode"]
