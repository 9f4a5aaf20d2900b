"""The remedy runner: divergence vs clipping, records, summary, determinism, Ctrl-C."""

import csv
import math
from dataclasses import replace

import pytest
import torch

from gradguard.errors import InputError
from gradguard.experiments import (
    SUMMARY_COLUMNS,
    RemediesInterrupted,
    build_grid,
    format_summary,
    read_summary,
    run_remedies,
    train_run,
)
from gradguard.experiments._train import clip_and_measure, run_clipper
from gradguard.records import RecordWriter, read_log

SMALL = dict(experiments=["divergence"], configs=["none", "clip-norm"], steps=40)


def test_no_remedy_diverges_clipping_stays_finite(tmp_path):
    rows = run_remedies("quick", tmp_path, seeds=[0, 1], **SMALL)
    by = {(r.config, r.seed): r for r in rows}
    for seed in (0, 1):
        none, clip = by["none", seed], by["clip-norm", seed]
        # W = 2·Q over T = 10 steps under SGD η = 0.01: the update after the first
        # gradient (‖g‖ ~ 1e4) blows W up and the next forward pass overflows.
        assert none.diverged and none.first_nonfinite_step is not None
        assert none.first_nonfinite_step <= 5
        assert math.isnan(none.test_loss) or not math.isfinite(none.final_loss)
        assert not clip.diverged and clip.first_nonfinite_step is None
        assert math.isfinite(clip.final_loss) and math.isfinite(clip.test_loss)
        assert clip.clipped_steps == clip.steps_run == 40
        assert clip.max_grad_norm > 1e3  # clipping acted on exploding gradients ...
        assert clip.final_loss > clip.baseline  # ... and did not make the net learn


def test_records_are_the_shared_format(tmp_path):
    rows = run_remedies("quick", tmp_path, seeds=[0], **SMALL)
    clip = next(r for r in rows if r.config == "clip-norm")
    log = read_log(tmp_path / clip.log)
    assert log.meta[0]["config"] == "clip-norm" and log.meta[0]["seed"] == 0
    # W = 2·Q as initialised: every eigenvalue modulus and singular value is 2
    assert log.meta[0]["W_spectral_radius"] == pytest.approx(2.0, rel=1e-5)
    assert log.meta[0]["W_sigma_max"] == pytest.approx(2.0, rel=1e-5)
    assert [s.step for s in log.steps] == list(range(40))
    for s in log.steps:
        assert s.run == "divergence/T10/clip-norm/seed0" and s.action == "step"
        assert s.clipped and s.kind == "clipped" and s.threshold == 1.0
        # post-clip norm ≤ max_norm (torch adds 1e-6 to the norm) and = coef · pre
        assert s.grad_norm_clipped <= 1.0 + 1e-5
        assert s.grad_norm_clipped == pytest.approx(s.clip_coef * s.grad_norm, rel=1e-5)
        assert s.loss_finite and s.grad_finite and s.nonfinite_count == 0
    assert "test_loss" in log.steps[-1].extra
    none = next(r for r in rows if r.config == "none")
    last = read_log(tmp_path / none.log).steps[-1]
    assert last.kind == "nonfinite" and last.action == "skip"
    assert last.step == none.first_nonfinite_step
    assert not (last.loss_finite and last.grad_finite)
    assert not list(tmp_path.glob("runs/*.partial")) and not list(tmp_path.glob("runs/.*"))


def test_summary_csv_columns_and_round_trip(tmp_path):
    rows = run_remedies("quick", tmp_path, seeds=[0], **SMALL)
    with (tmp_path / "summary.csv").open() as f:
        header = next(csv.reader(f))
    assert tuple(header) == tuple(c for c in SUMMARY_COLUMNS if c != "momentum")  # none has one
    for col in (
        "experiment", "config", "seed", "diverged", "first_nonfinite_step",
        "final_loss", "max_grad_norm", "steps_to_success", "wall_s",
    ):  # fmt: skip
        assert col in header
    back = read_summary(tmp_path / "summary.csv")
    assert [(r.config, r.diverged, r.first_nonfinite_step) for r in back] == [
        (r.config, r.diverged, r.first_nonfinite_step) for r in rows
    ]
    table = format_summary(back)
    assert "| none |" in table and "diverged at step" in table and "| clip-norm |" in table


