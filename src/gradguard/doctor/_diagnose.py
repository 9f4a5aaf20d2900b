"""The diagnosis: one run's step records → what went bad, why it looks so, what to change.

Pure functions of the records (stdlib only: no torch, no numpy). Each conclusion is a
:class:`Finding`: a message id of the catalogs' ``[doctor]`` section and its evidence —
the steps and values the sentence quotes — so the same finding reads in every language
and as JSON. Where the log lacks what a conclusion needs (batch ids, re-runs, per-layer
norms), the finding says so (``cannot_tell``) and names what to record next time.

The conclusions and the evidence each rests on:

- **Bad steps**: records of kind ``nonfinite`` or ``spike``, grouped into *episodes*
  (bad records one after another, a rollback included).
- **A recurring batch (data)**: one batch identifier (``guard.step(loss, batch=…)``) on
  two or more bad steps, counted as flagged on those steps; where the log names the batch
  on steps that were not flagged too (the guard names it on flagged steps only), out of
  every step that names it. Without identifiers, episodes at a common period (≥ 3 of them,
  every gap a multiple of the shortest) are *consistent with* the same batch each epoch.
- **A learning rate too high**: the instability builds up — in the two steps before an
  episode the norm already stands :data:`RAMP`× above its median — in at least two
  episodes (or in the one episode that ends the run). A bad batch or a hardware fault
  jumps from a normal step in one step.
- **Only at the higher learning rates**: several sudden episodes, none while the learning
  rate was below the lowest at which one began (every such step healthy), and random
  episodes unlikely (:data:`CHANCE`) to fall so: consistent with a learning rate too high.
- **A one-off**: one short episode from a normal step; transient or a bad batch seen
  once — re-runs tell which.
- **Sudden jumps**: several episodes, no batch in two of them, no period, none at the
  higher learning rates only; in the two steps before each episode whose build-up can be
  measured (at least two, and two thirds of the episodes) the norm stood below
  :data:`RAMP`× its median: each went bad at once from a normal step — a bad batch's or a
  transient fault's signature, not a learning rate's.
- **Scattered**: several episodes, no batch in two of them, no period, and neither a
  build-up nor sudden jumps throughout (some built up, some did not, or too few could be
  measured).
- **One layer growing**: on the steps with per-layer norms, one layer's median norm over
  the last third of them is :data:`LAYER_GROWTH`× its median over the first third, and
  :data:`LAYER_APART`× the next layer's growth — or it is the only layer that grew
  :data:`LAYER_GROWTH`×.
- **Every layer growing**: every layer's median grew :data:`LAYER_GROWTH`× or more, none
  :data:`LAYER_APART`× ahead of the next: the whole network's gradients grow (the learning
  rate or its warm-up, or the loss's scale), and the finding names the fastest.
- **Some layers growing**: some layers' medians grew :data:`LAYER_GROWTH`× or more and the
  others' did not, none :data:`LAYER_APART`× ahead of the next: those layers, by name.
- **Re-runs** (records that carry ``rerun``: ``"transient"`` or ``"reproducible"``, or
  ``{"verdict": …, "grad_norm": …}``): their verdicts, quoted.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from gradguard.errors import InputError
from gradguard.records import RunLog, StepRecord, count_steps
from gradguard.skiplist import SkipList

__all__ = [
    "CAUSES",
    "LAYER_APART",
    "LAYER_GROWTH",
    "RAMP",
    "TOPICS",
    "Diagnosis",
    "Episode",
    "Finding",
    "diagnose",
]

#: The norm before an episode, in multiples of its median, that counts as a build-up.
RAMP = 2.0
#: A layer's growth (median of the last third / the first third of its recorded norms).
LAYER_GROWTH = 4.0
#: …and how many times the next-fastest layer's growth it must be, to be "one layer".
LAYER_APART = 3.0
#: Healthy steps before an episode that its baseline median is taken over.
BASELINE = 20
#: Per-layer records needed to judge a trend.
MIN_LAYER_RECORDS = 6
#: At most this chance that random episodes all begin above the healthy learning rates.
CHANCE = 0.05
#: Clipping acting on more than this share of taken steps reads as a smaller learning rate.
CLIP_SHARE = 0.5

#: The finding's subject, in the order the doctor tells them.
TOPICS = ("what", "layers", "pattern", "rerun", "guard", "replay", "change")
#: The diagnosed cause of a run (``Diagnosis.cause``).
CAUSES = (
    "clean",
    "recurring_batch",
    "recurring_index",
    "periodic",
    "lr_too_high",
    "lr_onset",
    "one_off",
    "sudden",
    "scattered",
    "layer_growth",
    "all_layers_growth",
    "some_layers_growth",
)


@dataclass(frozen=True)
class Finding:
    """One conclusion and its evidence.

    Attributes:
      topic: what it is about (:data:`TOPICS`).
      key: its message id in the catalogs' ``[doctor]`` section.
      evidence: the values the sentence quotes (steps, norms, counts), JSON-ready.
      cannot_tell: the log lacks what this conclusion needs; the sentence says what to
        record next time.
    """

    topic: str
    key: str
    evidence: dict[str, Any] = field(default_factory=dict)
    cannot_tell: bool = False


@dataclass(frozen=True)
class Episode:
    """Bad steps one after another.

    Attributes:
      steps: their step indices.
      kinds: their kinds (``nonfinite``, ``spike``).
      actions: what the guard did with each (``step``, ``skip``, ``rollback``).
      peak: the largest finite norm among them (``None``: none finite).
      baseline: the median norm of the healthy steps before it (``None``: too few).
      ramp: the geometric mean of the two norms just before it over ``baseline``
        (``None``: those steps were not both healthy and taken).
      lr: the learning rate at its first step.
      batches: the batch identifiers its records carry.
      baseline_n: how many healthy steps ``baseline`` is the median of (up to
        :data:`BASELINE`: the doctor's own figure, not the spike rule's window).
    """

    steps: list[int]
    kinds: list[str]
    actions: list[str]
    peak: float | None
    baseline: float | None
    ramp: float | None
    lr: float | None
    batches: list[Any]
    baseline_n: int = 0

    @property
    def first(self) -> int:
        return self.steps[0]


@dataclass
class Diagnosis:
    """What the doctor found in one run.

    Attributes:
      run: the run's name (``None``: unnamed).
      steps: its step records, in order.
      episodes: its bad steps, grouped.
      cause: the diagnosed cause (:data:`CAUSES`).
      findings: the conclusions, in :data:`TOPICS` order.
      growing_layer: the one layer whose gradient grew (``None``: none found, or every
        layer grew: the finding ``layers_all_grow``).
    """

    run: str | None
    steps: list[StepRecord]
    episodes: list[Episode]
    cause: str
    findings: list[Finding]
    growing_layer: str | None = None

    @property
    def bad_steps(self) -> list[int]:
        """Every bad step, in order."""
        return [s for e in self.episodes for s in e.steps]

    def messages(self) -> list[str]:
        """The findings' message ids, in order (what a test checks)."""
        return [f.key for f in self.findings]


