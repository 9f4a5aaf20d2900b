"""Every sentence the lesson states about its parameters is true: checked against an oracle.

The oracle (``tests/claims_oracle.py``) recomputes, from the definition
``g(T) = T·w^(T−1)·h0`` in exact fractions, what each claim should say — by brute force
where it can, by the update's *outcome* — and never calls :mod:`gradguard.explain._claims`.
Each expected sentence is then looked for in every
medium that shows it (terminal text, Markdown, JSON, the explorer's answers), in English
and Bengali, with the numbers in it parsed and checked: the values it names are the exact
ones, and every ``x < y``, ``x ≤ y``, ``x > y`` it prints holds for the printed numbers.
"""

from __future__ import annotations

import os
import re
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gradguard.explain import languages, lesson, load_catalog, render_markdown, render_text

from ..claims_oracle import (
    EXPLORER_TOPICS,
    FIXED_POINTS,
    NUMBER,
    argmax,
    cases,
    check_json,
    check_text,
    close,
    linear_formula_holds,
    oracle,
    overflow_value,
)
from ..glossary import page_text

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

#: What each claim means, written here and not read from the catalogs: per language, the
#: words that carry its meaning (all must be in its sentence) and the words of the opposite
#: meaning (none may be). A catalog sentence that says the opposite — "কমে" for "grows", a
#: "breaks down" where the run settles — fails here even where its numbers are right.
#: Compared case-insensitively; ``{id: {lang: (must, must_not)}}``.
MEANING: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "regime.zero_h0": {
        "en": (("h_0 = 0", "nothing to explode"), ("gradient explodes",)),
        "bn": (("h_0 = 0", "কিছুই নেই"), ("gradient explode করে",)),
    },
    "regime.zero_w": {
        "en": (("w = 0", "nothing to explode"), ("gradient explodes",)),
        "bn": (("w = 0", "কিছুই নেই"), ("gradient explode করে",)),
    },
    "regime.exploding": {
        "en": (("> 1", "gradient explodes"), ("vanish", "does not explode")),
        "bn": (("> 1", "gradient explode করে"), ("vanish করে", "explode করে না")),
    },
    "regime.linear": {
        "en": (("linearly", "neither explodes nor vanishes"), ("gradient explodes",)),
        "bn": (("রৈখিক", "explode-ও করে না"), ("gradient explode করে",)),
    },
    "regime.vanishing": {
        "en": (("< 1", "vanishes"), ("explodes",)),
        "bn": (("< 1", "vanish করে"), ("explode করে",)),
    },
    "peak.at_once": {
        "en": (("never grows", "largest at t = 1"), ("first grows",)),
        "bn": (("কখনো বাড়ে না", "সবচেয়ে বড়"), ("প্রথমে বাড়ে",)),
    },
    "peak.tie_at_once": {
        "en": (("never grows", "equally large"), ("first grows",)),
        "bn": (("কখনো বাড়ে না", "সমান"), ("প্রথমে বাড়ে",)),
    },
    "peak.rise": {
        "en": (("first grows", "largest at"), ("never grows",)),
        "bn": (("প্রথমে বাড়ে", "সবচেয়ে বড়"), ("কখনো বাড়ে না",)),
    },
    "peak.rise_tie": {
        "en": (("first grows", "equal"), ("never grows",)),
        "bn": (("প্রথমে বাড়ে", "সমান"), ("কখনো বাড়ে না",)),
    },
    "next_T.zero": {
        "en": (("stays 0",), ("grows", "shrinks")),
        "bn": (("0-ই থাকে",), ("বাড়ে", "কমে")),
    },
    "next_T.to_zero": {"en": (("drops", "to 0"), ("grows",)), "bn": (("নেমে 0",), ("বাড়ে",))},
    "next_T.grows": {"en": (("grows", "> 1"), ("shrinks",)), "bn": (("বাড়ে", "> 1"), ("কমে",))},
    "next_T.same": {
        "en": (("stays the same",), ("grows", "shrinks")),
        "bn": (("একই থাকে",), ("বাড়ে", "কমে")),
    },
    "next_T.shrinks": {"en": (("shrinks", "< 1"), ("grows",)), "bn": (("কমে", "< 1"), ("বাড়ে",))},
    "alternating.signs": {"en": (("alternate", "sign"), ()), "bn": (("পালাক্রমে", "চিহ্ন"), ())},
    "large.big": {"en": (("very large",), ()), "bn": (("অনেক বড়",), ())},
    "trend.zero_h0": {
        "en": (("0 in every row", "nothing explodes"), ("exploding gradient",)),
        "bn": (("প্রতিটি সারিতে gradient 0", "কিছুই explode করে না"), ("exploding gradient",)),
    },
    "trend.zero_w": {
        "en": (("nothing explodes",), ("exploding gradient",)),
        "bn": (("কিছুই explode করে না",), ("exploding gradient",)),
    },
    "trend.exploding": {
        "en": (("exponentially", "exploding gradient"), ("vanishing",)),
        "bn": (("exponential হারে", "exploding gradient"), ("vanishing",)),
    },
    "trend.linear": {
        "en": (("linearly",), ("exploding gradient", "vanishing")),
        "bn": (("রৈখিক",), ("exploding gradient", "vanishing")),
    },
    "trend.vanishing": {
        "en": (("shrinks towards 0", "vanishing gradient"), ("largest", "exploding")),
        "bn": (("0-এর দিকে", "vanishing gradient"), ("সবচেয়ে বড়", "exploding")),
    },
    "trend.vanishing_peak": {
        "en": (("largest at", "vanishing gradient"), ("exploding",)),
        "bn": (("সবচেয়ে বড়", "vanishing gradient"), ("exploding",)),
    },
    "trend.vanishing_peak_tie": {
        "en": (("largest at", "equal", "vanishing gradient"), ("exploding",)),
        "bn": (("সবচেয়ে বড়", "সমান", "vanishing gradient"), ("exploding",)),
    },
    "update.none": {
        "en": (("gradient is 0", "as it was"), ("moves",)),
        "bn": (("gradient 0", "বদলায় না"), ("সরে",)),
    },
    "update.from_zero": {"en": (("moves w off 0",), ()), "bn": (("0 থেকে সরিয়ে",), ())},
    "update.toward": {
        "en": (("has the sign of w", "towards 0"), ("away",)),
        "bn": (("চিহ্নের মতোই", "0-এর দিকে"), ("দূরে", "দরকারের চেয়ে অনেক বড়")),
    },
    "update.to_zero": {
        "en": (("has the sign of w", "exactly on w = 0"), ("away",)),
        "bn": (("চিহ্নের মতোই", "ঠিক 0"), ("দূরে",)),
    },
    "update.crossed_smaller": {
        "en": (("passes 0", "changes sign", "larger than |w|"), ("overshot", "away")),
        "bn": (("0 পেরিয়ে", "চিহ্ন বদলায়", "চেয়ে বড়"), ("দরকারের চেয়ে অনেক বড়", "দূরে")),
    },
    "update.crossed_same": {
        "en": (("passes 0", "exactly 2·|w|", "opposite sign"), ("overshot",)),
        "bn": (("0 পেরিয়ে", "ঠিক 2·|w|", "উল্টে"), ("দরকারের চেয়ে অনেক বড়",)),
    },
    "update.crossed_larger": {
        "en": (("passes 0", "more than 2·|w|", "overshot"), ()),
        "bn": (("0 পেরিয়ে", "2·|w|-এর চেয়েও বড়", "দরকারের চেয়ে অনেক বড়"), ()),
    },
    "update.away": {
        "en": (("opposite", "away from 0", "sign, not the step's size"), ("overshot", "towards")),
        "bn": (("উল্টো", "দূরে", "ধাপের আকার নয়"), ("দরকারের চেয়ে অনেক বড়", "0-এর দিকে")),
    },
    "after_update.faster": {
        "en": (("> 1", "explodes faster"), ("slowly", "vanish")),
        "bn": (("> 1", "আগের চেয়েও দ্রুত explode করে"), ("ধীরে", "vanish")),
    },
    "after_update.same": {
        "en": (("> 1", "exactly as fast"), ("slowly", "faster")),
        "bn": (("> 1", "আগের মতোই দ্রুত"), ("ধীরে", "আগের চেয়েও দ্রুত")),
    },
    "after_update.slower": {
        "en": (("still above 1", "still explodes", "more slowly"), ("faster",)),
        "bn": (("1-এর বেশি", "এখনো explode করে", "ধীরে"), ("দ্রুত",)),
    },
    "after_update.now_explodes": {
        "en": (("> 1", "gradient explodes"), ("vanish",)),
        "bn": (("> 1", "gradient explode করে"), ("vanish",)),
    },
    "after_update.linear": {
        "en": (("|w| = 1", "linearly"), ("gradient explodes",)),
        "bn": (("|w| = 1", "রৈখিক"), ("gradient explode করে",)),
    },
    "after_update.vanishing": {
        "en": (("< 1", "vanishes", "does not explode"), ("still explodes",)),
        "bn": (("< 1", "vanish করে", "explode করে না"), ("এখনো explode",)),
    },
    "after_update.zero": {
        "en": (("w = 0", "0 for every t > 1"), ("explodes",)),
        "bn": (("w = 0", "সবসময় 0"), ("explode",)),
    },
    "compare.at_T": {"en": (("instead of",), ("again",)), "bn": (("আগে ছিল",), ("আবার",))},
    "compare.same": {
        "en": (("again", "as before"), ("instead of",)),
        "bn": (("আবার", "আগের সমান"), ("আগে ছিল",)),
    },
    "big_grad.from_zero": {
        "en": (("w = 0", "no step is small"), ("only",)),
        "bn": (("w = 0", "কোনো ধাপই", "ছোট নয়"), ("শুধু",)),
    },
    "big_grad.thrown": {
        "en": (("larger than |w|", "thrown"), ("only", "not larger", "tenth")),
        "bn": (("চেয়েও বড়", "ছিটকে"), ("শুধু", "বড় নয়", "দশ ভাগের")),
    },
    "big_grad.large": {
        "en": (("more than a tenth", "not larger"), ("only", "thrown")),
        "bn": (("দশ ভাগের এক ভাগের চেয়ে বড়", "বড় নয়"), ("শুধু", "ছিটকে")),
    },
    "big_grad.small": {
        "en": (("at most a tenth", "only goes"), ("thrown", "more than")),
        "bn": (("দশ ভাগের এক ভাগের বেশি নয়", "শুধু"), ("ছিটকে",)),
    },
    "big_fate.breaks": {
        "en": (("breaks down completely", "grow without bound"), ("does not", "tends to 0")),
        "bn": (("পুরো ভেঙে যায়", "সীমাহীনভাবে বাড়তে"), ("ভেঙে পড়ে না", "0-এর দিকে")),
    },
    "big_fate.runaway": {
        "en": (("diverges", "grow without bound"), ("breaks down", "does not", "tends to 0")),
        "bn": (("diverge করে", "সীমাহীনভাবে বাড়তে"), ("ভেঙে", "0-এর দিকে")),
    },
    "big_fate.settles": {
        "en": (("does not break down", "smaller than the one before", "tends to 0"), ("bound",)),
        "bn": (("ভেঙে পড়ে না", "আগেরটির চেয়ে ছোট", "0-এর দিকে"), ("সীমাহীন", "ভেঙে যায়")),
    },
    "big_fate.lands_zero": {
        "en": (("does not break down", "exactly to 0", "stays there"), ("bound",)),
        "bn": (("ভেঙে পড়ে না", "ঠিক 0-তে", "সেখানেই থেকে"), ("সীমাহীন", "ভেঙে যায়")),
    },
    "big_fate.cycles": {
        "en": (("swings", "for ever", "neither settles nor runs away"), ("bound", "tends to 0")),
        "bn": (("দোলে", "চিরকাল"), ("সীমাহীন", "0-এর দিকে যায়")),
    },
    "big_fate.stays": {
        "en": (("gradient is 0", "leaves w at"), ("bound", "breaks")),
        "bn": (("gradient 0", "রেখে দেয়"), ("সীমাহীন", "ভেঙে")),
    },
    "big_fate.drifts": {
        "en": (("t = 1", "the same", "neither grow nor shrink"), ("bound", "breaks")),
        "bn": (("t = 1", "একই", "বাড়েও না, কমেও না"), ("সীমাহীন", "ভেঙে")),
    },
    "big_fate.unknown": {
        "en": (("next step",), ("breaks", "bound", "tends to 0", "does not")),
        "bn": (("পরের ধাপ",), ("ভেঙে", "সীমাহীন", "0-এর দিকে")),
    },
    "clipping.acted": {
        "en": (("> c", "scales the gradient"), ("as it is", "without clipping")),
        "bn": (("> c", "ছোট করে"), ("বদলায় না",)),
    },
    "clipping.idle": {
        "en": (("≤ c", "leaves the gradient as it is"), ("scales",)),
        "bn": (("≤ c", "বদলায় না"), ("ছোট করে",)),
    },
    "example.zero_h0": {
        "en": (("h_0 = 0", "nothing explodes"), ("grows exponentially",)),
        "bn": (("h_0 = 0", "কিছুই explode করে না"), ("exponential হারে",)),
    },
    "example.zero_w": {
        "en": (("w = 0", "nothing explodes"), ("grows exponentially",)),
        "bn": (("w = 0", "কিছুই explode করে না"), ("exponential হারে",)),
    },
    "example.exploding": {
        "en": (("> 1", "grows exponentially"), ("does not explode",)),
        "bn": (("> 1", "exponential হারে বাড়ে"), ("explode করে না",)),
    },
    "example.linear": {
        "en": (("|w| = 1", "linearly", "does not explode"), ("exponentially",)),
        "bn": (("|w| = 1", "রৈখিক", "explode করে না"), ("exponential",)),
    },
    "example.vanishing": {
        "en": (("< 1", "vanishes", "does not explode"), ("exponentially",)),
        "bn": (("< 1", "vanish করে", "explode করে না"), ("exponential",)),
    },
}


