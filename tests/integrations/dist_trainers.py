"""One rank of the trainers' 2-process gloo checks (run by test_distributed_trainers.py).

$ RANK=0 LOCAL_RANK=0 WORLD_SIZE=2 ... python dist_trainers.py all OUT_DIR

Modes: ``lightning`` (Trainer strategy="ddp"), ``hf`` (transformers Trainer under DDP,
then a guarded Accelerate loop and FSDP2 gradient norms), ``all`` (both, in that order, in
the same processes). Each rank writes ``OUT_DIR/MODE.rankR.json``: its decisions, a
checksum of its parameters, norms.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path

import torch
import torch.distributed as dist

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
RANK = int(os.environ["RANK"])


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def checksum(model: torch.nn.Module) -> list[float]:
    return [float(p.detach().double().sum()) for p in model.parameters()]


def lightning_ddp(out: Path) -> dict:
    import lightning.pytorch as pl

    from gradguard.integrations.lightning import SpikeGuardCallback

    ex = load_example("lightning_spikeguard")
    torch.manual_seed(0)
    model = ex.SequenceSum()
    cb = SpikeGuardCallback(clipper=1.0, spike_rule=None)
    actions: list[str] = []

    norms: list[list[float]] = []

    class Norm(pl.Callback):  # runs before the guard's hook: torch's norm of this rank's grads
        def on_before_optimizer_step(self, trainer, pl_module, optimizer):
            grads = [p.grad for p in pl_module.parameters() if p.grad is not None]
            norms.append([float(torch.nn.utils.get_total_norm(grads))])

    class Watch(pl.Callback):  # runs after the guard's hook: reads its decision
        def on_before_optimizer_step(self, trainer, pl_module, optimizer):
            actions.append(cb.last_record.action)
            norms[-1].append(cb.last_record.grad_norm)

    trainer = pl.Trainer(
        max_steps=12,
        # The poison on rank 0 only, after DDP's all-reduce.
        callbacks=[ex.PoisonGradients({5}, rank=0), Norm(), cb, Watch()],
        **ex.trainer_kwargs(strategy="ddp", devices=2),
    )
    trainer.fit(model, ex.make_loader(n=384))
    assert cb.guard is not None
    return {
        "skipped": cb.skipped,
        "steps": cb.guard.step_count,
        "checksum": checksum(model),
        "actions": actions,
        "norms": norms,
        "world": trainer.world_size,
    }


def lightning_rerun(out: Path) -> dict:
    """rerun=True under DDP: a one-off NaN on rank 0 (transient), one that recurs (reproducible)."""
    import lightning.pytorch as pl

    from gradguard.integrations.lightning import SpikeGuardCallback

    ex = load_example("lightning_spikeguard")
    seen: dict[str, list] = {}
    for name, once in (("transient", True), ("reproducible", False)):
        torch.manual_seed(0)
        model = ex.SequenceSum()
        cb = SpikeGuardCallback(clipper=1.0, spike_rule=None, rerun=True)
        verdicts: list = []

        class Watch(pl.Callback):  # runs after the guard's hook: reads its decision
            def __init__(self, cb, verdicts):
                self.cb, self.verdicts = cb, verdicts

            def on_before_optimizer_step(self, trainer, pl_module, optimizer):
                r = self.cb.last_record
                self.verdicts.append([r.action, (r.extra.get("rerun") or {}).get("verdict")])

        trainer = pl.Trainer(
            max_steps=8,
            callbacks=[ex.PoisonGradients({4}, rank=0, once=once), cb, Watch(cb, verdicts)],
            **ex.trainer_kwargs(strategy="ddp", devices=2),
        )
        trainer.fit(model, ex.make_loader(n=384))
        seen[name] = verdicts
        seen[name + "_checksum"] = checksum(model)
    return seen


def hf_rerun(out: Path) -> dict:
    """rerun=True under DDP: NaN in rank 0's backward once (transient) or each time
    (reproducible); DDP's all-reduce carries it to both ranks."""
    from transformers import Trainer, TrainerCallback

    from gradguard.integrations.transformers import SpikeGuardCallback

    ex = load_example("transformers_spikeguard")
    seen: dict[str, list] = {}
    for name, once in (("transient", True), ("reproducible", False)):
        cb = SpikeGuardCallback(clipper=1.0, spike_rule=None, rerun=True)
        verdicts: list = []

        class Watch(TrainerCallback):  # runs after the guard's decision
            def __init__(self, cb, verdicts):
                self.cb, self.verdicts = cb, verdicts

            def on_pre_optimizer_step(self, args, state, control, **kwargs):
                r = self.cb.last_record
                self.verdicts.append([r.action, (r.extra.get("rerun") or {}).get("verdict")])

        model = ex.make_model()
        trainer = Trainer(
            model=model,
            args=ex.training_args(Path(tempfile.mkdtemp()), max_steps=6, ddp_backend="gloo"),
            train_dataset=ex.Counting(n=256),
            callbacks=[ex.PoisonGradients({3}, rank=0, once=once), cb, Watch(cb, verdicts)],
        )
        trainer.train()
        seen[name] = verdicts
        seen[name + "_checksum"] = checksum(model)
    return seen


