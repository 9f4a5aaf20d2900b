"""The lesson as data: the seed's whole explanation, computed live, language-neutral.

:func:`lesson` runs the lab on the given parameters and returns a JSON-ready
dict: the values (``states``, ``loss``, ``deltas``, ``terms``, ``grad``,
``table``, …) and ``steps``, the lesson's sections as records (``kind`` plus
values) that the renderers turn into prose with a message catalog.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from typing import Any

from gradguard._validate import check_lang, check_threshold, check_whole, check_whole_list
from gradguard.errors import InputError
from gradguard.explain._claims import BIG_GRAD, claims
from gradguard.explain._render import overflow_inf
from gradguard.lab import (
    MAX_DIGITS,
    MAX_TRACE_T,
    Exact,
    bptt,
    clip_by_norm,
    exact_to_json,
    explosion_table,
    grad_closed_form,
    is_seed_system,
    overflow_horizon,
    regime,
    sgd_step,
    table_to_json,
    to_exact,
)
from gradguard.lab.numbers import (
    approx_powers_json,
    check_lr,
    estimate_digits,
    log10_abs,
    power_exact,
    power_log,
    sci_from_log,
)

__all__ = ["LESSON_VERSION", "lesson"]

LESSON_VERSION = 1


def _value(w: Exact, h0: Exact, power: int, factor: int, abbreviate: int | None) -> str:
    """JSON of ``factor·w^power·h0``: exact when it fits, else ``"≈…"`` from logs."""
    limit = abbreviate if abbreviate is not None else MAX_DIGITS
    if estimate_digits(w, h0, power, factor) <= limit:
        return exact_to_json(power_exact(w, h0, power, factor), abbreviate)
    lv = power_log(w, h0, power, factor)
    if lv.sign == 0:  # an exact zero is short whatever its factors' sizes
        return "0"
    return "≈" + sci_from_log(lv.sign, lv.log10)


def _series(w: Exact, h0: Exact, powers: range, abbreviate: int) -> list[str]:
    """``[w^p·h0 for p in powers]`` as JSON: exact while short, then ``"≈…"`` (vectorised)."""
    if h0 == 0:
        return ["0"] * len(powers)
    if w == 0:
        return [exact_to_json(h0, abbreviate) if p == 0 else "0" for p in powers]
    if w in (1, -1):  # |w^p| = 1: two values, alternating for w = -1
        plus, minus = exact_to_json(h0, abbreviate), exact_to_json(-h0, abbreviate)
        return [minus if (w == -1 and p % 2) else plus for p in powers]
    # Text length grows with p, so the exact prefix ends at the first p over the
    # limit: binary search for it (O(log T) size estimates, not T).
    lo, hi = min(powers), max(powers)
    a, b = lo, hi + 1  # estimate_digits(p) <= abbreviate for p < cut, > for p >= cut
    while a < b:
        mid = (a + b) // 2
        if estimate_digits(w, h0, mid) <= abbreviate:
            a = mid + 1
        else:
            b = mid
    cut = a
    exact: dict[int, str] = {}
    x = power_exact(w, h0, lo) if lo < cut else 0
    for p in range(lo, cut):
        exact[p] = exact_to_json(x)
        x = _normal(x * w)
    big = [p for p in powers if p >= cut]
    if not big:  # all exact: numpy (the vectorised path) is not even imported
        return [exact[p] for p in powers]
    approx = iter(
        approx_powers_json(
            1 if w > 0 else -1, log10_abs(w), 1 if h0 > 0 else -1, log10_abs(h0), big
        )
    )
    return [exact[p] if p < cut else next(approx) for p in powers]


def _normal(x: Fraction | int) -> Exact:
    return x.numerator if isinstance(x, Fraction) and x.denominator == 1 else x


def lesson(
    w: object = 2,
    h0: object = 1,
    T: object = 5,
    eta: object = "0.01",
    c: object = 5,
    lang: str = "en",
    table_T: Iterable[int] | str = (5, 10, 20, 50),
    abbreviate: int | None = None,
    verify: bool | None = None,
) -> dict[str, Any]:
    """Compute the seed's lesson for the given parameters and return it as a JSON-ready dict.

    Args:
      w: the recurrent weight (int, Fraction, decimal string like ``"0.9"``, float).
      h0: the initial state ``h_0``.
      T: time steps, a whole number ``1 ≤ T ≤ 100,000``.
      eta: the learning rate ``η > 0`` of the SGD step.
      c: the clipping threshold ``c > 0``.
      lang: a language with catalogs (``gradguard.explain.languages()``), recorded for the
        renderers; the data is language-neutral.
      table_T: the time steps of the explosion table.
      abbreviate: if set, values with more than this many digits are given as
        ``"≈1.268e+30"`` (4 significant digits) instead of exact strings — fast
        for a web page at large ``T``; ``None`` keeps every value exact.
      verify: run the backward pass term by term and check its sum against the
        closed form (``closed_form.matches_bptt``). Default: when ``abbreviate``
        is ``None`` (the lists then come from that trace); an abbreviated lesson
        builds its lists from the closed form's powers and checks only with
        ``verify=True`` (``matches_bptt`` is ``None`` otherwise).

    Returns:
      A dict with the keys ``version, lang, params, seed_system, states, loss,
      deltas, terms, grad, closed_form, table, horizons, regime, sgd, clip,
      errata, claims, steps``; ``claims`` lists every sentence the lesson states about
      these parameters as ``{"id", "values"}`` (:mod:`gradguard.explain._claims`).
      Exact values are decimal strings (``"80"``) or ``"p/q"`` strings (``"6/5"``).

    Raises:
      InputError: a bad argument, or values too large to hold exactly.

    Example:
      >>> d = lesson()
      >>> d["states"], d["terms"], d["grad"]
      (['1', '2', '4', '8', '16', '32'], ['16', '16', '16', '16', '16'], '80')
    """
    lang = check_lang(lang)
    wx, hx = to_exact(w, "w"), to_exact(h0, "h0")
    tt = check_whole(T, "T")
    if tt > MAX_TRACE_T:
        raise InputError("T", T, "lesson_T", "lesson_use_table", max=MAX_TRACE_T)
    ex = check_lr(eta, "eta")
    cx = to_exact(c, "c")
    check_threshold(cx, "c", finite=True)
    steps_T = check_whole_list(table_T, "table_T")
    if abbreviate is not None:
        try:
            abbreviate = check_whole(abbreviate, "abbreviate")
        except InputError:
            raise InputError("abbreviate", abbreviate, "whole_or_none") from None

    grad = grad_closed_form(wx, hx, tt)  # refuses a gradient over MAX_DIGITS digits
    matches: bool | None = None
    # An abbreviated lesson is for people (a page, a report): its lists are built
    # from powers, exact while short (_series), so the O(T²·digits) trace of the
    # BPTT sum is paid only when asked for (verify=True) — w = 0.123456789 at
    # T = 2000 is slow to trace for digits nobody reads.
    needs_trace = abbreviate is None
    trace = None
    if verify or needs_trace:
        try:
            trace = bptt(wx, hx, tt)
        except InputError as e:
            if needs_trace:
                raise InputError(
                    e.argument, e.value, e.rule_id or e.rule, "lesson_abbreviate", **e.fields
                ) from None
            # Too large to re-sum term by term; the abbreviated output does not need it.
    if trace is not None and (verify or verify is None):
        if trace.grad != grad:  # pragma: no cover - a broken lab, never the user's input
            raise RuntimeError(f"BPTT sum {trace.grad} != closed form {grad}")
        matches = True
    if trace is not None and needs_trace:
        states = [exact_to_json(x, abbreviate) for x in trace.states]
        deltas = [exact_to_json(x, abbreviate) for x in trace.deltas]
        terms = [exact_to_json(x, abbreviate) for x in trace.terms]
    else:
        # For a web page at large T: every term is w^(T-1)·h0 (the closed form's
        # reason), so the lists are built from powers, exact while short.
        assert abbreviate is not None  # needs_trace is False
        states = _series(wx, hx, range(tt + 1), abbreviate)
        deltas = _series(wx, 1, range(tt - 1, -1, -1), abbreviate)
        term = _value(wx, hx, tt - 1, 1, abbreviate)
        terms = [term] * tt
    grad_json = exact_to_json(grad, abbreviate)

    reg = regime(wx)
    seed = is_seed_system(wx, hx)
    try:
        table = table_to_json(explosion_table(wx, hx, steps_T, mode="exact"))
    except InputError as e:  # a T of the table, not the lesson's own T, is too large
        raise InputError(
            "table_T", e.value, e.rule_id or e.rule, "table_T_too_large", **e.fields
        ) from None
    horizons = {dt: overflow_horizon(wx, hx, dt) for dt in ("float64", "float32")}

    w_new = sgd_step(wx, grad, ex)
    w_new_reg = regime(w_new)
    grad_new = _value(w_new, hx, tt - 1, tt, abbreviate)  # None: exact (--exact)
    w_big = sgd_step(wx, BIG_GRAD, ex)
    g_clip: Exact = clip_by_norm(Fraction(grad), Fraction(cx))
    w_clip = sgd_step(wx, g_clip, ex)
    eta_low = Fraction(ex) / 10
    w_low = sgd_step(wx, grad, eta_low)

    found = claims(wx, hx, tt, ex, cx, steps_T, abbreviate, grad=grad)
    said = {c.topic: c.id.partition(".")[2] for c in found}
    errata = ["proportional"]
    if seed and any(T_ in (10, 20, 50) for T_ in steps_T):
        errata.insert(0, "table")
    # The seed stops at "w = 1.2" as if the update had fixed the problem. While |w_new| > 1
    # the gradient still explodes, at the per-step factor |w_new| instead of |w|: more slowly,
    # just as fast, or faster (a large step overshoots: at T = 200, w = 2 becomes ≈ −1.6 × 10^60).
    after = said.get("after_update")
    if after in ("slower", "same", "faster"):
        errata.append("after_update")
    else:
        after = None

    def j(x: Exact) -> Any:
        return exact_to_json(x, abbreviate)

    sgd = {
        "eta": j(ex),
        "grad": grad_json,
        "w_new": j(w_new),
        "w_new_regime": w_new_reg.kind,
        "grad_new": grad_new,
        "after_update": after,
        "big_grad": str(BIG_GRAD),
        "w_new_big": j(w_big),
    }
    clip = {
        "c": j(cx),
        "seed_example": {"g": "100", "c": "5", "clipped": j(clip_by_norm(100, 5))},
        "grad": grad_json,
        "grad_clipped": j(g_clip),
        "clipped": g_clip != grad,
        "w_new": j(w_clip),
        "eta_low": j(eta_low),
        "w_new_low_lr": j(w_low),
    }
    steps: list[dict[str, Any]] = [
        {"kind": "definition"},
        {"kind": "setup"},
        {"kind": "forward", "T": tt, "loss": states[-1]},
        {"kind": "backward", "T": tt},
        # The seed's "(even for such a small network this is very large)" — said of 80
        # from h_0 = 1; not of T = 1's gradient h_0.
        {"kind": "substitute", "T": tt, "grad": grad_json, "large": "large" in said},
        {"kind": "closed_form", "T": tt, "power": tt - 1, "grad": grad_json, "matches": matches},
        {
            "kind": "table",
            "regime": reg.kind,
            "seed_system": seed,
            "horizons": horizons,
            "inf": overflow_inf(wx, hx),
        },
        {"kind": "why", "regime": reg.to_json()},
        {"kind": "sgd", **sgd},
        {"kind": "remedies", "items": ["clipping", "init", "gates", "lr"], **clip},
        {"kind": "exam"},
    ]
    return {
        "version": LESSON_VERSION,
        "lang": lang,
        "params": {
            "w": exact_to_json(wx),
            "h0": exact_to_json(hx),
            "T": tt,
            "eta": exact_to_json(ex),
            "c": exact_to_json(cx),
            "table_T": steps_T,
            "abbreviate": abbreviate,
        },
        "seed_system": seed,
        "states": states,
        "loss": states[-1],
        "deltas": deltas,
        "terms": terms,
        "grad": grad_json,
        "closed_form": {"T": tt, "power": tt - 1, "value": grad_json, "matches_bptt": matches},
        "table": table,
        "horizons": horizons,
        "regime": reg.to_json(),
        "sgd": sgd,
        "clip": clip,
        "errata": errata,
        "claims": [c.to_json() for c in found],
        "steps": steps,
    }
