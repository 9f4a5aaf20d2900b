"""The report's math: the catalogs' plain-text formulas typeset, their text unchanged."""

from __future__ import annotations

import html.parser

from hypothesis import given, settings
from hypothesis import strategies as st

from gradguard.report import build_report
from gradguard.report._mathtext import math_html

from .conftest import write_guard_log


class _Text(html.parser.HTMLParser):
    """The text of an HTML fragment, and the tags it opens (an independent reader)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.tags: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.open.append(tag)

    def handle_endtag(self, tag):
        assert self.open.pop() == tag  # well nested

    def handle_data(self, data):
        self.text.append(data)


def _read(fragment: str) -> _Text:
    p = _Text()
    p.feed(fragment)
    p.close()
    assert p.open == []
    return p


#: The characters math_html treats specially, and the ones around them in the catalogs.
_ALPHABET = st.sampled_from([*"_^(){}`hTtw2−-1 .·|‖ᵀ<>&\"'প্রত", "max", "৩"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_ALPHABET, max_size=30).map("".join))
def test_the_text_is_the_sentence_whatever_it_holds(s: str) -> None:
    # marks and all: only tags are added, every character of the sentence is kept, escaped
    assert "".join(_read(math_html(s)).text) == s


def test_subscripts_superscripts_and_code() -> None:
    def shown(s: str) -> list[str]:  # the elements made, marks aside
        return [t for t in _read(math_html(s)).tags if t != "span"]

    assert math_html("h_T") == 'h<span class="mk">_</span><sub>T</sub>'
    assert math_html("w^(T−1)") == (
        'w<span class="mk">^(</span><sup>T−1</sup><span class="mk">)</span>'
    )
    assert math_html("h_{t−1}") == (
        'h<span class="mk">_{</span><sub>t−1</sub><span class="mk">}</span>'
    )
    assert math_html("h_(t−1)") == (
        'h<span class="mk">_(</span><sub>t−1</sub><span class="mk">)</span>'
    )
    assert math_html("10^6") == '10<span class="mk">^</span><sup>6</sup>'
    assert math_html("2^-3") == '2<span class="mk">^</span><sup>-3</sup>'
    assert shown("σ_max^(T−t)") == ["sub", "sup"]
    assert shown("(‖δ_1‖/‖δ_T‖)^(1/(T−1))") == ["sub", "sub", "sup"]
    assert shown("`gradguard flow`'s factor") == ["code"]
    # no base or nothing to raise: the mark is text
    for plain in ("_x", "a _b", "x^", "x^(", "x_{", "x^ 2", "a^−", "`open"):
        assert math_html(plain) == plain, plain
    assert math_html("a<b & c") == "a&lt;b &amp; c"


def test_the_report_typesets_the_lesson_and_leaves_the_users_names_alone(tmp_path) -> None:
    lesson = build_report(None, lang="en")
    # the forward pass's intro, the table's header and the seed's ≈ 10^6
    assert 'L = h<span class="mk">_</span><sub>T</sub>' in lesson
    assert '≈ 10<span class="mk">^</span><sup>6</sup>' in lesson
    assert ".mk{font-size:0}" in lesson
    # a log's own name is a name: my_run.jsonl, not "my" with "run" below it
    log = write_guard_log(tmp_path / "my_run.jsonl")
    run = build_report(log)
    assert "my_run.jsonl" in run and "<sub>run</sub>" not in run
