"""Where the guard's records go: the JSONL log, TensorBoard, and the caller's hooks."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from gradguard.errors import InputError
from gradguard.records import RecordWriter, StepRecord

#: The record fields written to TensorBoard as ``gradguard/<field>``.
TENSORBOARD_FIELDS = ("loss", "grad_norm", "grad_norm_clipped", "max_abs", "update_ratio")


def tensorboard_writer(tb: Any) -> Any:
    """Return ``tb`` if it writes scalars (``add_scalar``), else a ``SummaryWriter`` on it.

    Raises:
      InputError: ``tb`` is a directory and tensorboard is not installed.
    """
    if tb is None or hasattr(tb, "add_scalar"):
        return tb
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise InputError(
            "tensorboard",
            str(tb),
            "tensorboard",
            "install_tensorboard",
        ) from None
    return SummaryWriter(str(tb))


def open_sinks(log: Any, tensorboard: Any, rank: int) -> tuple[Any, Any, list[Any]]:
    """The guard's log and TensorBoard writer (rank 0 only), and those it opened itself.

    A path becomes a :class:`~gradguard.records.RecordWriter`, a log directory a
    ``SummaryWriter``; what the guard opened it also closes (the third item).
    """
    from gradguard.records import RecordWriter

    if rank != 0:
        return None, None, []
    owned: list[Any] = []
    writer = log
    if log is not None and not isinstance(log, RecordWriter):
        writer = RecordWriter(log)
        owned.append(writer)
    tb = tensorboard_writer(tensorboard)
    if tb is not None and tb is not tensorboard:
        owned.append(tb)
    return writer, tb, owned


def emit(
    record: StepRecord,
    log: RecordWriter | None,
    tensorboard: Any,
    hooks: Iterable[Callable[[StepRecord], None]],
) -> StepRecord:
    """Write ``record`` to the log and TensorBoard, then call each hook; return it."""
    if log is not None:
        log.write(record)
    if tensorboard is not None:
        for key in TENSORBOARD_FIELDS:
            value = getattr(record, key)
            if value is not None and math.isfinite(value):
                tensorboard.add_scalar(f"gradguard/{key}", value, record.step)
        tensorboard.add_scalar("gradguard/skipped", float(record.action != "step"), record.step)
        for layer, value in (record.layer_norms or {}).items():
            if math.isfinite(value):
                tensorboard.add_scalar(f"gradguard/layer/{layer}", value, record.step)
    for hook in hooks:
        hook(record)
    return record
