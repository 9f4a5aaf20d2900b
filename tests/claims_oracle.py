"""The oracle of the lesson's claims, and how to read a claim back from rendered text.

Shared by the claim tests (``tests/explain/test_claims.py``: every medium, hypothesis) and
the fixed-point checks of the pages (the HTML report, the explorer in Chromium, the
notebook). The oracle recomputes, from the definition ``g(T) = T·w^(T−1)·h0`` in exact
fractions, what each claim should say — by brute force where it can (the argmax of the
sequence, the growth from T to T+1, the rows of the table), by the update's *outcome*
(``w_new`` computed and compared, never the sign rule the claim module uses) — and never
calls :mod:`gradguard.explain._claims`. :func:`check_text` then finds each expected
sentence in a text, parses its numbers, checks they are the oracle's and that every
``x < y``, ``x ≤ y``, ``x > y`` it prints holds for the printed numbers, and that no
sentence of another case of the same topic is there.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction
from typing import Any

from gradguard.explain import load_catalog

F = Fraction

#: The sample points of the pages (report, explorer, notebook): the seed and every edge the
#: lesson has its own sentence for — (w, h0, T, η, c).
FIXED_POINTS = [
    (F(2), F(1), 5, F(1, 100), F(5)),  # the seed
    (F(2), F(0), 5, F(1, 100), F(5)),  # h0 = 0: gradient 0, nothing to explode
    (F(0), F(1), 1, F(1, 100), F(5)),  # w = 0, T = 1: g = h0, then 0
    (F(0), F(1), 5, F(1, 100), F(5)),  # w = 0: gradient 0 for T > 1
    (F(2), F(1), 1, F(1, 100), F(5)),  # T = 1: |w| = 1.99 still above 1
    (F(1), F(1), 5, F(1, 100), F(5)),  # |w| = 1: linear; |g| = c exactly (not clipped)
    (F(-1), F(1), 4, F(1, 100), F(5)),  # w = −1, T even: alternating, moved towards 0
    (F(-1), F(1), 5, F(1, 100), F(5)),  # w = −1, T odd: pushed away, |w| 1 → 1.05 explodes
    (F(-3, 2), F(1), 5, F(1, 100), F(5)),  # negative w: the sign, not the step's size
    (F(1, 2), F(1), 5, F(1, 100), F(5)),  # peaks at T = 1 and 2 (a tie), never grows
    (F(9, 10), F(1), 9, F(1, 100), F(5)),  # peaks at T = 9 and 10
    (F(2), F(1), 5, F(3, 100), F(5)),  # the update changes the sign of w, |w| ≤ 1 after
    (F(2), F(1), 10, F(1, 100), F(5)),  # the update overshoots: |w| 2 → 49.2
    (F(2), F(1), 5, F(1, 20), F(5)),  # 2 − 0.05·80 = −2: the same |w|, the sign flipped
    (F(2), F(1), 5, F(1, 40), F(5)),  # 2 − 80/40 = 0: the update lands on w = 0
    (F(2), F(1), 5, F(1, 80), F(5)),  # 2 − 80/80 = 1: linear growth after the update
    (F(-3, 2), F(1), 2, F(7, 10), F(5)),  # w < 0 crosses 0: the step's size, never signed
    (F(17, 20), F(1), 5, F(1, 100), F(5)),  # one peak, at T = 6, after the table's first row
    (F(1, 4), F(1), 5, F(1, 100), F(5)),  # |w| < 1/2: largest at T = 1, never grows
    (F(10**6), F(1), 5, F(1, 100), F(5)),  # a gradient of 10^6 moves w = 10^6 by 1 % only
    (F(2), F(1), 5, F(1, 10**7), F(5)),  # η = 10^-7: that gradient moves w only to 1.9
    (F(0), F(1), 2, F(3, 5), F(5)),  # -600000, then ×(−0.2) a step: it settles, no breakdown
    (F(0), F(1), 2, F(1, 2), F(5)),  # -500000, and the next step lands exactly on 0
    (F(1), F(1), 2, F(1), F(5)),  # -999999, 999999, -999999 …: it swings for ever
    (F(10**4), F(1), 2, F(1, 100), F(5)),  # 10000 → 0, a 100 % change (not "only"), stays
]


def g_of(w: F, h0: F, T: int) -> F:
    return T * w ** (T - 1) * h0  # Fraction(0) ** 0 == 1: g(1) = h0 at w = 0


def argmax(a: F) -> list[int]:
    """The T ≥ 1 where T·a^(T−1) is largest, by brute force over the exact sequence."""
    n = int(2 / (1 - a)) + 3  # T·a^(T−1) falls for T ≥ a/(1−a) + 1 < n
    vals = [t * a ** (t - 1) for t in range(1, n + 2)]
    assert vals[-1] < vals[-2]  # past the top: falling (the bound above is right)
    top = max(vals)
    return [t for t, v in zip(range(1, n + 2), vals, strict=True) if v == top]


class Approx:
    """A value the oracle knows to ``rel`` (relative) or ``abs_`` (absolute) only."""

    def __init__(self, value: Any, rel: float = 1e-12, abs_: float = 0.0) -> None:
        import mpmath

        self.value, self.rel, self.abs = mpmath.mpf(value), rel, abs_

    def __repr__(self) -> str:
        return f"Approx({self.value})"


def _bits(x: F) -> int:
    return x.numerator.bit_length() + x.denominator.bit_length()


def _mp(x: F) -> Any:
    import mpmath

    return mpmath.mpf(x.numerator) / x.denominator


def gradient_abs(w: F, h0: F, T: int) -> F | Approx:
    """``|g(T)|`` at ``w``: exact where it is short, else to 40 digits (mpmath)."""
    if (T - 1) * _bits(w) < 10**5:
        return abs(g_of(w, h0, T))
    import mpmath

    with mpmath.workdps(40):
        return Approx(T * abs(_mp(w)) ** (T - 1) * abs(_mp(h0)), rel=1e-30)


def run_sgd(w: F, h0: F, T: int, eta: F, steps: int = 400) -> tuple[set[str], F | Approx]:
    """Run SGD on ``L = h_T`` from ``w`` and watch it: the fates it is seen to have, and the
    size of its first step.

    The first steps exactly, in fractions, while short: ``w`` not moved (``stays``), the
    same nonzero move again and again (``drifts``), 0 reached (``lands_zero``), ``w`` back
    after two steps (``cycles``). Then ``steps`` steps in mpmath at 60 digits: ``|w|`` past
    10^60 times where it started (``diverges``) or below 10^-60 of it (``settles``), or
    rising (falling) over the last 100 steps. A run it cannot tell by then gives every fate.
    """
    import mpmath

    def step(x: F) -> F:
        return x - eta * g_of(x, h0, T)

    every = {"stays", "drifts", "diverges", "settles", "lands_zero", "cycles"}
    if (T - 1) * _bits(w) < 10**6:
        w1 = step(w)
        first: F | Approx = abs(w1 - w)
        if w1 == w:
            return {"stays"}, first
        if T == 1:
            w2, w3 = step(w1), step(step(w1))
            assert w3 - w2 == w2 - w1 == w1 - w != 0  # the same move every step
            return {"drifts"}, first
        if w1 == 0:
            assert step(w1) == 0
            return {"lands_zero"}, first
        if w1 == -w and step(w1) == w:
            return {"cycles"}, first
        start: Any = w1  # to 60 digits below (a 15-digit start blurs steps 1e-7 apart)
    else:
        with mpmath.workdps(60):
            x = _mp(w)
            first = Approx(abs(eta * T * x ** (T - 1) * _mp(h0)), rel=1e-40)
            start = x - _mp(eta) * T * x ** (T - 1) * _mp(h0)
    with mpmath.workdps(60):
        x = _mp(start) if isinstance(start, F) else start
        k, scale = _mp(eta) * T * _mp(h0), max(1, abs(_mp(w)))
        sizes, moves = [abs(x)], [first.value if isinstance(first, Approx) else _mp(first)]

        def settled() -> set[str]:
            # "each step after it is smaller than the one before": seen, or no such fate
            falling = all(p > q for p, q in itertools.pairwise(moves))
            return {"settles"} if falling else {"settles, with a step larger than the last"}

        for _ in range(steps):
            move = k * x ** (T - 1)  # the step η·g itself: a difference of w's would blur it
            x = x - move
            sizes.append(abs(x))
            moves.append(abs(move))
            if sizes[-1] > scale * mpmath.mpf(10) ** 60:
                return {"diverges"}, first
            if sizes[-1] < abs(_mp(w)) * mpmath.mpf(10) ** -60:
                return settled(), first
        tail = sizes[-100:]
        if all(p < q for p, q in itertools.pairwise(tail)):
            return {"diverges"}, first
        if all(p > q for p, q in itertools.pairwise(tail)):
            return settled(), first
    return every, first


def oracle(w: F, h0: F, T: int, eta: F, c: F, Ts: tuple[int, ...]) -> dict[str, tuple]:
    """topic → (case, {value name: exact value}) of every claim that should be made."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    g = g_of(w, h0, T)
    a = abs(w)
    if h0 == 0:
        kind = "zero_h0"
    elif w == 0:
        kind = "zero_w"
    else:
        kind = "exploding" if a > 1 else "linear" if a == 1 else "vanishing"
    out["regime"] = (kind, {"a": a, "h0": h0, "T": T, "grad_abs": abs(g)})
    out["example"] = (kind, {"a": a})
    top: list[int] = []
    if kind == "vanishing":
        top = argmax(a)
        assert len(top) <= 2
        case = (
            ("at_once" if top == [1] else "rise")
            if len(top) == 1
            else ("tie_at_once" if top == [1, 2] else "rise_tie")
        )
        peak = {"peak": top[0], **({"peak2": top[1]} if len(top) == 2 else {})}
        # T·a^(T−1) is largest near the real T = −1/ln a (printed to 3 digits, or whole)
        import mpmath

        peak["peak_real"] = Approx(-1 / mpmath.log(_mp(a)), rel=6e-3, abs_=0.51)
        out["peak"] = (case, peak)
    now, nxt = abs(g), abs(g_of(w, h0, T + 1))
    if now == nxt == 0:
        case = "zero"
    elif nxt == 0:
        case = "to_zero"
    else:
        case = "grows" if nxt > now else "same" if nxt == now else "shrinks"
    out["next_T"] = (case, {"T": T, "T_next": T + 1, "h0": h0, **({"q": nxt / now} if now else {})})
    if h0 != 0 and w < 0:
        hs = [w**t * h0 for t in range(4)]
        assert all(x * y < 0 for x, y in itertools.pairwise(hs))  # they alternate
        out["alternating"] = ("signs", {})
    if kind == "exploding" and abs(g) >= 10 * abs(h0):
        out["large"] = ("big", {})
    rows = sorted(set(Ts))
    vals = [abs(g_of(w, h0, t)) for t in rows]
    if kind == "exploding":
        assert all(x < y for x, y in itertools.pairwise(vals))
    if kind != "vanishing":
        out["trend"] = (kind, {})
    elif rows[0] >= top[-1]:
        assert all(x > y for x, y in itertools.pairwise(vals))  # "shrinks"
        out["trend"] = ("vanishing", {})
    else:
        out["trend"] = (
            "vanishing_peak" if len(top) == 1 else "vanishing_peak_tie",
            {"peak": top[0], **({"peak2": top[1]} if len(top) == 2 else {})},
        )
    w_new = w - eta * g
    if g == 0:
        case = "none"
    elif w == 0:
        case = "from_zero"
    elif w_new * w > 0:
        case = "away" if abs(w_new) > abs(w) else "toward"
        if case == "away":  # the sign, not the size: any η > 0 pushes w away from 0
            for k in (F(1, 1000), F(1000)):
                assert abs(w - k * eta * g) > a
    elif w_new == 0:
        case = "to_zero"
    else:
        case = {-1: "crossed_smaller", 0: "crossed_same", 1: "crossed_larger"}[
            (abs(w_new) > a) - (abs(w_new) < a)
        ]
    # the step's size |η·g| (a sentence comparing it with |w| must not print a signed step)
    out["update"] = (
        case,
        {"w": w, "grad": g, "w_new": w_new, "a": a, "a_new": abs(w_new)}
        | {"step": w - w_new, "step_abs": abs(w - w_new)},
    )
    a_new = abs(w_new)
    if h0 != 0 and g != 0:
        if a > 1 and a_new > 1:
            case = "faster" if a_new > a else "same" if a_new == a else "slower"
        else:
            case = (
                "now_explodes"
                if a_new > 1
                else "linear"
                if a_new == 1
                else "vanishing"
                if a_new
                else "zero"
            )
        out["after_update"] = (case, {"a_new": a_new, "w_new": w_new})
        if T >= 2:  # "instead of" only where the gradient at the new w differs
            # |g(T)| = T·|w|^(T−1)·|h0| rises with |w| (T ≥ 2, h0 ≠ 0): equal only at |w_new| = a
            size = (T - 1) * _bits(w_new)
            g_new = g_of(w_new, h0, T) if a_new == a or size < 10**5 else None
            if g_new is None:
                import mpmath

                with mpmath.workdps(40):
                    shown: F | Approx = Approx(T * _mp(w_new) ** (T - 1) * _mp(h0), rel=1e-30)
            else:
                shown = g_new
            out["compare"] = (
                "same" if g_new == g else "at_T",
                {"T": T, "grad": g, "grad_new": shown},
            )
    # the seed's "but if the gradient is 10^6": how far that update moves w, against |w|
    # itself, and what SGD then does (run, not derived)
    w_big = w - eta * 10**6
    moved = abs(w_big - w)
    move = (
        "from_zero"
        if w == 0
        else "thrown"
        if moved > a
        else "small"
        if moved <= a / 10
        else "large"
    )
    out["big_grad"] = (move, {"w": w, "a": a, "step": moved, "w_new": w_big})
    fates, first = run_sgd(w_big, h0, T, eta)
    if "diverges" in fates:
        fates = (fates - {"diverges"}) | {
            "breaks" if move in ("thrown", "from_zero") else "runaway"
        }
    vals = {"T": T, "w_new": w_big, "next": first, "grad_abs": gradient_abs(w_big, h0, T)}
    vals["w_neg"], vals["move"] = -w_big, -eta * h0
    out["big_fate"] = (fates.pop() if len(fates) == 1 else fates, vals)
    gc = g / max(1, abs(g) / c)
    clip = {"g": g, "g_abs": abs(g), "c": c, "gc": gc, "w_new": w - eta * gc}
    out["clipping"] = ("acted" if gc != g else "idle", clip)
    return out


