"""A remedy run in words: the settings named in a title are the run's own."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradguard.report._words import config_words, experiment_words, run_title, short_label


def test_the_seeds_remedies_in_words():
    meta = {"experiment": "divergence", "config": "clip-norm", "threshold": 1.0, "rho": 2.0}
    assert config_words(meta, "en") == "Clipping the gradient's norm at c = 1"
    assert experiment_words({**meta, "T": 10}, "en") == (
        "the exploding linear RNN (W = orthogonal × ρ, ρ = 2, T = 10)"
    )
    # a learning rate of 1e-06 is written as the report writes powers
    assert config_words({"config": "low-lr", "lr": 1.0000000000000002e-06}, "en") == (
        "A lower learning rate, η = 10^-6"
    )
    # a setting the run did not record is not invented: the bare form
    assert config_words({"config": "clip-value"}, "en") == "Clipping each gradient entry"
    assert experiment_words({"experiment": "adding"}, "bn") == "যোগ করার কাজ"
    # a run clipped under a name that does not say so (the IRNN) says it
    irnn = {"config": "irnn", "clip": "norm", "threshold": 1.0}
    assert config_words(irnn, "en").endswith(", its gradient's norm clipped at c = 1")
    # a configuration the catalog does not know keeps its own name
    assert config_words({"config": "my-remedy"}, "en") == "my-remedy"
    label = short_label({"experiment": "adding", "config": "gru", "T": 50}, "en")
    assert label == "adding, T = 50: GRU"


@settings(max_examples=40, deadline=None)
@given(
    c=st.floats(1e-4, 1e4, allow_nan=False),
    T=st.integers(1, 10_000),
    lang=st.sampled_from(["en", "bn"]),
)
def test_a_title_names_the_runs_own_threshold_and_T(c, T, lang):
    meta = {"experiment": "adding", "config": "rnn-clip", "threshold": c, "T": T}
    title = run_title(meta, lang)
    shown = f"{c:g}"  # 4 significant digits, as the runner's threshold is written
    if "e" not in shown:
        assert f"c = {shown}" in title
    assert f"T = {T}" in title and "{" not in title


@pytest.mark.parametrize("lang", ["en", "bn"])
def test_no_id_in_any_title(lang):
    from gradguard.experiments._names import DIVERGENCE_CONFIGS, LONG_RANGE_CONFIGS

    for experiment, configs in (("divergence", DIVERGENCE_CONFIGS), ("adding", LONG_RANGE_CONFIGS)):
        for config in configs:
            meta = {"experiment": experiment, "config": config, "T": 10, "rho": 2.0}
            meta |= {"threshold": 1.0, "lr": 0.001}
            title = run_title(meta, lang)
            remedy = title.split(" — ")[0]
            assert remedy != config and "{" not in title and "/" not in title, title
