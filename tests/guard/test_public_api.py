"""Public surfaces: each package's ``__all__`` is what it exports, and only that."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

# Modules still being built (guard at scale), not yet wired into gradguard.torch: they
# must be exported, or their __all__ emptied, when they are — then leave this list.
NOT_YET_EXPORTED: set[str] = set()


@pytest.mark.parametrize(
    "package",
    [
        "gradguard.torch",
        "gradguard.rules",
        "gradguard.lab",
        "gradguard.explain",
        "gradguard.experiments",
        "gradguard.report",
        "gradguard.serve",
    ],
)
def test_all_lists_exactly_the_public_names(package):
    pkg = importlib.import_module(package)
    assert sorted(pkg.__all__) == sorted(set(pkg.__all__)), "a name listed twice"
    for name in pkg.__all__:
        assert hasattr(pkg, name), f"{package}.__all__ names {name!r}, which is missing"
    # Every public name a private module offers is re-exported by its package, so a
    # module's __all__ never publishes a helper the package does not.
    # (A public submodule, such as gradguard.report.plots, is its own surface.)
    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.startswith("_") or f"{package}.{info.name}" in NOT_YET_EXPORTED:
            continue
        mod = importlib.import_module(f"{package}.{info.name}")
        extra = set(getattr(mod, "__all__", ())) - set(pkg.__all__)
        assert not extra, f"{package}.{info.name}.__all__ publishes {sorted(extra)}"


@pytest.mark.parametrize("old", ["clip_coefficient", "NONFINITE_POLICIES"])
def test_old_torch_names_are_gone(old):
    # clip_coef and NONFINITE_MODES replace them (CHANGELOG.md); the lab's exact
    # clip_coefficient is the seed's formula, without torch's 1e-6, and stays.
    import gradguard.torch as gt

    assert old not in gt.__all__
    with pytest.raises(AttributeError, match=f"no attribute '{old}'"):
        getattr(gt, old)


def test_unknown_torch_attribute_is_an_attribute_error():
    import gradguard.torch as gt

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        gt.nope  # noqa: B018


@pytest.mark.parametrize(
    "package",
    [
        "gradguard",
        "gradguard.lab",
        "gradguard.explain",
        "gradguard.experiments",
        "gradguard.report",
        "gradguard.serve",
    ],
)
def test_every_package_all_names_what_it_exports_once(package):
    pkg = importlib.import_module(package)
    assert len(pkg.__all__) == len(set(pkg.__all__)), "a name listed twice"
    missing = [name for name in pkg.__all__ if not hasattr(pkg, name)]
    assert not missing, f"{package}.__all__ names {missing}, which it does not export"
    private = [n for n in pkg.__all__ if n.startswith("_") and not n.endswith("__")]
    assert not private, f"{package}.__all__ publishes private names {private}"


def test_integrations_all_names_its_public_submodules_without_importing_them():
    import gradguard.integrations as gi

    public = sorted(i.name for i in pkgutil.iter_modules(gi.__path__) if not i.name.startswith("_"))
    assert sorted(gi.__all__) == public
