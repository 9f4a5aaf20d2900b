"""The lesson as data, its renderers, and the en/bn message catalogs."""

from __future__ import annotations

import json
import math
import re
from fractions import Fraction

import pytest

from gradguard.errors import InputError
from gradguard.explain import (
    default_lang,
    format_number,
    lesson,
    load_catalog,
    render_markdown,
    render_text,
)
from gradguard.lab import grad_closed_form

BENGALI = re.compile(r"[\u0980-\u09FF]")


def test_lesson_defaults_are_the_seed():
    d = lesson()
    assert d["states"] == ["1", "2", "4", "8", "16", "32"]
    assert d["loss"] == "32"
    assert d["terms"] == ["16"] * 5 and d["deltas"] == ["16", "8", "4", "2", "1"]
    assert d["grad"] == "80" and d["closed_form"]["matches_bptt"] is True
    assert [r["T"] for r in d["table"]] == [5, 10, 20, 50]
    assert d["sgd"]["w_new"] == "6/5" and d["sgd"]["w_new_big"] == "-9998"
    assert d["clip"]["seed_example"]["clipped"] == "5" and d["clip"]["grad_clipped"] == "5"
    assert d["errata"] == ["table", "proportional", "after_update"]
    assert d["horizons"] == {"float64": 1016, "float32": 123}
    json.dumps(d)  # JSON-ready
    assert [s["kind"] for s in d["steps"]][:3] == ["definition", "setup", "forward"]


def test_lesson_other_parameters():
    d = lesson(w="0.9", h0="-2", T=12, eta="0.1", c="0.5")
    assert Fraction(d["grad"]) == grad_closed_form("0.9", -2, 12)  # 12·0.9^11·(−2), exact
    assert d["regime"]["kind"] == "vanishing" and d["regime"]["peak_T"] == 9
    assert "table" not in d["errata"]  # not the seed's parameters
    assert all(r["seed_claim"] is None for r in d["table"])


def test_abbreviated_lesson_agrees_with_exact():
    full = lesson(w="-3/2", h0=2, T=300)
    short = lesson(w="-3/2", h0=2, T=300, abbreviate=30)
    assert len(short["states"]) == 301 and len(short["terms"]) == 300
    for a, b in zip(full["states"], short["states"], strict=True):
        if b.startswith("≈"):
            assert float(b[1:]) == pytest.approx(float(Fraction(a)), rel=1e-3)
        else:
            assert a == b
    assert short["grad"].startswith("≈-")  # (-3/2)^299 < 0
    assert float(short["grad"][1:]) == pytest.approx(float(Fraction(full["grad"])), rel=1e-3)
    big = lesson(T=10**4, abbreviate=40)  # the explorer's case: fast, every list complete
    assert len(big["states"]) == 10**4 + 1 and big["states"][3] == "8"


def test_catalogs_have_the_same_keys():
    assert load_catalog("en").keys() == load_catalog("bn").keys()


def test_text_and_markdown_render_the_numbers():
    d = lesson()
    text = render_text(d)
    for needle in ["h_5 = 2 × 16 = 32", "16 + 16 + 16 + 16 + 16 = 80", "5,120", "≈ 10^15", "1.2"]:
        assert needle in text
    assert "= -9,998" in text and "-9998" not in text and "28,147,497,671,065,600" in text
    md = render_markdown(d)
    assert "$$" in md and "\\begin{aligned}" in md and "| 50 |" in md
    assert "= -9{,}998" in md  # grouped in LaTeX too, with no space after the comma
    assert "h_{5} &= 2 \\times 16 = 32" in md


def test_bengali_has_bengali_text_and_the_same_numbers():
    en, bn = render_text(lesson(lang="en")), render_text(lesson(lang="bn"))
    assert BENGALI.search(bn) and not BENGALI.search(en)
    assert "Exploding Gradient Problem" in bn  # kept in Latin script, as the seed does
    numbers = re.compile(r"[0-9]+(?:[.,/][0-9]+)*")  # Western digits, as the seed writes them
    assert sorted(numbers.findall(en)) == sorted(numbers.findall(bn))
    assert "28,147,497,671,065,600" in bn and "= -9,998" in bn and "-9998" not in bn


