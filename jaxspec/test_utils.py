"""Helpers for tests of jaxspec and of code built on it: dtype-keyed tolerances, pytree asserts."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

__all__ = ["default_tolerance", "assert_allclose"]

_TOLERANCES = {
    np.dtype(np.float16): 5e-3,
    np.dtype(np.float32): 5e-4,
    np.dtype(np.float64): 5e-7,
}


def default_tolerance(dtype: Any) -> float:
    """Relative tolerance for comparing results computed in ``dtype``."""
    return _TOLERANCES.get(np.dtype(dtype), 0.0)


def assert_allclose(
    actual: Any, desired: Any, *, rtol: float | None = None, atol: float = 0.0
) -> None:
    """``numpy.testing.assert_allclose`` over matching pytrees.

    When ``rtol`` is None it is taken from the lower-precision dtype of each leaf pair.
    """
    leaves_a, tree_a = jax.tree_util.tree_flatten(actual)
    leaves_d, tree_d = jax.tree_util.tree_flatten(desired)
    if tree_a != tree_d:
        raise AssertionError(f"pytree structures differ:\n{tree_a}\n{tree_d}")
    for a, d in zip(leaves_a, leaves_d, strict=True):
        a = np.asarray(a)
        d = np.asarray(d)
        tol = rtol
        if tol is None:
            tols = [
                default_tolerance(x.dtype) for x in (a, d) if np.issubdtype(x.dtype, np.floating)
            ]
            tol = max(tols) if tols else 0.0
        np.testing.assert_allclose(a, d, rtol=tol, atol=atol)
