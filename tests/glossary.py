"""The glossary's rules for Bengali text, read from ``docs/glossary.md`` (shared by the tests).

``docs/glossary.md`` lists each term once: its English, the one form gradguard's Bengali
uses, and the variants it does not use. From its tables this module builds

- the Latin-script terms a Bengali string may contain (the "বাংলায়" column's Latin
  words; several-word terms such as "learning rate" only as a whole), and
- the rejected variants (the "Not" column),

and offers :func:`latin_words` (the Latin words of a Bengali text that are no glossary
term) and :func:`rejected_variants` (the rejected forms it contains). Import it from a test
module with a relative import (``from ..glossary import latin_words``; pytest runs with
``--import-mode=importlib``).
"""

from __future__ import annotations

import html
import json
import re
import sys
from functools import cache
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = ROOT / "docs" / "glossary.md"
CATALOGS = ROOT / "src" / "gradguard" / "explain" / "catalogs"
NOTEBOOK = ROOT / "docs" / "tutorial" / "seed-lesson.ipynb"

#: Math, not words: function names of the formulas (ln|w|, max(1, |g|/c), sign(h_0)), the
#: values inf and nan, dL/dw, and the explorer's parameter names (eta, lang).
MATH = frozenset({"ln", "max", "sign", "inf", "nan", "dl", "dw", "eta", "lang"})

#: Code and math are not words: a Markdown link's target ](path.md#anchor), `code`, --flags,
#: [extra] names, name='x', abbreviate=N, {fields}, LaTeX commands, identifiers (h_T, w_new,
#: float64, log10, h0), quoted values, w^(T-t).
NOT_WORDS = re.compile(
    r"(?<=\])\([^)\s]*\)"
    r"|`[^`]*`|--[a-z][\w-]*|\[[a-z]+\]|\b\w+='[^']*'|\b\w+=[A-Z]\b|\{[^{}]*\}|\\[A-Za-z]+"
    r"|\b[A-Za-z]+\d\w*|\b\w+_\w+|'[^'\n]*'|\b[A-Za-z](?:-[A-Za-z])+\b"
)
WORD = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)*")
BENGALI = re.compile(r"[\u0980-\u09FF]")
#: Bengali digits ০–৯: gradguard writes Western digits (the glossary's digits policy).
BENGALI_DIGIT = re.compile(r"[\u09E6-\u09EF]")
#: A Bengali sentence ended with a full stop instead of the danda.
FULL_STOP = re.compile(r"[\u0980-\u09FF]\.(?=\s|$)")


class Glossary:
    """The allowed Latin terms and the rejected variants of ``docs/glossary.md``."""

    def __init__(self, rows: list[tuple[str, str, str]]) -> None:
        self.rows = rows
        words: set[str] = set()
        phrases: set[str] = set()
        rejected: set[str] = set()
        for _english, form, rejects in rows:
            for part in re.split(r"[,;()]", form):
                # the Latin run(s) of a form: "explode করে" → "explode", "gate-যুক্ত" → "gate",
                # "learning rate" → the phrase (its words alone are no term)
                for run in re.findall(r"[A-Za-z][\w'-]*(?:[ ]+[A-Za-z][\w'-]*)*", part, re.A):
                    found = [w.lower() for w in WORD.findall(run)]
                    if len(found) > 1:
                        phrases.add(" ".join(found))
                    else:
                        words.update(found)
            rejected.update(v.strip() for v in rejects.split("·") if v.strip())
        self.words = frozenset(words)
        # longest first, so "exploding gradient problem" goes before "exploding gradient"
        self.phrases = tuple(sorted(phrases, key=len, reverse=True))
        self.rejected = frozenset(rejected)


def _cells(line: str) -> list[str]:
    # a table row: | a | b | c | (a \| inside a cell is a literal bar)
    parts = re.split(r"(?<!\\)\|", line.strip().strip("|"))
    return [html.unescape(p.strip().replace("\\|", "|")) for p in parts]


@cache
def glossary(path: Path = GLOSSARY) -> Glossary:
    """Parse every table of the glossary whose header is ``English | বাংলায় | Not``."""
    rows: list[tuple[str, str, str]] = []
    in_table = False
    for line in path.read_text("utf-8").splitlines():
        if not line.startswith("|"):
            in_table = False
            continue
        cells = _cells(line)
        if cells[:3] == ["English", "বাংলায়", "Not"]:
            in_table = True
        elif in_table and not set("".join(cells)) <= set("-: "):
            rows.append((cells[0], cells[1], cells[2] if len(cells) > 2 else ""))
    return Glossary(rows)


