"""The lesson's claims: which sentence is true for these parameters, decided once, exactly.

Every sentence the lesson states *about its parameters* — the gradient explodes, vanishes,
grows linearly or is 0; where it peaks; whether it grows from ``T`` to ``T+1``; what one
SGD update did to ``|w|`` and why; whether clipping acted; what the exam answer's "in this
example" says — is a :class:`Claim`: an ``id`` chosen by an exact condition over the lab's
values (:class:`~fractions.Fraction`, no float), plus the values its sentence shows. The
sentence itself is the catalog message of the same name (``regime.exploding`` is the
message ``exploding`` of the catalog section ``[regime]``); :func:`say` fills it in. Every
medium — the terminal, Markdown and JSON lesson, the HTML report, the explorer, the
notebook — renders these claims and no condition of its own.

Notation: ``w, h0`` exact rationals, ``T ≥ 1`` a whole number, ``η > 0``, ``c > 0``;
``a = |w|``; ``g(T) = T·w^(T−1)·h0`` (with ``w^0 = 1``), ``g = g(T)`` at the lesson's
``T``; ``w_new = w − η·g`` (one SGD step), ``a_new = |w_new|``; ``sgn`` is -1, 0 or 1.
Values are JSON strings as the lesson writes them (``"6/5"``; ``"≈1.2e+30"`` when
abbreviated), whole numbers as ints. At most one claim per topic.

Each claim: its id, its exact condition, then ``→`` the values its sentence shows.

**regime** (how ``|g(T)|`` behaves as ``T`` grows; always one):

* ``regime.zero_h0``: ``h0 = 0`` → —
* ``regime.zero_w``: ``h0 ≠ 0`` and ``w = 0`` → ``h0``
* ``regime.exploding``: ``h0 ≠ 0`` and ``a > 1`` → ``a``
* ``regime.linear``: ``h0 ≠ 0`` and ``a = 1`` → ``T``, ``grad_abs = |g|``
* ``regime.vanishing``: ``h0 ≠ 0`` and ``0 < a < 1`` → ``a``

**peak** (only with ``regime.vanishing``; ``r = a/(1−a)``; the argmax of ``|g(T)|`` over
whole ``T ≥ 1``, see :func:`argmax_T`):

* ``peak.at_once``: ``r < 1`` (``a < 1/2``), argmax ``{1}`` → ``peak = 1``
* ``peak.tie_at_once``: ``r = 1`` (``a = 1/2``), argmax ``{1, 2}`` → ``peak = 1, peak2 = 2``
* ``peak.rise``: ``r > 1`` not whole, argmax ``{⌈r⌉}`` → ``peak = ⌈r⌉``, ``peak_real``
* ``peak.rise_tie``: ``r > 1`` whole, argmax ``{r, r+1}`` → ``peak = r, peak2 = r+1``

**next_T** (from the lesson's ``T`` to ``T+1``; always one; ``q = (T+1)/T·a``):

* ``next_T.zero``: ``g = 0`` and not ``next_T.to_zero`` → ``T, T_next``
* ``next_T.to_zero``: ``h0 ≠ 0``, ``w = 0``, ``T = 1`` → ``T, T_next, h0``
* ``next_T.grows``: ``g ≠ 0`` and ``q > 1`` → ``T, T_next, q``
* ``next_T.same``: ``g ≠ 0`` and ``q = 1`` (``a = T/(T+1)``) → ``T, T_next, q``
* ``next_T.shrinks``: ``g ≠ 0`` and ``q < 1`` → ``T, T_next, q``

**alternating**, **large** (each only where its condition holds):

* ``alternating.signs``: ``w < 0`` and ``h0 ≠ 0`` → —
* ``large.big`` (the seed's "even for such a small network this is very large"):
  ``regime.exploding`` and ``|g| ≥ 10·|h0|`` → —

**trend** (the line under the explosion table, whose rows are at the ``Ts``; always one):

* ``trend.zero_h0``, ``trend.zero_w``, ``trend.exploding``, ``trend.linear``: as ``regime``
* ``trend.vanishing``: ``regime.vanishing`` and ``min(Ts) ≥`` the last argmax → —
* ``trend.vanishing_peak``: ``regime.vanishing``, argmax ``{p}``, ``min(Ts) < p`` → ``peak``
* ``trend.vanishing_peak_tie``: ``regime.vanishing``, argmax ``{p, p+1}``,
  ``min(Ts) < p+1`` → ``peak = p, peak2 = p+1``

**update** (one SGD step; always one; ``step = η·g``, ``w_new = w − step``,
``a_new = |w_new|``; ``update.none`` → ``w``, ``update.from_zero`` → ``grad = g, w_new``,
every other case → ``a, a_new, step, step_abs = |step|, w_new``):

* ``update.none``: ``g = 0``
* ``update.from_zero``: ``g ≠ 0`` and ``w = 0``
* ``update.away``: ``g ≠ 0``, ``w ≠ 0``, ``sgn g = −sgn w``
* ``update.toward``: ``sgn g = sgn w ≠ 0`` and ``η·|g| < a``
* ``update.to_zero``: ``sgn g = sgn w ≠ 0`` and ``η·|g| = a``
* ``update.crossed_smaller``: ``sgn g = sgn w ≠ 0`` and ``a < η·|g| < 2a``
* ``update.crossed_same``: ``sgn g = sgn w ≠ 0`` and ``η·|g| = 2a``
* ``update.crossed_larger``: ``sgn g = sgn w ≠ 0`` and ``η·|g| > 2a`` (it overshot)

**after_update** (only if ``h0 ≠ 0`` and ``g ≠ 0``; → ``a, a_new, w_new, T, grad = g,
grad_new = T·w_new^(T−1)·h0``):

* ``after_update.faster``: ``a > 1`` and ``a_new > a``
* ``after_update.same``: ``a > 1`` and ``a_new = a``
* ``after_update.slower``: ``a > 1`` and ``1 < a_new < a``
* ``after_update.now_explodes``: ``a ≤ 1`` and ``a_new > 1``
* ``after_update.linear``: ``a_new = 1``
* ``after_update.vanishing``: ``0 < a_new < 1``
* ``after_update.zero``: ``a_new = 0``

**compare** (only with an ``after_update`` claim and ``T ≥ 2``; → ``T, grad, grad_new``):

* ``compare.same``: ``w_new = −w`` and ``T`` odd (``w^(T−1)`` is the same at ``±w``: the
  gradient at the new ``w`` equals the old one)
* ``compare.at_T``: otherwise

**big_grad** (the seed's "but if the gradient is 10^6": one update with ``G = 10^6``;
always one; ``s = η·G``, ``w_big = w − s``; how large that step is *relative to* ``w``;
→ ``w, a, step = s, w_new = w_big``):

* ``big_grad.from_zero``: ``w = 0`` (no step is small next to ``w = 0``)
* ``big_grad.thrown``: ``s > a`` (more than 100 % of ``|w|``)
* ``big_grad.large``: ``a/10 < s ≤ a``
* ``big_grad.small``: ``s ≤ a/10`` (the only case that says "only")

**big_fate** (always one: what exact SGD on ``L = h_T`` does *after* that step, from
``w_big`` on; see :func:`sgd_fate`; ``u = η·T·h0·w_big^(T−2)``, so that the next step maps
``w_big`` to ``w_big·(1 − u)``; → ``T, w_new = w_big, grad_abs = |g(w_big)|, next =
η·|g(w_big)|``, and ``w_neg = −w_big`` (``cycles``), ``move = −η·h0`` (``drifts``)):

* ``big_fate.stays``: ``g(w_big) = 0`` (``h0 = 0``, or ``w_big = 0`` with ``T ≥ 2``)
* ``big_fate.drifts``: ``T = 1``, ``h0 ≠ 0`` (the gradient ``h0`` does not depend on ``w``)
* ``big_fate.breaks``: the iteration diverges and ``big_grad`` is ``thrown`` or
  ``from_zero`` (the seed's "training breaks down completely")
* ``big_fate.runaway``: it diverges and the step was at most ``|w|``
* ``big_fate.settles``: it converges to 0, every step smaller than the one before
* ``big_fate.lands_zero``: ``u = 1``: the next step lands on 0, where the gradient is 0
* ``big_fate.cycles``: ``u = 2``, ``T`` even: ``w`` swings between ``±w_big`` for ever
* ``big_fate.unknown``: not decided within :data:`FATE_BITS` (the next step, no verdict)

**clipping** (always one; ``gc = g / max(1, |g|/c)``; → ``g, g_abs = |g|, c, gc,
w_new = w − η·gc``):

* ``clipping.acted``: ``|g| > c``
* ``clipping.idle``: ``|g| ≤ c``

**example** (the exam answer's "in this example"; always one): ``example.zero_h0``,
``example.zero_w``, ``example.exploding`` (→ ``a``), ``example.linear``,
``example.vanishing`` (→ ``a``): the same conditions as ``regime``.

In ``update.*``, ``step = η·g`` and ``w_new = w − η·g``; ``gc = g / max(1, |g|/c)`` and, in
``clipping.*``, ``w_new = w − η·gc``. ``peak_real = −1/ln a`` (a float, shown to 3 digits).

Why these conditions (``f(T) = |g(T)| = T·a^(T−1)·|h0|``):

* ``f(T+1)/f(T) = (T+1)/T·a`` — so with ``a > 1`` ``f`` rises for every ``T`` (explodes),
  with ``a = 1`` ``f = T·|h0|`` (linear), and with ``a < 1`` ``f`` rises while
  ``T < r = a/(1−a)``, is level from ``T = r`` to ``r+1`` when ``r`` is whole, and falls
  after: the argmax over whole ``T ≥ 1`` is ``{⌈r⌉}``, or ``{r, r+1}`` for a whole ``r``
  (``w = T/(T+1)``: both maxima are named); ``a < 1/2`` never rises.
* The seed's "training breaks down completely" under ``w = 2 − 0.01 × 10^6 = −9998`` is
  true of that run, not of every one: whether the steps after it run away is the fate of
  the iteration ``w ← w·(1 − u(w))`` (:func:`sgd_fate`), decided exactly; at ``T = 2``,
  ``η = 0.6``, ``h0 = 1`` it shrinks ×(−0.2) a step and settles, whatever the jump was. A
  step of 10 % of ``|w|`` or less is "only" a small change; at ``w = 0`` none is.
* An SGD step subtracts ``η·g``: it moves ``w`` towards 0 when ``g`` has ``w``'s sign and
  away from 0 when it has the opposite sign — for every ``η > 0``, so the sign, not the
  step's size, is the cause there (the seed's example never shows it: ``w, h0 > 0``).
  Towards 0, a step larger than ``|w|`` crosses 0 and changes the sign of ``w``; larger
  than ``2|w|`` it lands farther from 0 than it started (it overshot).

>>> [c.id for c in claims(2, 1, 5)][:3]
['regime.exploding', 'next_T.grows', 'large.big']
>>> say(claims("0.5", 1, 5)[1], "en")[:54]
'It never grows: at |w| = 1/2 it is equally large at T '
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from gradguard.lab import Exact, exact_to_json, to_exact
from gradguard.lab.numbers import log10_abs

__all__ = ["Claim", "claims", "say"]

#: The claim topics, in the order :func:`claims` lists them.
TOPICS: tuple[str, ...] = (
    "regime",
    "peak",
    "next_T",
    "alternating",
    "large",
    "trend",
    "update",
    "after_update",
    "compare",
    "big_grad",
    "big_fate",
    "clipping",
    "example",
)

#: The seed's "but if the gradient is 10^6" (the ``big_grad`` claim's gradient).
BIG_GRAD = 10**6
#: The most bits an exact power may take in :func:`sgd_fate` (where logs cannot decide).
FATE_BITS = 4_000_000


@dataclass(frozen=True)
class Claim:
    """One true sentence's identity: ``id`` (``topic.case``, a catalog key) and its values."""

    id: str
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def topic(self) -> str:
        """The part of ``id`` before the dot (``"regime"``)."""
        return self.id.partition(".")[0]

    def to_json(self) -> dict[str, Any]:
        """Return ``{"id": …, "values": {…}}`` (values already JSON-ready)."""
        return {"id": self.id, "values": dict(self.values)}