# ---- reading the sentences back -------------------------------------------------------------

#: A number as the lesson prints it: 80, 1,234, -1.5, 1/3, ≈ 47.2304, ≈ 1.268 × 10^30 (31 digits).
NUMBER = _NUM = r"(?:≈ )?-?\d[\d,]*(?:\.\d+)?(?:/\d+)?(?: × 10\^-?\d+)?(?: \([\d,]+ [^\s)]+\))?|∞"
_NUM_RE = re.compile(_NUM)


def number(text: str) -> tuple[Any, bool]:
    """A printed number's value and whether it is marked approximate (``≈``)."""
    approx = text.startswith("≈ ")
    text = re.sub(r" \(.*\)$", "", text.removeprefix("≈ ")).replace(",", "")
    if text == "∞":
        return None, True
    if " × 10^" in text:
        mant, exp = text.split(" × 10^")
        if abs(int(exp)) > 5000:  # as a fraction it would have thousands of digits
            import mpmath

            with mpmath.workdps(60):
                return mpmath.mpf(mant) * mpmath.mpf(10) ** int(exp), True
        return F(Decimal(mant).scaleb(int(exp))), True
    return F(text), approx


def pattern(template: str) -> re.Pattern[str]:
    """The regex of a catalog sentence: its text, a number wherever it has a {field}."""
    out, seen = "", set()
    for literal, name in re.findall(r"([^{]*)(?:\{(\w+)\})?", template):
        lit = re.escape(literal)
        if name and literal.endswith("= "):  # "x = ≈ 1.2" is printed "x ≈ 1.2"
            lit = lit[: -len(re.escape("= "))] + r"(?:= )?"
        out += lit
        if name:
            out += f"(?P={name})" if name in seen else f"(?P<{name}>{_NUM})"
            seen.add(name)
    return re.compile(out)