def _bad(r: StepRecord) -> bool:
    return r.kind in ("nonfinite", "spike")


def _healthy(r: StepRecord) -> bool:
    return (
        r.action == "step"
        and r.kind in ("ok", "clipped")
        and r.grad_norm is not None
        and math.isfinite(r.grad_norm)
    )


def _num(x: float | None) -> float | None:
    """A JSON-ready float: ``None`` for a missing or non-finite value."""
    return float(x) if x is not None and math.isfinite(x) else None


def _episodes(records: Sequence[StepRecord]) -> list[Episode]:
    out: list[Episode] = []
    i = 0
    n = len(records)
    while i < n:
        if not _bad(records[i]):
            i += 1
            continue
        j = i
        while j + 1 < n and _bad(records[j + 1]) and records[j].action != "rollback":
            j += 1
        group = records[i : j + 1]
        window = records[max(0, i - BASELINE - 2) : i]
        before = [float(r.grad_norm) for r in window if _healthy(r) and r.grad_norm is not None]
        baseline = statistics.median(before[:-2]) if len(before) >= 8 else None
        baseline_n = len(before[:-2]) if baseline is not None else 0
        ramp = None
        last_two = records[max(0, i - 2) : i]
        if baseline and len(last_two) == 2 and all(_healthy(r) for r in last_two):
            a, b = (float(r.grad_norm) for r in last_two)  # type: ignore[arg-type]
            ramp = math.sqrt(a * b) / baseline
        finite = [r.grad_norm for r in group if r.grad_norm is not None]
        finite = [x for x in finite if math.isfinite(x)]
        out.append(
            Episode(
                steps=[r.step for r in group],
                kinds=[r.kind for r in group],
                actions=[r.action for r in group],
                peak=max(finite) if finite else None,
                baseline=baseline,
                ramp=ramp,
                lr=records[i].lr,
                batches=[r.extra["batch"] for r in group if "batch" in r.extra],
                baseline_n=baseline_n,
            )
        )
        i = j + 1
    return out


def _key(batch: Any) -> Any:
    return tuple(_key(b) for b in batch) if isinstance(batch, list) else batch


def epoch_index(batch: Any) -> tuple[int, int] | None:
    """``(epoch, index)`` of a trainer's batch id ``[epoch, index]`` (the Lightning and
    Hugging Face callbacks record them so), else ``None``."""
    if (
        isinstance(batch, (list, tuple))
        and len(batch) == 2
        and all(isinstance(b, int) and not isinstance(b, bool) and b >= 0 for b in batch)
    ):
        return int(batch[0]), int(batch[1])
    return None


def _index_recurs(records: Sequence[StepRecord]) -> dict[int, tuple[list[int], list[int]]]:
    """Batch index → (its epochs, its bad steps), for the indices of ``[epoch, index]`` ids
    that went bad in two epochs or more. The same index in two epochs is the same data
    only if the loader does not shuffle: the log cannot tell which."""
    by_index: dict[int, tuple[list[int], list[int]]] = {}
    for r in records:
        ei = epoch_index(r.extra.get("batch")) if _bad(r) else None
        if ei is not None:
            epochs, steps = by_index.setdefault(ei[1], ([], []))
            if ei[0] not in epochs:
                epochs.append(ei[0])
            steps.append(r.step)
    return {i: v for i, v in by_index.items() if len(v[0]) >= 2}


