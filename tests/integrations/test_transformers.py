"""SpikeGuardCallback on the real ``transformers.Trainer``: a tiny GPT-2 from a config, CPU.

The model and data are the example's (``examples/transformers_spikeguard.py``); faults are
NaN gradients put in by a callback that runs just before the guard's.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
import transformers  # the [dev] extra installs transformers: these tests always run
from transformers import Trainer, TrainerCallback

from gradguard.cli import main
from gradguard.errors import InputError
from gradguard.integrations.transformers import STATE_KEY, SpikeGuardCallback
from gradguard.records import read_log
from gradguard.torch import NormClipper, ZClip

from .conftest import assert_same_state, load_example, state_of

ex = load_example("transformers_spikeguard")
STEPS = 30


class StateRecorder(TrainerCallback):
    """Clone parameters and optimizer state at the start and end of every step."""

    def __init__(self) -> None:
        self.before: list[dict] = []
        self.after: list[dict] = []
        self.lrs: list[float] = []

    def on_step_begin(self, args, state, control, model=None, optimizer=None, **kwargs):
        self.before.append(state_of(model, optimizer.optimizer))
        self.lrs.append(optimizer.param_groups[0]["lr"])

    def on_step_end(self, args, state, control, model=None, optimizer=None, **kwargs):
        self.after.append(state_of(model, optimizer.optimizer))


def train(
    tmp_path,
    *,
    poison=(),
    value=float("nan"),
    once=True,
    guard=True,
    guard_options=None,
    callbacks=(),
    data=None,
    **overrides,
):
    """Train the example's GPT-2; return (model, callback, records, recorder, trainer)."""
    rec = StateRecorder()
    callbacks = [rec, ex.PoisonGradients(set(poison), value=value, once=once), *callbacks]
    cb = None
    if guard:
        options = {"clipper": NormClipper(1.0), "spike_rule": None, "log": tmp_path / "run.jsonl"}
        options.update(guard_options or {})
        cb = SpikeGuardCallback(**options)
        callbacks.append(cb)
    overrides.setdefault("max_steps", STEPS)
    model = ex.make_model()
    trainer = Trainer(
        model=model,
        args=ex.training_args(tmp_path / "out", **overrides),
        train_dataset=ex.Counting() if data is None else data,
        callbacks=callbacks,
    )
    trainer.train(resume_from_checkpoint=overrides.pop("resume", None))
    records = read_log(tmp_path / "run.jsonl").steps if guard else []
    return model, cb, records, rec, trainer


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return train(tmp_path_factory.mktemp("clean"))


def eval_loss(model) -> float:
    batch = torch.stack([ex.Counting(n=64, seed=1)[i]["input_ids"] for i in range(64)])
    model.eval()
    with torch.no_grad():
        return model(input_ids=batch, labels=batch).loss.item()


def check_skips(records, rec, skipped, steps=STEPS):
    assert len(records) == steps
    assert [r.step for r in records if r.action != "step"] == skipped
    for s in skipped:
        assert records[s].kind == "nonfinite"
        assert_same_state(rec.before[s], rec.after[s])
    for state in rec.after:
        assert all(torch.isfinite(p).all() for p in state["params"].values())


@pytest.mark.slow
def test_nan_steps_are_withheld_and_the_schedule_waits(tmp_path, clean):
    model, _, records, rec, _ = train(tmp_path, poison={8, 20})
    check_skips(records, rec, [8, 20])
    assert rec.after[-1]["opt"][0]["step"] == STEPS - 2  # AdamW counted taken steps only
    # The linear schedule after a skip: the clean run's LR at the same number of taken
    # steps (the Trainer read optimizer_step_was_skipped and did not step it).
    taken = 0
    for s, lr in enumerate(rec.lrs):
        assert lr == clean[3].lrs[taken]
        taken += s not in (8, 20)
    assert eval_loss(model) == pytest.approx(eval_loss(clean[0]), rel=0.05)


@pytest.mark.slow
def test_bf16_on_cpu(tmp_path):
    _, _, records, rec, _ = train(tmp_path, poison={5}, bf16=True, max_steps=12)
    check_skips(records, rec, [5], steps=12)


@pytest.mark.slow
def test_gradient_accumulation(tmp_path):
    _, cb, records, rec, _ = train(
        tmp_path, poison={4}, gradient_accumulation_steps=2, max_steps=10
    )
    check_skips(records, rec, [4], steps=10)  # one decision per optimizer step
    assert cb.guard.step_count == 10


