"""Order statistics over a sorted history: percentiles, the median and the MAD.

The rules keep their histories sorted (``bisect.insort``), so these read them in
O(1) (a percentile) or O(log² n) (the MAD) instead of sorting every step.
"""

from __future__ import annotations

import bisect
import math
from typing import Any

__all__ = ["median_and_mad", "percentile"]


def percentile(sorted_values: list[float], p: float) -> float:
    """Return the ``p``-th percentile (0–100) of sorted values, linear interpolation.

    The same definition as ``numpy.percentile``'s default: position
    ``(n - 1)·p / 100`` between order statistics.
    """
    if not sorted_values:
        raise ValueError("percentile of an empty history")
    pos = (len(sorted_values) - 1) * p / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


def _kth_of_two(a: Any, na: int, b: Any, nb: int, k: int) -> float:
    """Return the ``k``-th smallest (0-based) of two ascending sequences given as accessors.

    Binary search on how many come from ``a``: O(log n) accessor calls, no merge.
    """
    lo, hi = max(0, k + 1 - nb), min(k + 1, na)
    while lo < hi:
        i = (lo + hi) // 2  # take i from a, k + 1 - i from b
        if b(k - i) > a(i):  # a(i) is among the k + 1 smallest: take more from a
            lo = i + 1
        else:
            hi = i
    i = lo
    candidates = []
    if i > 0:
        candidates.append(a(i - 1))
    if k + 1 - i > 0:
        candidates.append(b(k - i))
    return max(candidates)


def median_and_mad(sorted_values: list[float]) -> tuple[float, float]:
    """Return the median and the median absolute deviation of ascending ``sorted_values``.

    The deviations ``|x − median|`` form two ascending runs (left of the median, read
    backwards, and right of it); their median is found by a k-th-of-two-sorted search
    in O(log² n), not by sorting them again.
    """
    s = sorted_values
    n = len(s)
    med = percentile(s, 50)
    m = bisect.bisect_right(s, med)

    def a(i: int) -> float:
        return med - s[m - 1 - i]

    def b(j: int) -> float:
        return s[m + j] - med

    na, nb = m, n - m
    if n % 2:
        mad = _kth_of_two(a, na, b, nb, n // 2)
    else:
        mad = 0.5 * (_kth_of_two(a, na, b, nb, n // 2 - 1) + _kth_of_two(a, na, b, nb, n // 2))
    return med, mad