def hf_ddp(out: Path) -> dict:
    from transformers import Trainer, TrainerCallback

    from gradguard.integrations.transformers import SpikeGuardCallback

    ex = load_example("transformers_spikeguard")
    tmp = Path(tempfile.mkdtemp())
    log = out / "hf_run.jsonl"  # rank 0 writes it
    cb = SpikeGuardCallback(clipper=1.0, spike_rule=None, log=log)
    actions: list[str] = []

    norms: list[list[float]] = []

    # The guard decides in the Trainer's norm call, before on_pre_optimizer_step: there the
    # gradients are as the guard left them (clipped), so torch's norm of them is the
    # guard's post-clip norm.
    class Norm(TrainerCallback):  # torch's norm of this rank's (clipped) gradients
        def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
            grads = [p.grad for p in model.parameters() if p.grad is not None]
            norms.append([float(torch.nn.utils.get_total_norm(grads))])

    class Watch(TrainerCallback):  # runs after the guard's hook: reads its decision
        def on_pre_optimizer_step(self, args, state, control, **kwargs):
            record = cb.last_record
            actions.append(record.action)
            clipped = record.grad_norm_clipped
            norms[-1].append(record.grad_norm if clipped is None else clipped)

    model = ex.make_model()
    trainer = Trainer(
        model=model,
        args=ex.training_args(tmp, max_steps=8, ddp_backend="gloo", logging_steps=4),
        train_dataset=ex.Counting(n=256),
        # A NaN in rank 0's backward: DDP's all-reduce carries it to every rank.
        callbacks=[ex.PoisonGradients({3}, rank=0), Norm(), cb, Watch()],
    )
    trainer.train()
    return {
        "actions": actions,
        "norms": norms,
        "skipped": cb.skipped,
        "steps": cb.guard.step_count,
        "checksum": checksum(model),
        "world": trainer.args.world_size,
        "lr": trainer.optimizer.param_groups[0]["lr"],
    }


def accelerate_loop(out: Path) -> dict:
    from accelerate import Accelerator

    from gradguard.integrations.accelerate import grad_norm, spike_guard

    accelerator = Accelerator(cpu=True)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model, optimizer = accelerator.prepare(model, optimizer)
    guard = spike_guard(accelerator, model, optimizer, clipper=1.0, spike_rule=None)
    g = torch.Generator().manual_seed(RANK)
    actions, norms = [], []
    for step in range(6):
        x = torch.randn(16, 8, generator=g)
        loss = (model(x).squeeze(-1) - x.sum(-1)).square().mean()
        accelerator.backward(loss)
        if step == 2 and RANK == 0:
            next(model.parameters()).grad.view(-1)[0] = float("inf")
        norms.append(grad_norm(model))
        actions.append(guard.step(loss).action)
        optimizer.zero_grad()
    return {"actions": actions, "norms": norms, "checksum": checksum(model)}


def accelerate_rerun(out: Path) -> dict:
    """guard.step(batch=b, closure=...) through Accelerate under DDP, an inf put into rank
    0's gradients after the all-reduce (rank 1's stay clean): once (transient), on every
    run of batch 3 (reproducible), or never (clean). Two epochs of 6 batches; each rank
    draws its own data."""
    seen: dict[str, object] = {}
    for name in ("clean", "transient", "reproducible"):
        seen.update(_accelerate_rerun_run(name))
    return seen


