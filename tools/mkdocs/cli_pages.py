"""Fill the docs with what the CLI itself says, so the pages cannot drift from the code.

Two markers, each on a line of its own in a page's Markdown:

- ``<!-- gradguard-cli-reference -->`` becomes one section per command of ``gradguard``
  (in the order ``gradguard --help`` lists them): its help text and a table of its
  arguments and options with their defaults, read from the typer application.
- ``<!-- gradguard-erratum: KIND LANG -->`` becomes the seed's erratum ``KIND`` in ``LANG``,
  as the lesson states it (:func:`gradguard.explain.erratum`: one text everywhere).
- ``<!-- gradguard-run: ARGS -->`` becomes a text block with ``$ gradguard ARGS`` and that
  command's output, run at build time (a non-zero exit status fails the build);
  ``<!-- gradguard-run-wrapped: ARGS -->`` does the same with long lines wrapped (for
  prose such as the lesson; ``docs/stylesheets/extra.css``);
  ``<!-- gradguard-run-markdown: ARGS -->`` puts the output in the page as Markdown (for
  ``explain --format markdown``: its LaTeX formulas are typeset like the page's own), its
  headings two levels down so they nest under the page's.

Loaded by mkdocs.yml (``hooks: [tools/mkdocs/cli_pages.py]``).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from typing import Any

MARKER = "<!-- gradguard-cli-reference -->"
#: ``<!-- gradguard-erratum: KIND LANG -->``: the seed's erratum as the lesson states it.
ERRATUM = re.compile(r"^([ \t]*)<!-- gradguard-erratum: (\w+) (\w+) -->$", re.MULTILINE)
RUN = re.compile(r"^<!-- gradguard-run(-wrapped|-markdown)?: (.+?) -->$", re.MULTILINE)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _param_row(param: Any) -> str:
    if param.param_type_name == "argument":
        name = f"`{param.name.upper()}`"
        what = getattr(param, "help", None) or ""
        default = "required" if param.required else ""
    else:
        names = [*param.opts, *param.secondary_opts]
        name = " / ".join(f"`{n}`" for n in names)
        what = param.help or ""
        default = ""
        value = param.default
        if param.show_default is not False and value is not None and value is not False:
            if value is True:  # a --flag/--no-flag pair that is on by default
                value = names[0]
            if value != ():
                default = f"`{value}`"
    return f"| {name} | {_cell(what)} | {default} |"


def command_reference() -> str:
    """Return the Markdown reference of every ``gradguard`` command."""
    from gradguard.cli._help import localized_command

    group: Any = localized_command("en")  # the help texts of the cli catalog, in English
    ctx = group.make_context("gradguard", ["--help"], resilient_parsing=True)
    parts: list[str] = []
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if cmd is None or cmd.hidden:
            continue
        help_text = (cmd.help or "").strip()
        summary, _, rest = help_text.partition("\n")
        parts.append(f"### `gradguard {name}` {{#{name}}}\n\n{summary.strip()}")
        if rest.strip():
            parts.append(" ".join(rest.split()))
        usage = " ".join(cmd.collect_usage_pieces(ctx))
        parts.append(f"```text\ngradguard {name} {usage}\n```")
        rows = [_param_row(p) for p in cmd.params if p.name != "help"]
        rows = [r for r in rows if r]
        if rows:
            parts.append(
                "| argument / option | meaning | default |\n|---|---|---|\n" + "\n".join(rows)
            )
    return "\n\n".join(parts)


def run_stdout(args: str) -> str:
    """Run ``gradguard ARGS`` (a non-zero exit status fails the build) and return its stdout."""
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1", "LANG": "C.UTF-8", "LC_ALL": ""}
    done = subprocess.run(
        [sys.executable, "-m", "gradguard", *shlex.split(args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"gradguard {args} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def run_output(args: str) -> str:
    """Run ``gradguard ARGS`` and return a fenced block of the command and its stdout."""
    lines = [line.rstrip() for line in run_stdout(args).rstrip().splitlines()]
    return "```text\n$ gradguard " + args + "\n" + "\n".join(lines) + "\n```"


def run_markdown(args: str) -> str:
    """Run ``gradguard ARGS`` and return its Markdown output, headings two levels down."""
    return re.sub(r"^(#{1,4}) ", r"##\1 ", run_stdout(args), flags=re.MULTILINE)


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, command_reference())

    def replace(m: re.Match[str]) -> str:
        if m.group(1) == "-markdown":
            return run_markdown(m.group(2))
        block = run_output(m.group(2))
        if m.group(1):
            return f'<div class="gradguard-wrapped" markdown>\n\n{block}\n\n</div>'
        return block

    def erratum(m: re.Match[str]) -> str:
        from gradguard.explain import erratum as text

        return m.group(1) + text(m.group(2), m.group(3)).replace("*", "\\*")

    return ERRATUM.sub(erratum, RUN.sub(replace, markdown))
