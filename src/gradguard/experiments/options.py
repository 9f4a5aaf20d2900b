"""The experiments' options, checked as the command line and the Python API check them.

Light (no torch): the CLI checks a user's options with these before anything trains.

- :func:`check_cell`, :func:`check_init`, :func:`check_seed` — a model cell, an init
  scheme (with its ``rho``), a seed; :data:`LIMIT_RHO` — the spectral radius ρ(W) each
  init scheme tends to for a large square matrix (the circular law);
- :func:`check_jobs` (at most :data:`MAX_JOBS` workers), :func:`available_cores` — how
  many worker processes; :func:`parse_executor` — ``--executor`` as ``(engine, address)``;
- :func:`check_out_dir` — a results folder that can be written (made if needed).
"""

from gradguard.experiments._executors import (
    MAX_JOBS,
    available_cores,
    check_jobs,
    check_out_dir,
    parse_executor,
)
from gradguard.experiments._names import LIMIT_RHO, check_cell, check_init, check_seed

__all__ = [
    "LIMIT_RHO",
    "MAX_JOBS",
    "available_cores",
    "check_cell",
    "check_init",
    "check_jobs",
    "check_out_dir",
    "check_seed",
    "parse_executor",
]