_NEXT = {"T": ("T", "T_next"), "(T+1)/T·|w|": "q"}
_FATE = {"T": "T", "|∂L/∂w|": "grad_abs", "η·|∂L/∂w|": "next"}
_CLIP = {"|g|": "g_abs", "c": "c", "w": "w_new"}
#: Which quantity each labelled number ``label = x`` of a claim's sentence is, written here
#: (the math labels are the same in every language): the oracle's value of that name, one of
#: several names, or a constant. A sentence whose numbers were swapped ("|∂L/∂w| = {next}")
#: fails here although each number is one the claim has.
LABELS: dict[str, dict[str, Any]] = {
    "regime.zero_w": {"h_0": "h0"},
    "regime.exploding": {"|w|": "a"},
    "regime.linear": {"|w|": 1, "T·|h_0|": "grad_abs", "T": "T"},
    "regime.vanishing": {"|w|": "a"},
    "peak.tie_at_once": {"|w|": F(1, 2), "T": (1, 2)},
    "peak.rise": {"T": "peak", "−1/ln|w|": "peak_real"},
    "peak.rise_tie": {"T": ("peak", "peak2")},
    "next_T.zero": {"T": ("T", "T_next")},
    "next_T.to_zero": {"T": ("T", "T_next"), "h_0": "h0"},
    "next_T.grows": _NEXT,
    "next_T.same": _NEXT,
    "next_T.shrinks": _NEXT,
    "trend.vanishing_peak": {"T": "peak"},
    "trend.vanishing_peak_tie": {"T": ("peak", "peak2")},
    "update.none": {"w": "w"},
    "update.from_zero": {"h_0": "grad"},
    "update.to_zero": {"η·g": "step"},
    "update.crossed_smaller": {"|η·g|": "step_abs", "|w|": "a"},
    "update.crossed_same": {"|η·g|": "step_abs"},
    "update.crossed_larger": {"|η·g|": "step_abs"},
    "update.away": {"η·g": "step"},
    **{f"after_update.{k}": {"|w|": "a_new"} for k in ("faster", "same", "slower")},
    "after_update.now_explodes": {"|w|": "a_new"},
    "after_update.linear": {"|w|": 1},
    "after_update.vanishing": {"|w|": "a_new"},
    "compare.at_T": {"T": "T"},
    "compare.same": {"T": "T"},
    "big_grad.from_zero": {"w": 0, "η·10^6": "step"},
    **{f"big_grad.{k}": {"η·10^6": "step", "|w|": "a"} for k in ("thrown", "large", "small")},
    **{f"big_fate.{k}": _FATE for k in ("breaks", "runaway", "settles", "unknown")},
    "big_fate.lands_zero": {"T": "T", "η·|∂L/∂w|": "next"},
    "big_fate.cycles": {"T": "T"},
    "big_fate.stays": {"T": "T"},
    "big_fate.drifts": {"T": 1, "−η·h_0": "move"},
    "clipping.acted": _CLIP,
    "clipping.idle": _CLIP,
    "example.exploding": {"|w|": "a"},
    "example.linear": {"|w|": 1},
    "example.vanishing": {"|w|": "a"},
}
_LABELLED = re.compile(rf"(\S+) (=|≈) ({NUMBER})")


