"""The explorer's page, in Chromium, states the lesson's claims truly at every edge.

For each of ``FIXED_POINTS`` (``tests/claims_oracle.py``) the parameters are typed into
the page; its answers (why, the SGD step, clipping, the line under the table) are read as
shown, in English and Bengali, and checked against the oracle: the expected sentence with
the right numbers, and no sentence of another case.
"""

from __future__ import annotations

import json

import pytest

from gradguard.explain import format_number
from gradguard.lab import exact_to_json
from gradguard.report._lesson import factor

from ..claims_oracle import EXPLORER_TOPICS, FIXED_POINTS, check_text, oracle

pytestmark = pytest.mark.browser


def test_explorer_claims_at_the_edges(page, explorer_url):
    page.goto(explorer_url + "?lang=en")
    page.wait_for_function("document.getElementById('grad').textContent === '80'")
    checked = 0
    for w, h0, T, eta, c in FIXED_POINTS:
        for name, value in (("w", w), ("h0", h0), ("T", T), ("eta", eta), ("c", c)):
            page.fill(f"#{name}-num", str(value))
        g = T * w ** (T - 1) * h0
        # the page has caught up when its SGD line shows this point's w − η × g
        # (grouped, as every number the lesson shows: 2 − 0.01 × 5,120)
        shown = " − ".join(format_number(exact_to_json(x), group=True) for x in (w, eta))
        needle = f"{shown} × {factor(format_number(exact_to_json(g), group=True))} "
        expected = oracle(w, h0, T, eta, c, (5, 10, 20, 50))
        expected = {k: v for k, v in expected.items() if k in EXPLORER_TOPICS}
        for lang in ("en", "bn"):
            page.click(f"nav.langs button[data-lang={lang}]")
            try:
                page.wait_for_function(
                    "([lang, needle]) => document.documentElement.lang === lang"
                    " && document.getElementById('sgd').textContent.includes(needle)",
                    arg=[lang, needle],
                    timeout=5000,
                )
            except Exception:
                pytest.fail(f"{needle!r} not in {page.locator('#sgd').inner_text()!r}")
            answers = "\n".join(
                page.locator(f"#{part}").inner_text() for part in ("why", "sgd", "clip", "trend")
            )
            checked += len(list(check_text(answers, expected, lang)))
    assert checked >= len(FIXED_POINTS) * 2 * 6, json.dumps(checked)
    assert page.errors == []
