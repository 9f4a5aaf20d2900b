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


def big_gradient(w: F, h0: F, T: int) -> tuple[F | None, bool]:
    """``g(T)`` at ``w`` (None where too long to write out) and whether ``|g(T)| > 10^6``.

    Exact where the number is small enough; else ``log10|g|`` with mpmath at 60 digits (its
    error is far below the 10^-30 a value that large could be from 10^6 — checked).
    """
    size = (T - 1) * (w.numerator.bit_length() + w.denominator.bit_length())
    if size < 10**5:
        g = g_of(w, h0, T)
        return g, abs(g) > 10**6
    import mpmath

    with mpmath.workdps(60):
        lg = mpmath.log10(T) + (T - 1) * mpmath.log10(abs(mpmath.mpf(w.numerator) / w.denominator))
        lg += mpmath.log10(abs(mpmath.mpf(h0.numerator) / h0.denominator)) if h0 else -mpmath.inf
        assert h0 == 0 or abs(lg - 6) > mpmath.mpf(10) ** -30
        return None, bool(lg > 6)


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
    out["regime"] = (kind, {"a": a} if kind in ("exploding", "vanishing") else {})
    out["example"] = out["regime"]
    top: list[int] = []
    if kind == "vanishing":
        top = argmax(a)
        assert len(top) <= 2
        case = (
            ("at_once" if top == [1] else "rise")
            if len(top) == 1
            else ("tie_at_once" if top == [1, 2] else "rise_tie")
        )
        out["peak"] = (case, {"peak": top[0], **({"peak2": top[1]} if len(top) == 2 else {})})
    now, nxt = abs(g), abs(g_of(w, h0, T + 1))
    if now == nxt == 0:
        case = "zero"
    elif nxt == 0:
        case = "to_zero"
    else:
        case = "grows" if nxt > now else "same" if nxt == now else "shrinks"
    out["next_T"] = (case, {"q": nxt / now} if now else {})
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
    out["update"] = (case, {"w_new": w_new, "step_abs": abs(eta * g)} if g else {"w": w})
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
            size = (T - 1) * (w_new.numerator.bit_length() + w_new.denominator.bit_length())
            g_new = g_of(w_new, h0, T) if a_new == a or size < 10**5 else None
            out["compare"] = (
                "same" if g_new == g else "at_T",
                {"T": T, "grad": g, **({"grad_new": g_new} if g_new is not None else {})},
            )
    # the seed's "but if the gradient is 10^6": how far that update moves w, compared with |w|,
    # and the gradient where it lands, compared with 10^6 (the next step against this one)
    w_big = w - eta * 10**6
    moved = abs(w_big - w)
    g_big, above = big_gradient(w_big, h0, T)
    case = {(True, True): "breaks", (True, False): "jump", (False, True): "runaway"}.get(
        (moved > a, above), "small"
    )
    vals = {"w": w, "a": a, "step": moved, "w_new": w_big, "T": T}
    out["big_grad"] = (case, {**vals, **({"grad_abs": abs(g_big)} if g_big is not None else {})})
    gc = g / max(1, abs(g) / c)
    out["clipping"] = ("acted" if gc != g else "idle", {"gc": gc, "w_new": w - eta * gc})
    return out


# ---- reading the sentences back -------------------------------------------------------------

#: A number as the lesson prints it: 80, 1,234, -1.5, 1/3, ≈ 47.2304, ≈ 1.268 × 10^30 (31 digits).
NUMBER = _NUM = r"(?:≈ )?-?\d[\d,]*(?:\.\d+)?(?:/\d+)?(?: × 10\^-?\d+)?(?: \([\d,]+ [^\s)]+\))?|∞"
_NUM_RE = re.compile(_NUM)


def number(text: str) -> tuple[F | None, bool]:
    """A printed number's value and whether it is marked approximate (``≈``)."""
    approx = text.startswith("≈ ")
    text = re.sub(r" \(.*\)$", "", text.removeprefix("≈ ")).replace(",", "")
    if text == "∞":
        return None, True
    if " × 10^" in text:
        mant, exp = text.split(" × 10^")
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


def close(shown: str, exact: F) -> bool:
    value, approx = number(shown)
    if value is None:
        return False
    if not approx:
        return value == exact
    return abs(value - exact) <= abs(exact) * F(1, 10**3) + F(1, 10**12)


_OPS = re.compile(rf"({_NUM}) (<|≤|>|≥) ({_NUM})")


def inequalities_hold(sentence: str) -> None:
    """Every ``x op y`` printed in ``sentence`` holds for the printed numbers."""
    for left, op, right in _OPS.findall(sentence):
        (x, ax), (y, ay) = number(left), number(right)
        assert x is not None and y is not None, sentence
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
    topics += ("after_update", "compare", "big_grad", "clipping", "example")
    return {t: cat.section(t) for t in topics}


def check_text(text: str, expected: dict[str, tuple], lang: str) -> Iterator[str]:
    """Each expected sentence is in ``text`` with the right numbers; no other case is."""
    for topic, templates in cases(lang).items():
        want = expected.get(topic)
        for case, template in templates.items():
            m = pattern(template).search(text)
            if want is None or case != want[0]:
                assert m is None, f"{topic}.{case} stated, oracle says {want}: {m and m[0]}"
                continue
            assert m is not None, f"{topic}.{case} missing ({lang}):\n{template}\n{text[-3000:]}"
            inequalities_hold(m[0])
            for name, exact in want[1].items():
                if name in m.groupdict():
                    assert close(m[name], F(exact)), (name, m[name], exact, m[0])
            yield f"{topic}.{case}"


def check_json(claims: list[dict[str, Any]], expected: dict[str, tuple]) -> None:
    got = {c["id"].partition(".")[0]: c for c in claims}
    assert set(got) == set(expected), (sorted(got), sorted(expected))
    for topic, (case, values) in expected.items():
        assert got[topic]["id"] == f"{topic}.{case}"
        for name, exact in values.items():
            v = got[topic]["values"].get(name)
            if v is None or (isinstance(v, str) and v.startswith("≈")):
                continue
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
    return "−inf" if signs == {-1} else "±inf"
