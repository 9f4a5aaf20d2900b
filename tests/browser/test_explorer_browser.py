"""The explorer in a real browser: every control, phone and desktop widths, both languages.

The page is the single file :func:`gradguard.serve.build_page` writes (opened over
``file://``), the one ``gradguard serve`` hosts, and the one the docs site publishes;
the values it shows are compared with the Python lab (``gradguard.lab``) and numpy.
"""

from __future__ import annotations

import re
import shutil
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gradguard.lab import bptt, to_exact

pytestmark = pytest.mark.browser
BENGALI = re.compile(r"[\u0980-\u09FF]")
ROOT = Path(__file__).resolve().parents[2]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def _open(
    browser: Any, url: str, viewport: dict[str, int] = DESKTOP, init_script: str | None = None
) -> Any:
    ctx = browser.new_context(viewport=viewport)
    if init_script is not None:
        ctx.add_init_script(init_script)
    pg = ctx.new_page()
    pg.errors = []
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.goto(url)
    pg.wait_for_function("window.GG && GG.page && document.getElementById('grad').textContent")
    return pg


@pytest.fixture()
def app(browser: Any, page_file: Path) -> Any:
    pg = _open(browser, page_file.as_uri())
    yield pg
    assert pg.errors == []
    pg.context.close()


def _exact(text: str) -> Fraction:
    return Fraction(text)


def test_the_lesson_controls_recompute_everything(app: Any) -> None:
    assert app.inner_text("#grad") == "80"  # the seed: 5 · 2^4
    app.fill("#T", "10")  # the T slider (fires 'input')
    assert app.input_value("#T-num") == "10" and app.inner_text("#grad") == "5,120"
    assert "h_10 = 2 × 512 = 1,024" in app.inner_text("#forward")  # grouped as the sentences
    assert "= 2 − 0.01 × 5,120 = -49.2." in app.inner_text("#sgd")
    app.fill("#w-num", "3/2")  # typed: a fraction
    app.fill("#T-num", "4")
    assert app.inner_text("#grad") == "13.5"  # 4 · (3/2)^3
    app.fill("#h0-num", "2")
    assert app.inner_text("#grad") == "27"
    app.fill("#h0", "-1")  # the h0 slider
    assert app.input_value("#h0-num") == "-1" and app.inner_text("#grad") == "-13.5"
    app.fill("#eta-num", "0.1")
    assert "= 2.85." in app.inner_text("#sgd")  # 1.5 − 0.1·(−13.5)
    app.fill("#eta", "0.05")  # the eta slider
    assert app.input_value("#eta-num") == "0.05"
    app.fill("#c-num", "2")
    assert "down to -2, and the update gives w = 1.6." in app.inner_text("#clip")
    app.fill("#c", "50")  # the c slider
    assert app.input_value("#c-num") == "50"
    app.fill("#w", "-2")  # the w slider
    assert app.input_value("#w-num") == "-2" and "alternates" in app.inner_text("#why")
    app.fill("#w-num", "৩")  # Bengali digits are read as numbers
    assert app.inner_text("#grad") == "-108"  # 4 · 3^3 · (−1)


def test_bad_input_shows_the_labs_message_and_keeps_the_last_result(app: Any) -> None:
    app.fill("#w-num", "abc")
    assert app.is_visible("#error")
    assert "w must be a finite number such as 2" in app.inner_text("#error")
    assert app.inner_text("#grad") == "80"
    assert "stale" in (app.get_attribute("#lesson", "class") or "")
    app.fill("#w-num", "3")
    assert not app.is_visible("#error") and app.inner_text("#grad") == "405"