def test_long_traces_are_elided_in_text_only():
    d = lesson(T=40)
    text = render_text(d)
    assert (
        "h_40 = 2 × " in text and "h_10 =" not in text and "33 more steps" in text
    )  # 40 − 5 shown − 2 shown
    assert len(d["states"]) == 41


def test_format_number():
    assert format_number("6/5") == "1.2" and format_number("1/3") == "1/3"
    assert format_number("1/3", latex=True) == "\\frac{1}{3}"
    assert format_number("5120", group=True) == "5,120"
    assert format_number("≈1.268e+30") == "≈ 1.268 × 10^30"


def test_default_lang():
    assert default_lang({"LANG": "bn_BD.UTF-8"}) == "bn"
    assert default_lang({"LANG": "bn_IN"}) == "bn"
    assert default_lang({"LANG": "en_US.UTF-8"}) == "en"
    assert default_lang({"LC_ALL": "C", "LANG": "bn_BD"}) == "en"  # LC_ALL wins
    assert default_lang({}) == "en"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lang": "xx"}, "lang must be one of en, bn"),
        ({"T": 0}, "^T must be a whole number"),
        ({"T": 10**6}, "at most 100,000"),
        ({"eta": 0}, "eta must be a number > 0"),
        ({"c": -1}, "^c must be a finite number > 0"),
        ({"w": "nan"}, "w must be a finite number"),
        ({"table_T": "5,x"}, "table_T must be"),
    ],
)
def test_lesson_bad_input(kwargs, match):
    with pytest.raises(InputError, match=match):
        lesson(**kwargs)


@pytest.mark.parametrize(
    ("w", "h0", "T"), [("31/8", 0, 16), (0, 3, 4), (-1, 2, 7), (1, "1/3", 3), ("-2", 1, 1)]
)
def test_edge_parameters_render(w, h0, T):
    # Found by the CLI property test: a zero gradient with huge factors once printed as "≈0".
    d = lesson(w=w, h0=h0, T=T)
    assert Fraction(d["grad"]) == grad_closed_form(w, h0, T)
    assert d["sgd"]["grad_new"] != "≈0"
    for lang in ("en", "bn"):
        assert render_text(lesson(w=w, h0=h0, T=T, lang=lang))
        assert render_markdown(lesson(w=w, h0=h0, T=T, lang=lang))


@pytest.mark.parametrize(("w", "h0"), [("-3/2", 2), ("1/3", "-5"), (1, "1/2"), (-1, 3), (7, 0)])
def test_fast_abbreviated_path_matches_the_exact_trace(w, h0):
    # An abbreviated lesson takes the fast path (powers from logs, not the BPTT trace).
    from gradguard.lab import LogValue, exact_to_json, forward

    T = 2100
    fast = lesson(w=w, h0=h0, T=T, abbreviate=30)
    exact_states = forward(w, h0, T)
    assert len(fast["states"]) == T + 1 and len(fast["terms"]) == T
    for got, x in zip(fast["states"], exact_states, strict=True):
        if got.startswith("≈"):
            lv = LogValue.of(x)
            mant, _, exp = got[1:].partition("e")
            assert (float(mant) > 0) == (lv.sign > 0)
            assert math.log10(abs(float(mant))) + int(exp) == pytest.approx(lv.log10, abs=1e-3)
        else:
            assert got == exact_to_json(x)


def test_abbreviated_lesson_builds_no_trace_unless_asked(monkeypatch):
    # The term-by-term trace costs O(T²·digits) (w = 0.123456789, T = 2000: seconds); an
    # abbreviated lesson builds its lists from powers and re-sums only with verify=True.
    import gradguard.explain._lesson as mod

    calls: list[int] = []
    real = mod.bptt
    monkeypatch.setattr(mod, "bptt", lambda w, h0, T: calls.append(T) or real(w, h0, T))
    d = lesson(w="0.123456789", T=1500, abbreviate=40)
    assert calls == [] and d["closed_form"]["matches_bptt"] is None
    assert len(d["states"]) == 1501 and d["states"][1] == "123456789/1000000000"
    assert lesson(T=50, abbreviate=40, verify=True)["closed_form"]["matches_bptt"] is True
    assert calls == [50]
    assert lesson(T=50)["closed_form"]["matches_bptt"] is True  # exact mode: always the trace


