"""Public surfaces: each package's ``__all__`` is what it exports, and only that."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import gradguard

ROOT = Path(__file__).resolve().parents[1]

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
    # Every public name a private module offers is exported by its package or by one of
    # the package's public submodules (gradguard.report.plots, gradguard.torch.stats …),
    # so a module's __all__ never publishes a helper that no public surface does.
    infos = list(pkgutil.iter_modules(pkg.__path__))
    published = set(pkg.__all__)
    for info in infos:
        if not info.name.startswith("_"):
            sub = importlib.import_module(f"{package}.{info.name}")
            published |= set(getattr(sub, "__all__", ()))
    for info in infos:
        if not info.name.startswith("_") or f"{package}.{info.name}" in NOT_YET_EXPORTED:
            continue
        mod = importlib.import_module(f"{package}.{info.name}")
        extra = set(getattr(mod, "__all__", ())) - published
        assert not extra, f"{package}.{info.name}.__all__ publishes {sorted(extra)}"


@pytest.mark.parametrize("old", ["clip_coefficient", "NONFINITE_POLICIES"])
def test_old_torch_names_are_gone(old):
    # clip_coef and NONFINITE_MODES replace them (CHANGELOG.md); the lab's exact
    # clip_coefficient is the seed's formula, without torch's 1e-6, and stays.
    import gradguard.torch as gt

    assert old not in gt.__all__
    with pytest.raises(AttributeError, match=f"no attribute '{old}'"):
        getattr(gt, old)


#: Names that left ``gradguard.torch`` for a public submodule (CHANGELOG.md), so that the
#: package's own surface fits on one screen.
MOVED_FROM_TORCH = {
    "GradStats": "stats",
    "HostGradStats": "stats",
    "step_record": "stats",
    "unitwise_norm": "stats",
    "MomentumReset": "spam",
    "reset_moments_": "spam",
    "spike_aware_clip_": "spam",
    "Snapshot": "snapshots",
    "SnapshotError": "snapshots",
    "ClipResult": "types",
    "NonfiniteMode": "types",
    "NONFINITE_MODES": "types",
}


@pytest.mark.parametrize("name", sorted(MOVED_FROM_TORCH))
def test_moved_torch_names_live_in_their_submodule_only(name):
    import gradguard.torch as gt

    home = importlib.import_module(f"gradguard.torch.{MOVED_FROM_TORCH[name]}")
    assert name in home.__all__ and hasattr(home, name)
    assert name not in gt.__all__
    with pytest.raises(AttributeError, match=f"no attribute '{name}'"):
        getattr(gt, name)


def test_the_moves_are_in_the_changelog():
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    for name, home in MOVED_FROM_TORCH.items():
        assert f"`gradguard.torch.{home}.{name}`" in changelog, name


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


def public_modules() -> list[str]:
    """gradguard, its packages and their public submodules (no ``_name`` on the path)."""
    found = ["gradguard"]
    for info in pkgutil.walk_packages(gradguard.__path__, "gradguard."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            found.append(info.name)
    return found


#: Public modules with no ``:::`` block on an API page, and where a user reads them instead.
NOT_ON_AN_API_PAGE = {
    "gradguard": "its names are shortcuts to gradguard.lab's and gradguard.explain's",
    "gradguard.cli": "the command line: docs/cli.md, generated from its --help",
}


def api_pages() -> dict[str, str]:
    """Module → the API page whose ``::: module`` block renders its ``__all__``."""
    out: dict[str, str] = {}
    for page in sorted((ROOT / "docs" / "api").glob("*.md")):
        for module in re.findall(r"^::: ([\w.]+)", page.read_text(encoding="utf-8"), re.M):
            assert module not in out, f"{module} is on {out[module]} and {page.name}"
            out[module] = page.name
    return out


def test_every_public_module_has_an_api_page_and_every_page_a_module():
    # mkdocstrings renders a module's __all__ (mkdocs.yml), so a block per public module
    # makes the API pages list exactly what the packages export.
    pages = api_pages()
    modules = public_modules()
    missing = [m for m in modules if m not in pages and m not in NOT_ON_AN_API_PAGE]
    assert not missing, f"public modules with no ::: block under docs/api/: {missing}"
    stale = sorted(set(pages) - set(modules))
    assert not stale, f"API pages render modules that are not public: {stale}"
    assert not set(pages) & set(NOT_ON_AN_API_PAGE)
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in set(pages.values()):
        assert f"api/{page}" in nav, f"docs/api/{page} is not in mkdocs.yml's nav"


def test_the_layout_table_names_every_inner_module_of_the_guard():
    # docs/development.md's Layout row for gradguard.torch says what each private module
    # holds ("inside: ..."): a module added, renamed or gone is named there too.
    text = (ROOT / "docs" / "development.md").read_text(encoding="utf-8")
    (row,) = [line for line in text.splitlines() if line.startswith("| [`gradguard.torch`]")]
    named = set(re.findall(r"`(_[a-z_]+)`", row))
    inner = {p.stem for p in (ROOT / "src/gradguard/torch").glob("_*.py")} - {"__init__"}
    assert named == inner, f"unnamed: {sorted(inner - named)}; gone: {sorted(named - inner)}"


def test_the_top_level_names_are_the_lab_s_and_the_lesson_s():
    import gradguard.explain
    import gradguard.lab

    shared = set(gradguard.lab.__all__) | set(gradguard.explain.__all__)
    assert set(gradguard.__all__) - {"__version__"} <= shared


def test_the_experiments_all_is_its_lazy_exports():
    # gradguard.experiments loads its torch-backed names on first use (_EXPORTS, read from
    # its imports); its literal __all__, which the API page renders, must name the same.
    import gradguard.experiments as ex

    assert sorted(ex.__all__) == sorted(ex._EXPORTS)
