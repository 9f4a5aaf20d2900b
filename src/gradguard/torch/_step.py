"""The guard's step, written once: classify → decide → coefficient → the record's fields.

One function, :func:`judge_step`, classifies a measured step and decides what to do with
it; :func:`clip_step` works out the clip coefficient of a step that is taken and scales
the gradients by it. Both run on either of two backends:

- :class:`HostOps` — host numbers, after the step's one read of its statistics (the
  default mode, ``sync=True``: Python floats are faster than any kernel launch on small
  steps, and its rules' host arithmetic is what ``gradguard replay`` runs);
- :class:`DeviceOps` — 0-d tensors on the device, nothing read (``sync=False``): the
  rules' device forms (their state as tensors), the decision and the kind looked up in
  tables built from :func:`gradguard.rules.decide` and :func:`gradguard.records.classify`
  (the one definition of each), the coefficient by ``torch.where``, never an ``if``.

The step's outcome is a dict of named fields (:data:`FIELDS`): the numeric fields of
:class:`~gradguard.records.StepRecord` (the kind, the action and what flagged the step as
codes) and the guard's own bookkeeping (the outcome, the bad steps in a row).
``sync=False`` stacks them into one float64 vector in that order, reads it when the copy
has arrived, and both modes turn the fields into the record with :func:`record_of`.

Why ``sync=True`` keeps host numbers rather than running :class:`DeviceOps` and reading
the record vector once: on the CPU the device step costs more than the host step, well
beyond the 3 % the default mode may lose — it always multiplies the gradients (by 1 when
nothing is clipped) and runs the rules and the decision as small tensor operations.
``python benchmarks/bench_scale.py --device-read --step-only`` and
``python benchmarks/bench_guard.py --device-read`` time both in one run (figures, machine
and load: docs/benchmarks.md, "The guard at scale"). So each rule keeps a host form (also
what ``replay`` runs) beside its device form, held equal by tests.

The learning is split from the judging — :func:`judge_step` returns what each rule would
learn, :func:`learn` keeps it — so a step judged twice (a re-run of a bad step) is learned
once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from gradguard.records import ACTIONS, KINDS, StepRecord, classify, make_record, step_fields
from gradguard.rules import OUTCOMES, Decision, Policy, Rule, decide
from gradguard.torch._clip import clip_coef
from gradguard.torch._effects import scale_grads_

if TYPE_CHECKING:
    from gradguard.torch._clippers import Clipper
    from gradguard.torch._stats import GradStats, HostGradStats

__all__: list[str] = []  # internal: SpikeGuard runs it

F64 = torch.float64
NAN = math.nan
#: What flagged a step, by code: nothing, NaN/inf, a norm that overflowed with finite
#: entries, the spike rule, the loss rule (named per guard: :attr:`Plan.flagged`).
NONE, NONFINITE, OVERFLOW, SPIKE, LOSS = range(5)
#: A measurement the step did not take (max |g|, the update ratio), in the device vector.
NOT_MEASURED = -1.0
KIND = {k: i for i, k in enumerate(KINDS)}
OUTCOME = {o: i for i, o in enumerate(OUTCOMES)}
ACTION = {a: i for i, a in enumerate(ACTIONS)}
#: The fields of one step, in the order ``sync=False`` stacks them: StepRecord's fields
#: judged from the step (:func:`gradguard.records.step_fields`: kind, action and
#: flagged_by as codes), then the guard's bookkeeping.
RECORD_FIELDS = step_fields()
FIELDS = (*RECORD_FIELDS, "outcome", "consecutive_bad")


@dataclass
class Measured:
    """One step's measurements: host numbers (``sync=True``) or 0-d device tensors.

    Attributes:
      grad_norm: the pre-clip total norm (float64; re-measured in float64 on the host
        when float32 overflowed with finite entries).
      nonfinite_count: gradient tensors holding NaN/inf.
      loss: the loss (NaN when not given: see ``has_loss``).
      found_inf: whether the grad scaler found inf/NaN (False without one).
      max_abs: max |g| (``None`` on the host, :data:`NOT_MEASURED` on the device, when
        it was not measured; NaN is a NaN entry).
      has_loss: whether the step was given a loss.
    """

    grad_norm: Any
    nonfinite_count: Any
    loss: Any
    found_inf: Any
    max_abs: Any
    has_loss: bool


@dataclass
class Plan:
    """What one guard decides by: its policies and limits, and their device tables.

    Built once per guard. The device tables are :func:`gradguard.rules.decide` and
    :func:`gradguard.records.classify` evaluated on every case, so the device looks up
    what the host computes.
    """

    on_nonfinite: Policy
    on_spike: Policy
    rollback_after: int | None
    max_rollbacks: int
    spike_name: str | None = None
    loss_name: str | None = None
    tables: dict[str, Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        loss = None if self.loss_name is None else f"loss:{self.loss_name}"
        #: What each flag code is called in the records.
        self.flagged: tuple[str | None, ...] = (
            None,
            "nonfinite",
            "overflow",
            self.spike_name,
            loss,
        )
        self._decided: dict[tuple[str, int, int], Decision] = {}

    def decide(self, kind: str, bad: int, rollbacks: int) -> Decision:
        """:func:`gradguard.rules.decide` with this guard's policy for ``kind`` (remembered:
        a pure function of its arguments, asked the same few questions every step)."""
        key = (kind, bad, rollbacks)
        decision = self._decided.get(key)
        if decision is None:
            if len(self._decided) > 1024:  # (a long run of bad steps without rollback)
                self._decided.clear()
            decision = self._decided[key] = decide(
                kind,
                self.on_spike if kind == "spike" else self.on_nonfinite,
                bad,
                rollbacks,
                rollback_after=self.rollback_after,
                max_rollbacks=self.max_rollbacks,
            )
        return decision

    def build_tables(self, device: torch.device) -> None:
        """Tabulate :meth:`decide` and :func:`classify` for the device step."""
        ra, mr = self.rollback_after, self.max_rollbacks
        outcome, slope, offset = [], [], []
        for kind in KINDS:
            for reach in (False, True):
                for exhausted in (False, True):
                    # Two bad counts of the same class fit the count's update a·bad + b.
                    if ra is None:
                        bads = (0, 1)
                    elif reach:
                        bads = (ra - 1, ra)
                    else:
                        bads = (0, 1) if ra > 2 else (0, 0)
                    rb = mr if exhausted else 0
                    d0, d1 = (self.decide(kind, b, rb) for b in bads)
                    a = 0 if bads[0] == bads[1] else (d1.consecutive_bad - d0.consecutive_bad)
                    outcome.append(OUTCOME[d0.outcome])
                    slope.append(a)
                    offset.append(d0.consecutive_bad - a * bads[0])
        kinds = [
            KIND[classify(loss_finite=lf, grad_finite=gf, clipped=cl, spike=sp, amp_skip=amp)]
            for amp in (False, True)
            for sp in (False, True)
            for cl in (False, True)
            for gf in (False, True)
            for lf in (False, True)
        ]

        def on(values: list[int]) -> Tensor:
            return torch.tensor(values, dtype=torch.int64, device=device)

        self.tables = {
            "outcome": on(outcome),
            "slope": on(slope),
            "offset": on(offset),
            "kind": on(kinds),
        }


class HostOps:
    """The step on host numbers: Python floats, ints and bools."""

    device = False
    true = True

    @staticmethod
    def isfinite(x: float) -> bool:
        return math.isfinite(x)

    @staticmethod
    def where(c: bool, a: Any, b: Any) -> Any:
        return a if c else b

    @staticmethod
    def not_(a: bool) -> bool:
        return not a

    @staticmethod
    def judge(learner: Rule, x: float, when: bool) -> tuple[float, bool, float, Any]:
        """The rule's verdict on ``x`` where ``when`` (else none); and what it would learn."""
        if not when:
            return NAN, False, NAN, None
        v = learner.judge(x)
        threshold = NAN if v.threshold is None else v.threshold
        return threshold, v.flagged, NAN if v.clip_to is None else v.clip_to, v

    @staticmethod
    def learn(learner: Rule, x: float, verdict: Any, when: bool) -> None:
        if when:
            learner.learn(x, verdict)

    @staticmethod
    def classify(plan: Plan, **flags: bool) -> int:
        return KIND[classify(**flags)]

    @staticmethod
    def decide(plan: Plan, kind: int, bad: int, rollbacks: int) -> tuple[int, int]:
        d = plan.decide(KINDS[kind], bad, rollbacks)
        return OUTCOME[d.outcome], d.consecutive_bad


