"""Where a run trains: `--device`. The first steps on a GPU match the CPU's to float tolerance."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from gradguard.experiments import build_grid, train_run
from gradguard.experiments._runner import deterministic
from gradguard.records import RecordWriter, read_log


def _steps(spec, tmp_path, name):
    path = tmp_path / f"{name}.jsonl"
    with deterministic(), RecordWriter(path) as log:
        train_run(spec, log)
    return read_log(path).steps


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none here)")
@pytest.mark.parametrize("config", ["irnn", "lstm", "rnn"])
def test_first_steps_on_the_gpu_match_the_cpu(config, tmp_path, monkeypatch):
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    spec = build_grid("copy-memory", configs=[config], T=[100])[0]
    spec = replace(spec, steps=5, eval_every=5, flow_every=5, test_size=64)
    cpu = _steps(spec, tmp_path, "cpu")
    gpu = _steps(replace(spec, device="cuda"), tmp_path, "gpu")
    assert len(cpu) == len(gpu) == 5
    for a, b in zip(cpu, gpu, strict=True):
        for field in ("loss", "grad_norm", "grad_norm_clipped", "max_abs"):
            assert math.isclose(getattr(a, field), getattr(b, field), rel_tol=1e-4, abs_tol=1e-6)
    assert math.isclose(cpu[-1].extra["test_loss"], gpu[-1].extra["test_loss"], rel_tol=1e-4)


def test_device_cuda_without_a_gpu_is_one_line(capsys):
    from gradguard.cli import main

    if torch.cuda.is_available():
        pytest.skip("a GPU is here: --device cuda is valid")
    code = main(["remedies", "--experiments", "divergence", "--device", "cuda", "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "torch sees no CUDA device here" in err
    assert main(["remedies", "--device", "tpu", "--no-progress"]) == 2
    assert "--device must be one of auto, cpu, cuda, cuda:N, got 'tpu'" in capsys.readouterr().err


def test_auto_is_decided_by_the_worker_that_trains_not_by_the_driver(tmp_path, monkeypatch):
    import concurrent.futures as cf

    import gradguard.experiments._runner as runner
    from gradguard.cli._experiments import _device
    from gradguard.experiments import read_summary, run_remedies

    tiny = dict(experiments=["divergence"], configs=["none", "clip-norm"], steps=5)
    # a driver that sees a GPU: on a cluster it keeps `auto` for the workers to decide
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert _device("auto", False, "en") == "auto"
    assert _device("auto", True, "en") == "cuda"  # the runs train here: decided here
    # a worker that sees a GPU trains on it; the row says so and keeps the grid's hash
    (spec,) = build_grid("quick", device="auto", **{**tiny, "configs": ["none"]})
    seen = []

    def fake_train(s, log, on_step=None):
        seen.append(s.device)
        return real_train(replace(s, device="cpu"), log, on_step)

    real_train = runner.train_run
    monkeypatch.setattr(runner, "train_run", fake_train)
    result = runner.run_task(spec)
    assert seen == ["cuda"] and result.row.device == "cuda"
    assert result.row.config_hash == spec.config_hash
    monkeypatch.undo()
    # workers that see no GPU (this machine): every row says cpu, whatever the driver saw
    # one thread: run_task sets torch's process-wide settings for its run and restores them
    with cf.ThreadPoolExecutor(1) as pool:
        rows = run_remedies("quick", tmp_path, device="auto", executor=pool, **tiny)
    assert (
        [r.device for r in rows]
        == ["cpu", "cpu"]
        == [r.device for r in read_summary(tmp_path / "summary.csv")]
    )
    assert {r.config_hash for r in rows} == {
        s.config_hash for s in build_grid("quick", device="auto", **tiny)
    }
