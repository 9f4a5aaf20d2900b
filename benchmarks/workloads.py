"""Three small, real training workloads for judging the guard (needs the ``[torch]`` extra).

$ python benchmarks/bench_defaults.py --quick     # the guard's defaults, measured on these

The benchmarks' harness, not part of the installed package: the benchmarks import it from
their own folder (``python benchmarks/bench_defaults.py`` puts it on ``sys.path``), the
tests through pytest's ``pythonpath``.

Each workload trains a small randomly initialised model on data generated here from a
seed (nothing is downloaded), one CPU thread, a few milliseconds per step:

- ``lstm-lm`` — a 2-layer LSTM word language model trained like PyTorch's
  ``word_language_model`` example: truncated BPTT over a token stream, the hidden state
  carried from batch to batch (detached), plain SGD at lr 20, ``clip_grad_norm_`` at 0.25.
- ``transformer-lm`` — a 2-layer pre-norm causal transformer on random windows of a
  token stream, AdamW with a linear warm-up and cosine decay, clipping at 1.0.
- ``mlp`` — a 3-layer MLP classifier on a generated Gaussian-mixture data set, SGD with
  momentum, clipping at 1.0.

The token stream is an order-2 Markov chain over ``vocab`` words: every pair of
previous words has 4 possible successors with Zipf weights, so the stream has structure
a model can learn (its entropy rate is far below ``log(vocab)``).

:func:`train` runs one workload with or without a guard and with an optional injected
fault (:data:`FAULTS`), using the loop a user would write::

    from workloads import WORKLOADS, train
    from gradguard.torch import SpikeGuard

    clean = train(WORKLOADS["lstm-lm"], seed=0, steps=200)              # torch's clipping
    guarded = train(WORKLOADS["lstm-lm"], seed=0, steps=200, fault="nan",
                    guard=lambda model, opt, sched: SpikeGuard(model, opt, clipper=0.25))
    guarded.eval_loss, clean.eval_loss, guarded.actions.count("skip")
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from gradguard.errors import InputError

__all__ = [
    "BATCH_FAULTS",
    "FAULTS",
    "TRANSIENT_FAULTS",
    "WORKLOADS",
    "Run",
    "Setup",
    "Workload",
    "markov_corpus",
    "train",
    "train_with_faults",
]

#: Injected faults: ``nan`` (a NaN in the forward pass: loss, gradients and any carried
#: state become NaN), ``inf`` (one gradient entry set to inf), ``grad1e6`` (the gradient of
#: one parameter tensor, the middle one, ×1e6: a layer blowing up, which also turns the
#: clipped step's direction towards that layer), ``loss1e4`` (the loss ×1e4 before
#: ``backward``), ``nan3`` (``nan`` on three batches in a row).
FAULTS = ("nan", "inf", "grad1e6", "loss1e4", "nan3")
#: The faults tied to their batch — the batch's data carries the NaN — which strike again
#: when the step is re-run on it (``rerun=True``): a re-run finds them *reproducible*. The
#: others (:data:`TRANSIENT_FAULTS`) fire once, as a hardware fault does: the re-run of the
#: same batch is clean, and finds them *transient*.
BATCH_FAULTS = ("nan", "nan3")
#: The faults that fire once: not again when the step is re-run on its batch.
TRANSIENT_FAULTS = ("inf", "grad1e6", "loss1e4")


@functools.lru_cache(maxsize=8)
def _corpus(n_tokens: int, vocab: int, seed: int) -> Tensor:
    rng = np.random.default_rng(seed)
    k = 4
    # successors[a, b]: the k words that may follow "a b"; most of the choice is set by b
    # (a shared list per b, reordered by a), so a model learns the first-order part fast
    # and the second-order part (which of b's successors is likely) more slowly.
    by_b = rng.integers(0, vocab, size=(vocab, k))
    order = np.argsort(rng.random((vocab, vocab, k)), axis=-1)
    successors = np.take_along_axis(np.broadcast_to(by_b, (vocab, vocab, k)), order, axis=-1)
    weights = 1.0 / np.arange(1, k + 1) ** 2
    choice = rng.choice(k, size=n_tokens, p=weights / weights.sum())
    out = np.empty(n_tokens, dtype=np.int64)
    out[:2] = rng.integers(0, vocab, size=2)
    a, b = int(out[0]), int(out[1])
    for t in range(2, n_tokens):
        a, b = b, int(successors[a, b, choice[t]])
        out[t] = b
    return torch.from_numpy(out)


def markov_corpus(n_tokens: int = 60_000, vocab: int = 128, seed: int = 1234) -> Tensor:
    """Return a generated token stream: an order-2 Markov chain with 4 successors per context.

    Args:
      n_tokens: the stream's length.
      vocab: the number of distinct tokens.
      seed: the chain's and the stream's seed (the same seed gives the same stream).

    Returns:
      A 1-D ``int64`` tensor (cached: do not modify it in place).
    """
    for name, value, lo in (("n_tokens", n_tokens, 3), ("vocab", vocab, 2)):
        if isinstance(value, bool) or not isinstance(value, int) or value < lo:
            raise InputError(name, value, "whole", min=lo)
    return _corpus(n_tokens, vocab, seed)


@dataclass
class Setup:
    """One workload, built for one seed: what a training loop needs.

    Attributes:
      model: the module.
      optimizer: its optimizer.
      scheduler: an LR scheduler stepped once per batch, or ``None``.
      batch: ``batch(i)`` returns batch number ``i`` (the same batch for the same ``i``).
      forward: ``forward(model, batch, state, poison)`` returns ``(loss, new_state)``;
        ``poison=True`` puts a NaN into the forward pass (an injected fault).
      init_state: returns the carried state at the start (``None`` when nothing is carried).
      evaluate: the held-out loss of a model (no gradients).
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    batch: Callable[[int], Any]
    forward: Callable[[nn.Module, Any, Any, bool], tuple[Tensor, Any]]
    init_state: Callable[[], Any]
    evaluate: Callable[[nn.Module], float]