def _period(onsets: Sequence[int]) -> int | None:
    """The common period of ≥ 3 onsets (every gap a multiple of the shortest), or None."""
    if len(onsets) < 3:
        return None
    gaps = [b - a for a, b in pairwise(onsets)]
    p = min(gaps)
    if p < 2 or any(g % p for g in gaps):
        return None
    return p


def _layer_growth(records: Sequence[StepRecord]) -> tuple[Finding | None, str | None]:
    rows = [r for r in records if r.layer_norms and not _bad(r)]
    if len(rows) < MIN_LAYER_RECORDS:
        return None, None
    third = len(rows) // 3
    early, late = rows[:third], rows[-third:]
    growth: dict[str, tuple[float, float, float]] = {}
    for name in rows[0].layer_norms or {}:
        a = [(r.layer_norms or {}).get(name) for r in early]
        b = [(r.layer_norms or {}).get(name) for r in late]
        a_f = [x for x in a if x is not None and math.isfinite(x)]
        b_f = [x for x in b if x is not None and math.isfinite(x)]
        if len(a_f) < 2 or len(b_f) < 2:
            continue
        m_a, m_b = statistics.median(a_f), statistics.median(b_f)
        if m_a > 0:
            growth[name] = (m_b / m_a, m_a, m_b)
    if len(growth) < 2:
        return None, None
    ranked = sorted(growth.items(), key=lambda kv: kv[1][0], reverse=True)
    (name, (g, m_a, m_b)), (_, (g2, _, _)) = ranked[0], ranked[1]
    if g < LAYER_GROWTH:
        return None, None
    others = [v[0] for k, v in growth.items() if k != name]
    evidence = {
        "layer": name,
        "factor": g,
        "early": m_a,
        "late": m_b,
        "early_steps": [early[0].step, early[-1].step],
        "late_steps": [late[0].step, late[-1].step],
        "others": len(others),
        "others_lo": min(others),
        "others_hi": max(others),
    }
    if g >= LAYER_APART * max(g2, 1.0):
        return Finding("layers", "layer_grows", evidence), name
    if min(others) >= LAYER_GROWTH:
        # Every layer grows, none LAYER_APART× ahead: what grows is common to the whole
        # network (the step size: learning rate, warm-up; or the loss's scale), not one
        # layer's inputs.
        return Finding("layers", "layers_all_grow", evidence), None
    # Some layers grew LAYER_GROWTH× or more and the others did not, none LAYER_APART× ahead
    # of the next: those layers, by name.
    grown = [k for k, v in ranked if v[0] >= LAYER_GROWTH]
    rest = [v[0] for _, v in ranked if v[0] < LAYER_GROWTH]
    if len(grown) == 1:  # the only layer that grew LAYER_GROWTH×: one layer grows
        return Finding("layers", "layer_grows", evidence), name
    evidence.update(
        layers=grown,
        n=len(grown),
        of=len(growth),
        growth=LAYER_GROWTH,
        rest=len(rest),
        rest_lo=min(rest),
        rest_hi=max(rest),
    )
    return Finding("layers", "layers_some_grow", evidence), None


def _first_layers(records: Sequence[StepRecord], episodes: Sequence[Episode]) -> list[Finding]:
    """Which layer went bad first: the layer norms on the first bad step that has them."""
    by_step = {r.step: r for r in records}
    with_layers = [r for r in records if r.layer_norms]
    for e in episodes:
        for s in e.steps:
            r = by_step[s]
            if not r.layer_norms:
                continue
            bad = [k for k, v in r.layer_norms.items() if not math.isfinite(v)]
            if bad:
                return [
                    Finding(
                        "layers",
                        "layers_nonfinite",
                        {"step": s, "layers": bad, "n": len(bad), "of": len(r.layer_norms)},
                    )
                ]
            # A finite spike: each layer against its own median on earlier healthy steps.
            past = [q for q in with_layers if q.step < s and not _bad(q)]
            ratios = []
            for name, v in r.layer_norms.items():
                hist = [(q.layer_norms or {}).get(name) for q in past]
                hist_f = [x for x in hist if x is not None and math.isfinite(x) and x > 0]
                if len(hist_f) >= 3:
                    ratios.append((v / statistics.median(hist_f), name, v))
            if not ratios:
                continue
            ratios.sort(reverse=True)
            top = ratios[0]
            second = ratios[1] if len(ratios) > 1 else (1.0, "", 0.0)
            return [
                Finding(
                    "layers",
                    "layer_spiked",
                    {
                        "step": s,
                        "layer": top[1],
                        "ratio": top[0],
                        "value": top[2],
                        "next": second[1] or "–",
                        "next_ratio": second[0],
                    },
                )
            ]
    first = episodes[0]
    evidence: dict[str, Any] = {"recorded": len(with_layers), "steps": len(records)}
    out = [Finding("layers", "layers_unknown", evidence, cannot_tell=True)]
    counts = [by_step[s].nonfinite_count for s in first.steps if by_step[s].nonfinite_count]
    if counts:
        key = "tensors_nonfinite_one" if min(counts) == 1 else "tensors_nonfinite"
        out.append(Finding("layers", key, {"step": first.first, "count": min(counts)}))
    return out


