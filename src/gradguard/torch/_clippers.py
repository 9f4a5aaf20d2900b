"""Stateful clippers behind one interface: fixed norm, AutoClip, ZClip, AGC.

Every clipper is used the same way, after ``loss.backward()`` (and after
``scaler.unscale_(optimizer)`` under AMP) and before ``optimizer.step()``::

    clipper = ZClip()                    # or NormClipper(1.0), AutoClip(10), AGC(0.01)
    result = clipper.clip_(model)        # scales the gradients in place
    result.total_norm, result.threshold, result.clip_coef, result.clipped

and checkpointed with ``clipper.state_dict()`` / ``clipper.load_state_dict(...)``.
The thresholds come from :mod:`gradguard.rules` — the same rules ``gradguard
replay`` runs offline — so a clipper's decisions can be replayed from its log. The
coefficient is :func:`gradguard.torch.clip_coef`'s, as for every torch-side clipper.

Non-finite gradients are never scaled here (a NaN coefficient would spread to every
gradient, see :func:`gradguard.torch.clip_grad_norm_`) and never enter a clipper's
history: the guard decides what to do with such a step.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from gradguard.errors import InputError
from gradguard.rules import (
    AGCRule,
    EmaZScoreRule,
    FixedThreshold,
    PercentileRule,
    Rule,
    ValueRule,
)
from gradguard.torch._clip import clip_grad_value_, coefficient, get_total_norm
from gradguard.torch._foreach import groups, no_grad
from gradguard.torch._params import named_list
from gradguard.torch._reduce import local_grad
from gradguard.torch._stats import GradStats, HostGradStats, check_norm_type, grad_stats

__all__ = [
    "AGC",
    "AutoClip",
    "ClipResult",
    "Clipper",
    "NormClipper",
    "RuleClipper",
    "ValueClipper",
    "ZClip",
]

#: Norm dtypes whose clip coefficient the host reproduces bit for bit (numpy's scalar types
#: round like torch's CPU and CUDA kernels in these two).
_HOST_TYPES: dict[torch.dtype, Any] = {torch.float32: np.float32, torch.float64: np.float64}
#: Norm dtypes whose clip coefficient is computed as torch computes it (on the device).
_DEVICE_TYPES = (*_HOST_TYPES, torch.float16, torch.bfloat16)


@dataclass
class ClipResult:
    """What one clipping call did (host numbers, for records and decisions).

    Attributes:
      total_norm: the total gradient norm before clipping.
      total_norm_clipped: the total norm after clipping.
      threshold: the threshold in force (``None`` while an adaptive rule warms up).
      clip_coef: the factor the gradients were scaled by (1.0: untouched); for
        per-parameter or unit-wise clipping, the ratio of post- to pre-clip norm.
      clipped: whether any gradient was scaled down.
    """

    total_norm: float
    total_norm_clipped: float
    threshold: float | None
    clip_coef: float
    clipped: bool


class Clipper:
    """Base class: ``clip_`` scales gradients in place; state is checkpointable.

    :meth:`clip_` measures the step once (or takes the caller's statistics) and hands
    them to ``_clip``. Subclasses that clip the total norm by a scalar coefficient only
    implement :meth:`target`; the scaling, the NaN handling and the result are shared.
    Others (value, per-parameter, unit-wise clipping) override ``_clip``.
    """

    norm_type: float = 2.0
    name = "clipper"
    #: What it scales: ``"gradient"`` before the step, or the optimizer's ``"update"``
    #: after it (:class:`~gradguard.torch.UpdateClipper`).
    side = "gradient"
    #: Whether :meth:`clip_` needs max |g| on every step (value clipping does; norm-based
    #: clippers need the norms only, so the guard skips the extra pass for them).
    reads_max_abs = False

    def target(self, host: HostGradStats) -> tuple[float | None, float | None]:
        """Return ``(threshold, clip_to)`` for this step's norm (``clip_to=None``: leave it)."""
        raise NotImplementedError

    def attach(self, optimizer: torch.optim.Optimizer) -> Clipper:
        """Act on every later ``optimizer.step()``: what a clipper of the update does when
        the guard is given it (a clipper of the gradient acts through :meth:`clip_` and
        needs nothing). Return the clipper."""
        return self

    def scaled_update(self) -> tuple[Tensor, Tensor, float]:
        """A clipper of the update: the last step's ``(clip_coef, clipped, threshold)``, the
        first two 0-d float64 / bool tensors (no host sync), for the step's record."""
        raise NotImplementedError

    @no_grad
    def clip_(
        self,
        parameters: Any,
        stats: GradStats | None = None,
        host: HostGradStats | None = None,
    ) -> ClipResult:
        """Clip the gradients of ``parameters`` in place and update the clipper's state.

        Args:
          parameters: a tensor, an iterable of tensors, a module or named pairs.
          stats: this step's :func:`grad_stats` (computed here if not given).
          host: ``stats`` already copied to the host (saves the sync when the caller
            has it, as :class:`~gradguard.torch.SpikeGuard` does).
        """
        parameters, stats, host = measured(
            parameters, stats, host, self.norm_type, max_abs=self.reads_max_abs
        )
        return self._clip(parameters, stats, host)

    def _clip(self, parameters: Any, stats: GradStats | None, host: HostGradStats) -> ClipResult:
        """Clip, given this step's statistics (the total norm by :meth:`target`'s ``clip_to``)."""
        as_measured = host
        host = without_overflow(parameters, host, self.norm_type)
        threshold, clip_to = self.target(host)
        norm = host.total_norm
        if clip_to is None or not math.isfinite(norm) or host.nonfinite_count:
            return ClipResult(norm, norm, threshold, 1.0, False)
        device_norm = None
        if stats is not None and host is as_measured and stats.grouped is not None:
            device_norm = stats.total_norm
        if device_norm is not None and device_norm.dtype in _DEVICE_TYPES:
            # torch's clip_grad_norm_, bit for bit: the coefficient
            # clamp(c / (‖g‖ + 1e-6), max=1) in the norm's dtype, then one _foreach_mul_
            # per (device, dtype) group. The host computes it as torch computes it on the
            # device (clip_coef on a numpy scalar of that dtype; numpy has no bfloat16, so
            # for half types on a 0-d CPU tensor of it), the same number, so it knows
            # without a sync whether the multiply would change anything, and multiplies
            # by that number: the same product as by torch's 0-d tensor, without the four
            # kernels that would compute it again on the device.
            dtype = device_norm.dtype
            if dtype in _HOST_TYPES:
                coef = float(coefficient(_HOST_TYPES[dtype](norm), clip_to))
            else:
                coef = float(coefficient(torch.tensor(norm, dtype=dtype), clip_to))
            if coef < 1.0:
                assert stats is not None and stats.grouped is not None
                for _, group, _ in stats.grouped:
                    _mul_(group, coef)
            return ClipResult(norm, norm * coef, threshold, coef, coef < 1.0)
        # No device norm to reuse (statistics without their gradient groups, a norm
        # re-measured in float64 after a float32 overflow): the host coefficient.
        # A threshold of 0 (an all-zero gradient history) gives 0: clip to zero.
        coef = coefficient(float(norm), clip_to)
        if coef < 1.0:
            if stats is not None and stats.grouped is not None:
                # The gradients as grad_stats grouped them: no second grouping pass.
                for _, group, _ in stats.grouped:
                    _mul_(group, coef)
            else:
                params, _ = named_list(parameters)
                _scale([q.grad for q in params if q.grad is not None], coef)
        return ClipResult(norm, norm * coef, threshold, coef, coef < 1.0)

    def state_dict(self) -> dict[str, Any]:
        """Return the clipper's state (plain Python data)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state from :meth:`state_dict`."""


def measured(
    parameters: Any,
    stats: GradStats | None,
    host: HostGradStats | None,
    p: float,
    max_abs: bool = False,
) -> tuple[Any, GradStats | None, HostGradStats]:
    """Return ``parameters`` (readable twice) with this step's statistics on the host.

    What the caller passed is used as it is; what it did not is measured here: the
    statistics with :func:`grad_stats` (order ``p``), then their one host sync — two
    when the total norm is not finite and max |g| was not read (``max_abs=True`` reads
    it on every step), since only max |g| tells NaN/inf entries from an overflow.
    """
    parameters = _reiterable(parameters)
    if host is not None:
        return parameters, stats, host
    if stats is not None:
        host, _ = stats.host()
        return parameters, stats, host
    # Grouped: a clipper scales them without regrouping, as torch does.
    stats = grad_stats(parameters, p, per_layer=False, keep_groups=True, max_abs=max_abs)
    host, _ = stats.host()
    if host.max_abs is None and not math.isfinite(host.total_norm):
        stats = grad_stats(parameters, p, per_layer=False, keep_groups=True)
        host, _ = stats.host()
    return parameters, stats, host


def _reiterable(parameters: Any) -> Any:
    """Return ``parameters`` in a form that can be read twice (measured, then scaled).

    ``model.parameters()`` is a generator: read once by the statistics, it would leave
    nothing to scale.
    """
    if isinstance(parameters, (torch.nn.Module, Tensor, list, tuple)):
        return parameters
    return list(parameters)


def without_overflow(parameters: Any, host: HostGradStats, p: float) -> HostGradStats:
    """Return ``host`` with a total norm that overflowed float32 recomputed in float64.

    ``‖g‖`` is inf although every entry is finite once entries exceed ~1.8e19 (float32);
    such a step must be clipped hardest, not left alone as if it were NaN. Rare, so the
    float64 copy is paid only then.
    """
    if math.isfinite(host.total_norm) or host.nonfinite_count:
        return host
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return host  # a local float64 norm could differ between ranks: keep theirs
    params, _ = named_list(parameters)
    grads = [local_grad(q.grad).double() for q in params if q.grad is not None]
    return dataclasses.replace(host, total_norm=float(get_total_norm(grads, p)))


def _mul_(group: list[Tensor], coef: float) -> None:
    """Multiply one (device, dtype) group of gradients in place by the host number ``coef``."""
    first = group[0]
    if first.dtype in (torch.float32, torch.float64):
        # A 0-d tensor of the gradients' own dtype takes a faster route through torch
        # than a Python scalar, with the same result, since the scalar is rounded to
        # that dtype either way.
        coef_t = torch.full((), coef, dtype=first.dtype, device=first.device)
        torch._foreach_mul_(group, coef_t)
    else:
        # float16/bfloat16: a Python scalar multiplies in float32 without rounding ``coef``
        # to the gradients' dtype first; a tensor of their dtype would round it.
        torch._foreach_mul_(group, coef)


def _scale(grads: Iterable[Tensor | None], coef: float | list[float]) -> None:
    local = [g if type(g) is Tensor else local_grad(g) for g in grads if g is not None]
    if isinstance(coef, float):
        for _, group, _ in groups(local):
            _mul_(group, coef)
        return
    for g, c in zip(local, coef, strict=True):
        if c < 1.0:
            g.mul_(c)


class RuleClipper(Clipper):
    """Clip the total norm by a rule of :mod:`gradguard.rules`: the one clipper every
    total-norm rule shares.

    Each step the rule judges the total gradient norm (:meth:`Rule.observe
    <gradguard.rules.Rule.observe>`) and the gradients are scaled to its
    :attr:`~gradguard.rules.Verdict.clip_to` with the one coefficient
    :func:`~gradguard.torch.clip_coef` — in ``SpikeGuard(sync=False)`` too, through the
    rule's device form where it declares one. So a new total-norm rule needs no class of
    its own here::

        guard = SpikeGuard(model, optimizer, clipper=RuleClipper(EmaZScoreRule(alpha=0.9)))

    :class:`NormClipper`, :class:`ZClip` and :class:`AutoClip` are this clipper with a
    rule built from torch-style arguments.

    Args:
      rule: a rule that clips the total gradient norm: ``action == "clip"``,
        ``side == "gradient"`` and replayable from a norm log (``replay_needs is None``).
      norm_type: the norm's order ``p``.

    Raises:
      InputError: ``rule`` is not such a rule.
    """

    rule: Rule

    def __init__(self, rule: Rule, norm_type: float = 2.0) -> None:
        if not (
            isinstance(rule, Rule)
            and rule.action == "clip"
            and rule.side == "gradient"
            and rule.replay_needs is None
        ):
            raise InputError("rule", rule, "norm_clip_rule")
        self.rule = rule
        self.name = rule.name
        self.norm_type = check_norm_type(norm_type)

    def target(self, host: HostGradStats) -> tuple[float | None, float | None]:
        verdict = self.rule.observe(host.total_norm)
        return verdict.threshold, verdict.clip_to

    def state_dict(self) -> dict[str, Any]:
        return {"rule": self.rule.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rule.load_state_dict(state["rule"])


class NormClipper(RuleClipper):
    """Clip the total norm to a fixed ``max_norm`` — the seed's rule (Pascanu et al. 2013).

    Args:
      max_norm: the threshold ``c > 0``.
      norm_type: the norm's order ``p``.
    """

    name = "fixed"

    def __init__(self, max_norm: float, norm_type: float = 2.0) -> None:
        self.rule = FixedThreshold(max_norm)
        self.norm_type = check_norm_type(norm_type)


class ValueClipper(RuleClipper):
    """Clip every gradient entry into ``[-clip_value, clip_value]`` (value clipping).

    Does not keep the gradient's direction (norm clipping does). NaN entries stay NaN
    (the guard skips such steps). Reading the post-clip norm costs a second norm pass
    and host sync, on the steps where clipping acted.

    Args:
      clip_value: the bound ``c > 0``.
    """

    name = "value"
    rule: ValueRule
    reads_max_abs = True

    def __init__(self, clip_value: float) -> None:
        self.rule = ValueRule(clip_value)

    def target(self, host: HostGradStats) -> tuple[float | None, float | None]:
        return self.rule.clip_value, None

    def _clip(self, parameters: Any, stats: GradStats | None, host: HostGradStats) -> ClipResult:
        c = self.rule.clip_value
        norm = host.total_norm
        if host.max_abs is None:  # measured without max |g|: read it now
            stats = grad_stats(parameters, self.norm_type, per_layer=False)
            host, _ = stats.host()
        if host.nonfinite_count or not (host.max_abs or 0.0) > c:
            return ClipResult(norm, norm, c, 1.0, False)
        params, _ = named_list(parameters)
        clip_grad_value_(params, c)
        post = float(get_total_norm([q.grad for q in params if q.grad is not None]))
        return ClipResult(norm, post, c, post / norm if norm > 0 else 1.0, True)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        rule = state["rule"]  # (a state saved before ValueRule: {"max_norm": c})
        self.rule.load_state_dict({"clip_value": rule.get("clip_value", rule.get("max_norm"))})


class ZClip(RuleClipper):
    """ZClip (Kumar, Owen, Chowdhury & Güra, "ZClip: Adaptive Spike Mitigation for LLM
    Pre-Training", 2025): clip norms whose EMA z-score exceeds ``z_thresh``, under a cap.

    See :class:`gradguard.rules.EmaZScoreRule` for the statistics. As in the authors'
    reference implementation (``zclip`` 1.0.0): during the ``warmup_steps`` steps that
    collect the statistics the norm is clipped at ``max_grad_norm`` like
    ``clip_grad_norm_`` does, and afterwards the norm is clipped to the smaller of the
    z-score target and ``max_grad_norm``. Unlike the reference code, the warm-up
    statistics take the norms as clipped at the cap (``min(‖g‖, max_grad_norm)``), as the
    EMA takes the norms as clipped after it: one huge finite norm in the warm-up (right
    after a rollback to the start of training, say) would otherwise set the threshold
    for the rest of the run. Non-finite norms, and the norms of steps the guard skipped,
    never reach the statistics.

    When the cap clips more than half of the warm-up's norms, the model's natural norms
    lie above ``max_grad_norm`` and ZClip clips every step like a fixed threshold: a
    ``UserWarning`` says so once, at the end of the warm-up, with the warm-up's median
    norm (raise the cap above it, or pass ``None``). With ``sync=False`` the warm-up's
    norms stay on the device and no such note is given.

    Args:
      alpha: EMA smoothing α (default 0.97).
      z_thresh: z-score threshold (default 2.5).
      warmup_steps: finite norms collected before the z-score acts (default 25).
      max_grad_norm: the cap, during and after warm-up (default 1.0, the reference
        implementation's); ``None``: no cap, and no clipping during warm-up.
      norm_type: the norm's order ``p``.
    """

    name = "zclip"
    rule: EmaZScoreRule

    def __init__(
        self,
        alpha: float = 0.97,
        z_thresh: float = 2.5,
        warmup_steps: int = 25,
        max_grad_norm: float | None = 1.0,
        norm_type: float = 2.0,
    ) -> None:
        try:
            self.rule = EmaZScoreRule(alpha, z_thresh, warmup_steps, max_norm=max_grad_norm)
        except InputError as err:
            raise (err.renamed("max_grad_norm") if err.argument == "max_norm" else err) from None
        self.rule.note_cap = True  # a cap that clips most warm-up norms is said once
        self.norm_type = check_norm_type(norm_type)

    @property
    def max_grad_norm(self) -> float | None:
        """The cap (``None``: none)."""
        return self.rule.max_norm

    def state_dict(self) -> dict[str, Any]:
        return {"rule": self.rule.state_dict(), "max_grad_norm": self.max_grad_norm}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        rule = dict(state["rule"])
        if "max_grad_norm" in state:  # (states saved before the cap moved into the rule)
            rule["max_norm"] = state["max_grad_norm"]
        self.rule.load_state_dict(rule)


class AutoClip(RuleClipper):
    """AutoClip (Seetharaman et al. 2020): clip to the ``p``-th percentile of past norms.

    Args:
      percentile: ``p`` in (0, 100] (the paper recommends 10).
      history_size: bounded history of finite norms (the paper keeps all of them).
      per_parameter: keep one history per parameter tensor and clip each gradient by
        its own percentile, instead of the total norm by the global one.
      norm_type: the norm's order ``p``.
    """

    name = "autoclip"
    rule: PercentileRule

    def __init__(
        self,
        percentile: float = 10.0,
        history_size: int = 1000,
        per_parameter: bool = False,
        norm_type: float = 2.0,
    ) -> None:
        self.rule = PercentileRule(percentile, history_size)
        self.per_parameter = per_parameter
        self.norm_type = check_norm_type(norm_type)
        self._rules: list[PercentileRule] = []

    def _clip(self, parameters: Any, stats: GradStats | None, host: HostGradStats) -> ClipResult:
        if not self.per_parameter:
            return super()._clip(parameters, stats, host)
        norms = host.param_norms
        if not self._rules:
            self._rules = [
                PercentileRule(self.rule.percentile, self.rule.history_size) for _ in norms
            ]
        if len(self._rules) != len(norms):
            raise InputError(
                "parameters",
                f"{len(norms)} gradients",
                "same_parameter_count",
                count=len(self._rules),
                clipper="AutoClip(per_parameter=True)",
            )
        coefs = []
        for rule, n in zip(self._rules, norms, strict=True):
            v = rule.observe(n)
            if v.clip_to is None or not math.isfinite(n):
                coefs.append(1.0)
            else:
                coefs.append(coefficient(float(n), v.clip_to))
        total = host.total_norm
        if host.nonfinite_count or not math.isfinite(total):
            return ClipResult(total, total, None, 1.0, False)
        params, _ = named_list(parameters)
        _scale([q.grad for q in params if q.grad is not None], coefs)
        p = self.norm_type
        post_parts = [n * c for n, c in zip(norms, coefs, strict=True)]
        post = max(post_parts) if math.isinf(p) else sum(x**p for x in post_parts) ** (1 / p)
        coef = post / total if total > 0 else 1.0
        return ClipResult(total, post, None, coef, any(c < 1.0 for c in coefs))

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "per_parameter": [r.state_dict() for r in self._rules]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._rules = []
        for s in state.get("per_parameter", []):
            r = PercentileRule()
            r.load_state_dict(s)
            self._rules.append(r)


def unitwise_norm(x: Tensor) -> Tensor:
    """Return the L2 norm of each unit of ``x`` in PyTorch's ``(out, in, …)`` layout.

    A unit is one output row: for a weight of shape ``(out, in[, kh, kw])`` the norm
    over every dimension but the first (``keepdim`` so it broadcasts); for a vector
    (bias, gain) or a scalar, the norm of the whole tensor, as in Brock et al.
    """
    if x.ndim <= 1:
        return torch.linalg.vector_norm(x)
    return torch.linalg.vector_norm(x, dim=tuple(range(1, x.ndim)), keepdim=True)


class AGC(Clipper):
    """Adaptive gradient clipping, unit-wise (Brock, De, Smith & Simonyan, "High-Performance
    Large-Scale Image Recognition Without Normalization", ICML 2021).

    For each unit ``i`` (output row) of each weight ``W`` with gradient ``G``:

    .. math::

        G_i \\leftarrow \\begin{cases}
          λ \\dfrac{\\max(\\lVert W_i \\rVert, ε)}{\\lVert G_i \\rVert} G_i
            & \\text{if } \\dfrac{\\lVert G_i \\rVert}{\\max(\\lVert W_i \\rVert, ε)} > λ \\\\
          G_i & \\text{otherwise}
        \\end{cases}

    Units below the ratio are left exactly as they were (the defect this avoids, from
    agc-optims: in-place updates that alias the norm tensors rescale *every* unit to
    exactly ``λ‖W_i‖``). A unit whose gradient is NaN or inf is left alone too, so one
    bad unit cannot spread NaN. The paper excludes the final classifier layer.

    Args:
      clipping: λ, the largest allowed ``‖G_i‖ / ‖W_i‖`` (the paper uses 0.01–0.16).
      eps: ε, the floor on ``‖W_i‖`` (1e-3) so zero-initialised units can move.
      exclude: names (or name prefixes, e.g. ``"fc"``) of parameters not to clip — one
        string or several; needs a module or named pairs.

    Cost: per parameter, the unit norms of ``W`` and ``G`` (no host sync); reporting
    the post-clip total norm takes one more norm pass and one host sync.
    """

    name = "agc"
    rule: AGCRule

    def __init__(
        self, clipping: float = 0.01, eps: float = 1e-3, exclude: Iterable[str] = ()
    ) -> None:
        self.rule = AGCRule(clipping, eps, exclude)  # its parameters, checks and state

    @property
    def clipping(self) -> float:
        """λ, the largest allowed ``‖G_i‖ / max(‖W_i‖, ε)`` (the rule's)."""
        return self.rule.clipping

    @property
    def eps(self) -> float:
        """ε, the floor on ``‖W_i‖`` (the rule's)."""
        return self.rule.eps

    @property
    def exclude(self) -> tuple[str, ...]:
        """The names (or name prefixes) of the parameters not clipped (the rule's)."""
        return self.rule.exclude

    def _excluded(self, name: str | None) -> bool:
        if name is None:
            return False
        return any(name == e or name.startswith(e + ".") for e in self.exclude)

    def _clip(self, parameters: Any, stats: GradStats | None, host: HostGradStats) -> ClipResult:
        params, names = named_list(parameters)
        if self.exclude and names is None:
            raise InputError(
                "parameters",
                "unnamed tensors",
                "named_parameters",
            )
        clipped_units = []
        for i, q in enumerate(params):
            if q.grad is None or self._excluded(names[i] if names else None):
                continue
            g = local_grad(q.grad)
            w = local_grad(q.detach())
            max_norm = unitwise_norm(w).clamp(min=self.eps) * self.clipping
            g_norm = unitwise_norm(g)
            # New tensors only (no in-place on the norms): the trigger is computed from
            # the unclipped gradient norm and never aliased by the update.
            # A non-finite unit norm (NaN/inf entries, or float32 overflow) is left alone:
            # the scale max_norm / inf = 0 would turn inf entries into NaN (0 · inf).
            trigger = (g_norm > max_norm) & torch.isfinite(g_norm)
            # The one clip coefficient, per unit, with nothing added to ‖G_i‖ (the paper's
            # λ max(‖W_i‖, ε) / ‖G_i‖; ‖G_i‖ > λε > 0 wherever it is used).
            scale = torch.where(trigger, coefficient(g_norm, max_norm, eps=0.0), 1.0)
            g.mul_(scale.to(g.dtype))
            clipped_units.append(trigger.sum())
        post = grad_stats(params, 2.0, per_layer=False).total_norm
        n_clipped = torch.stack(clipped_units).sum() if clipped_units else torch.zeros(())
        post_f, n_f = torch.stack([post.double(), n_clipped.double()]).tolist()
        pre = host.total_norm
        coef = post_f / pre if pre > 0 and math.isfinite(pre) else 1.0
        return ClipResult(pre, post_f, self.clipping, coef, n_f > 0)

    def state_dict(self) -> dict[str, Any]:
        return {"rule": self.rule.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        # (a state saved before AGC kept its rule: the rule's fields, flat)
        self.rule.load_state_dict(state.get("rule", state))
