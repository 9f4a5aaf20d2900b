"""Shared helpers for the trainer integrations' tests: the examples' models, their state."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_example(name: str):
    """Import ``examples/NAME.py`` as a module (the tests train the examples' models)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def state_of(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """Clone the parameters and the optimizer state (tensors and counters)."""
    params = {k: v.detach().clone() for k, v in model.named_parameters()}
    opt = {
        i: {k: (v.detach().clone() if torch.is_tensor(v) else v) for k, v in s.items()}
        for i, s in enumerate(optimizer.state.values())
    }
    return {"params": params, "opt": opt}


def assert_same_state(a: dict, b: dict) -> None:
    """Assert two :func:`state_of` results are bitwise equal."""
    assert a["params"].keys() == b["params"].keys()
    for k in a["params"]:
        assert torch.equal(a["params"][k], b["params"][k]), k
    assert a["opt"].keys() == b["opt"].keys()
    for i in a["opt"]:
        for k, v in a["opt"][i].items():
            w = b["opt"][i][k]
            assert torch.equal(v, w) if torch.is_tensor(v) else v == w, (i, k)