def _rerun(r: StepRecord) -> tuple[str, float | None] | None:
    value = r.extra.get("rerun")
    if isinstance(value, str) and value in ("transient", "reproducible"):
        return value, None
    if isinstance(value, Mapping) and value.get("verdict") in ("transient", "reproducible"):
        norm = value.get("grad_norm")
        return str(value["verdict"]), float(norm) if isinstance(norm, (int, float)) else None
    return None


def _transient(r: StepRecord) -> bool:
    return r.rerun_verdict == "transient"


def _guard_cost(run: RunLog, records: Sequence[StepRecord]) -> list[Finding]:
    counts = count_steps(records)
    out: list[Finding] = []
    # The taken steps whose updates the final weights still hold: a rollback to the
    # snapshot of step r (taken before step r ran) throws away every step from r on.
    alive: list[int] = []
    undone: list[tuple[int, int, int]] = []  # (rollback step, restored step, steps undone)
    for r in records:
        if r.action == "step":
            alive.append(r.step)
        restored = r.extra.get("restored_step")
        if r.action == "rollback" and isinstance(restored, int):
            kept = [s for s in alive if s < restored]
            undone.append((r.step, restored, len(alive) - len(kept)))
            alive = kept
    lost_rollback = sum(u[2] for u in undone)
    # (A bad step re-run as transient was taken with its healthy re-run's gradients.)
    taken_bad = [r.step for r in records if _bad(r) and r.action == "step" and not _transient(r)]
    lost = counts.steps - len(alive) if undone else counts.skipped + counts.rollbacks
    unknown = counts.rollbacks - len(undone)
    out.append(
        Finding(
            "guard",
            "guard_did_unknown" if unknown else "guard_did",
            {
                "unknown": unknown,
                "skipped": counts.skipped,
                "rollbacks": counts.rollbacks,
                "taken_bad": len(taken_bad),
                "lost": lost,
                "steps": counts.steps,
                "share": lost / counts.steps if counts.steps else 0.0,
            },
        )
    )
    if undone:
        worst = max(undone, key=lambda u: u[2])
        out.append(
            Finding(
                "guard",
                "rollbacks_undid",
                {
                    "n": len(undone),
                    "undone": lost_rollback,
                    "step": worst[0],
                    "restored": worst[1],
                    "most": worst[2],
                },
            )
        )
    if taken_bad:
        tail = records[-1]
        ruined = not (tail.loss_finite and tail.grad_finite)
        out.append(
            Finding(
                "guard",
                "took_bad_ruined" if ruined else "took_bad",
                {"n": len(taken_bad), "steps": taken_bad, "last": tail.step},
            )
        )
    header = run.meta.get("guard")
    limit = header.get("max_rollbacks") if isinstance(header, Mapping) else None
    if isinstance(limit, int) and counts.rollbacks >= limit and _bad(records[-1]):
        out.append(
            Finding("guard", "gave_up", {"step": records[-1].step, "rollbacks": counts.rollbacks})
        )
    if isinstance(header, Mapping) and counts.rollbacks and header.get("skip_batches"):
        out.append(Finding("guard", "skipped_batches", {"n": int(header["skip_batches"])}))
    return out


