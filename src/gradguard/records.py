"""The step record: one JSON line per optimizer step, shared by every part of gradguard.

The remedy runner (``gradguard remedies``), the guard in a user's training loop
(``gradguard.torch``), ``gradguard replay`` and ``gradguard report`` all write or
read this one format. It is documented in ``docs/records.md``; this module is
its reference implementation (stdlib only, so reading a log never imports torch).

A log is a UTF-8 file of JSON objects, one per line. Each object has ``"v"``
(the format version, :data:`VERSION`) and ``"type"``:

- ``"run"`` — optional header lines with free-form metadata (configuration,
  model, seed); any keys.
- ``"step"`` — a :class:`StepRecord`.

Non-finite floats are written as the strings ``"nan"``, ``"inf"`` and
``"-inf"`` (plain JSON has no NaN), and read back as floats.

Writes are crash-safe: each line goes to the file in a single ``os.write`` on a
descriptor opened with ``O_APPEND``, so a crash loses at most the last record
and leaves at most one partial final line, which :func:`read_log` skips and
reports instead of failing.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from gradguard._atomic import write_text_atomic
from gradguard._catalog import SOURCE, load_catalog
from gradguard._validate import check_choice
from gradguard.errors import CallError, FileError, InputError

__all__ = [
    "ACTIONS",
    "KINDS",
    "VERSION",
    "Log",
    "RecordError",
    "RecordWriter",
    "RunLog",
    "StepCounts",
    "StepRecord",
    "classify",
    "count_steps",
    "make_record",
    "read_log",
    "step_fields",
    "write_log",
]

VERSION = 1
#: What happened to the optimizer step.
ACTIONS = ("step", "skip", "rollback")
#: Why: the step's classification.
KINDS = ("ok", "clipped", "nonfinite", "spike", "amp_skip")


#: A :class:`StepRecord` field's metadata marking the step's context (its index, learning
#: rate, per-layer norms, run, time, extra keys), as opposed to the numbers judged from
#: its gradients and loss — one each: see :func:`step_fields`.
_CONTEXT = {"context": True}


def step_fields() -> tuple[str, ...]:
    """The :class:`StepRecord` fields a step's judging computes, one number each
    (``kind``, ``action`` and ``flagged_by`` as codes), in the record's order: every field
    not marked as context. The guard's device step carries them in one vector."""
    return tuple(f.name for f in fields(StepRecord) if not f.metadata.get("context"))


class RecordError(FileError):
    """A log line could not be read; the message names the file and the line."""


class _NoStepKey(ValueError):
    """A step record without its ``step`` key (read_log names the file and the line)."""