def numbers_hold(claim: dict, lang: str, values: dict[str, Any]) -> None:
    """Each labelled number of the claim's sentence in ``lang`` is the oracle's quantity."""
    from gradguard.explain._claims import say

    sentence, seen = say(claim, lang), set()
    labels = LABELS.get(claim["id"], {})
    for label, sign, shown in _LABELLED.findall(sentence):
        if sign == "≈" and not shown.startswith("≈"):
            shown = "≈ " + shown  # "|η·g| ≈ 16.867": rounded, as "|η·g| = ≈ 16.867" was
        if label.count("(") > label.count(")"):
            label = label[1:]  # "(T = 1)": the label is T
        if label not in labels:
            continue
        seen.add(label)
        want = labels[label]
        options = want if isinstance(want, tuple) else (want,)
        exact = [values[o] if isinstance(o, str) else F(o) for o in options]
        assert any(close(shown, x) for x in exact), (claim["id"], lang, label, shown, exact)
    assert seen == set(labels), (claim["id"], lang, sorted(set(labels) - seen), sentence)


def meaning_holds(claim: dict, lang: str) -> None:
    """The claim's sentence in ``lang`` carries the words of its meaning, none of the opposite."""
    from gradguard.explain._claims import say

    sentence = say(claim, lang).casefold()
    must, must_not = MEANING[claim["id"]][lang]
    for word in must:
        assert word.casefold() in sentence, (claim["id"], lang, word, sentence)
    for word in must_not:
        assert word.casefold() not in sentence, (claim["id"], lang, word, sentence)