def _replay(records: Sequence[StepRecord], episodes: Sequence[Episode]) -> list[Finding]:
    """What the skip rules would have done on this norm trace (``gradguard replay``): every
    replayable rule of :data:`gradguard.rules.RULES` that skips, at replay's defaults."""
    from gradguard.rules import RULES, ReplayOptions, Rule, replay_trace

    traced = [r for r in records if r.grad_norm is not None]
    if not traced:
        return []
    steps = [r.step for r in traced]
    norms = [float(r.grad_norm) for r in traced]  # type: ignore[arg-type]
    target = {s for e in episodes for s, k in zip(e.steps, e.kinds, strict=True) if k == "spike"}
    options = ReplayOptions()
    rules: dict[str, Rule] = {
        name: rule.for_replay(options)
        for name, rule in RULES.items()
        if rule.action == "skip" and rule.replay_needs is None
    }
    params = {name: rule.parameters() for name, rule in rules.items()}  # before the replay
    result = replay_trace(steps, norms, rules)
    out = []
    for rr in result.rules:
        hit = set(rr.steps)
        caught = sorted(hit & target)
        others = sorted(hit - target)
        if not hit and not target:
            continue  # nothing to say: it would have flagged nothing, and nothing was flagged
        # a count of 0 is its own sentence ("none of the flagged spikes"), never "0 of"
        variant = (
            "_no_spikes"
            if not target
            else ("" if others else "_only_spikes")
            if caught
            else ("_missed" if others else "_none")
        )
        out.append(
            Finding(
                "replay",
                "replay_rule" + variant,
                {
                    "rule": rr.description,
                    # the rule told in the reader's language (gradguard.rules.describe_rule)
                    "rule_name": rr.rule,
                    "rule_params": params[rr.rule],
                    "caught": len(caught),
                    "spikes": len(target),
                    # the first of the steps the sentence puts it after: the flagged
                    # spikes it skipped, or (none of those) the other steps
                    "first": (caught or others)[0] if hit else None,
                    "others": len(others),
                    "per_k": 1000 * len(others) / len(traced),
                },
            )
        )
    if not out:
        names = "`, `".join(rules)  # the catalog puts the first and last backquote
        out.append(Finding("replay", "replay_quiet", {"rules": len(rules), "names": names}))
    # Finite steps re-run and found transient: the rules above judged their first run's
    # norm (as a guard sees a step before it re-runs it); the run took the re-run's.
    reran = [
        (r.step, float(r.grad_norm), v[1])  # type: ignore[arg-type]
        for r in traced
        if (v := _rerun(r)) is not None and v[0] == "transient" and math.isfinite(r.grad_norm)  # type: ignore[arg-type]
    ]
    if reran:
        out.append(
            Finding(
                "replay",
                "replay_rerun_norms",
                {"steps": [s for s, _, _ in reran], "n": len(reran), "pairs": reran},
            )
        )
    if result.nonfinite_steps:
        bad = set(result.nonfinite_steps)
        # Non-finite steps the run took all the same: re-run healthy (transient).
        taken = [r.step for r in traced if r.step in bad and _transient(r) and r.action == "step"]
        others = [s for s in result.nonfinite_steps if s not in set(taken)]
        n = len(result.nonfinite_steps)
        if not taken:
            out.append(Finding("replay", "replay_nonfinite", {"n": n, "steps": others}))
        elif not others:
            out.append(
                Finding("replay", "replay_nonfinite_all_transient", {"n": n, "steps": taken})
            )
        else:
            fields = {"n": n, "steps": result.nonfinite_steps, "transient": len(taken)}
            fields |= {"transient_steps": taken, "others": len(others), "others_steps": others}
            out.append(Finding("replay", "replay_nonfinite_transient", fields))
    return out


def _clip_advice(records: Sequence[StepRecord]) -> Finding | None:
    taken = [r for r in records if r.action == "step" and r.threshold is not None]
    if len(taken) < 20:
        return None
    clipped = sum(bool(r.clipped) for r in taken)
    share = clipped / len(taken)
    thresholds = {r.threshold for r in taken}
    if share <= CLIP_SHARE or len(thresholds) != 1:
        return None
    norms = sorted(float(r.grad_norm) for r in taken if _healthy(r))  # type: ignore[arg-type]
    if not norms:
        return None
    median = statistics.median(norms)
    q90 = norms[min(len(norms) - 1, math.ceil(0.9 * len(norms)) - 1)]
    return Finding(
        "change",
        "raise_threshold",
        {
            "share": share,
            "clipped": clipped,
            "taken": len(taken),
            "threshold": thresholds.pop(),
            "median": median,
            "q90": q90,
        },
    )