def close(shown: str, exact: F | Approx) -> bool:
    """Whether a printed number is the oracle's value (to its rounding where it says ``≈``)."""
    value, approx = number(shown)
    if value is None:
        return False
    if isinstance(exact, Approx):
        import mpmath

        with mpmath.workdps(60):
            err = abs((value if isinstance(value, mpmath.mpf) else _mp(value)) - exact.value)
            room = max(exact.rel * abs(exact.value), exact.abs)
            return bool(err <= room + (abs(exact.value) / 10**3 if approx else 0))
    if not isinstance(value, F):  # a huge printed value against an exact one: by mpmath
        return close(shown, Approx(_mp(exact), rel=0))
    if not approx:
        return value == exact
    return abs(value - exact) <= abs(exact) * F(1, 10**3) + F(1, 10**12)


_OPS = re.compile(rf"({_NUM}) (<|≤|>|≥) ({_NUM})")


def inequalities_hold(sentence: str) -> None:
    """Every ``x op y`` printed in ``sentence`` holds for the printed numbers."""
    for left, op, right in _OPS.findall(sentence):
        (x, ax), (y, ay) = number(left), number(right)
        assert x is not None and y is not None, sentence
        if not (isinstance(x, F) and isinstance(y, F)):  # one is huge: compare in mpmath
            x, y = (v if not isinstance(v, F) else _mp(v) for v in (x, y))
        loose = ax or ay  # rounded: a strict inequality may print equal numbers
        ok = {
            "<": x < y or (loose and x == y),
            "≤": x <= y,
            ">": x > y or (loose and x == y),
            "≥": x >= y,
        }[op]
        assert ok, f"{left} {op} {right} is false in: {sentence}"


