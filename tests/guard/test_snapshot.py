"""Snapshots: host placement, no accelerator copy, safe loading of files."""

from __future__ import annotations

import os
import pickle
import random

import numpy as np
import pytest
import torch  # the [dev] extra installs torch: these tests always run

from gradguard.torch._snapshot import Snapshot, SnapshotError, host_copy


def _state(device="cpu"):
    model = torch.nn.Linear(3, 2).to(device)
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(4, 3, device=device)).sum().backward()
    opt.step()
    return {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "rng": {"python": random.getstate(), "numpy": np.random.get_state()},
    }


def _tensors(obj):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _tensors(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _tensors(v)


def test_meta_model_snapshot_lives_on_the_cpu():
    with torch.device("meta"):
        model = torch.nn.Linear(1000, 1000)
    copied = host_copy({"model": model.state_dict()})
    assert {t.device.type for t in _tensors(copied)} == {"cpu"}
    assert copied["model"]["weight"].shape == (1000, 1000)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_model_snapshot_is_pinned_host_memory():
    state = _state("cuda")
    snap = Snapshot()
    before = torch.cuda.memory_allocated()
    snap.save(state, 3)
    assert torch.cuda.memory_allocated() == before  # nothing on the accelerator
    loaded = snap.load()
    devices = {t.device.type for t in _tensors(snap._state)}
    assert devices == {"cpu"} and all(t.is_pinned() for t in _tensors(snap._state))
    torch.testing.assert_close(loaded["model"]["weight"], state["model"]["weight"].cpu())


def test_memory_snapshot_is_a_copy_and_reuses_its_buffers():
    state = _state()
    snap = Snapshot()
    snap.save(state, 1)
    buffers = [t.data_ptr() for t in _tensors(snap._state)]
    state["model"]["weight"].add_(1.0)  # later training must not change the snapshot
    assert not torch.equal(snap.load()["model"]["weight"], state["model"]["weight"])
    snap.save(state, 2)
    assert [t.data_ptr() for t in _tensors(snap._state)] == buffers
    assert torch.equal(snap.load()["model"]["weight"], state["model"]["weight"])


def test_disk_snapshot_round_trips_with_weights_only(tmp_path):
    state = _state()
    snap = Snapshot(tmp_path / "snap.pt")
    snap.save(state, 5)
    loaded = snap.load()
    torch.testing.assert_close(loaded["model"]["weight"], state["model"]["weight"])
    assert loaded["rng"]["python"] == state["rng"]["python"]
    np.testing.assert_array_equal(loaded["rng"]["numpy"][1], state["rng"]["numpy"][1])
    assert loaded["optimizer"]["state"][0]["step"] == state["optimizer"]["state"][0]["step"]


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    path = tmp_path / "snap.pt"
    Snapshot(path).save(_state(), 1)
    with open(path, "wb") as f:
        pickle.dump({"gradguard_snapshot": 1, "state": _Evil()}, f)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(SnapshotError, match=r"not a valid gradguard snapshot.*not executed"):
            Snapshot(path).load()
    finally:
        os.chdir(cwd)
    assert not (tmp_path / "PWNED").exists()


def test_a_corrupted_file_is_a_clear_error(tmp_path):
    path = tmp_path / "snap.pt"
    Snapshot(path).save(_state(), 1)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SnapshotError, match=r"snapshot file .* is not a valid"):
        Snapshot(path).load()
    path.unlink()
    with pytest.raises(SnapshotError, match="is missing"):
        Snapshot(path).load()