def _pattern(
    episodes: Sequence[Episode], records: Sequence[StepRecord]
) -> tuple[str, list[Finding], list[Finding]]:
    """Return the cause, the pattern findings and the advice that follows from them."""
    by_batch: dict[Any, tuple[Any, list[int]]] = {}
    for r in records:
        if _bad(r) and "batch" in r.extra:
            k = _key(r.extra["batch"])
            by_batch.setdefault(k, (r.extra["batch"], []))[1].append(r.step)
    # A step re-run on its batch and healthy there (transient) does not count against the
    # batch, as the skip list does not list it (gradguard.skiplist): a batch recurs on its
    # other flagged steps.
    cleared = {r.step for r in records if _bad(r) and _transient(r)}
    blamed = {k: [s for s in v[1] if s not in cleared] for k, v in by_batch.items()}
    recurring = {k: (v[0], blamed[k]) for k, v in by_batch.items() if len(blamed[k]) >= 2}
    # Every step that names a batch (a guard names it on flagged steps only; another
    # tool's log may name it on every step): how often a recurring batch came at all.
    named: dict[Any, list[int]] = {}
    for r in records:
        if "batch" in r.extra:
            named.setdefault(_key(r.extra["batch"]), []).append(r.step)
    index_recurs = {} if recurring else _index_recurs(records)
    with_ids = sum(len(v[1]) for v in by_batch.values())
    onsets = [e.first for e in episodes]
    pattern: list[Finding] = []
    change: list[Finding] = []
    ramps = [e for e in episodes if e.ramp is not None]
    ramped = [e for e in ramps if e.ramp is not None and e.ramp >= RAMP]
    last_ends_run = bool(episodes) and episodes[-1].steps[-1] == records[-1].step
    lr_high = len(ramped) >= 2 and len(ramped) * 3 >= 2 * len(ramps)
    lr_high = lr_high or (len(episodes) == 1 and len(ramped) == 1 and last_ends_run)
    # Sudden: no episode whose build-up can be measured built up, and enough of them can.
    jumped = len(ramps) >= 2 and not ramped and len(ramps) * 3 >= 2 * len(episodes)

    if recurring:
        k, (batch, steps) = max(recurring.items(), key=lambda kv: len(kv[1][1]))
        passed = [s for s in named[k] if s not in set(by_batch[k][1])]  # named, not flagged
        mine_cleared = [s for s in by_batch[k][1] if s in cleared]
        pattern.append(
            Finding(
                "pattern",
                "batch_recurs",
                {
                    "batch": batch,
                    "n": len(steps),
                    "steps": steps,
                    "batches": len(recurring),
                    "seen": len(named[k]) - len(mine_cleared),
                    "passed": passed,
                    "passed_n": len(passed),
                    "cleared": mine_cleared,
                },
            )
        )
        change.append(
            Finding(
                "change",
                "skip_batches",
                {"batches": [v[0] for v in recurring.values()], "n": len(recurring)},
            )
        )
        cause = "recurring_batch"
    elif index_recurs:
        index, (epochs, steps) = max(index_recurs.items(), key=lambda v: len(v[1][0]))
        pattern.append(
            Finding(
                "pattern",
                "index_recurs",
                {
                    "index": index,
                    "epochs": epochs,
                    "steps": steps,
                    "n": len(epochs),
                    "indices": len(index_recurs),
                },
            )
        )
        change.append(
            Finding(
                "change", "check_shuffle", {"indices": sorted(index_recurs), "n": len(index_recurs)}
            )
        )
        cause = "recurring_index"
    elif lr_high:
        lrs = [e.lr for e in ramped if e.lr is not None]
        pattern.append(
            Finding(
                "pattern",
                "builds_up",
                {
                    "n": len(ramped),
                    "of": len(episodes),
                    "steps": [e.first for e in ramped],
                    "lo": min(e.ramp for e in ramped if e.ramp is not None),
                    "hi": max(e.ramp for e in ramped if e.ramp is not None),
                    "ramp": RAMP,
                },
            )
        )
        if lrs:
            top = max((r.lr for r in records if r.lr is not None), default=max(lrs))
            pattern.append(
                Finding("pattern", "onset_lr", {"lo": min(lrs), "hi": max(lrs), "max": top})
            )
            change.append(Finding("change", "lower_lr", {"lr": min(lrs)}))
        else:
            change.append(Finding("change", "lower_lr_unknown", {}))
        cause = "lr_too_high"
    elif (p := _period(onsets)) is not None and not by_batch:
        pattern.append(Finding("pattern", "periodic", {"period": p, "steps": onsets}))
        change.append(Finding("change", "record_batches", {}))
        cause = "periodic"
    elif len(episodes) == 1:
        e = episodes[0]
        pattern.append(
            Finding(
                "pattern",
                "one_off",
                {
                    "steps": e.steps,
                    "n": len(e.steps),
                    "after": records[-1].step - e.steps[-1],
                    "ramp": e.ramp,
                    # Every bad step of it re-run, and bad again: not a fault of the moment.
                    "reproducible": all(
                        r.rerun_verdict == "reproducible" for r in records if r.step in e.steps
                    ),
                },
            )
        )
        change.append(_one_off_advice(e, records))
        cause = "one_off"
    else:
        gaps = [b - a for a, b in pairwise(onsets)]
        period = _period(onsets)  # (checked here too: with batch ids it was not above)
        pattern.append(
            Finding(
                "pattern",
                "scattered_period"
                if period
                else "scattered"
                if len(onsets) >= 3
                else "scattered_two",
                {
                    "n": len(episodes),
                    "steps": onsets,
                    "lo": min(gaps),
                    "hi": max(gaps),
                    "distinct": len(by_batch),
                    "period": period,
                },
            )
        )
        high_lr = _only_at_high_lr(episodes, records)
        if high_lr is not None:
            pattern.append(high_lr)
            change.append(Finding("change", "lower_lr", {"lr": high_lr.evidence["lo"]}))
            cause = "lr_onset"
        elif jumped:
            pattern.append(
                Finding(
                    "pattern",
                    "jumps",
                    {
                        "n": len(ramps),
                        "of": len(episodes),
                        "steps": [e.first for e in ramps],
                        "lo": min(e.ramp for e in ramps if e.ramp is not None),
                        "hi": max(e.ramp for e in ramps if e.ramp is not None),
                        "ramp": RAMP,
                    },
                )
            )
            cause = "sudden"
        else:
            cause = "scattered"
    twice = {k: v for k, v in by_batch.items() if len(v[1]) >= 2}  # (each one cleared)
    if not recurring and not index_recurs and twice:
        k, (batch, steps) = max(twice.items(), key=lambda kv: len(kv[1][1]))
        gone = [s for s in steps if s in cleared]
        evidence = {"batch": batch, "n": len(steps), "steps": steps, "cleared": gone}
        pattern.append(Finding("pattern", "batch_cleared", evidence | {"cleared_n": len(gone)}))
    elif not recurring and not index_recurs and with_ids >= 2:
        # a bad step bad again when re-run on its batch is not a transient fault
        again = [r.step for r in records if _bad(r) and (v := _rerun(r)) and v[0] == "reproducible"]
        pattern.append(
            Finding(
                "pattern",
                "batches_differ_reproducible" if again else "batches_differ",
                {"n": with_ids, "ids": len(by_batch), "steps": again, "again": len(again)},
            )
        )
    if not by_batch:
        pattern.append(Finding("pattern", "no_batch_ids", {"n": len(onsets)}, cannot_tell=True))
    return cause, pattern, change


