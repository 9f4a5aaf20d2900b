"""The lab exports the lab: its ``__all__`` is what it imports, and no CLI parsing helper."""

from __future__ import annotations

import types

import gradguard.lab as lab


def test_lab_all_is_what_the_package_exports_once():
    public = {
        name
        for name, value in vars(lab).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert sorted(lab.__all__) == sorted(public) and len(set(lab.__all__)) == len(lab.__all__)


def test_lab_exports_no_parsing_or_formatting_helpers():
    helpers = {"check_lr", "check_steps", "check_threshold", "parse_steps_list", "sci"}
    assert not helpers & set(lab.__all__)
    assert not [n for n in lab.__all__ if n.startswith(("check_", "parse_"))]
