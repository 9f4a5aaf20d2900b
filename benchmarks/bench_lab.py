"""Benchmark the lab: exact closed form, vectorised log mode, the lesson, and CLI cold start.

$ .venv/bin/python benchmarks/bench_lab.py

Every figure comes with its baseline measured in the same run and the ratio.
Slow baselines run at smaller sizes and are scaled to the target size by their
measured growth (stated next to the figure).
"""

from __future__ import annotations

import math
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np

from gradguard.explain import lesson
from gradguard.lab import grad_closed_form, gradient, gradient_log


def best_of(fn: Callable[[], object], repeat: int = 5) -> float:
    """Best wall time of ``repeat`` runs, in seconds (the least disturbed by other load)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def naive_bptt(w: int, h0: int, T: int) -> int:
    """The seed's sum done the obvious way: forward states, then every term h_{t-1}·w^(T-t)."""
    states = [h0]
    for _ in range(T):
        states.append(w * states[-1])
    return sum(states[t - 1] * w ** (T - t) for t in range(1, T + 1))


def sympy_grad(w: object, h0: int, T: int) -> object:
    """``d(w^T·h0)/dw`` by sympy, then ``subs`` — with sympy's cache cleared (no free repeats)."""
    import sympy
    from sympy.core.cache import clear_cache

    clear_cache()
    ws = sympy.Symbol("w")
    return sympy.diff(ws**T * h0, ws).subs(ws, w)


def naive_float_bptt_log(w: float, T: int) -> float:
    """A naive float64 BPTT loop (forward states, then the terms) and log10 of the result."""
    states = [1.0]
    for _ in range(T):
        states.append(w * states[-1])
    grad = 0.0
    delta = 1.0
    for t in range(T, 0, -1):  # δ_T = 1, δ_{t-1} = w·δ_t
        grad += states[t - 1] * delta
        delta *= w
    return math.log10(abs(grad)) if grad else -math.inf


def scaled(measure: Callable[[int], float], sizes: list[int], target: int) -> tuple[float, float]:
    """Time ``measure`` at ``sizes``, fit t ∝ T^k on the last two, extrapolate to ``target``."""
    times = [measure(T) for T in sizes]
    k = math.log(times[-1] / times[-2]) / math.log(sizes[-1] / sizes[-2])
    return times[-1] * (target / sizes[-1]) ** k, k


def main() -> None:
    print("== exact closed form T·w^(T-1)·h0, w=2, h0=1, T=10^6 (target < 50 ms)")
    T = 10**6
    ours = best_of(lambda: grad_closed_form(2, 1, T))
    g = grad_closed_form(2, 1, T)
    print(f"gradguard grad_closed_form: {ours * 1e3:8.2f} ms  ({g.bit_length():,} bits)")

    sizes = [2_000, 4_000, 8_000]
    naive_T, k_naive = scaled(lambda n: best_of(lambda: naive_bptt(2, 1, n), 2), sizes, T)
    assert naive_bptt(2, 1, 2_000) == grad_closed_form(2, 1, 2_000)
    print(
        f"naive Python BPTT loop:     {naive_T:8.1f} s   (measured at T={sizes}, "
        f"t ∝ T^{k_naive:.2f}, scaled to 10^6)  ratio {naive_T / ours:,.0f}×"
    )
    sym = best_of(lambda: sympy_grad(2, 1, T), 3)
    assert int(sympy_grad(2, 1, 1_000)) == grad_closed_form(2, 1, 1_000)  # type: ignore[call-overload]
    print(f"sympy.diff + subs (cache cleared): {sym * 1e3:8.1f} ms  ratio {sym / ours:,.1f}×")

    print("\n== log mode, 10^6 (w, T) pairs, vectorised (target < 0.5 s)")
    rng = np.random.default_rng(0)
    n = 10**6
    w = rng.uniform(-3, 3, n)
    Ts = rng.integers(1, 10**6, n)
    vec = best_of(lambda: gradient_log(w, Ts), 3)
    print(f"gradguard gradient_log:     {vec * 1e3:8.1f} ms")
    m = 10_000
    loop = best_of(lambda: [gradient(float(w[i]), 1, int(Ts[i]), "log") for i in range(m)], 1) * (
        n / m
    )
    print(
        f"scalar gradient(mode='log') loop: {loop:6.2f} s  (measured on 10^4 pairs, ×100)  "
        f"ratio {loop / vec:,.0f}×"
    )
    # Same numbers both ways (a benchmark of a wrong answer is worthless).
    s, lg = gradient_log(w[:100], Ts[:100])
    for i in range(100):
        lv = gradient(float(w[i]), 1, int(Ts[i]), "log")
        assert lv.sign == s[i] and math.isclose(lv.log10, lg[i], rel_tol=1e-9)
    k = 20
    naive = best_of(lambda: [naive_float_bptt_log(float(w[i]), int(Ts[i])) for i in range(k)], 1)
    finite = sum(math.isfinite(naive_float_bptt_log(float(w[i]), int(Ts[i]))) for i in range(k))
    print(
        f"naive float64 BPTT loop + log10: {naive * n / k:8.0f} s  (measured on {k} pairs, "
        f"×{n // k:,}; mean T ≈ 5·10^5)  ratio {naive * n / k / vec:,.0f}×  "
        f"— and only {finite}/{k} of its results are finite (float64 overflows/underflows)"
    )
    sym = best_of(lambda: [sympy_grad(float(w[i]), 1, int(Ts[i])) for i in range(k)], 1)
    print(
        f"sympy.diff + subs (floats, mpmath range): {sym * n / k:8.0f} s  (measured on {k} pairs,"
        f" ×{n // k:,})  ratio {sym * n / k / vec:,.0f}×"
    )

    print("\n== the lesson for the web explorer, T=10^4 (target < 50 ms)")
    fast = best_of(lambda: lesson(T=10**4, abbreviate=40), 5)
    full = best_of(lambda: lesson(T=10**4), 1)
    print(f"lesson(T=10^4, abbreviate=40): {fast * 1e3:7.1f} ms")
    print(f"lesson(T=10^4) fully exact:    {full * 1e3:7.1f} ms  ratio {full / fast:,.0f}×")

    print("\n== `gradguard explain` cold start, whole process (target < 0.5 s)")

    def proc(args: list[str]) -> tuple[float, float]:
        """Median wall time and median CPU time (user + sys) of 5 runs of ``args``."""
        walls, cpus = [], []
        for _ in range(5):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(args, check=True, capture_output=True)
            walls.append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        return statistics.median(walls), statistics.median(cpus)

    explain, explain_cpu = proc([sys.executable, "-m", "gradguard", "explain"])
    bare, bare_cpu = proc([sys.executable, "-c", "pass"])
    load = os.getloadavg()[0]
    print(
        f"python -m gradguard explain: {explain * 1e3:7.0f} ms wall, "
        f"{explain_cpu * 1e3:4.0f} ms CPU (median of 5; load average {load:.1f} "
        f"on {os.cpu_count()} cores)"
    )
    print(
        f"python -c pass:              {bare * 1e3:7.0f} ms wall, {bare_cpu * 1e3:4.0f} ms CPU"
        f"  ratio {explain / bare:.1f}× wall"
    )
    try:
        torch_t, _ = proc([sys.executable, "-c", "import torch"])
        print(
            f"python -c 'import torch':    {torch_t * 1e3:7.0f} ms  "
            f"(what explain would cost with torch at import: {torch_t / explain:.1f}×)"
        )
    except subprocess.CalledProcessError:
        print("torch not installed: no torch baseline")


if __name__ == "__main__":
    main()
