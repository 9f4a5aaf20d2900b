"""Every rounded number the explorer shows carries its exact value, one hover or Tab away.

In Chromium, at w = 1.5 with T = 20, at w = −1.5 and at the seed's point, in English and
Bengali: each "≈ x" in the page's sentences, formulas and table is a focusable
``<span class="exact" title="= exact">``; the exact value is one the lab computes for that
point (a state h_t, a gradient, an SGD or clipped update — :mod:`gradguard.lab`, exact
Fractions), and the shown digits are that value rounded (checked here by arithmetic).
The drawings' labels (the chain the gradient travels back along, its δ, the SGD plot's
marked points, the legends, the backward pass's running values) carry theirs too, an SVG
label by a ``<title>`` child. An exact value too long for a title (over 1,000 characters)
opens in full on a click or Enter — checked against the lab the same way — or, past what
the page writes out, says about how many digits it has.
"""

from __future__ import annotations

import math
from fractions import Fraction as F
from itertools import product

import pytest

from gradguard.explain import load_catalog
from gradguard.lab import bptt, grad_closed_form, sgd_step, state

from ..glyphs import page_problems

pytestmark = pytest.mark.browser

ETA, C = F("0.01"), F(5)
POINTS = [(F("1.5"), 20), (F("-1.5"), 5), (F(2), 5)]  # w, T (h0 = 1, η = 0.01, c = 5)

# every "≈ x" rendered outside a .exact span (SVG drawings aside), and every .exact span
_READ = """() => {
  const bare = [], spans = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const el = n.parentElement;
    if (el.closest("svg, script, style, [hidden]") || el.closest(".exact")) continue;
    if (/≈ ?-?\\d/.test(n.textContent)) bare.push(el.closest("[id]").id + ": " + n.textContent);
  }
  for (const s of document.querySelectorAll(".exact")) {
    if (s.closest("svg")) continue;
    spans.push([s.textContent, s.title, s.tabIndex, s.closest("[id]").id]);
  }
  return [bare, spans];
}"""


def lab_values(w: F, T: int) -> set[F]:
    """The exact values the page may show at (w, h0 = 1, T), from the lab."""
    out: set[F] = set()
    for t in {*range(1, T + 1), 5, 10, 20, 50}:
        out.add(F(state(w, 1, t)))
    # the gradient T·h_(T−1), and the term h_(T−1)
    out |= {F(state(w, 1, t)) * t for t in range(1, T + 1)}
    for t in {T, 5, 10, 20, 50}:
        g = F(grad_closed_form(w, 1, t))
        w_new = F(sgd_step(w, g, ETA))
        gc = g / max(1, abs(g) / C)
        w_clip = F(sgd_step(w, gc, ETA))
        out |= {g, w_new, gc, w_clip, w - w_new, w - w_clip}  # w − w_new: η·g
        out |= {F(grad_closed_form(x, 1, t)) for x in (w_new, F(sgd_step(w, gc, ETA))) if x}
    return out | {abs(x) for x in out}  # and |w_new| (a_new)


def rounds_to(shown: str, exact: F) -> bool:
    """``shown`` ("≈ 3,325.26", "≈ -1.268 × 10^30") is ``exact`` to its last digit."""
    text = shown.removeprefix("≈ ").replace(",", "").split(" (")[0]
    mant, _, exp = text.partition(" × 10^")
    e = int(exp or 0)
    decimals = len(mant.partition(".")[2])
    if not decimals:  # "≈ 1480" (a label's 3 digits, 10^3 written out): its zeros may be padding
        decimals = -(len(mant) - len(mant.rstrip("0")))
    return abs(exact - F(mant) * F(10) ** e) <= F(1, 2) * F(10) ** (e - decimals)


