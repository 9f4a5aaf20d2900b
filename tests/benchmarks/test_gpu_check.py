"""benchmarks/gpu_check.py: its CPU-safe parts (the model's size, a tiny smoke run)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import torch  # the [dev] extra installs torch: these tests always run

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_model_is_gpt2_small_sized(gpu_check):
    with torch.device("meta"):  # no memory: only the shapes
        model = gpu_check.GPT(gpu_check.GPTConfig())
    n = sum(p.numel() for p in model.parameters())
    # GPT-2 small with tied embeddings: 124,439,808 parameters (Radford et al. 2019).
    assert n == 124_439_808


def test_tiny_cpu_run_prints_the_table(gpu_check, capsys):
    assert gpu_check.main(["--device", "cpu", "--tiny", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "clip_grad_norm_ + step" in out and "guard (default)" in out
    assert "1.000×" in out  # the baseline's own ratio
    # The CPU's kernels are deterministic: a re-run of the same step is the same step.
    assert re.search(r"re-run spread, max of 5 \(grad norm / loss\) +0\.0e\+00 / 0\.0e\+00", out)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_without_cuda_it_says_so_and_exits_zero(gpu_check, capsys):
    assert gpu_check.main([]) == 0
    assert "needs a CUDA GPU" in capsys.readouterr().out
