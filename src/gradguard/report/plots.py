"""Plots of what gradguard computes and measures (matplotlib, the ``[plot]`` extra).

Every function returns a :class:`matplotlib.figure.Figure` and takes
``lang`` (any language with catalogs) for its labels; :func:`save_figure` writes PNG or SVG
atomically. Figures are made with the object API (no pyplot state), so they
are safe to build in a server or a test.

$ python -c "from gradguard.report import plots; plots.save_figure(plots.plot_explosion(), 'x.png')"
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from gradguard._validate import check_choice
from gradguard.errors import InputError
from gradguard.explain.text import count
from gradguard.records import StepRecord
from gradguard.report._fonts import require_fonts, setup_fonts
from gradguard.report._i18n import check_lang, t

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from gradguard.doctor import Diagnosis
    from gradguard.experiments import RunSummary

__all__ = [
    "FORMATS",
    "figure_bytes",
    "plot_diagnosis",
    "plot_explosion",
    "plot_flow_heatmap",
    "plot_gradient_flow",
    "plot_layer_heatmap",
    "plot_log_timeline",
    "plot_run",
    "plot_sgd",
    "plot_summary",
    "save_figure",
]

FORMATS = ("png", "svg")
#: Seed's w = 2 (exploding), 1 (neutral, linear growth), 0.9 and 0.5 (vanishing).
DEFAULT_WS = (2.0, 1.5, 1.0, 0.9, 0.5)


def _log10_curves(w: float, h0: float, Ts: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """``(log10|h_T|, log10|∂L/∂w|)`` from the lab (log mode: no overflow at any T)."""
    from gradguard.lab import explosion_table, gradient_log

    rows = explosion_table(str(w), str(h0), list(Ts), mode="log")
    log_h = np.array([getattr(r.h_T, "log10", np.nan) for r in rows], dtype=np.float64)
    log_g = gradient_log(w, np.asarray(Ts), h0)[1]
    return log_h, log_g


def _figure(
    lang: str,
    nrows: int = 1,
    ncols: int = 1,
    size: tuple[float, float] = (8, 4.5),
    layout: Literal["constrained"] | None = "constrained",
    **subplots: Any,
) -> Any:
    """A figure and its axes grid; ``layout=None`` keeps fixed margins (one draw, not two)."""
    check_lang(lang)
    setup_fonts()
    require_fonts(lang)  # the font of the labels' script, if it needs one
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100, layout=layout)
    axes = fig.subplots(nrows, ncols, squeeze=False, **subplots)
    return fig, axes


def _fmt(x: float) -> str:
    return f"{x:.12g}"  # 1.0000001 stays itself (":g" would say 1)


def _regime(w: float) -> str:
    return (
        "regime_exploding"
        if abs(w) > 1
        else "regime_neutral"
        if abs(w) == 1
        else "regime_vanishing"
    )


def plot_explosion(
    ws: Sequence[float] = DEFAULT_WS,
    h0: float = 1.0,
    T_max: int = 60,
    *,
    lang: str = "en",
    overflow_w: float = 2.0,
) -> Figure:
    """Plot ``|∂L/∂w|`` and ``|h_T|`` against T for several w, and the float overflow horizons.

    Left: ``|∂L/∂w| = |T·w^(T−1)·h_0|`` (solid) and ``|h_T| = |w^T·h_0|`` (dashed)
    on a log scale for each w in ``ws``; when ``h0 = 1`` and ``2 ∈ ws`` the seed's
    claimed table values are overlaid on the exact ones. Right: ``log10|∂L/∂w|``
    for ``w = overflow_w`` with the first T at which float32 and float64 overflow.

    Args:
      ws: the weights to draw (one line pair each).
      h0: the initial state ``h_0`` (non-zero).
      T_max: the largest T on the left panel (≥ 2).
      lang: a language with catalogs (``gradguard.explain.languages()``).
      overflow_w: the weight of the right panel (``|w| > 1`` shows overflow).

    Raises:
      InputError: empty ``ws``, ``h0 = 0``, ``T_max < 2``, non-finite values.
    """
    if not ws or not all(math.isfinite(w) for w in ws):
        raise InputError("ws", list(ws), "nonempty_finite_list")
    if not math.isfinite(h0) or h0 == 0:
        raise InputError("h0", h0, "log_scale_value")
    if isinstance(T_max, bool) or not isinstance(T_max, int) or T_max < 2:
        raise InputError("T_max", T_max, "whole", min=2)
    from gradguard.lab import SEED_TABLE, gradient_log, overflow_horizon

    fig, axes = _figure(lang, 1, 2, (12, 4.8))
    ax, ax2 = axes[0]
    Ts = np.arange(1, T_max + 1)
    colors = _colors(len(ws))
    for w, color in zip(ws, colors, strict=True):
        log_h, log_g = _log10_curves(w, h0, list(Ts))
        label = f"{t(lang, 'legend_grad', w=_fmt(w))} ({t(lang, _regime(w))})"
        ax.plot(Ts, 10.0**log_g, color=color, lw=2, label=label)
        ax.plot(Ts, 10.0**log_h, color=color, lw=1, ls="--", label=t(lang, "legend_h", w=_fmt(w)))
    if h0 == 1 and 2.0 in ws:
        claimed_T = [n for n in SEED_TABLE if n <= T_max]
        exact = 10.0 ** gradient_log(2.0, np.asarray(claimed_T), 1.0)[1]
        ax.scatter(
            claimed_T,
            exact,
            marker="o",
            s=50,
            color="black",
            zorder=3,
            label=t(lang, "legend_exact"),
        )
        ax.scatter(
            claimed_T,
            [float(SEED_TABLE[T]) for T in claimed_T],
            marker="x",
            s=70,
            color="crimson",
            zorder=4,
            label=t(lang, "legend_seed"),
        )
    ax.set_yscale("log")
    ax.set_xlabel(t(lang, "axis_T"))
    ax.set_ylabel(t(lang, "axis_abs_log"))
    ax.set_title(t(lang, "title_explosion", h0=_fmt(h0)), fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)

    f32 = overflow_horizon(str(overflow_w), str(h0), "float32")
    f64 = overflow_horizon(str(overflow_w), str(h0), "float64")
    last = max(f64 or 0, f32 or 0, T_max)
    right = last + last // 10 + 1  # 10 % past the last horizon (whole numbers: w = ±1 is ~1e308)
    # Near w = ±1 the horizons reach 10^7 … 1.8 × 10^308 steps: then x is log10 T (a
    # matplotlib log axis overflows at float's edge), sampled on a grid (no arange).
    log_x = right > _LINEAR_T
    Ts2 = _T_grid(right)
    with np.errstate(invalid="ignore"):  # the sign's parity is meaningless past 2^63; unused
        log_g2 = gradient_log(overflow_w, Ts2, h0)[1]
    ax2.plot(
        np.log10(Ts2) if log_x else Ts2,
        log_g2,
        color="black",
        lw=2,
        label=t(lang, "legend_grad", w=_fmt(overflow_w)),
    )
    for dtype, T_over, color in (("float32", f32, "tab:orange"), ("float64", f64, "tab:red")):
        top = math.log10(float(np.finfo(dtype).max))
        ax2.axhline(top, color=color, ls=":", lw=1, label=t(lang, "legend_float_max", dtype=dtype))
        if T_over is not None:
            ax2.axvline(
                math.log10(T_over) if log_x else T_over,
                color=color,
                ls="--",
                lw=1.5,
                label=t(lang, "legend_overflow", dtype=dtype, T=count(T_over)),
            )
    ax2.set_xlabel(t(lang, "axis_log10_T" if log_x else "axis_T"))
    ax2.set_ylabel(t(lang, "axis_log10_grad"))
    ax2.set_title(t(lang, "title_overflow", w=_fmt(overflow_w), h0=_fmt(h0)), fontsize=10)
    ax2.grid(True, alpha=0.3)
    ax2.legend(fontsize=7)
    return fig


#: Up to this T the overflow panel draws every T on a linear axis; beyond, a log grid.
_LINEAR_T = 10_000
#: Points of the log-spaced T grid (w near 1 puts horizons at 10^7 … 10^308).
_GRID_POINTS = 2_000


def _T_grid(right: int) -> np.ndarray:
    """Return the T values to draw up to ``right``: all of them, or a log-spaced sample.

    ``w = 1.00001`` overflows float64 near T = 7 × 10^7 and ``w = 1`` near 1.8 × 10^308,
    so ``arange`` would not fit in memory (or in int64); whole floats do.
    """
    if right <= _LINEAR_T:
        return np.arange(1, right + 1)
    top = math.log10(right)
    with np.errstate(over="ignore"):  # 10^308.3 is past float's range: clamped below
        grid = 10.0 ** np.linspace(0.0, top, _GRID_POINTS)
    return np.unique(np.round(np.minimum(grid, np.finfo(np.float64).max)))


def plot_sgd(
    trajectories: Mapping[str, Sequence[float]], *, loss: str = "L = ½(h_T − y)²", lang: str = "en"
) -> Figure:
    """Plot trajectories of ``w`` under gradient descent, one line per remedy.

    The y range fits the runs that stay bounded (``|w| ≤ 10^3``); a run that
    leaves it runs off the frame and its legend entry says how far ``|w|`` went
    and at which update it became non-finite. Only when no run stays bounded is
    the axis symmetric-log.

    Args:
      trajectories: label → ``[w_0, w_1, …]`` (may contain ``nan``/``inf``).
      loss: the loss being minimised, shown in the title.
      lang: a language with catalogs (``gradguard.explain.languages()``).
    """
    if not trajectories:
        raise InputError("trajectories", {}, "nonempty_trajectories")
    fig, axes = _figure(lang)
    ax = axes[0][0]
    bounded: list[np.ndarray] = []
    for (label, ws), color in zip(trajectories.items(), _colors(len(trajectories)), strict=True):
        arr = np.asarray(ws, dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(arr))
        end = int(bad[0]) if bad.size else arr.size
        finite = arr[:end]
        peak = float(np.max(np.abs(finite))) if finite.size else math.nan
        name = label
        if finite.size and peak <= _BOUNDED:
            bounded.append(finite)
        elif finite.size:
            name += " — " + t(lang, "legend_peak", peak=f"{peak:.3g}")
        if bad.size:
            # w_end is the first non-finite value: update k = end - 1 produced it,
            # counted from 0 like `gradguard sgd` ("NON-FINITE at update k = 3").
            name += " — " + t(lang, "legend_nonfinite_at", k=end - 1)
        ax.plot(np.arange(end), finite, marker=".", color=color, label=name)
        if bad.size and end > 0 and abs(finite[-1]) <= _BOUNDED:
            ax.scatter([end - 1], [finite[-1]], marker="X", s=90, color="crimson", zorder=4)
    if bounded:
        vals = np.concatenate([*bounded, [1.0, -1.0]])
        lo, hi = float(vals.min()), float(vals.max())
        pad = 0.1 * (hi - lo) + 0.1
        ax.set_ylim(lo - pad, hi + pad)
    else:
        ax.set_yscale("symlog", linthresh=1.0)
    ax.axhline(1.0, color="gray", lw=0.8, ls=":")
    ax.axhline(-1.0, color="gray", lw=0.8, ls=":")
    ax.set_xlabel(t(lang, "axis_step"))
    ax.set_ylabel(t(lang, "axis_w"))
    ax.set_title(t(lang, "title_sgd", loss=loss), fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return fig


#: |w| above this leaves the SGD plot's frame (the seed's -9998 is far beyond it).
_BOUNDED = 1e3


def plot_gradient_flow(curves: Mapping[str, Sequence[float]], *, lang: str = "en") -> Figure:
    """Plot ``‖∂L/∂h_t‖`` against t on a log scale, one line per model × init.

    Args:
      curves: label (``"rnn × orthogonal ρ=2"``) → norms for ``t = 1 … T``.
      lang: a language with catalogs (``gradguard.explain.languages()``).
    """
    if not curves:
        raise InputError("curves", {}, "nonempty_curves")
    fig, axes = _figure(lang)
    ax = axes[0][0]
    for (label, norms), color in zip(curves.items(), _colors(len(curves)), strict=True):
        arr = np.asarray(norms, dtype=np.float64)
        arr = np.where(np.isfinite(arr) & (arr > 0), arr, np.nan)
        ax.plot(np.arange(1, arr.size + 1), arr, color=color, lw=1.8, label=label)
    ax.set_yscale("log")
    ax.set_xlabel(t(lang, "axis_t"))
    ax.set_ylabel(t(lang, "axis_hgrad"))
    ax.set_title(t(lang, "title_flow"), fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def _heatmap(ax: Axes, fig: Figure, matrix: np.ndarray, label: str) -> None:
    from matplotlib.colors import LogNorm

    m = np.where(np.isfinite(matrix) & (matrix > 0), matrix, np.nan)
    ok = m[np.isfinite(m)]
    norm = LogNorm(vmin=float(ok.min()), vmax=float(ok.max())) if ok.size else None
    img = ax.imshow(
        m.T, aspect="auto", origin="lower", norm=norm, cmap="magma", interpolation="nearest"
    )
    fig.colorbar(img, ax=ax, label=label)


def plot_flow_heatmap(
    matrix: Sequence[Sequence[float]] | np.ndarray,
    *,
    steps: Sequence[int] | None = None,
    label: str = "",
    lang: str = "en",
) -> Figure:
    """Draw ``‖∂L/∂h_t‖`` over training as a heat map (x: training step, y: t; log colours).

    Args:
      matrix: shape ``(n_steps, T)``: row i holds the norms for t = 1 … T at step i.
      steps: the training step of each row (default 0 … n_steps-1).
      label: what was trained (``"tanh × xavier-normal, adding T = 50"``), in the title.
      lang: a language with catalogs (``gradguard.explain.languages()``).
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or 0 in m.shape:
        raise InputError("matrix", f"shape {m.shape}", "nonempty_matrix")
    fig, axes = _figure(lang)
    ax = axes[0][0]
    _heatmap(ax, fig, m, t(lang, "axis_hgrad"))
    if steps is not None:
        ticks = np.linspace(0, m.shape[0] - 1, min(6, m.shape[0])).round().astype(int)
        ax.set_xticks(ticks, [str(steps[i]) for i in ticks])
    ax.set_yticks(ax.get_yticks()[1:-1], [str(int(v) + 1) for v in ax.get_yticks()[1:-1]])
    ax.set_xlabel(t(lang, "axis_step"))
    ax.set_ylabel(t(lang, "axis_t"))
    title = t(lang, "title_flow_heat")
    ax.set_title(f"{title}: {label}" if label else title, fontsize=10)
    return fig