@pytest.mark.parametrize(("w", "h0", "T"), [("2", "1", 5), ("-3/2", "2", 7), ("0.9", "1", 14)])
def test_stepping_back_shows_each_delta_and_partial_sum_of_the_lab(
    app: Any, w: str, h0: str, T: int
) -> None:
    app.fill("#w-num", w)
    app.fill("#h0-num", h0)
    app.fill("#T-num", str(T))
    ref = bptt(w, h0, T)  # the lab's backward pass: deltas built backward, not the closed form
    assert app.get_attribute("#bp-sum", "data-exact") == "0"
    partial = Fraction(0)
    for k in range(1, T + 1):
        app.click("#bp-step")
        t = T - k + 1
        partial += Fraction(ref.terms[t - 1])
        assert _exact(app.get_attribute("#bp-delta", "data-exact")) == ref.deltas[t - 1]
        assert _exact(app.get_attribute("#bp-term", "data-exact")) == ref.terms[t - 1]
        assert _exact(app.get_attribute("#bp-sum", "data-exact")) == partial
        assert f"t = {t}" in app.inner_text("#bp-status")
    assert partial == ref.grad == Fraction(T) * to_exact(w) ** (T - 1) * to_exact(h0)
    assert app.is_disabled("#bp-step")
    # every node the gradient reached is lit: h_1 … h_T (h_0 is not a state it flows into)
    lit = app.locator("#bp-chain circle[stroke='#b01c1c']").count()
    assert lit == (T if T <= 12 else 9)  # a long chain draws h_1…h_4 and h_{T−4}…h_T


def test_play_pause_and_reset(app: Any) -> None:
    app.click("#bp-play")
    assert app.get_attribute("#bp-play", "aria-pressed") == "true"
    app.wait_for_function("GG.page.bp.k === 5", timeout=10_000)  # T = 5 steps, then it stops
    app.wait_for_function(
        "document.getElementById('bp-play').getAttribute('aria-pressed') === 'false'"
    )
    assert Fraction(app.get_attribute("#bp-sum", "data-exact")) == 80
    app.click("#bp-reset")
    assert app.get_attribute("#bp-sum", "data-exact") == "0"
    assert "h_T = L = 32" in app.inner_text("#bp-status")


def test_the_chain_writes_a_negative_factor_in_parentheses(app: Any) -> None:
    # "×-1.5" reads as a subtraction: the chain writes ×(−1.5), as the lab's h_2 = (-1.5) × …
    app.fill("#w-num", "-1.5")
    app.wait_for_function("document.getElementById('bp-chain').textContent.includes('(−1.5)')")
    chain = app.text_content("#bp-chain")
    assert "×(−1.5)" in chain and "×-1.5" not in chain
    app.fill("#w-num", "2")
    app.wait_for_function("document.getElementById('bp-chain').textContent.includes('×2')")


def test_one_term_is_one_term(app: Any) -> None:
    # T = 1: the sum has one term — "All 1 term added", never "All 1 terms"
    app.fill("#T-num", "1")
    app.wait_for_function("document.getElementById('grad').textContent === '1'")
    app.click("#bp-step")
    status = app.inner_text("#bp-status")
    assert "All 1 term added" in status and "1 terms" not in status
    app.fill("#T-num", "5")
    app.wait_for_function("document.getElementById('grad').textContent === '80'")
    app.click("#bp-reset")


def test_a_long_chain_is_folded_and_says_how_many_steps(app: Any) -> None:
    app.fill("#T-num", "1000")
    assert "991 steps folded" in app.text_content("#bp-chain")  # 1001 nodes, 10 drawn
    app.click("#bp-step")
    assert app.get_attribute("#bp-delta", "data-exact") == "1"  # δ_T = 1
    app.click("#bp-step")
    assert app.get_attribute("#bp-delta", "data-exact") == "2"


