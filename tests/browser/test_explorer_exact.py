"""Every rounded number the explorer shows carries its exact value, one hover or Tab away.

In Chromium, at w = 1.5 with T = 20, at w = −1.5 and at the seed's point, in English and
Bengali: each "≈ x" in the page's sentences, formulas and table is a focusable
``<span class="exact" title="= exact">``; the exact value is one the lab computes for that
point (a state h_t, a gradient, an SGD or clipped update — :mod:`gradguard.lab`, exact
Fractions), and the shown digits are that value rounded (checked here by arithmetic).
"""

from __future__ import annotations

from fractions import Fraction as F
from itertools import product

import pytest

from gradguard.lab import grad_closed_form, sgd_step, state

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
