"""The guard's books: a decided step becomes its record; counters, rollback or error follow.

Both modes end a step here (:func:`settle`) with its fields on the host — ``sync=True``
at once, ``sync=False`` when the copy has arrived: the record is built, the bad steps in a
row are counted, a rollback restores the snapshot, the ``"raise"`` policy or one rollback
too many raises :class:`GuardError`, and healthy steps count towards the next snapshot.
A step opens here too (:func:`begin_step`: the log's header, a snapshot that is due).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gradguard._catalog import load_catalog
from gradguard.records import StepRecord
from gradguard.rules import OUTCOMES
from gradguard.torch import _persist as persist
from gradguard.torch._provenance import batch_id, listed
from gradguard.torch._sinks import emit
from gradguard.torch._step import record_of

if TYPE_CHECKING:
    from gradguard.torch._persist import Guard

__all__ = ["GuardError"]


class GuardError(RuntimeError):
    """Raised by the ``"raise"`` policy (or too many rollbacks); carries the step record.

    Attributes:
      record: the step's :class:`~gradguard.records.StepRecord`.
      reason: ``"raised"`` (the policy) or ``"gave_up"`` (``max_rollbacks`` rollbacks did
        not help); ``fields`` and ``seen`` (the last bad records): the message's parts.
    """

    def __init__(
        self,
        reason: str,
        record: StepRecord,
        seen: tuple[StepRecord, ...] = (),
        **fields: Any,
    ) -> None:
        self.reason, self.record, self.seen, self.fields = reason, record, seen, fields
        super().__init__(self.message())

    def message(self, lang: str = "en") -> str:
        """The message in ``lang`` (the ``guard`` section of the message catalog)."""
        words = load_catalog(lang)
        r = self.record
        fields = {"step": r.step, "kind": r.kind, "grad_norm": r.grad_norm, "loss": r.loss}
        if self.reason == "raised":
            option = "on_spike" if r.kind == "spike" else "on_nonfinite"
            return words.get("guard.raised", option=option, **fields)
        seen = "; ".join(
            words.get("guard.seen_no_loss" if b.loss is None else "guard.seen", **vars(b))
            for b in self.seen
        )
        restored = self.fields["restored"]  # (None: a restore= function that did not say)
        to = "" if restored is None else words.get("guard.restored_to", step=restored)
        return words.get("guard.gave_up", seen=seen, to=to, **{**self.fields, **fields})


def settle(g: Guard, step: int, fields: dict[str, Any], meta: dict[str, Any]) -> StepRecord:
    """Record a decided step and keep the books: bad steps, rollback, give up, snapshots.

    Both modes end here, with the step's fields on the host: ``sync=True`` at once,
    ``sync=False`` when its copy has arrived.
    """
    record = record_of(
        step,
        fields,
        g.plan,
        has_loss=meta["has_loss"],
        clipping=g.clipper is not None,
        layer_norms=meta["layers"],
        lr=meta["lr"],
        time=meta["time"],
        run=g.run,
    )
    again = meta.get("rerun")  # a bad step run again on its batch (gradguard.torch._rerun)
    if again is not None:
        record.extra["rerun"] = again.to_json()
        if again.verdict == "reproducible" and meta["batch"] is not None:
            g.rerun_skips.append(batch_id(meta["batch"]))  # bad twice: the guard's skip list
    outcome = OUTCOMES[int(fields["outcome"])]
    healthy = outcome == "step" and record.kind in ("ok", "clipped")
    if record.kind != "amp_skip":  # (the scaler's own overflow: the next step judges it)
        _judge_staged(g, step, healthy)
    g.consecutive_bad = int(fields["consecutive_bad"])
    if record.kind in ("nonfinite", "spike") and record.action != "step":
        g._recent_bad.append(record)  # for the GuardError's account of what it saw
    if outcome in ("raise", "give_up"):
        record_step(g, record, meta["batch"])
        raise GuardError(
            "raised" if outcome == "raise" else "gave_up",
            record,
            tuple(g._recent_bad),
            bad=g.consecutive_bad,
            rollbacks=g.rollbacks,
            restored=g._restored_step,
            max_rollbacks=g.max_rollbacks,
        )
    if outcome == "rollback":
        record.extra["restored_step"] = g.rollback()
    elif healthy:
        g._healthy_since_snapshot += 1
        # Snapshot at the start of the next step, after the caller's scheduler.step()
        # and other end-of-iteration work, so the snapshot is a consistent state.
        g._snapshot_due = persist.snapshots_on(g) and g._healthy_since_snapshot >= g.snapshot_every
    return record_step(g, record, meta["batch"])


def _judge_staged(g: Guard, step: int, healthy: bool) -> None:
    """Commit the snapshot staged at the start of a step if ``step`` — that step, or the
    first after it that is not an AMP overflow skip — was healthy; else drop it (the state
    it holds made a bad step: weights corrupted between two steps, say; the snapshot
    before it stays) and make the next healthy step call for a new one.
    """
    staged = g.snapshot.pending_step
    if staged is None or staged > step:  # (sync=False: an earlier step's record)
        return
    if healthy:
        g.snapshot.commit()
        return
    g.snapshot.drop()
    g._healthy_since_snapshot = max(g._healthy_since_snapshot, g.snapshot_every - 1)


def begin_step(g: Guard) -> int:
    """Open a step: the log's header, a snapshot that is due; return the step's index."""
    step = g.step_count
    _write_header(g)  # before any of this run's records (sync=False: written later)
    if g._found_snapshot:  # not resumed from it: this run's own first snapshot
        g._found_snapshot = False
        if persist.snapshots_on(g):
            persist.replace_found_snapshot(g)
    if g._snapshot_due:
        # At the start of a step (after the caller's scheduler.step()), staged: the
        # step's verdict commits it (healthy) or drops it (settle).
        g.snapshot.stage(persist.snapshot_state(g), step)
        g._healthy_since_snapshot = 0
        g._snapshot_due = False
    g.step_count += 1
    return step


def _write_header(g: Guard) -> None:
    """Open this run in the log with the guard's header, once, at its first step.

    At the first step, not at construction: a checkpoint loaded in between
    (``load_state_dict``) is the rules' real starting state.
    """
    if g._header_written:
        return
    g._header_written = True
    if g.log is not None:
        meta: dict[str, Any] = {"guard": g.header(), "first_step": g.step_count}
        if g.run is not None:
            meta["run"] = g.run
        g.log.write_meta(meta)


def record_step(g: Guard, record: StepRecord, batch: Any = None) -> StepRecord:
    """Send ``record`` to the log, TensorBoard and the hooks, with its batch where it tells
    something (a step not taken, a spike, a re-run)."""
    rerun_step = "rerun" in record.extra
    if batch is not None and (record.action != "step" or record.kind == "spike" or rerun_step):
        record.extra["batch"] = batch_id(batch)
    return emit(record, g.log, g.tensorboard, g.hooks)


def skip_batch(g: Guard, batch: Any) -> bool:
    """:meth:`SpikeGuard.skip_batch`: count the batch; whether the loop should skip it."""
    position = g._batches_seen
    g._batches_seen += 1
    if g._skip_remaining > 0:
        g._skip_remaining -= 1
        return True
    if batch is not None and g.rerun_skips and batch_id(batch) in g.rerun_skips:
        return True  # a batch whose bad step was bad again when re-run
    return g.skip_steps is not None and listed(g.skip_steps, position, batch)