def latin_words(text: str, identifiers: frozenset[str] = frozenset()) -> set[str]:
    """Return the Latin words of ``text`` that are no glossary term (single letters are math).

    ``identifiers`` are names the text shows as the user or a program spells them (a run's
    name, a configuration, an enum value): allowed as written.
    """
    g = glossary()
    text = NOT_WORDS.sub(" ", text)
    for phrase in g.phrases:
        pattern = r"\s+".join(re.escape(w) for w in phrase.split())  # a line may break it
        text = re.sub(rf"\b{pattern}\b", " ", text, flags=re.IGNORECASE)
    return {
        w
        for w in WORD.findall(text)
        if len(w) > 1
        and w.lower() not in g.words
        and w.lower() not in MATH
        and w not in identifiers
    }


def rejected_variants(text: str) -> set[str]:
    """Return the glossary's rejected variants that ``text`` contains.

    A variant matches where no letter of its own script comes right before it (Bengali
    suffixes may follow: "সরলরৈখিক" is found in "সরলরৈখিকভাবে"); a Latin variant is a whole
    word; code, flags and math are skipped.
    """
    text = NOT_WORDS.sub(" ", text)
    found = set()
    for variant in glossary().rejected:
        latin_end = variant[-1].isascii() and variant[-1].isalpha()
        pattern = (
            r"(?<![A-Za-z\u0980-\u09FF-])"
            + re.escape(variant)
            + (r"(?![A-Za-z-])" if latin_end else "")
        )
        if re.search(pattern, text, flags=re.IGNORECASE if variant.isascii() else 0):
            found.add(variant)
    return found


def problems(text: str, identifiers: frozenset[str] = frozenset()) -> dict[str, object]:
    """Everything the glossary's rules find wrong in a Bengali ``text`` (``{}`` when none)."""
    out: dict[str, object] = {}
    if words := latin_words(text, identifiers):
        out["not in the glossary"] = sorted(words)
    if variants := rejected_variants(text):
        out["rejected variants"] = sorted(variants)
    if BENGALI_DIGIT.search(text):
        out["Bengali digits"] = BENGALI_DIGIT.findall(text)
    if FULL_STOP.search(text):
        out["full stop instead of danda"] = [m.group() for m in FULL_STOP.finditer(text)]
    return out


# ---- where the Bengali strings are ----


def strings(node: object) -> list[str]:
    """Every string in a parsed TOML/JSON tree."""
    if isinstance(node, dict):
        return [s for v in node.values() for s in strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in strings(v)]
    return [node] if isinstance(node, str) else []


def catalog_files() -> list[Path]:
    """Every Bengali message catalog."""
    return sorted(CATALOGS.rglob("bn.toml"))


def catalog_strings(path: Path) -> list[str]:
    data = tomllib.loads(path.read_text("utf-8"))
    data.get("meta", {}).pop("script", None)  # an ISO 15924 code ("Beng"), not prose
    return strings(data)


def bengali_paragraphs(text: str) -> list[str]:
    """The paragraphs of Markdown ``text`` that contain Bengali (fenced code left out).

    A bilingual page writes each paragraph in one language; a Bengali paragraph is
    checked whole, an English one not at all.
    """
    text = re.sub(r"^```.*?^```", "\n", text, flags=re.S | re.M)
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.S)
    # a bilingual heading, "## 3. The closed form · Gradient-এর closed form": its Bengali half
    text = re.sub(
        r"^(#+ .*?)$",
        lambda m: " · ".join(h for h in m[1].split(" · ") if BENGALI.search(h)) or m[1],
        text,
        flags=re.M,
    )
    return [p for p in re.split(r"\n\s*\n", text) if BENGALI.search(p)]


def notebook_paragraphs(path: Path = NOTEBOOK) -> list[str]:
    """The Bengali paragraphs of the notebook's Markdown cells."""
    cells = json.loads(path.read_text("utf-8"))["cells"]
    return [
        p
        for c in cells
        if c["cell_type"] == "markdown"
        for p in bengali_paragraphs("".join(c["source"]))
    ]


def docs_pages() -> list[Path]:
    """The docs' Markdown pages with Bengali in them (the glossary itself left out)."""
    pages = sorted((ROOT / "docs").rglob("*.md"))
    return [p for p in pages if p != GLOSSARY and BENGALI.search(p.read_text("utf-8"))]


def page_text(page: str) -> str:
    """The text an HTML page shows: its body text and its images' alt texts (read aloud)."""
    page = re.sub(r"<style[^>]*>.*?</style>|<script[^>]*>.*?</script>", " ", page, flags=re.S)
    page = re.sub(r'src="[^"]*"', " ", page)
    alts = " ".join(re.findall(r'alt="([^"]*)"', page))
    # inline elements run on in the text (w<sub>new</sub> reads w_new with its marks); others part
    page = re.sub(r"</?(span|sub|sup|code|a|b|i|em|strong)\b[^>]*>", "", page)
    return html.unescape(re.sub(r"<[^>]+>", " ", page) + " " + alts)