def test_same_seed_same_numbers(tmp_path):
    a = run_remedies("quick", tmp_path / "a", seeds=[3], experiments=["divergence"], steps=15)
    b = run_remedies("quick", tmp_path / "b", seeds=[3], experiments=["divergence"], steps=15)
    for ra, rb in zip(a, b, strict=True):
        # every step record identical, wall-clock time aside
        la = [replace(s, time=None) for s in read_log(tmp_path / "a" / ra.log).steps]
        lb = [replace(s, time=None) for s in read_log(tmp_path / "b" / rb.log).steps]
        assert [s.to_json() for s in la] == [s.to_json() for s in lb]
    # repr: NaN != NaN, but the text of two identical runs is identical (wall time aside)
    assert [repr(replace(r, wall_s=0.0, log=None)) for r in a] == [
        repr(replace(r, wall_s=0.0, log=None)) for r in b
    ]
    assert any(r.diverged for r in a) and any(not r.diverged for r in a)


def test_settings_restored_after_run():
    # During the run: one thread, deterministic algorithms; after it: the caller's settings.
    threads = torch.get_num_threads()
    seen = []

    def progress(p):
        if p.running:  # told from inside the run, after each step
            seen.append((torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()))

    torch.set_num_threads(2)
    try:
        run_remedies(
            "quick", None, seeds=[0], experiments=["divergence"], configs=["low-lr"], steps=2,
            progress=progress,
        )  # fmt: skip
        assert seen and set(seen) == {(1, True)}
        assert torch.get_num_threads() == 2
        assert not torch.are_deterministic_algorithms_enabled()
    finally:
        torch.set_num_threads(threads)


def test_ctrl_c_keeps_finished_runs(tmp_path):
    seen = []

    def progress(p):
        seen.append(p.run_id)
        if p.run_id.endswith("/clip-norm/seed0") and p.running:
            raise KeyboardInterrupt  # what Ctrl-C raises in the main thread

    with pytest.raises(RemediesInterrupted) as info:
        run_remedies("quick", tmp_path, seeds=[0], experiments=["divergence"], steps=40,
                     progress=progress)  # fmt: skip
    rows = info.value.rows
    assert [r.config for r in rows] == ["none"]
    assert [r.config for r in read_summary(tmp_path / "summary.csv")] == ["none"]
    # the interrupted run is lost whole: nothing of it is written
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [
        "divergence-T10-none-seed0.jsonl"
    ]
    assert not torch.are_deterministic_algorithms_enabled()


def test_long_range_run_records_test_loss():
    spec = build_grid("quick", experiments=["adding"], configs=["gru"], T=[8], steps=30)[0]
    spec = replace(spec, eval_every=10, test_size=64)
    r = train_run(spec)
    assert r.steps_run == 30 and not r.diverged and r.baseline == pytest.approx(1 / 6)
    copy = build_grid("quick", experiments=["copy"], configs=["lstm"], T=[5], steps=5)[0]
    rc = train_run(replace(copy, test_size=16))
    assert rc.baseline == pytest.approx(10 * math.log(8) / 25) and math.isfinite(rc.test_loss)