@dataclass(frozen=True)
class Workload:
    """A named workload: how to build it, its clipping threshold and its usual length.

    Attributes:
      name: ``lstm-lm``, ``transformer-lm`` or ``mlp``.
      description: one line for tables.
      max_norm: the ``clip_grad_norm_`` threshold its training recipe uses.
      steps: its length in the benchmark (batches).
      build: ``build(seed)`` returns a :class:`Setup`.
    """

    name: str
    description: str
    max_norm: float
    steps: int
    build: Callable[[int], Setup]


# -- LSTM language model, truncated BPTT ---------------------------------------------


class LSTMLanguageModel(nn.Module):
    """Embedding → 2-layer LSTM → linear decoder (PyTorch's word_language_model, small)."""

    def __init__(self, vocab: int, emb: int = 32, hidden: int = 64, layers: int = 2) -> None:
        super().__init__()
        self.encoder = nn.Embedding(vocab, emb)
        self.rnn = nn.LSTM(emb, hidden, layers)
        self.decoder = nn.Linear(hidden, vocab)
        self.layers, self.hidden = layers, hidden

    def init_hidden(self, batch: int) -> tuple[Tensor, Tensor]:
        """Return the zero hidden and cell states for ``batch`` sequences."""
        z = torch.zeros(self.layers, batch, self.hidden)
        return z, z.clone()

    def forward(
        self, tokens: Tensor, hidden: tuple[Tensor, Tensor], poison: bool = False
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        x = self.encoder(tokens)
        if poison:
            x = x.clone()
            x[0, 0, 0] = math.nan
        out, hidden = self.rnn(x, hidden)
        return self.decoder(out), hidden


def _lstm_lm(seed: int, *, vocab: int = 128, bptt: int = 20, batch_size: int = 16) -> Setup:
    stream = markov_corpus(vocab=vocab)
    split = len(stream) * 9 // 10
    # Batchify as the PyTorch example does: batch_size parallel streams, read in order.
    cols = split // batch_size
    train_data = stream[: cols * batch_size].view(batch_size, cols).t().contiguous()
    held = stream[split:]
    hcols = len(held) // batch_size
    held_data = held[: hcols * batch_size].view(batch_size, hcols).t().contiguous()
    n_chunks = (cols - 1) // bptt
    torch.manual_seed(seed)
    model = LSTMLanguageModel(vocab)
    optimizer = torch.optim.SGD(model.parameters(), lr=20.0)
    offset = (seed * 37) % n_chunks  # each seed reads the stream from its own place

    def batch(i: int) -> tuple[Tensor, Tensor]:
        j = (offset + i) % n_chunks * bptt
        return train_data[j : j + bptt], train_data[j + 1 : j + 1 + bptt]

    def forward(m: nn.Module, b: Any, state: Any, poison: bool) -> tuple[Tensor, Any]:
        x, y = b
        out, hidden = m(x, state, poison)
        loss = nn.functional.cross_entropy(out.reshape(-1, vocab), y.reshape(-1))
        # Truncated BPTT: the state goes on to the next batch, its graph does not.
        return loss, (hidden[0].detach(), hidden[1].detach())

    @torch.no_grad()
    def evaluate(m: nn.Module) -> float:
        hidden = model.init_hidden(batch_size)
        total, count = 0.0, 0
        for j in range(0, min(len(held_data) - 1, 8 * bptt), bptt):
            x, y = held_data[j : j + bptt], held_data[j + 1 : j + 1 + bptt]
            out, hidden = m(x, hidden)
            total += float(nn.functional.cross_entropy(out.reshape(-1, vocab), y.reshape(-1)))
            count += 1
        return total / count

    return Setup(
        model,
        optimizer,
        None,
        batch,
        forward,
        lambda: model.init_hidden(batch_size),
        evaluate,
    )


# -- a small causal transformer ------------------------------------------------------


class TinyTransformerLM(nn.Module):
    """Token + position embeddings → pre-norm causal transformer blocks → LayerNorm → head."""

    def __init__(
        self, vocab: int, context: int, d_model: int = 64, heads: int = 4, layers: int = 2
    ) -> None:
        super().__init__()
        self.tok = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(context, d_model)
        block = nn.TransformerEncoderLayer(
            d_model, heads, 2 * d_model, dropout=0.0, batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(context))

    def forward(self, tokens: Tensor, poison: bool = False) -> Tensor:
        n = tokens.shape[1]
        x = self.tok(tokens) + self.pos(torch.arange(n))
        if poison:
            x = x.clone()
            x[0, 0, 0] = math.nan
        mask: Tensor = self.mask  # type: ignore[assignment]
        x = self.blocks(x, mask=mask[:n, :n], is_causal=True)
        return self.head(self.norm(x))


def _transformer_lm(
    seed: int, *, vocab: int = 128, context: int = 32, batch_size: int = 16, steps: int = 300
) -> Setup:
    stream = markov_corpus(vocab=vocab, seed=4321)
    split = len(stream) * 9 // 10
    torch.manual_seed(seed)
    model = TinyTransformerLM(vocab, context)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.1)
    warmup = 20

    def lr_at(i: int) -> float:
        if i < warmup:
            return (i + 1) / warmup
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, (i - warmup) / steps)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)

    def windows(starts: Tensor) -> tuple[Tensor, Tensor]:
        idx = starts[:, None] + torch.arange(context + 1)
        w = stream[idx]
        return w[:, :-1], w[:, 1:]

    def batch(i: int) -> tuple[Tensor, Tensor]:
        g = torch.Generator().manual_seed(seed * 100_003 + i)
        return windows(torch.randint(0, split - context - 1, (batch_size,), generator=g))

    held_starts = torch.arange(split, len(stream) - context - 1, (len(stream) - split) // 64)[:64]
    held = windows(held_starts)

    def forward(m: nn.Module, b: Any, state: Any, poison: bool) -> tuple[Tensor, Any]:
        x, y = b
        out = m(x, poison)
        return nn.functional.cross_entropy(out.reshape(-1, vocab), y.reshape(-1)), None

    @torch.no_grad()
    def evaluate(m: nn.Module) -> float:
        x, y = held
        return float(nn.functional.cross_entropy(m(x).reshape(-1, vocab), y.reshape(-1)))

    return Setup(model, optimizer, scheduler, batch, forward, lambda: None, evaluate)


# -- an MLP classifier ---------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def _mixture(n: int, dim: int, classes: int, seed: int) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, 3, dim, generator=g) * 0.6
    labels = torch.randint(0, classes, (n,), generator=g)
    which = torch.randint(0, 3, (n,), generator=g)
    x = centers[labels, which] + torch.randn(n, dim, generator=g)
    return x, labels


def _mlp(seed: int, *, dim: int = 32, classes: int = 10, batch_size: int = 64) -> Setup:
    x_all, y_all = _mixture(12_000, dim, classes, 99)
    split = 10_000
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Linear(dim, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, classes)
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def batch(i: int) -> tuple[Tensor, Tensor]:
        g = torch.Generator().manual_seed(seed * 100_003 + i)
        idx = torch.randint(0, split, (batch_size,), generator=g)
        return x_all[idx], y_all[idx]

    def forward(m: nn.Module, b: Any, state: Any, poison: bool) -> tuple[Tensor, Any]:
        x, y = b
        if poison:
            x = x.clone()
            x[0, 0] = math.nan
        return nn.functional.cross_entropy(m(x), y), None

    @torch.no_grad()
    def evaluate(m: nn.Module) -> float:
        return float(nn.functional.cross_entropy(m(x_all[split:]), y_all[split:]))

    return Setup(model, optimizer, None, batch, forward, lambda: None, evaluate)


#: The workloads by name.
WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload(
            "lstm-lm",
            "2-layer LSTM LM, TBPTT 20 with carried state, SGD lr 20, clip 0.25",
            0.25,
            300,
            _lstm_lm,
        ),
        Workload(
            "transformer-lm",
            "2-layer causal transformer LM, AdamW 3e-3 warm-up + cosine, clip 1.0",
            1.0,
            300,
            _transformer_lm,
        ),
        Workload(
            "mlp",
            "3-layer MLP classifier, Gaussian mixture, SGD momentum 0.9 lr 0.1, clip 1.0",
            1.0,
            300,
            _mlp,
        ),
    )
}