def test_rounded_numbers_carry_the_labs_exact_value(page, explorer_url):
    page.goto(explorer_url + "?lang=en")
    page.wait_for_function("document.getElementById('grad').textContent === '80'")
    checked = 0
    for (w, T), lang in product(POINTS, ("en", "bn")):
        page.click(f"nav.langs button[data-lang={lang}]")
        page.fill("#w-num", str(w))
        page.fill("#T-num", str(T))
        want = F(grad_closed_form(w, 1, T))
        page.wait_for_function(
            "([lang, T]) => document.documentElement.lang === lang"
            " && document.getElementById('table').textContent.length > 0"
            " && document.getElementById('forward').textContent.includes('h_' + T + ' =')",
            arg=[lang, T],
        )
        bare, spans = page.evaluate(_READ)
        if w == 2:  # the seed's own claims, quoted as it wrote them ("≈ 1024"): no rounding of ours
            bare = [b for b in bare if b.split(":")[0] not in ("table", "errata")]
        assert bare == [], (w, T, lang, bare)
        labs = lab_values(w, T)
        # (the SGD legend's last w is a float64 run's: test_the_sgd_legends_last_w_…)
        spans = [sp for sp in spans if sp[3] != "sgd-legend"]
        for shown, title, tab, where in spans:
            assert title.startswith("= ") and tab == 0, (shown, title, where)
            exact = F(title.removeprefix("= "))
            assert exact in labs, (shown, title, where)
            assert rounds_to(shown, exact), (shown, title, where)
            checked += 1
        if w == F("1.5"):  # 20·1.5^19 ≈ 44,336.8: the gradient itself, in the big number
            assert any(t == f"= {want}" or F(t[2:]) == want for _, t, _, _ in spans)
    assert checked >= 20, checked
    assert page.errors == []


# every rounded number, drawings included: [bare "≈ x" outside an .exact, the .exact elements
# as [shown, title, tabIndex, where, svg]] (an SVG element's title is its <title> child)
_READ_ALL = """() => {
  const bare = [], spans = [];
  const walk = document.createTreeWalker(document.querySelector("main"), NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const el = n.parentElement;
    if (el.closest("script, style, title, [hidden]") || el.closest(".exact")) continue;
    if (/≈ ?[-−]?\\d/.test(n.textContent)) bare.push(el.closest("[id]").id + ": " + n.textContent);
  }
  for (const s of document.querySelectorAll("main .exact")) {
    const svg = s instanceof SVGElement;
    const title = svg ? s.querySelector(":scope > title").textContent : s.title;
    const kids = [...s.childNodes].filter((c) => c.nodeName !== "title");
    const shown = kids.map((c) => c.textContent).join("");
    spans.push([shown, title, s.tabIndex, s.closest("[id]").id, svg]);
  }
  return [bare, spans];
}"""


def shown_value(shown: str) -> str:
    """A label as a number: "(−0.333333)" → "-0.333333" (a factor's brackets, a real minus)."""
    return shown.strip("()").replace("−", "-")


def drawing_values(w: F, T: int) -> set[F]:
    """The drawings' exact values at (w, h0 = 1, T): the chain's states and δ (both w^k),
    the backward pass's terms and running sums, the marked SGD steps, and the legend's
    comparison line at 1/|w|."""
    out = lab_values(w, T) | {w, F(1)}  # w, and h_0 = 1
    ref = bptt(w, 1, T)
    out |= {F(x) for x in ref.deltas} | {F(x) for x in ref.terms}
    out |= {sum((F(x) for x in ref.terms[t:]), F(0)) for t in range(T)}  # sums of the last terms
    out.add(F(sgd_step(w, 10**6, ETA)))  # "a gradient of 10^6"
    return out | {1 / abs(w)} if w else out


# where rounded numbers are drawn: 20·1.5^19 ≈ 44,336.8 on the SGD plot's mark; at w = 1.234567,
# 1/w = 1000000/1234567 in the legend, and w^9 (55 digits) as the term and the sum; the
# chain's labels (4 significant digits) at every point — its factor (−1.5) exactly
DRAWN = {
    (F("1.5"), 20): {"bp-chain", "sgd-plot"},
    (F("1.234567"), 10): {"bp-chain", "sgd-plot", "bp-legend", "bp-term", "bp-sum"},
    (F("-1.5"), 12): {"bp-chain"},
}


