"""One rank of the 2-D mesh checks (gloo, CPU, 4 processes); run by test_meshes.py.

$ python tests/guard/mesh_worker.py RANK WORLD_SIZE PORT OUT_DIR

Every case runs in the same four processes (one launch per test session):

- HSDP: ``fully_shard`` on a 2 × 2 (replicate × shard) mesh;
- FSDP × TP: a dp × tp mesh, ``ColwiseParallel`` / ``RowwiseParallel`` (``Shard(0)``,
  ``Shard(1)``, ``Replicate()`` placements) inside FSDP2;
- TP alone on a 1-D mesh of 4;
- a 2-stage pipeline (pp × dp mesh, FSDP2 inside each stage, the pp group named).

Each rank writes its observations to OUT_DIR/rankN.json; the test compares them with the
single-process values computed here from the same model and the full batch.
"""

from __future__ import annotations

import json
import math
import os
import sys


def main(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    import torch
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor.parallel import (
        ColwiseParallel,
        RowwiseParallel,
        parallelize_module,
    )

    from gradguard.torch import SpikeGuard, clip_coef, grad_stats
    from gradguard.torch._reduce import local_grad, reduce_stats
    from gradguard.torch._stats import _layer_norms

    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    out: dict = {"rank": rank}
    calls = {"all_reduce": 0, "other": 0}
    real_all_reduce = dist.all_reduce

    def counting_all_reduce(*args, **kwargs):
        calls["all_reduce"] += 1
        return real_all_reduce(*args, **kwargs)

    def net():
        torch.manual_seed(0)
        return torch.nn.Sequential(
            torch.nn.Linear(4, 8),
            torch.nn.Tanh(),
            torch.nn.Linear(8, 8),
            torch.nn.Tanh(),
            torch.nn.Linear(8, 2),
        )

    def batch(step):
        g = torch.Generator().manual_seed(100 + step)
        x = torch.randn(16, 4, generator=g)
        return x, torch.cat([x.sum(1, keepdim=True).sin(), x[:, :1].cos()], 1) * 30

    def part(t, i, n):  # the i-th of n equal pieces of a batch
        k = t.shape[0] // n
        return t[i * k : (i + 1) * k]

    def loss_of(model, x, y):
        return torch.nn.functional.mse_loss(model(x), y)

    def fb(model, x, y):
        loss = loss_of(model, x, y)
        loss.backward()
        return loss

    def reference(x, y, names=None):
        ref = net()
        loss_of(ref, x, y).backward()
        pairs = [(n, p) for n, p in ref.named_parameters() if names is None or n in names]
        host, _ = grad_stats(pairs).host()
        inf = float(torch.nn.utils.get_total_norm([p.grad for _, p in pairs], math.inf))
        return host, inf

    def measure(tag, named, p=2.0, pipeline_group=None):
        """Local statistics → reduce_stats; record norms, layers, coefficient, calls."""
        grads = [q.grad for _, q in named]
        local = [(n, local_grad(g)) for (n, _), g in zip(named, grads, strict=True)]
        stats = _local_stats(local, p)
        calls["all_reduce"] = 0
        dist.all_reduce = counting_all_reduce
        try:
            red = reduce_stats(
                stats.param_norms,
                stats.max_abs,
                stats.bad(),
                p,
                grads,
                pipeline_group=pipeline_group,
                extra_mean=torch.tensor([float(rank)]),
                extra_any=torch.tensor([1.0 if rank == 3 else 0.0]),
            )
        finally:
            dist.all_reduce = real_all_reduce
        names = [n for n, _ in named]
        _, layers = _layer_norms(red.param_norms, names, p)
        coef = clip_coef(red.total_norm, 1.0)
        out[tag] = {
            "total": float(red.total_norm),
            "param_norms": red.param_norms.tolist(),
            "layer_norms": layers.tolist(),
            "names": names,
            "coef": float(coef),
            "max_abs": float(red.max_abs),
            "nonfinite": int(red.nonfinite_count),
            "mean": red.extra_mean.tolist(),
            "any": red.extra_any.tolist(),
            "all_reduce_calls": calls["all_reduce"],
        }
        return red

    def _local_stats(local, p):
        # grad_stats reads .grad: stand-in parameters carry the local pieces as theirs.
        holders = []
        for n, g in local:
            q = torch.nn.Parameter(torch.zeros_like(g))
            q.grad = g
            holders.append((n, q))
        return grad_stats(holders, p, per_layer=False)

    def record_reference(tag, host, inf):
        out[tag + "_ref"] = {
            "total": host.total_norm,
            "param_norms": host.param_norms,
            "layer_norms": list(host.layer_norms.values()),
            "names": host.names,
            "coef": min(1.0, 1.0 / (host.total_norm + 1e-6)),
            "inf": inf,
        }

    def guarded(tag, model, forward_backward, fault_rank, pipeline_group=None, sync=True):
        """Three guarded steps, a NaN on ``fault_rank`` in the second: actions, calls."""
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        guard = SpikeGuard(
            model,
            opt,
            clipper=1.0,
            spike_rule=None,
            rollback_after=None,
            pipeline_group=pipeline_group,
            sync=sync,
        )
        records = []
        guard.hooks.append(records.append)
        actions, norms, counts = [], [], []
        for step in range(3):
            opt.zero_grad(set_to_none=True)
            loss = forward_backward()
            if step == 1 and rank == fault_rank:
                local_grad(next(model.parameters()).grad).view(-1)[0] = math.nan
            calls["all_reduce"] = 0
            dist.all_reduce = counting_all_reduce
            try:
                record = guard.step(loss)
            finally:
                dist.all_reduce = real_all_reduce
            if record is None:  # sync=False: the record arrived through the hook
                record = records[-1]
            actions.append(record.action)
            norms.append(record.grad_norm)
            counts.append(calls["all_reduce"])
        out[tag] = {"actions": actions, "norms": norms, "all_reduce_calls": counts}

    x, y = batch(0)

    # --- HSDP: replicate × shard -----------------------------------------------------
    mesh = init_device_mesh("cpu", (2, 2), mesh_dim_names=("replicate", "shard"))
    host, inf = reference(x, y)
    record_reference("hsdp", host, inf)
    model = net()
    for layer in (model[0], model[2], model[4]):
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    loss_of(model, part(x, rank, 4), part(y, rank, 4)).backward()
    named = list(model.named_parameters())
    out["hsdp_placements"] = [str(q.grad.placements) for _, q in named]
    measure("hsdp", named)
    measure("hsdp_inf", named, p=math.inf)
    # A fault in one rank's shard: every rank sees it.
    if rank == 2:
        named[2][1].grad.to_local().view(-1)[0] = math.nan
    measure("hsdp_fault", named)
    guarded("hsdp_guard", model, lambda: fb(model, part(x, rank, 4), part(y, rank, 4)), 2)
    guarded(
        "hsdp_guard_sync_free",
        model,
        lambda: fb(model, part(x, rank, 4), part(y, rank, 4)),
        2,
        sync=False,
    )

    # --- FSDP × TP on a dp × tp mesh ---------------------------------------------------
    mesh = init_device_mesh("cpu", (2, 2), mesh_dim_names=("dp", "tp"))
    dp = mesh["dp"].get_local_rank()
    model = net()
    parallelize_module(model, mesh["tp"], {"0": ColwiseParallel(), "2": RowwiseParallel()})
    for layer in (model[0], model[2], model[4]):
        fully_shard(layer, mesh=mesh["dp"])
    fully_shard(model, mesh=mesh["dp"])
    loss_of(model, part(x, dp, 2), part(y, dp, 2)).backward()
    named = list(model.named_parameters())
    out["fsdp_tp_placements"] = [str(q.grad.placements) for _, q in named]
    measure("fsdp_tp", named)
    measure("fsdp_tp_inf", named, p=math.inf)
    guarded("fsdp_tp_guard", model, lambda: fb(model, part(x, dp, 2), part(y, dp, 2)), 1)

    # --- TP alone on a 1-D mesh of 4 (the last layer a plain replicated tensor) -------
    mesh = init_device_mesh("cpu", (4,), mesh_dim_names=("tp",))
    model = net()
    parallelize_module(model, mesh, {"0": ColwiseParallel(), "2": RowwiseParallel()})
    loss_of(model, x, y).backward()
    named = list(model.named_parameters())
    out["tp_placements"] = [str(getattr(q.grad, "placements", "plain")) for _, q in named]
    measure("tp", named)

    # --- a 2-stage pipeline, FSDP2 inside each stage ---------------------------------
    mesh = init_device_mesh("cpu", (2, 2), mesh_dim_names=("pp", "dp"))
    stage, dp = mesh["pp"].get_local_rank(), mesh["dp"].get_local_rank()
    full = net()
    cut = 2  # stage 0: layers 0–1, stage 1: layers 2–4
    module = full[:cut] if stage == 0 else full[cut:]
    for layer in module:
        if isinstance(layer, torch.nn.Linear):
            fully_shard(layer, mesh=mesh["dp"])
    fully_shard(module, mesh=mesh["dp"])
    xs, ys = part(x, dp, 2), part(y, dp, 2)
    if stage == 0:
        # Stage 1's part, as a plain copy, stands in for the activations' gradient.
        rest = net()[cut:]
        loss_of(lambda t: rest(module(t)), xs, ys).backward()
    else:
        with torch.no_grad():
            acts = net()[:cut](xs)
        loss_of(module, acts, ys).backward()
    named = list(module.named_parameters())
    host, inf = reference(x, y)
    record_reference("pp", host, inf)
    out["pp_stage"] = stage
    measure("pp", named, pipeline_group=mesh["pp"].get_group())
    measure("pp_inf", named, p=math.inf, pipeline_group=mesh["pp"].get_group())
    if stage == 1 and dp == 0:
        named[0][1].grad.to_local().view(-1)[0] = math.inf
    measure("pp_fault", named, pipeline_group=mesh["pp"].get_group())

    def stage_step():
        if stage == 0:
            loss = loss_of(lambda t: rest(module(t)), xs, ys)
        else:
            loss = loss_of(module, acts, ys)
        loss.backward()
        return loss

    guarded("pp_guard", module, stage_step, 3, pipeline_group=mesh["pp"].get_group())

    dist.barrier()
    dist.destroy_process_group()
    tmp = os.path.join(out_dir, f".rank{rank}.json.tmp")
    with open(tmp, "w") as f:
        json.dump(out, f)
    os.replace(tmp, os.path.join(out_dir, f"rank{rank}.json"))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