class DeviceLearner:
    """A rule's device form and its state (a dict of tensors), for :class:`DeviceOps`."""

    def __init__(self, rule: Rule, device: torch.device) -> None:
        assert rule.device is not None
        self.rule = rule
        self.form = rule.device(rule, device)
        self.state = self.form.state()

    def store(self) -> None:
        """Write the state into the host rule (a copy to the host: for checkpoints)."""
        self.form.store(self.state)


class DeviceOps:
    """The step on 0-d device tensors: ``torch.where`` for every choice, nothing read."""

    device = True

    def __init__(self, device: torch.device) -> None:
        self.true = torch.ones((), dtype=torch.bool, device=device)

    isfinite = staticmethod(torch.isfinite)
    where = staticmethod(torch.where)

    @staticmethod
    def not_(a: Tensor) -> Tensor:
        return ~a

    @staticmethod
    def judge(learner: DeviceLearner, x: Tensor, when: Tensor) -> tuple[Any, Any, Any, Any]:
        judgement, new = learner.form.judge(learner.state, x)
        return judgement.threshold, judgement.flagged, judgement.clip_to, new

    @staticmethod
    def learn(learner: DeviceLearner, x: Tensor, new: Any, when: Tensor) -> None:
        learner.state = {k: torch.where(when, new[k], v) for k, v in learner.state.items()}

    @staticmethod
    def classify(
        plan: Plan, loss_finite: Any, grad_finite: Any, clipped: Any, spike: Any, amp_skip: Any
    ) -> Tensor:
        bits = [loss_finite, grad_finite, clipped, spike, amp_skip]
        index = torch.zeros((), dtype=torch.int64, device=plan.tables["kind"].device)
        for i, b in enumerate(bits):
            index = index + (torch.as_tensor(b).to(torch.int64) << i)
        return plan.tables["kind"].index_select(0, index.reshape(1)).reshape(())

    @staticmethod
    def decide(plan: Plan, kind: Tensor, bad: Tensor, rollbacks: Tensor) -> tuple[Tensor, Tensor]:
        ra = plan.rollback_after
        reach = (bad + 1 >= ra) if ra is not None else torch.zeros_like(bad, dtype=torch.bool)
        exhausted = rollbacks >= plan.max_rollbacks
        index = (kind * 4 + reach.to(torch.int64) * 2 + exhausted.to(torch.int64)).reshape(1)
        t = plan.tables
        outcome = t["outcome"].index_select(0, index).reshape(())
        new_bad = t["slope"].index_select(0, index).reshape(()) * bad
        return outcome, new_bad + t["offset"].index_select(0, index).reshape(())