def test_clip_and_measure_matches_torch():
    # Reference: torch.nn.utils.clip_grad_norm_ / clip_grad_value_ on a copy.
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(5, 3)) for _ in range(3)]
    for p in params:
        p.grad = torch.randn_like(p) * 10
    ref = [torch.nn.Parameter(p.detach().clone()) for p in params]
    for p, q in zip(params, ref, strict=True):
        q.grad = p.grad.clone()
    pre, post, coef, max_abs, bad, _, clipped = clip_and_measure(params, run_clipper("norm", 1.0))
    assert clipped and coef < 1
    ref_norm = torch.nn.utils.clip_grad_norm_(ref, 1.0)
    assert pre == float(ref_norm)
    for p, q in zip(params, ref, strict=True):
        assert torch.equal(p.grad, q.grad)  # bit for bit: the same float32 coefficient
    assert post == pytest.approx(1.0, rel=1e-5) and bad == 0
    assert max_abs == pytest.approx(max(float(q.grad.abs().max()) for q in ref) / coef, rel=1e-5)
    for p in params:
        p.grad = torch.randn_like(p)
    grads = [p.grad.clone() for p in params]
    pre, post, coef, _, _, _, clipped = clip_and_measure(params, run_clipper("value", 0.5))
    assert clipped
    for p, g in zip(params, grads, strict=True):
        torch.testing.assert_close(p.grad, g.clamp(-0.5, 0.5))
    assert post == pytest.approx(float(torch.cat([p.grad.flatten() for p in params]).norm()))
    assert post < pre and coef == pytest.approx(post / pre)
    # Below the threshold nothing changes and clipping does not act.
    small = [p.grad.clone() for p in params]
    for clip, c in (("norm", 1e6), ("value", 10.0)):
        pre, post, coef, _, _, _, clipped = clip_and_measure(params, run_clipper(clip, c))
        assert (post, coef, clipped) == (pre, 1.0, False)
        assert all(torch.equal(p.grad, g) for p, g in zip(params, small, strict=True))
    # The loss rides along in the same host read.
    assert clip_and_measure(params, None, torch.tensor(0.25)).loss == 0.25
    params[1].grad[0, 0] = float("nan")
    assert clip_and_measure(params, None).nonfinite == 1
    # A non-finite step is left alone: the runner skips it.
    before = [p.grad.clone() for p in params]
    assert clip_and_measure(params, run_clipper("norm", 1.0)).coef == 1.0
    for p, g in zip(params, before, strict=True):
        torch.testing.assert_close(p.grad, g, equal_nan=True, rtol=0, atol=0)


def test_grid_names_and_bad_input():
    grid = build_grid("full")
    assert {s.config for s in grid if s.experiment == "divergence"} == {
        "none", "clip-norm", "clip-value", "low-lr", "init-orthogonal", "init-xavier",
        "lstm", "gru",
    }  # fmt: skip
    assert {s.config for s in grid if s.experiment == "adding"} == {
        "rnn", "rnn-clip", "irnn", "lstm", "gru",
    }  # fmt: skip
    assert {s.T for s in grid if s.experiment == "adding"} == {50, 100, 200}
    assert {s.seed for s in grid} == {0, 1, 2}
    with pytest.raises(InputError, match="experiment must be one of"):
        build_grid(experiments=["parity"])
    with pytest.raises(InputError, match="config must be one of"):
        build_grid(configs=["adamw"])
    with pytest.raises(InputError, match="T must be a whole number ≥ 2"):
        build_grid(T=[0])
    with pytest.raises(InputError, match="lr must be a finite number > 0"):
        build_grid(lr=-0.1)
    with pytest.raises(InputError, match="steps must be"):
        build_grid(steps=0)
    with pytest.raises(InputError, match="seed must be"):
        build_grid(seeds=[-1])


def test_flow_profiles_in_records_do_not_change_training(tmp_path):
    spec = build_grid("quick", experiments=["adding"], configs=["lstm"], T=[12], steps=20)[0]
    spec = replace(spec, eval_every=10, flow_every=5, test_size=64)
    with RecordWriter(tmp_path / "a.jsonl") as log:
        with_flow = train_run(spec, log)
    without = train_run(replace(spec, flow_every=0))
    assert repr(replace(with_flow, wall_s=0.0)) == repr(replace(without, wall_s=0.0))
    steps = read_log(tmp_path / "a.jsonl").steps
    profiled = [s.step for s in steps if "grad_h" in s.extra]
    assert profiled == [0, 4, 9, 14, 19]
    for s in steps:
        if "grad_h" in s.extra:
            g = s.extra["grad_h"]
            assert len(g) == 12 and all(math.isfinite(v) and v >= 0 for v in g)
            # MSE on the readout of h_T: the last state gets the direct gradient
            assert g[-1] > 0