#: How many (parameter point × medium × language) claims were checked (GRADGUARD_COUNT=1).
CHECKED = {"claims": 0, "points": 0, "meanings": 0, "fates": 0}


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
@example(w=F(2), h0=F(1), T=5, eta=F(1, 80), c=F(5), Ts=(5,))  # 2 − 80/80 = 1: linear after
@example(w=F(1), h0=F(1), T=5, eta=F(1, 100), c=F(5), Ts=(5,))  # |g| = 5 = c: not clipped
@example(w=F(2), h0=F(1), T=5, eta=F(3, 100), c=F(5), Ts=(5,))  # 2 − 2.4 = −0.4: crossed
@example(w=F(2), h0=F(1), T=5, eta=F(1, 10), c=F(5), Ts=(5,))  # 2 − 8 = −6: overshot
@example(w=F(-3, 2), h0=F(1), T=2, eta=F(7, 10), c=F(5), Ts=(5,))  # −1.5 + 2.1: crossed
@example(w=F(-3, 2), h0=F(1), T=2, eta=F(1), c=F(5), Ts=(5,))  # −1.5 + 3 = 1.5: same |w|
@example(w=F(10**6), h0=F(1), T=5, eta=F(1, 100), c=F(5), Ts=(5,))  # 10^6 moves w by 1 %
@example(w=F(1, 2), h0=F(1), T=2, eta=F(1, 10**6), c=F(5), Ts=(5,))  # a step of 1 > |w|
@example(w=F(3), h0=F(1), T=2, eta=F(3, 10**6), c=F(5), Ts=(5,))  # a step of |w|: w lands on 0
@example(w=F(0), h0=F(1, 2), T=2, eta=F(1), c=F(5), Ts=(5,))  # g there is -10^6 exactly
def test_every_claim_is_true_in_every_medium_and_language(w, h0, T, eta, c, Ts):
    from gradguard.serve._server import explorer_state

    expected = oracle(w, h0, T, eta, c, Ts)
    d = lesson(w=w, h0=h0, T=T, eta=eta, c=c, table_T=Ts, abbreviate=40)
    check_json(d["claims"], expected)
    n = len(expected)
    for lang in ("en", "bn"):
        for claim in d["claims"]:
            meaning_holds(claim, lang)
            numbers_hold(claim, lang, expected[claim["id"].partition(".")[0]][1])
            CHECKED["meanings"] += 1
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


