"""The seed's scalar system as plot data: ``|h_T|`` and ``|dL/dw|`` in log space.

Interim: these curves use the closed forms ``h_T = w^T·h_0`` and
``dL/dw = T·w^(T-1)·h_0`` in log10 (numpy) so that plots work for any T without
overflow. When :mod:`gradguard.lab` exposes them, these functions delegate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["SEED_CLAIMS", "SEED_CLAIM_TEXT", "log10_curves", "overflow_horizon"]

#: The seed's explosion table for w = 2, h0 = 1: T -> the value it claims for dL/dw.
SEED_CLAIMS: dict[int, float] = {5: 80.0, 10: 1024.0, 20: 1e6, 50: 1e15}
#: The same claims as the seed writes them.
SEED_CLAIM_TEXT: dict[int, str] = {5: "80", 10: "≈ 1024", 20: "≈ 10^6", 50: "≈ 10^15"}

_FLOAT_MAX_LOG10 = {
    "float32": math.log10(float(np.finfo(np.float32).max)),
    "float64": math.log10(float(np.finfo(np.float64).max)),
}


def log10_curves(
    w: float, h0: float, Ts: Sequence[int] | npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Return ``(log10|h_T|, log10|dL/dw|)`` for each T (``-inf`` where the value is 0).

    .. math::

        \\log_{10}|h_T| = T\\log_{10}|w| + \\log_{10}|h_0|, \\qquad
        \\log_{10}\\left|\\tfrac{dL}{dw}\\right| = \\log_{10}T + (T-1)\\log_{10}|w|
        + \\log_{10}|h_0|
    """
    T = np.asarray(Ts, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        lw = np.log10(abs(w)) if w != 0 else -np.inf
        lh = np.log10(abs(h0)) if h0 != 0 else -np.inf
        log_h = T * lw + lh
        # w = 0: h_T = 0 for T ≥ 1; dL/dw = T·0^(T-1)·h0 is h0 at T = 1 and 0 after.
        pow_w = np.where(T == 1, 0.0, (T - 1) * lw)
        log_g = np.log10(T) + pow_w + lh
    return log_h, log_g


def overflow_horizon(w: float, h0: float, dtype: str, *, limit: int = 10**7) -> int | None:
    """Return the first T at which ``|dL/dw|`` exceeds ``dtype``'s largest finite value.

    ``None`` if it never does for ``T ≤ limit`` (``|w| ≤ 1``, or growth too slow).
    For ``w = 2, h0 = 1``: 1016 in float64 and 123 in float32.
    """
    top = _FLOAT_MAX_LOG10[dtype]
    lo, hi = 1, 1
    # The log gradient is increasing for |w| > 1 once past its minimum: double, then bisect.
    while hi <= limit and log10_curves(w, h0, [hi])[1][0] <= top:
        lo, hi = hi, hi * 2
    if hi > limit:
        hi = limit
        if log10_curves(w, h0, [hi])[1][0] <= top:
            return None
    while lo < hi:
        mid = (lo + hi) // 2
        if log10_curves(w, h0, [mid])[1][0] > top:
            hi = mid
        else:
            lo = mid + 1
    return lo
