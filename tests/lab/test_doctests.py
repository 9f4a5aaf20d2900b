"""The examples in the lab's and explain's docstrings are run, so they cannot drift."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "gradguard",
    "gradguard.lab",
    "gradguard.lab._numbers",
    "gradguard.lab._recurrence",
    "gradguard.lab._table",
    "gradguard.lab._sgd",
    "gradguard.lab._clipping",
    "gradguard.explain",
    "gradguard.explain._lesson",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