def test_the_fixed_points_reach_every_case_of_every_claim():
    """The pages are checked at ``FIXED_POINTS``: together they state every sentence there is."""
    reached = {
        f"{topic}.{case}"
        for point in FIXED_POINTS
        for topic, (case, _) in oracle(*point, (5, 10, 20, 50)).items()
    }
    for lang in languages():
        every = {f"{t}.{c}" for t, templates in cases(lang).items() for c in templates}
        # big_fate.unknown: only past FATE_BITS (test_the_fate_past_the_size_cap_is_no_verdict)
        assert every - reached == {"big_fate.unknown"}, lang


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
        "big_grad.thrown",
        "big_fate.breaks",
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
    for lang in languages():  # w < 0 crossing 0: the step compared with |w| is its size
        text = render_text(lesson(w="-1.5", T=2, eta="0.7", lang=lang))
        assert "|η·g| = 2.1" in text and "η·g = -2.1" not in text
    for lang in languages():  # w = ½: never "first grows", both T named
        text = render_text(lesson(w="0.5", lang=lang))
        assert load_catalog(lang)["peak.tie_at_once"] in text
        assert load_catalog(lang)["regime.vanishing"].split(":")[0].replace("{a}", "0.5") in text
    # "Training breaks down completely" under the seed's 2 − 0.01·10^6 = −9998, where the
    # steps after it grow without bound; at w = 10^6 the same gradient moves w by 1 % (to
    # 990,000: the run diverges all the same, but not by that step)
    for lang in languages():
        breaks = load_catalog(lang)["big_fate.breaks"].partition(":")[0]
        assert "💥 " + breaks in render_text(lesson(lang=lang))
        assert breaks not in render_text(lesson(w=10**6, lang=lang))
        # explain --w 0 -T 2 --lr 0.6: w = −600000, then ×(1 − 0.6·2) = ×(−0.2) a step
        text = render_text(lesson(w=0, T=2, eta="0.6", lang=lang))
        assert breaks not in text and load_catalog(lang)["big_fate.settles"][:20] in text
    text = render_text(lesson(w=10**6))
    assert "💥" not in text and "w only goes from 1,000,000 to 990,000" in text
    # w = 10000 → 0 is a change of 100 %: not "only"
    text = render_text(lesson(w=10**4, T=2))
    assert "w goes from 10,000 to 0" in text and "only goes" not in text
    for w in ("0.5", "1"):  # the exam's "in this example" follows the regime
        exam = render_text(lesson(w=w)).split("exam")[-1]
        assert "grows exponentially" not in exam and "does not explode" in exam


