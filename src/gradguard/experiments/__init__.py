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

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from gradguard.experiments._names import (
    CELLS,
    DIVERGENCE_CONFIGS,
    EXPERIMENTS,
    GATES,
    INITS,
    LONG_RANGE_CONFIGS,
    TASKS,
)
from gradguard.experiments._summary import format_summary

if TYPE_CHECKING:
    from gradguard.experiments._flow import FlowResult, gradient_flow, measure_flow
    from gradguard.experiments._models import (
        RecurrentNet,
        RecurrentSpectrum,
        init_recurrent_,
        recurrent_spectrum,
    )
    from gradguard.experiments._runner import (
        PRESETS,
        SUMMARY_COLUMNS,
        Preset,
        RemediesInterrupted,
        RunSpec,
        RunSummary,
        build_grid,
        read_summary,
        run_remedies,
        train_run,
        write_summary,
    )
    from gradguard.experiments._tasks import (
        Batch,
        adding_baseline,
        adding_problem,
        copy_baseline,
        copy_memory,
    )

_LAZY = {
    "FlowResult": "_flow",
    "gradient_flow": "_flow",
    "measure_flow": "_flow",
    "RecurrentNet": "_models",
    "RecurrentSpectrum": "_models",
    "init_recurrent_": "_models",
    "recurrent_spectrum": "_models",
    "PRESETS": "_runner",
    "SUMMARY_COLUMNS": "_runner",
    "Preset": "_runner",
    "RemediesInterrupted": "_runner",
    "RunSpec": "_runner",
    "RunSummary": "_runner",
    "build_grid": "_runner",
    "read_summary": "_runner",
    "run_remedies": "_runner",
    "train_run": "_runner",
    "write_summary": "_runner",
    "Batch": "_tasks",
    "adding_baseline": "_tasks",
    "adding_problem": "_tasks",
    "copy_baseline": "_tasks",
    "copy_memory": "_tasks",
}


def __getattr__(name: str) -> Any:
    # Torch-backed names load on first use, so the CLI can check names without torch.
    if name in _LAZY:
        module = importlib.import_module(f"gradguard.experiments.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'gradguard.experiments' has no attribute {name!r}")


__all__ = [
    "CELLS",
    "DIVERGENCE_CONFIGS",
    "EXPERIMENTS",
    "GATES",
    "INITS",
    "LONG_RANGE_CONFIGS",
    "PRESETS",
    "SUMMARY_COLUMNS",
    "TASKS",
    "Batch",
    "FlowResult",
    "Preset",
    "RecurrentNet",
    "RecurrentSpectrum",
    "RemediesInterrupted",
    "RunSpec",
    "RunSummary",
    "adding_baseline",
    "adding_problem",
    "build_grid",
    "copy_baseline",
    "copy_memory",
    "format_summary",
    "gradient_flow",
    "init_recurrent_",
    "measure_flow",
    "read_summary",
    "recurrent_spectrum",
    "run_remedies",
    "train_run",
    "write_summary",
]
