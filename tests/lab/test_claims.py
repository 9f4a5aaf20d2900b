"""Every sentence the lesson states about its parameters is true: checked against an oracle.

The oracle below recomputes, from the definition ``g(T) = T·w^(T−1)·h0`` in exact
fractions, what each claim should say — by brute force where it can (the argmax of the
sequence, the growth from T to T+1, the rows of the table), by the update's *outcome*
(``w_new`` computed and compared, never the sign rule the claim module uses) — and never
calls :mod:`gradguard.explain._claims`. Each expected sentence is then looked for in every
medium that shows it (terminal text, Markdown, JSON, the explorer's answers), in English
and Bengali, with the numbers in it parsed and checked: the values it names are the exact
ones, and every ``x < y``, ``x ≤ y``, ``x > y`` it prints holds for the printed numbers.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gradguard.explain import languages, lesson, load_catalog, render_markdown, render_text

F = Fraction
#: The degenerate and textbook points, drawn often.
SPECIAL_W = [F(0), F(1), F(-1), F(1, 2), F(-1, 2), F(2), F(-2), F(3, 2), F(-3, 2), F(9, 10)]
SPECIAL_W += [F(1, 3), F(99, 100), F(-9, 10), F(2, 3), F(3, 4), F(11, 10), F(1, 100)]
weights = st.one_of(
    st.sampled_from(SPECIAL_W), st.fractions(min_value=-3, max_value=3, max_denominator=40)
)
states = st.one_of(
    st.sampled_from([F(0), F(1), F(-1), F(1, 2), F(-1, 2), F(3)]),
    st.fractions(min_value=-5, max_value=5, max_denominator=20),
)
steps = st.one_of(st.integers(1, 12), st.integers(1, 10**4))
positive = st.fractions(min_value=F(1, 1000), max_value=20, max_denominator=1000).filter(
    lambda x: x > 0
)
etas = st.one_of(st.sampled_from([F(1, 100), F(1, 10), F(1), F(5, 100)]), positive)
cs = st.one_of(st.sampled_from([F(5), F(1), F(1, 2)]), positive)
tables = st.one_of(
    st.just((5, 10, 20, 50)), st.lists(st.integers(1, 60), min_size=1, max_size=4, unique=True)
)

#: How many (parameter point × medium × language) claims were checked (GRADGUARD_COUNT=1).
CHECKED = {"claims": 0, "points": 0}


def g_of(w: F, h0: F, T: int) -> F:
    return T * w ** (T - 1) * h0  # Fraction(0) ** 0 == 1: g(1) = h0 at w = 0


def argmax(a: F) -> list[int]:
    """The T ≥ 1 where T·a^(T−1) is largest, by brute force over the exact sequence."""
    n = int(2 / (1 - a)) + 3  # T·a^(T−1) falls for T ≥ a/(1−a) + 1 < n
    vals = [t * a ** (t - 1) for t in range(1, n + 2)]
    assert vals[-1] < vals[-2]  # past the top: falling (the bound above is right)
    top = max(vals)
    return [t for t, v in zip(range(1, n + 2), vals, strict=True) if v == top]


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
    out["update"] = (case, {"w_new": w_new} if g else {"w": w})
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
        if T >= 2:
            out["compare"] = ("at_T", {"T": T, "grad": g})
    gc = g / max(1, abs(g) / c)
    out["clipping"] = ("acted" if gc != g else "idle", {"gc": gc, "w_new": w - eta * gc})
    return out


# ---- reading the sentences back -------------------------------------------------------------

_NUM = r"(?:≈ )?-?\d[\d,]*(?:\.\d+)?(?:/\d+)?(?: × 10\^-?\d+)?(?: \([\d,]+ [^\s)]+\))?|∞"
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
    topics += ("after_update", "compare", "clipping", "example")
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
            assert m is not None, f"{topic}.{case} missing ({lang}):\n{template}\n{text}"
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


@settings(
    max_examples=int(os.environ.get("GRADGUARD_CLAIM_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(w=weights, h0=states, T=steps, eta=etas, c=cs, Ts=tables)
@example(w=F(2), h0=F(0), T=5, eta=F(1, 100), c=F(5), Ts=(5, 10, 20, 50))  # explain --h0 0
@example(w=F(2), h0=F(1), T=1, eta=F(1, 100), c=F(5), Ts=(5, 10, 20, 50))  # explain -T 1
@example(w=F(-3, 2), h0=F(1), T=5, eta=F(1, 100), c=F(5), Ts=(5, 10, 20, 50))
@example(w=F(1, 2), h0=F(1), T=5, eta=F(1, 100), c=F(5), Ts=(1, 2, 5))  # tie at T = 1, 2
@example(w=F(9, 10), h0=F(1), T=9, eta=F(1, 100), c=F(5), Ts=(5, 10, 20, 50))  # tie at 9, 10
@example(w=F(0), h0=F(1), T=1, eta=F(1, 100), c=F(5), Ts=(1, 2))  # g(1) = h0, then 0
@example(w=F(-1), h0=F(1), T=4, eta=F(1, 100), c=F(5), Ts=(5, 10, 20, 50))
@example(w=F(2), h0=F(1), T=5, eta=F(5, 100), c=F(5), Ts=(5,))  # 2 − 0.05·80 = −2
@example(w=F(2), h0=F(1), T=5, eta=F(1, 40), c=F(5), Ts=(5,))  # 2 − 80/40 = 0
@example(w=F(1), h0=F(1), T=5, eta=F(1, 100), c=F(5), Ts=(5,))  # |g| = 5 = c: not clipped
@example(w=F(2), h0=F(1), T=5, eta=F(3, 100), c=F(5), Ts=(5,))  # 2 − 2.4 = −0.4: crossed
@example(w=F(2), h0=F(1), T=5, eta=F(1, 10), c=F(5), Ts=(5,))  # 2 − 8 = −6: overshot
def test_every_claim_is_true_in_every_medium_and_language(w, h0, T, eta, c, Ts):
    from gradguard.serve._server import explorer_state

    expected = oracle(w, h0, T, eta, c, Ts)
    d = lesson(w=w, h0=h0, T=T, eta=eta, c=c, table_T=Ts, abbreviate=40)
    check_json(d["claims"], expected)
    n = len(expected)
    for lang in languages():
        cat = load_catalog(lang)
        for text in (render_text(d, cat), render_markdown(d, cat)):
            n += len(list(check_text(text, expected, lang)))
    if T <= 10**4 and Ts == (5, 10, 20, 50):  # the explorer's table is always the seed's T
        params = {"w": str(w), "h0": str(h0), "T": str(T), "eta": str(eta), "c": str(c)}
        for lang in languages():
            s = explorer_state({**params, "lang": lang})
            answers = "\n".join([s["why"], s["sgd"]["text"], s["clip"]["text"], s["trend"]])
            shown = {k: v for k, v in expected.items() if k in EXPLORER_TOPICS}
            n += len(list(check_text(answers, shown, lang)))
    CHECKED["claims"] += n
    CHECKED["points"] += 1


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


def test_count_of_claims_checked():
    """Report the measure (``GRADGUARD_COUNT=1 pytest -s``): claims checked by the property."""
    if os.environ.get("GRADGUARD_COUNT"):
        print(f"\nclaims checked: {CHECKED['claims']} over {CHECKED['points']} parameter points")


@pytest.mark.parametrize(
    ("w", "peaks"),
    [(F(1, 2), [1, 2]), (F(9, 10), [9, 10]), (F(2, 3), [2, 3]), (F(1, 3), [1]), (F(3, 5), [2])],
)
def test_the_oracle_argmax_is_the_textbook_one(w, peaks):
    # w = T/(T+1) gives equal maxima at T and T+1: 1/2 → 1, 2 (1 = 2·½); 9/10 → 9, 10.
    assert argmax(w) == peaks


def test_the_seed_claim_ids_and_the_issue_examples():
    d = lesson()
    ids = [c["id"] for c in d["claims"]]
    assert ids == [
        "regime.exploding",
        "next_T.grows",
        "large.big",
        "trend.exploding",
        "update.toward",
        "after_update.slower",
        "compare.at_T",
        "clipping.acted",
        "example.exploding",
    ]
    text = render_text(lesson(h0=0))
    assert "≤ 1" not in text and "growing exponentially" not in text
    assert "multiplies" not in text  # the gradient is 0: nothing multiplies it
    text = render_text(lesson(T=1))
    assert "1.99 ≤ 1" not in text and "|w| = 1.99 is still above 1" in text
    text = render_text(lesson(w="-1.5"))
    assert "overshot" not in text and "the cause is the gradient's sign" in text
    for lang in languages():  # w = ½: never "first grows", both T named
        text = render_text(lesson(w="0.5", lang=lang))
        assert load_catalog(lang)["peak.tie_at_once"] in text
        assert load_catalog(lang)["regime.vanishing"].split(":")[0].replace("{a}", "0.5") in text
    for w in ("0.5", "1"):  # the exam's "in this example" follows the regime
        exam = render_text(lesson(w=w)).split("exam")[-1]
        assert "grows exponentially" not in exam and "does not explode" in exam
