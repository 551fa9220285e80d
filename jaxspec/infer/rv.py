"""Radial-velocity starting points by cross-correlation with an emulated template."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from ..preprocess.doppler import doppler_factor
from .forward import FitData
from .forward import _lerp as lerp

__all__ = ["linear_continuum", "cross_correlate"]


def linear_continuum(norm: Any, data: FitData, ridge: float = 1e-9) -> Any:
    """Continuum coefficients that best scale a normalised model to the data.

    The model ``C(λ)·norm(λ)`` is linear in the coefficients, so the weighted least-squares
    solution is exact: ``a = (Φᵀ W Φ)⁻¹ Φᵀ W y`` with ``Φ = norm · basis``.

    Args:
        norm: ``(n_pix,)`` normalised model flux on the observed pixels.
        data: one star's :class:`FitData`.
        ridge: relative ridge term that keeps empty segments solvable.

    Returns:
        ``(n_segments, order + 1)`` coefficients.
    """
    shape = data.basis.shape[1:]
    phi = (norm[:, None] * data.basis.reshape(data.basis.shape[0], -1)) * data.good[:, None]
    w = jnp.where(data.good, data.ivar, 0.0)
    a = phi.T @ (w[:, None] * phi)
    b = phi.T @ (w * data.flux)
    scale = jnp.maximum(jnp.trace(a) / a.shape[0], 1e-30)
    coef = jnp.linalg.solve(a + ridge * scale * jnp.eye(a.shape[0]), b)
    return coef.reshape(shape)


def cross_correlate(
    template: Any,
    template_wave: Any,
    data: FitData,
    velocities: Any,
    interpolation: Callable[[Any, Any], tuple[Any, Any]] | None = None,
) -> tuple[Any, Any]:
    """Velocity of the cross-correlation peak between a star and a rest-frame template.

    The data are divided by their best-fitting continuum polynomial (flat template) and the
    correlation of the residual line pattern with the template's is computed at each trial
    velocity; the peak is refined with a parabola through its neighbours.

    Args:
        template: ``(n_emu,)`` normalised rest-frame template flux.
        template_wave: ``(n_emu,)`` its vacuum wavelengths [Å].
        data: one star's :class:`FitData`.
        velocities: ``(n_v,)`` evenly spaced trial velocities [km/s].
        interpolation: ``(wave, rv) -> (index, weight)`` into the template grid, e.g.
            :meth:`ForwardModel.interpolation` (no search on log-uniform grids); default
            ``jnp.interp`` on ``template_wave``.

    Returns:
        ``(rv, peak)``: the velocity [km/s] and the normalised correlation at the peak.
    """
    cont = jnp.einsum("nsk,sk->n", data.basis, linear_continuum(jnp.ones_like(data.flux), data))
    good = data.good & (cont > 0)
    safe = jnp.where(good, cont, 1.0)
    y = jnp.where(good, data.flux / safe - 1.0, 0.0)
    w = jnp.where(good, data.ivar * safe**2, 0.0)
    w = w / jnp.maximum(jnp.max(w), 1e-300)
    y = y - jnp.sum(w * y) / jnp.maximum(jnp.sum(w), 1e-300)
    yy = jnp.sum(w * y * y)

    def shifted(v: Any) -> Any:
        if interpolation is None:
            return jnp.interp(data.wave / doppler_factor(v), template_wave, template)
        return lerp(template, *interpolation(data.wave, v))

    def corr(v: Any) -> Any:
        t = shifted(v) - 1.0
        t = t - jnp.sum(w * t) / jnp.maximum(jnp.sum(w), 1e-300)
        return jnp.sum(w * y * t) / jnp.sqrt(jnp.maximum(yy * jnp.sum(w * t * t), 1e-300))

    c = jax.lax.map(corr, velocities)
    i = jnp.clip(jnp.argmax(c), 1, velocities.shape[0] - 2)
    c0, c1, c2 = c[i - 1], c[i], c[i + 1]
    denom = c0 - 2.0 * c1 + c2
    offset = jnp.where(denom < 0, 0.5 * (c0 - c2) / jnp.where(denom < 0, denom, -1.0), 0.0)
    step = velocities[1] - velocities[0]
    rv = velocities[i] + jnp.clip(offset, -1.0, 1.0) * step
    return rv, c1