#: A phrase only the after-update sentence of each kind has, per language (catalog wording).
_AFTER = {
    "en": {"slower": "only more slowly", "same": "exactly as fast", "faster": "faster than before"},
    "bn": {"slower": "তবে আগের চেয়ে ধীরে", "same": "ঠিক আগের মতোই দ্রুত", "faster": "আগের চেয়েও দ্রুত"},
}


def _log10_abs(x: Fraction) -> float:
    return math.log10(abs(x.numerator)) - math.log10(x.denominator)


@pytest.mark.parametrize("T", [5, 10, 50, 200])
def test_after_update_sentence_follows_the_computed_gradient(T):
    d = lesson(w=2, h0=1, T=T)
    # Independently of the lesson: w_new = 2 − 0.01·T·2^(T−1), exactly; the gradient at w_new
    # is T·w_new^(T−1), compared with T·2^(T−1) in log10 (it has ~12,000 digits at T = 200).
    w_new = 2 - Fraction(1, 100) * T * 2 ** (T - 1)
    assert Fraction(d["sgd"]["w_new"]) == w_new
    log_new = math.log10(T) + (T - 1) * _log10_abs(w_new)
    log_old = math.log10(T) + (T - 1) * math.log10(2)
    expected = "slower" if log_new < log_old else "faster"  # T = 5: w_new = 1.2; else |w_new| > 2
    assert expected == ("slower" if T == 5 else "faster")
    assert d["sgd"]["after_update"] == expected and "after_update" in d["errata"]
    shown = d["sgd"]["grad_new"]  # unabbreviated: exact, all ~12,000 digits at T = 200
    from gradguard.lab import exact_to_json

    assert shown == exact_to_json(T * w_new ** (T - 1))
    for lang, phrases in _AFTER.items():
        text = render_text(lesson(w=2, h0=1, T=T, lang=lang))
        assert phrases[expected] in text
        assert [k for k, p in phrases.items() if p in text] == [expected]
    if T == 200:  # the wording the seed's defaults got wrong: w_new ≈ −1.6 × 10^60
        assert f"{float(w_new):.2g}" == "-1.6e+60" and "more slowly" not in render_text(d)


@pytest.mark.parametrize(
    ("eta", "kind"),
    [("0.05", "same"), ("0.02", None)],  # 2 − 0.05·80 = −2 (|w| unchanged); 2 − 0.02·80 = 0.4
)
def test_after_update_just_as_fast_or_no_longer_exploding(eta, kind):
    for lang, phrases in _AFTER.items():
        d = lesson(w=2, h0=1, T=5, eta=eta, lang=lang)
        assert d["sgd"]["after_update"] == kind
        text = render_text(d)
        assert [k for k, p in phrases.items() if p in text] == ([kind] if kind else [])
        if kind is None:  # |w_new| = 0.4 < 1: the lesson says it vanishes there
            assert "after_update" not in d["errata"]
            assert load_catalog(lang).get("after_update.vanishing", a_new="0.4") in text


def test_display_rows_read_an_approximation_as_math():
    # h_20 = 1.5^20: rounded states and terms are operands; only the result carries ≈
    from gradguard.explain import lesson, load_catalog, render_markdown, render_text

    for lang in ("en", "bn"):
        d, cat = lesson(w="1.5", T=20, lang=lang), load_catalog(lang)
        text, md = render_text(d, cat), render_markdown(d, cat)
        assert "1.5 × 1,477.89 ≈ 2,216.84" in text  # grouped as the sentences write them
        for bad in ("= ≈", "× ≈", "+ ≈", "− ≈"):
            assert bad not in text, bad
        for bad in ("= \\approx", "\\times \\approx", "+ \\approx", "- \\approx"):
            assert bad not in md, bad
