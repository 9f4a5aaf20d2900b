"""The gate panel's figures (static/flow.json) are what torch measures now."""

from __future__ import annotations

import itertools
import json
from importlib import resources

import pytest

pytest.importorskip("torch")
pytestmark = pytest.mark.slow

FLOW = json.loads(
    resources.files("gradguard.serve").joinpath("static/flow.json").read_text("utf-8")
)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_the_default_point_is_what_gradguard_flow_measures(cell: str) -> None:
    from gradguard.experiments import gradient_flow

    r = gradient_flow(cell, "default", FLOW["T"], hidden=FLOW["hidden"], seed=FLOW["seed"])
    (default,) = [p for p in FLOW["cells"][cell] if p["bias"] is None]
    assert default["factor"] == round(r.factor, 6)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_every_point_is_measured_again_the_same(cell: str) -> None:
    # each bias the panel offers (a few ms each): none of the shipped figures is stale
    from gradguard.serve._flow_data import BIASES, gate_point

    assert [p["bias"] for p in FLOW["cells"][cell]] == list(BIASES)
    for stored in FLOW["cells"][cell]:
        assert gate_point(cell, stored["bias"]) == stored


def test_the_gate_sets_the_factor() -> None:
    # the claim the panel makes: near ½ at init, and the factor rises with the gate's bias
    for cell in ("lstm", "gru"):
        points = [p for p in FLOW["cells"][cell] if p["bias"] is not None]
        assert [p["bias"] for p in points] == sorted(p["bias"] for p in points)
        assert all(a["factor"] <= b["factor"] for a, b in itertools.pairwise(points))
        at_zero = next(p for p in points if p["bias"] == 0)
        assert 0.45 < at_zero["gate"] < 0.55 and at_zero["factor"] < 0.7
        assert points[-1]["factor"] > 0.97