@pytest.mark.parametrize(("w", "T"), list(DRAWN))
def test_the_drawings_labels_carry_the_labs_exact_value(page, explorer_url, w, T):
    page.goto(explorer_url + "?lang=en")
    page.wait_for_function("document.getElementById('grad').textContent === '80'")
    page.fill("#w-num", str(w))
    page.fill("#T-num", str(T))
    page.wait_for_function(
        "T => document.getElementById('forward').textContent.includes('h_' + T + ' =')", arg=T
    )
    for _ in range(4):  # the gradient four steps back: δ at four nodes, a term and a sum
        page.click("#bp-step")
    bare, spans = page.evaluate(_READ_ALL)
    assert [b for b in bare if b.split(":")[0] not in ("table", "errata")] == [], bare
    values = drawing_values(w, T)
    where = set()
    for shown, title, tab, at, _svg in spans:
        if at == "sgd-legend":  # a float64 run's w: test_the_sgd_legends_last_w_…
            continue
        assert title.startswith("= ") and tab == 0, (shown, title, at)
        exact = F(title.removeprefix("= "))
        assert exact in values, (shown, title, at)
        assert rounds_to(shown_value(shown), exact), (shown, title, at)
        where.add(at)
    assert DRAWN[w, T] <= where, where
    for dd in ("bp-delta", "bp-term", "bp-sum"):  # the running values' titles are their data
        title = page.eval_on_selector(f"#{dd}", "e => e.querySelector('.exact')?.title")
        if title is not None:
            assert F(title[2:]) == F(page.get_attribute(f"#{dd}", "data-exact"))
    assert page.errors == []


def long_values(w: F, T: int) -> set[F]:
    """The page's values at (w, h0 = 1, T) for a T whose largest exact texts pass 1,000
    characters (no gradient at the updated w: it is past what the page writes out)."""
    out = {F(1)} | {F(state(w, 1, t)) for t in range(1, T + 1)}
    out |= {F(state(w, 1, t)) * t for t in range(1, T + 1)}
    g = F(grad_closed_form(w, 1, T))
    gc = g / max(1, abs(g) / C)
    w_new, w_clip = F(sgd_step(w, g, ETA)), F(sgd_step(w, gc, ETA))
    out |= {g, gc, w_new, w_clip, w - w_new, w - w_clip}
    out |= {F(grad_closed_form(w, 1, t)) for t in (5, 10, 20, 50)}
    return out | {abs(x) for x in out}


def digits_estimate(x: F, power: int, factor: int) -> float:
    """About how many digits factor·x^power has, numerator and denominator (from logs)."""
    from math import log10

    return power * (log10(abs(x.numerator)) + log10(x.denominator)) + log10(factor)


@pytest.mark.parametrize("lang", ["en", "bn"])
def test_an_exact_value_too_long_for_a_title_opens_in_full(page, explorer_url, lang):
    w, T = F("1.5"), 2000  # 2000·1.5^1999 = 125·3^1999/2^1995: 1,557 characters
    explorer = load_catalog(lang, "report").section("explorer")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(explorer_url + f"?lang={lang}")
    page.fill("#w-num", str(w))
    page.fill("#T-num", str(T))
    page.wait_for_function(
        "T => document.getElementById('forward').textContent.includes('h_' + T + ' =')", arg=T
    )
    page.click("#bp-step")
    bare, spans = page.evaluate(_READ_ALL)
    assert [b for b in bare if b.split(":")[0] not in ("table", "errata")] == [], bare
    values = long_values(w, T)
    g = F(grad_closed_form(w, 1, T))
    about_new = digits_estimate(F(sgd_step(w, g, ETA)), T - 1, T)  # ∂L/∂w at the updated w
    opened = too_long = drawn = 0
    glyphs_seen: set[bool] = set()
    handles = page.query_selector_all("main .exact")
    assert len(handles) == len(spans)
    for handle, (shown, title, tab, at, svg) in zip(handles, spans, strict=True):
        assert tab == 0, (shown, at)
        if title.startswith("= "):
            assert F(title[2:]) in values or at == "sgd-legend", (shown, title, at)
            continue
        assert title == explorer["exact_long"], (shown, title, at)
        assert handle.get_attribute("role") == "button"
        if svg:  # a drawing's label: by keyboard
            handle.focus()
            page.keyboard.press("Enter")
        else:
            handle.click()
        page.wait_for_selector("#exact-dialog[open]")
        head = page.inner_text("#exact-head")
        full = page.is_visible("#exact-text")
        if lang == "bn" and full not in glyphs_seen:  # the dialog's words, drawn by its fonts
            assert page_problems(page) == []
            glyphs_seen.add(full)
        if full:
            text = page.input_value("#exact-text")
            exact = F(text)
            assert len(text) > 1000 and exact in values, (shown, at)
            assert rounds_to(shown_value(shown), exact), (shown, text[:40], at)
            n = sum(c.isdigit() for c in text)
            assert head == explorer["exact_head"].replace("{n}", f"{n:,}"), head
            opened += 1
            drawn += svg
        else:  # ∂L/∂w at the updated w: millions of digits, not written out
            n = int(
                head.split()[head.split().index("about" if lang == "en" else "প্রায়") + 1]
                .removesuffix("টি")
                .replace(",", "")
            )
            assert abs(n - about_new) <= 0.01 * about_new, (n, about_new)
            assert n > 100_000
            too_long += 1
        page.click("#exact-close")
        assert page.evaluate("document.getElementById('exact-dialog').open") is False
        # back where the reader was (a modal <dialog> gives the focus back as it closes)
        assert handle.evaluate("e => document.activeElement === e")
    assert opened >= 10 and drawn >= 2 and too_long >= 1, (opened, drawn, too_long)
    assert len(glyphs_seen) == (2 if lang == "bn" else 0)
    # the copy button puts the value itself on the clipboard
    page.query_selector("#grad .exact, #grad.exact, #grad-text .exact").click()
    want = page.input_value("#exact-text")
    page.click("#exact-copy")
    page.wait_for_function(
        "s => document.getElementById('exact-status').textContent === s",
        arg=explorer["exact_copied"],
    )
    assert page.evaluate("navigator.clipboard.readText()") == want
    assert F(want) == g
    assert page.errors == []


