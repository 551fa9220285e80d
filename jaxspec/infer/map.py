"""Batched maximum a posteriori fits with Laplace covariances: :func:`fit_map`.

Per star, in one compiled program vmapped over stars (and chunked over large batches):

1. RV starting point by cross-correlation with the emulated spectrum at the box centre.
2. Label starting points: ``n_candidates`` quasi-random points of the label box (plus its
   centre) are emulated once, each is scored by χ² with its best linear continuum, and the
   ``n_starts`` best are kept.
3. Each start is refined by a projected Levenberg–Marquardt iteration on the negative log
   posterior: the exact gradient, the Gauss–Newton curvature ``JᵀJ`` of the whitened
   residuals plus the prior's Hessian, Marquardt's diagonal damping, steps clipped into the
   prior box. It stops when an accepted step improves the log posterior by less than
   ``ftol`` (converged) or after ``max_iter`` steps (flagged).
4. The best start wins; the Laplace covariance is the inverse Hessian of the negative log
   posterior there (full Hessian, forward-over-reverse).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..spectrum import Spectrum
from ._batches import (
    as_forward_model,
    batch_spectra,
    chunk_size,
    run_chunked,
    scatter,
    star_ids,
    unfit_messages,
)
from .forward import (
    FitData,
    ForwardModel,
    Params,
    _lerp,
    parameter_names,
    params_from_vector,
    params_to_vector,
)
from .rv import cross_correlate, linear_continuum

__all__ = ["fit_map", "MapResult", "map_objective"]


class _LMState(NamedTuple):
    theta: Any
    f: Any
    lam: Any
    it: Any
    done: Any
    converged: Any


def map_objective(model: ForwardModel, params: Any, data: FitData) -> Any:
    """``θ -> −log posterior`` of one star (flat parameter vector, constrained space)."""

    def objective(theta: Any) -> Any:
        return -model.log_posterior(params, params_from_vector(model, theta), data)

    return objective


def _bounds(model: ForwardModel) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of the flat parameter vector (±inf for the continuum)."""
    lo = [*model.lower, model.rv_bounds[0]]
    hi = [*model.upper, model.rv_bounds[1]]
    if model.fit_vsini:
        lo.append(0.0)
        hi.append(model.vsini_max)
    lo += [-np.inf] * model.n_continuum
    hi += [np.inf] * model.n_continuum
    return np.asarray(lo), np.asarray(hi)


def _candidates(model: ForwardModel, n: int) -> np.ndarray:
    """``(n + 1, n_labels)`` starting labels: the box centre and ``n`` Sobol points."""
    from scipy.stats import qmc

    lo, hi = model.lower, model.upper
    unit = qmc.Sobol(model.n_labels, scramble=True, seed=20261126).random(max(n, 1))[:n]
    return np.concatenate([[0.5 * (lo + hi)], lo + unit * (hi - lo)])


