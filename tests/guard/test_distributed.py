"""DDP and FSDP2 under gloo, 2 CPU processes: global norms, identical decisions, no deadlock."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch  # the [dev] extra installs torch: these tests always run

from ._ranks import run_ranks

if not torch.distributed.is_available():  # pragma: no cover
    pytest.skip("torch was built without torch.distributed", allow_module_level=True)

WORKER = Path(__file__).with_name("dist_worker.py")
WORLD = 2


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """Run every distributed check once, in two processes; return each rank's results."""
    return run_ranks(WORKER, WORLD, tmp_path_factory.mktemp("dist"))


pytestmark = [pytest.mark.distributed, pytest.mark.slow]


def test_ddp_norm_is_the_single_process_norm(ranks):
    for r in ranks:
        assert r["ddp_norm"] == pytest.approx(r["ref_norm"], rel=1e-5)
        assert r["ddp_param_norms"] == pytest.approx(r["ref_param_norms"], rel=1e-5)


def test_clip_coefficient_identical_when_one_rank_differs(ranks):
    r0, r1 = ranks
    assert r1["local_norm"] == pytest.approx(1000 * r0["local_norm"], rel=1e-5)
    # Reduced: both ranks clip by the same global norm (the max over ranks) ...
    assert r0["clip_total"] == r1["clip_total"] == pytest.approx(r1["local_norm"])
    # ... so rank 0 (small gradients) is scaled by the same coefficient as rank 1.
    coef = 1.0 / (r0["clip_total"] + 1e-6)
    assert r0["clip_post"] == pytest.approx(r0["local_norm"] * coef, rel=1e-4)
    assert r1["clip_post"] == pytest.approx(1.0, rel=1e-4)


def test_guard_decisions_identical_across_ranks_with_one_rank_faults(ranks):
    r0, r1 = ranks
    assert r0["guard_actions"] == r1["guard_actions"]
    assert r0["guard_kinds"] == r1["guard_kinds"]
    actions, kinds = r0["guard_actions"], r0["guard_kinds"]
    # Faults: step 6 NaN on rank 1, 8 spike on rank 0, 10 inf on rank 0, 11 NaN on rank 1.
    assert actions[6] == "skip" and kinds[6] == "nonfinite"
    assert actions[8] == "skip" and kinds[8] == "spike"
    assert actions[10] == "skip" and actions[11] == "rollback"
    assert all(a == "step" for i, a in enumerate(actions) if i not in (6, 8, 10, 11))
    assert all(r0["skip_unchanged"]) and all(r1["skip_unchanged"])
    assert r0["rollback_to"] == r1["rollback_to"] is not None
    assert r0["params_identical_across_ranks"] and r1["params_identical_across_ranks"]
    assert (r0["snapshot_file"], r1["snapshot_file"]) == ("snap.rank0.pt", "snap.rank1.pt")


def test_amp_found_inf_on_one_rank_skips_on_every_rank(ranks):
    r0, r1 = ranks
    assert r0["amp_kinds"] == r1["amp_kinds"] == ["ok", "amp_skip", "ok"]
    # Both scalers backed off once (2^8 → 2^7) and the replicas stayed identical.
    assert r0["amp_scale"] == r1["amp_scale"] == 2.0**7
    assert r0["amp_params_identical"] and r1["amp_params_identical"]


def test_fsdp2_global_norms_and_clipping_match_single_process(ranks):
    for r in ranks:
        assert r["fsdp_grad_type"] == "DTensor"
        assert r["fsdp_norm"] == pytest.approx(r["fsdp_ref_norm"], rel=1e-5)
        assert r["fsdp_param_norms"] == pytest.approx(r["fsdp_ref_param_norms"], rel=1e-5)
        assert r["fsdp_inf_norm"] == pytest.approx(r["fsdp_ref_inf_norm"], rel=1e-6)
        assert r["fsdp_clip_max_err"] < 1e-6


def test_fsdp2_fault_in_one_shard_skips_on_every_rank(ranks):
    for r in ranks:
        assert r["fsdp_fault_action"] == "skip"
        assert r["fsdp_fault_nonfinite"] == 1
        assert r["fsdp_skip_unchanged"]
        assert r["fsdp_clean_action"] == "step"
        assert r["fsdp_rollback_action"] == "rollback"
        assert r["fsdp_rollback_restored"]


def test_a_re_run_under_ddp_every_rank_re_runs_and_agrees(ranks):
    """A fault on one rank only: every rank re-runs (the closures' backward all-reduce
    together, no deadlock) and takes the same verdict: a one-off inf on rank 1 at step 2
    is transient (taken), an inf tied to batch 4 on rank 0 is reproducible (skipped, and
    skipped again in the next epoch)."""
    r0, r1 = ranks
    assert r0["rerun_records"] == r1["rerun_records"]
    records = r0["rerun_records"]
    assert records[2] == ["step", "transient"]
    assert records[4] == ["skip", "reproducible"]
    assert records[10] is None  # batch 4 again: on the skip list of both ranks
    others = [r for i, r in enumerate(records) if i not in (2, 4, 10)]
    assert others == [["step", None]] * 9
    assert r0["rerun_skips"] == r1["rerun_skips"] == [4]
    # The guard calls each step's closure for its first run, and once more for a bad one.
    assert r0["rerun_calls"] == r1["rerun_calls"] == [12, 11 + 2]
    assert r0["rerun_same_params"] and r1["rerun_same_params"]
    assert r0["rerun_clean"] == [["step", None]] * 12


def test_a_re_run_under_fsdp2_every_rank_agrees(ranks):
    """FSDP2, an inf in rank 1's shard only: both ranks re-run the step together and take
    the same verdict — transient (taken) for a one-off fault, reproducible (skipped, its
    batch on both ranks' skip lists) for one that comes back on the re-run."""
    r0, r1 = ranks
    assert r0["fsdp_rerun"] == r1["fsdp_rerun"]
    (once_action, once_verdict, once_norm), (bad_action, bad_verdict, _) = r0["fsdp_rerun"]
    assert (once_action, once_verdict) == ("step", "transient") and once_norm == float("inf")
    assert (bad_action, bad_verdict) == ("skip", "reproducible")
    assert r0["fsdp_rerun_skips"] == r1["fsdp_rerun_skips"] == ["batch"]
