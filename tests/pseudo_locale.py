"""A pseudo-locale built from the English catalogs, and a scan for English that leaks past it.

Adding a language is adding catalog files. ``write_pseudo_locale`` proves it without a
translator: it writes every part of every English catalog with each word's letters
accented (``"The gradient"`` → ``"Ţĥé ĝŕàðîéñţ"``) as the language ``en-XA`` (the
accented-English pseudo-locale's usual code), keeping what a translator keeps —
``{placeholders}``, `code`, ``--flags``, formulas, acronyms (``SGD``, ``JSON``) and
single-letter symbols. Run with it, gradguard must show no English word: one that does
comes from code, not from a catalog. :func:`english_words` finds those.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

from gradguard._catalog import PART_FILES, PARTS, SOURCE, load_catalog

PSEUDO = "en-XA"
#: Each ASCII letter's accented twin: Latin-1 and Latin Extended-A (DejaVu Sans has them all).
_ACCENT = str.maketrans(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "àƀçðéƒĝĥîĵķĺɱñöþǫŕšţûṽŵẋýžÀƁÇÐÉƑĜĤÎĴĶĹṀÑÖÞǪŔŠŢÛṼŴẊÝŽ",
)
#: What a translator leaves as it is: {fields} (with their format; the words of a count's
#: forms, {n:one|other}, are translated), `code`, --flags,
#: identifiers with digits or underscores, acronyms, and single letters (math).
_KEEP = re.compile(
    r"\{[^{}]*\}|`[^`]*`|(?<![\w-])--?[A-Za-z][\w-]*|\b\w*[\d_]\w*\b|\b[A-Z]{2,}s?\b"
    r"|(?<![A-Za-z])[A-Za-z](?![A-Za-z])"
)


def accent(text: str) -> str:
    """``text`` with every word's letters accented, the parts a translator keeps kept."""
    out, last = [], 0
    for m in _KEEP.finditer(text):
        out.append(text[last : m.start()].translate(_ACCENT))
        field, colon, spec = m.group().partition(":")
        if field.startswith("{") and "|" in spec:  # {n:one|other}: the words are the message's
            out.append(field + colon + spec.translate(_ACCENT))
        else:
            out.append(m.group())
        last = m.end()
    out.append(text[last:].translate(_ACCENT))
    return "".join(out)


def _toml_string(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)  # a JSON string is a TOML basic string


def write_pseudo_locale(folder: Path) -> str:
    """Write the pseudo-locale's catalogs (every part) under ``folder``; return its code.

    ``folder`` is laid out like ``gradguard/explain/catalogs`` (``GRADGUARD_CATALOGS``).
    """
    for part in PARTS:
        english = load_catalog(SOURCE, part)
        sections: dict[str, dict[str, str]] = {}
        for key in english:
            section, _, name = key.partition(".")
            value = english[key]
            keep = (section, name) in {("meta", "script")}  # a code, not prose
            sections.setdefault(section, {})[name] = value if keep else accent(value)
        sections.setdefault("meta", {})
        if part == "lesson":
            sections["meta"]["name"] = "Ƥšéûðö"
        lines = []
        for section, names in sections.items():
            lines.append(f"[{section}]")
            lines += [f"{_toml_string(k)} = {_toml_string(v)}" for k, v in names.items()]
            lines.append("")
        text = "\n".join(lines)
        tomllib.loads(text)  # valid TOML, or fail here rather than in gradguard
        path = folder / PART_FILES[part].format(lang=PSEUDO)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return PSEUDO


#: Formulas (LaTeX), {fields}, code, paths, identifiers and numbers are not words.
_NOT_WORDS = re.compile(
    r"\$\$.*?\$\$|\$[^$\n]+\$|\\\(.*?\\\)|\{[^{}]*\}|https?://\S+|`[^`]*`|(?<![\w-])--?[A-Za-z][\w-]*|\S*[/\\]\S*|\b\w+\.\w+\b"
    r"|\b\w*[\d_]\w*\b|\b\w+=\S*|'[^'\n]*'|<[a-z ]+>|\b[\w-]+(?:\|[\w-]+)+\b",
    re.S,
)
_WORD = re.compile(r"(?<![^\W\d_])[A-Za-z]{3,}(?![^\W\d_])")


def english_vocabulary() -> frozenset[str]:
    """The English words of the English catalogs (lower case, 3+ letters, no acronyms)."""
    words: set[str] = set()
    for part in PARTS:
        english = load_catalog(SOURCE, part)
        for key in english:
            text = _KEEP.sub(" ", english[key])
            words |= {w.lower() for w in _WORD.findall(_NOT_WORDS.sub(" ", text))}
    return frozenset(words)


def english_words(text: str, vocabulary: frozenset[str], names: frozenset[str]) -> set[str]:
    """The English words of ``text`` (words of the catalogs' English), ``names`` aside.

    A word from the pseudo-locale has no ASCII letter left; an English word in the output
    came from code. ``names`` are what the user typed or the data holds (a model's name,
    a rule's, a run's) — shown as they are in every language.
    """
    text = _NOT_WORDS.sub(" ", text)
    return {
        w
        for w in _WORD.findall(text)
        if w.lower() in vocabulary and w.lower() not in names and not w.isupper()
    }
