"""The message catalogs: every language tells every message, with the same placeholders.

A language is its catalog files (``gradguard._catalog``); nothing in the code names one.
"""

from __future__ import annotations

import ast
import errno
import re
import string
from pathlib import Path

import pytest

from gradguard._catalog import PARTS, SOURCE, catalog_dirs, default_lang, languages, load_catalog

SRC = Path(__file__).resolve().parents[1] / "src" / "gradguard"
OTHERS = [lang for lang in languages() if lang != SOURCE]

#: Fields the code passes that English leaves out but another language may use.
EXTRA_FIELDS = {"frame.os_other": {"name"}, "usage.extra_args": {"args"}}
#: Fields English uses that another language may leave out: Python's, the parser's or the
#: operating system's own English words, and the extra arguments as typed (quoted in {args}).
ENGLISH_ONLY = {"reason", "detail", "strerror", "typed"}


def fields(template: str) -> set[str]:
    return {
        name.split(".")[0].split("[")[0]
        for _, name, _, _ in string.Formatter().parse(template)
        if name
    }


def test_languages_are_the_catalog_files():
    stems = {p.stem for p in catalog_dirs()[-1].glob("*.toml")}
    assert set(languages()) == stems and languages()[0] == SOURCE
    for lang in languages():
        meta = load_catalog(lang)
        assert meta["meta.name"] and re.fullmatch(r"[A-Z][a-z]{3}", meta["meta.script"]), lang


@pytest.mark.parametrize("lang", OTHERS)
@pytest.mark.parametrize("part", PARTS)
def test_every_language_tells_every_message_with_the_same_fields(lang, part):
    english, other = load_catalog(SOURCE, part), load_catalog(lang, part)
    keys = english.keys()
    if part == "errors":
        # A rule is told in [rules] (a phrase for the frame) or [sentences] (a whole sentence);
        # [os] words the errno names a language chooses (English uses the system's words).
        theirs = other.keys()
        told = {k.replace("sentences.", "rules.", 1) for k in theirs}
        assert len(told) == len(theirs), "a rule told twice, as a phrase and as a sentence"
        assert {k for k in keys if not k.startswith("os.")} == {
            k for k in told if not k.startswith("os.")
        }
        assert set(other.section("os")) <= set(errno.errorcode.values())
    else:
        assert other.keys() == keys, (sorted(keys - other.keys()), sorted(other.keys() - keys))
    for key in keys:
        if key.startswith("os."):
            continue
        theirs = key if key in other else key.replace("rules.", "sentences.", 1)
        mine, told = fields(english[key]), fields(other[theirs])
        if theirs.startswith("sentences."):
            told -= {"argument", "value"}
        assert mine - ENGLISH_ONLY <= told <= mine | EXTRA_FIELDS.get(key, set()), (key, told)


def test_english_tells_every_rule_as_a_phrase():
    english = load_catalog(SOURCE, "errors")
    assert not english.section("sentences") and not english.section("os")


def test_the_locale_picks_a_language_with_catalogs():
    for lang in languages():
        assert default_lang({"LANG": f"{lang}_XX.UTF-8"}) == lang
    assert default_lang({"LC_ALL": "C.UTF-8", "LANG": OTHERS[0] if OTHERS else "x"}) == SOURCE
    assert default_lang({"LANG": "xx_YY.UTF-8"}) == SOURCE and default_lang({}) == SOURCE


def _lang_literals(tree: ast.AST) -> list[int]:
    """Lines comparing something named ``lang`` with a string (``lang == "en"`` …)."""
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            names = [node.left, *node.comparators]
            named = any(
                (isinstance(n, ast.Name) and "lang" in n.id)
                or (isinstance(n, ast.Attribute) and "lang" in n.attr)
                for n in names
            )
            literal = any(isinstance(n, ast.Constant) and isinstance(n.value, str) for n in names)
            if named and literal:
                hits.append(node.lineno)
    return hits


def test_no_code_names_a_language():
    """Languages are data: no ``lang == "en"`` branch, no language code spelled in code."""
    found = {}
    codes = set(languages())
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        lines = _lang_literals(tree)
        for node in ast.walk(tree):  # a language's code as a string: "bn", "en"
            if isinstance(node, ast.Constant) and node.value in codes - {SOURCE}:
                lines.append(node.lineno)
        if lines:
            found[str(path.relative_to(SRC))] = sorted(lines)
    assert found == {}