@pytest.mark.slow
def test_quick_preset_shows_what_the_issue_asks():
    # The quick preset's divergence grid in full (300 steps), seed 0: only `none` diverges.
    rows = run_remedies("quick", None, experiments=["divergence"])
    assert [r.config for r in rows if r.diverged] == ["none"]
    assert all(math.isfinite(r.final_loss) for r in rows if r.config != "none")
    # ... and a GRU beats the adding baseline at T = 50 (the preset trains 1500
    # steps; seed 0 reaches test MSE < 0.01 at step 500, so 600 steps suffice).
    (gru,) = run_remedies("quick", None, experiments=["adding"], configs=["gru"], steps=600)
    assert gru.T == 50 and gru.beats_baseline and gru.test_loss < 0.05


def test_run_spec_checks_itself():
    spec = build_grid("quick", experiments=["divergence"], configs=["clip-norm"])[0]
    for change, match in [
        ({"optimizer": "lbfgs"}, "optimizer must be one of sgd, adam, rmsprop"),
        ({"forget_bias": 1.0}, "forget_bias must be None, or a finite number with the lstm cell"),
        ({"device": "tpu"}, "device must be one of auto, cpu, cuda, cuda:N"),
        ({"lr": -1.0}, "lr must be a finite number > 0"),
        ({"lr": float("nan")}, "lr must be"),
        ({"clip": "global"}, "clip must be"),
        ({"threshold": 0.0}, "threshold must be"),
        ({"model": "mlp"}, "model must be one of"),
        ({"init": "glorot"}, "init must be one of"),
        ({"task": "parity"}, "task must be one of"),
        ({"T": 1}, "T must be a whole number ≥ 2"),
        ({"steps": 0}, "steps must be"),
        ({"seed": -2}, "seed must be"),
        ({"momentum": 1.0}, "momentum must be a number ≥ 0 and < 1, and 0 unless the optimizer"),
        ({"momentum": -0.1}, "momentum must be"),
        ({"momentum": float("nan")}, "momentum must be"),
        ({"momentum": True}, "momentum must be"),
        ({"optimizer": "adam", "momentum": 0.9}, "momentum must be .* unless the optimizer is sgd"),
    ]:
        with pytest.raises(InputError, match=match):
            replace(spec, **change)


@pytest.mark.parametrize("config", ["clip-norm", "lstm", "gru"])
def test_step_statistics_are_grad_stats(config):
    # The runner reads the guard's grad_stats, the loss in the same host read.
    from gradguard.experiments._tasks import adding_problem
    from gradguard.experiments._train import make_model
    from gradguard.torch import grad_stats

    spec = build_grid("quick", experiments=["divergence"], configs=[config])[0]
    net = make_model(spec, torch.Generator().manual_seed(0))
    b = adding_problem(spec.T, spec.batch, torch.Generator().manual_seed(1))
    loss = spec.problem.loss(net(b.x), b.y)
    loss.backward()
    params = list(net.parameters())
    ref, _ = grad_stats(params, per_layer=False).host()
    got = clip_and_measure(params, None, loss)
    assert (got.pre, got.max_abs, got.nonfinite) == (ref.total_norm, ref.max_abs, 0)
    assert got.loss == float(loss.detach()) and (got.post, got.coef) == (got.pre, 1.0)
    # Finite entries whose norm overflows float32: a finite gradient with ‖g‖ = inf
    # (grad_stats' exact count, not "non-finite").
    params[1].grad.fill_(3e38)
    ref, _ = grad_stats(params, per_layer=False).host()
    got = clip_and_measure(params, run_clipper("norm", 1.0))
    assert got.pre == math.inf and got.nonfinite == 0 == ref.nonfinite_count
    assert got.max_abs == ref.max_abs == pytest.approx(3e38)
    params[1].grad.fill_(1.0)
    params[0].grad.view(-1)[0] = float("inf")
    params[2].grad.view(-1)[0] = float("nan")
    ref, _ = grad_stats(params, per_layer=False).host()
    assert clip_and_measure(params, None).nonfinite == ref.nonfinite_count == 2


def _without_wall_time(folder):
    """summary.csv without its wall_s column, and every record without its time field."""
    import json

    with (folder / "summary.csv").open(newline="") as f:
        table = list(csv.reader(f))
    wall = table[0].index("wall_s")
    summary = [row[:wall] + row[wall + 1 :] for row in table]
    records = {}
    for path in sorted((folder / "runs").glob("*.jsonl")):
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        records[path.name] = [{k: v for k, v in d.items() if k != "time"} for d in lines]
    return summary, records


