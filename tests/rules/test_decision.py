"""The guard's decision, exhaustively: every kind × policy × bad-step count, against a table.

No torch here: :func:`gradguard.rules.decide` is a pure function (and
tests/test_import_light.py checks that ``import gradguard.rules`` loads no torch).
"""

from __future__ import annotations

import itertools

import pytest

from gradguard.records import KINDS
from gradguard.rules import OUTCOMES, POLICIES, Decision, decide

# Written out by hand from the guard's documented behaviour (SpikeGuard's docstring,
# step 4). Each cell is "outcome/count after", for consecutive_bad = n = 0 … 4 before
# the step. Three histories (rollback_after=3, max_rollbacks=2 unless said):
#   A: rollbacks=0 — a rollback is still allowed;
#   B: rollbacks=2 (= max_rollbacks) — the guard gives up instead of rolling back;
#   C: rollback_after=None — never roll back.
# Only the "skip" policy on a bad step depends on the history: a withheld bad step
# counts, and the third in a row rolls back (count → 0). "step" and "raise" leave the
# count as it was; a healthy step resets it.
SAME_IN_EVERY_HISTORY = """
kind       policy   n=0         1           2           3           4
ok         skip     step/0      step/0      step/0      step/0      step/0
ok         raise    step/0      step/0      step/0      step/0      step/0
ok         step     step/0      step/0      step/0      step/0      step/0
clipped    skip     step/0      step/0      step/0      step/0      step/0
clipped    raise    step/0      step/0      step/0      step/0      step/0
clipped    step     step/0      step/0      step/0      step/0      step/0
amp_skip   skip     amp_skip/0  amp_skip/1  amp_skip/2  amp_skip/3  amp_skip/4
amp_skip   raise    amp_skip/0  amp_skip/1  amp_skip/2  amp_skip/3  amp_skip/4
amp_skip   step     amp_skip/0  amp_skip/1  amp_skip/2  amp_skip/3  amp_skip/4
nonfinite  raise    raise/0     raise/1     raise/2     raise/3     raise/4
nonfinite  step     step/0      step/1      step/2      step/3      step/4
spike      raise    raise/0     raise/1     raise/2     raise/3     raise/4
spike      step     step/0      step/1      step/2      step/3      step/4
"""
BAD_STEPS_SKIPPED = """
history  kind       n=0         1           2           3           4
A        nonfinite  skip/1      skip/2      rollback/0  rollback/0  rollback/0
A        spike      skip/1      skip/2      rollback/0  rollback/0  rollback/0
B        nonfinite  skip/1      skip/2      give_up/3   give_up/4   give_up/5
B        spike      skip/1      skip/2      give_up/3   give_up/4   give_up/5
C        nonfinite  skip/1      skip/2      skip/3      skip/4      skip/5
C        spike      skip/1      skip/2      skip/3      skip/4      skip/5
"""

HISTORIES = {
    "A": {"rollbacks": 0, "rollback_after": 3, "max_rollbacks": 2},
    "B": {"rollbacks": 2, "rollback_after": 3, "max_rollbacks": 2},
    "C": {"rollbacks": 0, "rollback_after": None, "max_rollbacks": 2},
}
COUNTS = range(5)


def _parse() -> dict[tuple[str, str, str, int], tuple[str, int]]:
    rows = []  # (kind, policy, histories, cells)
    for row in SAME_IN_EVERY_HISTORY.strip().splitlines()[1:]:
        kind, policy, *cells = row.split()
        rows.append((kind, policy, tuple(HISTORIES), cells))
    for row in BAD_STEPS_SKIPPED.strip().splitlines()[1:]:
        history, kind, *cells = row.split()
        rows.append((kind, "skip", (history,), cells))
    out = {}
    for kind, policy, histories, cells in rows:
        assert len(cells) == len(COUNTS), cells
        for history, (n, cell) in itertools.product(histories, enumerate(cells)):
            outcome, after = cell.split("/")
            assert (kind, policy, history, n) not in out, (kind, policy, history, n)
            out[kind, policy, history, n] = (outcome, int(after))
    return out


EXPECTED = _parse()


def test_the_table_covers_every_case():
    # Exhaustive: every kind, every policy, every history, every count, exactly once.
    want = set(itertools.product(KINDS, POLICIES, HISTORIES, COUNTS))
    assert set(EXPECTED) == want
    assert {outcome for outcome, _ in EXPECTED.values()} == set(OUTCOMES)


@pytest.mark.parametrize(("kind", "policy", "history", "n"), sorted(EXPECTED))
def test_decide_matches_the_table(kind, policy, history, n):
    h = HISTORIES[history]
    got = decide(
        kind,
        policy,
        n,
        h["rollbacks"],
        rollback_after=h["rollback_after"],
        max_rollbacks=h["max_rollbacks"],
    )
    assert (got.outcome, got.consecutive_bad) == EXPECTED[kind, policy, history, n]
    # Healthy (counts towards the next snapshot) exactly for ok and clipped steps.
    assert got.healthy == (kind in ("ok", "clipped"))


@pytest.mark.parametrize(
    ("outcome", "action"),
    [
        ("step", "step"),
        ("amp_skip", "skip"),
        ("skip", "skip"),
        ("rollback", "rollback"),
        ("raise", "skip"),
        ("give_up", "skip"),
    ],
)
def test_record_action_of_each_outcome(outcome, action):
    # Only a taken step is recorded as "step"; every withheld step is a "skip" unless
    # it rolled back.
    assert Decision(outcome, 0).action == action


def test_rollback_after_one_rolls_back_on_the_first_bad_step():
    assert decide("spike", "skip", 0, rollback_after=1).outcome == "rollback"
    assert decide("spike", "skip", 0, rollback_after=1, max_rollbacks=0).outcome == "give_up"


@pytest.mark.parametrize(
    ("kind", "policy", "match"),
    [("bogus", "skip", "kind must be one of"), ("spike", "bogus", "policy must be one of")],
)
def test_unknown_kind_or_policy_is_an_error(kind, policy, match):
    with pytest.raises(ValueError, match=match):
        decide(kind, policy, 0)
