"""Skip lists: the steps and batches a restarted run should not train on again.

PaLM restarted ~100 steps before a spike and skipped 200–500 batches (Chowdhery et al.,
"PaLM: Scaling Language Modeling with Pathways", 2022); OLMo-core takes
``steps_to_skip``; Lightning writes ``skip_batches.json``. gradguard's guard records an
identifier of the batch (``guard.step(loss, batch=...)``: an index, ids or a hash) on
every step it skipped, flagged as a spike or rolled back; :func:`skip_list` turns a log
into the list a restart needs, and ``SpikeGuard(skip_steps=...)`` takes it back
(``guard.skip_batch(batch)`` then answers True for exactly those batches).

$ gradguard replay run.jsonl --skip-list --json > skip.json

The JSON form: ``{"steps": [[first, last], ...], "batches": [id, ...]}`` — inclusive
step ranges and the recorded batch identifiers (absent ones are left out).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gradguard.errors import InputError
from gradguard.records import StepRecord

__all__ = ["SkipList", "skip_list"]


class SkipList:
    """Steps (inclusive ranges) and batch identifiers to skip.

    Args:
      steps: ``[first, last]`` ranges (or single step numbers).
      batches: batch identifiers, as recorded (numbers or strings).
    """

    def __init__(self, steps: Iterable[Any] = (), batches: Iterable[Any] = ()) -> None:
        ranges: list[tuple[int, int]] = []
        for item in steps:
            if isinstance(item, bool):
                raise InputError("skip_steps", item, "skip_items")
            if isinstance(item, int):
                ranges.append((item, item))
                continue
            try:
                first, last = (int(x) for x in item)
            except (TypeError, ValueError):
                raise InputError("skip_steps", item, "skip_items") from None
            if last < first:
                raise InputError("skip_steps", list(item), "skip_range")
            ranges.append((first, last))
        self.ranges = sorted(ranges)
        self.batches = list(batches)
        self._batch_set = {_key(b) for b in self.batches}

    @classmethod
    def coerce(cls, value: Any) -> SkipList:
        """Accept a :class:`SkipList`, its JSON dict, a path to that JSON, or step numbers."""
        if isinstance(value, SkipList):
            return value
        if isinstance(value, (str, Path)):
            try:
                value = json.loads(Path(value).read_text(encoding="utf-8"))
            except OSError as e:
                raise InputError(
                    "skip_steps", str(value), "skip_file", "os_error", reason=e
                ) from None
            except json.JSONDecodeError as e:
                raise InputError(
                    "skip_steps", str(value), "skip_file", "json_error", detail=e
                ) from None
        if isinstance(value, Mapping):
            return cls(value.get("steps", ()), value.get("batches", ()))
        return cls(value)

    def has_step(self, step: int) -> bool:
        """Whether ``step`` falls in one of the ranges."""
        return any(first <= step <= last for first, last in self.ranges)

    def has_batch(self, batch: Any) -> bool:
        """Whether the batch identifier ``batch`` is listed."""
        return _key(batch) in self._batch_set

    def to_json(self) -> dict[str, Any]:
        """Return the JSON form ``{"steps": [[first, last], ...], "batches": [...]}``."""
        return {"steps": [list(r) for r in self.ranges], "batches": list(self.batches)}

    def __len__(self) -> int:
        return sum(last - first + 1 for first, last in self.ranges)


def _key(batch: Any) -> Any:
    """A hashable, JSON-stable form of a batch identifier (lists become tuples)."""
    if isinstance(batch, list):
        return tuple(_key(b) for b in batch)
    return batch


def _ranges(steps: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s in sorted(set(steps)):
        if out and s == out[-1][1] + 1:
            out[-1] = (out[-1][0], s)
        else:
            out.append((s, s))
    return out


def skip_list(records: Iterable[StepRecord]) -> SkipList:
    """Return the steps (and their batches) that were skipped, spiking or rolled back.

    A rollback also lists the steps it undid (from the restored snapshot's step to the
    rollback), since their updates were thrown away with it. A bad step whose re-run was
    healthy (``rerun.verdict == "transient"``: a fault of the moment, not of its batch) is
    not listed; one whose re-run was bad again (``"reproducible"``) is.
    """
    steps: list[int] = []
    batches: list[Any] = []
    by_step = {}
    for r in records:
        by_step[r.step] = r
    for r in by_step.values():
        bad = r.action != "step" or r.kind == "spike"
        if r.kind == "amp_skip":
            bad = False  # AMP's scale search, not a bad batch
        if r.rerun_verdict == "transient":
            bad = False  # healthy when re-run on the same batch: the batch is not to blame
        if not bad:
            continue
        undone = [r.step]
        if r.action == "rollback" and isinstance(r.extra.get("restored_step"), int):
            undone = list(range(int(r.extra["restored_step"]), r.step + 1))
        for s in undone:
            steps.append(s)
            rec = by_step.get(s)
            if rec is not None and "batch" in rec.extra:
                batches.append(rec.extra["batch"])
    unique: list[Any] = []
    seen = set()
    for b in batches:
        if _key(b) not in seen:
            seen.add(_key(b))
            unique.append(b)
    return SkipList(_ranges(steps), unique)
