"""``summary.csv``: the one schema of the remedy runner's results, its writer and its reader.

$ gradguard remedies --out runs/    # writes runs/summary.csv
$ gradguard report --from runs/     # reads it back through read_summary

One row per finished run (:class:`RunSummary`), columns in the order of
:data:`SUMMARY_COLUMNS` — those of :data:`SPARSE_COLUMNS` only where a row has one (a
grid that does not use them keeps the bytes it had before they existed). An empty cell
is ``None``; booleans are ``True`` / ``False``; floats are Python's ``repr`` (``nan``,
``inf`` included). The runner, the report and the benchmarks write and read the file
only through :func:`write_summary` and :func:`read_summary`. No torch needed.
"""

from __future__ import annotations

import csv
import io
import math
import os
import types
import typing
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

from gradguard._atomic import write_text_atomic
from gradguard.errors import FileError

__all__ = [
    "REQUIRED_COLUMNS",
    "SUMMARY_COLUMNS",
    "RunSummary",
    "SummaryError",
    "read_summary",
    "write_summary",
]


#: Columns written only when a row has a value (added after grids had been run).
SPARSE_COLUMNS: tuple[str, ...] = ("momentum",)


@dataclass(kw_only=True)
class RunSummary:
    """What one run measured (one row of ``summary.csv``).

    A column absent from a file (one written by hand or by an older version)
    reads as its default here; the columns without a default must be present.

    Attributes:
      experiment: ``divergence``, ``adding`` or ``copy``.
      config: the configuration's name (``none``, ``clip-norm``, ``gru``, …).
      seed: the run's seed.
      T: sequence length (adding) or delay (copy).
      model, init, rho_init, optimizer, lr, clip, threshold: the run's settings
        (:class:`gradguard.experiments.RunSpec`).
      momentum: SGD's momentum ``μ`` (``None``: none — plain SGD, Adam, RMSprop).
      diverged: a loss or gradient became non-finite.
      first_nonfinite_step: the step at which it first did (``None``: never).
      max_grad_norm: the largest pre-clip gradient norm over the steps taken (``inf`` when
        the float32 norm overflowed although every entry was finite).
      clipped_steps: steps at which clipping acted.
      final_loss: training loss of the last step taken (non-finite if diverged).
      test_loss: loss on the fixed test set after the last step (``nan`` if diverged).
      baseline: the task's memoryless baseline (adding: 1/6; copy: 10·ln 8/(T+20)).
      beats_baseline: ``test_loss < 0.9 × baseline`` (clear of the test set's sampling error).
      steps_to_success: first evaluated step with test MSE < 0.01 (adding) or
        test cross-entropy < 0.1 × baseline (copy); ``None``: not reached.
      steps_run: optimizer steps attempted.
      stopped_early: the run stopped before its step budget because it had reached
        the success criterion (long-range runs only; a diverged run is not "early").
      stop_step: the step after which it stopped early (``None``: it did not).
      wall_s: wall-clock seconds of the run (training and evaluation).
      log: path of the run's JSONL records, relative to the output folder.
      config_hash: a hash of every setting of the run
        (:attr:`gradguard.experiments.RunSpec.config_hash`).
      source_hash: a hash of the gradguard source files and the torch version
        that trained it (:func:`gradguard.experiments.source_hash`): a resumed
        grid mixes no rows of another configuration or another gradguard.
      device: where the run trained (``cpu``, ``cuda``, ``cuda:N``): with ``--device auto``
        the worker that trained it decided.
    """

    experiment: str
    config: str
    seed: int
    T: int | None = None
    model: str | None = None
    init: str | None = None
    rho_init: float | None = None
    optimizer: str | None = None
    momentum: float | None = None
    lr: float | None = None
    clip: str | None = None
    threshold: float | None = None
    diverged: bool
    first_nonfinite_step: int | None
    max_grad_norm: float
    clipped_steps: int | None = None
    final_loss: float
    test_loss: float = math.nan
    baseline: float = math.nan
    beats_baseline: bool | None = None
    steps_to_success: int | None
    steps_run: int | None = None
    stopped_early: bool = False
    stop_step: int | None = None
    wall_s: float
    log: str | None = None
    config_hash: str | None = None
    source_hash: str | None = None
    device: str | None = None

    def to_row(self) -> dict[str, Any]:
        """Return the row as ``summary.csv`` writes it (``None`` → empty cell; a column of
        :data:`SPARSE_COLUMNS` with no value is left out, as ``--json`` prints it)."""
        return {
            k: ("" if v is None else v)
            for k, v in asdict(self).items()
            if v is not None or k not in SPARSE_COLUMNS
        }


