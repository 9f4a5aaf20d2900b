"""Read gradguard's reStructuredText-flavoured docstrings as Markdown for the API pages.

The docstrings are Google style with a few Sphinx habits (``:func:`name```, ``.. math::``
blocks, ``Example:`` sections, ``::`` literal blocks). mkdocstrings renders Markdown, so
this griffe extension rewrites those habits before the docstrings are parsed:

- ``:role:`~pkg.mod.name``` and ``:role:`name``` become inline code (``name``);
- a ``.. math::`` block becomes a fenced ``latex`` code block;
- ``Example:`` becomes ``Examples:`` so doctests render as code;
- a paragraph ending in ``::`` ends in ``:`` (its indented block stays code);
- a doctest paragraph outside a section (``>>>`` at the margin) becomes a fenced block
  (Markdown would read ``>>>`` as a quote).

Loaded by mkdocs.yml (``extensions: [tools/mkdocs/griffe_rst.py]``).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|meth|attr|data|mod|obj|exc|const):`~?([^`]+)`")
_EXAMPLE = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)
_LITERAL = re.compile(r"(\S)::\s*$", re.MULTILINE)


def _role(match: re.Match[str]) -> str:
    target = match.group(1)
    full = match.group(0)
    short = target.rsplit(".", 1)[-1] if ":`~" in full else target
    return f"`{short}`"


def _math(text: str) -> str:
    """Turn each ``.. math::`` directive (and its indented body) into a fenced block."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith(".. math::"):
            indent = line[: len(line) - len(line.lstrip())]
            body = [stripped[len(".. math::") :].strip()] if stripped != ".. math::" else []
            i += 1
            while i < len(lines) and (
                not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > len(indent)
            ):
                body.append(lines[i].strip())
                i += 1
            while body and not body[-1]:
                body.pop()
            while body and not body[0]:
                body.pop(0)
            out += [f"{indent}```latex", *(f"{indent}{b}" for b in body), f"{indent}```", ""]
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def _doctests(text: str) -> str:
    """Fence each doctest paragraph that starts at the margin (sections handle their own)."""
    out: list[str] = []
    block: list[str] = []
    for line in [*text.splitlines(), ""]:
        if block and line.strip():
            block.append(line)
            continue
        if block:
            out += ["```pycon", *block, "```"]
            block = []
        if line.startswith(">>> "):
            block = [line]
        else:
            out.append(line)
    return "\n".join(out[:-1])


def rst_to_markdown(text: str) -> str:
    """Rewrite the Sphinx habits in one docstring as Markdown."""
    text = _ROLE.sub(_role, text)
    text = _math(text)
    text = _doctests(text)
    text = _EXAMPLE.sub(r"\1Examples:", text)
    return _LITERAL.sub(r"\1:", text)


class RstToMarkdown(griffe.Extension):
    """Rewrite every docstring once the object tree is built."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
