"""What the papers behind the paper presets say: their settings and results, each with its source.

$ gradguard remedies --preset le2015-adding --budget 0.001 --out le/
$ gradguard report --from le/

Each setting of a paper preset and each result the papers report is one row here, with
where it was read and whether it was checked against the text (``verified``). A value
that could not be checked is marked so; the docs and the report say "not verified"
beside it rather than cite it as the paper's. No torch needed.

Sources:

- ``le2015`` — Q. V. Le, N. Jaitly, G. E. Hinton, "A Simple Way to Initialize Recurrent
  Networks of Rectified Linear Units", arXiv:1504.00941 (2015). Read: its abstract and
  introduction (arXiv, ar5iv). Its section 4.1 (the adding problem, Figure 2) was searched
  for and not found, so every setting but the IRNN's init is the preset's own, not
  verified. What it reports there is known here only second-hand, from Arjovsky et al.'s
  draft (below, section 4.2): "their RNN solve the problem for T = 150 and the IRNN for
  T = 300, but they require over a million iterations before they start learning", and
  "our use of RMSprop instead of SGD with momentum as in" Le et al. — marked not verified;
  the preset follows it (SGD with momentum), with a momentum of its own choosing (0.9: the
  draft gives no value). Le et al.'s introduction (read) says SGD with momentum had been
  found to match Hessian-free optimization "provided the weights were initialized
  carefully". A third-party reimplementation, Knet.jl's
  adding example (``denizyuret/Knet.jl``, ``examples/deprecated/adding.jl``), trains with
  minibatches of 16 and notes 100 hidden units, η = 0.01 and a forget-gate bias of 1 as its
  full-size settings: it agrees with the preset there, but it is not the paper and
  verifies nothing.
- ``arjovsky2016`` — M. Arjovsky, A. Shah, Y. Bengio, "Unitary Evolution Recurrent
  Neural Networks", ICML 2016, section 4.1 and Figure 1 (the copying memory problem of
  Hochreiter & Schmidhuber 1997). Read: the authors' code and paper draft in their
  repository ``amarshah/complex_RNN`` (``memory_problem.py``, ``models.py``,
  ``optimizations.py``; ``paper/uRNN/uRNN.tex``, whose section 4 gives RMSProp at 10^-3
  with decay 0.9, gradients clipped at 1 for the LSTM and the tanh RNN, hidden sizes 80,
  80 and 40; and its Figure 1's plots ``figures/memory_{100,200,300,500}.jpeg``, test
  cross-entropy against training sequences up to 10^6). Values read off those plots are
  approximate (``approx``); the published text was not available to compare with the draft.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["PAPERS", "Paper", "Reported", "Setting", "paper_of"]


@dataclass(frozen=True)
class Setting:
    """One setting of a paper preset.

    Attributes:
      name: what it sets (``T``, ``optimizer``, ``lr`` …).
      value: the preset's value.
      source: where the value was read, or why it is the preset's own choice.
      verified: the value was read in the source named (``False``: not checked).
    """

    name: str
    value: object
    source: str
    verified: bool


@dataclass(frozen=True)
class Reported:
    """One result a paper reports, to set beside what gradguard measures.

    Attributes:
      config: the configuration it is about (``lstm``, ``rnn``, ``irnn``).
      T: the sequence length or delay (``None``: every length the paper ran).
      says: what the paper reports, in a few words.
      where: the figure or passage.
      verified: read in the source (``False``: as the paper is usually cited, not checked).
      loss: a number the paper gives or implies (its test loss), if any.
      claim: what it says, as a key of the report's catalogs (``lit_says_<claim>``): the
        report says it in its reader's language.
      approx: ``loss`` was read off a plot (``figure``), not printed as a number.
      figure: the figure's number, where ``loss`` was read off one.
      after: the training sequences seen when ``loss`` was read (``None``: the run's end).
    """

    config: str
    T: int | None
    says: str
    where: str
    verified: bool
    loss: float | None = None
    claim: str = ""
    approx: bool = False
    figure: int | None = None
    after: int | None = None


@dataclass(frozen=True)
class Paper:
    """A paper a preset follows: citation, settings, reported results.

    Attributes:
      key: the paper's key (``le2015``); the report's catalogs say what was read of it
        (``lit_read_<key>``).
      citation: authors, title, venue, the section and figure the preset follows.
      preset: the preset's name (``--preset NAME``).
      task: the experiment its runs are (``adding``, ``copy``).
      configs: the preset's configurations (``irnn``, ``rnn``, ``lstm``).
      settings: the preset's settings, each with its source.
      reported: what the paper reports, to set beside what gradguard measures.
    """

    key: str
    citation: str
    preset: str
    task: str
    configs: tuple[str, ...]
    settings: tuple[Setting, ...]
    reported: tuple[Reported, ...]

    def _setting(self, name: str) -> Setting:
        for s in self.settings:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.settings)
        raise KeyError(f"{self.key} has no setting {name!r}; its settings: {known}")

    def setting(self, name: str) -> object:
        """The value of the setting ``name``.

        Raises:
          KeyError: the preset has no setting ``name`` (the message names the known ones).
        """
        return self._setting(name).value

    def verified(self, name: str) -> bool:
        """Whether the setting ``name`` was read in its source (``KeyError`` as :meth:`setting`)."""
        return self._setting(name).verified

    def said(self, config: str, T: int | None) -> Reported | None:
        """What the paper reports of ``config`` at ``T`` (or at every length), if anything."""
        for r in sorted(self.reported, key=lambda r: r.T is None):  # its own T first
            if r.config == config and r.T in (T, None):
                return r
        return None


_LE = "Le, Jaitly & Hinton (2015)"
#: A reimplementation that agrees with some of the le2015 preset's settings (not the paper).
_KNET = "in a reimplementation (Knet.jl's adding example)"
_CODE = "the authors' code (amarshah/complex_RNN"
_DRAFT = "the authors' draft (amarshah/complex_RNN, paper/uRNN/uRNN.tex), Figure 1"
_DRAFT_TEXT = "the authors' draft (amarshah/complex_RNN, paper/uRNN/uRNN.tex), section 4"
#: Le et al.'s adding results as Arjovsky et al.'s draft reports them (section 4.2).
_SECOND_HAND = (
    "Arjovsky et al. (2016), the authors' draft, section 4.2, reporting Le et al.; "
    "Le et al.'s own text not read"
)
#: The preset's full budget, in training sequences: 20,000 steps of 20 (the code's defaults).
_COPY_SEQUENCES = 20_000 * 20


def _copy_baseline(T: int) -> float:
    return 10 * math.log(8) / (T + 20)


PAPERS: dict[str, Paper] = {
    "le2015": Paper(
        key="le2015",
        citation=(
            'Q. V. Le, N. Jaitly, G. E. Hinton, "A Simple Way to Initialize Recurrent '
            'Networks of Rectified Linear Units", arXiv:1504.00941 (2015), section 4.1, Figure 2'
        ),
        preset="le2015-adding",
        task="adding",
        configs=("irnn", "rnn", "lstm"),
        settings=(
            Setting("irnn init", "identity W, zero biases, ReLU", f"{_LE}, abstract", True),
            Setting("T", (150, 200, 300, 400), "as the paper is usually cited (Figure 2)", False),
            Setting(
                "hidden", 100, f"the preset's choice; as {_KNET}; the paper's not checked", False
            ),
            Setting(
                "optimizer",
                "sgd",
                "SGD with momentum, second-hand: Arjovsky et al. (2016), the authors' draft "
                "(amarshah/complex_RNN, paper/uRNN/uRNN.tex), section 4.2, says Le et al. "
                'trained with "SGD with momentum"; Le et al.\'s own text not read',
                False,
            ),
            Setting(
                "momentum",
                0.9,
                "the preset's choice: neither Arjovsky et al.'s draft nor what was read of "
                "Le et al. gives the value; the paper's not checked",
                False,
            ),
            Setting(
                "batch", 16, f"the preset's choice; as {_KNET}; the paper's not checked", False
            ),
            Setting("lr", 0.01, f"the preset's choice; as {_KNET}; the paper's not checked", False),
            Setting("clip", ("norm", 10.0), "the preset's choice; the paper's not checked", False),
            Setting(
                "lstm forget_bias",
                1.0,
                f"the preset's choice; as {_KNET}; the paper's not checked",
                False,
            ),
            Setting("rnn init", "default", "PyTorch's U(±1/√n); the paper's not checked", False),
            Setting("steps", 1_000_000, "the preset's choice, ~10^6 updates", False),
        ),
        reported=(
            Reported(
                "irnn",
                None,
                "comparable to LSTM on the toy long-range problems",
                f"{_LE}, abstract",
                True,
                claim="comparable_to_lstm",
            ),
            Reported(
                "rnn",
                150,
                "solves it, after over a million iterations",
                _SECOND_HAND,
                False,
                claim="solves_after_a_million",
            ),
            Reported(
                "irnn",
                300,
                "solves it, after over a million iterations",
                _SECOND_HAND,
                False,
                claim="solves_after_a_million",
            ),
        ),
    ),
    "arjovsky2016": Paper(
        key="arjovsky2016",
        citation=(
            'M. Arjovsky, A. Shah, Y. Bengio, "Unitary Evolution Recurrent Neural Networks", '
            "ICML 2016, section 4.1, Figure 1 (the copying memory problem of Hochreiter & "
            "Schmidhuber 1997)"
        ),
        preset="copy-memory",
        task="copy",
        configs=("rnn", "irnn", "lstm"),
        settings=(
            Setting("T", (100, 200, 500), f"{_DRAFT} (it also runs T = 300)", True),
            Setting(
                "optimizer",
                "rmsprop",
                f"{_CODE}, optimizations.py: decay 0.9); {_DRAFT_TEXT}: RMSProp, decay 0.9",
                True,
            ),
            Setting("lr", 1e-3, f"{_CODE}, memory_problem.py default); {_DRAFT_TEXT}", True),
            Setting("batch", 20, f"{_CODE}, memory_problem.py default)", True),
            Setting(
                "clip",
                ("value", 1.0),
                f"{_CODE}, memory_problem.py: T.clip at 1); {_DRAFT_TEXT}: clipped at 1",
                True,
            ),
            Setting("steps", 20_000, f"{_CODE}, memory_problem.py default n_iter)", True),
            Setting("eval_every", 50, f"{_CODE}, memory_problem.py: test every 50)", True),
            Setting("lstm forget_bias", 1.0, f"{_CODE}, models.py: b_f ones)", True),
            Setting("irnn init", "identity", f"{_CODE}, models.py: W = I, biases 0)", True),
            Setting("rnn init", "xavier-uniform", f"{_CODE}, models.py: Glorot uniform)", True),
            Setting("lstm init", "xavier-uniform", f"{_CODE}, models.py: Glorot uniform)", True),
            Setting(
                "hidden",
                {"rnn": 80, "irnn": 80, "lstm": 40},
                f"{_DRAFT_TEXT}.1: hidden layers of 80 (tanh RNN), 80 (IRNN), 40 (LSTM)",
                True,
            ),
        ),
        reported=tuple(
            [
                # read off the draft's memory_100.jpeg at 400,000 sequences: 0.163-0.166
                # (0.14-0.15 at its right edge, 10^6 sequences); the baseline is 0.173
                Reported(
                    "lstm",
                    100,
                    "leaves the memoryless baseline slowly, after a while",
                    _DRAFT,
                    True,
                    loss=0.165,
                    claim="leaves_baseline_slowly",
                    approx=True,
                    figure=1,
                    after=_COPY_SEQUENCES,
                ),
                Reported(
                    "irnn",
                    None,
                    "unstable: runs only at very low learning rates with clipping; not drawn",
                    _DRAFT_TEXT,
                    True,
                    claim="irnn_unstable",
                ),
            ]
            + [
                # the tanh RNN's curve (and the LSTM's from T = 200) lies on the baseline
                Reported(
                    c,
                    T,
                    "at the memoryless baseline",
                    _DRAFT,
                    True,
                    loss=_copy_baseline(T),
                    claim="at_baseline",
                    approx=True,
                    figure=1,
                    after=_COPY_SEQUENCES,
                )
                for T in (100, 200, 300, 500)
                for c in ("rnn", "lstm")
                if (c, T) != ("lstm", 100)
            ]
        ),
    ),
}


def paper_of(rows: Sequence[Any]) -> Paper | None:
    """The paper whose preset trained ``rows`` (summary rows), or ``None``.

    Rows are a paper preset's when every one is of its task and has its optimizer (and
    momentum: none where the paper lists none), learning rate and clipping (``--budget``
    scales only the steps; ``-T``, ``--configs`` and ``--seeds`` narrow the grid): what the
    report needs to set them beside the paper.
    """
    if not rows:
        return None
    for paper in PAPERS.values():
        clip: tuple[str, float] = paper.setting("clip")  # type: ignore[assignment]
        momentum = next((s.value for s in paper.settings if s.name == "momentum"), None)
        if all(
            r.experiment == paper.task
            and r.config in paper.configs
            and r.optimizer == paper.setting("optimizer")
            and (getattr(r, "momentum", None) or None) == momentum
            and r.lr == paper.setting("lr")
            and (r.clip, r.threshold) == clip
            for r in rows
        ):
            return paper
    return None
