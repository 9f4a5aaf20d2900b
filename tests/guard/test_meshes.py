"""2-D meshes under gloo, 4 CPU processes: HSDP, FSDP × TP, TP, a 2-stage pipeline.

Total, per-parameter and per-layer norms and the clip coefficient equal the single-process
values of the same model on the full batch, are identical on every rank, and take one
all-reduce per step; a fault on one rank reaches every rank.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch  # the [dev] extra installs torch: these tests always run

from ._ranks import run_ranks

if not torch.distributed.is_available():  # pragma: no cover
    pytest.skip("torch was built without torch.distributed", allow_module_level=True)

WORKER = Path(__file__).with_name("mesh_worker.py")
WORLD = 4

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

CASES = ["hsdp", "fsdp_tp", "tp", "pp"]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """Run every mesh case once, in four processes; return each rank's results."""
    return run_ranks(WORKER, WORLD, tmp_path_factory.mktemp("mesh"))


def _ref(r, case):
    return r["hsdp_ref"] if case in ("hsdp", "fsdp_tp", "tp") else r["pp_ref"]


def _own(ref, names):
    """The reference values of the parameters ``names`` (a pipeline stage's)."""
    index = [ref["names"].index(n) for n in names]
    return [ref["param_norms"][i] for i in index]


def test_the_meshes_have_the_placements_they_claim(ranks):
    r = ranks[0]
    assert r["hsdp_placements"][0] == "(Replicate(), Shard(dim=0))"
    tp = r["fsdp_tp_placements"]
    assert "Shard(dim=1)" in tp[2] and "Replicate()" in tp[3]  # row-wise weight, its bias
    assert "Shard(dim=0)" in tp[0]  # column-wise, inside FSDP's strided shard
    assert r["tp_placements"][:4] == [
        "(Shard(dim=0),)",
        "(Shard(dim=0),)",
        "(Shard(dim=1),)",
        "(Replicate(),)",
    ]
    assert [x["pp_stage"] for x in ranks] == [0, 0, 1, 1]


@pytest.mark.parametrize("case", CASES)
def test_norms_equal_the_single_process_values(ranks, case):
    for r in ranks:
        got, ref = r[case], _ref(r, case)
        assert got["total"] == pytest.approx(ref["total"], rel=1e-5)
        assert got["param_norms"] == pytest.approx(_own(ref, got["names"]), rel=1e-5)
        assert got["coef"] == pytest.approx(ref["coef"], rel=1e-5)
        assert got["coef"] < 0.1  # the gradients are large enough to be clipped
        assert got["max_abs"] == pytest.approx(ref["inf"], rel=1e-6)
        assert got["nonfinite"] == 0


@pytest.mark.parametrize("case", CASES)
def test_per_layer_norms_equal_the_single_process_values(ranks, case):
    for r in ranks:
        got, ref = r[case], _ref(r, case)
        layers = dict(zip(["0", "2", "4"], ref["layer_norms"], strict=True))
        own = sorted({n.split(".")[0] for n in got["names"]})
        assert got["layer_norms"] == pytest.approx([layers[k] for k in own], rel=1e-5)


@pytest.mark.parametrize("case", ["hsdp_inf", "fsdp_tp_inf", "pp_inf"])
def test_inf_norm_is_the_max_over_pieces(ranks, case):
    for r in ranks:
        assert r[case]["total"] == pytest.approx(_ref(r, case.split("_")[0])["inf"], rel=1e-6)


@pytest.mark.parametrize("case", [*CASES, "hsdp_inf", "fsdp_tp_inf", "pp_inf"])
def test_identical_on_every_rank_with_one_all_reduce(ranks, case):
    first = ranks[0][case]
    for r in ranks:
        got = r[case]
        # Bitwise the same on every rank: each computes them from the same reduced vector.
        assert (got["total"], got["coef"], got["max_abs"]) == (
            first["total"],
            first["coef"],
            first["max_abs"],
        )
        assert got["all_reduce_calls"] == 1
        # The extras ride along: the mean of the ranks 0..3, and rank 3's flag.
        assert got["mean"] == [1.5] and got["any"] == [1.0]


@pytest.mark.parametrize(("case", "value"), [("hsdp_fault", math.nan), ("pp_fault", math.inf)])
def test_a_fault_on_one_rank_reaches_every_rank(ranks, case, value):
    for r in ranks:
        got = r[case]
        assert got["nonfinite"] == 1
        if math.isnan(value):
            assert math.isnan(got["total"]) and math.isnan(got["max_abs"])
        else:
            assert got["total"] == math.inf and got["max_abs"] == math.inf


@pytest.mark.parametrize(
    "case", ["hsdp_guard", "hsdp_guard_sync_free", "fsdp_tp_guard", "pp_guard"]
)
def test_the_guard_skips_on_every_rank_with_one_all_reduce_per_step(ranks, case):
    first = ranks[0][case]
    for r in ranks:
        got = r[case]
        # A NaN on one rank (rank 2, 1 or 3) in the second step: every rank skips it.
        assert got["actions"] == ["step", "skip", "step"]
        assert got["norms"][0] == first["norms"][0] and math.isnan(got["norms"][1])
        # Statistics, loss and verdict: one all-reduce per guarded step. The one step
        # whose norm is not finite pays a second to read max |g| (NaN/inf entries or a
        # float32 overflow?) — except sync-free, which skips such a step either way.
        bad_step = 1 if case.endswith("sync_free") else 2
        assert got["all_reduce_calls"] == [1, bad_step, 1]
