"""Plot functions: the matplotlib objects carry the expected axes, scales, lines and labels."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest

from gradguard.errors import InputError
from gradguard.records import StepRecord, read_log
from gradguard.report import plots


def _texts(fig) -> str:
    return " ".join(t.get_text() for t in fig.findobj(lambda o: hasattr(o, "get_text")))


def test_explosion_axes_scales_lines_and_seed_overlay():
    fig = plots.plot_explosion(ws=(2.0, 1.0, 0.5), h0=1.0, T_max=60)
    ax, ax2 = fig.axes
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "time steps T" and "log scale" in ax.get_ylabel()
    # one |∂L/∂w| and one |h_T| line per w
    assert len(ax.get_lines()) == 6
    grad_w2 = ax.get_lines()[0].get_ydata()
    # exact closed form T·w^(T−1)·h0 at T = 5 (index 4): 5·2^4 = 80; at T = 10: 10·2^9 = 5120
    assert grad_w2[4] == pytest.approx(80) and grad_w2[9] == pytest.approx(5120)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "the seed's claim" in labels and "exact" in labels
    # the seed's claims (x markers) next to the exact values (o markers) at T = 5, 10, 20, 50
    seed = next(c for c in ax.collections if c.get_label() == "the seed's claim")
    assert [tuple(p) for p in seed.get_offsets()] == [(5, 80), (10, 1024), (20, 1e6), (50, 1e15)]
    # right panel: the overflow horizons as vertical lines at T = 123 (float32) and 1016 (float64)
    right_labels = [t.get_text() for t in ax2.get_legend().get_texts()]
    assert "float32 overflows at T = 123" in right_labels
    assert "float64 overflows at T = 1,016" in right_labels
    assert ax2.get_ylabel() == "log₁₀ |∂L/∂w|"


def test_explosion_neutral_w_grows_linearly():
    fig = plots.plot_explosion(ws=(1.0,), h0=3.0, T_max=10)
    y = fig.axes[0].get_lines()[0].get_ydata()
    # |w| = 1: ∂L/∂w = T·h0 = 3T
    assert np.allclose(y, 3 * np.arange(1, 11))


@pytest.mark.parametrize(
    "kwargs",
    [{"ws": ()}, {"h0": 0.0}, {"T_max": 1}, {"ws": (math.inf,)}, {"lang": "fr"}],
)
def test_explosion_bad_input(kwargs):
    with pytest.raises(InputError):
        plots.plot_explosion(**kwargs)


def test_sgd_trajectories_mark_nonfinite():
    fig = plots.plot_sgd(
        {"none": [2.0, -5.0, 1e6, math.inf], "clip": [2.0, 1.9, 1.8, 1.7]}, loss="L = h_T"
    )
    ax = fig.axes[0]
    lines = [ln for ln in ax.get_lines() if ln.get_label().startswith(("none", "clip"))]
    assert len(lines) == 2
    assert len(lines[0].get_xdata()) == 3  # stops before the inf
    # w_3 = inf comes from update k = 2 (w_{k+1} = w_k − η·g_k), as `gradguard sgd` counts
    assert lines[0].get_label() == "none — |w| reaches 1e+06 — non-finite at update k = 2"
    assert ax.get_yscale() == "linear"
    lo, hi = ax.get_ylim()
    assert lo < -1 and 2 < hi < 3  # fits the bounded run (and ±1), not the runaway one
    assert ax.get_ylabel() == "weight w" and "L = h_T" in ax.get_title()
    only_runaway = plots.plot_sgd({"none": [2.0, -1e5, 1e9]})
    assert only_runaway.axes[0].get_yscale() == "symlog"


def test_gradient_flow_and_heatmap():
    T = 30
    curves = {"linear × ρ=2": 2.0 ** np.arange(T)[::-1], "lstm": np.ones(T)}
    fig = plots.plot_gradient_flow(curves)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and len(ax.get_lines()) == 2
    assert ax.get_xlabel() == "time step t"
    heat = plots.plot_flow_heatmap(np.outer(np.arange(1, 6), np.ones(T)), steps=[0, 10, 20, 30, 40])
    img = heat.axes[0].get_images()[0]
    assert img.get_array().shape == (T, 5)
    assert img.norm.__class__.__name__ == "LogNorm"
    with pytest.raises(InputError):
        plots.plot_flow_heatmap(np.ones(3))


def test_run_plot_marks_nonfinite_steps(results_dir):
    log = read_log(results_dir / "divergence" / "none-seed0.jsonl")
    fig = plots.plot_run(log.steps, title="divergence/none/seed0")
    ax_loss, ax_norm = fig.axes
    assert ax_norm.get_yscale() == "log"
    red = [ln for ln in ax_norm.get_lines() if ln.get_color() == "crimson"]
    assert len(red) == 20 - 7  # every step from the first non-finite one (7) is marked
    assert "divergence/none/seed0" in ax_loss.get_title()


def test_summary_dot_chart(results_dir):
    from gradguard.experiments import read_summary

    rows = read_summary(results_dir / "summary.csv")
    fig = plots.plot_summary(rows)
    ax_nf, ax_loss = fig.axes
    # rows named in words, not ids ("divergence / none")
    assert next(t.get_text() for t in ax_nf.get_yticklabels()) == "exploding RNN, T = 10: no remedy"
    fig = plots.plot_summary(rows, lang="bn")
    first = next(t.get_text() for t in fig.axes[0].get_yticklabels())
    assert first == "রৈখিক RNN (explode করে), T = 10: সমাধান ছাড়া"
    labels = [c.get_label() for c in ax_nf.collections]
    assert labels.count("diverged") == 1 and labels.count("never (stayed finite)") == 1
    assert ax_loss.get_xscale() == "log"


def test_log_timeline_and_layer_heatmap(guard_log):
    steps = read_log(guard_log).steps
    fig = plots.plot_log_timeline(steps, source="train.jsonl")
    legend = [
        t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()
    ]
    # Panels: the loss, the norm, and a strip of its own for the non-finite steps (no height
    # on the norm scale: nothing of them is drawn on the norm axis).
    loss_ax, norm_ax, nf_ax = fig.axes
    assert loss_ax.get_ylabel() == "loss" and norm_ax.get_yscale() == "log"
    assert nf_ax.get_yticks().size == 0
    nonfinite_steps = {s.step for s in steps if not (s.grad_finite and s.loss_finite)}
    norm_x = {x for coll in norm_ax.collections for x, _ in coll.get_offsets()}
    assert nonfinite_steps and not nonfinite_steps & norm_x
    # norm 1 + 0.1·s exceeds the threshold 3 from s = 21 on (s = 20 gives 3.0000000000000004 in
    # floats); s = 20 and 21 are the fixture's non-finite steps, so steps 22..39 are clipped: 18
    assert "clipped (18)" in legend
    assert "skipped (2)" in legend and "rolled back (1)" in legend
    # the strip marks each non-finite step by what the guard did with it: step 20 was
    # skipped, step 21 rolled back (the norm panel's marks for those actions)
    strip = {c.get_label(): [x for x, _ in c.get_offsets()] for c in nf_ax.collections}
    assert strip == {"non-finite, skipped (1)": [20], "non-finite, rolled back (1)": [21]}
    heat = plots.plot_layer_heatmap(steps)
    ax = heat.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "rnn.weight_hh",
        "rnn.weight_ih",
        "fc.weight",
    ]
    assert ax.get_images()[0].get_array().shape == (3, 8)  # layers × recorded steps (0, 5, …, 35)
    with pytest.raises(InputError):
        plots.plot_layer_heatmap([s for s in steps if not s.layer_norms])
    # a recorded NaN norm is marked on its cell (it has no colour); a missing layer is not
    nan_step = StepRecord(step=40, layer_norms={"rnn.weight_hh": math.nan, "fc.weight": 1.0})
    heat = plots.plot_layer_heatmap([*steps, nan_step])
    (marks,) = heat.axes[0].collections
    assert marks.get_offsets().tolist() == [[8.0, 0.0]]  # column 8 (step 40), row 0 (rnn.weight_hh)


def test_bengali_labels_render_without_missing_glyphs(tmp_path):
    fig = plots.plot_explosion(lang="bn")
    assert fig.axes[0].get_xlabel() == "সময় ধাপ T"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plots.save_figure(fig, tmp_path / "bn.png")
    # matplotlib warns "Glyph N missing from font(s)" for every character it draws as an empty box
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert missing == []
    assert (tmp_path / "bn.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_save_png_and_svg(tmp_path):
    fig = plots.plot_gradient_flow({"a": [1.0, 2.0, 4.0]})
    png = plots.save_figure(fig, tmp_path / "f.png")
    svg = plots.save_figure(fig, tmp_path / "f.svg")
    assert png.read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in svg.read_bytes()[:500]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png", "f.svg"]  # no temp files left
    with pytest.raises(InputError, match=r"path must be a path ending in \.png, \.svg"):
        plots.save_figure(fig, tmp_path / "f.jpg")


def test_a_bengali_font_override_that_names_no_file_is_a_clear_error(tmp_path, monkeypatch, capsys):
    from gradguard.cli import main
    from gradguard.report import _fonts

    missing = tmp_path / "missing.ttf"
    monkeypatch.setenv("GRADGUARD_BENGALI_FONT", str(missing))
    _fonts.setup_fonts.cache_clear()
    try:
        with pytest.raises(_fonts.FontMissing, match="GRADGUARD_BENGALI_FONT must be the path"):
            plots.plot_explosion(lang="bn")
        out = tmp_path / "r.html"
        assert main(["report", "--lang", "bn", "--out", str(out)]) == 1
        err = capsys.readouterr().err  # said in the report's language
        assert err.count("\n") == 1 and f"'{missing}' (এমন কোনো ফাইল নেই)" in err, err
        assert not out.exists()
        plots.plot_explosion(lang="en")  # English needs no extra font
    finally:
        _fonts.setup_fonts.cache_clear()


@pytest.mark.parametrize(
    ("w", "f64_label"),
    [
        # w = 1.00001: T·w^(T−1) passes 1.798e308 at T = 69,173,406 (the lab's overflow_horizon)
        ("1.00001", "float64 overflows at T = 69,173,406"),
        # w = ±1: |grad| = T, so float64 overflows at T ≈ 1.798e308 — shown in scientific form
        ("1", "float64 overflows at T = ≈ 1.798 × 10^308"),
        ("-1", "float64 overflows at T = ≈ 1.798 × 10^308"),
    ],
)
def test_explosion_overflow_panel_near_one_is_sampled_on_log10_T(w, f64_label):
    # np.arange(horizon) would need ~0.5 GB at w = 1.00001 and cannot exist at w = 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plots.plot_explosion(ws=(2.0,), overflow_w=float(w))
        plots.figure_bytes(fig, "png")
    ax2 = fig.axes[1]
    assert ax2.get_xlabel() == "log₁₀ T (time steps)"
    curve = ax2.get_lines()[0].get_xdata()
    assert len(curve) <= 2000 and curve[-1] > 7
    labels = [t.get_text() for t in ax2.get_legend().get_texts()]
    assert f64_label in labels
    assert not any(re.search(r"\d{16}", s) for s in labels)  # never a raw 309-digit number