def test_two_workers_give_the_same_bytes_as_one(tmp_path):
    # A tiny grid: a diverging run, a clipped one, a gated one at T = 6 — in the grid's order
    # whatever finishes first, every number bit for bit the same as trained in this process.
    kw = dict(experiments=["divergence", "adding"], configs=["none", "clip-norm", "gru"],
              T=[6], steps=12)  # fmt: skip
    one = run_remedies("quick", tmp_path / "one", jobs=1, **kw)
    seen = []
    two = run_remedies("quick", tmp_path / "two", jobs=2, progress=seen.append, **kw)
    assert [r.log for r in one] == [r.log for r in two]
    assert [repr(replace(r, wall_s=0.0)) for r in one] == [
        repr(replace(r, wall_s=0.0)) for r in two
    ]
    assert _without_wall_time(tmp_path / "one") == _without_wall_time(tmp_path / "two")
    assert seen[-1].done == seen[-1].total == len(one) and seen[-1].running == 0
    assert seen[-1].work_done == pytest.approx(seen[-1].work_total)  # the bar ends full
    assert seen[-1].work_total == 12 * len(one)
    with pytest.raises(InputError, match="jobs must be a whole number from 1 to"):
        run_remedies("quick", None, jobs=0, **kw)


def test_long_range_run_stops_once_solved(monkeypatch):
    import gradguard.experiments._tasks as tasks

    monkeypatch.setattr(tasks, "ADDING_SUCCESS_MSE", 10.0)  # any test MSE counts as solved
    spec = build_grid("quick", experiments=["adding"], configs=["rnn"], T=[6], steps=50)[0]
    assert spec.stop_at_success  # the preset's long-range runs stop once solved
    spec = replace(spec, eval_every=10, flow_every=10, test_size=32)
    advanced = []
    r = train_run(spec, on_step=advanced.append)
    assert (r.steps_to_success, r.steps_run, r.stopped_early, r.stop_step) == (10, 10, True, 10)
    assert sum(advanced) == 50  # the progress bar still reaches the run's budget
    full = train_run(replace(spec, stop_at_success=False))
    assert (full.steps_to_success, full.steps_run, full.stopped_early, full.stop_step) == (
        10, 50, False, None,
    )  # fmt: skip
    # divergence runs never stop early: their point is the whole budget
    div = build_grid("quick", experiments=["divergence"])
    assert not any(s.stop_at_success for s in div)


def test_stopped_run_says_so_in_its_records(tmp_path, monkeypatch):
    import gradguard.experiments._tasks as tasks

    monkeypatch.setattr(tasks, "ADDING_SUCCESS_MSE", 10.0)
    spec = build_grid("quick", experiments=["adding"], configs=["rnn"], T=[6], steps=50)[0]
    spec = replace(spec, eval_every=10, flow_every=20, test_size=32)
    with RecordWriter(tmp_path / "r.jsonl") as log:
        train_run(spec, log)
    steps = read_log(tmp_path / "r.jsonl").steps
    assert len(steps) == 10 and steps[-1].extra.get("stopped_early") is True
    assert "grad_h" in steps[-1].extra  # the last profile is the trained net's
    assert not any(s.extra.get("stopped_early") for s in steps[:-1])


def test_runner_records_come_from_the_one_constructor(tmp_path, monkeypatch):
    # The runner builds its step records with gradguard.records.make_record, as the guard
    # and the monitor do, and they read back unchanged through the one reader.
    import gradguard.experiments._train as train_mod
    from gradguard import records

    made = []

    def counting(*args, **kwargs):
        made.append(records.make_record(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(train_mod, "make_record", counting)
    written = []
    for spec in build_grid("quick", experiments=["divergence"], configs=["none", "clip-norm"]):
        path = tmp_path / f"{spec.config}.jsonl"
        with RecordWriter(path) as log:
            train_run(replace(spec, steps=12), log)
        back = read_log(path).steps
        written += back
        assert [r.to_json() for r in back] == [r.to_json() for r in made[-len(back) :]]
    assert len(made) == len(written) > 0
    assert {r.kind for r in written} >= {"clipped", "nonfinite"}
