"""A remedy run in words: what was trained and with which remedy, in the report's language.

A run's id (``divergence/T10/clip-norm/seed0``) names it for a program; a student reads
"Clipping the gradient's norm at c = 1 — the exploding linear RNN (ρ = 2, T = 10)". The
words come from the report catalog (``config_*``, ``exp_*``, ``short_*``); the numbers in
them (the threshold, the learning rate, ρ, T) from the run's own metadata line or its
``summary.csv`` row, so a title never states a setting the run did not have.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from gradguard.report._i18n import catalog, t

# Internal to the report: the package's API is build_report and write_report.
__all__: list[str] = []


def _num(v: object) -> str | None:
    """A setting as people write it (``1.0`` → ``1``, ``1e-06`` → ``1e-06``); ``None`` if absent."""
    if v is None or v == "":
        return None
    try:
        x = float(str(v))
    except ValueError:
        return None
    if not math.isfinite(x):
        return None
    text = f"{x:g}"
    if "e" in text:  # 1e-06 → 10^-6, 2.5e-05 → 2.5 × 10^-5 (as the report writes powers)
        mantissa, _, exponent = text.partition("e")
        power = f"10^{int(exponent)}"
        text = power if mantissa == "1" else f"{mantissa} × {power}"
    return text


def _fill(lang: str, key: str, info: Mapping[str, Any], fields: tuple[str, ...]) -> str | None:
    """The catalog's ``key`` with ``fields`` from ``info``; the ``_bare`` form if one is absent."""
    words = catalog(lang)
    values = {f: _num(info.get(f)) for f in fields}
    if all(v is not None for v in values.values()) and key in words:
        return t(lang, key, **values)
    return words.get(f"{key}_bare")


def config_words(info: Mapping[str, Any], lang: str) -> str:
    """Say which remedy a run used: ``"Clipping the gradient's norm at c = 1"``.

    Args:
      info: the run's metadata (``config``, and ``threshold``, ``lr``, ``rho``
        where the remedy has one) — a log's meta line or a ``summary.csv`` row.
      lang: the report's language.

    Returns:
      The catalog's ``config_<name>`` filled from ``info``; the config's own name
      for a configuration the catalog does not know.
    """
    config = str(info.get("config", ""))
    fields = {"clip-norm": ("threshold",), "clip-value": ("threshold",), "rnn-clip": ("threshold",)}
    fields["low-lr"] = ("lr",)
    words = _fill(lang, f"config_{config}", info, fields.get(config, ())) or config or "?"
    clip, threshold = info.get("clip"), _num(info.get("threshold"))
    # A clipped run whose name does not say so (the IRNN is clipped at c = 1) says it here.
    says_clip = config in fields and config != "low-lr"
    if not says_clip and clip in ("norm", "value") and threshold is not None:
        words = t(lang, f"with_clip_{clip}", config=words, threshold=threshold)
    return words


def experiment_words(info: Mapping[str, Any], lang: str) -> str:
    """Say what was trained: ``"the exploding linear RNN (ρ = 2, T = 10)"``."""
    experiment = str(info.get("experiment", ""))
    info = {**info, "rho": info.get("rho", info.get("rho_init"))}
    fields = {"divergence": ("rho", "T"), "adding": ("T",), "copy": ("T",)}
    words = _fill(lang, f"exp_{experiment}", info, fields.get(experiment, ("T",)))
    return words or experiment or "?"


def run_title(info: Mapping[str, Any], lang: str) -> str:
    """A run's title in words: the remedy, then what it was trained on."""
    return t(
        lang, "run_words", config=config_words(info, lang), experiment=experiment_words(info, lang)
    )


def short_name(kind: str, name: str, lang: str) -> str:
    """A configuration's or experiment's short name in words (``kind``: ``config``/``experiment``).

    ``"clip-norm"`` → ``"norm clipping"``, ``"divergence"`` → ``"exploding RNN"``; a name
    the catalog does not know is kept as it is.
    """
    prefix = "short_exp_" if kind == "experiment" else "short_"
    return catalog(lang).get(prefix + name, name)


def short_label(info: Mapping[str, Any], lang: str) -> str:
    """A short label for a chart's row: ``"exploding RNN, T = 10: norm clipping"``."""
    exp = short_name("experiment", str(info.get("experiment", "")), lang)
    T = _num(info.get("T"))
    if T is not None:
        exp = t(lang, "short_with_T", what=exp, T=T)
    config = short_name("config", str(info.get("config", "")), lang)
    return t(lang, "short_label", experiment=exp, config=config)
