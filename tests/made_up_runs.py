"""Made-up results of a preset's runs, for the tests of what reads them (nothing trained)."""

from __future__ import annotations

from gradguard.experiments import RunSummary, build_grid


def preset_rows(
    preset: str, budget: float = 1.0, experiments: list[str] | None = None
) -> list[RunSummary]:
    """One made-up row per run of ``preset`` with the run's own settings.

    The ``irnn`` runs diverge (first non-finite step 7); run ``i`` (0-based) ends with test
    loss ``0.03 (i + 1)`` and beats its baseline when that is under 0.9 × the baseline.
    """
    return [
        RunSummary(
            experiment=s.experiment,
            config=s.config,
            seed=s.seed,
            T=s.T,
            model=s.model,
            init=s.init,
            optimizer=s.optimizer,
            momentum=s.momentum or None,
            lr=s.lr,
            clip=s.clip,
            threshold=s.threshold,
            diverged=s.config == "irnn",
            first_nonfinite_step=7 if s.config == "irnn" else None,
            max_grad_norm=1.0,
            final_loss=0.5,
            test_loss=0.03 * (i + 1),
            baseline=s.baseline,
            beats_baseline=0.03 * (i + 1) < 0.9 * s.baseline,
            steps_to_success=None,
            steps_run=s.steps,
            wall_s=1.0,
        )
        for i, s in enumerate(build_grid(preset, budget=budget, experiments=experiments))
    ]
