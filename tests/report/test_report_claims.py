"""The HTML report states the lesson's claims truly at the seed and at every edge.

At each of ``FIXED_POINTS`` (``tests/claims_oracle.py``: h0 = 0, w = 0, T = 1, |w| = 1,
w < 0, a tied peak, a sign change, an overshoot …) the report's text, in English and
Bengali, holds the sentence the oracle expects for every claim it shows, with the right
numbers, and no sentence of another case. The figures are left out (drawn and checked
elsewhere); the SGD plot's note, which names its loss, is checked against the lab's step.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from gradguard.explain import languages, load_catalog
from gradguard.report import _html as report_html
from gradguard.report import build_report

from ..claims_oracle import FIXED_POINTS, NUMBER, check_text, close, oracle

#: The claims the report states (its why, SGD and answer sections, and the table's line).
REPORT_TOPICS = (
    "regime",
    "peak",
    "next_T",
    "alternating",
    "trend",
    "update",
    "after_update",
    "compare",
    "big_grad",
    "big_fate",
    "clipping",
    "example",
)


def page_text(page: str) -> str:
    """What a reader sees: tags out, entities decoded, one paragraph a line."""
    page = re.sub(r"<(style|script)\b.*?</\1>", "", page, flags=re.S)
    page = re.sub(r"</(p|pre|div|li|h\d|td|th)>", "\n", page)
    return html.unescape(re.sub(r"<[^>]+>", "", page))


@pytest.fixture()
def no_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("explosion", "sgd"):
        monkeypatch.setattr(report_html._Figures, name, lambda self, *a, **k: "")


@pytest.mark.usefixtures("no_figures")
@pytest.mark.parametrize("point", FIXED_POINTS, ids=lambda p: ",".join(map(str, p)))
def test_report_claims_at_the_edges(point):
    w, h0, T, eta, c = point
    expected = {k: v for k, v in oracle(w, h0, T, eta, c, (5, 10, 20, 50)).items()}
    shown = {k: v for k, v in expected.items() if k in REPORT_TOPICS}
    for lang in languages():
        page = build_report(lang=lang, w=str(w), h0=str(h0), T=T, eta=str(eta), c=str(c))
        text = page_text(page)
        assert len(list(check_text(text, shown, lang))) == len(shown)
        # The SGD plot descends L = ½(h_T − 1)²: its note gives that loss's first step.
        g1 = (w**T * h0 - 1) * T * w ** (T - 1) * h0
        w1 = w - eta * g1
        assert "L = ½(h_T − y)²" in text
        note = [ln for ln in text.splitlines() if "½(h_T − y)²" in ln and "y = 1" in ln]
        assert len(note) == 1, note
        numbers = re.findall(NUMBER, note[0].split("h₀")[-1])
        assert any(close(n, g1) for n in numbers), (g1, note)
        assert any(close(n, w1) for n in numbers), (w1, note)


def test_rounded_numbers_carry_their_exact_value():
    # w = −1.5, T = 5: the gradient at the updated w is 99049307841/2097152000 ≈ 47.2304
    page = build_report(w="-1.5", T=5, sgd={})
    assert '<span class="exact" title="= 99049307841/2097152000">≈ 47.2304</span>' in page
    # h_20 = 1.5^20 = 3486784401/1048576 in the table: ≈ 3,325.26 (grouped), exact on hover
    assert 'title="= 3325.25673007965087890625">≈ 3,325.26</span>' in page
    # negative bases in parentheses: 1·(-1.5)^4, never 1·-1.5^4 (which reads −5.0625)
    assert "1 \\cdot \\left(-1.5\\right)^{4} + \\left(-1.5\\right) \\cdot" in page
    assert "-1.5^" not in page
    # and a negative gradient as a factor of the SGD step: 0.7 × (-3), never 0.7 × -3
    page = build_report(w="-1.5", T=2, eta="0.7", sgd={})
    assert "= -1.5 − 0.7 × (-3) = 0.6." in page_text(page)


@pytest.mark.usefixtures("no_figures")
def test_the_seed_breakdown_only_where_the_update_breaks_training():
    # 2 − 0.01·10^6 = −9998 breaks training; at w = 10^6 the same gradient moves w by 1 %
    for lang in languages():
        breaks = load_catalog(lang)["big_fate.breaks"].partition(":")[0]
        assert breaks in page_text(build_report(lang=lang))
        page = page_text(build_report(lang=lang, w="1000000"))
        assert breaks not in page and "💥" not in page
        assert ("breaks" if lang == "en" else "ভেঙে") not in page


#: A power of ten in the other notations: a Unicode superscript (10⁶, 10⁻³) or a dot
#: product (3·10^-3) where the lesson writes ``10^6`` and ``3 × 10^-3``.
OTHER_POWERS = re.compile("10[⁰¹²³⁴⁵⁶⁷⁸⁹⁻]+|\\d ?[·⋅] ?10\\^")
ROOT = Path(__file__).resolve().parents[2]


def reader_texts() -> dict[str, str]:
    """Every text a reader sees outside the product's output: the docs pages (README,
    CHANGELOG, docs/**/*.md, the notebook), the catalogs, and the package's sources (their
    docstrings are the API pages). Inline code and fenced blocks are quoted as typed."""
    paths = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "docs/tutorial/seed-lesson.ipynb"]
    paths += sorted((ROOT / "docs").rglob("*.md"))
    src = ROOT / "src/gradguard"
    paths += sorted(src.rglob("*.toml")) + sorted(src.rglob("*.py"))
    paths += [p for p in sorted((src / "serve/static").glob("*.*")) if p.suffix in (".js", ".html")]
    out = {}
    for path in paths:
        text = path.read_text("utf-8")
        if path.suffix == ".md":
            code = re.compile(r"```.*?```|`[^`\n]*`", re.S)
            text = code.sub(lambda m: "\n" * m[0].count("\n"), text)
        out[str(path.relative_to(ROOT))] = text
    return out


def test_powers_of_ten_in_one_notation_on_every_page():
    # the lesson writes 10^6 and ≈ 1.049 × 10^7 (10^{6} in LaTeX): so do the docs pages,
    # their tables included, the catalogs and the docstrings the API pages show
    texts = reader_texts()
    assert len(texts) > 100 and "docs/remedies.md" in texts and "docs/benchmarks.md" in texts
    found = [
        f"{name}:{text.count(chr(10), 0, m.start()) + 1}: {m.group()}"
        for name, text in texts.items()
        for m in OTHER_POWERS.finditer(text)
    ]
    assert found == []


@pytest.mark.usefixtures("no_figures")
def test_powers_of_ten_in_one_notation():
    # the lesson's text writes 10^6; the page typesets every such power as 10<sup>…</sup>,
    # never a Unicode superscript (10⁶) beside it
    sup = re.compile("10[⁰¹²³⁴⁵⁶⁷⁸⁹⁻]+")
    for lang in languages():
        page = build_report(lang=lang, sgd={})
        assert sup.search(page) is None, sup.search(page)
        assert "10<sup>6</sup>" in page.replace('<span class="mk">^</span>', "")
