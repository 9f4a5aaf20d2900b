"""Every Bengali string follows the glossary (``docs/glossary.md``).

Checked: every Bengali message catalog, the notebook's Bengali paragraphs, the Bengali
paragraphs of the docs pages and of the docs' build hooks. A Latin-script word in them
must be the Bengali form of a glossary entry (math, code and flags aside), no rejected
variant may appear, digits are Western and a Bengali sentence ends with the danda. What
the commands, the report and the explorer print is checked with the same rules in
``tests/report/test_bengali_text.py``.
"""

from __future__ import annotations

import re

import pytest

from .glossary import (
    GLOSSARY,
    ROOT,
    bengali_paragraphs,
    catalog_files,
    catalog_strings,
    docs_pages,
    glossary,
    latin_words,
    notebook_paragraphs,
    problems,
    rejected_variants,
)


def test_the_glossary_reads_as_a_table_of_terms():
    g = glossary()
    assert len(g.rows) > 80
    # the seed's own choices: its technical terms stay in Latin script
    for term in ("gradient", "weight", "training", "backpropagation", "update", "loss"):
        assert term in g.words, term
    for phrase in ("learning rate", "exploding gradient problem", "backpropagation through time"):
        assert phrase in g.phrases, phrase
    # a phrase's words are no terms on their own
    assert {"learning", "rate", "through", "problem"}.isdisjoint(g.words)
    # the variants the issue names are rejected
    for variant in ("এক্সপোনেনশিয়ালি", "unstable", "বদ্ধ সূত্র", "gate-ওয়ালা", "ও সহকর্মীরা"):
        assert variant in g.rejected, variant
    # one row per term: an English term (its note in parentheses aside) is not listed twice
    english = [re.sub(r"\s*\(.*?\)", "", row[0]).strip().lower() for row in g.rows]
    assert sorted({e for e in english if english.count(e) > 1}) == []
    # a form used is never also rejected
    assert not {v.lower() for v in g.rejected} & (g.words | set(g.phrases))


def test_the_rules_can_fail():
    assert latin_words("training unstable হয়ে যায়") == {"unstable"}
    assert latin_words("seed-এ লেখা, learning হার") == {"seed", "learning"}
    assert latin_words("random seed, closed form, learning\nrate, h_T, `gradguard table`") == set()
    assert "এক্সপোনেনশিয়ালি" in rejected_variants("Gradient এক্সপোনেনশিয়ালি বেড়ে যাচ্ছে")
    assert rejected_variants("সমাধান না, কিন্তু ক্ষতি কমায়") == {"না, কিন্তু"}
    assert rejected_variants("T-এর সাথে সরলরৈখিকভাবে বাড়ে") == {"সরলরৈখিক"}
    assert rejected_variants("exponential হারে বাড়ে; `--configs none`") == set()
    assert problems("মান ৫টি।") == {"Bengali digits": ["৫"]}
    assert list(problems("gradient বড় হয়.")) == ["full stop instead of danda"]
    assert problems("gradient বড় হয়, 1.2।") == {}


@pytest.mark.parametrize("path", catalog_files(), ids=lambda p: p.parent.name)
def test_every_bengali_catalog_string(path):
    found = {s: p for s in catalog_strings(path) if (p := problems(s))}
    assert found == {}


def test_the_notebooks_bengali():
    paragraphs = notebook_paragraphs()
    assert len(paragraphs) > 10
    found = {p: x for p in paragraphs if (x := problems(p))}
    assert found == {}


def test_the_docs_bengali():
    pages = docs_pages()
    assert ROOT / "docs" / "lesson.md" in pages
    found = {
        f"{page.relative_to(ROOT)}: {p}": x
        for page in pages
        for p in bengali_paragraphs(page.read_text("utf-8"))
        if (x := problems(p))
    }
    # the docs' build hooks write Bengali too (the notebook page's download line)
    for hook in sorted((ROOT / "tools").rglob("*.py")):
        for line in hook.read_text("utf-8").splitlines():
            # the Bengali run of a code line: from its first Bengali letter to its last
            run = re.search(r"[\u0980-\u09FF].*[\u0980-\u09FF][।?]?", line)
            if run and (x := problems(run[0])):
                found[f"{hook.relative_to(ROOT)}: {run[0]}"] = x
    assert found == {}


def test_the_glossary_is_in_the_docs_nav():
    nav = (ROOT / "mkdocs.yml").read_text("utf-8")
    assert re.search(r"^\s+- .*: glossary\.md$", nav, flags=re.M), (
        "glossary.md not in mkdocs.yml nav"
    )
    assert GLOSSARY.is_file()
