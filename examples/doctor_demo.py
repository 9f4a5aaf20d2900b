"""A run with a learning rate too high, guarded, and what ``gradguard doctor`` says of it.

$ python examples/doctor_demo.py docs/guard/doctor-lr.jsonl   # then: gradguard doctor LOG

A small tanh network fits a regression by SGD whose learning rate warms up linearly to
2.0 over 400 steps — far more than it can take. Past a learning rate of about 0.8 the
gradient norm starts to build up over a few steps, the guard flags the spike, skips,
and after three bad steps in a row rolls back to its last snapshot (which restores the
scheduler too, so the learning rate climbs back to the same place and the episode comes
back), until the guard gives up after ``max_rollbacks``. One CPU thread, under a second.
"""

from __future__ import annotations

import sys
from collections import OrderedDict

import torch
from torch import nn

from gradguard.torch import GuardError, SpikeGuard


def main(log: str) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x_all = torch.randn(2048, 16)
    y_all = torch.tanh(x_all @ torch.randn(16, 1)) + 0.1 * torch.randn(2048, 1)
    model = nn.Sequential(
        OrderedDict(
            inp=nn.Linear(16, 64),
            act1=nn.Tanh(),
            hidden=nn.Linear(64, 64),
            act2=nn.Tanh(),
            out=nn.Linear(64, 1),
        )
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    steps = 400
    warmup = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: 2.0 * min(1.0, (i + 1) / steps))
    guard = SpikeGuard(
        model,
        optimizer,
        scheduler=warmup,
        log=log,
        layer_norms_every=5,
        rollback_after=3,
        snapshot_every=50,
    )
    try:
        for i in range(steps):
            if guard.skip_batch():
                continue
            g = torch.Generator().manual_seed(i)
            idx = torch.randint(0, 2048, (64,), generator=g)
            optimizer.zero_grad(set_to_none=True)
            loss = (model(x_all[idx]) - y_all[idx]).square().mean()
            loss.backward()
            guard.step(loss)
            warmup.step()
    except GuardError as e:
        print(f"the guard gave up: {str(e)[:80]}…", file=sys.stderr)
    finally:
        guard.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "doctor-lr.jsonl")