def _series(records: Sequence[StepRecord], attr: str) -> np.ndarray:
    return np.array(
        [np.nan if getattr(r, attr) is None else float(getattr(r, attr)) for r in records]
    )


def _positive(a: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(a) & (a > 0), a, np.nan)


def plot_run(
    records: Sequence[StepRecord],
    *,
    title: str = "",
    lang: str = "en",
    show_threshold: bool = True,
) -> Figure:
    """Plot one run's loss and pre/post-clip gradient norm per step, non-finite steps marked.

    Top: the loss. Bottom: ``grad_norm`` (before clipping) and
    ``grad_norm_clipped`` on a log scale, the threshold if recorded, and a red
    vertical line at every step whose loss or gradient was non-finite.

    Args:
      records: the run's step records (from :func:`gradguard.records.read_log`).
      title: the run's name (``"divergence/none/seed0"``).
      lang: a language with catalogs (``gradguard.explain.languages()``).
      show_threshold: draw the recorded threshold (off for value clipping, whose
        threshold bounds entries, not the norm).
    """
    if not records:
        raise InputError("records", "[]", "nonempty_records")
    # Fixed margins: a report draws one of these per configuration, and the constrained
    # layout engine costs a second draw of every figure; these two panels have the same
    # labels every time.
    fig, axes = _figure(lang, 2, 1, (8, 4.6), layout=None)
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.1, top=0.93, hspace=0.3)
    ax_loss, ax_norm = axes[0][0], axes[1][0]
    steps = np.array([r.step for r in records])
    loss = _series(records, "loss")
    finite_loss = np.where(np.isfinite(loss), loss, np.nan)
    # A run that blows up in two steps has one or two finite points: markers keep them visible.
    few = {"marker": "o", "ms": 4} if len(records) <= 30 else {}
    ax_loss.plot(steps, finite_loss, color="tab:blue", **few)
    ok = finite_loss[np.isfinite(finite_loss)]
    # A loss spanning more than two decades (a spike, or a run that learns) reads on a log scale.
    if ok.size and ok.min() > 0 and ok.max() / ok.min() > 100:
        ax_loss.set_yscale("log")
    pre, post = (
        _positive(_series(records, "grad_norm")),
        _positive(_series(records, "grad_norm_clipped")),
    )
    ax_norm.plot(steps, pre, color="tab:orange", lw=1.5, label=t(lang, "legend_pre_clip"), **few)
    if np.isfinite(post).any():
        ax_norm.plot(
            steps,
            post,
            color="tab:green",
            lw=1.2,
            ls="--",
            label=t(lang, "legend_post_clip"),
            **few,
        )
    thr = _series(records, "threshold")
    if show_threshold and np.isfinite(thr).any():
        ax_norm.plot(steps, thr, color="gray", lw=0.8, ls=":", label=t(lang, "legend_threshold"))
    bad = [
        r.step for r in records if not (r.loss_finite and r.grad_finite) or r.kind == "nonfinite"
    ]
    for i, s in enumerate(bad):
        for a in (ax_loss, ax_norm):
            a.axvline(
                s,
                color="crimson",
                lw=0.8,
                alpha=0.6,
                label=t(lang, "legend_nonfinite") if i == 0 and a is ax_norm else None,
            )
    if np.isfinite(pre).any() or np.isfinite(post).any():
        ax_norm.set_yscale("log")
    ax_loss.set_ylabel(t(lang, "axis_loss"))
    ax_norm.set_ylabel(t(lang, "axis_grad_norm"))
    ax_norm.set_xlabel(t(lang, "axis_step"))
    # A title in words can be long ("Clipping the gradient's norm at c = 1 — the exploding
    # linear RNN (…)"): wrapped to the figure's width, the top margin making room for it.
    heading = textwrap.wrap(t(lang, "title_run", run=title or "run"), 95)
    ax_loss.set_title("\n".join(heading), fontsize=10)
    fig.subplots_adjust(top=0.93 - 0.045 * (len(heading) - 1))
    for a in (ax_loss, ax_norm):
        a.grid(True, alpha=0.3)
    ax_norm.legend(fontsize=8)
    return fig


