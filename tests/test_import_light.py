"""`import gradguard` (and the CLI's start) must not pull in torch, matplotlib or sympy;
`gradguard.torch` and `gradguard.integrations` must not pull in a trainer."""

import subprocess
import sys

HEAVY = ("torch", "matplotlib", "sympy")


def _loaded_after(stmt: str) -> list[str]:
    code = f"import sys; {stmt}; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_import_gradguard_is_light():
    assert _loaded_after("import gradguard, gradguard.lab, gradguard.records") == []


def test_the_guards_rules_and_decision_are_torch_free():
    # The scalar rules, the guard's decision and offline replay run without torch.
    assert _loaded_after("import gradguard.rules") == []


def test_cli_import_is_light():
    assert _loaded_after("import gradguard.cli") == []


TRAINERS = ("lightning", "pytorch_lightning", "transformers", "accelerate")


def _trainers_after(stmt: str) -> list[str]:
    code = f"import sys; {stmt}; print(' '.join(m for m in {TRAINERS!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_guard_and_integrations_package_import_no_trainer():
    assert _trainers_after("import gradguard, gradguard.torch, gradguard.integrations") == []


def test_an_integration_imports_only_its_own_trainer():
    # (Lightning itself imports transformers through torchmetrics when it is installed.)
    assert _trainers_after("import gradguard.integrations.accelerate") == ["accelerate"]
    assert "lightning" not in _trainers_after("import gradguard.integrations.transformers")


ENGINES = ("dask", "distributed", "ray")


def test_no_cluster_engine_is_imported_until_a_grid_asks_for_one():
    # `import gradguard`, the CLI's start, and the remedy runner itself import neither Dask
    # nor Ray; `remedies --executor dask://…` / `ray` imports its engine when it runs.
    code = (
        "import sys; import gradguard, gradguard.cli, gradguard.experiments._runner; "
        f"print(' '.join(m for m in {ENGINES!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []
