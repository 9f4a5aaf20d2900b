"""SpikeGuardCallback on the real ``lightning.pytorch.Trainer``: CPU, generated data.

The model is the example's LSTM (``examples/lightning_spikeguard.py``); faults are NaN
gradients put in by a callback after chosen backward passes.
"""

from __future__ import annotations

import csv
import json
import math

import lightning.pytorch as pl  # the [dev] extra installs lightning: these tests always run
import pytest
import torch

from gradguard.cli import main
from gradguard.errors import InputError
from gradguard.integrations.lightning import SpikeGuardCallback
from gradguard.records import read_log
from gradguard.skiplist import SkipList
from gradguard.torch import NormClipper, ZClip

from .conftest import assert_same_state, load_example, state_of

ex = load_example("lightning_spikeguard")
STEPS = 50


class StateRecorder(pl.Callback):
    """Clone parameters and optimizer state around every training batch."""

    def __init__(self) -> None:
        self.before: list[dict] = []
        self.after: list[dict] = []
        self.lrs: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        opt = trainer.optimizers[0]
        self.before.append(state_of(pl_module, opt))
        self.lrs.append(opt.param_groups[0]["lr"])

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.after.append(state_of(pl_module, trainer.optimizers[0]))


def fit(
    tmp_path,
    *,
    poison=(),
    once=False,
    steps=STEPS,
    guard=True,
    module=None,
    callbacks=(),
    **kwargs,
):
    """Train the example's model; return (module, guard callback, records, recorder)."""
    torch.manual_seed(0)
    model = module() if module else ex.SequenceSum()
    rec = StateRecorder()
    callbacks = [rec, ex.PoisonGradients(set(poison), once=once), *callbacks]
    cb = None
    if guard:
        options = {"clipper": NormClipper(1.0), "spike_rule": None, "log": tmp_path / "run.jsonl"}
        options.update(kwargs.pop("guard_options", {}))
        cb = SpikeGuardCallback(**options)
        callbacks.insert(0, cb)
    trainer = pl.Trainer(max_steps=steps, callbacks=callbacks, **ex.trainer_kwargs(**kwargs))
    trainer.fit(model, ex.make_loader())
    records = read_log(tmp_path / "run.jsonl").steps if guard else []
    return model, cb, records, rec


def eval_loss(model) -> float:
    x, y = next(iter(ex.make_loader(n=256, batch_size=256, seed=1)))
    with torch.no_grad():
        return torch.nn.functional.mse_loss(model(x), y).item()


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return fit(tmp_path_factory.mktemp("clean"))


def check_skips(records, rec, skipped, kind="nonfinite"):
    assert len(records) == STEPS  # one record per optimizer step
    assert [r.step for r in records if r.action != "step"] == skipped
    for s in skipped:
        assert records[s].kind == kind
        assert_same_state(rec.before[s], rec.after[s])  # bitwise: nothing moved
    for state in rec.after:
        assert all(torch.isfinite(p).all() for p in state["params"].values())
    taken = [s for s in range(STEPS) if s not in skipped]
    assert any(
        not torch.equal(
            rec.before[s]["params"]["head.weight"], rec.after[s]["params"]["head.weight"]
        )
        for s in taken
    )


@pytest.mark.slow
def test_nan_steps_are_withheld_bitwise(tmp_path, clean):
    model, cb, records, rec = fit(tmp_path, poison={10, 25})
    check_skips(records, rec, [10, 25])
    assert cb.skipped == 2
    # Adam's step counter did not count the withheld steps.
    assert rec.after[-1]["opt"][0]["step"] == STEPS - 2
    # The step-interval StepLR(step_size=10) counts taken steps: after a skip, the LR
    # equals the clean run's at the same number of taken steps.
    clean_lrs = clean[3].lrs
    taken = 0
    for s, lr in enumerate(rec.lrs):
        assert lr == pytest.approx(clean_lrs[taken], rel=0, abs=0)
        taken += s not in (10, 25)
    assert eval_loss(model) == pytest.approx(eval_loss(clean[0]), rel=0.5)


@pytest.mark.slow
def test_bf16_mixed(tmp_path):
    _, _, records, rec = fit(tmp_path, poison={10, 25}, precision="bf16-mixed")
    check_skips(records, rec, [10, 25])
    assert all(math.isfinite(r.grad_norm) for r in records if r.action == "step")


class MLPSum(ex.SequenceSum):
    """The example's task with an MLP: oneDNN has no float16 LSTM on CPU."""

    def __init__(self) -> None:
        super().__init__()
        del self.rnn
        self.head = torch.nn.Sequential(
            torch.nn.Linear(ex.T, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1)
        )

    def forward(self, x):
        return self.head(x.squeeze(-1)).squeeze(-1)


@pytest.mark.slow
def test_16_mixed_found_inf_is_amp_skip(tmp_path):
    # Lightning turns precision="16-mixed" on CPU into bf16-mixed; the plugin with an
    # explicit CPU GradScaler runs float16 autocast and the scaler for real.
    from lightning.pytorch.plugins.precision import MixedPrecision

    def run(path, poison):
        path.mkdir()
        plugin = MixedPrecision("16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu"))
        return fit(path, poison=poison, steps=20, plugins=[plugin], module=MLPSum)

    _, _, clean16, _ = run(tmp_path / "clean", ())
    _, _, records, rec = run(tmp_path / "poisoned", {10})
    assert [r.step for r in records if r.action != "step"] == [10]
    bad = records[10]
    assert bad.kind == "amp_skip"  # the scaler's found-inf, not counted as a fault
    assert bad.amp_scale is not None
    assert records[11].amp_scale == bad.amp_scale / 2  # the scaler backed off
    assert_same_state(rec.before[10], rec.after[10])
    # The recorded loss is the unscaled one (the loss Lightning hands over is scaled).
    assert records[3].loss == pytest.approx(clean16[3].loss, rel=1e-6)
    assert records[3].loss < 10 < records[3].amp_scale


class ScaleGradients(pl.Callback):
    """Multiply every gradient by ``factor`` at the optimizer steps in ``at`` (a spike)."""

    def __init__(self, at, factor=1e4):
        self.at, self.factor = set(at), factor

    def on_after_backward(self, trainer, pl_module):
        if trainer.global_step in self.at:
            for p in pl_module.parameters():
                if p.grad is not None:
                    p.grad.mul_(self.factor)


@pytest.mark.slow
def test_16_mixed_withheld_spike_keeps_the_scaler(tmp_path):
    from lightning.pytorch.plugins.precision import MixedPrecision

    from gradguard.rules import FixedThreshold

    scaler = torch.amp.GradScaler("cpu")
    plugin = MixedPrecision("16-mixed", "cpu", scaler=scaler)
    trackers = []

    class Tracker(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            trackers.append((scaler.get_scale(), int(scaler._growth_tracker)))

    cb = SpikeGuardCallback(clipper=1.0, spike_rule=FixedThreshold(100.0), log=tmp_path / "r.jsonl")
    torch.manual_seed(0)
    trainer = pl.Trainer(
        max_steps=8,
        callbacks=[cb, ScaleGradients({5}), Tracker()],
        plugins=[plugin],
        **ex.trainer_kwargs(),
    )
    trainer.fit(MLPSum(), ex.make_loader())
    records = read_log(tmp_path / "r.jsonl").steps
    assert [(r.step, r.kind) for r in records if r.action != "step"] == [(5, "spike")]
    # The withheld step neither grew the scale nor counted towards growing it.
    assert trackers[5] == trackers[4]
    assert trackers[6][1] == trackers[4][1] + 1


@pytest.mark.slow
def test_accumulation_one_decision_per_optimizer_step(tmp_path):
    _, cb, records, rec = fit(tmp_path, poison={10}, accumulate_grad_batches=2, steps=20)
    assert len(records) == 20
    assert [r.step for r in records if r.action != "step"] == [10]
    assert cb.guard.step_count == 20
    # Optimizer step 10 is micro-batches 20 and 21: nothing moved across the two.
    assert len(rec.before) == 40
    assert_same_state(rec.before[20], rec.after[21])
    assert not torch.equal(
        rec.before[18]["params"]["head.weight"], rec.after[19]["params"]["head.weight"]
    )


@pytest.mark.slow
def test_parity_with_gradient_clip_val(tmp_path):
    c = 0.3  # small enough that clipping acts on most steps
    torch.manual_seed(0)
    ours, _, records, _ = fit(tmp_path, steps=20, guard_options={"clipper": NormClipper(c)})
    assert sum(r.clipped for r in records) > 10
    theirs, *_ = fit(tmp_path, steps=20, guard=False, gradient_clip_val=c)  # no log
    for (name, a), b in zip(ours.named_parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


def test_gradient_clip_val_conflict_is_refused(tmp_path):
    with pytest.raises(InputError, match=r"gradient_clip_val.*clip the gradients a second"):
        fit(tmp_path, steps=2, gradient_clip_val=1.0)


def test_bad_options(tmp_path):
    with pytest.raises(InputError, match=r"option must be one of .* got 'max_norm'"):
        SpikeGuardCallback(max_norm=1.0)
    with pytest.raises(InputError, match="skip_batches must be 0"):
        SpikeGuardCallback(skip_batches=5)
    with pytest.raises(InputError, match=r"sync must be True .*hand-written loop\), got False"):
        SpikeGuardCallback(sync=False)
    with pytest.raises(InputError, match="skip_steps must be None"):
        SpikeGuardCallback(skip_steps=[3])
    SpikeGuardCallback(sync=True, skip_steps=None, skip_batches=0)  # the defaults pass
    with pytest.raises(InputError, match=r"state\['h'\] must be an object with state_dict"):
        fit(tmp_path, steps=2, guard_options={"state": {"h": torch.zeros(3)}})
    with pytest.raises(InputError, match="clipper must be a Clipper"):
        fit(tmp_path, steps=2, guard_options={"clipper": "zclip"})
    with pytest.raises(InputError, match="on_spike must be one of"):
        fit(tmp_path, steps=2, guard_options={"on_spike": "ignore"})


def test_fsdp_is_refused():
    # On CPU, Lightning refuses strategy="fsdp" itself before fit starts; the callback's
    # own check at fit start is run here on a real FSDPStrategy object.
    from types import SimpleNamespace

    from lightning.pytorch.strategies import FSDPStrategy

    trainer = SimpleNamespace(gradient_clip_val=None, strategy=FSDPStrategy())
    with pytest.raises(InputError, match=r"strategy.*FSDPStrategy.*FSDP and DeepSpeed"):
        SpikeGuardCallback(clipper=1.0).on_fit_start(trainer, ex.SequenceSum())
    with pytest.raises(ValueError, match="requires a GPU"):
        pl.Trainer(strategy="fsdp", accelerator="cpu", devices=1)


@pytest.mark.slow
def test_checkpoint_resume_makes_the_same_decisions(tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    def run(path, ckpt_path=None):
        torch.manual_seed(0)
        model = ex.SequenceSum()
        # A fresh adaptive clipper each run: after a resume its state comes from the ckpt.
        cb = SpikeGuardCallback(log=path, clipper=ZClip(warmup_steps=5), spike_rule="default")
        callbacks = [cb, ex.PoisonGradients({5, 30})]
        if ckpt_path is None:
            callbacks.append(
                ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=20, save_top_k=-1)
            )
        trainer = pl.Trainer(
            max_steps=40,
            callbacks=callbacks,
            **ex.trainer_kwargs(enable_checkpointing=ckpt_path is None),
        )
        trainer.fit(model, ex.make_loader(), ckpt_path=ckpt_path)
        return cb, read_log(path).steps

    full_cb, full = run(tmp_path / "full.jsonl")
    saved = torch.load(tmp_path / "ckpt" / "epoch=0-step=20.ckpt", weights_only=False)
    (state,) = [v for k, v in saved["callbacks"].items() if "SpikeGuardCallback" in k]
    assert state["guard"]["step_count"] == 20 and state["skipped"] == 1
    resumed_cb, resumed = run(tmp_path / "b.jsonl", tmp_path / "ckpt" / "epoch=0-step=20.ckpt")
    assert [r.step for r in resumed] == list(range(20, 40))
    for a, b in zip(full[20:], resumed, strict=True):
        assert (a.action, a.kind, a.clipped) == (b.action, b.kind, b.clipped)
        if a.threshold is not None:
            assert b.threshold == pytest.approx(a.threshold, rel=1e-6)
        assert b.grad_norm == pytest.approx(a.grad_norm, rel=1e-5, nan_ok=True)
    assert full[30].action == "skip" and resumed_cb.skipped == full_cb.skipped == 2
    assert resumed_cb.guard.state_dict() == full_cb.guard.state_dict()


@pytest.mark.slow
def test_metrics_reach_the_loggers(tmp_path):
    from lightning.pytorch.loggers import CSVLogger

    logger = CSVLogger(tmp_path, name="csv", version=0)
    fit(tmp_path, poison={7}, steps=20, logger=logger, log_every_n_steps=5)
    logger.finalize("success")
    with open(tmp_path / "csv" / "version_0" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    steps = [int(r["step"]) for r in rows if r.get("grad_norm")]
    assert steps == [4, 9, 14, 19]  # Lightning's log_every_n_steps cadence
    last = rows[-1]
    assert float(last["skipped_total"]) == 1.0
    assert float(last["grad_norm"]) > 0 and float(last["grad_norm_clipped"]) <= 1.0 + 1e-6


class Counter:
    """State the loop keeps outside the model (an EMA's step count, say)."""

    def __init__(self) -> None:
        self.n = 0

    def state_dict(self) -> dict:
        return {"n": self.n}

    def load_state_dict(self, state: dict) -> None:
        self.n = state["n"]


class CountBatches(pl.Callback):
    """Count training batches in ``counter`` (at batch start); note the count at batch end."""

    def __init__(self, counter: Counter) -> None:
        self.counter, self.seen = counter, []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.counter.n += 1

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.seen.append(self.counter.n)


@pytest.mark.slow
def test_rollback_restores_the_last_snapshot(tmp_path):
    counter = Counter()
    counting = CountBatches(counter)
    _, cb, records, rec = fit(
        tmp_path,
        poison={12, 13, 14},
        steps=20,
        guard_options={"rollback_after": 3, "snapshot_every": 5, "state": {"count": counter}},
        callbacks=[counting],
    )
    assert [r.action for r in records[12:15]] == ["skip", "skip", "rollback"]
    restored = records[14].extra["restored_step"]
    # Snapshots every 5 healthy steps, taken as steps 5 and 10 start: the last good one
    # holds the state at the start of step 10.
    assert restored == 10
    assert_same_state(rec.after[14], rec.before[10])
    assert rec.lrs[15] == rec.lrs[10]  # the scheduler went back with them
    assert cb.guard.rollbacks == 1
    # The state= object went back too: at step 14's end it counts what it did at step 10's.
    assert counting.seen[14] == counting.seen[10] == 11
    assert counting.seen[13] == 14


class CorruptWeights(pl.Callback):
    """Set one weight to NaN before batch ``at`` (a silent data corruption between steps)."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == self.at:
            with torch.no_grad():
                next(pl_module.parameters()).view(-1)[0] = math.nan


@pytest.mark.slow
def test_weights_corrupted_as_a_snapshot_falls_due_are_not_restored(tmp_path):
    # Snapshots every 5 healthy steps: one staged as step 10 starts, from weights corrupted
    # just before. Step 10 is bad, so it is dropped: the rollback restores step 5's.
    _, cb, records, rec = fit(
        tmp_path,
        steps=20,
        guard_options={"rollback_after": 3, "snapshot_every": 5},
        callbacks=[CorruptWeights(10)],
    )
    assert [r.action for r in records[10:13]] == ["skip", "skip", "rollback"]
    assert records[12].extra["restored_step"] == 5
    assert_same_state(rec.after[12], rec.before[5])
    assert [r.action for r in records[13:]] == ["step"] * 7  # recovered
    assert cb.guard.rollbacks == 1


class ManualSum(ex.SequenceSum):
    """The example's model with manual optimization: ``opt.step()`` in training_step."""

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()
        opt.zero_grad()
        loss = super().training_step(batch, batch_idx)
        self.manual_backward(loss)
        opt.step()
        return loss


@pytest.mark.slow
def test_manual_optimization(tmp_path):
    _, _, records, rec = fit(tmp_path, poison={4}, steps=12, module=ManualSum)
    assert len(records) == 12
    assert [r.step for r in records if r.action != "step"] == [4]
    assert_same_state(rec.before[4], rec.after[4])


def test_pytorch_lightning_package(tmp_path):
    import pytorch_lightning as ptl

    class Tiny(ptl.LightningModule):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4, 1)

        def training_step(self, batch, batch_idx):
            x, y = batch
            return torch.nn.functional.mse_loss(self.lin(x).squeeze(-1), y)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(64, 4), torch.randn(64))
    cb = SpikeGuardCallback(clipper=1.0, log=tmp_path / "pl.jsonl")
    trainer = ptl.Trainer(max_steps=6, callbacks=[cb], **ex.trainer_kwargs())
    trainer.fit(Tiny(), torch.utils.data.DataLoader(data, batch_size=16))
    assert len(read_log(tmp_path / "pl.jsonl").steps) == 6


@pytest.mark.slow
def test_example_runs(tmp_path, capsys):
    assert ex.main(tmp_path / "example.jsonl") == 0
    assert "skipped [10, 25" in capsys.readouterr().out


class LBFGSSum(ex.SequenceSum):
    """The example's model with LBFGS, which re-runs its closure inside step()."""

    def configure_optimizers(self):
        return torch.optim.LBFGS(self.parameters(), lr=0.1)


class TwoSchedulers(ex.SequenceSum):
    """The example's model with two step-interval LR schedulers."""

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.parameters(), lr=self.lr)
        scheds = [torch.optim.lr_scheduler.StepLR(opt, 10), torch.optim.lr_scheduler.StepLR(opt, 5)]
        return [opt], [{"scheduler": s, "interval": "step"} for s in scheds]