def plot_beside_paper(
    curves: Mapping[int, Mapping[str, tuple[Sequence[int], Sequence[float]]]],
    lines: Mapping[int, Mapping[str, float]],
    *,
    lang: str = "en",
) -> Figure:
    """Plot the test loss over training of a paper preset's runs, with the paper's values.

    One panel per length ``T``: each run's test loss at its evaluations (solid), and the
    values the paper reports or the task implies at that ``T`` (dashed, horizontal).

    Args:
      curves: ``T`` → run label → (steps, test losses).
      lines: ``T`` → label → value (the paper's reported loss; the memoryless baseline).
      lang: a language with catalogs (``gradguard.explain.languages()``).
    """
    Ts = sorted(set(curves) | set(lines))
    if not Ts:
        raise InputError("curves", "{}", "nonempty_records")
    fig, axes = _figure(lang, 1, len(Ts), (4.2 * len(Ts) + 0.6, 3.6))
    positive = True
    for ax, T in zip(axes[0], Ts, strict=True):
        mine = curves.get(T, {})
        colors = _colors(max(len(mine), 1))
        for color, (label, (steps, loss)) in zip(colors, sorted(mine.items()), strict=False):
            y = np.array(loss, dtype=float)
            few = {"marker": "o", "ms": 3} if len(y) <= 30 else {}
            ax.plot(steps, np.where(np.isfinite(y), y, np.nan), color=color, label=label, **few)
            positive = positive and bool(np.all(y[np.isfinite(y)] > 0))
        for i, (label, value) in enumerate(sorted(lines.get(T, {}).items())):
            ax.axhline(value, color="black", lw=0.9, ls=("--", ":")[i % 2], label=label)
        ax.set_title(t(lang, "title_beside_paper", T=T), fontsize=10)
        ax.set_xlabel(t(lang, "axis_step"))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel(t(lang, "axis_test_loss"))
    if positive:
        for ax in axes[0]:
            ax.set_yscale("log")
    return fig