@dataclass
class Judged:
    """What :func:`judge_step` found: the kind before clipping, the decision, what to learn.

    ``amp`` is the grad scaler's own skip (it found inf/NaN in a step with a finite loss).
    """

    kind: Any
    outcome: Any
    consecutive_bad: Any
    take: Any
    amp: Any
    grad_finite: Any
    judged: Any
    spike_threshold: Any
    loss_threshold: Any
    flagged_by: Any
    lessons: list[tuple[Any, Any, Any]]


def judge_step(
    ops: Any,
    plan: Plan,
    m: Measured,
    spike: Any,
    loss: Any,
    bad: Any,
    rollbacks: Any,
) -> Judged:
    """Classify a measured step and decide what to do with it (the rules learn nothing yet).

    A step whose loss or gradients are not finite is ``nonfinite`` (unless it is the grad
    scaler's own inf: ``amp_skip``); only a finite step is judged by the spike and loss
    rules, and a finite step whose norm is still infinite (float32 overflow that could not
    be measured again) is a spike no rule can judge.

    Args:
      ops: :class:`HostOps` or a :class:`DeviceOps`.
      plan: the guard's policies and tables.
      m: the step's measurements.
      spike, loss: the spike and loss rules' learners (host rules, or
        :class:`DeviceLearner`), or ``None``.
      bad, rollbacks: bad steps in a row so far, rollbacks so far.
    """
    loss_finite = ops.isfinite(m.loss) if m.has_loss else ops.true
    grad_finite = m.nonfinite_count == 0
    amp = m.found_inf & loss_finite
    judged = grad_finite & loss_finite & ops.not_(amp)
    is_spike = judged & ops.not_(ops.isfinite(m.grad_norm))
    healthy = (grad_finite & loss_finite) | amp
    by = ops.where(is_spike, OVERFLOW, ops.where(healthy, NONE, NONFINITE))
    thresholds = {}
    lessons = []
    for learner, x, code, name in (
        (spike, m.grad_norm, SPIKE, "spike"),
        (loss, m.loss, LOSS, "loss"),
    ):
        if learner is None or (name == "loss" and not m.has_loss):
            thresholds[name] = NAN
            continue
        threshold, flagged, _, lesson = ops.judge(learner, x, judged)
        thresholds[name] = ops.where(judged, threshold, NAN)
        flagged = flagged & judged
        by = ops.where(flagged & (by == NONE), code, by)
        is_spike = is_spike | flagged
        lessons.append((learner, x, lesson))
    kind = ops.classify(
        plan,
        loss_finite=loss_finite,
        grad_finite=grad_finite,
        clipped=False,
        spike=is_spike,
        amp_skip=amp,
    )
    outcome, new_bad = ops.decide(plan, kind, bad, rollbacks)
    return Judged(
        kind=kind,
        outcome=outcome,
        consecutive_bad=new_bad,
        take=outcome == OUTCOME["step"],
        amp=amp,
        grad_finite=grad_finite,
        judged=judged,
        spike_threshold=thresholds["spike"],
        loss_threshold=thresholds["loss"],
        flagged_by=by,
        lessons=lessons,
    )


