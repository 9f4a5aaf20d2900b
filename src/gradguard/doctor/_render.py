"""The diagnosis in words: each finding's sentence from the catalogs, its evidence formatted.

The sentences live in the message catalogs' ``[doctor]`` section (English and Bengali);
this module only formats the evidence (steps as ranges, numbers to 3 significant
digits) and fills them in.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from gradguard._catalog import Catalog, load_catalog
from gradguard.doctor._diagnose import TOPICS, Diagnosis, Finding
from gradguard.rules import describe_rule

__all__ = ["render_text", "sentence", "to_json"]

_SHOW_STEPS = 8  # step numbers quoted in one sentence before "… (+N)"


def _g(x: Any) -> str:
    """A number to 3 significant digits (``"–"`` when missing)."""
    if x is None:
        return "–"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return f"{x:,}"
    if not math.isfinite(x):
        return str(x)
    return f"{x:.3g}"


def steps_text(steps: Sequence[int], cat: Catalog | None = None) -> str:
    """Steps as ranges: ``[3, 4, 5, 9]`` → ``"3–5, 9"``; a list of more than nine ranges shows
    eight and ends in ``"… N more"`` (in ``cat``'s language; ``"… (+N)"`` without a catalog).

    Example:
      >>> steps_text(list(range(0, 18, 2)))
      '0, 2, 4, 6, 8, 10, 12, 14, 16'
      >>> steps_text(list(range(0, 20, 2)))
      '0, 2, 4, 6, 8, 10, 12, 14, … (+2)'
    """
    if not steps:
        return "–"
    ranges: list[list[int]] = []
    for s in steps:
        if ranges and s == ranges[-1][1] + 1:
            ranges[-1][1] = s
        else:
            ranges.append([s, s])
    parts = [f"{a}" if a == b else f"{a}–{b}" for a, b in ranges]
    if len(parts) > _SHOW_STEPS + 1:  # "… 1 more" would be no shorter than the one
        return ", ".join(parts[:_SHOW_STEPS]) + _more(len(parts) - _SHOW_STEPS, cat)
    return ", ".join(parts)


def _more(n: int, cat: Catalog | None) -> str:
    return f", {cat.get('numbers.more', n=n)}" if cat is not None else f", … (+{n})"


def _key(f: Finding) -> str:
    """The catalog key of the finding's sentence: a count of zero gets a sentence of its own."""
    if f.key == "one_off" and not f.evidence["after"]:
        return "one_off_at_end"
    if f.key == "one_off" and f.evidence.get("reproducible"):
        return "one_off_reproducible"
    if f.key == "layers_unknown" and not f.evidence["recorded"]:
        return "layers_unknown_none"
    if f.key in ("jumps", "builds_up") and _g(f.evidence["lo"]) == _g(f.evidence["hi"]):
        return f.key + "_same"  # one figure, not "1× to 1×"
    if f.key == "batch_recurs" and f.evidence.get("passed"):
        return "batch_recurs_passed"
    if f.key == "guard_did" and not f.evidence["lost"]:
        return "guard_did_none_lost"
    return f.key


def _batch(b: Any) -> str:
    return json.dumps(b, ensure_ascii=False)


def _fields(f: Finding, cat: Catalog) -> dict[str, str]:
    ev = f.evidence
    out: dict[str, str] = {}
    for k, v in ev.items():
        if isinstance(v, list) and all(isinstance(x, int) for x in v):
            out[k] = steps_text(v, cat)
        elif isinstance(v, float) and k in ("share",):
            out[k] = f"{100 * v:.1f}%"
        else:
            out[k] = _g(v) if isinstance(v, (int, float)) or v is None else str(v)
    key = f.key
    if key in ("episode_spike", "episode_nonfinite"):
        out["ratio_part"] = (
            cat.get(
                "doctor.ratio_part",
                ratio=_g(ev["ratio"]),
                baseline=_g(ev["baseline"]),
                baseline_n=ev.get("baseline_n", 0),
            )
            if ev.get("ratio") is not None
            else ""
        )
        out["rule_part"] = _rule_part(ev, cat)
        loss = ev.get("loss")
        out["loss_part"] = cat.get("doctor.loss_part", loss=_g(loss)) if loss is not None else ""
        out["at"] = cat.get(
            "doctor.at_one" if len(ev["steps"]) == 1 else "doctor.at_many", steps=out["steps"]
        )
        out["actions"] = ", ".join(cat[f"doctor.action_{a}"] for a in ev["actions"])
    elif key == "layers_nonfinite":
        out["layers"] = ", ".join(ev["layers"])
    elif key in ("layer_grows", "layers_all_grow", "layers_some_grow"):
        out["early_steps"] = "–".join(str(s) for s in ev["early_steps"])
        out["late_steps"] = "–".join(str(s) for s in ev["late_steps"])
        if key == "layers_some_grow":
            out["layers"] = ", ".join(f"'{x}'" for x in ev["layers"])
    elif key == "some_layers_advice":
        out["layers"] = ", ".join(f"'{x}'" for x in ev["layers"])
    elif key == "batch_recurs":
        out["batch"] = _batch(ev["batch"])
        out["more"] = (
            cat.get("doctor.batch_recurs_more", n=ev["batches"]) if ev["batches"] > 1 else ""
        )
        cleared = ev.get("cleared") or []
        out["cleared_part"] = (
            cat.get("doctor.batch_recurs_cleared", n=len(cleared), steps=steps_text(cleared, cat))
            if cleared
            else ""
        )
    elif key == "batch_cleared":
        out["batch"] = _batch(ev["batch"])
    elif key == "index_recurs":
        out["more"] = (
            cat.get("doctor.index_recurs_more", n=ev["indices"]) if ev["indices"] > 1 else ""
        )
    elif key == "skip_batches":
        out["batches"] = ", ".join(_batch(b) for b in ev["batches"][:_SHOW_STEPS])
        if len(ev["batches"]) > _SHOW_STEPS:
            out["batches"] += _more(len(ev["batches"]) - _SHOW_STEPS, cat)
    elif key == "clean":
        out["clip_part"] = _count(cat, "clip_part", ev["clipped"])
    elif key == "bad_steps":  # only the kinds there are: never "0 flagged as spikes"
        kinds = [cat.get(f"doctor.kind_{k}", n=_g(ev[k])) for k in ("nonfinite", "spikes")]
        out["kinds"] = cat["doctor.list_sep"].join(
            p for k, p in zip(("nonfinite", "spikes"), kinds, strict=True) if ev[k]
        )
    elif key == "reruns":
        parts = [
            cat.get(f"doctor.rerun_{v}", n=_g(len(ev[v])), steps=steps_text(ev[v], cat))
            for v in ("transient", "reproducible")
            if ev[v]
        ]
        out["verdicts"] = cat["doctor.list_sep"].join(parts)
    elif key in ("guard_did", "guard_did_unknown"):
        parts = [
            _count(cat, "did_skipped", ev["skipped"]),
            _count(cat, "did_rollbacks", ev["rollbacks"]),
            _count(cat, "did_took", ev["taken_bad"]),
        ]
        rest = cat["doctor.list_sep"].join(parts[:-1])
        out["did"] = cat.get("doctor.and_last", rest=rest, last=parts[-1])
    elif key == "replay_rerun_norms":
        pairs = [
            cat.get("replay.rerun_pair", step=step, first=_g(first), rerun=_g(rerun))
            for step, first, rerun in ev["pairs"][:_SHOW_STEPS]
        ]
        if len(ev["pairs"]) > _SHOW_STEPS:
            pairs.append(cat.get("numbers.more", n=len(ev["pairs"]) - _SHOW_STEPS))
        out["pairs"] = ", ".join(pairs)
    elif key.startswith("replay_rule"):
        out["rule"] = describe_rule(ev["rule_name"], ev["rule_params"], cat.lang)
        out["first_part"] = (
            cat.get("doctor.first_part", first=ev["first"]) if ev["first"] is not None else ""
        )
        out["per_k"] = f"{ev['per_k']:.1f}"
    return out


def _rule_part(ev: dict[str, Any], cat: Catalog) -> str:
    """What the guard's spike rule compared a spike with: its threshold, and how it is made."""
    if ev.get("threshold") is None:
        return ""
    if ev.get("rule") is None:
        return cat.get("doctor.threshold_part", threshold=_g(ev["threshold"]))
    key = "doctor.rule_part" if ev.get("window") else "doctor.rule_part_no_window"
    return cat.get(key, rule=ev["rule"], threshold=_g(ev["threshold"]), window=ev.get("window"))


def _count(cat: Catalog, name: str, n: int) -> str:
    """The catalog's phrase ``name`` for ``n`` things: its ``_none`` form for 0 (no "0 steps"),
    its ``_one`` form for 1 where the catalog has one."""
    if n == 0:
        return cat[f"doctor.{name}_none"]
    key = f"doctor.{name}_one"
    return cat[key] if n == 1 and key in cat else cat.get(f"doctor.{name}", n=_g(n))


def sentence(f: Finding, lang: str = "en") -> str:
    """Return the finding as one sentence (or two) in ``lang``, its evidence filled in."""
    cat = load_catalog(lang)
    return cat.get(f"doctor.{_key(f)}", **_fields(f, cat))


def _title(d: Diagnosis, cat: Catalog) -> str:
    return cat.get("doctor.cause_line", cause=cat[f"doctor.cause_{d.cause}"])


def to_json(log: str, diagnoses: Sequence[Diagnosis], lang: str = "en") -> dict[str, Any]:
    """Return the diagnoses as JSON-ready data: each finding's evidence and its sentence."""
    return {
        "log": log,
        "runs": [
            {
                "run": d.run,
                # its place in the log (1, 2, …): a log a resumed or restarted run was
                # appended to holds several, told apart by a new header or steps going back
                "index": i,
                "first_step": d.steps[0].step,
                "last_step": d.steps[-1].step,
                "steps": len(d.steps),
                "cause": d.cause,
                "bad_steps": d.bad_steps,
                "growing_layer": d.growing_layer,
                "findings": [
                    {
                        "topic": f.topic,
                        "key": f.key,
                        "cannot_tell": f.cannot_tell,
                        "evidence": _jsonable(f.evidence),
                        "text": sentence(f, lang),
                    }
                    for f in d.findings
                ],
            }
            for i, d in enumerate(diagnoses, 1)
        ],
    }


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def render_text(log: str, diagnoses: Sequence[Diagnosis], lang: str = "en") -> str:
    """Return the diagnoses as plain text: per run, its cause, then the findings by topic.

    A log holding several runs (a run resumed or restarted into the same file: a new
    ``"run"`` header, or the step index going back — :func:`gradguard.records.read_log`)
    gets each run's heading with its place and its steps ("run 2 of 2, steps 40–79"), so
    every finding is read as of its run."""
    cat = load_catalog(lang)
    lines: list[str] = []
    for i, d in enumerate(diagnoses, 1):
        head = log + (cat.get("replay.run", run=d.run) if d.run else "")
        if len(diagnoses) > 1:  # say which run each finding is of (a log appended to)
            head += cat.get(
                "doctor.run_of", i=i, n=len(diagnoses), first=d.steps[0].step, last=d.steps[-1].step
            )
        lines += [head, _title(d, cat)]
        for topic in TOPICS:
            found = [f for f in d.findings if f.topic == topic]
            if not found:
                continue
            lines += ["", cat[f"doctor.topic_{topic}"]]
            for f in found:
                mark = cat["doctor.cannot_tell_mark"] if f.cannot_tell else "-"
                lines.append(f"  {mark} {sentence(f, lang)}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
