"""Snapshots: host placement, no accelerator copy, safe loading of files."""

from __future__ import annotations

import copy
import math
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


# -- a snapshot is kept only once its step is judged healthy ---------------------------


@pytest.mark.parametrize("where", ["memory", "disk"])
def test_staged_snapshot_is_committed_or_dropped(where, tmp_path):
    snap = Snapshot(None if where == "memory" else tmp_path / "snap.pt")
    state = _state()
    snap.save(state, 0)
    good = state["model"]["weight"].clone()
    state["model"]["weight"].add_(1.0)
    snap.stage(state, 5)
    assert snap.step == 0 and snap.pending_step == 5
    torch.testing.assert_close(snap.load()["model"]["weight"], good)  # the older one
    snap.drop()
    assert snap.pending_step is None and snap.step == 0
    torch.testing.assert_close(snap.load()["model"]["weight"], good)
    snap.stage(state, 7)
    snap.commit()
    assert (snap.step, snap.pending_step) == (7, None)
    torch.testing.assert_close(snap.load()["model"]["weight"], state["model"]["weight"])
    if where == "disk":
        assert sorted(p.name for p in tmp_path.iterdir()) == ["snap.pt"]  # no .pending left
    else:  # two sets of buffers, written in turn: no new allocation per snapshot
        first = {t.data_ptr() for t in _tensors(snap._state)}
        snap.stage(state, 9)
        snap.commit()
        snap.stage(state, 11)
        snap.commit()
        assert {t.data_ptr() for t in _tensors(snap._state)} == first


def _corrupted_run(sync, snapshot_path=None, *, resume_at=None, steps=40):
    """Train a small model; before step 20, when the guard's snapshot falls due (every 5
    healthy steps from step 0), set one weight to NaN, as a silent data corruption does."""
    from gradguard.torch import SpikeGuard

    def make():
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, fused=True)
        guard = SpikeGuard(model, opt, clipper=1.0, sync=sync, rollback_after=3,
                           snapshot_every=5, snapshot_path=snapshot_path)  # fmt: skip
        return model, opt, guard

    model, opt, guard = make()
    records, weights = [], {}
    guard.hooks.append(records.append)
    g = torch.Generator().manual_seed(1)
    data = [(torch.randn(16, 4, generator=g), torch.randn(16, 1, generator=g))
            for _ in range(steps)]  # fmt: skip
    for step, (x, y) in enumerate(data):
        weights[step] = [p.detach().clone() for p in model.parameters()]
        if step == 20:
            with torch.no_grad():
                model[0].weight[0, 0] = math.nan
        if step == resume_at:  # a checkpoint, and a new process resuming from it
            checkpoint = copy.deepcopy({"model": model.state_dict(), "opt": opt.state_dict(),
                                        "guard": guard.state_dict(snapshot=True)})  # fmt: skip
            guard.close()
            model, opt, guard = make()
            model.load_state_dict(checkpoint["model"])
            opt.load_state_dict(checkpoint["opt"])
            guard.load_state_dict(checkpoint["guard"])
            guard.hooks.append(records.append)
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        guard.step(loss)
    guard.close()
    return records, weights, model


@pytest.mark.parametrize("sync", [True, False])
@pytest.mark.parametrize("where", ["memory", "disk"])
def test_weights_corrupted_when_a_snapshot_falls_due_are_never_restored(sync, where, tmp_path):
    path = None if where == "memory" else tmp_path / "snap.pt"
    records, weights, model = _corrupted_run(sync, path)
    actions = [r.action for r in records]
    assert actions[:20] == ["step"] * 20
    # Steps 20–22 start from the NaN weight: bad; the third rolls back — to the snapshot
    # of step 15, the last one whose step was healthy, not to the corrupted state of 20.
    assert actions[20:23] == ["skip", "skip", "rollback"]
    assert records[22].extra["restored_step"] == 15
    assert all(torch.equal(a, b) for a, b in zip(weights[23], weights[15], strict=True))
    assert actions[23:] == ["step"] * 17  # recovered: the model is sound again
    assert all(torch.isfinite(p).all() for p in model.parameters())
    if where == "disk":
        assert sorted(p.name for p in tmp_path.iterdir()) == ["snap.pt"]


def test_a_resumed_run_keeps_the_older_snapshot_too():
    # A checkpoint taken after the bad step that dropped the staged snapshot: the resumed
    # guard's rollback restores step 15's snapshot as well.
    records, weights, model = _corrupted_run(True, resume_at=21)
    assert [r.action for r in records[20:23]] == ["skip", "skip", "rollback"]
    assert records[22].extra["restored_step"] == 15
    assert all(torch.equal(a, b) for a, b in zip(weights[23], weights[15], strict=True))
    assert [r.action for r in records[23:]] == ["step"] * 17
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize("sync", [True, False])
def test_a_run_resumed_from_a_snapshot_on_disk_restores_that_snapshot(sync, tmp_path):
    """The resumed guard is built on the same snapshot_path: building it must not overwrite
    the file the checkpoint refers to (before, it wrote the resumed — here corrupted —
    state there, and the rollback restored it under the old snapshot's step)."""
    path = tmp_path / "snap.pt"
    records, weights, model = _corrupted_run(sync, path, resume_at=21)
    assert [r.action for r in records[20:23]] == ["skip", "skip", "rollback"]
    assert records[22].extra["restored_step"] == 15
    assert all(torch.equal(a, b) for a, b in zip(weights[23], weights[15], strict=True))
    assert [r.action for r in records[23:]] == ["step"] * 17
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_a_new_guard_keeps_a_snapshot_file_it_finds_until_its_first_step(tmp_path):
    """A guard built on an existing snapshot file leaves it as it is (a resumed run's
    load_state_dict refers to it); a run that does not resume replaces it at its first
    step with its own, and says so, naming the path."""
    from gradguard.torch import SpikeGuard

    path = tmp_path / "snap.pt"
    old = torch.nn.Linear(3, 1)
    SpikeGuard(old, torch.optim.SGD(old.parameters(), lr=0.1), snapshot_path=path).close()
    before = path.read_bytes()
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    guard = SpikeGuard(model, opt, snapshot_path=path)
    assert path.read_bytes() == before  # construction: the user's file untouched
    start = model.weight.detach().clone()
    model(torch.randn(4, 3)).sum().backward()
    with pytest.warns(UserWarning, match="snapshot") as seen:
        guard.step()
    assert str(path) in str(seen[0].message)
    # now this run's own snapshot: the new model's weights as its first step started
    state = guard.snapshot.load()
    assert guard.snapshot.step == 0
    assert torch.equal(state["model"]["weight"], start)
    assert not torch.equal(state["model"]["weight"], old.weight.detach())
    guard.close()