def cases(lang: str) -> dict[str, dict[str, str]]:
    """topic → case → catalog template, for every claim topic."""
    cat = load_catalog(lang)
    topics = ("regime", "peak", "next_T", "alternating", "large", "trend", "update")
    topics += ("after_update", "compare", "big_grad", "big_fate", "clipping", "example")
    return {t: cat.section(t) for t in topics}


def allowed(want: tuple | None) -> set[str]:
    """The cases the oracle accepts: one, or several where its run of SGD could not tell
    (then the lesson may also say ``unknown``: the next step, no verdict)."""
    if want is None:
        return set()
    return {want[0]} if isinstance(want[0], str) else set(want[0]) | {"unknown"}


def check_text(text: str, expected: dict[str, tuple], lang: str) -> Iterator[str]:
    """Each expected sentence is in ``text`` with the right numbers; no other case is.

    Every number a sentence prints (each ``{field}`` of its template) is compared with the
    oracle's value of that name: a field the oracle has no value for fails.
    """
    for topic, templates in cases(lang).items():
        want = expected.get(topic)
        ok, found = allowed(want), []
        for case, template in templates.items():
            m = pattern(template).search(text)
            if case not in ok:
                assert m is None, f"{topic}.{case} stated, oracle says {want}: {m and m[0]}"
                continue
            if m is None:
                continue
            found.append(case)
            assert want is not None
            inequalities_hold(m[0])
            for name, shown in m.groupdict().items():
                assert name in want[1], f"{topic}.{case}: no oracle value for {{{name}}}"
                assert close(shown, want[1][name]), (name, shown, want[1][name], m[0])
            yield f"{topic}.{case}"
        if want is not None:
            assert len(found) == 1, f"{topic}: {found or 'missing'} ({lang}), oracle {ok}"