@dataclass
class StepRecord:
    """One optimizer step, as every gradguard component records it.

    Attributes:
      step: index of the optimizer step (0-based), counting skipped steps too.
      loss: the training loss at this step (may be non-finite).
      grad_norm: total gradient norm *before* clipping (``norm_type`` norm over
        all parameters, globally reduced under DDP/FSDP); non-finite if any
        gradient entry is.
      grad_norm_clipped: total norm after clipping (equals ``grad_norm`` when
        clipping did not act; ``None`` when no step was taken).
      clip_coef: the factor the gradients were multiplied by (``1.0`` = untouched).
      threshold: the clipping threshold in force (fixed ``max_norm`` or the
        adaptive clipper's current value); ``None`` without clipping.
      action: ``"step"``, ``"skip"`` or ``"rollback"`` (see :data:`ACTIONS`).
      kind: ``"ok"``, ``"clipped"``, ``"nonfinite"``, ``"spike"`` or
        ``"amp_skip"`` (see :data:`KINDS`).
      lr: learning rate of the first parameter group.
      max_abs: largest ``|g|`` over all gradient entries (``None``: not measured; the
        guard reads it on steps with per-layer norms, on non-finite steps and for value
        clipping).
      nonfinite_count: number of parameter tensors whose gradient holds a NaN or inf.
      update_ratio: ``‖Δθ‖ / ‖θ‖`` of the update taken (``None`` if not measured).
      amp_scale: the AMP grad scaler's scale, when one is used.
      layer_norms: per-layer (module) gradient norms, when recorded this step.
      run: identifier of the run (``"divergence/none/seed0"``), optional.
      time: seconds since the run started, optional.
      spike_threshold: the gradient-norm spike rule's threshold in force at this step
        (``None``: no rule, or the rule is still warming up).
      loss_threshold: the loss rule's threshold in force (``None``: no loss rule, or
        warming up).
      flagged_by: what flagged the step, when something did: ``"nonfinite"`` (NaN/inf
        in the loss or a gradient; not on an ``amp_skip``), ``"overflow"`` (finite
        entries, infinite norm), the spike rule's name (``"spike-mad"``…), or
        ``"loss:"`` + the loss rule's name.
      extra: any further keys, kept verbatim (forward compatibility).

    Three fields are derived, so a record cannot contradict itself: :attr:`clipped`,
    :attr:`grad_finite` and :attr:`loss_finite` (written into the JSON line for its
    readers, recomputed when a line is read).
    """

    # The step's numbers, judged from its gradients and loss, are plain fields; the
    # context the caller knows (``_CONTEXT``) is marked, so that the guard's device
    # vector — one number per unmarked field — is derived from this list.
    step: int = field(metadata=_CONTEXT)
    loss: float | None = None
    grad_norm: float | None = None
    grad_norm_clipped: float | None = None
    clip_coef: float | None = None
    threshold: float | None = None
    action: str = "step"
    kind: str = "ok"
    lr: float | None = field(default=None, metadata=_CONTEXT)
    max_abs: float | None = None
    nonfinite_count: int = 0
    update_ratio: float | None = None
    amp_scale: float | None = None
    layer_norms: dict[str, float] | None = field(default=None, metadata=_CONTEXT)
    run: str | None = field(default=None, metadata=_CONTEXT)
    time: float | None = field(default=None, metadata=_CONTEXT)
    spike_threshold: float | None = None
    loss_threshold: float | None = None
    flagged_by: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, metadata=_CONTEXT)

    def __post_init__(self) -> None:
        check_choice(self.action, "action", ACTIONS)
        check_choice(self.kind, "kind", KINDS)

    @property
    def clipped(self) -> bool:
        """Whether clipping acted: ``clip_coef < 1``."""
        return self.clip_coef is not None and self.clip_coef < 1.0

    @property
    def grad_finite(self) -> bool:
        """Whether every gradient entry is finite: ``nonfinite_count == 0``."""
        return self.nonfinite_count == 0

    @property
    def rerun_verdict(self) -> str | None:
        """A re-run step's verdict, ``"transient"`` (healthy again: taken with the re-run's
        gradients) or ``"reproducible"`` (bad again); ``None`` for a step not re-run."""
        value = self.extra.get("rerun")
        if isinstance(value, Mapping):
            value = value.get("verdict")
        return value if value in ("transient", "reproducible") else None

    @property
    def loss_finite(self) -> bool:
        """Whether the loss is finite (or not known)."""
        return self.loss is None or math.isfinite(self.loss)

    def to_json(self) -> str:
        """Return the record as one JSON line (no trailing newline)."""
        # A shallow walk over the fields: dataclasses.asdict deep-copies (much slower),
        # and the remedy runner writes one record per training step.
        out: dict[str, Any] = {"v": VERSION, "type": "step"}
        for name in _FIELD_NAMES:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        out.update(self.extra)
        return json.dumps(_encode(out), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StepRecord:
        """Build a record from a decoded JSON object (unknown keys go to ``extra``).

        The derived keys (``clipped``, ``grad_finite``, ``loss_finite``) are recomputed;
        a line that has only them (written by hand) still says what they say: a
        non-finite gradient counts one tensor, a non-finite loss is NaN.
        """
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        derived: dict[str, Any] = {}
        for key, value in data.items():
            if key in ("v", "type"):
                continue
            if key in _DERIVED:
                derived[key] = value
                continue
            (kwargs if key in _FIELDS else extra)[key] = _decode(value)
        if "step" not in kwargs:
            raise _NoStepKey("a step record needs the key 'step'")
        if derived.get("grad_finite") is False and "nonfinite_count" not in kwargs:
            kwargs["nonfinite_count"] = 1
        if derived.get("loss_finite") is False and kwargs.get("loss") is None:
            kwargs["loss"] = math.nan
        return cls(**kwargs, extra=extra)


_FIELDS = frozenset(f.name for f in fields(StepRecord)) - {"extra"}
_DERIVED = ("clipped", "loss_finite", "grad_finite")
#: The keys of a JSON line, in format version 1's order (the derived ones where they were).
_FIELD_NAMES = (
    "step", "loss", "grad_norm", "grad_norm_clipped", "clip_coef", "clipped", "threshold",
    "action", "kind", "lr", "max_abs", "nonfinite_count", "loss_finite", "grad_finite",
    "update_ratio", "amp_scale", "layer_norms", "run", "time", "spike_threshold",
    "loss_threshold", "flagged_by",
)  # fmt: skip


def classify(
    *,
    loss_finite: bool,
    grad_finite: bool,
    clipped: bool,
    spike: bool = False,
    amp_skip: bool = False,
) -> str:
    """Return the step's kind: ``amp_skip`` > ``nonfinite`` > ``spike`` > ``clipped`` > ``ok``."""
    if amp_skip:
        return "amp_skip"
    if not (loss_finite and grad_finite):
        return "nonfinite"
    if spike:
        return "spike"
    return "clipped" if clipped else "ok"


def make_record(
    step: int,
    *,
    grad_norm: float,
    max_abs: float | None,
    nonfinite_count: int,
    loss: float | None = None,
    clip_coef: float | None = None,
    grad_norm_clipped: float | None = None,
    threshold: float | None = None,
    action: str = "step",
    kind: str | None = None,
    **recorded: Any,
) -> StepRecord:
    """Build the record of one optimizer step from its host numbers — the one constructor.

    The guard, the monitor, the remedy runner and :func:`gradguard.torch.stats.step_record`
    build their records here, so that the fields derived from others mean the same
    everywhere: ``grad_norm_clipped`` is ``None`` unless the step was taken, and ``kind``
    is :func:`classify`'s unless given.

    Args:
      step: the optimizer step index (0-based, skipped steps included).
      grad_norm: the pre-clip total gradient norm.
      max_abs: the largest ``|g|``; nonfinite_count: gradient tensors holding NaN/inf.
      loss: the step's loss (``None``: not known).
      clip_coef: the factor the gradients were scaled by (``None``: no clipping in use).
      grad_norm_clipped: the measured post-clip norm, when clipping was not one
        coefficient (value or unit-wise clipping); by default ``grad_norm × clip_coef``
        (``grad_norm`` itself without clipping). Given alone, ``clip_coef`` is its ratio
        to ``grad_norm``.
      threshold: the clipping threshold in force; action: ``"step"``, ``"skip"`` or
        ``"rollback"``; kind: the classification (derived when ``None``).
      **recorded: the other fields of :class:`StepRecord` (``lr``, ``amp_scale``,
        ``layer_norms``, ``update_ratio``, ``run``, ``time``, ``spike_threshold``,
        ``loss_threshold``, ``flagged_by``, ``extra``), as given.

    Returns:
      The :class:`StepRecord`.
    """
    if grad_norm_clipped is not None:
        post = grad_norm_clipped
        if clip_coef is None:  # one measured post-clip norm: its ratio to the norm
            ok = math.isfinite(grad_norm) and grad_norm > 0
            clip_coef = post / grad_norm if ok else 1.0
    elif clip_coef is None:
        post = grad_norm
    elif math.isfinite(grad_norm) and math.isfinite(clip_coef):
        post = grad_norm * clip_coef
    else:
        post = math.nan
    if kind is None:
        kind = classify(
            loss_finite=loss is None or math.isfinite(loss),
            grad_finite=nonfinite_count == 0,
            clipped=clip_coef is not None and clip_coef < 1.0,
        )
    recorded["extra"] = dict(recorded.get("extra") or {})
    return StepRecord(
        step=step,
        loss=loss,
        grad_norm=grad_norm,
        grad_norm_clipped=post if action == "step" else None,
        clip_coef=clip_coef,
        threshold=threshold,
        action=action,
        kind=kind,
        max_abs=max_abs,
        nonfinite_count=nonfinite_count,
        **recorded,
    )


def _encode(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _decode(value: Any) -> Any:
    if isinstance(value, str) and value in _NONFINITE:
        return _NONFINITE[value]
    if isinstance(value, dict):
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


class RecordWriter:
    """Append records to a JSONL log, one atomic ``os.write`` per line.

    Use as a context manager or call :meth:`close`. ``fsync=True`` forces each
    line to disk (slower; for runs where a power cut must not lose a record).

    Example::

        with RecordWriter("run.jsonl") as log:
            log.write_meta({"model": "lstm", "seed": 0})
            log.write(StepRecord(step=0, loss=0.5, grad_norm=1.2))
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = False) -> None:
        self.path = Path(path)
        self._fsync = fsync
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def _write_line(self, line: str) -> None:
        if self._fd is None:
            raise CallError("log_closed", path=self.path)
        os.write(self._fd, (line + "\n").encode("utf-8"))
        if self._fsync:
            os.fsync(self._fd)

    def write(self, record: StepRecord) -> None:
        """Append one step record."""
        self._write_line(record.to_json())

    def write_meta(self, meta: Mapping[str, Any]) -> None:
        """Append a ``"run"`` header line holding ``meta``."""
        data = {"v": VERSION, "type": "run", **meta}
        self._write_line(json.dumps(_encode(data), ensure_ascii=False, separators=(",", ":")))

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class RunLog:
    """One run of a log: its header lines and its step records, in order.

    Attributes:
      name: the run's identifier (the records' ``run`` key), or ``None``.
      meta: the ``"run"`` header lines that opened it, merged (later keys win).
      steps: its step records.
    """

    name: str | None
    meta: dict[str, Any]
    steps: list[StepRecord]


@dataclass
class Log:
    """A log as read back: run headers, step records, and whether the tail was cut.

    Attributes:
      meta: every ``"run"`` header line, in order.
      steps: every step record, in order (all runs together).
      truncated_tail: the last line was cut off (a crash mid-write) and skipped.
      runs: the same records split into runs (see :func:`read_log`).
    """

    meta: list[dict[str, Any]]
    steps: list[StepRecord]
    truncated_tail: bool = False
    runs: list[RunLog] = field(default_factory=list)


@dataclass(frozen=True)
class StepCounts:
    """What a run's records say happened — the one count ``replay`` and ``report`` print.

    Attributes:
      steps: step records.
      taken: steps the optimizer took (``action == "step"``).
      clipped: taken steps whose gradients clipping scaled down.
      skipped: steps the guard withheld (``action == "skip"``, AMP's own skips excluded).
      rollbacks: steps at which the guard rolled back (``action == "rollback"``; that
        step was withheld too).
      amp_skipped: steps the AMP grad scaler skipped itself (kind ``amp_skip``).
      nonfinite: steps with a NaN/inf loss or gradient.
      spikes: steps a spike rule flagged.
    """

    steps: int
    taken: int
    clipped: int
    skipped: int
    rollbacks: int
    amp_skipped: int
    nonfinite: int
    spikes: int

    def counts_text(self, lang: str = SOURCE) -> str:
        """Return what happened in ``lang``, one phrase per kind of step that occurred:
        ``"80 clipped, 7 skipped"`` (a kind no step had is not named; ``""`` if none occurred)."""
        words = load_catalog(lang)
        kinds = ("clipped", "skipped", "rollbacks", "nonfinite", "spikes", "amp_skipped")
        return ", ".join(
            words.get(f"replay.recorded_{k}", n=getattr(self, k)) for k in kinds if getattr(self, k)
        )

    def describe(self, lang: str = SOURCE) -> str:
        """Return the counts as one line in ``lang``: ``"220 steps: 80 clipped, 7 skipped"``."""
        counts = self.counts_text(lang)
        key = "replay.recorded" if counts else "replay.recorded_none"
        return load_catalog(lang).get(key, steps=self.steps, counts=counts)


def count_steps(steps: Iterable[StepRecord]) -> StepCounts:
    """Count what happened in ``steps`` (one run's records); see :class:`StepCounts`."""
    n = taken = clipped = skipped = rollbacks = amp = nonfinite = spikes = 0
    for r in steps:
        n += 1
        if r.action == "step":
            taken += 1
            clipped += bool(r.clipped)
        elif r.action == "rollback":
            rollbacks += 1
        elif r.kind == "amp_skip":
            amp += 1
        else:
            skipped += 1
        nonfinite += r.kind == "nonfinite" or not (r.loss_finite and r.grad_finite)
        spikes += r.kind == "spike"
    return StepCounts(n, taken, clipped, skipped, rollbacks, amp, nonfinite, spikes)


def _split_runs(items: list[tuple[str, Any]]) -> list[RunLog]:
    """Split a log's lines, in file order, into runs.

    A ``"run"`` header after step records opens a new run (a guard writes one each time
    it starts, so a log appended to by a second run reads as two); so does a step index
    that goes backwards within one run name (runs appended without headers). Records
    with different ``run`` names (a remedies log) are separate runs.
    """
    runs: list[RunLog] = []
    header: dict[str, Any] = {}
    open_runs: dict[str | None, RunLog] = {}
    after_steps = False
    for kind, item in items:
        if kind == "run":
            if after_steps:
                open_runs, header, after_steps = {}, {}, False
            header = {**header, **item}
            continue
        after_steps = True
        current = open_runs.get(item.run)
        if current is not None and item.step < current.steps[-1].step:
            current = None
        if current is None:
            current = RunLog(item.run, dict(header), [])
            open_runs[item.run] = current
            runs.append(current)
        current.steps.append(item)
    return runs


def _lines(path: Path) -> Iterator[tuple[int, str, bool]]:
    with path.open("r", encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            yield number, line, line.endswith("\n")


def read_log(path: str | os.PathLike[str]) -> Log:
    """Read a JSONL log written by :class:`RecordWriter` (or by hand, same format).

    A partial last line (no newline, not valid JSON: what a crash mid-write
    leaves) is skipped and reported in ``Log.truncated_tail``. Any other bad
    line raises :class:`RecordError` naming the file and the line number.

    ``Log.runs`` holds the records split into runs: a ``"run"`` header line after
    step records starts a new run (every guard writes one when it starts), and so
    does a step index going backwards.

    Raises:
      RecordError: the file is missing, not a log, or has a malformed line.
    """
    p = Path(path)
    if p.is_dir():
        raise RecordError(p, "log_is_folder")
    if not p.is_file():
        raise RecordError(p, "no_log")
    meta: list[dict[str, Any]] = []
    steps: list[StepRecord] = []
    order: list[tuple[str, Any]] = []
    truncated = False
    try:
        rows = list(_lines(p))
    except UnicodeDecodeError as e:
        raise RecordError(p, "not_utf8", reason=e.reason) from None
    except OSError as e:  # e.g. no permission to read it
        raise RecordError(p, "unreadable", reason=e) from None
    for number, line, complete in rows:
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as e:
            if not complete and number == len(rows):
                truncated = True
                break
            raise RecordError(f"{p}:{number}", "not_json", reason=e.msg, column=e.colno) from None
        if not isinstance(data, dict) or "v" not in data:
            raise RecordError(f"{p}:{number}", "not_record")
        if data["v"] != VERSION:
            raise RecordError(f"{p}:{number}", "version", found=data["v"], version=VERSION)
        kind = data.get("type", "step")
        if kind == "run":
            meta.append({k: _decode(v) for k, v in data.items() if k not in ("v", "type")})
            order.append(("run", meta[-1]))
        elif kind == "step":
            try:
                steps.append(StepRecord.from_dict(data))
            except _NoStepKey:
                raise RecordError(f"{p}:{number}", "no_step_key") from None
            except InputError as e:
                raise RecordError(f"{p}:{number}", "bad_step", cause=e) from None
            except (TypeError, ValueError) as e:
                raise RecordError(f"{p}:{number}", "bad_step", reason=e) from None
            order.append(("step", steps[-1]))
        else:
            raise RecordError(f"{p}:{number}", "record_type", found=kind)
    return Log(meta=meta, steps=steps, truncated_tail=truncated, runs=_split_runs(order))


def write_log(path: str | os.PathLike[str], records: Iterable[StepRecord]) -> None:
    """Write ``records`` to a new log at ``path`` atomically (temp file + rename)."""
    write_text_atomic(path, "".join(r.to_json() + "\n" for r in records))