def test_the_erratum_says_w_to_the_T_has_one_power_of_w_too_many(monkeypatch):
    """The seed's "Gradient ∝ w^T" is off by T/w: no factor T, one power of w too many."""
    import importlib.util
    import re
    from pathlib import Path

    import nbformat
    import sympy

    from gradguard.explain import erratum
    from gradguard.report import _html as report_html
    from gradguard.report import build_report
    from gradguard.serve._server import explorer_state

    monkeypatch.setattr(report_html._Figures, "explosion", lambda self, d: "")  # text only
    # the math the sentence states: T·w^(T−1)·h0 = (T/w)·w^T·h0, i.e. w^T·h0 is T/w off
    w, T, h0 = sympy.symbols("w T h_0", positive=True)
    exact = T * w ** (T - 1) * h0
    assert sympy.simplify(exact - (T / w) * w**T * h0) == 0
    assert sympy.simplify((w**T * h0) / exact - w / T) == 0  # one w more, no T
    en, bn = erratum("proportional", "en"), erratum("proportional", "bn")
    assert "off by the factor T/w" in en and "one power of w too many" in en
    assert "T/w গুণ" in bn and "w-এর ঘাত একটি বেশি" in bn
    # one definition: the lesson, the report, the explorer and the docs show this very text
    assert en in render_text(lesson()) and bn in render_text(lesson(lang="bn"))
    # (the report typesets its math: w^T with T raised, the text the same)
    assert en in page_text(build_report(sgd={}))
    assert bn in page_text(build_report(lang="bn", sgd={}))
    assert en in explorer_state({"lang": "en"})["why"]
    root = Path(__file__).resolve().parents[2]
    lab_md = (root / "docs" / "lab.md").read_text(encoding="utf-8")
    assert "<!-- gradguard-erratum: proportional en -->" in lab_md
    spec = importlib.util.spec_from_file_location("cli_pages", root / "tools/mkdocs/cli_pages.py")
    assert spec is not None and spec.loader is not None
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    assert en in hook.on_page_markdown(lab_md, page=None)
    notebook = nbformat.read(root / "docs/tutorial/seed-lesson.ipynb", as_version=4)
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    assert 'erratum("proportional", lang)' in code
    # and the wrong reading ("one power of w fewer" / "drops … one power of w" with no
    # "too many") is nowhere: catalogs, docs, notebook
    texts = [p.read_text(encoding="utf-8") for p in (root / "docs").rglob("*.md")]
    texts += [p.read_text(encoding="utf-8") for p in (root / "src").rglob("*.toml")]
    texts.append("\n".join(c.source for c in notebook.cells))
    wrong = re.compile(r"one power of w fewer|drops the factor T and one power of w(?! too)")
    assert [m[0] for t in texts for m in wrong.finditer(t)] == []


@pytest.mark.parametrize("h0", [F(-2), F(-1, 2), F(0), F(3)])
def test_the_why_text_gives_the_linear_growth_at_every_h0(h0):
    """The report's and explorer's "why": at |w| = 1 the gradient grows as T·|h₀| (h₀ < 0 too)."""
    from gradguard.report._html import _why
    from gradguard.serve._server import explorer_state

    for w in (F(1), F(-1)):
        d = lesson(w=w, h0=h0, T=5, eta=F(1, 100), c=F(5))
        params = {"w": str(w), "h0": str(h0), "T": "5", "eta": "0.01", "c": "5"}
        for lang in languages():
            linear_formula_holds(_why(d, lang), h0)
            linear_formula_holds(explorer_state({**params, "lang": lang})["why"], h0)


@pytest.mark.parametrize(
    ("w", "h0"),
    [(F(3, 2), F(1)), (F(-3, 2), F(1)), (F(2), F(-1)), (F(-2), F(-1, 2)), (F(2), F(1))],
)
def test_the_overflow_sentences_give_the_sign_the_gradient_overflows_to(w, h0):
    """``inf`` for a positive gradient, ``-inf`` for a negative one, ``±inf`` when it alternates.

    The lesson (text and Markdown), ``gradguard lab table``'s lines, the report's and the
    explorer's overflow note: every ``inf`` they print is what the exact gradient's sign at the
    float64 horizon and one step after says (``overflow_value``).
    """
    import re

    from gradguard.explain.table import horizon_lines, overflow_inf
    from gradguard.lab import overflow_horizon
    from gradguard.report._html import _explosion
    from gradguard.serve._server import explorer_state

    at = overflow_horizon(w, h0, "float64")
    assert at is not None
    want = overflow_value(w, h0, at)
    token = re.compile(r"(?<!\w)[±−-]?inf\b")
    d = lesson(w=w, h0=h0, T=5)
    params = {"w": str(w), "h0": str(h0), "T": "5", "eta": "0.01", "c": "5"}
    for lang in languages():
        cat = load_catalog(lang)
        hz = {"float64": at, "float32": overflow_horizon(w, h0, "float32")}
        texts = [
            render_text(d, cat),
            render_markdown(d, cat),
            "\n".join(horizon_lines(hz, cat, overflow_inf(w, h0))),
            explorer_state({**params, "lang": lang})["overflow"],
            _explosion(d, lang, lambda *a, **k: ""),
        ]
        for text in texts:
            assert set(token.findall(text)) == {want}, (lang, want, text[-1500:])