def plot_summary(rows: Sequence[RunSummary], *, lang: str = "en") -> Figure:
    """Draw the remedy summary as a dot chart: one row per experiment × config.

    Left: the first non-finite step of each seed (a hollow marker at the right
    edge when the run stayed finite). Right: the final loss of each seed (log
    scale); a row whose loss is non-finite says "nan / inf".

    Args:
      rows: ``summary.csv`` rows, as :func:`gradguard.experiments.read_summary` reads them.
      lang: a language with catalogs (``gradguard.explain.languages()``).
    """
    if not rows:
        raise InputError("rows", "[]", "nonempty_rows")
    from gradguard.report._words import short_label

    def label(r: RunSummary) -> str:  # "exploding RNN, T = 10: norm clipping", in words
        return short_label({"experiment": r.experiment, "config": r.config, "T": r.T}, lang)

    labels: list[str] = []
    for r in rows:
        name = label(r)
        if name not in labels:
            labels.append(name)
    fig, axes = _figure(lang, 1, 2, (11, 0.45 * len(labels) + 1.8))
    ax_nf, ax_loss = axes[0]
    y = {name: i for i, name in enumerate(labels)}
    steps_seen = [_to_float(r.first_nonfinite_step) for r in rows]
    horizon = max([s for s in steps_seen if math.isfinite(s)] + [1.0]) * 1.15
    div_done = fin_done = False
    for r in rows:
        yy = y[label(r)]
        s = _to_float(r.first_nonfinite_step)
        if math.isfinite(s):
            ax_nf.scatter(
                [s],
                [yy],
                color="crimson",
                marker="X",
                s=60,
                label=None if div_done else t(lang, "legend_diverged"),
            )
            div_done = True
        else:
            ax_nf.scatter(
                [horizon],
                [yy],
                facecolors="none",
                edgecolors="tab:green",
                s=60,
                label=None if fin_done else t(lang, "legend_never"),
            )
            fin_done = True
        loss = r.final_loss
        if math.isfinite(loss) and loss > 0:
            ax_loss.scatter([loss], [yy], color="tab:blue", s=40)
        elif not math.isfinite(loss):
            # A diverged run has no final loss to plot; say so on its row rather
            # than leave the row blank.
            ax_loss.annotate(
                "nan / inf",
                (0.98, yy),
                xycoords=("axes fraction", "data"),
                ha="right",
                va="center",
                color="crimson",
                fontsize=8,
            )
    for a in (ax_nf, ax_loss):
        a.set_yticks(range(len(labels)), labels)
        a.grid(True, axis="x", alpha=0.3)
        # The same fixed limits on both panels: autoscaling the right panel
        # (where a diverged row has no dot) would shift its rows off the labels.
        a.set_ylim(len(labels) - 0.5, -0.5)
    ax_loss.set_yticklabels([])
    ax_loss.set_xscale("log")
    from matplotlib.ticker import MaxNLocator

    ax_nf.set_xlim(0, horizon * 1.05)  # steps count from 0: "diverged at step 2" reads as early
    ax_nf.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_nf.set_xlabel(t(lang, "axis_first_nonfinite"))
    ax_loss.set_xlabel(t(lang, "axis_final_loss"))
    ax_nf.set_title(t(lang, "title_summary"), fontsize=10)
    # Below the axes: inside, it would cover the markers of the last rows.
    ax_nf.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=2)
    return fig


