"""The Cramér–Rao bound on labels from the forward model's Jacobian: :func:`cramer_rao`."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..spectrum import Spectrum
from ._batches import as_forward_model
from .forward import Params, params_from_vector, params_to_vector

__all__ = ["cramer_rao"]


def cramer_rao(
    labels: Any,
    model: Any,
    ivar: Any,
    *,
    wave: Any = None,
    rv: Any = 0.0,
    continuum: Any = None,
    nuisance: bool = True,
    **options: Any,
) -> np.ndarray:
    """Smallest achievable label covariance (inverse Fisher matrix) for given noise.

    The Fisher matrix of the Gaussian likelihood is ``F = Jᵀ diag(1/σ²) J`` with
    ``J = ∂ model / ∂ θ`` (emulator Jacobian through the full forward model) and σ² the
    likelihood's variance (``1/ivar`` plus emulator error and jitter). With ``nuisance`` the
    RV (and v sin i) and the continuum coefficients are free too and the bound is the label
    block of ``F⁻¹`` (their uncertainty is marginalised); without, it is the inverse of the
    label block of ``F`` (RV and continuum known).

    Args:
        labels: ``(n_labels,)`` or ``(n, n_labels)`` true labels.
        model: an :class:`~jaxspec.emulators.Emulator` or a :class:`ForwardModel`.
        ivar: ``(n_pix,)`` or ``(n, n_pix)`` inverse variance of the normalised flux (e.g.
            ``snr**2``); 0 excludes a pixel.
        wave: ``(n_pix,)`` observed wavelengths [Å] (default: the emulator's).
        rv: true RV [km/s], scalar or ``(n,)``.
        continuum: true continuum coefficients (default: a flat continuum of 1).
        nuisance: marginalise RV and continuum (True) or hold them fixed.
        **options: :class:`ForwardModel` settings when ``model`` is an Emulator.

    Returns:
        ``(..., n_labels, n_labels)`` covariance bound; ``sqrt`` of its diagonal is the
        smallest unbiased label uncertainty.
    """
    fm = as_forward_model(model, **options)
    wave = fm.emulator.wave if wave is None else np.asarray(wave, dtype=np.float64)
    lab = np.asarray(labels, dtype=np.float64)
    single = lab.ndim == 1
    lab = np.atleast_2d(lab)
    n = lab.shape[0]
    if lab.shape[-1] != fm.n_labels:
        raise ValueError(
            f"labels need a last axis of {fm.n_labels} ({', '.join(fm.label_names)}), "
            f"got shape {np.shape(labels)}"
        )
    iv = np.broadcast_to(np.asarray(ivar, dtype=np.float64), (n, wave.size))
    if continuum is None:
        loc, _ = fm.continuum_prior_arrays()
        continuum = np.zeros_like(loc)
        continuum[:, 0] = 1.0
    cont = np.broadcast_to(np.asarray(continuum, dtype=np.float64), (n, *np.shape(continuum)[-2:]))
    rv_arr = np.broadcast_to(np.asarray(rv, dtype=np.float64), (n,))
    with jax.enable_x64(True):
        data, _ = fm.prepare(Spectrum(wave, np.ones((n, wave.size)), ivar=iv))
        theta = params_to_vector(fm, Params(lab, rv_arr, np.zeros(n), cont))
        params = fm.emulator.params

        def fisher(t: Any, d: Any) -> Any:
            def model_flux(tt: Any) -> Any:
                m, _, _ = fm.model_parts(params, params_from_vector(fm, tt), d)
                return m

            _, _, model_var = fm.model_parts(params, params_from_vector(fm, t), d)
            w = jnp.where(d.good, 1.0 / fm.variance(d, model_var), 0.0)
            jac = jax.jacfwd(model_flux)(t)
            return jac.T @ (w[:, None] * jac)

        f = np.asarray(jax.jit(jax.vmap(fisher))(theta, data))
    k = fm.n_labels
    if nuisance:
        cov = np.linalg.inv(f)[:, :k, :k]
    else:
        cov = np.linalg.inv(f[:, :k, :k])
    return cov[0] if single else cov