@functools.lru_cache(maxsize=16)
def _compiled(model: ForwardModel, n_starts: int, max_iter: int, ftol: float) -> Any:
    emu = model.emulator
    emu_wave = jnp.asarray(emu.wave)
    lo, hi = (jnp.asarray(b) for b in _bounds(model))
    n_free = lo.size
    step = max(model._pixel_kms / 2.0, 0.5)
    n_v = int(min(2001, np.floor((model.rv_bounds[1] - model.rv_bounds[0]) / step) + 1))
    velocities = jnp.linspace(model.rv_bounds[0], model.rv_bounds[1], max(n_v, 3))

    def residuals(params: Any, data: FitData, theta: Any) -> Any:
        p = params_from_vector(model, theta)
        m, _, model_var = model.model_parts(params, p, data)
        var = model.variance(data, model_var)
        return jnp.where(data.good, (data.flux - m) / jnp.sqrt(var), 0.0)

    def prior_hessian(theta: Any) -> Any:
        return jax.hessian(lambda t: -model.log_prior(params_from_vector(model, t)))(theta)

    def lm(params: Any, data: FitData, theta0: Any) -> _LMState:
        objective = map_objective(model, params, data)
        res = functools.partial(residuals, params, data)

        def body(s: _LMState) -> _LMState:
            jac = jax.jacfwd(res)(s.theta)
            grad = jax.grad(objective)(s.theta)
            a = jac.T @ jac + prior_hessian(s.theta)
            d = jnp.maximum(jnp.diag(a), 1e-12 * jnp.max(jnp.diag(a)))
            step = jnp.linalg.solve(a + s.lam * jnp.diag(d), -grad)
            new = jnp.clip(s.theta + step, lo, hi)
            f_new = objective(new)
            accept = jnp.isfinite(f_new) & (f_new < s.f)
            small = accept & (s.f - f_new < ftol)
            stuck = s.lam > 1e12
            return _LMState(
                jnp.where(accept, new, s.theta),
                jnp.where(accept, f_new, s.f),
                jnp.where(accept, jnp.maximum(s.lam * 0.3, 1e-9), s.lam * 5.0),
                s.it + 1,
                small | stuck,
                s.converged | small,
            )

        def cond(s: _LMState) -> Any:
            return (~s.done) & (s.it < max_iter)

        s0 = _LMState(theta0, objective(theta0), jnp.asarray(1e-3), 0, False, False)
        return jax.lax.while_loop(cond, body, s0)

    def fit_one(params: Any, cand_labels: Any, cand_flux: Any, data: FitData) -> dict:
        rv0, peak = cross_correlate(cand_flux[0], emu_wave, data, velocities, model.interpolation)

        index, weight = model.interpolation(data.wave, rv0)

        def normalised(rest: Any) -> Any:
            return _lerp(rest, index, weight)

        def score(rest: Any) -> Any:
            norm = normalised(rest)
            cont = jnp.einsum("nsk,sk->n", data.basis, linear_continuum(norm, data))
            return jnp.sum(jnp.where(data.good, data.ivar * (data.flux - cont * norm) ** 2, 0.0))

        chi2 = jax.lax.map(score, cand_flux)
        _, best = jax.lax.top_k(-chi2, n_starts)
        conts = jax.vmap(lambda r: linear_continuum(normalised(r), data))(cand_flux[best])
        vsini0 = jnp.full((n_starts,), 0.1 * model.vsini_max if model.fit_vsini else 0.0)

        starts = params_to_vector(
            model, Params(cand_labels[best], jnp.full((n_starts,), rv0), vsini0, conts)
        )
        starts = jnp.clip(starts, lo, hi)
        runs = jax.vmap(lambda t: lm(params, data, t))(starts)
        win = jnp.argmin(jnp.where(jnp.isfinite(runs.f), runs.f, jnp.inf))
        theta = runs.theta[win]
        objective = map_objective(model, params, data)
        hess = jax.hessian(objective)(theta)
        hess = 0.5 * (hess + hess.T)
        chol = jnp.linalg.cholesky(hess)
        hess_ok = jnp.all(jnp.isfinite(chol))
        eye = jnp.eye(n_free)
        cov = jax.scipy.linalg.cho_solve((chol, True), eye)
        return {
            "theta": theta,
            "cov": jnp.where(hess_ok, cov, jnp.nan),
            "log_post": -runs.f[win],
            "chi2": jnp.sum(residuals(params, data, theta) ** 2),
            "converged": runs.converged[win],
            "n_iter": runs.it[win],
            "hessian_ok": hess_ok,
            "rv_ccf": rv0,
            "ccf_peak": peak,
            "starts_agree": jnp.sum(jnp.abs(runs.f - runs.f[win]) < 1.0),
        }

    @jax.jit
    def fit_chunk(params: Any, cand_labels: Any, data: FitData) -> dict:
        cand_flux = emu.apply(params, cand_labels).astype(jnp.float64)
        return jax.vmap(lambda d: fit_one(params, cand_labels, cand_flux, d))(data)

    return fit_chunk


@dataclasses.dataclass(frozen=True, eq=False)
class MapResult:
    """MAP estimates and Laplace covariances of a batch of stars.

    Attributes:
        model: the forward model that was fitted.
        names: names of the parameter vector's entries (labels, ``rv``, [``vsini``],
            continuum coefficients ``cont_<segment>_<k>``).
        theta: ``(n_stars, n_params)`` MAP estimates (NaN for stars not fitted).
        cov: ``(n_stars, n_params, n_params)`` Laplace covariance (NaN where the Hessian
            is not positive definite).
        log_post, chi2: ``(n_stars,)`` log posterior and χ² at the optimum.
        n_good: ``(n_stars,)`` pixels in the likelihood.
        converged: ``(n_stars,)`` the winning start met the tolerance before ``max_iter``.
        hessian_ok: ``(n_stars,)`` the Hessian was positive definite.
        at_edge: ``(n_stars,)`` a label lies within 0.1 % of the box width of a bound.
        n_iter: ``(n_stars,)`` iterations of the winning start.
        rv_ccf, ccf_peak: ``(n_stars,)`` cross-correlation RV [km/s] and peak value.
        starts_agree: ``(n_stars,)`` starts that ended within 1 of the best log posterior.
        messages: ``(n_stars,)`` why a star was not fitted ("" when it was).
        object_ids: star names.
        flux_scale: ``(n_stars,)`` median good flux each spectrum was divided by (the unit
            of the continuum coefficients).
    """

    model: ForwardModel
    names: list[str]
    theta: np.ndarray
    cov: np.ndarray
    log_post: np.ndarray
    chi2: np.ndarray
    n_good: np.ndarray
    converged: np.ndarray
    hessian_ok: np.ndarray
    at_edge: np.ndarray
    n_iter: np.ndarray
    rv_ccf: np.ndarray
    ccf_peak: np.ndarray
    starts_agree: np.ndarray
    messages: list[str]
    object_ids: list[str]
    flux_scale: np.ndarray

    def __len__(self) -> int:
        return int(self.theta.shape[0])

    @property
    def labels(self) -> np.ndarray:
        """``(n_stars, n_labels)`` MAP labels."""
        return self.theta[:, : self.model.n_labels]

    @property
    def sigma(self) -> np.ndarray:
        """``(n_stars, n_params)`` Laplace standard deviations."""
        return np.sqrt(np.diagonal(self.cov, axis1=1, axis2=2))

    @property
    def label_sigma(self) -> np.ndarray:
        return self.sigma[:, : self.model.n_labels]

    @property
    def fitted(self) -> np.ndarray:
        """``(n_stars,)`` True where the star was fitted."""
        return np.array([not m for m in self.messages])

    def params(self) -> Any:
        """The estimates as a batched :class:`~jaxspec.infer.forward.Params`."""
        return params_from_vector_batch(self.model, self.theta)

    def table(self) -> Any:
        """The catalog as an astropy Table (see :func:`jaxspec.infer.results.map_table`)."""
        from .results import map_table

        return map_table(self)


