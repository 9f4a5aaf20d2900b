"""Order statistics over a sorted history: percentiles, the median and the MAD.

The rules keep their histories sorted (``bisect.insort``), so these read them in
O(1) (a percentile) or O(log² n) (the MAD) instead of sorting every step.
"""

from __future__ import annotations

import bisect
import math
from typing import Any

from gradguard.errors import InputError

__all__ = ["median_and_mad", "percentile"]  # (the ring helpers: for device forms)


def percentile(sorted_values: list[float], p: float) -> float:
    """Return the ``p``-th percentile (0–100) of sorted values, linear interpolation.

    The same definition as ``numpy.percentile``'s default: position
    ``(n - 1)·p / 100`` between order statistics.
    """
    if not sorted_values:
        raise InputError("sorted_values", sorted_values, "nonempty_finite_list")
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


# -- the same histories on the device (a rule's DeviceForm): ring buffers of float64 --


def ring(form: Any, values: list[float], size: int) -> dict[str, Any]:
    """A window of the last ``size`` finite ``values`` as device tensors: a ring buffer.

    ``buf`` holds the values (NaN in empty slots), ``n`` how many, ``pos`` the next slot.
    """
    t = form.torch
    kept = [float(v) for v in values if math.isfinite(v)][-size:]
    buf = t.full((size,), math.nan, dtype=t.float64)
    if kept:
        buf[: len(kept)] = t.tensor(kept, dtype=t.float64)
    return {
        "buf": buf.to(form.device),
        "n": form.full(len(kept), t.int64),
        "pos": form.full(len(kept) % size, t.int64),
    }


def ring_push(form: Any, state: dict[str, Any], x: Any, do: Any) -> dict[str, Any]:
    """``state`` with ``x`` pushed where ``do`` (0-d bool) holds, the oldest value dropped."""
    t = form.torch
    size = state["buf"].numel()
    slots = t.arange(size, device=form.device)
    step = do.to(t.int64)
    return {
        "buf": t.where((slots == state["pos"]) & do, x, state["buf"]),
        "n": t.clamp(state["n"] + step, max=size),
        "pos": (state["pos"] + step) % size,
    }


def ring_oldest_first(form: Any, state: dict[str, Any]) -> Any:
    """The window oldest first (the host deque's order; NaN after the values)."""
    t = form.torch
    buf = state["buf"]
    size = buf.numel()
    start = t.where(state["n"] == size, state["pos"], 0)
    index = (t.arange(size, device=form.device) + start) % size
    return buf.index_select(0, index)


def ring_values(state: dict[str, Any]) -> list[float]:
    """The window oldest first, as the host rule holds it (a copy to the host: a sync)."""
    n, pos = int(state["n"]), int(state["pos"])
    buf = state["buf"].cpu()
    ordered = buf[:n] if n < buf.numel() else buf.roll(-pos)
    return [float(v) for v in ordered.tolist()]


def fold_sum(form: Any, values: Any) -> Any:
    """Sum a 1-d tensor left to right, as the host's loop adds (NaN entries count as 0).

    ``cumsum`` on the CPU adds in order, so the sum is the host's bit for bit.
    """
    t = form.torch
    return t.where(t.isnan(values), 0.0, values).cumsum(0)[-1]


def pick(sorted_values: Any, index: Any) -> Any:
    """``sorted_values[index]`` for a 0-d index tensor (clamped: callers mask the result)."""
    i = index.clamp(min=0, max=sorted_values.numel() - 1).reshape(1)
    return sorted_values.index_select(0, i).reshape(())


def device_percentile(form: Any, s: Any, n: Any, p: float) -> Any:
    """:func:`percentile` of the first ``n`` entries of ascending ``s`` (0-d tensors)."""
    t = form.torch
    pos = (n - 1).to(t.float64) * p / 100.0
    lo = t.floor(pos)
    hi = t.minimum(lo + 1, (n - 1).to(t.float64))
    frac = pos - lo
    a, b = pick(s, lo.long()), pick(s, hi.long())
    return a + (b - a) * frac


def fold(values: Any) -> float:
    """Sum floats left to right (the order :func:`fold_sum` adds in on the device)."""
    total = 0.0
    for v in values:
        total += v
    return total


def sqrt(form: Any, x: Any) -> Any:
    """The correctly rounded square root of a float64 tensor (the host's ``math.sqrt``).

    torch's CPU kernel is not always correctly rounded (about 1% of doubles come out one
    unit in the last place off); the host's ``math.sqrt`` is. One correction step makes
    them agree: with ``r²`` split exactly into ``p + e`` (Dekker's product), the residual
    ``x − r²`` says whether ``x`` lies past the midpoint to a neighbour of ``r``.
    (On a GPU torch's ``sqrt`` is already correctly rounded and nothing changes.)
    """
    t = form.torch
    r = t.sqrt(x)
    split = r * 134217729.0  # 2**27 + 1
    hi = split - (split - r)
    lo = r - hi
    p = r * r
    e = ((hi * hi - p) + 2.0 * hi * lo) + lo * lo  # r·r = p + e exactly
    d = (x - p) - e
    up, down = t.nextafter(r, r.new_full((), math.inf)), t.nextafter(r, r.new_zeros(()))
    fixed = t.where(d > r * (up - r), up, t.where(d < -r * (r - down), down, r))
    return t.where(t.isfinite(r) & (r > 0), fixed, r)
