"""Exercises on the seed's system, generated from the lab: a worksheet and its answer key.

$ gradguard exercises --lang bn --seed 7 --count 8 --out sheets/

A problem set is a pure function of ``(seed, count)``: the same seed gives the same
problems, in every language (the problems are language-neutral data; only their words come
from the catalogs). The problems are graded from easy to hard, one kind after another:

1. ``forward`` — the forward pass ``h_t = w·h_{t-1}``, state by state;
2. ``bptt`` — the BPTT sum ``Σ h_{t-1}·w^(T-t)``, term by term;
3. ``closed_form`` — ``∂L/∂w = T·w^(T-1)·h_0`` for a ``T`` too long to sum by hand;
4. ``sgd`` — one SGD update ``w − η·∂L/∂w``;
5. ``clip`` — the seed's clipping ``g / max(1, |g|/c)``, then the update;
6. ``regime`` — explode, vanish, grow linearly or vanish at once; where it peaks;
7. ``seed_table`` — the seed's table (``≈ 1024`` at T = 10 …): the exact value and the
   factor it is off by;
8. ``horizon`` — the first ``T`` at which the gradient overflows float32 or float64.

Every answer is the lab's exact value (:mod:`gradguard.lab`): an ``int`` or a
``Fraction``, never a rounded float; the answer key prints it exactly (a terminating
decimal as a decimal, else ``p/q``).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from gradguard._catalog import Catalog, load_catalog
from gradguard._validate import check_whole
from gradguard.explain._render import _base, _factor, format_number, overflow_inf
from gradguard.lab import (
    SEED_TABLE,
    Exact,
    LogValue,
    bptt,
    clip_by_norm,
    exact_to_json,
    forward,
    grad_closed_form,
    gradient,
    overflow_horizon,
    regime,
    sgd_step,
)

__all__ = ["Problem", "exercises", "render_sheet"]

#: The kinds of problem, from easy to hard.
KINDS: tuple[str, ...] = (
    "forward",
    "bptt",
    "closed_form",
    "sgd",
    "clip",
    "regime",
    "seed_table",
    "horizon",
)
#: The most problems one sheet holds.
MAX_COUNT = 40
#: The largest seed (a problem set's number).
MAX_SEED = 2**32 - 1

F = Fraction


@dataclass(frozen=True)
class Problem:
    """One problem: its kind, its inputs and its exact answer (language-neutral).

    Attributes:
      kind: one of :data:`KINDS`.
      params: the inputs (``w``, ``h0``, ``T``, ``eta``, ``g``, ``c``, ``dtype`` …),
        exact numbers or names.
      answer: the exact answer, by part (``states``, ``grad``, ``w_new``, ``kind``, ``T`` …).
    """

    kind: str
    params: dict[str, Any]
    answer: dict[str, Any] = field(default_factory=dict)


# ---- generation: parameters a student can compute by hand, answers from the lab ----

_SMALL_W = (F(2), F(3), F(-2), F(1, 2), F(3, 2), F(-1, 2))
_H0 = (F(1), F(2), F(3), F(-1), F(1, 2))


def _forward(rng: random.Random) -> Problem:
    w, h0, T = rng.choice(_SMALL_W), rng.choice(_H0), rng.choice((3, 4))
    return Problem("forward", {"w": w, "h0": h0, "T": T}, {"states": forward(w, h0, T)})


def _bptt(rng: random.Random) -> Problem:
    w, h0, T = (
        rng.choice((F(2), F(3), F(-2), F(1, 2), F(-1))),
        rng.choice(_H0[:4]),
        rng.randint(3, 5),
    )
    b = bptt(w, h0, T)
    return Problem("bptt", {"w": w, "h0": h0, "T": T}, {"terms": b.terms, "grad": b.grad})


def _closed_form(rng: random.Random) -> Problem:
    w, h0 = rng.choice((F(2), F(3), F(-2), F(1, 2), F(3, 2))), rng.choice(_H0[:4])
    T = rng.randint(6, 12)
    return Problem("closed_form", {"w": w, "h0": h0, "T": T}, {"grad": grad_closed_form(w, h0, T)})


def _sgd(rng: random.Random) -> Problem:
    w, T = rng.choice((F(2), F(3, 2), F(-2), F(1, 2))), rng.randint(3, 6)
    eta = rng.choice((F(1, 100), F(1, 1000), F(1, 10)))
    g = grad_closed_form(w, 1, T)
    return Problem(
        "sgd", {"w": w, "h0": 1, "T": T, "eta": eta}, {"grad": g, "w_new": sgd_step(w, g, eta)}
    )


def _clip(rng: random.Random) -> Problem:
    w, T = rng.choice((F(2), F(3), F(-2))), rng.randint(4, 8)
    g = grad_closed_form(w, 1, T)
    c = rng.choice((1, 5, 10, 50))
    eta = rng.choice((F(1, 100), F(1, 10)))
    clipped = clip_by_norm(F(g), F(c))
    return Problem(
        "clip",
        {"w": w, "h0": 1, "T": T, "g": g, "c": c, "eta": eta},
        {"clipped": clipped, "w_new": sgd_step(w, clipped, eta)},
    )


#: Exploding, linear and zero weights; vanishing ones that peak at one T (3/5, 7/10, 1/3,
#: −2/5) and at two (1/2, 4/5, −3/4, 2/3: |w|/(1 − |w|) is whole).
_REGIME_W = (
    *(F(3, 2), F(-2), F(1), F(-1), F(0)),
    *(F(3, 5), F(7, 10), F(1, 3), F(-2, 5)),
    *(F(1, 2), F(4, 5), F(-3, 4), F(2, 3)),
)


def _regime(rng: random.Random) -> Problem:
    w = rng.choice(_REGIME_W)
    r = regime(w)
    peaks: list[int] = []
    if r.kind == "vanishing" and r.peak_T is not None:
        # f(T) = T·|w|^(T−1) rises while T < |w|/(1−|w|); when that bound is whole, f is
        # the same there and one step on: both T are the largest.
        peaks = [r.peak_T] + ([r.peak_T2] if r.peak_T2 is not None else [])
    return Problem(
        "regime", {"w": w, "h0": 1}, {"kind": r.kind, "alternating": w < 0, "peaks": peaks}
    )


def _seed_table(rng: random.Random) -> Problem:
    T = rng.choice((10, 20, 50))
    exact = grad_closed_form(2, 1, T)
    claim = SEED_TABLE[T]
    return Problem(
        "seed_table",
        {"w": 2, "h0": 1, "T": T, "claim": claim},
        {"grad": exact, "off_by": F(exact, claim), "h_T": 2**T},
    )


#: The largest finite number of each format, to 8 significant digits (the problem's hint).
FLOAT_MAX = {"float32": "3.4028235 × 10^38", "float64": "1.7976931 × 10^308"}


#: The largest finite number of each format, exactly: (2 − 2^(1−p))·2^e_max.
_LARGEST: dict[str, Fraction] = {
    "float32": (2 - F(1, 2**23)) * 2**127,
    "float64": (2 - F(1, 2**52)) * 2**1023,
}


def _horizon(rng: random.Random) -> Problem:
    while True:
        w = rng.choice((F(2), F(3), F(4), F(10), F(-2), F(3, 2), F(5, 4)))
        h0 = rng.choice((F(1), F(2), F(1, 2)))
        dtype = rng.choice(("float32", "float64"))
        T = overflow_horizon(w, h0, dtype)
        # The sheet's method — the first T where |T·w^(T−1)·h_0| passes the largest finite
        # number — agrees with rounding to the format (which goes to inf only half a unit
        # further) unless the value lands in between: such a draw is not asked.
        if T is None:  # pragma: no cover - |w| > 1 always overflows
            continue
        below, above = (Fraction(grad_closed_form(w, h0, t)) for t in (T - 1, T))
        if abs(below) <= _LARGEST[dtype] < abs(above):
            return Problem("horizon", {"w": w, "h0": h0, "dtype": dtype}, {"T": T})


_MAKERS = {
    "forward": _forward,
    "bptt": _bptt,
    "closed_form": _closed_form,
    "sgd": _sgd,
    "clip": _clip,
    "regime": _regime,
    "seed_table": _seed_table,
    "horizon": _horizon,
}


def _kinds(count: int) -> list[str]:
    """``count`` kinds spread over :data:`KINDS` in order: easy to hard, each about as often."""
    return [KINDS[i * len(KINDS) // count] for i in range(count)]


def exercises(seed: object = 1, count: object = len(KINDS)) -> list[Problem]:
    """Return ``count`` problems of problem set ``seed``, from easy to hard.

    The same ``(seed, count)`` gives the same problems (Python's
    :class:`random.Random`, seeded with the whole number ``seed``, draws the
    inputs; the answers are the lab's). A problem does not repeat one before it
    on the sheet while another draw can avoid it.

    Args:
      seed: the problem set's number, a whole number from 0 to 2^32 − 1.
      count: how many problems, 1 to :data:`MAX_COUNT`; with 8 there is one of each kind.

    Raises:
      InputError: ``seed`` or ``count`` out of range.

    Example:
      >>> [p.kind for p in exercises(1, 4)]
      ['forward', 'closed_form', 'clip', 'seed_table']
      >>> exercises(1)[0].answer["states"] == exercises(1)[0].answer["states"]
      True
    """
    s = check_whole(seed, "seed", 0, MAX_SEED)
    n = check_whole(count, "count", 1, MAX_COUNT)
    rng = random.Random(s)
    out: list[Problem] = []
    for kind in _kinds(n):
        problem = _MAKERS[kind](rng)
        for _ in range(20):  # a different problem where the kind has one to give
            if all(problem.params != p.params for p in out if p.kind == kind):
                break
            problem = _MAKERS[kind](rng)
        out.append(problem)
    return out


# ---- rendering: blocks of text with $LaTeX$ math, then Markdown (HTML: gradguard.report) ----


def _n(x: Exact) -> str:
    """An exact number as LaTeX: an integer, a terminating decimal, else ``\\frac{p}{q}``."""
    return format_number(exact_to_json(x), latex=True)


def _m(latex: str) -> str:
    return f"${latex}$"


def _b(x: Exact) -> str:
    """A number as the base of a power: ``2``, ``\\left(-2\\right)``, ``\\left(0.5\\right)``."""
    return _base(exact_to_json(x), True)


def _f(x: Exact) -> str:
    """A number as a factor of a product: negative ones in parentheses."""
    return _factor(exact_to_json(x), True)


def _params(p: dict[str, Any], names: tuple[str, ...] = ("w", "h0", "T")) -> str:
    symbol = {"w": "w", "h0": "h_0", "T": "T", "eta": "\\eta", "c": "c"}
    return ", ".join(_m(f"{symbol[k]} = {_n(p[k])}") for k in names if k in p)


_GRAD = "\\frac{\\partial L}{\\partial w}"


def _statement(pr: Problem, cat: Catalog) -> str:
    p = pr.params
    q = f"exercises.{pr.kind}_q"
    if pr.kind == "forward":
        T = p["T"]
        return cat.get(q, params=_params(p), states=_m(f"h_1, \\dots, h_{{{T}}}"), loss=_m("L"))
    if pr.kind == "bptt":
        total = _m(f"{_GRAD} = \\sum_{{t=1}}^{{T}} h_{{t-1}} \\cdot w^{{T-t}}")
        return cat.get(q, params=_params(p), sum=total)
    if pr.kind == "closed_form":
        closed = _m(f"{_GRAD} = T \\cdot w^{{T-1}} \\cdot h_0")
        return cat.get(q, params=_params(p), closed=closed, grad=_m(_GRAD))
    if pr.kind == "sgd":
        update = _m(f"w_{{new}} = w - \\eta \\cdot {_GRAD}")
        return cat.get(q, params=_params(p), eta=_params(p, ("eta",)), update=update)
    if pr.kind == "clip":
        rule = _m("g_{clipped} = \\frac{g}{\\max\\left(1, \\frac{|g|}{c}\\right)}")
        return cat.get(
            q,
            params=_params(p),
            g=_m(f"g = {_n(p['g'])}"),
            rule=rule,
            c=_params(p, ("c",)),
            eta=_params(p, ("eta",)),
        )
    if pr.kind == "regime":
        return cat.get(q, w=_params(p, ("w",)), h0=_params(p, ("h0",)))
    if pr.kind == "seed_table":
        claim = {10: "\\approx 1024", 20: "\\approx 10^{6}", 50: "\\approx 10^{15}"}[p["T"]]
        return cat.get(q, params=_params(p), claim=_m(claim))
    # horizon
    biggest = FLOAT_MAX[p["dtype"]].replace("×", "\\times").replace("^", "^{") + "}"
    return cat.get(
        q,
        dtype=p["dtype"],
        max=_m(biggest),
        params=_params(p, ("w", "h0")),
        grad=_m(f"{_GRAD} = T \\cdot w^{{T-1}} \\cdot h_0"),
        inf=overflow_inf(p["w"], p["h0"]),  # ±inf where w < 0: the sign alternates with T
    )


def _answer(pr: Problem, cat: Catalog) -> str:
    p, a = pr.params, pr.answer
    key = f"exercises.{pr.kind}_a"
    w: Exact = p["w"]
    if pr.kind == "forward":
        states = a["states"]
        steps = ", ".join(
            _m(f"h_{{{t}}} = {_f(w)} \\cdot {_f(states[t - 1])} = {_n(states[t])}")
            for t in range(1, len(states))
        )
        return cat.get(key, steps=steps, loss=_m(f"L = h_{{{p['T']}}} = {_n(states[-1])}"))
    if pr.kind == "bptt":
        T, states = p["T"], forward(w, p["h0"], p["T"])
        symbolic = " + ".join(
            f"{_f(states[t - 1])} \\cdot {_b(w)}^{{{T - t}}}" for t in range(1, T + 1)
        )
        values = " + ".join(_f(x) for x in a["terms"])
        return cat.get(key, sum=_m(f"{_GRAD} = {symbolic} = {values} = {_n(a['grad'])}"))
    if pr.kind == "closed_form":
        T, h0 = p["T"], _f(p["h0"])
        grad = f"{_GRAD} = {T} \\cdot {_b(w)}^{{{T - 1}}} \\cdot {h0} = {_n(a['grad'])}"
        return cat.get(key, grad=_m(grad))
    if pr.kind == "sgd":
        T = p["T"]
        g = _m(f"{_GRAD} = {T} \\cdot {_b(w)}^{{{T - 1}}} = {_n(a['grad'])}")
        eta = _n(p["eta"])
        update = _m(f"w_{{new}} = {_n(w)} - {eta} \\cdot {_f(a['grad'])} = {_n(a['w_new'])}")
        return cat.get(key, grad=g, update=update)
    if pr.kind == "clip":
        g, c = p["g"], p["c"]
        ratio = F(abs(g), c)
        clipped = _m(
            f"g_{{clipped}} = \\frac{{{_n(g)}}}{{\\max(1, {_n(ratio)})}} = {_n(a['clipped'])}"
        )
        eta = _n(p["eta"])
        update = _m(f"w_{{new}} = {_n(w)} - {eta} \\cdot {_f(a['clipped'])} = {_n(a['w_new'])}")
        said = "exercises.clip_a" if ratio > 1 else "exercises.clip_a_unchanged"
        return cat.get(said, clipped=clipped, update=update)
    if pr.kind == "regime":
        aw = _m(f"|w| = {_n(-w if w < 0 else w)}")
        if a["kind"] == "vanishing":
            peaks = a["peaks"]
            if len(peaks) == 2:
                text = cat.get(
                    "exercises.regime_a_vanishing_tie",
                    abs=aw,
                    T1=_m(f"T = {peaks[0]}"),
                    T2=_m(f"T = {peaks[1]}"),
                )
            else:
                text = cat.get("exercises.regime_a_vanishing", abs=aw, T=_m(f"T = {peaks[0]}"))
        else:
            text = cat.get(f"exercises.regime_a_{a['kind']}", abs=aw)
        if a["alternating"]:
            text += " " + cat.get("exercises.regime_a_alternating", sign=_m("(-1)^{T-1}"))
        return text
    if pr.kind == "seed_table":
        T = p["T"]
        exact = _m(f"{_GRAD} = {T} \\cdot 2^{{{T - 1}}} = {_n(a['grad'])}")
        off = _m(f"{_n(a['grad'])} / {_n(p['claim'])} = {_n(a['off_by'])}")
        h_T = _m(f"h_{{{T}}} = 2^{{{T}}} = {_n(a['h_T'])}")
        return cat.get(key, grad=exact, off=off, h_T=h_T)
    # horizon: log10 of the gradient just before and at the answer, against the largest float's
    T = a["T"]
    before, at = (_log10(w, p["h0"], t) for t in (T - 1, T))
    largest = math.log10(float(_LARGEST[p["dtype"]]))
    digits = 3  # enough decimals to tell the three numbers apart
    while digits < 9 and len({f"{x:.{digits}f}" for x in (before, at, largest)}) < 3:
        digits += 1
    return cat.get(
        key,
        T=_m(f"T = {T}"),
        T_before=_m(f"T = {T - 1}"),
        before=_m(f"\\approx {before:.{digits}f}"),
        at=_m(f"\\approx {at:.{digits}f}"),
        log_max=_m(f"\\approx {largest:.{digits}f}"),
        grad=_m(f"\\log_{{10}}|{_GRAD}|"),
        dtype=p["dtype"],
    )


def _log10(w: Exact, h0: Exact, T: int) -> float:
    """``log10 |∂L/∂w|`` from the lab's log mode (O(1) in T)."""
    value = gradient(w, h0, T, "log")
    assert isinstance(value, LogValue)  # mode="log" returns one
    return value.log10


def sheet_blocks(
    problems: list[Problem], lang: str = "en", *, seed: int = 1, answers: bool = False
) -> list[tuple[str, str]]:
    """Return the sheet as ``(kind, text)`` blocks, the text with ``$…$`` LaTeX math.

    Block kinds: ``title``, ``meta``, ``name`` (the worksheet's name line), ``intro``,
    ``problem`` (the numbered heading), ``question``, ``space`` (room to write; worksheet
    only), ``answer`` (answer key only). The Markdown and HTML renderers lay them out.

    Args:
      problems: from :func:`exercises`.
      lang: the language of the words (``"en"``, ``"bn"``).
      seed: the problem set's number, printed on the sheet.
      answers: the answer key (each question with its exact answer) instead of the worksheet.
    """
    cat = load_catalog(lang)
    title = "exercises.answers_title" if answers else "exercises.title"
    blocks = [
        ("title", cat[title]),
        ("meta", cat.get("exercises.meta", seed=seed, count=len(problems))),
    ]
    if not answers:
        blocks.append(("name", cat["exercises.name_line"]))
    system = _m("h_t = w \\cdot h_{t-1}")
    blocks.append(("intro", cat.get("exercises.intro", system=system, loss=_m("L = h_T"))))
    for i, pr in enumerate(problems, 1):
        heading = cat.get("exercises.heading", n=i, title=cat[f"exercises.{pr.kind}_t"])
        blocks += [("problem", heading), ("question", _statement(pr, cat))]
        blocks.append(("answer", _answer(pr, cat)) if answers else ("space", ""))
    return blocks


def render_sheet(
    problems: list[Problem], lang: str = "en", *, seed: int = 1, answers: bool = False
) -> str:
    """Return the worksheet (or, with ``answers=True``, the answer key) as Markdown.

    Math is LaTeX between ``$`` signs, as the seed writes it (MkDocs with arithmatex,
    Jupyter and GitHub typeset it).
    """
    cat = load_catalog(lang)
    out: list[str] = []
    for kind, text in sheet_blocks(problems, lang, seed=seed, answers=answers):
        if kind == "title":
            out.append(f"# {text}")
        elif kind == "problem":
            out.append(f"## {text}")
        elif kind in ("meta", "name"):
            out.append(f"*{text}*")
        elif kind == "answer":
            out.append(f"**{cat['exercises.answer']}** {text}")
        elif kind == "space":
            continue
        else:
            out.append(text)
    return "\n\n".join(out) + "\n"