def float_run(w: float, T: int, eta: float, n: int, c: float | None = None) -> float | None:
    """The SGD legend's run in float64, as training computes: n updates of w − η·g on
    L = h_T (h0 = 1), g clipped to c when given; None once w is not finite."""
    for _ in range(n):
        g = T * w ** (T - 1) * 1.0
        if c is not None:
            g = g / max(1.0, abs(g) / c)
        w = w - eta * g
        if not math.isfinite(w):
            return None
    return w


@pytest.mark.parametrize(("eta", "n"), [("0.01", 10), ("0.1", 4), ("0.03", 7)])
def test_the_sgd_legends_last_w_carries_its_exact_float64_value(page, explorer_url, eta, n):
    # each run's last w is a float64: shown as the lab writes a number ("≈ 0.785335",
    # "≈ -3.500 × 10^43", never 3.5e+43) and titled with that double's exact value
    page.goto(explorer_url + "?lang=en")
    page.wait_for_function("document.getElementById('grad').textContent === '80'")
    page.fill("#eta-num", eta)
    page.fill("#sgd-n", str(n))
    lines = page.inner_text("#sgd-legend").splitlines()
    assert len(lines) == 3 and not any("e+" in line or "e-" in line for line in lines), lines
    runs = [float_run(2.0, 5, float(eta), n), float_run(2.0, 5, float(eta), n, 5.0)]
    runs.append(float_run(2.0, 5, float(eta) / 10, n))
    spans = page.eval_on_selector_all(
        "#sgd-legend li",
        "lis => lis.map(li => [...li.querySelectorAll('.exact')]"
        ".map(s => [s.textContent, s.title, s.tabIndex]).at(-1) || null)",
    )
    rounded = 0
    for want, span, line in zip(runs, spans, lines, strict=True):
        if want is None:
            assert "no longer finite" in line and span is None, line
            continue
        if span is None:  # shown exactly: the double itself
            assert F(line.rsplit("= ", 1)[1].replace(",", "")) == F(want), line
            continue
        shown, title, tab = span
        exact = F(title.removeprefix("= "))
        assert tab == 0 and F(float(exact)) == exact, (line, title)  # a float64's exact value
        # Python's pow and the page's Math.pow may differ in the last bit: within a few ulps
        assert abs(float(exact) - want) <= 4 * math.ulp(want), (line, want)
        assert rounds_to(shown_value(shown), exact), (shown, title)
        rounded += 1
    assert rounded >= 1
    assert page.errors == []
