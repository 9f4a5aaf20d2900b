"""Shared helpers for the guard's tests: small models with real gradients, a host-sync counter."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch  # the [dev] extra installs torch: these tests always run
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

import gradguard


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


class Net(torch.nn.Module):
    """A small LSTM regressor: predict the mean of a length-10 sequence of 1 feature."""

    def __init__(self, hidden: int = 16) -> None:
        super().__init__()
        self.rnn = torch.nn.LSTM(1, hidden, batch_first=True)
        self.head = torch.nn.Linear(hidden, 1)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1]).squeeze(-1)


#: Ops that read a tensor's values on the host inside torch: ``Tensor.item`` and the
#: conversions dispatch to ``_local_scalar_dense``; the others size their output by data.
SYNC_OPS = {"_local_scalar_dense", "nonzero", "masked_select", "unique", "_unique2"}
#: Tensor methods that hand a tensor's values to Python or numpy, and ``.cpu()``. On the
#: CPU ``tolist``, ``numpy`` and ``cpu`` dispatch no op at all (``numpy`` only a
#: ``detach``): they are seen as torch functions instead.
READS = {"item", "tolist", "numpy", "__array__", "__bool__", "__float__", "__int__", "__index__"}
READS |= {"cpu"}


def _tensors(tree):
    return [t for t in tree_flatten(tree)[0] if isinstance(t, torch.Tensor)]


def _to_host(name, args, kwargs, out) -> bool:
    """Whether an op copies a device tensor to the host and waits for it: a ``_to_copy``
    or ``copy_`` (or any op) whose output is on the CPU and an input is not — unless
    ``non_blocking`` (the guard's pinned copies, read once their event has fired)."""
    if kwargs.get("non_blocking") or (name == "copy_" and len(args) > 2 and args[2]):
        return False
    if name == "copy_":
        sources, outs = _tensors(args[1:2]), _tensors(args[:1])
    else:
        sources, outs = _tensors((args, kwargs)), _tensors(out)
    on_host = any(t.device.type == "cpu" for t in outs)
    return on_host and any(t.device.type != "cpu" for t in sources)


def _bool_mask(name, args) -> bool:
    """Indexing by a bool mask runs ``nonzero``: a read of the mask on the host."""
    if name not in ("index", "index_put_", "index_put") or len(args) < 2:
        return False
    return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in args[1])


class _Dispatched(TorchDispatchMode):
    def __init__(self, calls):
        super().__init__()
        self.calls = calls

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if name in SYNC_OPS or _bool_mask(name, args) or _to_host(name, args, kwargs, out):
            self.calls.append(name)
        return out


class _Called(TorchFunctionMode):
    def __init__(self, calls):
        super().__init__()
        self.calls = calls

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in READS and not _reading_a_record():
            self.calls.append(name)
        return func(*args, **(kwargs or {}))


#: gradguard's own source files start with this (frames elsewhere are torch's or a test's).
_SRC = str(Path(gradguard.__file__).resolve().parent)


def _reading_a_record() -> bool:
    """Whether the sync-free mode is reading a step's record after its copy has arrived
    (``DeviceRun._drain``): on a GPU a pinned host copy whose event has fired, on the CPU
    the vector itself (there is no device to wait for) — not a sync.

    Only ``_drain``'s own read: the nearest gradguard frame must be ``_drain`` itself, so a
    read made by what it calls (the books, a rollback, the hooks) is still counted.
    """
    from gradguard.torch._run import DeviceRun

    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename.startswith(_SRC):
            return frame.f_code is DeviceRun._drain.__code__
        frame = frame.f_back
    return False


class HostSyncs:
    """Count every way a value reaches the host within ``with HostSyncs() as syncs:``.

    ``syncs.calls`` lists, by name: the ops that read a tensor inside torch
    (:data:`SYNC_OPS`, indexing by a bool mask), every copy of a device tensor to the host
    that waits (an op whose output is on the CPU and an input is not, unless
    ``non_blocking``), and the Tensor methods that hand values to Python or numpy
    (:data:`READS`: ``.item()``, ``.tolist()``, ``.numpy()``, ``float(t)``, ``bool(t)``…)
    and ``.cpu()``, which on the CPU dispatch nothing and are caught as torch functions.
    The one read the sync-free mode makes — a step's record once its copy has arrived — is
    not counted.
    """

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._modes = (_Called(self.calls), _Dispatched(self.calls))

    def __enter__(self) -> HostSyncs:
        for mode in self._modes:
            mode.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        for mode in reversed(self._modes):
            mode.__exit__(*exc)
