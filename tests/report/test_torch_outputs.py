"""The report on real torch output: flow over training, a real remedy run (needs issue 3)."""

from __future__ import annotations


def test_heat_map_is_what_the_runner_recorded(tmp_path):
    """The report trains nothing: its flow heat map is the remedy run's recorded grad_h."""
    from gradguard.experiments import run_remedies
    from gradguard.records import read_log
    from gradguard.report import build_report
    from gradguard.report._inputs import load_source, recorded_flow

    (row,) = run_remedies(
        "quick", tmp_path, experiments=["adding"], configs=["rnn-clip"], T=[6], steps=8
    )
    steps = read_log(tmp_path / row.log).steps
    profiled = [s for s in steps if "grad_h" in s.extra]
    assert [s.step for s in profiled] == [0, 7]  # step 0 and the last (flow_every = steps)
    heat = recorded_flow(load_source(tmp_path))
    assert heat is not None and heat["heatmap_run"] == "adding/T6/rnn-clip/seed0"
    assert heat["heatmap"] == [s.extra["grad_h"] for s in profiled]
    assert heat["heatmap_steps"] == [0, 7]
    assert heat["heatmap_label"] == "adding T = 6, rnn-clip (tanh × default)"
    html = build_report(tmp_path)
    assert '<img alt="‖∂L/∂h_t‖ over training' in html  # the figure, named by its title


def test_report_from_a_real_remedy_run(tmp_path):
    """The report reads what the remedy runner writes (a small slice of the quick preset)."""
    from gradguard.experiments import run_remedies
    from gradguard.report import build_report

    rows = run_remedies(
        "quick", out=tmp_path, experiments=["divergence"], configs=["none", "clip-norm"], steps=30
    )
    assert [r.config for r in rows] == ["none", "clip-norm"]
    text = build_report(tmp_path)
    none, clip = rows
    assert none.diverged and not clip.diverged  # the runner's own result under fixed seeds
    k = none.first_nonfinite_step
    # the runs in words, from their own settings (no ids such as divergence/T10/none/seed0)
    said = "No remedy: diverged — the first non-finite loss or gradient"
    assert f"{said} at step {k}." in text
    assert f"Clipping the gradient&#x27;s norm at c = 1: finite for all {clip.steps_run}" in text
    # plots are PNG: their text is in the images and, read aloud, in their alt text only
    title = (
        f"No remedy — the exploding linear RNN (W = orthogonal × ρ, ρ = 2, T = {none.T}): "
        "loss and gradient norm"
    )
    text = text.split("<body>", 1)[1]  # the inlined KaTeX in the head holds "<img" and "<svg"
    assert text.count(title) == text.count(f'<img alt="{title}') == 1 and "<svg" not in text
    # explosion, sgd; summary; one run plot per config; the clipped run's recorded flow
    assert text.count("<img") == 2 + 1 + 2 + 1 and '<img alt="‖∂L/∂h_t‖ over training' in text


def test_report_from_a_real_guard_log(tmp_path):
    """The report reads what SpikeGuard writes: clipped, skipped and rolled-back steps."""
    import torch

    from gradguard.records import read_log
    from gradguard.report import build_report
    from gradguard.torch import SpikeGuard

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    log = tmp_path / "train.jsonl"
    with SpikeGuard(
        model, opt, clipper=0.5, log=log, layer_norms_every=2, rollback_after=2, spike_rule=None
    ) as guard:
        for step in range(20):
            x = torch.randn(16, 4)
            loss = ((model(x) - x.sum(1, keepdim=True)) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            if step in (8, 9):  # inject a NaN gradient twice in a row: skip, then roll back
                next(model.parameters()).grad[0, 0] = float("nan")
            guard.step(loss)
    records = read_log(log).steps
    actions = [r.action for r in records]
    assert actions[8] == "skip" and "rollback" in actions[8:10]
    text = build_report(log)
    n_clipped = sum(r.clipped for r in records)
    n_skip, n_roll = actions.count("skip"), actions.count("rollback")
    assert (
        f"20 steps from train.jsonl: {n_clipped} clipped, {n_skip} skipped, {n_roll} rolled back"
        in text
    )
    run_html = text[text.index('<section id="run">') :].split("</section>")[0]
    assert run_html.count("<img") == 2  # the timeline and the per-layer heat map
