"""The remedies, measured: recurrent models, inits, tasks, gradient flow, the remedy runner.

$ gradguard flow --model linear --init xavier-normal,he -T 50
$ gradguard remedies --quick --out runs/

Needs the ``[torch]`` extra (``pip install 'gradguard[torch]'``). Importing this
package is light; torch is imported on first use of a name that needs it.

Python API (what ``gradguard tour`` and the report use)::

    from gradguard.experiments import gradient_flow, run_remedies
    flow = gradient_flow("linear", "he", T=50)          # FlowResult: grad_h, rho, sigma_max
    rows = run_remedies("quick", out=Path("runs"))      # list[RunSummary]
"""

# The imports below say where each public name lives (see _exports).
from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

# No torch needed for these: the CLI checks names, the report reads summary.csv.
from gradguard.experiments._names import (
    CELLS,
    DIVERGENCE_CONFIGS,
    EXPERIMENTS,
    GATES,
    INITS,
    LONG_RANGE_CONFIGS,
    TASKS,
)
from gradguard.experiments._papers import PAPERS, Paper, Reported, Setting, paper_of
from gradguard.experiments._summary import format_summary
from gradguard.experiments._summary_io import (
    REQUIRED_COLUMNS,
    SUMMARY_COLUMNS,
    RunSummary,
    SummaryError,
    read_summary,
    write_summary,
)

if TYPE_CHECKING:  # the torch-backed names: loaded on first use (see __getattr__)
    from gradguard.experiments._executors import ExecutorUnavailable
    from gradguard.experiments._flow import FlowResult, gradient_flow, measure_flow
    from gradguard.experiments._grid import PRESETS, LongConfig, Preset, RunSpec, build_grid
    from gradguard.experiments._models import (
        RecurrentNet,
        RecurrentSpectrum,
        init_recurrent_,
        recurrent_spectrum,
    )
    from gradguard.experiments._results import ResultsFolder, source_hash
    from gradguard.experiments._runner import (
        GridFailed,
        GridProgress,
        RemediesInterrupted,
        RunResult,
        run_remedies,
        run_task,
    )
    from gradguard.experiments._tasks import (
        TASK_OBJECTS,
        Batch,
        Task,
        adding_baseline,
        adding_problem,
        copy_baseline,
        copy_memory,
    )
    from gradguard.experiments._train import train_run


def _exports() -> dict[str, str]:
    """Every public name → its module, read from this file's imports (the one list)."""
    names: dict[str, str] = {}
    for node in ast.walk(ast.parse(Path(__file__).read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(__name__ + "._"):
            for alias in node.names:
                names[alias.asname or alias.name] = str(node.module)
    return names


_EXPORTS = _exports()


def __getattr__(name: str) -> Any:
    # Torch-backed names load on first use, so the CLI can check names without torch.
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'gradguard.experiments' has no attribute {name!r}")


# Written out (not computed from _EXPORTS) so that the API docs, which read this file
# without running it, list the same names; a test holds the two equal.
__all__ = [
    "CELLS",
    "DIVERGENCE_CONFIGS",
    "EXPERIMENTS",
    "GATES",
    "INITS",
    "LONG_RANGE_CONFIGS",
    "PAPERS",
    "PRESETS",
    "REQUIRED_COLUMNS",
    "SUMMARY_COLUMNS",
    "TASKS",
    "TASK_OBJECTS",
    "Batch",
    "ExecutorUnavailable",
    "FlowResult",
    "GridFailed",
    "GridProgress",
    "LongConfig",
    "Paper",
    "Preset",
    "RecurrentNet",
    "RecurrentSpectrum",
    "RemediesInterrupted",
    "Reported",
    "ResultsFolder",
    "RunResult",
    "RunSpec",
    "RunSummary",
    "Setting",
    "SummaryError",
    "Task",
    "adding_baseline",
    "adding_problem",
    "build_grid",
    "copy_baseline",
    "copy_memory",
    "format_summary",
    "gradient_flow",
    "init_recurrent_",
    "measure_flow",
    "paper_of",
    "read_summary",
    "recurrent_spectrum",
    "run_remedies",
    "run_task",
    "source_hash",
    "train_run",
    "write_summary",
]
