"""Polynomial label vectorizer of the Cannon: terms, names and the design vector.

Labels are first standardised, ``x = (labels - offset) / scale``. The design vector of order
``K`` holds every monomial of the ``x`` of total degree 0 to ``K``, in this order: the
constant ``1``, the linear terms, then the products of each higher degree in lexicographic
order of label indices (for labels ``a, b`` and ``K = 2``: ``1, a, b, a^2, a*b, b^2``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "term_indices",
    "term_names",
    "n_terms",
    "vectorize",
    "vectorize_with_jacobian",
    "design_matrix",
]


def n_terms(n_labels: int, order: int) -> int:
    """Number of monomials of ``n_labels`` variables of total degree 0 to ``order``."""
    return math.comb(n_labels + order, order)


def term_indices(n_labels: int, order: int) -> np.ndarray:
    """``(n_terms, order)`` int array: the label indices multiplied in each term.

    Unused factors hold ``n_labels``, which :func:`vectorize` maps to the constant 1.
    """
    rows = [[n_labels] * order]
    for degree in range(1, order + 1):
        for combo in itertools.combinations_with_replacement(range(n_labels), degree):
            rows.append(list(combo) + [n_labels] * (order - degree))
    return np.asarray(rows, dtype=np.int32).reshape(len(rows), order)


def term_names(names: Sequence[str], order: int) -> tuple[str, ...]:
    """Readable names of the terms: ``"1"``, ``"teff"``, ``"teff*logg"``, ``"teff^2"``."""
    out = []
    for row in term_indices(len(names), order):
        factors = [int(i) for i in row if i < len(names)]
        if not factors:
            out.append("1")
            continue
        parts = []
        for i in dict.fromkeys(factors):
            power = factors.count(i)
            parts.append(names[i] if power == 1 else f"{names[i]}^{power}")
        out.append("*".join(parts))
    return tuple(out)


def vectorize(x: Any, indices: np.ndarray) -> jax.Array:
    """The design vector of one standardised label vector.

    Args:
        x: ``(n_labels,)`` standardised labels.
        indices: :func:`term_indices` of the model (a static numpy array).

    Returns:
        ``(n_terms,)`` monomials of ``x``.
    """
    x = jnp.asarray(x)
    padded = jnp.concatenate([x, jnp.ones((1,), dtype=x.dtype)])
    out = padded[indices[:, 0]]
    for j in range(1, indices.shape[1]):  # explicit products: cheap to differentiate
        out = out * padded[indices[:, j]]
    return out


def design_matrix(x: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Host-side (numpy) design matrix of many standardised label vectors.

    Args:
        x: ``(n, n_labels)`` standardised labels.
        indices: :func:`term_indices` of the model.

    Returns:
        ``(n, n_terms)`` monomials, in the dtype of ``x``.
    """
    padded = np.concatenate([x, np.ones((x.shape[0], 1), dtype=x.dtype)], axis=1)
    return np.prod(padded[:, indices], axis=-1)


def vectorize_with_jacobian(x: Any, indices: np.ndarray) -> tuple[jax.Array, jax.Array]:
    """The design vector of one label vector and its exact Jacobian.

    Returns:
        ``(v, dv)``: ``(n_terms,)`` and ``(n_terms, n_labels)`` (``dv[t, l] = ∂v_t/∂x_l``).
    """
    return vectorize(x, indices), jax.jacfwd(lambda y: vectorize(y, indices))(x)