def _only_at_high_lr(episodes: Sequence[Episode], records: Sequence[StepRecord]) -> Finding | None:
    """Episodes that began only once the learning rate was high (a warm-up too steep, a
    peak too high), though none built up: every step at a learning rate below the lowest
    one at which an episode began was healthy, and episodes striking at random would all
    have begun among the other steps with a chance of at most :data:`CHANCE`
    (``(high / total) ** episodes``). ``None`` where that does not hold or the log lacks
    the learning rate."""
    lrs = [r.lr for r in records]
    if len(episodes) < 2 or any(x is None or not math.isfinite(x) for x in lrs):
        return None
    onset = [float(e.lr) for e in episodes if e.lr is not None]
    lo = min(onset)
    low = [r for r in records if r.lr is not None and r.lr < lo]
    if not low or any(_bad(r) for r in low):
        return None
    high = len(records) - len(low)
    chance = (high / len(records)) ** len(episodes)
    if chance > CHANCE:
        return None
    return Finding(
        "pattern",
        "only_at_high_lr",
        {
            "lo": lo,
            "hi": max(onset),
            "max": max(x for x in lrs if x is not None),
            "low": len(low),
            "high": high,
            "n": len(episodes),
            "chance": chance,
        },
    )


def _one_off_advice(e: Episode, records: Sequence[StepRecord]) -> Finding:
    """What to change for a one-off episode: from its re-runs' verdicts where it has them
    (never "re-run them" for steps that were re-run)."""
    mine = [r for r in records if r.step in set(e.steps)]
    verdicts = {r.step: r.rerun_verdict for r in mine if r.rerun_verdict is not None}
    again = [s for s, v in verdicts.items() if v == "reproducible"]
    if again:
        return Finding("change", "nothing_reproducible", {"steps": again, "n": len(again)})
    if len(verdicts) == len(mine):  # every bad step re-run, healthy, and taken
        return Finding("change", "nothing_transient", {"steps": e.steps, "n": len(e.steps)})
    taken = [r.step for r in mine if r.action == "step" and not _transient(r)]
    if taken:
        return Finding("change", "nothing_taken", {"steps": taken})
    transient = [s for s, v in verdicts.items() if v == "transient"]
    if transient:  # some re-run (healthy, taken), the others withheld: no "re-run them"
        withheld = [r.step for r in mine if r.action != "step"]
        fields = {"steps": withheld, "transient": transient, "n": len(transient)}
        return Finding("change", "nothing_some_transient", fields)
    return Finding("change", "nothing", {"steps": e.steps})


def _skip_file(skip: SkipList, records: Sequence[StepRecord]) -> list[Finding]:
    """The skip list given beside the log: which of the log's bad batches it names."""
    bad = [r for r in records if _bad(r)]
    listed_batches = []
    by_index = []  # matched by a plain index (Lightning's skip list) in every epoch
    for r in bad:
        if "batch" not in r.extra:
            continue
        if skip.has_batch(r.extra["batch"]):
            listed_batches.append(r.step)
        elif (ei := epoch_index(r.extra["batch"])) is not None and skip.has_batch(ei[1]):
            listed_batches.append(r.step)
            by_index.append(r.step)
    listed_steps = [r.step for r in bad if skip.has_step(r.step)]
    out = [
        Finding(
            "pattern",
            "skip_file",
            {
                "batches": len(skip.batches),
                "ranges": len(skip.ranges),
                "bad": len(bad),
                "by_batch": listed_batches,
                "by_step": listed_steps,
            },
        )
    ]
    if by_index:
        out.append(Finding("pattern", "skip_file_index", {"steps": by_index}))
    return out


def diagnose(run: RunLog, skip: SkipList | None = None) -> Diagnosis:
    """Diagnose one run of a guard log.

    Args:
      run: one run (:attr:`gradguard.records.Log.runs`).
      skip: a skip list given beside the log (Lightning's ``skip_batches.json`` or
        gradguard's), to say which of the log's bad steps it names.

    Returns:
      The :class:`Diagnosis`: its cause and its findings with their evidence.

    Raises:
      InputError: the run has no step records (rule ``run_with_steps``).
    """
    records = list(run.steps)
    if not records:
        raise InputError("run", run.name, "run_with_steps")
    episodes = _episodes(records)
    counts = count_steps(records)
    clipped = sum(bool(r.clipped) for r in records if r.action == "step")
    findings: list[Finding] = []
    growth, growing = _layer_growth(records)
    span = {"steps": len(records), "first": records[0].step, "last": records[-1].step}
    if not episodes:
        findings.append(Finding("what", "clean", {**span, "clipped": clipped}))
        if growth is not None:
            findings.append(growth)
            findings.append(_growth_advice(growth))
        elif not any(r.layer_norms for r in records):
            findings.append(Finding("layers", "no_layer_norms", {}, cannot_tell=True))
        advice = _clip_advice(records)
        if advice is not None:
            findings.append(advice)
        if growth is None and advice is None:
            findings.append(Finding("change", "nothing_clean", {}))
        cause = "clean" if growth is None else _GROWTH_CAUSE[growth.key]
        return Diagnosis(run.name, records, episodes, cause, _ordered(findings), growing)

    findings.append(
        Finding(
            "what",
            "bad_steps",
            {
                **span,
                "bad": sum(len(e.steps) for e in episodes),
                "nonfinite": counts.nonfinite,
                "spikes": counts.spikes,
                "episodes": len(episodes),
            },
        )
    )
    for e in episodes[:_SHOW_EPISODES]:
        findings.append(_episode_finding(e, records, _spike_rule(run)))
    if len(episodes) > _SHOW_EPISODES:
        findings.append(Finding("what", "more_episodes", {"n": len(episodes) - _SHOW_EPISODES}))
    findings.extend(_first_layers(records, episodes))
    if growth is not None:
        findings.append(growth)
    cause, pattern, change = _pattern(episodes, records)
    findings.extend(pattern)
    if skip is not None:
        findings.extend(_skip_file(skip, records))
    reruns = [(r.step, v) for r in records if (v := _rerun(r)) is not None]
    if reruns:
        transient = [s for s, (verdict, _) in reruns if verdict == "transient"]
        reproducible = [s for s, (verdict, _) in reruns if verdict == "reproducible"]
        findings.append(
            Finding(
                "rerun",
                "reruns",
                {
                    "n": len(reruns),
                    "transient": transient,
                    "reproducible": reproducible,
                    "n_transient": len(transient),
                    "n_reproducible": len(reproducible),
                },
            )
        )
    else:
        findings.append(Finding("rerun", "no_reruns", {"n": len(episodes)}, cannot_tell=True))
    findings.extend(_guard_cost(run, records))
    findings.extend(_replay(records, episodes))
    findings.extend(change)
    if growth is not None:
        findings.append(_growth_advice(growth))
    undone = [f for f in findings if f.key == "rollbacks_undid"]
    if undone and cause not in ("lr_too_high", "lr_onset"):  # rollbacks only postpone
        most = undone[0].evidence["most"]
        findings.append(Finding("change", "rollback_cost", {"most": most}))
    advice = _clip_advice(records)
    if advice is not None:
        findings.append(advice)
    return Diagnosis(run.name, records, episodes, cause, _ordered(findings), growing)


_SHOW_EPISODES = 5


_GROWTH_CAUSE = {
    "layer_grows": "layer_growth",
    "layers_all_grow": "all_layers_growth",
    "layers_some_grow": "some_layers_growth",
}


def _growth_advice(growth: Finding) -> Finding:
    if growth.key == "layer_grows":
        return Finding("change", "layer_advice", {"layer": growth.evidence["layer"]})
    if growth.key == "layers_some_grow":
        return Finding("change", "some_layers_advice", {"layers": growth.evidence["layers"]})
    return Finding("change", "all_layers_advice", {"layer": growth.evidence["layer"]})


def _spike_rule(run: RunLog) -> Any:
    """The guard's spike rule as the log's header records it (``None``: none recorded)."""
    from gradguard.rules import rule_from_header

    header = run.meta.get("guard")
    spec = header.get("spike_rule") if isinstance(header, Mapping) else None
    try:
        return rule_from_header(spec) if isinstance(spec, Mapping) else None
    except (ValueError, KeyError, TypeError):
        return None  # a rule this version does not know: nothing to quote


def _episode_finding(e: Episode, records: Sequence[StepRecord], rule: Any = None) -> Finding:
    first = next(r for r in records if r.step == e.first)
    key = "episode_nonfinite" if first.kind == "nonfinite" else "episode_spike"
    ratio = None
    if e.baseline and first.grad_norm is not None and math.isfinite(first.grad_norm):
        ratio = first.grad_norm / e.baseline
    # What the spike rule itself compared the norm with: its threshold on that step (the
    # record's), computed over its own window — not the doctor's median above.
    threshold = _num(first.spike_threshold) if key == "episode_spike" else None
    # A step re-run and found transient was taken with its re-run's gradients, not its own.
    mine = {r.step: r for r in records if r.step in set(e.steps)}
    actions = [
        "rerun" if a == "step" and s in mine and _transient(mine[s]) else a
        for s, a in zip(e.steps, e.actions, strict=True)
    ]
    by_rule = rule is not None and first.flagged_by == getattr(rule, "name", None)
    return Finding(
        "what",
        key,
        {
            "steps": e.steps,
            "n": len(e.steps),
            "norm": _num(first.grad_norm),
            "ratio": ratio,
            "baseline": e.baseline,
            "baseline_n": e.baseline_n,
            "threshold": threshold,
            "rule": rule.describe() if by_rule and threshold is not None else None,
            "window": getattr(rule, "window", None) if by_rule else None,
            "loss": first.loss,
            "flagged_by": first.flagged_by or first.kind,
            "actions": list(dict.fromkeys(actions)),
        },
    )


def _ordered(findings: Iterable[Finding]) -> list[Finding]:
    """The findings in :data:`TOPICS` order, keeping their order within a topic."""
    items = list(findings)
    return sorted(items, key=lambda f: TOPICS.index(f.topic))
