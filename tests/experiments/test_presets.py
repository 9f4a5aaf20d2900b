"""The paper presets: their settings against the papers' (transcribed here, cited), end to end.

The tables below are transcribed from the sources, independently of the presets' code:

- Arjovsky, Shah & Bengio, "Unitary Evolution Recurrent Neural Networks" (ICML 2016),
  section 4.1 / Figure 1, as their code runs it (github.com/amarshah/complex_RNN:
  ``memory_problem.py`` — RMSProp, ``learning_rate`` 0.001, ``n_batch`` 20, ``n_iter`` 20000,
  ``T.clip(g, -1, 1)`` for LSTM, IRNN and tanh RNN, a test every 50 iterations;
  ``optimizations.py`` — decay 0.9; ``models.py`` — LSTM forget bias ones, IRNN ``W = I``
  and zero biases, Glorot-uniform matrices), and as their draft's text says it
  (``paper/uRNN/uRNN.tex``, section 4: RMSProp, learning rate 10⁻³, decay 0.9, gradients
  clipped at 1 for the LSTM and the tanh RNN; section 4.1: hidden layers of 80, 80 and 40
  for the tanh RNN, the IRNN and the LSTM).
- Le, Jaitly & Hinton, "A Simple Way to Initialize Recurrent Networks of Rectified Linear
  Units" (2015), abstract: the IRNN is a ReLU RNN whose recurrent matrix starts at the
  identity (biases zero). The rest of its section 4.1 could not be checked; the preset's
  own choices are listed as such in ``gradguard.experiments.PAPERS`` and must stay marked
  unverified there.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

import pytest
import torch

from gradguard.errors import InputError
from gradguard.experiments import PAPERS, build_grid, run_remedies

from ..made_up_runs import preset_rows

#: (setting, the source's value) — Arjovsky et al. (2016) as their code runs it.
ARJOVSKY_CODE = {
    "optimizer": "rmsprop",  # rms_prop(), decay 0.9
    "lr": 0.001,  # --learning_rate default
    "batch": 20,  # --n_batch default
    "steps": 20_000,  # --n_iter default
    "eval_every": 50,  # `if (i % 50 == 0): test()`
    "clip": ("value", 1.0),  # T.clip(g, -1, 1) for LSTM, IRNN, tanh RNN
}
ARJOVSKY_INITS = {"rnn": ("tanh", "xavier-uniform"), "irnn": ("relu", "identity"),
                  "lstm": ("lstm", "xavier-uniform")}  # fmt: skip
#: Hidden sizes, the draft's section 4.1 ("hidden layers of size 80, 80, 40 and 128": tanh
#: RNN, IRNN, LSTM, uRNN).
ARJOVSKY_HIDDEN = {"rnn": 80, "irnn": 80, "lstm": 40}


def test_copy_memory_preset_is_the_papers_setup():
    grid = build_grid("copy-memory")
    assert {s.experiment for s in grid} == {"copy"}
    assert {s.T for s in grid} == {100, 200, 500}  # Figure 1 (and T = 300, not in the preset)
    assert {s.config for s in grid} == set(ARJOVSKY_INITS)
    for s in grid:
        assert s.optimizer == ARJOVSKY_CODE["optimizer"] and s.lr == ARJOVSKY_CODE["lr"]
        assert s.batch == ARJOVSKY_CODE["batch"] and s.steps == ARJOVSKY_CODE["steps"]
        assert s.eval_every == ARJOVSKY_CODE["eval_every"]
        assert (s.clip, s.threshold) == ARJOVSKY_CODE["clip"]
        assert (s.model, s.init) == ARJOVSKY_INITS[s.config]
        assert s.hidden == ARJOVSKY_HIDDEN[s.config]
        assert s.forget_bias == (1.0 if s.model == "lstm" else None)
        # the memoryless baseline of the draft's equation: 10 log 8 / (T + 20)
        assert s.baseline == pytest.approx(10 * math.log(8) / (s.T + 20))


def test_le2015_preset_is_the_papers_irnn():
    grid = build_grid("le2015-adding")
    assert {s.experiment for s in grid} == {"adding"}
    irnn = [s for s in grid if s.config == "irnn"]
    assert irnn and all((s.model, s.init) == ("relu", "identity") for s in irnn)  # abstract
    assert {s.config for s in grid} == {"irnn", "rnn", "lstm"}
    assert {s.T for s in grid} == {150, 200, 300, 400}
    assert {s.model for s in grid if s.config == "lstm"} == {"lstm"}


@pytest.mark.parametrize("key", ["le2015", "arjovsky2016"])
def test_the_papers_table_says_what_the_preset_does_and_how_sure(key):
    paper = PAPERS[key]
    grid = build_grid(paper.preset)
    by = {s.config: s for s in grid}
    verified = {s.name for s in paper.settings if s.verified}
    for setting in paper.settings:
        value = setting.value
        if setting.name == "T":
            assert tuple(sorted({s.T for s in grid})) == value
        elif setting.name == "hidden":
            want = value if isinstance(value, dict) else dict.fromkeys(by, value)
            assert {c: s.hidden for c, s in by.items()} == want
        elif setting.name == "clip":
            assert {(s.clip, s.threshold) for s in grid} == {value}
        elif setting.name.endswith(" init"):
            config = setting.name.split()[0]
            assert by[config].init == str(value).split(" ")[0].rstrip(",")
        elif setting.name == "lstm forget_bias":
            assert by["lstm"].forget_bias == value
        else:
            assert {getattr(s, setting.name) for s in grid} == {value}, setting.name
    # only what the sources above were read for is marked verified
    if key == "le2015":
        assert verified == {"irnn init"}
    else:
        assert set(ARJOVSKY_CODE) | {"hidden"} <= verified


def test_an_unknown_setting_is_a_key_error_naming_the_known_ones():
    paper = PAPERS["le2015"]
    with pytest.raises(KeyError, match=r"le2015 has no setting 'dropout'; its settings: .*lr"):
        paper.setting("dropout")
    with pytest.raises(KeyError, match="no setting 'dropout'"):
        paper.verified("dropout")
    assert paper.setting("lr") == 0.01 and paper.verified("irnn init")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("preset", "budget", "T"),
    [
        # every configuration at the shortest length: 3 runs of 10 steps, ~5 s of CPU with
        # the report (all four lengths: ~16 s; each evaluation is 1000 sequences of T ≤ 400)
        ("le2015-adding", 0.00001, [150]),
        ("copy-memory", 0.0005, None),  # every run: 9 runs of 10 steps, ~11 s of CPU
    ],
)
def test_paper_preset_end_to_end_small(preset, budget, T, tmp_path):
    # A class-sized version: train → summary.csv → the report's "Beside the literature".
    from gradguard.experiments import paper_of, read_summary
    from gradguard.report import build_report
    from gradguard.report._i18n import t

    start = time.perf_counter()
    rows = run_remedies(preset, tmp_path, budget=budget, T=T, jobs=1)
    trained = time.perf_counter() - start
    grid = build_grid(preset, budget=budget, T=T)
    assert {s.config for s in grid} == set(PAPERS[_paper_key(preset)].configs)
    assert [r.config for r in rows] == [s.config for s in grid]
    summary = read_summary(tmp_path / "summary.csv")
    assert len(summary) == len(grid)
    assert all(r.steps_run <= s.steps for r, s in zip(rows, grid, strict=True))
    assert all(math.isfinite(r.final_loss) or r.diverged for r in rows)
    assert paper_of(summary) is PAPERS[_paper_key(preset)]
    page = build_report(tmp_path)
    section = page.split('<section id="literature"', 1)[1].split("</section>", 1)[0]
    body = section.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert body.count("<tr>") == len(grid)  # one row per run
    assert section.count("<img") == 1  # the runs' test loss over training, one panel a length
    alt = section.split('alt="', 1)[1].split('"', 1)[0]
    assert alt == " · ".join(
        t("en", "title_beside_paper", T=length) for length in sorted({s.T for s in grid})
    )
    took = time.perf_counter() - start
    print(f"{preset} at budget {budget}: {len(rows)} runs trained in {trained:.1f} s, "
          f"reported in {took - trained:.1f} s")  # fmt: skip


def _paper_key(preset: str) -> str:
    return next(k for k, p in PAPERS.items() if p.preset == preset)


def test_budget_scales_steps_and_the_evaluation_interval():
    full = {(s.run_id, s.steps, s.eval_every) for s in build_grid("copy-memory")}
    assert {(steps, every) for _, steps, every in full} == {(20_000, 50)}
    half = build_grid("copy-memory", budget=0.5)
    assert {(s.steps, s.eval_every, s.flow_every) for s in half} == {(10_000, 25, 25)}
    # a small version does not evaluate at every step: at most every 10 steps
    assert {(s.steps, s.eval_every) for s in build_grid("copy-memory", budget=0.002)} == {(40, 10)}
    assert {(s.steps, s.eval_every) for s in build_grid("copy-memory", budget=0.0002)} == {(4, 4)}
    # le2015: 10^6 steps evaluated every 1000; at 0.001, 1000 steps evaluated every 10
    assert {(s.steps, s.eval_every) for s in build_grid("le2015-adding", budget=0.001)} == {
        (1000, 10)
    }
    # at the preset's own budget nothing changes
    assert build_grid("copy-memory", budget=1.0) == build_grid("copy-memory")
    # more than the paper's budget is allowed, up to 1000×
    assert {s.steps for s in build_grid("quick", budget=2.0, experiments=["adding"])} == {3000}
    with pytest.raises(InputError, match="budget must be a number > 0 and ≤ 1000"):
        build_grid("quick", budget=0)
    with pytest.raises(InputError, match="budget must be"):
        build_grid("quick", budget=float("nan"))


@pytest.mark.parametrize(
    ("preset", "name", "bn"),
    [
        ("copy-memory", "RMSprop", "RMSprop"),
        ("le2015-adding", "SGD, momentum 0.9", "momentum 0.9-সহ SGD"),
        ("full", "Adam", "Adam"),
    ],
)
def test_the_summary_names_the_optimizer_the_runs_used(preset, name, bn):
    from gradguard.experiments import format_summary

    rows = preset_rows(preset, experiments=["copy" if preset == "copy-memory" else "adding"])
    for lang, words in (("en", name), ("bn", bn)):
        text = format_summary(rows, lang=lang)
        headings = [line for line in text.splitlines() if line.startswith("### ")]
        assert headings and all(f", {words} (" in h for h in headings), (lang, headings)


#: The SGD momentum each preset's runs train with: Le et al. (2015) trained with SGD with
#: momentum (Arjovsky et al.'s draft, section 4.2); μ = 0.9 is the preset's own choice.
MOMENTUM = {"le2015-adding": 0.9}


@pytest.mark.parametrize("preset", ["quick", "full", "le2015-adding", "copy-memory"])
def test_the_optimizer_has_the_presets_momentum(preset):
    from torch import nn

    from gradguard.experiments._train import make_optimizer

    grid = build_grid(preset, experiments=["divergence", "adding", "copy"])
    params = list(nn.Linear(2, 1).parameters())
    for spec in grid:
        opt = make_optimizer(spec, params)
        want = MOMENTUM.get(preset, 0.0) if spec.experiment != "divergence" else 0.0
        assert opt.param_groups[0].get("momentum", 0.0) == want, spec.run_id
        assert isinstance(opt, torch.optim.SGD) == (spec.optimizer == "sgd")
    if preset == "le2015-adding":
        assert {type(make_optimizer(s, params)) for s in grid if s.experiment != "divergence"} == {
            torch.optim.SGD
        }


def test_plain_sgd_rows_are_not_the_le2015_presets():
    from gradguard.experiments import paper_of

    rows = preset_rows("le2015-adding")
    assert paper_of(rows) is PAPERS["le2015"]
    assert paper_of([replace(r, momentum=None) for r in rows]) is None  # before momentum
    assert paper_of([replace(r, momentum=0.5) for r in rows]) is None


def test_le2015_runs_train_with_momentum(tmp_path):
    # The runner steps with that optimizer: torch's momentum buffer starts at the first
    # gradient, so the first update is plain SGD's (the losses of steps 0 and 1 agree)
    # and the second is not (v = 0.9 g₀ + g₁ against g₁: step 2's loss differs).
    from gradguard.experiments._train import train_run
    from gradguard.records import RecordWriter, read_log

    spec = replace(build_grid("le2015-adding", T=[150], configs=["rnn"], steps=3)[0], test_size=8)
    losses = {}
    for momentum in (0.9, 0.0):
        path = tmp_path / f"momentum-{momentum}.jsonl"
        with RecordWriter(path) as log:
            train_run(replace(spec, momentum=momentum), log)
        losses[momentum] = [r.loss for r in read_log(path).steps]
    assert losses[0.9][:2] == losses[0.0][:2]
    assert losses[0.9][2] != losses[0.0][2]