def _to_float(v: object) -> float:
    if v is None or v == "":
        return math.nan
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


_ACTION_MARKS = (
    ("clipped", "legend_clipped", "tab:orange", "v"),
    ("skip", "legend_skip", "tab:purple", "s"),
    ("rollback", "legend_rollback", "black", "D"),
)


def _nonfinite(r: StepRecord) -> bool:
    return r.kind == "nonfinite" or not (r.grad_finite and r.loss_finite)


def plot_log_timeline(
    records: Sequence[StepRecord], *, source: str = "", lang: str = "en"
) -> Figure:
    """Plot a training run: its loss, its gradient norm with thresholds, its non-finite steps.

    Panels, sharing the step axis: the loss (when recorded); the pre- and post-clip
    gradient norm with the clipping threshold and the spike rule's threshold in force,
    and the clipped, skipped and rolled-back steps marked at their norm; a strip of
    their own for the non-finite steps (a NaN has no height on a norm scale). Rollbacks
    are drawn as vertical lines through every panel.

    Args:
      records: step records of one run.
      source: the run's name, shown in the title.
      lang: a language with catalogs (``gradguard.explain.languages()``).
    """
    if not records:
        raise InputError("records", "[]", "nonempty_records")
    steps = np.array([r.step for r in records])
    loss = _series(records, "loss")
    bad = [i for i, r in enumerate(records) if _nonfinite(r)]
    panels = (["loss"] if np.isfinite(loss).any() else []) + ["norm"] + (["nf"] if bad else [])
    heights = {"loss": 2.2, "norm": 3.0, "nf": 0.5}
    fig, axes = _figure(
        lang,
        len(panels),
        1,
        (10.5, 1.3 + sum(heights[p] for p in panels)),
        sharex=True,
        gridspec_kw={"height_ratios": [heights[p] for p in panels]},
    )
    ax_of = {p: axes[i][0] for i, p in enumerate(panels)}
    ax = ax_of["norm"]
    pre = _positive(_series(records, "grad_norm"))
    ax.plot(steps, pre, color="tab:blue", lw=1.2, label=t(lang, "legend_pre_clip"))
    post = _positive(_series(records, "grad_norm_clipped"))
    if np.isfinite(post).any():
        ax.plot(steps, post, color="tab:green", lw=1, ls="--", label=t(lang, "legend_post_clip"))
    thr = _series(records, "threshold")
    if np.isfinite(thr).any():
        ax.plot(steps, thr, color="gray", lw=0.9, ls=":", label=t(lang, "legend_threshold"))
    spike = _series(records, "spike_threshold")
    if np.isfinite(spike).any():
        ax.plot(steps, spike, color="crimson", lw=0.9, ls="-.", label=t(lang, "legend_spike_rule"))
    for key, legend, color, marker in _ACTION_MARKS:
        if key == "clipped":
            sel = [i for i, r in enumerate(records) if r.clipped and r.action == "step"]
        else:
            sel = [i for i, r in enumerate(records) if r.action == key]
        if sel:
            # The legend counts them all; those without a finite norm have no place on
            # this axis (the strip below marks them).
            shown = [i for i in sel if np.isfinite(pre[i])]
            ax.scatter(
                steps[shown],
                pre[shown],
                color=color,
                marker=marker,
                s=40,
                zorder=3,
                label=f"{t(lang, legend)} ({len(sel)})",
            )
    if np.isfinite(pre).any():
        ax.set_yscale("log")
    ax.set_ylabel(t(lang, "axis_grad_norm"))
    ax.grid(True, alpha=0.3)
    if "loss" in ax_of:
        la = ax_of["loss"]
        la.plot(steps, loss, color="tab:red", lw=1.1, label=t(lang, "axis_loss"))
        finite = loss[np.isfinite(loss)]
        if finite.size and finite.min() > 0 and finite.max() / finite.min() > 100:
            la.set_yscale("log")
        la.set_ylabel(t(lang, "axis_loss"))
        la.grid(True, alpha=0.3)
    if bad:
        nf = ax_of["nf"]
        # Each non-finite step marked by what the guard did with it, in the norm panel's
        # marks (a skip, a rollback); one it took anyway is a plain cross.
        nonfinite = t(lang, "legend_nonfinite")
        for key, legend, color, marker in (("step", "", "crimson", "X"), *_ACTION_MARKS[1:]):
            sel = [i for i in bad if records[i].action == key]
            if sel:
                label = f"{nonfinite}, {t(lang, legend)}" if legend else nonfinite
                nf.scatter(
                    steps[sel],
                    np.zeros(len(sel)),
                    color=color,
                    marker=marker,
                    s=45,
                    label=f"{label} ({len(sel)})",
                )
        nf.set_yticks([])
        nf.set_ylim(-1, 1)
        nf.set_ylabel(t(lang, "legend_nonfinite"), rotation=0, ha="right", va="center")
        nf.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    for r in records:
        if r.action == "rollback":
            for a in ax_of.values():
                a.axvline(r.step, color="black", lw=0.6, alpha=0.4)
    axes[-1][0].set_xlabel(t(lang, "axis_step"))
    axes[0][0].set_title(t(lang, "title_timeline", source=source or "log"), fontsize=10)
    # Outside the axes: the marked steps (the point of this plot) sit anywhere, often at the top.
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    return fig


