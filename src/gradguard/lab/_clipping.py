"""Gradient clipping, the seed's rule — the one definition every part of gradguard uses.

The seed (remedy 1, "the most popular"):

.. math::

    g_\\text{clipped} = \\frac{g}{\\max\\left(1, \\frac{\\lVert g \\rVert}{c}\\right)}

so a gradient whose norm is above the threshold ``c`` is scaled down to norm
exactly ``c`` and keeps its direction; below ``c`` nothing changes. With
``g = 100, c = 5``: ``100 / max(1, 20) = 5``.

This is norm clipping as proposed by Pascanu, Mikolov & Bengio, "On the
difficulty of training recurrent neural networks" (ICML 2013), Algorithm 1.
Value clipping (each entry into ``[-c, c]``) is the other common rule; it does
not keep the direction.

The torch guard (``gradguard.torch``) applies the same coefficient
``min(1, c / ‖g‖)`` with ``torch.nn.utils``'s ``1e-6`` added to the norm for
parity with PyTorch, in one place (:func:`gradguard.torch.clip_coef`); the lab
uses the seed's formula with no epsilon, exactly.
"""

from __future__ import annotations

import math
import sys
from fractions import Fraction
from typing import TYPE_CHECKING, TypeVar, overload

if TYPE_CHECKING:  # numpy is looked up, not imported: the lab's exact path starts without it
    import numpy as np
    import numpy.typing as npt

from gradguard._validate import check_threshold

__all__ = ["clip_by_norm", "clip_by_value", "clip_coefficient"]

Scalar = TypeVar("Scalar", int, float, Fraction)


def clip_coefficient(norm: float | Fraction, c: float | Fraction) -> float | Fraction:
    """Return the factor ``1 / max(1, norm / c)`` that the seed's rule multiplies ``g`` by.

    Exact for ``int``/``Fraction`` inputs (a ``Fraction`` or ``1``); a float otherwise.

    Args:
      norm: ``‖g‖ ≥ 0`` (for a scalar, ``|g|``).
      c: the threshold, ``> 0`` (``inf``: never clip, the coefficient is 1).
    """
    check_threshold(c)
    if _exact(norm) and math.isinf(c):
        return 1
    if _exact(norm, c):
        return 1 / _divisor(Fraction(norm), c)
    return 1.0 / _divisor(float(norm), c)


def _divisor(norm, c):
    """The seed's divisor ``max(1, norm / c)``, in ``norm``'s own arithmetic.

    ``norm`` is a ``Fraction`` (exact), a numpy floating scalar (``c`` rounded to
    its dtype) or a ``float``; the clip coefficient is ``1 / divisor`` and
    :func:`clip_by_norm` divides ``g`` by it. A NaN norm gives a NaN divisor.
    """
    if isinstance(norm, Fraction):
        ratio = norm / Fraction(c)
        return Fraction(1) if ratio <= 1 else ratio
    one = type(norm)(1) if _is_numpy_float(norm) else 1.0
    ratio = norm / type(one)(c)
    return one if ratio <= 1 else ratio


def _is_array(g: object) -> bool:
    """Whether ``g`` is a numpy array — without importing numpy (no numpy, no arrays)."""
    np_mod = sys.modules.get("numpy")
    return np_mod is not None and isinstance(g, np_mod.ndarray)


def _is_numpy_float(g: object) -> bool:
    """Whether ``g`` is a numpy floating-point scalar (``np.float16``/``32``/``64``)."""
    np_mod = sys.modules.get("numpy")
    return np_mod is not None and isinstance(g, np_mod.floating)


def _exact(*xs: object) -> bool:
    return all(isinstance(x, (int, Fraction)) and not isinstance(x, bool) for x in xs)


@overload
def clip_by_norm(g: npt.NDArray[np.floating], c: float) -> npt.NDArray[np.floating]: ...
@overload
def clip_by_norm(g: Scalar, c: Scalar) -> Scalar: ...
def clip_by_norm(g, c):
    """Clip ``g`` by its norm with the seed's rule ``g / max(1, ‖g‖ / c)``.

    Args:
      g: a number (``int``, ``Fraction``, ``float``, a numpy scalar; its norm is
        ``|g|``) or a numpy array (its norm is the L2 norm over all entries, as one
        vector).
      c: the threshold, a number ``> 0`` (``inf``: never clip, ``g`` comes back as it is).

    Returns:
      ``g`` unchanged if ``‖g‖ ≤ c``; otherwise ``g`` scaled to norm ``c``,
      same direction. Exact for ``int``/``Fraction``; a numpy scalar is clipped in
      its own dtype (``c`` rounded to it), as training in that format would; a
      non-finite float ``g`` gives NaN (the seed's rule cannot rescue an infinite
      gradient — see the guard for what can).

    Raises:
      InputError: ``c`` is not a number > 0.

    Example:
      >>> clip_by_norm(100, 5)   # the seed's example: 100 / max(1, 100/5)
      5
      >>> clip_by_norm(3, 5)
      3
    """
    check_threshold(c)
    if _is_array(g):
        import numpy as np

        norm = float(np.linalg.norm(g.astype(np.float64, copy=False).ravel()))
        if norm <= c:
            return g.copy()
        return (g / _divisor(norm, c)).astype(g.dtype, copy=False)
    if _is_numpy_float(g):
        return g / _divisor(abs(g), c)
    if _exact(g) and math.isinf(c):
        return g
    if _exact(g, c):
        out = Fraction(g) / _divisor(abs(Fraction(g)), c)
        return int(out) if out.denominator == 1 else out
    g = float(g)
    return g / _divisor(abs(g), c)


@overload
def clip_by_value(g: npt.NDArray[np.floating], c: float) -> npt.NDArray[np.floating]: ...
@overload
def clip_by_value(g: Scalar, c: Scalar) -> Scalar: ...
def clip_by_value(g, c):
    """Clip each entry of ``g`` into ``[-c, c]`` (value clipping; direction not kept).

    Example:
      >>> clip_by_value(100, 5)
      5
      >>> clip_by_value(-7, 5)
      -5
    """
    check_threshold(c)
    if _is_array(g):
        import numpy as np

        return np.clip(g, -c, c)
    if _exact(g, c):
        return max(-c, min(c, g))
    return max(-float(c), min(float(c), float(g)))
