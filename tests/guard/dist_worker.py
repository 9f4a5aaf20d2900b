"""One rank of the distributed guard checks (gloo, CPU); run by test_distributed.py.

$ python tests/guard/dist_worker.py RANK WORLD_SIZE PORT OUT_DIR

Every check runs in the same two processes (one spawn per test session: importing torch
costs ~2 s a process). Each rank writes its observations to OUT_DIR/rankN.json; the test
compares the ranks with each other and with single-process references computed here.
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
    from torch.nn.parallel import DistributedDataParallel as DDP

    from gradguard.rules import MedianMadRule
    from gradguard.torch import SpikeGuard, clip_grad_norm_, grad_stats

    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    group = dist.group.WORLD
    out: dict = {"rank": rank}

    def net():
        torch.manual_seed(0)
        return torch.nn.Sequential(
            torch.nn.Linear(4, 8),
            torch.nn.Tanh(),
            torch.nn.Linear(8, 8),
            torch.nn.Tanh(),
            torch.nn.Linear(8, 1),
        )

    def batch(step):
        g = torch.Generator().manual_seed(100 + step)
        x = torch.randn(8 * world, 4, generator=g)
        return x, x.sum(dim=1, keepdim=True).sin()

    def shard(t):  # this rank's half of a global batch
        n = t.shape[0] // world
        return t[rank * n : (rank + 1) * n]

    def loss_of(model, x, y):
        return torch.nn.functional.mse_loss(model(x), y)

    def flat_params(model):
        return torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def same_on_all_ranks(t):
        gathered = [torch.empty_like(t) for _ in range(world)]
        dist.all_gather(gathered, t)
        return all(torch.equal(gathered[0], g) for g in gathered)

    # --- DDP: the global norm equals the single-process norm on the full batch ----------
    x, y = batch(0)
    ref = net()
    loss_of(ref, x, y).backward()
    ref_stats, _ = grad_stats(ref.named_parameters()).host()
    ddp = DDP(net())
    loss_of(ddp, shard(x), shard(y)).backward()
    stats, _ = grad_stats(ddp.module.named_parameters(), process_group=group).host()
    out["ddp_norm"] = stats.total_norm
    out["ref_norm"] = ref_stats.total_norm
    out["ddp_param_norms"] = stats.param_norms
    out["ref_param_norms"] = ref_stats.param_norms

    # --- one rank's gradients differ (fault after the all-reduce): same coefficient ----
    if rank == 1:
        for p in ddp.parameters():
            p.grad.mul_(1000.0)
    local = float(grad_stats(ddp.parameters(), per_layer=False).total_norm)
    total = clip_grad_norm_(ddp.parameters(), 1.0, process_group=group)
    out["local_norm"] = local
    out["clip_total"] = float(total)
    out["clip_post"] = float(grad_stats(ddp.parameters(), per_layer=False).total_norm)

    # --- the guard under DDP, faults on one rank only ---------------------------------
    model = DDP(net())
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    guard = SpikeGuard(
        model.module,
        opt,
        clipper=5.0,
        rollback_after=2,
        snapshot_every=3,
        snapshot_path=os.path.join(out_dir, "snap.pt"),  # on disk, one file per rank
        spike_rule=MedianMadRule(window=16, k=6, min_history=4),
    )
    faults = {6: (1, "nan"), 8: (0, "spike"), 10: (0, "inf"), 11: (1, "nan")}
    actions, kinds, rollback_to = [], [], None
    for step in range(14):
        opt.zero_grad(set_to_none=True)
        x, y = batch(step)
        loss = loss_of(model, shard(x), shard(y))
        loss.backward()
        where, what = faults.get(step, (None, None))
        if where == rank:
            first = next(model.module.parameters())
            if what == "nan":
                first.grad[0, 0] = math.nan
            elif what == "inf":
                first.grad[0, 0] = math.inf
            else:
                for p in model.parameters():
                    p.grad.mul_(1e4)
        before = flat_params(model.module).clone()
        record = guard.step(loss)
        actions.append(record.action)
        kinds.append(record.kind)
        if record.action == "skip":
            out.setdefault("skip_unchanged", []).append(
                bool(torch.equal(before, flat_params(model.module)))
            )
        if record.action == "rollback":
            rollback_to = guard.snapshot.step
    out["guard_actions"] = actions
    out["guard_kinds"] = kinds
    out["rollback_to"] = rollback_to
    out["params_identical_across_ranks"] = same_on_all_ranks(flat_params(model.module))
    out["snapshot_file"] = os.path.basename(str(guard.snapshot.path))

    # --- re-run under DDP: a fault on one rank, every rank re-runs and agrees ---------
    def rerun_run(faults):
        """``faults``: step → (rank, "once" | "batch"); a batch fault recurs in epoch 2."""
        model = DDP(net())
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        rguard = SpikeGuard(model.module, opt, clipper=5.0, spike_rule=None, rollback_after=None)
        state = {"step": None, "fired": set()}

        def hook(grad):
            where, how = faults.get(state["step"] % 6, (None, None))
            if where != rank or (how == "once" and state["step"] in state["fired"]):
                return grad
            if how == "once" and state["step"] >= 6:
                return grad
            state["fired"].add(state["step"])
            grad = grad.clone()
            grad.view(-1)[0] = math.inf
            return grad

        next(model.module.parameters()).register_hook(hook)
        calls = [0]
        records = []
        for step in range(12):
            b = step % 6
            if rguard.skip_batch(b):
                records.append(None)
                continue
            state["step"] = step
            x, y = batch(300 + b)

            def closure(x=x, y=y):
                calls[0] += 1
                opt.zero_grad(set_to_none=True)
                loss = loss_of(model, shard(x), shard(y))
                loss.backward()
                return loss

            record = rguard.step(batch=b, closure=closure)
            records.append([record.action, (record.extra.get("rerun") or {}).get("verdict")])
        return records, calls[0], rguard.rerun_skips, flat_params(model.module)

    clean, clean_calls, _, _clean_params = rerun_run({})
    faulty, calls, skips, faulty_params = rerun_run({2: (1, "once"), 4: (0, "batch")})
    out["rerun_clean"] = clean
    out["rerun_records"] = faulty
    out["rerun_calls"] = [clean_calls, calls]
    out["rerun_skips"] = skips
    out["rerun_same_params"] = same_on_all_ranks(faulty_params)

    # --- DDP + AMP: the scaler finds inf on one rank only; every rank skips ----------
    model = DDP(net())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8)
    aguard = SpikeGuard(model.module, opt, scaler=scaler, spike_rule=None)
    amp_kinds = []
    for step in range(3):
        opt.zero_grad(set_to_none=True)
        x, y = batch(200 + step)
        loss = loss_of(model, shard(x), shard(y))
        scaler.scale(loss).backward()
        if step == 1 and rank == 1:
            next(model.module.parameters()).grad[0, 0] = math.inf
        amp_kinds.append(aguard.step(loss).kind)
    out["amp_kinds"] = amp_kinds
    out["amp_scale"] = scaler.get_scale()
    out["amp_params_identical"] = same_on_all_ranks(flat_params(model.module))

    # --- FSDP2 (DTensor-sharded gradients) ---------------------------------------------
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh("cpu", (world,))
    x, y = batch(50)
    ref = net()
    loss_of(ref, x, y).backward()
    ref_host, _ = grad_stats(ref.named_parameters()).host()
    sharded = net()
    for layer in (sharded[0], sharded[2], sharded[4]):
        fully_shard(layer, mesh=mesh)
    fully_shard(sharded, mesh=mesh)
    loss_of(sharded, shard(x), shard(y)).backward()
    out["fsdp_grad_type"] = type(next(sharded.parameters()).grad).__name__
    host, _ = grad_stats(sharded.named_parameters()).host()
    out["fsdp_norm"] = host.total_norm
    out["fsdp_ref_norm"] = ref_host.total_norm
    out["fsdp_param_norms"] = host.param_norms
    out["fsdp_ref_param_norms"] = ref_host.param_norms
    inf_host, _ = grad_stats(sharded.parameters(), float("inf")).host()
    out["fsdp_inf_norm"] = inf_host.total_norm
    out["fsdp_ref_inf_norm"] = float(
        torch.nn.utils.get_total_norm([p.grad for p in ref.parameters()], float("inf"))
    )
    max_norm = ref_host.total_norm / 4
    torch.nn.utils.clip_grad_norm_(ref.parameters(), max_norm)
    clip_grad_norm_(sharded.parameters(), max_norm)
    out["fsdp_clip_max_err"] = max(
        float((p.grad.full_tensor() - q.grad).abs().max())
        for p, q in zip(sharded.parameters(), ref.parameters(), strict=True)
    )
    # A NaN in one rank's shard only: every rank skips, shards unchanged.
    opt = torch.optim.SGD(sharded.parameters(), lr=0.1)
    fguard = SpikeGuard(sharded, opt, spike_rule=None, rollback_after=None)
    opt.zero_grad(set_to_none=True)
    loss = loss_of(sharded, shard(x), shard(y))
    loss.backward()
    if rank == 0:
        next(sharded.parameters()).grad.to_local()[0, 0] = math.nan
    before = [p.detach().to_local().clone() for p in sharded.parameters()]
    record = fguard.step(loss)
    out["fsdp_fault_action"] = record.action
    out["fsdp_fault_nonfinite"] = record.nonfinite_count
    out["fsdp_skip_unchanged"] = all(
        torch.equal(b, p.detach().to_local())
        for b, p in zip(before, sharded.parameters(), strict=True)
    )
    opt.zero_grad(set_to_none=True)
    loss = loss_of(sharded, shard(x), shard(y))
    loss.backward()
    out["fsdp_clean_action"] = fguard.step(loss).action
    # Rollback with sharded state: the first bad step restores the snapshot on every rank.
    rguard = SpikeGuard(sharded, opt, spike_rule=None, rollback_after=1, snapshot_every=1)
    opt.zero_grad(set_to_none=True)
    loss = loss_of(sharded, shard(x), shard(y))
    loss.backward()
    rguard.step(loss)  # a good step; the snapshot is taken at the start of the next
    snap = [p.detach().to_local().clone() for p in sharded.parameters()]
    opt.zero_grad(set_to_none=True)
    loss = loss_of(sharded, shard(x), shard(y))
    loss.backward()
    rguard.step(loss)  # a good step too: the snapshot staged as it started is kept
    opt.zero_grad(set_to_none=True)
    loss = loss_of(sharded, shard(x), shard(y))
    loss.backward()
    if rank == 1:
        next(sharded.parameters()).grad.to_local().fill_(math.inf)
    out["fsdp_rollback_action"] = rguard.step(loss).action
    out["fsdp_rollback_restored"] = all(
        torch.equal(a, p.detach().to_local())
        for a, p in zip(snap, sharded.parameters(), strict=True)
    )
    # Re-run under FSDP2: an inf in rank 1's shard on the step's first backward only
    # (transient), then on every backward of the step (reproducible).
    qguard = SpikeGuard(sharded, opt, spike_rule=None, rollback_after=None)
    hits = {"mode": "", "fired": 0}

    def closure():
        opt.zero_grad(set_to_none=True)
        loss = loss_of(sharded, shard(x), shard(y))
        loss.backward()
        if rank == 1 and (hits["mode"] == "batch" or hits["fired"] == 0):
            hits["fired"] += 1
            next(sharded.parameters()).grad.to_local().fill_(math.inf)
        return loss

    verdicts = []
    for mode in ("once", "batch"):
        hits["mode"], hits["fired"] = mode, 0
        r = qguard.step(batch=mode, closure=closure)
        verdicts.append([r.action, (r.extra.get("rerun") or {}).get("verdict"), r.grad_norm])
    out["fsdp_rerun"] = verdicts
    out["fsdp_rerun_skips"] = qguard.rerun_skips

    dist.barrier()
    dist.destroy_process_group()
    tmp = os.path.join(out_dir, f".rank{rank}.json.tmp")
    with open(tmp, "w") as f:
        json.dump(out, f)
    os.replace(tmp, os.path.join(out_dir, f"rank{rank}.json"))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
