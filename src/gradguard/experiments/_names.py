"""Names and checks shared by the experiments and the CLI (no torch: fast failures)."""

from __future__ import annotations

import math

from gradguard._validate import check_choice
from gradguard.errors import InputError

__all__ = [
    "CELLS",
    "DIVERGENCE_CONFIGS",
    "EXPERIMENTS",
    "GATES",
    "INITS",
    "LONG_RANGE_CONFIGS",
    "TASKS",
]

#: Recurrent cells.
CELLS = ("linear", "tanh", "relu", "lstm", "gru")
#: Recurrent-matrix initialization schemes.
INITS = (
    "default",
    "xavier-uniform",
    "xavier-normal",
    "he",
    "orthogonal",
    "identity",
    "scaled-orthogonal",
)
#: ρ(W) each scheme tends to for a large square n × n matrix (circular law: i.i.d.
#: entries of variance s²/n give eigenvalues uniform in the disc of radius s).
#: default U(±1/√n): s² = 1/3; Xavier: 2/(n + n) = 1/n; He: 2/n; orthogonal and
#: identity: every |λ| = 1; scaled-orthogonal: every |λ| = ρ (``None`` here).
LIMIT_RHO: dict[str, float | None] = {
    "default": 1 / math.sqrt(3),
    "xavier-uniform": 1.0,
    "xavier-normal": 1.0,
    "he": math.sqrt(2),
    "orthogonal": 1.0,
    "identity": 1.0,
    "scaled-orthogonal": None,
}
#: Gate names of each cell's stacked recurrent matrix, in torch's order.
GATES: dict[str, tuple[str, ...]] = {
    "linear": ("W",),
    "tanh": ("W",),
    "relu": ("W",),
    "lstm": ("i", "f", "g", "o"),
    "gru": ("r", "z", "n"),
}
#: Task names.
TASKS = ("adding", "copy")
#: The test metric each task reports (its loss): mean squared error, cross-entropy.
TASK_METRICS = {"adding": "MSE", "copy": "CE"}
#: Experiment names of the remedy runner.
EXPERIMENTS = ("divergence", "adding", "copy")
#: Configuration names of the divergence experiment.
DIVERGENCE_CONFIGS = (
    "none",
    "clip-norm",
    "clip-value",
    "low-lr",
    "init-orthogonal",
    "init-xavier",
    "lstm",
    "gru",
)
#: Configuration names of the long-range experiments (adding, copy).
LONG_RANGE_CONFIGS = ("rnn", "rnn-clip", "irnn", "lstm", "gru")


#: Largest seed accepted (torch generators take 64-bit seeds; the runner adds offsets).
MAX_SEED = 2**32 - 1


def check_T(T: object, name: str = "T", minimum: int = 1, maximum: int | None = None) -> int:
    """Return ``T`` if it is a whole number ≥ ``minimum`` (and ≤ ``maximum``), else raise."""
    if isinstance(T, bool) or not isinstance(T, int) or minimum > T:
        raise InputError(name, T, "sequence_length", min=minimum)
    if maximum is not None and maximum < T:
        raise InputError(name, T, "whole_between", min=minimum, max=maximum)
    return T


def check_seed(seed: object, name: str = "seed") -> int:
    """Return ``seed`` if it is a whole number from 0 to :data:`MAX_SEED`, else raise."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise InputError(name, seed, "whole_between", min=0, max=MAX_SEED)
    return seed


def check_count(value: object, name: str, maximum: int) -> int:
    """Return ``value`` if it is a whole number from 1 to ``maximum``, else raise."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise InputError(name, value, "whole_between", min=1, max=maximum)
    return value


def check_cell(cell: object, name: str = "model") -> str:
    """Return ``cell`` if it names a known cell, else raise :class:`InputError`."""
    return check_choice(cell, name, CELLS)


def check_init(init: object, rho: float | None = None, name: str = "init") -> str:
    """Check an init scheme name (and ``rho``, which ``scaled-orthogonal`` needs)."""
    check_choice(init, name, INITS)
    if init == "scaled-orthogonal":
        if rho is None:
            raise InputError("rho", "nothing", "rho_needed", "add_rho")
        if isinstance(rho, bool) or not isinstance(rho, (int, float)):
            raise InputError("rho", rho, "positive_finite")
        if not math.isfinite(rho) or rho <= 0:
            raise InputError("rho", rho, "positive_finite")
    return str(init)