def params_from_vector_batch(model: ForwardModel, theta: Any) -> Any:
    return jax.vmap(lambda t: params_from_vector(model, t))(jnp.asarray(theta))


def fit_map(
    spectra: Spectrum,
    model: Any,
    *,
    n_starts: int = 3,
    n_candidates: int = 64,
    max_iter: int = 60,
    ftol: float = 1e-3,
    batch_size: int = 128,
    progress: bool = True,
    **options: Any,
) -> MapResult:
    """MAP labels, RV and continuum of many stars at once, with Laplace covariances.

    Args:
        spectra: one observed :class:`~jaxspec.Spectrum` or a batch (vacuum wavelengths;
            any flux unit). Stars in a batch may have their own wavelengths.
        model: an :class:`~jaxspec.emulators.Emulator` or a :class:`ForwardModel`.
        n_starts: optimisations per star (from the best-scoring candidates).
        n_candidates: quasi-random label points scored to choose the starts.
        max_iter: Levenberg–Marquardt iterations per start.
        ftol: convergence tolerance on the log posterior.
        batch_size: stars per compiled call (memory: about ``batch_size × n_starts ×
            n_params × n_pixels × 8`` bytes for the Jacobians).
        progress: show a tqdm bar.
        **options: :class:`ForwardModel` settings when ``model`` is an Emulator (or
            overrides of a ForwardModel's), e.g. ``segments=APOGEE_CHIPS``.

    Returns:
        a :class:`MapResult`; ``result.table()`` gives the catalog. Stars with too few usable
        pixels are not fitted: their row is NaN and ``messages`` says why.
    """
    if n_starts < 1 or n_candidates < n_starts - 1:
        raise ValueError(
            f"need n_starts >= 1 and n_candidates >= n_starts - 1, got {n_starts}, {n_candidates}"
        )
    fm = as_forward_model(model, **options)
    batch, _ = batch_spectra(spectra)
    n = batch.batch_shape[0]
    names = parameter_names(fm)
    with jax.enable_x64(True):
        data, n_good = fm.prepare(batch)
        messages = unfit_messages(n_good, len(names))
        fittable = np.array([not m for m in messages])
        size = chunk_size(int(fittable.sum()), batch_size)
        fn = _compiled(fm, int(n_starts), int(max_iter), float(ftol))
        cand = jnp.asarray(_candidates(fm, n_candidates))
        parts = run_chunked(
            lambda chunk: fn(fm.emulator.params, cand, chunk),
            data,
            fittable,
            size,
            progress=progress,
            desc="MAP",
        )
    p = len(names)
    template = {
        "theta": np.zeros((1, p)),
        "cov": np.zeros((1, p, p)),
        "log_post": np.zeros(1),
        "chi2": np.zeros(1),
        "converged": np.zeros(1, bool),
        "n_iter": np.zeros(1, int),
        "hessian_ok": np.zeros(1, bool),
        "rv_ccf": np.zeros(1),
        "ccf_peak": np.zeros(1),
        "starts_agree": np.zeros(1, int),
    }
    out = scatter(n, parts, template, np.nan)
    k = fm.n_labels
    unit = (out["theta"][:, :k] - fm.lower) / (fm.upper - fm.lower)
    at_edge = np.any((unit < 1e-3) | (unit > 1 - 1e-3), axis=1) & fittable
    return MapResult(
        model=fm,
        names=names,
        n_good=np.asarray(n_good),
        at_edge=at_edge,
        messages=messages,
        object_ids=star_ids(batch, n),
        flux_scale=np.asarray(data.scale),
        **out,
    )