def test_lbfgs_and_several_schedulers_are_refused_at_fit_start(tmp_path):
    with pytest.raises(InputError, match=r"configure_optimizers\(\) must be an optimizer .*LBFGS"):
        fit(tmp_path, steps=2, module=LBFGSSum)
    with pytest.raises(InputError, match=r"rollback_after must be None when .*several LR"):
        fit(tmp_path, steps=2, module=TwoSchedulers)
    # With rollbacks off, several schedulers are fine.
    _, cb, records, _ = fit(
        tmp_path, steps=2, module=TwoSchedulers, guard_options={"rollback_after": None}
    )
    assert len(records) == 2 and cb.guard.scheduler is None


class DropoutSum(ex.SequenceSum):
    """The example's model with BatchNorm and dropout before its head: a re-run must draw
    the same mask and update BatchNorm's running statistics once."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = torch.nn.BatchNorm1d(self.head.in_features)
        self.drop = torch.nn.Dropout(0.3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x.transpose(0, 1))
        return self.head(self.drop(self.norm(out[-1]))).squeeze(-1)


def test_rerun_transient_and_reproducible(tmp_path, capsys):
    """rerun=True: Lightning's closure re-runs the step. A NaN on the step's first backward
    only (transient) is taken with the re-run's gradients — the run is the clean one bit
    for bit, dropout's masks included; a NaN on every backward of the step (reproducible)
    is skipped, as without."""
    options, steps = {"rerun": True}, 30

    class Draw(pl.Callback):  # a draw between steps (say, a random augmentation)
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            torch.rand(1)

    for name in ("c", "t", "r"):
        (tmp_path / name).mkdir()
    clean, _, clean_records, _ = fit(
        tmp_path / "c", steps=steps, module=DropoutSum, callbacks=[Draw()]
    )
    model, _, records, rec = fit(
        tmp_path / "t",
        poison={10, 25},
        once=True,
        steps=steps,
        guard_options=options,
        module=DropoutSum,
        callbacks=[Draw()],
    )
    assert [r.action for r in records] == ["step"] * steps
    for s in (10, 25):
        assert records[s].kind == "nonfinite"
        assert records[s].extra["rerun"]["verdict"] == "transient"
        assert records[s].extra["rerun"]["grad_norm"] == clean_records[s].grad_norm
    clean_state, state = clean.state_dict(), model.state_dict()  # buffers included
    assert clean_state.keys() == state.keys() and "norm.running_mean" in state
    for k in state:
        assert torch.equal(clean_state[k], state[k]), k
    _, _cb, records, rec = fit(tmp_path / "r", poison={10, 25}, steps=steps, guard_options=options)
    assert [r.step for r in records if r.action != "step"] == [10, 25]
    for s in (10, 25):
        assert records[s].extra["rerun"]["verdict"] == "reproducible"
        assert_same_state(rec.before[s], rec.after[s])  # bitwise: nothing moved
    # The batch is named [epoch, batch_idx]: 640 samples in batches of 32 make 20 batches
    # an epoch, so step 25 is epoch 1's batch 5; the skip list names the batches, and the
    # transient steps are not on it.
    assert records[10].extra["batch"] == [0, 10] and records[25].extra["batch"] == [1, 5]
    capsys.readouterr()  # (what the trainer printed)
    assert main(["replay", str(tmp_path / "r" / "run.jsonl"), "--skip-list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed == {"steps": [[10, 10], [25, 25]], "batches": [[0, 10], [1, 5]]}
    assert main(["replay", str(tmp_path / "t" / "run.jsonl"), "--skip-list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"steps": [], "batches": []}
    assert SkipList.coerce(listed).has_batch([1, 5])  # what SpikeGuard(skip_steps=...) reads


def test_rerun_is_refused_once_where_a_step_cannot_be_re_run_whole(tmp_path):
    with pytest.warns(
        UserWarning, match=r"Lightning: bad steps are not re-run — it accumulates 2 micro-batches"
    ) as seen:
        _, _cb, records, _ = fit(
            tmp_path,
            poison={3},
            once=True,
            steps=6,
            accumulate_grad_batches=2,
            guard_options={"rerun": True},
        )
    assert len([w for w in seen if "re-run" in str(w.message)]) == 1
    assert records[3].action == "skip" and "rerun" not in records[3].extra


class SpikeOnce(pl.Callback):
    """Multiply every gradient by ``factor`` on the first backward of step ``at`` only: a
    spike of the moment (under a grad scaler a NaN would be the scaler's own found-inf)."""

    def __init__(self, at: int, factor: float = 1e4) -> None:
        self.at, self.factor, self.fired = at, factor, False

    def on_after_backward(self, trainer, pl_module):
        if trainer.global_step == self.at and not self.fired:
            self.fired = True
            for p in pl_module.parameters():
                if p.grad is not None:
                    p.grad.mul_(self.factor)


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_rerun_under_mixed_precision(tmp_path, precision):
    """rerun=True under mixed precision: a transient fault is re-run and taken, and the run
    ends bitwise equal to the clean one. bf16-mixed: a NaN once, no scaler. 16-mixed: a
    CPU GradScaler run for real (float16 autocast) and a ×10⁴ spike once — the re-run's
    gradients are scaled again and unscaled once more with the step's scale, and the
    scaler ends where the clean run's does."""
    from lightning.pytorch.plugins.precision import MixedPrecision

    from gradguard.rules import FixedThreshold

    def run(path, fault):
        path.mkdir()
        scalers = []
        if precision == "16-mixed":
            scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10, growth_interval=3)
            scalers.append(scaler)
            kwargs = {"plugins": [MixedPrecision("16-mixed", "cpu", scaler=scaler)]}
            callbacks = [SpikeOnce(6)] if fault else []
            poison: set[int] = set()
        else:
            kwargs = {"precision": "bf16-mixed"}
            callbacks, poison = [], ({6} if fault else set())
        model, _cb, records, _ = fit(
            path,
            poison=poison,
            once=True,
            steps=12,
            module=MLPSum,
            callbacks=callbacks,
            guard_options={"rerun": True, "spike_rule": FixedThreshold(100.0)},
            **kwargs,
        )
        state = [(s.get_scale(), int(s._growth_tracker)) for s in scalers]
        return model, records, state

    clean, clean_records, clean_scaler = run(tmp_path / "clean", fault=False)
    model, records, scaler = run(tmp_path / "fault", fault=True)
    assert all("rerun" not in r.extra for r in clean_records)
    assert [r.action for r in records] == ["step"] * 12
    bad = records[6]
    assert bad.kind == ("spike" if precision == "16-mixed" else "nonfinite")
    assert bad.extra["rerun"]["verdict"] == "transient"
    assert bad.extra["rerun"]["grad_norm"] == clean_records[6].grad_norm
    for p, q in zip(clean.parameters(), model.parameters(), strict=True):
        assert torch.equal(p, q)
    assert scaler == clean_scaler  # (16-mixed) the same scale and growth count
    if precision == "16-mixed":
        assert records[6].amp_scale == clean_records[6].amp_scale > 2.0**10  # it grew
