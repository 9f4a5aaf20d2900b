"""The lab: the seed's system ``h_t = w·h_{t-1}``, ``L = h_T``, computed exactly.

Stdlib and numpy only — no torch, no matplotlib.
"""

from gradguard.lab._clipping import check_threshold, clip_by_norm, clip_by_value, clip_coefficient

__all__ = ["check_threshold", "clip_by_norm", "clip_by_value", "clip_coefficient"]