def test_the_quiz_accepts_an_exact_answer_in_any_form(app: Any) -> None:
    app.click("#quiz-next")  # the second question: w = 2, h0 = 1, T = 5
    assert "w = 2, h₀ = 1, T = 5" in app.inner_text("#quiz-prompt")
    for answer in ("80", "80/1", "80.0", "৮০", " 160/2 ", "8e1"):
        app.fill("#quiz-answer", answer)
        app.click("#quiz-check")
        assert app.get_attribute("#quiz-feedback", "data-result") == "right", answer
    for answer in ("79", "80.5", "-80"):
        app.fill("#quiz-answer", answer)
        app.press("#quiz-answer", "Enter")  # the keyboard checks too
        assert app.get_attribute("#quiz-feedback", "data-result") == "wrong", answer
    app.fill("#quiz-answer", "eighty")
    app.click("#quiz-check")
    assert app.get_attribute("#quiz-feedback", "data-result") == "unreadable"
    app.click("#quiz-reveal")
    assert app.inner_text("#quiz-feedback") == "∂L/∂w = T · w^(T−1) · h₀ = 5 · 2^4 · 1 = 80."
    app.click("#quiz-next")
    assert "w = 0.5, h₀ = 1, T = 3" in app.inner_text("#quiz-prompt")
    app.fill("#quiz-answer", "3/4")  # 3 · (1/2)^2
    app.click("#quiz-check")
    assert app.get_attribute("#quiz-feedback", "data-result") == "right"


_SUBS_SUPS = """(sel) => [...document.querySelectorAll(sel + ' sub, ' + sel + ' sup')]
    .map((e) => e.tagName.toLowerCase() + ':' + e.textContent)"""


@pytest.mark.parametrize("lang", ["en", "bn"])
def test_the_catalogs_math_is_typeset_and_reads_as_the_catalog(
    browser: Any, page_file: Path, lang: str
) -> None:
    from gradguard._catalog import load_catalog

    cat = load_catalog(lang, "report")
    pg = _open(browser, page_file.as_uri() + f"?lang={lang}")
    # the sentence's text is the catalog's, marks and all (it copies and compares as such) …
    status = cat.get("explorer.bp_status_forward", loss="32", step=cat["explorer.bp_step"])
    assert pg.text_content("#bp-status") == pg.inner_text("#bp-status") == status
    # … and it shows as math: h_T with T a subscript, the marks drawn at no width
    assert pg.evaluate(_SUBS_SUPS, "#bp-status") == ["sub:T"]
    marks = pg.evaluate(
        "[...document.querySelectorAll('.mk')].map((e) => [e.textContent,"
        " e.getBoundingClientRect().width])"
    )
    assert {m for m, _ in marks} >= {"_", "^", "^(", ")", "_{", "}"}
    assert all(width == 0 for _, width in marks), marks
    pg.click("#bp-step")
    pg.click("#bp-step")
    assert pg.text_content("#bp-delta-label") == cat.get("explorer.bp_delta", t=4, p=1)
    assert pg.evaluate(_SUBS_SUPS, "#bp-delta-label") == ["sub:4", "sub:4", "sup:1"]
    # a bracketed exponent shows without its brackets: w^(T−1) is w with T−1 raised
    assert "sup:T−1" in pg.evaluate(_SUBS_SUPS, "#why")
    assert pg.evaluate(_SUBS_SUPS, "#sgd-million") == ["sup:6"]  # the seed's 10^6
    # the legends are lists under their plots, their labels typeset the same way
    assert pg.locator("#bp-legend li").count() == 3
    assert pg.evaluate(_SUBS_SUPS, "#mx-legend") == ["sub:t", "sup:T−t", "sub:max", "sup:T−t"]
    assert pg.text_content("#mx-legend") == "‖∂L/∂h_t‖ρ^(T−t)σ_max^(T−t)"
    assert pg.errors == []
    pg.context.close()


def test_the_sgd_plots_axis_is_labelled_at_round_values(app: Any) -> None:
    def ticks() -> list[str]:
        labels = app.evaluate(
            "[...document.querySelectorAll('#sgd-plot text[text-anchor=end]')]"
            ".map((e) => e.textContent)"
        )
        return [t for t in labels if not t.startswith("#") and "→" not in t]

    round_value = re.compile(r"^(0|−?(1|2|5)(0*)|−?([25]·)?1e\d+)$")
    for eta, lowest in (("0.01", "−1000"), ("0.1", "−1e140"), ("0.0001", "−10")):
        app.fill("#eta-num", eta)
        shown = ticks()
        assert 2 <= len(shown) <= 8 and all(round_value.match(t) for t in shown), (eta, shown)
        # the axis reaches the seed's 10^6 → 2 − η·10^6 (−9998 at η = 0.01, −98 at 0.0001)
        assert shown[0] == lowest and shown[-1] == "1", (eta, shown)


