"""The remedies, measured: recurrent models, inits, tasks, gradient flow, the remedy runner.

Needs the ``[torch]`` extra (``pip install 'gradguard[torch]'``); importing this
package imports torch.

$ gradguard flow --model linear --init he -T 50
$ gradguard remedies --quick --out runs/
"""

from gradguard.experiments._flow import FlowResult, gradient_flow, measure_flow
from gradguard.experiments._models import (
    CELLS,
    GATES,
    INITS,
    RecurrentNet,
    RecurrentSpectrum,
    init_recurrent_,
    recurrent_spectrum,
)
from gradguard.experiments._tasks import (
    TASKS,
    Batch,
    adding_baseline,
    adding_problem,
    copy_baseline,
    copy_memory,
)

__all__ = [
    "CELLS",
    "GATES",
    "INITS",
    "TASKS",
    "Batch",
    "FlowResult",
    "RecurrentNet",
    "RecurrentSpectrum",
    "adding_baseline",
    "adding_problem",
    "copy_baseline",
    "copy_memory",
    "gradient_flow",
    "init_recurrent_",
    "measure_flow",
    "recurrent_spectrum",
]