def check_json(claims: list[dict[str, Any]], expected: dict[str, tuple]) -> None:
    got = {c["id"].partition(".")[0]: c for c in claims}
    assert set(got) == set(expected), (sorted(got), sorted(expected))
    for topic, (case, values) in expected.items():
        assert got[topic]["id"].partition(".")[2] in allowed((case, values)), (got[topic], case)
        for name, exact in values.items():
            v = got[topic]["values"].get(name)
            if v is None or (isinstance(v, str) and v.startswith("≈")):
                continue
            if isinstance(exact, Approx):
                assert close(str(v), exact), (topic, name, v, exact)
            else:
                assert F(v) == F(exact), (topic, name, v, exact)


#: The claims the explorer's page states (its answers: why, the SGD step, clipping, table).
EXPLORER_TOPICS = (
    "regime",
    "peak",
    "next_T",
    "alternating",
    "trend",
    "update",
    "after_update",
    "compare",
    "clipping",
)


#: The why text's formula for |w| = 1: "T · h₀" or "T · |h₀|" (the report's and explorer's).
_LINEAR_FORMULA = re.compile(r"T · (\|?)h₀(\|?)")


def linear_formula_holds(text: str, h0: F) -> None:
    """Every ``T · h₀`` / ``T · |h₀|`` in ``text`` is |∂L/∂w| at |w| = 1, for T = 1 … 6."""
    found = _LINEAR_FORMULA.findall(text)
    assert found, text
    for left, right in found:
        for T in range(1, 7):
            value = T * (abs(h0) if left and right else h0)
            for w in (F(1), F(-1)):
                assert value == abs(g_of(w, h0, T)), (f"T · {left}h₀{right}", h0, w, T, text)


def overflow_value(w: F, h0: F, T: int) -> str:
    """What the gradient overflows to from ``T`` on: the signs of the exact g(T), g(T + 1)."""
    signs = {(g_of(w, h0, t) > 0) - (g_of(w, h0, t) < 0) for t in (T, T + 1)}
    if signs == {1}:
        return "inf"
    return "-inf" if signs == {-1} else "±inf"
