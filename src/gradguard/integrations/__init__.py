"""The guard inside the trainers people use; each module needs its own extra.

- :mod:`gradguard.integrations.lightning` — ``SpikeGuardCallback`` for Lightning
  (``pip install 'gradguard[lightning]'``).
- :mod:`gradguard.integrations.transformers` — ``SpikeGuardCallback`` for the Hugging
  Face ``Trainer`` (``pip install 'gradguard[transformers]'``).
- :mod:`gradguard.integrations.accelerate` — guarding a hand-written Accelerate loop,
  the global norm as a plain float under FSDP2 (``pip install 'gradguard[accelerate]'``).

Nothing here is imported by ``import gradguard`` or ``import gradguard.torch``; importing
this package imports no trainer either. Each callback runs the guard's own decision
(:meth:`gradguard.torch.SpikeGuard.decide`) in the trainer's hook and withholds the
trainer's ``optimizer.step()`` when the decision is not to step.
"""

# The submodules, imported only when asked for (each imports its trainer).
__all__ = ["accelerate", "lightning", "transformers"]