# -- the training loop -----------------------------------------------------------------


@dataclass
class Run:
    """What one training run did.

    Attributes:
      losses: the loss of every batch (NaN where it was not finite).
      norms: the pre-clip total gradient norm of every batch.
      actions: ``"step"``, ``"skip"``, ``"rollback"`` or ``"skipped-batch"`` per batch.
      records: the guard's step records (empty without a guard).
      fault_steps: the batches a fault was injected into.
      eval_loss: the held-out loss after the last batch.
      model: the trained model (compare its parameters with another run's).
      error: the text of the ``GuardError`` that ended the run early, if any.
    """

    losses: list[float] = field(default_factory=list)
    norms: list[float] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    records: list[Any] = field(default_factory=list)
    fault_steps: list[int] = field(default_factory=list)
    eval_loss: float = math.nan
    model: nn.Module | None = None
    error: str | None = None


def _fault_steps(fault: str | None, at: int) -> list[int]:
    if fault is None:
        return []
    if fault not in FAULTS:
        raise InputError("fault", fault, "choice", choices=", ".join((*FAULTS, "None")))
    return [at, at + 1, at + 2] if fault == "nan3" else [at]


@dataclass
class _Loop:
    """A training loop's live objects: copied whole (one deepcopy) to fork a run."""

    setup: Setup
    guard: Any
    state: Any
    run: Run


