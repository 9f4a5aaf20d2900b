"""The explorer in a real browser: move a slider, read the gradient, switch to Bengali."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.browser
BENGALI = re.compile(r"[\u0980-\u09FF]")


def test_slider_updates_gradient_and_bengali(page, explorer_url, screenshot):
    page.goto(explorer_url)
    grad = page.locator("#grad")
    # w = 2, T = 5: dL/dw = 5 · 2^4 = 80 (the seed)
    page.wait_for_function("document.getElementById('forward').textContent.includes('h_5')")
    assert grad.inner_text() == "80"
    page.fill("#T", "10")  # move the T slider (fires 'input')
    # T = 10: 10 · 2^9 = 5120 (the seed claimed ≈ 1024)
    page.wait_for_function("document.getElementById('grad').textContent === '5120'", timeout=5000)
    assert page.locator("#T-num").input_value() == "10"
    assert "h_10 = 2 × 512 = 1024" in page.locator("#forward").inner_text()
    sgd = page.locator("#sgd").inner_text()
    assert "= -49.2." in sgd and "the step overshot" in sgd  # 2 − 0.01 × 5120: |w| 2 → 49.2
    page.click("#lang button[data-lang=bn]")
    page.wait_for_function("document.documentElement.lang === 'bn'", timeout=5000)
    title = page.locator("#title").inner_text()
    assert title == "gradguard explorer: টিউটোরিয়ালের সিস্টেম, সরাসরি হিসাব"
    assert BENGALI.search(page.locator("#grad-text").inner_text())
    assert grad.inner_text() == "5120"
    assert page.locator("#plot polyline").count() == 1
    shot = screenshot(page, "explorer-bn")
    assert shot.stat().st_size > 10_000
    assert page.errors == []


def test_bad_input_shows_message_in_page(page, explorer_url, screenshot):
    page.goto(explorer_url)
    page.wait_for_function("document.getElementById('grad').textContent === '80'")
    page.fill("#w-num", "abc")
    err = page.locator("#error")
    err.wait_for(state="visible", timeout=5000)
    assert "w must be a finite number" in err.inner_text()
    assert page.locator("#grad").inner_text() == "80"  # the last good result stays
    page.fill("#w-num", "3")
    err.wait_for(state="hidden", timeout=5000)
    # w = 3, T = 5: 5 · 3^4 = 405
    assert page.locator("#grad").inner_text() == "405"
    screenshot(page, "explorer-error-cleared")
    # the rejected request is a 400 (the browser logs it as a failed resource), never an exception
    assert all("400" in e for e in page.errors)


def test_bengali_page_opens_in_bengali_with_the_font_it_serves(page, explorer_url):
    from gradguard.report._i18n import t

    page.goto(explorer_url + "?lang=bn")
    # before any answer arrives: the title and headings the server wrote are Bengali
    assert page.title() == t("bn", "ui_title")
    assert page.locator("#l-table").inner_text() == t("bn", "ui_table")
    assert page.locator("#lang [aria-pressed=true]").get_attribute("data-lang") == "bn"
    page.wait_for_function("document.getElementById('grad').textContent === '80'")
    page.evaluate("document.fonts.ready.then(() => true)")
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": "#why"})["nodeId"]
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    # the Bengali glyphs are drawn with the font the explorer serves, not a system font
    assert any(f["isCustomFont"] and f["glyphCount"] > 0 for f in fonts), fonts
    assert page.errors == []