@pytest.mark.slow
def test_parity_with_max_grad_norm(tmp_path):
    c = 0.5
    ours, _, records, *_ = train(tmp_path, guard_options={"clipper": NormClipper(c)}, max_steps=10)
    assert sum(r.clipped for r in records) >= 5
    theirs, *_ = train(tmp_path, guard=False, max_grad_norm=c, max_steps=10)
    for (name, a), b in zip(ours.named_parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


def test_max_grad_norm_is_refused(tmp_path):
    with pytest.raises(InputError, match=r"max_grad_norm.*must be 0.*set max_grad_norm=0"):
        train(tmp_path, max_grad_norm=1.0, max_steps=2)


def test_bad_options(tmp_path):
    with pytest.raises(InputError, match=r"option must be one of .* got 'threshold'"):
        SpikeGuardCallback(threshold=1.0)
    with pytest.raises(InputError, match="update_ratio_every must be 0"):
        SpikeGuardCallback(update_ratio_every=10)
    with pytest.raises(InputError, match="sync must be True"):
        SpikeGuardCallback(sync=False)
    with pytest.raises(InputError, match="clipper must be a Clipper"):
        train(tmp_path, guard_options={"clipper": [1.0]}, max_steps=2)


@pytest.mark.slow
def test_log_history(tmp_path):
    _, _, _, _, trainer = train(tmp_path, poison={3}, max_steps=10, logging_steps=5)
    logged = [h for h in trainer.state.log_history if "loss" in h]
    assert [h["step"] for h in logged] == [5, 10]
    assert [h["skipped"] for h in logged] == [1.0, 0.0]
    assert logged[-1]["skipped_total"] == 1.0
    assert logged[-1]["grad_norm_clipped"] <= 1.0 + 1e-6
    assert all(h["grad_norm"] > 0 for h in logged)


@pytest.mark.slow
def test_resume_from_checkpoint(tmp_path):
    def run(path, resume=None):
        cb = SpikeGuardCallback(clipper=ZClip(warmup_steps=5), log=path / "run.jsonl")
        trainer = Trainer(
            model=ex.make_model(),
            args=ex.training_args(
                tmp_path / "out", max_steps=20, save_strategy="steps", save_steps=10
            ),
            train_dataset=ex.Counting(),
            callbacks=[ex.PoisonGradients({4, 15}), cb],
        )
        trainer.train(resume_from_checkpoint=resume)
        return cb, read_log(path / "run.jsonl").steps

    (tmp_path / "full").mkdir()
    (tmp_path / "resumed").mkdir()
    full_cb, full = run(tmp_path / "full")
    ckpt = tmp_path / "out" / "checkpoint-10"
    saved = json.loads((ckpt / "trainer_state.json").read_text())["stateful_callbacks"]
    assert saved[STATE_KEY]["guard"]["step_count"] == 10 and saved[STATE_KEY]["skipped"] == 1
    resumed_cb, resumed = run(tmp_path / "resumed", resume=str(ckpt))
    assert [r.step for r in resumed] == list(range(10, 20))
    for a, b in zip(full[10:], resumed, strict=True):
        assert (a.action, a.kind, a.clipped) == (b.action, b.kind, b.clipped)
        if a.threshold is not None:
            assert b.threshold == pytest.approx(a.threshold, rel=1e-6)
        assert b.grad_norm == pytest.approx(a.grad_norm, rel=1e-5, nan_ok=True)
    assert resumed_cb.guard.state_dict() == full_cb.guard.state_dict()
    assert resumed_cb.skipped == full_cb.skipped == 2
    # The skipped step's batch keeps its name across the resume: epoch 0, batch 15.
    assert full[15].extra["batch"] == resumed[5].extra["batch"] == [0, 15]


@pytest.mark.slow
def test_example_runs(tmp_path, capsys):
    assert ex.main(tmp_path) == 0
    assert "skipped [10, 25" in capsys.readouterr().out


def test_transformers_version():
    assert int(transformers.__version__.split(".")[0]) >= 5


class Counter:
    """State the loop keeps outside the model (an EMA's step count, say)."""

    def __init__(self) -> None:
        self.n = 0

    def state_dict(self) -> dict:
        return {"n": self.n}

    def load_state_dict(self, state: dict) -> None:
        self.n = state["n"]


class CountSteps(TrainerCallback):
    """Count steps in ``counter`` (at step begin); note the count at step end."""

    def __init__(self, counter: Counter) -> None:
        self.counter, self.seen = counter, []

    def on_step_begin(self, args, state, control, **kwargs):
        self.counter.n += 1

    def on_step_end(self, args, state, control, **kwargs):
        self.seen.append(self.counter.n)


@pytest.mark.slow
def test_rollback_restores_model_optimizer_and_schedule(tmp_path):
    counter = Counter()
    counting = CountSteps(counter)
    _, cb, records, rec, _ = train(
        tmp_path,
        poison={7, 8, 9},
        max_steps=12,
        guard_options={"rollback_after": 3, "snapshot_every": 3, "state": {"count": counter}},
        callbacks=[counting],
    )
    assert [r.action for r in records[7:10]] == ["skip", "skip", "rollback"]
    # Snapshots every 3 healthy steps, taken as steps 3 and 6 start: the last good one
    # holds the state at the start of step 6.
    assert records[9].extra["restored_step"] == 6
    assert_same_state(rec.after[9], rec.before[6])
    assert rec.lrs[10] == rec.lrs[6]  # the linear schedule went back with them
    assert cb.guard.rollbacks == 1
    # The state= object went back too: at step 9's end it counts what it did at step 6's.
    assert counting.seen[9] == counting.seen[6] == 7
    assert counting.seen[8] == 9


class CorruptWeights(TrainerCallback):
    """Set one weight to NaN as step ``at`` begins (a silent data corruption between steps)."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step == self.at:
            with torch.no_grad():
                next(model.parameters()).view(-1)[0] = math.nan


def test_weights_corrupted_as_a_snapshot_falls_due_are_not_restored(tmp_path):
    # Snapshots every 3 healthy steps: one staged as step 6 starts, from weights corrupted
    # just before. Step 6 is bad, so it is dropped: the rollback restores step 3's.
    _, cb, records, rec, _ = train(
        tmp_path,
        max_steps=12,
        guard_options={"rollback_after": 3, "snapshot_every": 3},
        callbacks=[CorruptWeights(6)],
    )
    assert [r.action for r in records[6:9]] == ["skip", "skip", "rollback"]
    assert records[8].extra["restored_step"] == 3
    assert_same_state(rec.after[8], rec.before[3])
    assert [r.action for r in records[9:]] == ["step"] * 3  # recovered
    assert cb.guard.rollbacks == 1


def test_fsdp_and_deepspeed_are_refused_at_train_start():
    from types import SimpleNamespace

    for name, value in (("fsdp", ["full_shard"]), ("deepspeed", "ds_config.json")):
        args = SimpleNamespace(max_grad_norm=0.0, fsdp=[], deepspeed=None)
        setattr(args, name, value)
        with pytest.raises(InputError, match=rf"TrainingArguments\({name}=\.\.\.\) must be unset"):
            SpikeGuardCallback(clipper=1.0).on_train_begin(args, None, None)


def _fault(record) -> dict:
    """What a record says of a fault: the norm, max |g|, how many tensors, which layers."""
    layers = {k for k, v in (record.layer_norms or {}).items() if not math.isfinite(v)}
    return {  # (as text: NaN equals NaN)
        "grad_norm": repr(record.grad_norm),
        "max_abs": repr(record.max_abs),
        "nonfinite_count": record.nonfinite_count,
        "layers": layers,
        "kind": record.kind,
        "action": record.action,
        "flagged_by": record.flagged_by,
    }


@pytest.mark.parametrize("value", [math.inf, math.nan])
def test_a_fault_is_recorded_as_the_plain_loop_records_it(tmp_path, value):
    """One inf (or NaN) entry in one tensor: the HF record is the plain loop's — not the NaN
    in every tensor that the Trainer's own norm call (``clip_grad_norm_(params, inf)``)
    would have made of it."""
    from gradguard.torch import SpikeGuard

    options = {"layer_norms_every": 1}
    records = train(tmp_path, poison=(3,), value=value, guard_options=options)[2]
    hf = records[3]
    model = ex.make_model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    guard = SpikeGuard(model, opt, clipper=NormClipper(1.0), spike_rule=None, **options)
    data = ex.Counting()
    for step in range(4):
        opt.zero_grad()
        batch = torch.stack([data[8 * step + i]["input_ids"] for i in range(8)])
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        if step == 3:
            next(model.parameters()).grad.view(-1)[0] = value
        plain = guard.step(loss)
    assert _fault(hf) == _fault(plain)
    assert _fault(hf)["nonfinite_count"] == 1 and _fault(hf)["layers"] == {"transformer.wte"}
    assert _fault(hf)["grad_norm"] == repr(value) and hf.action == "skip"


def test_rerun_transient_and_reproducible(tmp_path, capsys):
    """rerun=True: the Trainer's own training_step re-runs a bad step. A NaN in the step's
    first backward only (transient) is taken with the re-run's gradients — the run is the
    clean one bit for bit; one in every backward of the step (reproducible) is skipped."""
    steps = 12

    class Draw(TrainerCallback):  # a draw between steps (say, a random augmentation)
        def on_step_begin(self, args, state, control, **kwargs):
            torch.rand(1)

    for name in ("c", "t", "r"):
        (tmp_path / name).mkdir()
    options = {"rerun": True}
    clean, _, clean_records, *_ = train(tmp_path / "c", max_steps=steps, callbacks=[Draw()])
    model, _, records, *_ = train(
        tmp_path / "t", poison=(3, 8), guard_options=options, max_steps=steps, callbacks=[Draw()]
    )
    assert [r.action for r in records] == ["step"] * steps
    for s in (3, 8):
        assert records[s].extra["rerun"]["verdict"] == "transient"
        assert records[s].extra["rerun"]["grad_norm"] == clean_records[s].grad_norm
        assert records[s].extra["rerun"]["loss"] == pytest.approx(clean_records[s].loss)
    for p, q in zip(clean.parameters(), model.parameters(), strict=True):
        assert torch.equal(p, q)
    _, _, records, rec, _ = train(
        tmp_path / "r",
        poison=(3, 8),
        once=False,
        guard_options=options,
        max_steps=steps,
        data=ex.Counting(n=48),  # 6 batches of 8 an epoch: 12 steps are 2 epochs
    )
    assert [r.step for r in records if r.action != "step"] == [3, 8]
    for s in (3, 8):
        assert records[s].extra["rerun"]["verdict"] == "reproducible"
        assert_same_state(rec.before[s], rec.after[s])
    # The batch is named [epoch, index in the epoch]: step 8 is epoch 1's batch 8 − 6 = 2.
    # The skip list names the batches; the transient steps are not on it.
    assert records[3].extra["batch"] == [0, 3] and records[8].extra["batch"] == [1, 2]
    capsys.readouterr()  # (what the trainer printed)
    assert main(["replay", str(tmp_path / "r" / "run.jsonl"), "--skip-list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed == {"steps": [[3, 3], [8, 8]], "batches": [[0, 3], [1, 2]]}
    assert main(["replay", str(tmp_path / "t" / "run.jsonl"), "--skip-list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"steps": [], "batches": []}


def test_rerun_is_refused_once_under_accumulation(tmp_path):
    with pytest.warns(
        UserWarning, match=r"Hugging Face Trainer: bad steps are not re-run — it accumulates 2"
    ) as seen:
        _, _, records, *_ = train(
            tmp_path,
            poison=(2,),
            guard_options={"rerun": True},
            max_steps=4,
            gradient_accumulation_steps=2,
        )
    assert len([w for w in seen if "re-run" in str(w.message)]) == 1
    assert records[2].action == "skip" and "rerun" not in records[2].extra


def test_rerun_is_refused_once_when_training_step_is_bypassed(tmp_path):
    """A Trainer subclass with a training_step of its own that does not call the Trainer's:
    the callback never sees the step to run again, says so once, and skips as before."""

    class OwnStep(Trainer):
        def training_step(self, model, inputs, num_items_in_batch=None):
            model.train()
            loss = model(**inputs).loss
            self.accelerator.backward(loss)
            return loss.detach()

    cb = SpikeGuardCallback(clipper=1.0, spike_rule=None, rerun=True, log=tmp_path / "run.jsonl")
    with pytest.warns(UserWarning, match=r"did not go through `Trainer.training_step`") as seen:
        OwnStep(
            model=ex.make_model(),
            args=ex.training_args(tmp_path / "out", max_steps=4),
            train_dataset=ex.Counting(),
            callbacks=[ex.PoisonGradients({2}), cb],
        ).train()
    assert len([w for w in seen if "re-run" in str(w.message)]) == 1
    records = read_log(tmp_path / "run.jsonl").steps
    assert [r.action for r in records] == ["step", "step", "skip", "step"]
    assert all("rerun" not in r.extra for r in records)