def learn(ops: Any, judged: Judged) -> None:
    """Let the spike and loss rules learn the step they judged (once)."""
    for learner, x, lesson in judged.lessons:
        ops.learn(learner, x, lesson, judged.judged)


@dataclass
class Clipped:
    """What clipping did to a step: coefficient, post-clip norm, threshold, whether it acted."""

    clip_coef: Any
    grad_norm_clipped: Any
    threshold: Any
    clipped: Any


def clip_step(
    ops: Any,
    clipper: Clipper,
    learner: Any,
    named: Any,
    stats: GradStats,
    host: HostGradStats | None,
    m: Measured,
    take: Any,
    grad_finite: Any,
) -> Clipped:
    """Clip a taken step: the clipper's rule gives the target, :func:`clip_coef` the factor.

    On the host the gradients are multiplied only when the coefficient is below 1 (the
    clipper's own :meth:`~gradguard.torch.Clipper.clip_`, given the step's statistics);
    on the device always, by 1 where nothing is clipped (``torch.where``, never an
    ``if``), and never by NaN. A clipper with no rule of one norm (AdaGC) clips by its
    own device coefficients. A clipper of the optimizer's update leaves the gradients
    alone: what it did is known after the step (:func:`update_clipped`).
    """
    if clipper.side == "update":
        return Clipped(NAN, m.grad_norm, NAN, False)
    if not ops.device:
        if not take:
            return Clipped(NAN, NAN, NAN, False)
        assert host is not None
        res = clipper.clip_(named, stats, host)
        threshold = NAN if res.threshold is None else res.threshold
        return Clipped(res.clip_coef, res.total_norm_clipped, threshold, res.clipped)
    total = m.grad_norm
    ok = take & grad_finite
    if learner is None:  # a clipper with its own device coefficients (AdaGC)
        res = clipper.clip_device_(named, stats, ok)  # type: ignore[attr-defined]
        return Clipped(res.clip_coef, res.total_norm_clipped, res.threshold, res.clipped)
    threshold, _, clip_to, lesson = ops.judge(learner, total, take)
    ops.learn(learner, total, lesson, take)
    coef = clip_coef(stats.total_norm, clip_to)
    valid = ok & ~torch.isnan(clip_to) & torch.isfinite(total)
    coef = torch.where(valid, coef, torch.ones_like(coef))
    assert stats.grouped is not None
    scale_grads_(stats.grouped, coef)
    coef = coef.to(F64)
    return Clipped(coef, total * coef, threshold.to(F64), coef < 1)


def update_clipped(ops: Any, clipper: Clipper, m: Measured, take: Any) -> Clipped:
    """What a clipper of the optimizer's update did on a step just taken (or not).

    Its coefficient is the step's smallest per-tensor one; the gradients' norm is as
    measured (they were not scaled). Read on the host in the default mode — the step's
    second read, after ``optimizer.step()`` — and left on the device with ``sync=False``.
    """
    coef, acted, threshold = clipper.scaled_update()
    if not ops.device:
        if not take:
            return Clipped(NAN, NAN, NAN, False)
        value, flag = torch.stack([coef, acted.to(F64)]).tolist()
        return Clipped(value, m.grad_norm, threshold, flag > 0)
    device = m.grad_norm.device
    return Clipped(coef.to(device), m.grad_norm, threshold, acted.to(device) & take)