def plot_diagnosis(diagnosis: Diagnosis, *, source: str = "", lang: str = "en") -> Figure:
    """Draw what the log doctor found: the run, its bad episodes, and the layers.

    Panels, sharing the step axis: the loss (when recorded); the pre-clip gradient norm
    with the spike rule's threshold, each bad step marked by its kind (non-finite ones at
    the top edge: a NaN has no height) and rollbacks as vertical lines; and, when the
    log has per-layer norms, each layer's norm — the layer the doctor names (the one
    that grew) drawn bold.

    Args:
      diagnosis: a :class:`gradguard.doctor.Diagnosis`.
      source: the log's name, shown in the title with the run's.
      lang: a language with catalogs (``gradguard.explain.languages()``).
    """
    records = diagnosis.steps
    steps = np.array([r.step for r in records])
    loss = _series(records, "loss")
    layered = [r for r in records if r.layer_norms]
    panels = ["loss"] if np.isfinite(loss).any() else []
    panels += ["norm"] + (["layers"] if len(layered) >= 2 else [])
    heights = {"loss": 2.0, "norm": 3.0, "layers": 2.4}
    fig, axes = _figure(
        lang,
        len(panels),
        1,
        (10.5, 1.4 + sum(heights[p] for p in panels)),
        sharex=True,
        gridspec_kw={"height_ratios": [heights[p] for p in panels]},
    )
    ax_of = {p: axes[i][0] for i, p in enumerate(panels)}
    ax = ax_of["norm"]
    pre = _positive(_series(records, "grad_norm"))
    ax.plot(steps, pre, color="tab:blue", lw=1.1, label=t(lang, "legend_pre_clip"))
    spike = _series(records, "spike_threshold")
    if np.isfinite(spike).any():
        ax.plot(steps, spike, color="crimson", lw=0.9, ls="-.", label=t(lang, "legend_spike_rule"))
    if np.isfinite(pre).any():
        ax.set_yscale("log")
        top = np.nanmax(pre)
    else:
        top = 1.0
    index = {r.step: i for i, r in enumerate(records)}
    for kind, legend, color, marker in (
        ("spike", "legend_spike", "tab:orange", "o"),
        ("nonfinite", "legend_nonfinite", "crimson", "X"),
    ):
        sel = [
            index[s]
            for e in diagnosis.episodes
            for s, k in zip(e.steps, e.kinds, strict=True)
            if k == kind
        ]
        if sel:
            at = [pre[i] if np.isfinite(pre[i]) else top for i in sel]
            ax.scatter(steps[sel], at, color=color, marker=marker, s=45, zorder=3,
                       label=f"{t(lang, legend)} ({len(sel)})")  # fmt: skip
    for r in records:
        if r.action == "rollback":
            for a in ax_of.values():
                a.axvline(r.step, color="black", lw=0.6, alpha=0.4)
    ax.set_ylabel(t(lang, "axis_grad_norm"))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    if "loss" in ax_of:
        la = ax_of["loss"]
        la.plot(steps, loss, color="tab:red", lw=1.1)
        finite = loss[np.isfinite(loss)]
        if finite.size and finite.min() > 0 and finite.max() / finite.min() > 100:
            la.set_yscale("log")
        la.set_ylabel(t(lang, "axis_loss"))
        la.grid(True, alpha=0.3)
        lr = _series(records, "lr")
        if np.isfinite(lr).any() and np.nanmax(lr) > np.nanmin(lr):
            # A schedule (or a rollback that restored one): where the bad steps begin.
            lra = la.twinx()
            lra.plot(steps, lr, color="gray", lw=0.9, ls="--")
            lra.set_ylabel(t(lang, "axis_lr"), color="gray")
    if "layers" in ax_of:
        lx = ax_of["layers"]
        names: list[str] = []
        for r in layered:
            names += [n for n in r.layer_norms or {} if n not in names]
        xs = np.array([r.step for r in layered])
        for name, color in zip(names, _colors(len(names)), strict=True):
            ys = _positive(np.array([(r.layer_norms or {}).get(name, np.nan) for r in layered]))
            bold = name == diagnosis.growing_layer
            lx.plot(xs, ys, color=color, lw=2.2 if bold else 0.9, alpha=1.0 if bold else 0.7,
                    label=name)  # fmt: skip
        if np.isfinite(pre).any():
            lx.set_yscale("log")
        lx.set_ylabel(t(lang, "axis_layer_norm"))
        lx.grid(True, alpha=0.3)
        lx.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    axes[-1][0].set_xlabel(t(lang, "axis_step"))
    axes[0][0].set_title(
        t(
            lang,
            "title_doctor",
            run=" ".join(x for x in (source, diagnosis.run) if x) or "log",
            cause=t(lang, f"cause_{diagnosis.cause}"),
        ),
        fontsize=10,
    )
    return fig