@pytest.mark.parametrize("exact", [True, False])
def test_a_long_negative_factor_is_in_parentheses(exact):
    """``explain --h0 -2 -T 200 [--exact]``: ``2 × (-8034…)``, ``0.01 × (-3213…)``, never ``× -``.

    Long values are shown from their digits (every digit, or rounded with their digit count);
    as a factor of a product, a negative one is in parentheses as a short one is.
    """
    import re

    from gradguard.explain.text import numbers_in

    bare = re.compile(r"(?:[+×·]|\\times|\\cdot) (?:≈ |\\approx )?-\d")
    d = lesson(w=F(2), h0=F(-2), T=200)
    for lang in languages():
        cat = load_catalog(lang)
        with numbers_in(lang, exact=exact):
            for text in (render_text(d, cat), render_markdown(d, cat)):
                assert "(-2)·2^199" in text or r"\left(-2\right) \cdot 2^{199}" in text
                found = bare.search(text)
                assert found is None, text[max(0, found.start() - 80) : found.end() + 40]


# ---- the fate of SGD after the seed's gradient of 10^6 ----------------------------------------

#: Learning rates that put w_big = w − η·10^6 near the interesting u = η·T·h0·w^(T−2).
small_etas = st.one_of(
    etas, st.fractions(min_value=F(1, 10**7), max_value=F(1, 10**5), max_denominator=10**7)
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    w=weights,
    h0=states,
    T=st.one_of(st.integers(1, 6), st.integers(1, 10**4)),
    eta=st.one_of(etas, st.sampled_from([F(1, 2), F(3, 5), F(1, 4), F(3, 4)])),
)
@example(w=F(-1, 2), h0=F(1), T=2, eta=F(3, 5))  # ×(1 − 1.2) = ×(−0.2) a step: settles
@example(w=F(3, 2), h0=F(1), T=3, eta=F(1, 2))  # u = 2.25 > 2: diverges
@example(w=F(1), h0=F(1), T=3, eta=F(3, 4))  # u = 2.25·(2/3) = 1.5, odd n: crosses, diverges
@example(w=F(1), h0=F(1), T=4, eta=F(3, 8))  # u = 1.5, even n: crosses and settles
@example(w=F(1), h0=F(1), T=4, eta=F(1, 2))  # u = 2, T even: 1, −1, 1, … for ever
@example(w=F(1), h0=F(1), T=3, eta=F(1, 3))  # u = 1: the next step lands on 0
@example(w=F(2), h0=F(-1), T=4, eta=F(1, 100))  # h0 < 0, T even: L has no minimum, diverges
@example(w=F(-2), h0=F(1), T=5, eta=F(1, 1000))  # u < 0: pushed away from 0 for ever
def test_the_fate_of_sgd_is_what_running_it_shows(w, h0, T, eta):
    """``sgd_fate`` (the claim layer's certificate) against SGD itself, run by the oracle."""
    from gradguard.explain._claims import sgd_fate

    from ..claims_oracle import run_sgd

    fates, _ = run_sgd(w, h0, T, eta)
    got = sgd_fate(w, h0, T, eta)
    assert got in fates, (got, fates)
    CHECKED["fates"] += 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(w=weights, h0=states, T=st.integers(1, 10**4), eta=small_etas)
@example(w=F(0), h0=F(1), T=2, eta=F(3, 5))  # the reviewer's explain --w 0 -T 2 --lr 0.6
@example(w=F(2), h0=F(1), T=5, eta=F(1, 100))  # the seed: breaks down, certified
def test_the_big_gradient_sentences_follow_the_run(w, h0, T, eta):
    """The lesson's two sentences after "but if the gradient is 10^6", in both languages."""
    expected = oracle(w, h0, T, eta, F(5), (5,))
    d = lesson(w=w, h0=h0, T=T, eta=eta, table_T=(5,), abbreviate=40)
    check_json(d["claims"], expected)
    for lang in languages():
        said = list(check_text(render_text(d, load_catalog(lang)), expected, lang))
        assert len([x for x in said if x.startswith("big_")]) == 2