class _CarryHook:
    """The documented pattern as a guard hook (``carry="hook"``), for loops that never see
    ``guard.step``'s return value (a trainer's callback, ``sync=False``)."""

    def __init__(self, loop: _Loop) -> None:
        self.loop = loop
        self.before: Any = None  # the state from before the batch now being judged

    def __call__(self, record: Any) -> None:
        if record.action == "skip":
            self.loop.state = self.before
        elif record.action == "rollback":
            self.loop.state = self.loop.setup.init_state()


def _compute(s: Setup, i: int, state: Any, kind: str | None) -> tuple[Tensor, Any]:
    """Batch ``i``'s forward and backward from ``state``, with the fault ``kind`` injected;
    return the loss and the new carried state."""
    params = list(s.model.parameters())
    loss, state = s.forward(s.model, s.batch(i), state, kind in ("nan", "nan3"))
    if kind == "loss1e4":
        loss = loss * 1e4
    loss.backward()
    if kind == "inf":
        params[0].grad.view(-1)[0] = math.inf  # type: ignore[union-attr]
    elif kind == "grad1e6":
        params[len(params) // 2].grad.mul_(1e6)  # type: ignore[union-attr]
    return loss, state


def _advance(
    loop: _Loop,
    start: int,
    end: int,
    fault: str | None,
    bad: set[int],
    carry: str,
    max_norm: float,
    clip: bool,
    rerun: bool = False,
) -> None:
    s, g, run = loop.setup, loop.guard, loop.run
    params = list(s.model.parameters())
    hook = _CarryHook(loop) if g is not None and carry == "hook" else None
    if hook is not None:
        g.hooks.append(hook)
    try:
        for i in range(start, end):
            if g is not None and g.skip_batch(i if rerun else None):
                run.losses.append(math.nan)
                run.norms.append(math.nan)
                run.actions.append("skipped-batch")
                continue
            s.optimizer.zero_grad(set_to_none=True)
            kind = fault if i in bad else None
            before = loop.state
            if hook is not None:
                hook.before = before
            loss, loop.state = _compute(s, i, before, kind)
            if g is None:
                grads = [p.grad for p in params if p.grad is not None]
                if clip:
                    norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
                else:
                    norm = torch.nn.utils.get_total_norm(grads)
                s.optimizer.step()
                run.norms.append(float(norm))
                run.actions.append("step")
            else:
                if rerun:
                    record = g.step(loss, batch=i, closure=_closure(loop, i, before, kind))
                    again = record.extra.get("rerun")
                    if again is not None and again["verdict"] == "transient":
                        loss = torch.tensor(again["loss"])  # the step taken: the re-run's
                else:
                    record = g.step(loss)
                run.records.append(record)
                run.norms.append(record.grad_norm)
                run.actions.append(record.action)
                if carry == "restore" and record.action == "skip":
                    loop.state = before
                elif carry == "restore" and record.action == "rollback":
                    loop.state = s.init_state()
            run.losses.append(float(loss.detach()))
            if s.scheduler is not None:
                s.scheduler.step()
    finally:
        if hook is not None:
            g.hooks.remove(hook)


def _closure(loop: _Loop, i: int, before: Any, kind: str | None) -> Callable[[], Tensor]:
    """The optimizer closure that re-runs batch ``i`` from the carried state ``before``.

    A fault of :data:`BATCH_FAULTS` strikes the re-run again; one of
    :data:`TRANSIENT_FAULTS` does not. The re-run's carried state replaces the first run's.
    """

    def closure() -> Tensor:
        loop.setup.optimizer.zero_grad(set_to_none=True)
        again = kind if kind in BATCH_FAULTS else None
        loss, loop.state = _compute(loop.setup, i, before, again)
        return loss

    return closure


def _finish(
    loop: _Loop,
    start: int,
    end: int,
    fault: str | None,
    bad: set[int],
    carry: str,
    max_norm: float,
    clip: bool,
    rerun: bool = False,
) -> Run:
    from gradguard.torch import GuardError

    try:
        _advance(loop, start, end, fault, bad, carry, max_norm, clip, rerun)
    except GuardError as err:
        loop.run.error = str(err)
    finally:
        if loop.guard is not None:
            loop.guard.close()
    loop.run.eval_loss = loop.setup.evaluate(loop.setup.model)
    loop.run.model = loop.setup.model
    return loop.run


def _check_args(workload: Workload, steps: int | None, carry: str) -> int:
    n = workload.steps if steps is None else steps
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError("steps", steps, "whole", min=1)
    if carry not in ("restore", "hook", "ignore"):
        raise InputError("carry", carry, "choice", choices="restore, hook, ignore")
    return n


def train(
    workload: Workload,
    seed: int = 0,
    steps: int | None = None,
    *,
    guard: Callable[[nn.Module, torch.optim.Optimizer, Any], Any] | None = None,
    clip: bool = True,
    fault: str | None = None,
    fault_at: int | None = None,
    carry: str = "restore",
    rerun: bool = False,
) -> Run:
    """Train ``workload`` for ``steps`` batches and return what happened.

    Without ``guard`` the loop is the recipe's own: ``torch.nn.utils.clip_grad_norm_``
    at ``workload.max_norm`` (unless ``clip=False``), then ``optimizer.step()``. With
    ``guard`` (a factory ``guard(model, optimizer, scheduler)`` returning a
    :class:`~gradguard.torch.SpikeGuard`) ``guard.step(loss)`` replaces both, and
    the carried state follows the documented pattern when ``carry="restore"``: a skipped
    batch's new state is dropped (the state from before it goes on), and after a
    rollback the state starts afresh. ``carry="hook"`` does the same from a hook in
    ``guard.hooks`` instead of from the returned record. ``carry="ignore"`` carries
    whatever the forward pass returned, as a loop unaware of the guard would.

    Args:
      workload: one of :data:`WORKLOADS`.
      seed: the model's initialisation and the data order.
      steps: how many batches (default: ``workload.steps``).
      guard: a guard factory, or ``None`` for the unguarded loop.
      clip: clip with torch in the unguarded loop.
      fault: an injected fault from :data:`FAULTS`, or ``None``.
      fault_at: the batch it hits (default: 70% of the way).
      carry: ``"restore"``, ``"hook"`` or ``"ignore"`` (see above).
      rerun: give the guard a closure that re-runs the batch (``guard.step(loss,
        batch=i, closure=...)``, docs/guard/rerun.md) and ask ``guard.skip_batch(i)``:
        a fault of :data:`BATCH_FAULTS` strikes the re-run again (reproducible), one of
        :data:`TRANSIENT_FAULTS` does not (transient).

    Returns:
      A :class:`Run`.
    """
    n = _check_args(workload, steps, carry)
    at = (7 * n) // 10 if fault_at is None else fault_at
    bad = set(_fault_steps(fault, at))
    s = workload.build(seed)
    g = guard(s.model, s.optimizer, s.scheduler) if guard is not None else None
    loop = _Loop(s, g, s.init_state(), Run(fault_steps=sorted(bad)))
    return _finish(loop, 0, n, fault, bad, carry, workload.max_norm, clip, rerun)


def train_with_faults(
    workload: Workload,
    seed: int = 0,
    steps: int | None = None,
    *,
    guard: Callable[[nn.Module, torch.optim.Optimizer, Any], Any] | None = None,
    faults: tuple[str, ...] = FAULTS,
    fault_at: int | None = None,
    carry: str = "restore",
    rerun: bool = False,
) -> dict[str | None, Run]:
    """Return the clean run (key ``None``) and one run per fault, as :func:`train` would.

    The runs are equal until the fault, so the loop runs once up to it and each faulty
    run continues from a copy of everything (model, optimizer, scheduler, guard, carried
    state): the same results as separate :func:`train` calls, in less time.
    """
    import copy

    n = _check_args(workload, steps, carry)
    at = (7 * n) // 10 if fault_at is None else fault_at
    for f in faults:
        _fault_steps(f, at)
    s = workload.build(seed)
    g = guard(s.model, s.optimizer, s.scheduler) if guard is not None else None
    loop = _Loop(s, g, s.init_state(), Run())
    try:
        _advance(loop, 0, min(at, n), None, set(), carry, workload.max_norm, True, rerun)
    except BaseException:
        if g is not None:
            g.close()
        raise
    out: dict[str | None, Run] = {}
    for f in faults:
        fork = copy.deepcopy(loop)
        bad = set(_fault_steps(f, at))
        fork.run.fault_steps = sorted(bad)
        out[f] = _finish(fork, at, n, f, bad, carry, workload.max_norm, True, rerun)
    out[None] = _finish(loop, at, n, None, set(), carry, workload.max_norm, True, rerun)
    return out