def plot_layer_heatmap(records: Sequence[StepRecord], *, lang: str = "en") -> Figure:
    """Draw per-layer gradient norms over steps as a heat map (log colours).

    Uses the steps whose record carries ``layer_norms``; layers are rows in the
    order they first appear.

    Raises:
      InputError: no record holds ``layer_norms``.
    """
    rows = [r for r in records if r.layer_norms]
    if not rows:
        raise InputError("records", f"{len(records)} records", "layer_records")
    layers: list[str] = []
    for r in rows:
        for name in r.layer_norms or {}:
            if name not in layers:
                layers.append(name)
    m = np.full((len(rows), len(layers)), np.nan)
    for i, r in enumerate(rows):
        for j, name in enumerate(layers):
            v = (r.layer_norms or {}).get(name)
            m[i, j] = np.nan if v is None else float(v)
    fig, axes = _figure(lang, 1, 1, (9, 0.3 * len(layers) + 2.5))
    ax = axes[0][0]
    _heatmap(ax, fig, m, t(lang, "axis_grad_norm"))
    # A NaN or inf norm has no colour on the scale: mark it, apart from a missing layer.
    bad = [(i, j) for i, r in enumerate(rows) for j, name in enumerate(layers)
           if name in (r.layer_norms or {}) and not math.isfinite(m[i, j])]  # fmt: skip
    if bad:
        xs, ys = zip(*bad, strict=True)
        ax.scatter(xs, ys, marker="X", s=60, color="#d62728", label=t(lang, "legend_nonfinite"))
        ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.18), fontsize=8, frameon=False)
    ax.set_yticks(range(len(layers)), layers, fontsize=7)
    ticks = np.linspace(0, len(rows) - 1, min(8, len(rows))).round().astype(int)
    ax.set_xticks(ticks, [str(rows[i].step) for i in ticks])
    ax.set_xlabel(t(lang, "axis_step"))
    ax.set_ylabel(t(lang, "axis_layer"))
    ax.set_title(t(lang, "title_layers"), fontsize=10)
    return fig


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def figure_bytes(fig: Figure, fmt: str = "png") -> bytes:
    """Return the figure encoded as PNG or SVG bytes."""
    import io

    check_choice(fmt, "format", FORMATS)
    buf = io.BytesIO()
    if fmt == "svg":
        # No date in the file: the same figure gives the same bytes.
        fig.savefig(buf, format=fmt, metadata={"Date": None})
    else:
        fig.savefig(buf, format=fmt)
    return buf.getvalue()


def save_figure(fig: Figure, path: str | os.PathLike[str]) -> Path:
    """Write ``fig`` to ``path`` (``.png`` or ``.svg``) atomically; return the path."""
    p = Path(path)
    fmt = p.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise InputError("path", str(p), "suffix", suffixes=".png, .svg")
    data = figure_bytes(fig, fmt)
    from gradguard._atomic import write_bytes_atomic

    write_bytes_atomic(p, data)
    return p