def fields_of(
    ops: Any,
    m: Measured,
    j: Judged,
    c: Clipped | None,
    amp_scale: Any,
    update_ratio: Any,
) -> dict[str, Any]:
    """The step's named fields (:data:`FIELDS`), on the host or on the device."""
    if c is None:
        c = Clipped(NAN, m.grad_norm, NAN, False)
    kind = ops.where(j.take & c.clipped & (j.kind == KIND["ok"]), KIND["clipped"], j.kind)
    rollback = j.outcome == OUTCOME["rollback"]
    action = ops.where(
        rollback, ACTION["rollback"], ops.where(j.take, ACTION["step"], ACTION["skip"])
    )
    return {
        "grad_norm": m.grad_norm,
        "max_abs": m.max_abs,
        "nonfinite_count": m.nonfinite_count,
        "loss": m.loss,
        "clip_coef": c.clip_coef,
        "grad_norm_clipped": c.grad_norm_clipped,
        "threshold": c.threshold,
        "kind": kind,
        "action": action,
        "amp_scale": amp_scale,
        "spike_threshold": j.spike_threshold,
        "loss_threshold": j.loss_threshold,
        "flagged_by": j.flagged_by,
        "update_ratio": update_ratio,
        "outcome": j.outcome,
        "consecutive_bad": j.consecutive_bad,
    }


def vector_of(fields: dict[str, Any], layer_norms: Tensor | None) -> Tensor:
    """Stack the device fields in :data:`FIELDS` order (then the layer norms) into one vector."""
    device = fields["grad_norm"].device
    parts = [
        fields[name].to(device=device, dtype=F64).reshape(1)
        if isinstance(fields[name], Tensor)
        else torch.full((1,), fields[name], dtype=F64, device=device)  # (filled there: no copy)
        for name in FIELDS
    ]
    if layer_norms is not None:
        parts.append(layer_norms.to(device=device, dtype=F64))
    return torch.cat(parts)


def fields_from_vector(values: list[float]) -> tuple[dict[str, Any], list[float]]:
    """Read :func:`vector_of`'s values back by name; the rest are the layer norms."""
    n = len(FIELDS)
    return dict(zip(FIELDS, values[:n], strict=True)), values[n:]


def _value(x: Any) -> float | None:
    """A recorded number: ``None`` for "none" (NaN, or not given)."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def _measured(x: Any) -> float | None:
    """A measurement that may be NaN: ``None`` only when not measured (``None``, or -1)."""
    return None if x is None or x == NOT_MEASURED else float(x)


def record_of(
    step: int,
    fields: dict[str, Any],
    plan: Plan,
    *,
    has_loss: bool,
    clipping: bool,
    layer_norms: dict[str, float] | None,
    lr: float | None,
    time: float,
    run: str | None,
) -> StepRecord:
    """The step's record from its fields (host numbers) — for both modes.

    Args:
      step: the step index; fields: :data:`FIELDS` as host numbers.
      plan: names what flagged the step; has_loss: whether a loss was given.
      clipping: the guard has a clipper (a taken step records its coefficient).
      layer_norms, lr, time, run: recorded as given.
    """
    action = ACTIONS[int(fields["action"])]
    taken = action == "step"
    coef = _value(fields["clip_coef"]) if clipping and taken else None
    count = fields["nonfinite_count"]
    return make_record(
        step,
        grad_norm=float(fields["grad_norm"]),
        max_abs=_measured(fields["max_abs"]),
        nonfinite_count=int(count),
        loss=float(fields["loss"]) if has_loss else None,
        clip_coef=coef,
        grad_norm_clipped=_value(fields["grad_norm_clipped"]) if coef is not None else None,
        threshold=_value(fields["threshold"]) if coef is not None else None,
        action=action,
        kind=KINDS[int(fields["kind"])],
        lr=lr,
        amp_scale=_value(fields["amp_scale"]),
        layer_norms=layer_norms,
        update_ratio=_measured(fields["update_ratio"]),
        run=run,
        time=time,
        spike_threshold=_value(fields["spike_threshold"]),
        loss_threshold=_value(fields["loss_threshold"]),
        flagged_by=plan.flagged[int(fields["flagged_by"])],
    )