def test_the_fate_past_the_size_cap_is_no_verdict(monkeypatch):
    """Where deciding would need a longer exact power than FATE_BITS, no verdict is said."""
    from gradguard.explain import _claims

    # w = 1, T = 3, η = 1/3: u = η·T·h0·w^(T−2) = 1 exactly: the next step lands on 0 — a
    # tie the logs cannot decide; with a cap of 0 bits the exact power is not taken
    assert _claims.sgd_fate(F(1), F(1), 3, F(1, 3)) == "lands_zero"
    monkeypatch.setattr(_claims, "FATE_BITS", 0)
    assert _claims.sgd_fate(F(1), F(1), 3, F(1, 3)) == "unknown"
    assert _claims.sgd_fate(F(3, 2), F(1), 3, F(1, 2)) == "diverges"  # logs decide: u = 2.25
    w = F(10**6 + 3, 3)  # w_big = w − 10^6/3 = 1
    d = lesson(w=w, h0=1, T=3, eta=F(1, 3), abbreviate=40)
    fate = [c["id"] for c in d["claims"] if c["id"].startswith("big_fate")]
    assert fate == ["big_fate.unknown"]
    for claim in d["claims"]:
        if claim["id"] == "big_fate.unknown":
            meaning_holds(claim, "en")
            meaning_holds(claim, "bn")
    for lang in languages():
        said = load_catalog(lang).get(
            "big_fate.unknown", T="3", grad_abs="3", next="1"
        )  # at w_big = 1: |∂L/∂w| = 3·1²·1, the next step 1/3·3 = 1
        assert said in render_text(lesson(w=w, h0=1, T=3, eta=F(1, 3), lang=lang))


def test_the_meaning_table_covers_every_claim_and_every_fixed_point_meets_it():
    """Every claim id of the catalogs has its meaning here; at the fixed points each holds."""
    for lang in ("en", "bn"):
        ids = {f"{t}.{c}" for t, templates in cases(lang).items() for c in templates}
        assert ids == set(MEANING), sorted(ids ^ set(MEANING))
    for point in FIXED_POINTS:
        w, h0, T, eta, c = point
        expected = oracle(w, h0, T, eta, c, (5, 10, 20, 50))
        for claim in lesson(w=w, h0=h0, T=T, eta=eta, c=c)["claims"]:
            for lang in ("en", "bn"):
                meaning_holds(claim, lang)
                numbers_hold(claim, lang, expected[claim["id"].partition(".")[0]][1])


def test_said_sentences_read_an_approximation_as_math():
    # say() is what the notebook prints: "x ≈ 4.996 × 10^14", never "x = ≈ 4.996 × 10^14"
    from gradguard.explain import claims, say

    for w, h0, T, eta, _c in FIXED_POINTS:
        for claim in claims(w, h0, T, eta):
            for lang in languages():
                assert "= ≈" not in say(claim, lang), (claim.id, lang, say(claim, lang))


def test_count_of_claims_checked():
    """Report the measure (``GRADGUARD_COUNT=1 pytest -s``); last in the file, after the counts."""
    if os.environ.get("GRADGUARD_COUNT"):
        print(f"\nclaims checked: {CHECKED['claims']} over {CHECKED['points']} parameter points")
        print(f"claim sentences checked for meaning and labelled numbers: {CHECKED['meanings']}")
        print(f"SGD fates checked against a run of SGD: {CHECKED['fates']}")


@pytest.mark.parametrize("lang", ["en", "bn"])
def test_exact_writes_every_computed_number_in_full(capsys, lang):
    """``explain --w 1.5 -T 20 --exact``: the gradient at the updated w (52 digits before the
    point, a 172-digit numerator) and the breakdown's |∂L/∂w| in full, as the lab computes
    them; no "≈" but the float formats' largest finite values (constants, not our rounding)
    and the table's "(≈ 2.125 × 10^10)" beside its exact p/q.
    """
    from gradguard.cli import main
    from gradguard.lab import grad_closed_form, sgd_step
    from gradguard.lab import state as h

    assert main(["explain", "--w", "1.5", "-T", "20", "--exact", "--lang", lang]) == 0
    out = capsys.readouterr().out
    g = F(grad_closed_form(F("1.5"), 1, 20))
    g_new = F(grad_closed_form(F(sgd_step(F("1.5"), g, F("0.01"))), 1, 20))
    assert f"{g_new.numerator}/{g_new.denominator}" in out
    w_big = F("1.5") - F("0.01") * 10**6
    g_big = abs(20 * F(h(w_big, 1, 19)))  # |∂L/∂w| = 20·|w_big|^19 where training breaks
    assert f"{int(g_big):,}".replace(",", "") in out.replace(",", "")
    rounded = [line for line in out.splitlines() if "≈" in line and "10^308" not in line]
    rounded = [line for line in rounded if "10^38" not in line and "|w| ≈ 1" not in line]
    rounded = [line for line in rounded if "(≈" not in line]  # a reading aid beside p/q
    assert rounded == [], rounded