def _value(app: Any, sel: str) -> float:
    # ρ and σ_max come from a Web Worker: wait until the page has them
    app.wait_for_function(f"document.querySelector('{sel}').dataset.value !== undefined")
    return float(app.get_attribute(sel, "data-value"))


def _plotted_factor(app: Any) -> float:
    # the slope of the plotted ‖δ_t‖ curve, once the figures are in
    _value(app, "#mx-factor-is")
    return float(app.get_attribute("#mx-norms", "data-factor"))


@pytest.mark.parametrize("rho", [0.8, 1.0, 1.2])
def test_matrix_mode_factor_is_rho_for_rho_times_orthogonal(app: Any, rho: float) -> None:
    app.check("#mx-init input[value=scaled-orthogonal]")
    app.fill("#mx-rho", str(rho))
    app.fill("#T-num", "50")
    for n in ("2", "16", "64"):
        app.fill("#mx-n", n)
        assert _value(app, "#mx-factor-is") == pytest.approx(rho, rel=1e-9)
        assert _plotted_factor(app) == pytest.approx(rho, rel=1e-9)
        assert _value(app, "#mx-rho-is") == pytest.approx(rho, rel=1e-9)
        assert _value(app, "#mx-sigma-is") == pytest.approx(rho, rel=1e-9)
        app.wait_for_function(f"document.querySelectorAll('#mx-eig circle.eig').length === {n}")
    app.fill("#mx-seed", "3")
    assert _value(app, "#mx-factor-is") == pytest.approx(rho, rel=1e-9)
    # ρ·Q typed in as numbers: the backward pass through W itself, not Q's figures scaled
    Q = np.array(app.evaluate("GG.matrix.makeW('orthogonal', 12, 1, 5)"))
    np.testing.assert_allclose(Q @ Q.T, np.eye(12), atol=1e-12)
    app.check("#mx-init input[value=typed]")
    app.fill("#mx-typed", "\n".join(" ".join(repr(float(rho * x)) for x in row) for row in Q))
    app.wait_for_function("document.querySelectorAll('#mx-eig circle.eig').length === 12")
    assert _value(app, "#mx-factor-is") == pytest.approx(rho, rel=1e-9)
    assert _plotted_factor(app) == pytest.approx(rho, rel=1e-9)


def _page_matrix(app: Any, W: list[list[float]], T: int) -> dict[str, Any]:
    return app.evaluate(
        "([W, T]) => { const s = GG.matrix.spectrum(W), b = GG.matrix.backward(W, T);"
        " return {rho: s.rho, sigma: s.sigma, values: s.values, logs: b.logs, factor: b.factor}; }",
        [W, T],
    )


def _numpy_reference(W: np.ndarray, T: int) -> dict[str, Any]:
    d = np.ones(len(W))
    norms = [np.linalg.norm(d)]
    for _ in range(T - 1):
        d = W.T @ d
        norms.append(np.linalg.norm(d))
    norms = norms[::-1]  # t = 1 … T
    return {
        "rho": max(abs(np.linalg.eigvals(W))),
        "sigma": np.linalg.svd(W, compute_uv=False)[0],
        "eig": np.sort_complex(np.linalg.eigvals(W)),
        "logs": np.log10(norms),
        "factor": (norms[0] / norms[-1]) ** (1 / (T - 1)),
    }


