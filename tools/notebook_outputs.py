"""Run the docs' notebooks and store their outputs in them: ``python tools/notebook_outputs.py``.

The tutorial notebook (``docs/tutorial/seed-lesson.ipynb``) is committed with its outputs,
so a reader sees the results before running anything. ``tests/test_notebook.py`` runs it
afresh and checks every stored output equals the new one: after changing a code cell, run
this script and commit the notebook it rewrites. Each notebook runs top to bottom in a
fresh ``python3`` kernel (nbclient), as the docs build and the test run it.

$ python tools/notebook_outputs.py [NOTEBOOK.ipynb …]
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
#: Seconds one cell may run.
CELL_TIMEOUT = 300


def execute(path: Path) -> nbformat.NotebookNode:
    """Return the notebook at ``path`` run top to bottom in a fresh kernel."""
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
    ).execute()
    return nb


def store(path: Path) -> None:
    """Run the notebook and write it back with its outputs (execution times left out)."""
    nb = execute(path)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)


if __name__ == "__main__":
    paths = [Path(p) for p in sys.argv[1:]] or sorted((ROOT / "docs").rglob("*.ipynb"))
    for p in paths:
        store(p)
        print(p)
