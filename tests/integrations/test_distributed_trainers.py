"""The trainers under DDP with 2 gloo CPU processes: a fault on one rank, both ranks skip.

Also the Accelerate loop, and FSDP2 (``fully_shard`` on gloo) gradient norms: the guard's
norm is the global one, as a float, where ``get_total_norm`` gives a ``DTensor`` and the
local shards give each rank's share.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).with_name("dist_trainers.py")
WORLD = 2
pytestmark = [pytest.mark.distributed, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """Run every check in one pair of processes (one import of each trainer); the results."""
    out = tmp_path_factory.mktemp("dist")
    procs = []
    for mode in ("all",):
        port = _free_port()
        for r in range(WORLD):
            env = {
                **os.environ,
                "RANK": str(r),
                "LOCAL_RANK": str(r),
                "GROUP_RANK": "0",
                "WORLD_SIZE": str(WORLD),
                "LOCAL_WORLD_SIZE": str(WORLD),
                "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": str(port),
                "OMP_NUM_THREADS": "1",
                "PYTHONWARNINGS": "ignore",
            }
            cmd = [sys.executable, str(WORKER), mode, str(out)]
            procs.append(
                (
                    mode,
                    r,
                    subprocess.Popen(
                        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
                    ),
                )
            )
    logs = {}
    try:
        for mode, r, p in procs:
            # A deadlock (one rank skipping alone, say) would hang here: fail, don't wait.
            logs[mode, r] = p.communicate(timeout=300)[0]
    finally:
        for *_, p in procs:
            if p.poll() is None:
                p.kill()
    failed = [(m, r, p.returncode) for m, r, p in procs if p.returncode]
    if failed:
        report = "\n".join(
            f"--- {m} rank {r} (exit {c}):\n{logs[m, r][-3000:]}" for m, r, c in failed
        )
        pytest.fail(f"a rank failed:\n{report}")
    return [json.loads((out / f"all.rank{r}.json").read_text()) for r in range(WORLD)]


def check_norms(a, b, bad):
    """The guard's norm is the replicated gradients' norm (torch's, on each rank), not a sum."""
    assert len(a["norms"]) == len(b["norms"]) == len(a["actions"])
    for step, ((torch_a, ours_a), (torch_b, ours_b)) in enumerate(
        zip(a["norms"], b["norms"], strict=True)
    ):
        if step == bad:  # NaN on rank 0 only: both ranks record a non-finite norm
            assert not math.isfinite(ours_a) and not math.isfinite(ours_b)
            continue
        assert torch_a == pytest.approx(torch_b, rel=1e-6)
        assert ours_a == ours_b == pytest.approx(torch_a, rel=1e-5)


def test_lightning_ddp_fault_on_one_rank_both_skip(ranks):
    a, b = ranks[0]["lightning"], ranks[1]["lightning"]
    assert a["world"] == 2
    assert a["actions"] == b["actions"]
    assert [i for i, x in enumerate(a["actions"]) if x != "step"] == [5]
    assert a["skipped"] == b["skipped"] == 1
    assert a["checksum"] == b["checksum"]  # the replicas never diverged
    check_norms(a, b, bad=5)


def test_hf_ddp_fault_on_one_rank_both_skip(ranks):
    a, b = ranks[0]["hf"], ranks[1]["hf"]
    assert a["world"] == 2
    assert a["actions"] == b["actions"]
    assert [i for i, x in enumerate(a["actions"]) if x != "step"] == [3]
    assert a["checksum"] == b["checksum"]
    check_norms(a, b, bad=3)
    # The linear schedule over 8 steps after 7 taken ones: lr = 1e-3 · (1 − 7/8).
    assert a["lr"] == b["lr"] == pytest.approx(1e-3 * (1 - 7 / 8))


def test_accelerate_loop_fault_on_one_rank_both_skip(ranks):
    a, b = ranks[0]["accelerate"], ranks[1]["accelerate"]
    assert a["actions"] == b["actions"] == ["step", "step", "skip", "step", "step", "step"]
    assert a["norms"] == b["norms"]  # the same global float on every rank
    assert a["checksum"] == b["checksum"]


def test_fsdp2_norm_is_the_global_float(ranks):
    for r in ranks:
        f = r["fsdp2"]
        assert f["is_dtensor"]  # what get_total_norm (and accelerate) hand back under FSDP2
        assert f["ours"] == pytest.approx(f["reference"], rel=1e-6)
        assert f["dtensor_full"] == pytest.approx(f["reference"], rel=1e-6)
        assert f["local_shard"] < f["reference"]  # one rank's share is not the norm
    assert ranks[0]["fsdp2"]["ours"] == ranks[1]["fsdp2"]["ours"]


def test_torch_distributed_available():
    assert torch.distributed.is_available()


@pytest.mark.parametrize("trainer", ["lightning_rerun", "hf_rerun"])
def test_rerun_under_ddp_fault_on_one_rank(ranks, trainer):
    """rerun=True under DDP, the fault on rank 0 only: every rank re-runs the step together
    and both take the same verdict — transient (taken) for a one-off fault, reproducible
    (skipped) for one that comes back on the re-run — and the replicas stay equal."""
    a, b = ranks[0][trainer], ranks[1][trainer]
    bad = 4 if trainer == "lightning_rerun" else 3
    for name, action in (("transient", "step"), ("reproducible", "skip")):
        assert a[name] == b[name]
        assert a[name][bad] == [action, name]
        assert all(v == ["step", None] for i, v in enumerate(a[name]) if i != bad)
        assert a[name + "_checksum"] == b[name + "_checksum"]


def test_accelerate_rerun_under_ddp_fault_on_one_rank(ranks):
    """guard.step(batch=b, closure=...) in an Accelerate loop under DDP, the inf on rank 0
    only: both ranks re-run the step together and take the same verdict. Transient: taken
    with the re-run's gradients, and both ranks end bitwise equal to the clean run.
    Reproducible: skipped, batch 3 on every rank's skip list, and skipped by skip_batch
    on both ranks when it comes back in the next epoch."""
    a, b = ranks[0]["accelerate_rerun"], ranks[1]["accelerate_rerun"]
    assert a["world"] == 2
    for key in a:
        assert a[key] == b[key], key  # every rank: the same decisions, the same weights
    clean, transient, reproducible = a["clean"], a["transient"], a["reproducible"]
    assert all(s[2:] == ["step", None] for s in clean)
    assert transient[3] == [0, 3, "step", "transient"]
    assert all(s[2:] == ["step", None] for i, s in enumerate(transient) if i != 3)
    assert a["transient_params"] == a["clean_params"]  # bitwise: nothing lost
    assert a["transient_skips"] == []
    assert reproducible[3] == [0, 3, "skip", "reproducible"]
    assert reproducible[9] == [1, 3, "skipped by skip_batch", None]
    assert all(s[2:] == ["step", None] for i, s in enumerate(reproducible) if i not in (3, 9))
    assert a["reproducible_skips"] == b["reproducible_skips"] == [3]
    assert a["reproducible_params"] != a["clean_params"]