#: Columns of ``summary.csv``, in order.
SUMMARY_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(RunSummary))
#: Columns a file must have (the rest read as their defaults when absent).
REQUIRED_COLUMNS: tuple[str, ...] = tuple(
    f.name for f in fields(RunSummary) if f.default is MISSING and f.default_factory is MISSING
)


class SummaryError(FileError):
    """A ``summary.csv`` is malformed; the message names the file and the line."""


def write_summary(path: str | os.PathLike[str], rows: typing.Sequence[RunSummary]) -> None:
    """Write ``rows`` to ``path`` as CSV atomically (temp file + rename).

    The columns are :data:`SUMMARY_COLUMNS`, less those of :data:`SPARSE_COLUMNS` that no
    row has a value in.
    """
    unused = {c for c in SPARSE_COLUMNS if all(getattr(r, c) is None for r in rows)}
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=[c for c in SUMMARY_COLUMNS if c not in unused])
    writer.writeheader()
    for row in rows:
        writer.writerow(row.to_row())
    write_text_atomic(path, buf.getvalue())


def _scalar(hint: Any) -> tuple[type, bool]:
    """``(scalar type, may be None)`` of a field's type: ``int | None`` → ``(int, True)``."""
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        (kind,) = [a for a in args if a is not type(None)]
        return kind, type(None) in args
    return hint, False


_HINTS = typing.get_type_hints(RunSummary)
#: Column → (its scalar type: str, int, float or bool; whether an empty cell is allowed).
_KINDS: dict[str, tuple[type, bool]] = {f.name: _scalar(_HINTS[f.name]) for f in fields(RunSummary)}
_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(RunSummary)}
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def _cell(value: str, column: str, where: str) -> Any:
    kind, nullable = _KINDS[column]
    if value == "":
        if _DEFAULTS[column] is not MISSING:
            return _DEFAULTS[column]
        if nullable:
            return None
        raise SummaryError(where, "empty_cell", column=column)
    if kind is bool:
        low = value.strip().lower()
        if low in _TRUE or low in _FALSE:
            return low in _TRUE
        problem = "bad_bool"
    elif kind is int:
        try:
            return int(value)
        except ValueError:
            problem = "bad_int"
    elif kind is float:
        try:
            return float(value)
        except ValueError:
            problem = "bad_float"
    else:
        return value
    raise SummaryError(where, problem, column=column, found=value)


def read_summary(path: str | os.PathLike[str]) -> list[RunSummary]:
    """Read a ``summary.csv`` (as :func:`write_summary` writes it) back into rows.

    Columns the file lacks read as their defaults (see :class:`RunSummary`);
    columns it has beyond :data:`SUMMARY_COLUMNS` are ignored.

    Raises:
      SummaryError: the file is not UTF-8 CSV, lacks a required column, has a row
        of the wrong length or a cell of the wrong type (the message names the
        file and the line).
      OSError: the file cannot be read.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise SummaryError(p, "not_utf8", reason=e.reason) from None
    lines = text.splitlines()
    if not lines:
        raise SummaryError(f"{p}:1", "empty_csv")
    reader = csv.reader(lines)
    try:
        header = next(reader)
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise SummaryError(f"{p}:1", "missing_columns", columns=", ".join(missing))
        rows: list[RunSummary] = []
        for number, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise SummaryError(
                    f"{p}:{number}", "field_count", found=len(row), expected=len(header)
                )
            where = f"{p}:{number}"
            kwargs = {
                k: _cell(v, k, where) for k, v in zip(header, row, strict=True) if k in _KINDS
            }
            rows.append(RunSummary(**kwargs))
    except csv.Error as e:
        raise SummaryError(f"{p}:{reader.line_num}", "not_csv", reason=e) from None
    return rows
