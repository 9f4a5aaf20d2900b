"""Shared helpers for the guard's tests: small models with real gradients."""

from __future__ import annotations

import pytest
import torch  # the [dev] extra installs torch: these tests always run


@pytest.fixture(
    params=[
        "cpu",
        pytest.param(
            "cuda",
            marks=[
                pytest.mark.cuda,
                pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
            ],
        ),
    ]
)
def device(request):
    """Run a test on the CPU and, where one is present, on a CUDA GPU (``-m cuda``)."""
    return torch.device(request.param)


def make_model(seed: int = 0, dtype=torch.float32):
    """A small named model with an LSTM, a linear head and a bias-free layer."""
    torch.manual_seed(seed)
    model = torch.nn.ModuleDict(
        {
            "rnn": torch.nn.LSTM(3, 5),
            "head": torch.nn.Linear(5, 2),
            "proj": torch.nn.Linear(2, 2, bias=False),
        }
    ).to(dtype)
    return model


def backward(model, seed: int = 0, scale: float = 100.0):
    """Fill ``.grad`` of ``model`` with a real backward pass, scaled so clipping acts."""
    g = torch.Generator().manual_seed(seed)
    dtype = next(model.parameters()).dtype
    x = torch.randn(7, 2, 3, generator=g, dtype=dtype)
    out, _ = model["rnn"](x)
    y = model["proj"](model["head"](out[-1]))
    model.zero_grad(set_to_none=True)
    (y.square().sum() * scale).backward()