def _accelerate_rerun_run(name: str) -> dict:
    from accelerate import Accelerator

    from gradguard.integrations.accelerate import spike_guard

    accelerator = Accelerator(cpu=True)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Dropout(0.2), torch.nn.Linear(16, 1)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model, optimizer = accelerator.prepare(model, optimizer)
    guard = spike_guard(accelerator, model, optimizer, clipper=1.0, spike_rule=None, rerun=True)
    fired: list[int] = []

    def closure(x: torch.Tensor, y: torch.Tensor, b: int) -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x).squeeze(-1), y)
        accelerator.backward(loss)  # DDP all-reduces the gradients here
        fault = name == "reproducible" and b == 3
        fault = fault or (name == "transient" and b == 3 and not fired)
        if fault and RANK == 0:
            fired.append(b)
            next(model.parameters()).grad.view(-1)[0] = float("inf")
        return loss

    steps: list = []
    for epoch in range(2):
        for b in range(6):
            if guard.skip_batch(b):  # bad, and bad again when re-run
                steps.append([epoch, b, "skipped by skip_batch", None])
                continue
            g = torch.Generator().manual_seed(100 * RANK + b)  # batch b of this rank
            x = torch.randn(16, 8, generator=g)
            y = torch.sin(x).sum(-1)
            record = guard.step(batch=b, closure=functools.partial(closure, x, y, b))
            verdict = (record.extra.get("rerun") or {}).get("verdict")
            steps.append([epoch, b, record.action, verdict])
            optimizer.zero_grad()
    guard.close()
    return {
        name: steps,
        name + "_params": [p.detach().reshape(-1).tolist() for p in model.parameters()],
        name + "_skips": list(guard.rerun_skips),
        "world": accelerator.num_processes,
    }


def fsdp2_norm(out: Path) -> dict:
    """FSDP2 (``fully_shard``, what accelerate applies for fsdp_version=2) on gloo/CPU."""
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor import DTensor

    from gradguard.integrations.accelerate import grad_norm

    torch.manual_seed(0)
    full = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.Tanh(), torch.nn.Linear(32, 4))
    sharded = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.Tanh(), torch.nn.Linear(32, 4))
    sharded.load_state_dict(full.state_dict())
    for layer in (sharded[0], sharded[2]):
        fully_shard(layer)
    fully_shard(sharded)
    x = torch.randn(6, 8, generator=torch.Generator().manual_seed(1))  # same on both ranks
    full(x).square().sum().backward()
    sharded(x).square().sum().backward()
    reference = float(torch.nn.utils.get_total_norm([p.grad for p in full.parameters()]))
    dtensor = torch.nn.utils.get_total_norm([p.grad for p in sharded.parameters()])
    local = torch.nn.utils.get_total_norm([p.grad.to_local() for p in sharded.parameters()])
    return {
        "reference": reference,
        "ours": grad_norm(sharded),
        "is_dtensor": isinstance(dtensor, DTensor),
        "dtensor_full": float(dtensor.full_tensor()),
        "local_shard": float(local),
    }


if __name__ == "__main__":
    mode, out = sys.argv[1], Path(sys.argv[2])
    torch.set_num_threads(1)
    result = {}
    if mode in ("lightning", "all"):
        result["lightning"] = lightning_ddp(out)
        result["lightning_rerun"] = lightning_rerun(out)
    if mode in ("hf", "all"):
        # After Lightning's run the process group is still up: accelerate reuses it.
        result.update(hf=hf_ddp(out), accelerate=accelerate_loop(out), fsdp2=fsdp2_norm(out))
        result["hf_rerun"] = hf_rerun(out)
        result["accelerate_rerun"] = accelerate_rerun(out)
    (out / f"{mode}.rank{RANK}.json").write_text(json.dumps(result))
    # Leave together: a rank that exits while its peer still tears down gloo's connections
    # makes the peer's gloo thread abort ("terminate called without an active exception").
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