def _free_text_errors(tree: ast.AST) -> list[int]:
    """Lines raising ``InputError`` with English text where a rule id (or hint id) belongs."""
    from gradguard.errors import hint_ids, rule_ids

    ids = rule_ids() | hint_ids() | {""}
    lines = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "InputError"):
            continue
        told = [*node.args[2:4], *(k.value for k in node.keywords if k.arg in ("rule", "hint"))]
        for arg in told:
            if isinstance(arg, (ast.JoinedStr, ast.BinOp)) or (
                isinstance(arg, ast.Constant)
                and isinstance(arg.value, str)
                and arg.value not in ids
            ):
                lines.append(node.lineno)
    return lines


def test_errors_are_rule_ids_told_in_every_language():
    # Every InputError names a rule id (and hint id) of the errors catalog, never English
    # text, so that every language tells it.
    found = set()
    for path in SRC.rglob("*.py"):
        if _free_text_errors(ast.parse(path.read_text(encoding="utf-8"))):
            found.add(str(path.relative_to(SRC)))
    assert found == set(), "raise InputError(name, value, RULE_ID): see _validate"


class _One:
    """A field value that writes itself "1" in any format ({n}, {x:g}, {y:,})."""

    def __format__(self, spec: str) -> str:
        return "1"

    def __str__(self) -> str:
        return "1"


#: Nouns an English count can stand before ("3 steps"); "1 steps" is the bug.
_PLURALS = (
    "steps|batches|episodes|layers|rollbacks|times|spikes|ranges|tensors|runs|updates"
    "|records|rules|seeds|epochs|parameters|norms"
)
_ONE_PLURAL = re.compile(rf"(?<![\d.,/^×x])\b1 ((?:[a-z-]+ ){{0,2}}?)({_PLURALS})\b")
#: Messages whose count is never 1 where they are said (why), or whose "1" is no count.
_NEVER_ONE = {
    "doctor.layer_grows": "{early} is a median gradient norm, not a count: 'median 1 over steps'",
    "doctor.layers_all_grow": "{early}, {late} are median gradient norms, not counts",
    "doctor.layers_some_grow": "{early}, {late} are median gradient norms, not counts",
    "doctor.scattered": "scattered: at least 2 episodes; '1 to 5 steps apart' is a range",
    "forward.elided": "the lesson elides steps only when more than one is left out",
    "summary.all_done": "'all 1 runs' — said only of a grid, several runs",
    "doctor.replay_quiet": "{rules}: the number of skip rules replayed (2 in RULES)",
    "doctor.tensors_nonfinite": "1 tensor has its own message, tensors_nonfinite_one",
    "guard.raised": "{kind} steps: {kind} is a record kind (a word), not a count",
    "replay.needs_run": "{log} is a file name, not a count",
}


def test_english_counts_of_one_take_the_singular():
    # "and 1 other steps" (doctor): a count's noun follows it, {n} step{n:|s} (Catalog.get)
    wrong = []
    for part in PARTS:
        cat = load_catalog(SOURCE, part)
        for key in cat:
            if key in _NEVER_ONE or (part == "report" and key.startswith("explorer.")):
                continue
            one = {name: _One() for name in fields(cat[key])}
            wrong += [f"{part} {key}: {m[0]}" for m in _ONE_PLURAL.finditer(cat.get(key, **one))]
    assert wrong == []


def test_a_count_chooses_its_form_in_every_filling():
    from gradguard._catalog import fill
    from gradguard.report._i18n import t

    assert [fill("{n} step{n:|s}", n=n) for n in (0, 1, "1", 2, "1,000")] == [
        "0 steps", "1 step", "1 step", "2 steps", "1,000 steps"
    ]  # fmt: skip
    assert fill("{x:.2f} of {n} batch{n:|es}", x=0.5, n=1) == "0.50 of 1 batch"
    assert t("en", "guard_intro", n=1, source="log", counts="ok 1").startswith("1 step from")
    assert t("en", "guard_intro", n=3, source="log", counts="ok 3").startswith("3 steps from")