def _matrices() -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(7)
    Q, R = np.linalg.qr(rng.standard_normal((6, 6)))
    Q = Q * np.sign(np.diag(R))
    return [
        ("identity", np.eye(5)),
        ("rho-Q", 1.1 * Q),
        ("typed", np.array([[0.5, 2.0, 0.0], [0.0, 0.5, 1.0], [0.1, 0.0, 0.9]])),
        ("rotation", np.array([[0.0, -1.2], [1.2, 0.0]])),
    ]


@pytest.mark.parametrize(("name", "W"), _matrices(), ids=[m[0] for m in _matrices()])
def test_matrix_mode_equals_numpy_for_deterministic_w(app: Any, name: str, W: np.ndarray) -> None:
    T = 40
    got = _page_matrix(app, W.tolist(), T)
    ref = _numpy_reference(W, T)
    assert got["rho"] == pytest.approx(ref["rho"], rel=1e-10)
    assert got["sigma"] == pytest.approx(ref["sigma"], rel=1e-10)
    assert got["factor"] == pytest.approx(ref["factor"], rel=1e-10)
    np.testing.assert_allclose(got["logs"], ref["logs"], rtol=0, atol=1e-10)
    eig = np.sort_complex(np.array([complex(a, b) for a, b in got["values"]]))
    np.testing.assert_allclose(eig, ref["eig"], atol=1e-10)
    # typed into the page: the same matrix gives the same displayed figures
    app.fill("#T-num", str(T))
    app.check("#mx-init input[value=typed]")
    app.fill("#mx-typed", "\n".join(" ".join(repr(float(x)) for x in row) for row in W))
    assert _value(app, "#mx-rho-is") == pytest.approx(ref["rho"], rel=1e-10)
    assert _value(app, "#mx-factor-is") == pytest.approx(ref["factor"], rel=1e-10)


def test_matrix_controls_and_a_bad_matrix(app: Any) -> None:
    for init in ("orthogonal", "identity", "xavier-normal", "xavier-uniform", "he", "default"):
        app.check(f"#mx-init input[value={init}]")
        _value(app, "#mx-rho-is")
        assert not app.is_visible("#mx-error")
        assert app.locator("#mx-norms polyline").count() == 3
    app.check("#mx-init input[value=identity]")
    assert _value(app, "#mx-factor-is") == 1.0 and _value(app, "#mx-rho-is") == 1.0
    app.click("#mx-nonnormal")  # σ_max > ρ: the norm grows for a while, then decays
    assert app.is_checked("#mx-init input[value=typed]")
    assert _value(app, "#mx-sigma-is") > 1 > _value(app, "#mx-rho-is") == pytest.approx(0.9)
    app.fill("#mx-typed", "1 2\n3")
    assert app.is_visible("#mx-error") and "square" in app.inner_text("#mx-error")
    app.fill("#mx-typed", "1/2 0\n0 ৩/৪")  # fractions, Bengali digits
    assert not app.is_visible("#mx-error") and _value(app, "#mx-rho-is") == 0.75
    before = app.inner_html("#mx-product")
    app.fill("#mx-scale", "1.5")
    assert app.inner_text("#mx-scale-out") == "1.5"
    app.wait_for_function("document.getElementById('mx-product').dataset.k === '40'")
    assert app.inner_html("#mx-product") != before
    logs = app.evaluate("[0.5, 1, 2].map((s) => GG.matrix.product(16, s, 40, 0).at(-1))")
    assert logs[0] < -5 and logs[2] > 5  # a product of 40 matrices vanishes or explodes


_FIGURE_IDS = ("mx-rho-is", "mx-sigma-is", "mx-factor-is")


def _figures(pg: Any) -> list[float]:
    for i in _FIGURE_IDS:
        pg.wait_for_function(f"document.getElementById('{i}').dataset.value !== undefined")
    return [float(pg.get_attribute("#" + i, "data-value")) for i in _FIGURE_IDS]


