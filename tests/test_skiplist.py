"""Skip lists from a log: which steps and batches a restart skips; `replay --skip-list`."""

from __future__ import annotations

import json

import pytest

from gradguard.cli import main
from gradguard.errors import InputError
from gradguard.records import StepRecord, write_log
from gradguard.skiplist import SkipList, skip_list


def _records():
    recs = [StepRecord(step=i, grad_norm=1.0) for i in range(12)]
    recs[3].action, recs[3].kind, recs[3].extra["batch"] = "skip", "nonfinite", "b3"
    recs[4].kind, recs[4].extra["batch"] = "spike", "b4"  # flagged, stepped anyway
    recs[5].action, recs[5].kind = "skip", "amp_skip"  # AMP's scale search: not listed
    recs[9].action, recs[9].kind, recs[9].extra["batch"] = "skip", "spike", [9, 10]
    recs[10].action, recs[10].kind, recs[10].extra["batch"] = "rollback", "nonfinite", "b10"
    recs[10].extra["restored_step"] = 7
    return recs


def test_skip_list_lists_bad_and_undone_steps_with_their_batches():
    result = skip_list(_records())
    assert result.ranges == [(3, 4), (7, 10)]
    assert result.batches == ["b3", "b4", [9, 10], "b10"]
    assert result.has_batch([9, 10]) and not result.has_batch("b5")
    assert result.has_step(8) and not result.has_step(5) and len(result) == 6


def test_replay_skip_list_json_round_trips(tmp_path, capsys):
    path = tmp_path / "run.jsonl"
    write_log(path, _records())
    assert main(["replay", str(path), "--skip-list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == {"steps": [[3, 4], [7, 10]], "batches": ["b3", "b4", [9, 10], "b10"]}
    (tmp_path / "skip.json").write_text(json.dumps(data))
    again = SkipList.coerce(tmp_path / "skip.json")
    assert again.to_json() == data
    assert main(["replay", str(path), "--skip-list"]) == 0
    out = capsys.readouterr().out
    assert "steps to skip (6): 3-4, 7-10" in out and '"b10"' in out


def test_skip_list_needs_a_run_when_the_log_has_several(tmp_path, capsys):
    path = tmp_path / "runs.jsonl"
    write_log(path, [StepRecord(step=0, run="a"), StepRecord(step=0, run="b")])
    assert main(["replay", str(path), "--skip-list"]) == 2
    assert "--skip-list needs --run" in capsys.readouterr().err


@pytest.mark.parametrize("bad", [[True], [[5, 2]], ["x"]])
def test_bad_skip_steps_name_the_argument(bad):
    with pytest.raises(InputError, match=r"^skip_steps must be"):
        SkipList(bad)
