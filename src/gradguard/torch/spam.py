"""SPAM's remedies on the optimizer's state (Huang et al., ICLR 2025, arXiv:2501.06842).

- :class:`MomentumReset` — a guard hook: after a step the guard flagged, forget the
  optimizer's moments of every tensor or of the tensors that spiked (what
  ``SpikeGuard(reset_moments="all" | "spiked")`` installs);
- :func:`reset_moments_` — the reset itself, on any Adam-like optimizer;
- :func:`spike_aware_clip_` — clip each gradient entry far above its second moment
  (``g_i² > θ·v_i`` → ``sign(g_i)·√(θ·v_i)``).
"""

from gradguard.torch._spam import MomentumReset, reset_moments_, spike_aware_clip_

__all__ = ["MomentumReset", "reset_moments_", "spike_aware_clip_"]
