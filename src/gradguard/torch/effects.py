"""What a decided step does to the optimizer and the AMP grad scaler, for trainers.

The guard carries out its own decisions with these; a trainer integration that steps
the optimizer itself (it asks :meth:`SpikeGuard.decide` and withholds the step when told)
calls them to leave the optimizer and the grad scaler exactly as the guard would:

- :func:`take_step` — step (under AMP: ``scaler.step`` and ``scaler.update``);
- :func:`withhold_step` — do not step; reset the grad scaler *keeping its scale* (a plain
  ``scaler.update()`` would count the withheld step towards growing the scale);
- :func:`keep_scale_at_next_update` — the same, for a trainer that calls
  ``scaler.update()`` itself after the step it was refused (Lightning);
- :func:`step_through` — step an optimizer through the wrapper a library put around it
  (accelerate's ``AcceleratedOptimizer``), so that what watches the wrapper sees the step.
"""

from gradguard.torch._effects import (
    keep_scale_at_next_update,
    step_through,
    take_step,
    withhold_step,
)

__all__ = ["keep_scale_at_next_update", "step_through", "take_step", "withhold_step"]
