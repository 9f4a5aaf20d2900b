"""The README is the front door: short, with the two make commands, and every link resolves."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
# [text](target) and ![alt](target), not inside inline code
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def test_short_with_the_two_commands() -> None:
    assert len(README.splitlines()) < 250  # the manual lives in docs/
    assert "make tour" in README and "make test" in README
    for install in ("pip install gradguard", "pip install 'gradguard[torch]'", "[plot]'"):
        assert install in README


def test_every_relative_link_resolves() -> None:
    targets = [t for t in LINK.findall(README) if not re.match(r"[a-z]+:", t)]
    assert targets, "the README links into docs/"
    missing = [t for t in targets if not (ROOT / t.split("#", 1)[0]).exists()]
    assert missing == []


def test_the_lab_example_runs_and_says_what_it_shows() -> None:
    import gradguard.lab as lab

    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)
    example = next(b for b in blocks if b.startswith("from gradguard.lab import"))
    for line in example.splitlines()[1:]:
        code, _, comment = line.partition("#")
        if not code.strip():
            continue
        value = eval(code, dict(vars(lab)))  # each line is one expression of the lab's names
        shown = comment.split(":")[0].split("=")[0].strip().rstrip("…, ]")  # what it claims
        assert repr(value).startswith(shown), (code, value, comment)