@pytest.mark.parametrize("init", ["scaled-orthogonal", "he"])
def test_a_new_matrix_answers_at_once_and_its_figures_follow_from_the_worker(
    browser: Any, page_file: Path, init: str
) -> None:
    # the control's own task computes no matrix: W, its spectrum and the norms are the
    # worker's; without workers the page computes the same figures itself
    pages = [
        _open(browser, page_file.as_uri()),
        _open(browser, page_file.as_uri(), init_script="delete window.Worker"),
    ]
    shown = []
    for pg in pages:
        pg.fill("#T-num", "60")
        pg.check(f"#mx-init input[value={init}]")
        _figures(pg)
        pending = pg.evaluate(
            """() => { const n = document.getElementById('mx-n');
                 document.getElementById('mx-seed').value = 4242;
                 n.value = 48; n.dispatchEvent(new Event('input', {bubbles: true}));
                 return ['mx-rho-is', 'mx-sigma-is', 'mx-factor-is'].map(
                   (i) => document.getElementById(i).dataset.pending === '1'); }"""
        )
        assert pending == ([True] * 3 if pg is pages[0] else [False] * 3)
        shown.append(_figures(pg))
        assert pg.locator("#mx-norms.stale, #mx-eig.stale").count() == 0
        assert pg.locator("#mx-eig circle.eig").count() == 48
    assert shown[0] == shown[1]
    if init == "scaled-orthogonal":
        assert shown[0] == pytest.approx([1.1, 1.1, 1.1], rel=1e-9)
    for pg in pages:
        assert pg.errors == []
        pg.context.close()


def test_the_gate_panel_shows_the_measured_factors(app: Any) -> None:
    from gradguard.serve import page_data

    flow = page_data()["flow"]
    default = flow["cells"]["lstm"][0]
    assert default["bias"] is None
    assert f"{default['factor']}" in app.inner_text("#gate-factor")
    assert f"{default['gate']}" in app.inner_text("#gate-mean")
    app.fill("#gate-bias", "8")  # b = 5
    assert app.inner_text("#gate-bias-out") == "b = 5"
    assert f"{flow['cells']['lstm'][8]['factor']}" in app.inner_text("#gate-factor")
    app.click(".gate-cell[data-cell=gru]")
    assert app.get_attribute(".gate-cell[data-cell=gru]", "aria-pressed") == "true"
    assert f"{flow['cells']['gru'][8]['factor']}" in app.inner_text("#gate-factor")


def test_sgd_trajectories_and_the_seeds_marked_points(app: Any) -> None:
    assert app.inner_text("#sgd-first") == "first update: g = 80, w: 2 → 1.2"
    assert app.inner_text("#sgd-million") == "a gradient of 10^6: w: 2 → -9,998"
    assert app.locator("#sgd-plot polyline").count() == 3
    app.fill("#sgd-n", "60")
    assert app.inner_text("#sgd-n-out") == "60"
    legend = app.inner_text("#sgd-legend").splitlines()
    assert all("after 60 updates" in line for line in legend)  # η = 0.01: all three stay finite
    app.fill("#eta-num", "0.1")  # 2 − 0.1·80 = −6: L = w^5 has no minimum, and w runs off
    legend = app.inner_text("#sgd-legend").splitlines()
    # −6, −654, −9.1·10^10, −3.5·10^43, −7.5·10^173, then w^4 overflows float64
    assert "w is no longer finite from update 6 on" in legend[0]
    assert "after 60 updates" in legend[1]  # clipped: no step is longer than η·c = 0.5
    assert "after 60 updates" in legend[2]


def test_keyboard_alone_drives_the_page(app: Any) -> None:
    app.focus("#T")
    app.keyboard.press("ArrowRight")  # a slider moves with the arrow keys
    assert app.input_value("#T-num") == "6" and app.inner_text("#grad") == "192"
    app.focus("#bp-step")
    app.keyboard.press("Enter")
    app.keyboard.press("Space")
    assert "Step 2 of 6" in app.inner_text("#bp-status")
    app.focus(".lang[data-lang=bn]")
    app.keyboard.press("Enter")
    assert app.evaluate("document.documentElement.lang") == "bn"


