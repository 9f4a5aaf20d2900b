"""Render the docs' Jupyter notebooks as pages: execute each one, write it out as Markdown.

For every ``docs/**/NAME.ipynb`` this MkDocs hook adds a generated page ``NAME.md`` beside
it, from the outputs stored in the notebook (``tools/notebook_outputs.py`` stores them;
``tests/test_notebook.py`` checks they equal a fresh run) — or, for a notebook committed
without outputs, after running it top to bottom in a fresh ``python3`` kernel (nbclient; a
failing cell fails the build): Markdown cells as they are, code cells as Python blocks, text
output as text blocks and images as PNG files under ``NAME_files/``. The ``.ipynb`` itself
is published too, so readers can download it. Nothing is fetched from the network.

Loaded by mkdocs.yml (``hooks: [tools/mkdocs/notebooks.py]``).
"""

from __future__ import annotations

import base64
import posixpath
from pathlib import Path
from typing import Any

import nbformat
from mkdocs.structure.files import File, Files
from nbclient import NotebookClient

#: Seconds one cell may run before the build fails.
CELL_TIMEOUT = 120


def _fence(text: str, lang: str = "") -> str:
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}"


def notebook_to_markdown(nb: Any, stem: str) -> tuple[str, dict[str, bytes]]:
    """Return the executed notebook as Markdown and its images (``NAME_files/…`` → bytes)."""
    parts: list[str] = []
    images: dict[str, bytes] = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            parts.append(cell.source)
            continue
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        parts.append(_fence(cell.source, "python"))
        for n, out in enumerate(cell.get("outputs", [])):
            if out.output_type == "stream":
                parts.append(_fence(out.text, "text"))
                continue
            data = out.get("data", {})
            if "image/png" in data:
                name = f"{stem}_files/cell{index}-{n}.png"
                images[name] = base64.b64decode(data["image/png"])
                parts.append(
                    f"![output of cell {index}]({posixpath.basename(stem)}_files/"
                    f"cell{index}-{n}.png)"
                )
            elif "text/markdown" in data:
                parts.append(data["text/markdown"])
            elif "text/plain" in data:
                parts.append(_fence(data["text/plain"], "text"))
    return "\n\n".join(parts) + "\n", images


def on_files(files: Files, config: Any) -> Files:
    for nb_file in [f for f in files if f.src_uri.endswith(".ipynb")]:
        nb = nbformat.read(nb_file.abs_src_path, as_version=4)
        if not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"):
            NotebookClient(
                nb,
                timeout=CELL_TIMEOUT,
                kernel_name="python3",
                resources={"metadata": {"path": str(Path(nb_file.abs_src_path).parent)}},
                extra_arguments=["--IPKernelApp.log_level=ERROR"],
            ).execute()
        stem = nb_file.src_uri[: -len(".ipynb")]
        markdown, images = notebook_to_markdown(nb, stem)
        name = posixpath.basename(nb_file.src_uri)
        markdown += f"\n[Download this notebook]({name}) · এই notebook ডাউনলোড করুন\n"
        files.append(File.generated(config, f"{stem}.md", content=markdown))
        for uri, data in images.items():
            files.append(File.generated(config, uri, content=data))
    return files