def _sgn(x: Fraction) -> int:
    return (x > 0) - (x < 0)


def argmax_T(a: Fraction) -> tuple[int, ...]:
    """Return the whole ``T ≥ 1`` where ``T·a^(T−1)`` is largest, for ``0 < a < 1``.

    One ``T`` (``⌈a/(1−a)⌉``, at least 1), or two when ``r = a/(1−a)`` is whole: ``(r, r+1)``
    (there ``(T+1)/T·a = 1``, so both values are equal).
    """
    r = a / (1 - a)
    if r.denominator == 1:
        return (max(1, r.numerator),) if r < 1 else (r.numerator, r.numerator + 1)
    return (max(1, -(-r.numerator // r.denominator)),)


def claims(
    w: object,
    h0: object,
    T: int,
    eta: object = "0.01",
    c: object = 5,
    table_T: Iterable[int] = (5, 10, 20, 50),
    abbreviate: int | None = None,
    grad: Exact | None = None,
) -> list[Claim]:
    """Decide which claims hold for these parameters (see the module docstring's table).

    Args:
      w, h0: the weight and the initial state (exact: int, Fraction, decimal string).
      T: the lesson's time steps, a whole number ``≥ 1`` (checked by the caller).
      eta, c: the learning rate and the clipping threshold, both ``> 0``.
      table_T: the explosion table's time steps (for the ``trend`` claim).
      abbreviate: write values longer than this many digits as ``"≈…"`` (as the lesson).
      grad: ``T·w^(T−1)·h0`` if the caller has it (else computed here, exactly).

    Returns:
      The claims, one per topic that applies, in :data:`TOPICS` order.
    """
    from gradguard.lab.numbers import power_exact

    wf, hf = Fraction(to_exact(w, "w")), Fraction(to_exact(h0, "h0"))
    ef, cf = Fraction(to_exact(eta, "eta")), Fraction(to_exact(c, "c"))
    g = Fraction(grad if grad is not None else power_exact(wf, hf, T - 1, T))
    a = abs(wf)

    def j(x: Fraction | int) -> str:
        return exact_to_json(_exact(x), abbreviate)

    out: list[Claim] = []
    # regime / example: what |g(T)| does as T grows without bound.
    vals: dict[str, Any]
    if hf == 0:
        kind, vals = "zero_h0", {}
    elif wf == 0:
        kind, vals = "zero_w", {"h0": j(hf)}
    elif a > 1:
        kind, vals = "exploding", {"a": j(a)}
    elif a == 1:
        kind, vals = "linear", {"T": T, "grad_abs": j(abs(g))}
    else:
        kind, vals = "vanishing", {"a": j(a)}
    out.append(Claim(f"regime.{kind}", vals))

    peaks: tuple[int, ...] = ()
    if kind == "vanishing":
        peaks = argmax_T(a)
        ln_a = log10_abs(_exact(a)) * math.log(10)  # accurate near a = 1 (log1p inside)
        # a within 1e-308 of 1: −1/ln a is no float; the whole peak is as near as it gets
        real: float | int = -1.0 / ln_a if ln_a != 0 else peaks[0]
        if peaks == (1,):
            out.append(Claim("peak.at_once", {"peak": 1}))
        elif peaks == (1, 2):
            out.append(Claim("peak.tie_at_once", {"peak": 1, "peak2": 2}))
        elif len(peaks) == 1:
            out.append(Claim("peak.rise", {"peak": peaks[0], "peak_real": real}))
        else:
            out.append(Claim("peak.rise_tie", {"peak": peaks[0], "peak2": peaks[1]}))

    steps = {"T": T, "T_next": T + 1}
    if hf != 0 and wf == 0 and T == 1:  # g(1) = h0, g(2) = 0
        out.append(Claim("next_T.to_zero", {**steps, "h0": j(hf)}))
    elif g == 0:
        out.append(Claim("next_T.zero", steps))
    else:
        q = Fraction(T + 1, T) * a
        case = "grows" if q > 1 else "same" if q == 1 else "shrinks"
        out.append(Claim(f"next_T.{case}", {**steps, "q": j(q)}))

    if wf < 0 and hf != 0:
        out.append(Claim("alternating.signs"))
    if kind == "exploding" and abs(g) >= 10 * abs(hf):
        out.append(Claim("large.big"))

    # trend: the line under the explosion table (its rows' T).
    rows = sorted(set(table_T))
    if kind != "vanishing":
        out.append(Claim(f"trend.{kind}"))
    elif not rows or rows[0] >= peaks[-1]:
        out.append(Claim("trend.vanishing"))
    elif len(peaks) == 1:
        out.append(Claim("trend.vanishing_peak", {"peak": peaks[0]}))
    else:
        out.append(Claim("trend.vanishing_peak_tie", {"peak": peaks[0], "peak2": peaks[1]}))

    # update: one SGD step w_new = w − η·g, what it did to |w| and why.
    step = ef * g
    w_new = wf - step
    a_new = abs(w_new)
    moved = {"a": j(a), "a_new": j(a_new), "step": j(step), "step_abs": j(abs(step))}
    moved["w_new"] = j(w_new)
    if g == 0:
        out.append(Claim("update.none", {"w": j(wf)}))
    elif wf == 0:
        out.append(Claim("update.from_zero", {"grad": j(g), "w_new": j(w_new)}))
    elif _sgn(g) != _sgn(wf):
        out.append(Claim("update.away", moved))
    else:
        size = abs(step)
        case = (
            "toward"
            if size < a
            else "to_zero"
            if size == a
            else "crossed_smaller"
            if size < 2 * a
            else "crossed_same"
            if size == 2 * a
            else "crossed_larger"
        )
        out.append(Claim(f"update.{case}", moved))

    if hf != 0 and g != 0:
        if a > 1 and a_new > 1:
            case = "faster" if a_new > a else "same" if a_new == a else "slower"
        elif a_new > 1:
            case = "now_explodes"
        elif a_new == 1:
            case = "linear"
        elif a_new > 0:
            case = "vanishing"
        else:
            case = "zero"
        grad_new = _grad_json(w_new, hf, T, abbreviate)
        after = {"a": j(a), "a_new": j(a_new), "w_new": j(w_new), "T": T, "grad": j(g)}
        out.append(Claim(f"after_update.{case}", {**after, "grad_new": grad_new}))
        if T >= 2:
            same = w_new == -wf and T % 2 == 1  # g(−w) = g(w) for odd T; no other w_new ≠ w
            case = "same" if same else "at_T"
            out.append(Claim(f"compare.{case}", {"T": T, "grad": j(g), "grad_new": grad_new}))

    # big_grad: the seed's gradient of 10^6, one update, measured against |w| itself;
    # big_fate: what exact SGD does from where it lands.
    s_big = ef * BIG_GRAD
    w_big = wf - s_big
    move = (
        "from_zero" if a == 0 else "thrown" if s_big > a else "large" if 10 * s_big > a else "small"
    )
    out.append(
        Claim(f"big_grad.{move}", {"w": j(wf), "a": j(a), "step": j(s_big), "w_new": j(w_big)})
    )
    fate = sgd_fate(w_big, hf, T, ef)
    if fate == "diverges":
        fate = "breaks" if move in ("thrown", "from_zero") else "runaway"
    landed: dict[str, Any] = {"T": T, "w_new": j(w_big)}
    landed["grad_abs"] = _grad_json(abs(w_big), abs(hf), T, abbreviate)
    landed["next"] = _grad_json(abs(w_big), ef * abs(hf), T, abbreviate)  # η·|g(w_big)|
    if fate == "cycles":
        landed["w_neg"] = j(-w_big)
    elif fate == "drifts":
        landed["move"] = j(-ef * hf)
    out.append(Claim(f"big_fate.{fate}", landed))

    gc = g if abs(g) <= cf else cf * _sgn(g)  # g / max(1, |g|/c), exactly
    clip = {"g": j(g), "g_abs": j(abs(g)), "c": j(cf), "gc": j(gc), "w_new": j(wf - ef * gc)}
    out.append(Claim("clipping.acted" if abs(g) > cf else "clipping.idle", clip))

    example = {k: v for k, v in vals.items() if k == "a"}
    out.append(Claim(f"example.{kind}", example))
    return out


def _exact(x: Fraction | int) -> Exact:
    if isinstance(x, Fraction) and x.denominator == 1:
        return x.numerator
    return x


def sgd_fate(w: Fraction, h0: Fraction, T: int, eta: Fraction) -> str:
    """What exact SGD on ``L = h_T`` does from ``w`` on: ``w ← w − η·T·h0·w^(T−1)``.

    Returns ``"stays"`` (the gradient at ``w`` is 0), ``"drifts"`` (``T = 1``: the same
    step ``η·h0`` for ever), ``"diverges"`` (``|w| → ∞``, the steps too), ``"settles"``
    (``w → 0``, each step smaller than the one before), ``"lands_zero"`` (the next step is
    ``w`` itself), ``"cycles"`` (``w, −w, w, …``) or ``"unknown"`` (the comparisons below
    needed an exact power of more than :data:`FATE_BITS` bits).

    With ``n = T − 2`` and ``u(w) = η·T·h0·w^n`` one step is ``w ↦ w·(1 − u)``, and
    ``u(w·(1 − u)) = u·(1 − u)^n``. So, exactly, from ``u = u(w)`` alone:

    * ``u < 0``: ``|w|`` grows by ``1 + |u|`` and ``u`` keeps its sign and grows: diverges.
    * ``|u| > 2``: ``|w|`` grows by ``|1 − u| ≥ |u| − 1 > 1`` and ``|u|`` grows: diverges.
    * ``0 < u < 1``: ``w`` keeps its sign, ``|w|`` and ``u`` fall, the limit has
      ``u = 0``: settles. ``u = 1``: ``w ↦ 0``, a fixed point (``T ≥ 2``).
    * ``1 < u ≤ 2``: ``w`` changes sign and ``u' = u·(1 − u)^n``: for odd ``n`` that is
      ``< 0`` — diverges; for even ``n`` it is ``0 < u' < u``: settles (``u < 2``), or
      ``u' = u = 2`` and ``w ↦ −w ↦ w``: cycles.

    The step's size is ``|w|·|u|``: it grows with ``|w|`` and ``|u|`` where they diverge,
    and falls where they settle.
    """
    if h0 == 0 or (T >= 2 and w == 0):
        return "stays"
    if T == 1:
        return "drifts"
    n = T - 2
    k = eta * T * h0  # u = k·w^n
    if _sgn(k) * (_sgn(w) if n % 2 else 1) < 0:
        return "diverges"
    vs1, vs2 = _compare_power(k, w, n, 1), _compare_power(k, w, n, 2)
    if vs1 is None or vs2 is None:
        return "unknown"
    if vs2 > 0:
        return "diverges"
    if vs1 <= 0:
        return "settles" if vs1 < 0 else "lands_zero"
    if n % 2:
        return "diverges"
    return "settles" if vs2 < 0 else "cycles"


def _compare_power(k: Fraction, w: Fraction, n: int, bound: int) -> int | None:
    """The sign of ``|k·w^n| − bound`` (``w ≠ 0``): by logs where clear, else exactly.

    None where the exact power would take more than :data:`FATE_BITS` bits.
    """
    lv = log10_abs(_exact(k)) + (n * log10_abs(_exact(w)) if n else 0.0)
    margin = lv - math.log10(bound)
    if abs(margin) > 0.01:
        return 1 if margin > 0 else -1
    if n * (w.numerator.bit_length() + w.denominator.bit_length()) > FATE_BITS:
        return None
    value = abs(k * w**n)
    return (value > bound) - (value < bound)


def _grad_json(w: Fraction, h0: Fraction, T: int, abbreviate: int | None) -> str:
    """``T·w^(T−1)·h0`` as JSON: exact up to ``abbreviate`` digits (unabbreviated, as
    ``--exact`` asks: up to :data:`gradguard.lab.MAX_DIGITS`), ``"≈…"`` from logs beyond."""
    from gradguard.lab import MAX_DIGITS
    from gradguard.lab.numbers import estimate_digits, power_exact, power_log, sci_from_log

    limit = MAX_DIGITS if abbreviate is None else abbreviate
    wx, hx = _exact(w), _exact(h0)
    if estimate_digits(wx, hx, T - 1, T) <= limit:
        return exact_to_json(power_exact(wx, hx, T - 1, T))
    lv = power_log(wx, hx, T - 1, T)
    return "0" if lv.sign == 0 else "≈" + sci_from_log(lv.sign, lv.log10)


def say(
    claim: Claim | Mapping[str, Any],
    lang: str = "en",
    number: Callable[[Any], str] | None = None,
) -> str:
    """Return the sentence of ``claim`` in ``lang``: its catalog message with its values filled.

    Numbers are written by :func:`gradguard.explain.format_number` (the one number format of
    every medium), or by ``number`` (a page marks rounded ones with their exact value);
    whole numbers of steps by :func:`gradguard.explain._render.count`.
    """
    from gradguard._catalog import load_catalog
    from gradguard.explain._format import count, format_number

    cid, values = (
        (claim.id, claim.values) if isinstance(claim, Claim) else (claim["id"], claim["values"])
    )
    fields: dict[str, str] = {}
    for k, v in values.items():
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, int):
            fields[k] = count(v)
        elif isinstance(v, float):  # peak_real, −1/ln a: a few digits are its point
            fields[k] = "∞" if not math.isfinite(v) else f"{v:.3g}" if v < 100 else count(round(v))
        else:
            fields[k] = number(v) if number is not None else format_number(v, True, lang=lang)
    # A catalog's "x = {x}" with a rounded value reads "x ≈ …", not "x = ≈ …" (as rendered).
    return load_catalog(lang).get(cid, **fields).replace("= ≈ ", "≈ ")