def _shown(pg: Any) -> dict[str, str]:
    ids = ("grad", "grad-text", "forward", "backward", "table", "overflow", "sgd", "clip", "why")
    return {i: pg.inner_text("#" + i) for i in ids}


def test_served_file_and_docs_site_pages_show_the_same(
    browser: Any, page_file: Path, explorer_url: str
) -> None:
    site = ROOT / "site" / "explorer.html"
    if not site.is_file():
        pytest.skip("the docs site is not built (`make docs` builds site/, as `make test` does)")
    pages = [
        _open(browser, explorer_url),
        _open(browser, page_file.as_uri()),
        _open(browser, site.as_uri()),
    ]
    for pg in pages:
        pg.fill("#w-num", "-3/2")
        pg.fill("#T-num", "12")
        pg.click(".lang[data-lang=bn]")
        pg.click("#bp-step")
    shown = [_shown(pg) for pg in pages]
    assert shown[0] == shown[1] == shown[2]
    assert BENGALI.search(shown[0]["why"])
    for pg in pages:
        assert pg.errors == []
        pg.context.close()


def test_the_page_fetches_nothing(browser: Any, page_file: Path) -> None:
    ctx = browser.new_context()
    pg = ctx.new_page()
    requests: list[str] = []
    pg.on("request", lambda r: requests.append(r.url))
    pg.goto(page_file.as_uri() + "?lang=bn")
    pg.wait_for_function("document.getElementById('grad').textContent === '80'")
    pg.click("#bp-play")
    pg.check("#mx-init input[value=he]")
    pg.evaluate("document.fonts.ready")
    # file: the page; data: its fonts; blob: the worker it makes from its own scripts
    assert all(u.startswith(("file:", "data:", "blob:")) for u in requests), requests
    assert pg.evaluate("document.fonts.check('16px KaTeX_Main')")
    assert pg.locator(".katex").count() >= 2  # the formulas are typeset
    ctx.close()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
@pytest.mark.parametrize("lang", ["en", "bn"])
def test_layout_in_both_languages_with_screenshots(
    browser: Any, page_file: Path, screenshot: Any, viewport: dict[str, int], lang: str
) -> None:
    pg = _open(browser, page_file.as_uri() + f"?lang={lang}", viewport)
    assert pg.evaluate("document.documentElement.lang") == lang
    for _ in range(3):
        pg.click("#bp-step")
    # nothing wider than the screen but what scrolls inside its own box
    assert pg.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    text = pg.inner_text("body")
    if lang == "bn":
        assert BENGALI.search(pg.inner_text("#why")) and BENGALI.search(pg.inner_text("#bp-status"))
        assert pg.title() == "gradguard explorer: টিউটোরিয়ালের সিস্টেম, সরাসরি হিসাব"
    else:
        assert not BENGALI.search(text.replace("বাংলা", ""))
    # every control is at least 24 px in each direction (a finger, WCAG 2.2 target size)
    small = pg.evaluate(
        """[...document.querySelectorAll('button, input, select, textarea')]
           .filter((e) => e.offsetParent !== null)
           .map((e) => [e.id || e.className, e.getBoundingClientRect()])
           .filter(([, r]) => r.width < 24 || r.height < 24).map(([n]) => n)"""
    )
    assert small == []
    name = f"explorer-{'phone' if viewport is PHONE else 'desktop'}-{lang}"
    shot = screenshot(pg, name)
    assert shot.stat().st_size > 20_000
    # the Bengali screenshots of the docs are tools/screenshots.py's (checked for glyphs first)
    if name == "explorer-desktop-en" and _update_docs():
        shutil.copy(shot, ROOT / "docs" / "img" / f"{name}.png")
    assert pg.errors == []
    pg.context.close()


def _update_docs() -> bool:
    import os

    return os.environ.get("GRADGUARD_UPDATE_SCREENSHOTS") == "1"
