"""Compiled kernels of the Cannon: the training step (per pixel) and the test step (per star).

Training, for each pixel λ and fixed design matrix ``V`` (n_stars, n_terms), maximises

    ln L(θ, s) = -½ Σ_n m_n [(f_n - V_n·θ)² / (σ_n² + s²) + ln(σ_n² + s²)] - Λ ‖θ[1:]‖₁

by block coordinate ascent: θ given s is weighted least squares (Cholesky of the normal
equations; with Λ > 0 a Jacobi-preconditioned FISTA lasso), and ln s² given θ takes a few
Fisher-scoring steps. Every operation is batched over a chunk of pixels; the normal
equations of the whole chunk are one matrix product.

The test step minimises χ²(x) = Σ_λ W_λ (f_λ - θ_λ·v(x))², W = 1/(σ² + s²), over the
standardised labels x of each star. With ``v = (1, u(x))`` it is the quadratic form
``c - 2 b·u + u·A·u`` with ``A = θ'ᵀ W θ'`` and ``b = θ'ᵀ W (f - θ_0)`` (θ' all but the
constant column), computed once per star by one matrix product over the pixels. Its
gradient and Gauss–Newton matrix JᵀWJ = (∂u/∂x)ᵀ A (∂u/∂x) are exact, so Levenberg–Marquardt
from many starts costs O(n_terms²) per iteration, independent of the pixel count. Only the
final χ² is evaluated again on the pixels (the quadratic form loses digits to cancellation).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._vectorizer import term_indices, vectorize, vectorize_with_jacobian

__all__ = ["train_chunk", "predict_chunk"]

_LAMBDA_MIN = 1e-9
_LAMBDA_MAX = 1e9


def _fill_symmetric(flat: jax.Array, k: int) -> jax.Array:
    """``(..., k(k+1)/2)`` upper-triangle entries to ``(..., k, k)`` symmetric matrices."""
    iu, ju = np.triu_indices(k)
    pos = np.empty((k, k), dtype=np.int32)
    pos[iu, ju] = pos[ju, iu] = np.arange(iu.size)
    return flat[..., pos]


def _spd_solve(a: jax.Array, b: jax.Array) -> jax.Array:
    """Solve ``a x = b`` for a batch of symmetric positive semi-definite ``a`` (tiny ridge)."""
    k = a.shape[-1]
    eps = jnp.finfo(a.dtype).eps
    scale = jnp.trace(a, axis1=-2, axis2=-1)[..., None, None] / k
    ridge = 10 * k * eps * jnp.where(scale > 0, scale, 1.0)
    chol = jnp.linalg.cholesky(a + ridge * jnp.eye(k, dtype=a.dtype))
    return jax.scipy.linalg.cho_solve((chol, True), b[..., None])[..., 0]


def _lasso(a: jax.Array, b: jax.Array, theta0: jax.Array, l1: jax.Array, n_iter: int) -> jax.Array:
    """Minimise ``½ θᵀaθ - bᵀθ + l1 ‖θ[1:]‖₁`` for a batch of pixels (FISTA with restarts).

    Args:
        a: ``(p, k, k)`` normal matrices; b: ``(p, k)``; theta0: ``(p, k)`` warm start.
        l1: the regularisation strength Λ (not applied to the constant term).
    """
    d = jnp.sqrt(jnp.diagonal(a, axis1=-2, axis2=-1))
    d = jnp.where(d > 0, d, 1.0)
    a_hat = a / (d[..., :, None] * d[..., None, :])
    b_hat = b / d
    step = 1.0 / jnp.maximum(jnp.linalg.eigvalsh(a_hat)[..., -1], jnp.finfo(a.dtype).tiny)
    k = a.shape[-1]
    weight = jnp.concatenate([jnp.zeros((1,), a.dtype), jnp.ones((k - 1,), a.dtype)])
    thresh = l1 * step[..., None] * weight / d

    def prox(z: jax.Array) -> jax.Array:
        return jnp.sign(z) * jnp.maximum(jnp.abs(z) - thresh, 0.0)

    def body(_: int, state: tuple) -> tuple:
        phi, y, t = state
        grad = jnp.einsum("pij,pj->pi", a_hat, y) - b_hat
        phi_new = prox(y - step[..., None] * grad)
        t_new = 0.5 * (1.0 + jnp.sqrt(1.0 + 4.0 * t * t))
        y_new = phi_new + ((t - 1.0) / t_new)[..., None] * (phi_new - phi)
        restart = jnp.sum((y - phi_new) * (phi_new - phi), axis=-1) > 0
        y_new = jnp.where(restart[..., None], phi_new, y_new)
        t_new = jnp.where(restart, 1.0, t_new)
        return phi_new, y_new, t_new

    phi0 = theta0 * d
    t0 = jnp.ones(a.shape[:-2], a.dtype)
    phi, _, _ = jax.lax.fori_loop(0, n_iter, body, (phi0, phi0, t0))
    return phi / d


@functools.partial(jax.jit, static_argnames=("lasso", "n_outer", "n_inner", "n_lasso"))
def train_chunk(
    design: jax.Array,
    flux: jax.Array,
    ivar: jax.Array,
    l1: Any,
    *,
    lasso: bool,
    n_outer: int = 30,
    n_inner: int = 4,
    n_lasso: int = 300,
    tol: float = 1e-4,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Train the coefficients and scatter of a chunk of pixels.

    Args:
        design: ``(n, k)`` design matrix of the training labels (any basis).
        flux: ``(n, p)`` training flux; ivar: ``(n, p)`` its inverse variance (0: masked).
        l1: Λ, used only when ``lasso`` is True.
        lasso: solve the θ step as a lasso (else by Cholesky).
        n_outer: most θ/s alternations; stops earlier once ln s² changes by < ``tol``.
        n_inner: Fisher-scoring steps on ln s² per alternation.
        n_lasso: FISTA iterations per θ step.

    Returns:
        ``(theta, scatter, n_alternations)``: ``(p, k)`` coefficients in the basis of
        ``design``, ``(p,)`` scatter (0 when below 1 % of the typical noise; ``inf`` for pixels
        with no more valid stars than terms, whose θ is 0), and the alternations used.
    """
    n, k = design.shape
    dtype = design.dtype
    eps = jnp.finfo(dtype).eps
    mask = (ivar > 0) & jnp.isfinite(ivar) & jnp.isfinite(flux)
    m = mask.astype(dtype)
    w = jnp.where(mask, ivar, 0.0)
    f = jnp.where(mask, flux, 0.0)
    sig2 = jnp.where(mask, 1.0 / jnp.where(mask, ivar, 1.0), 1.0)
    n_valid = m.sum(0)
    ok = n_valid > k
    nv = jnp.maximum(n_valid, 1.0)
    v_ref = jnp.where(ok, nv / jnp.maximum(w.sum(0), jnp.finfo(dtype).tiny), 1.0)
    f2 = (m * f * f).sum(0) / nv
    u_lo = jnp.log(v_ref) + 2.0 * jnp.log(eps)
    u_hi = jnp.log(jnp.maximum(f2, v_ref)) + jnp.log(1e4)

    iu, ju = np.triu_indices(k)
    vv = design[:, iu] * design[:, ju]  # (n, k(k+1)/2)

    def theta_step(s2: jax.Array, theta_prev: jax.Array) -> jax.Array:
        wt = m / (sig2 + s2)  # (n, p)
        a = _fill_symmetric((wt.T @ vv), k)  # (p, k, k)
        b = (wt * f).T @ design  # (p, k)
        if lasso:
            return _lasso(a, b, theta_prev, l1, n_lasso)
        return _spd_solve(a, b)

    def score(_: int, state: tuple) -> tuple:
        u, r2 = state
        t = jnp.exp(u)
        d = sig2 + t
        q = m * t / d
        g = 0.5 * jnp.sum(q * (r2 / d - 1.0), axis=0)
        info = 0.5 * jnp.sum(q * q, axis=0)
        du = jnp.clip(g / jnp.maximum(info, jnp.finfo(dtype).tiny), -4.0, 4.0)
        return jnp.clip(u + du, u_lo, u_hi), r2

    def cond(state: tuple) -> jax.Array:
        i, _, _, _, change = state
        return (i < n_outer + 1) & (change > tol)

    def body(state: tuple) -> tuple:
        # the first pass solves for θ without scatter and starts ln s² at the mean excess
        # of the squared residuals over the noise variance
        i, theta, _, u, _ = state
        first = i == 0
        u = jnp.where(first, u_lo, u)
        theta = theta_step(jnp.exp(u), theta)
        r2 = m * (f - design @ theta.T) ** 2
        excess = jnp.sum(r2 - m * sig2, axis=0) / nv
        u_start = jnp.log(jnp.maximum(excess, 1e-4 * v_ref))
        u_start = jnp.clip(jnp.where(first, u_start, u), u_lo, u_hi)
        u_new, _ = jax.lax.fori_loop(0, n_inner, score, (u_start, r2))
        t = jnp.exp(u_new)
        relevant = jnp.where(ok, t / (t + v_ref), 0.0)
        change = jnp.where(first, jnp.inf, jnp.max(jnp.abs(u_new - u) * relevant))
        return i + 1, theta, u, u_new, change

    zeros = jnp.zeros_like(v_ref)
    theta0 = jnp.zeros((flux.shape[1], k), dtype)
    init = (jnp.asarray(0), theta0, zeros, zeros, jnp.asarray(jnp.inf, dtype))
    n_done, theta, u, _, _ = jax.lax.while_loop(cond, body, init)
    # θ is the exact θ step at s² = exp(u); ln s² moved by less than ``tol`` after it
    s2 = jnp.exp(u)
    # below 1 % of the noise, s changes the weights by < 1e-4 and is not resolved: report 0
    scatter = jnp.where(s2 < 1e-4 * v_ref, 0.0, jnp.sqrt(s2))
    scatter = jnp.where(ok, scatter, jnp.inf)
    theta = jnp.where(ok[:, None], theta, 0.0)
    return theta, scatter, n_done - 1


# --------------------------------------------------------------------------------------
# Test step
# --------------------------------------------------------------------------------------


def _small_spd_solve(a: jax.Array, b: jax.Array) -> jax.Array:
    """Solve ``a x = b`` for one small SPD ``a`` (n × n, n = number of labels) by an unrolled
    Cholesky factorisation: much faster to compile and run under ``vmap`` than LAPACK calls
    on tiny matrices. A matrix that is not positive definite gives NaN.

    Args:
        a: ``(n, n)``; b: ``(n,)`` or ``(n, m)``.
    """
    n = a.shape[-1]
    low: list[list[Any]] = [[None] * n for _ in range(n)]
    for j in range(n):
        low[j][j] = jnp.sqrt(a[j, j] - sum(low[j][k] ** 2 for k in range(j)))
        for i in range(j + 1, n):
            low[i][j] = (a[i, j] - sum(low[i][k] * low[j][k] for k in range(j))) / low[j][j]
    y: list[Any] = []
    for i in range(n):
        y.append((b[i] - sum(low[i][k] * y[k] for k in range(i))) / low[i][i])
    x: list[Any] = [None] * n
    for i in reversed(range(n)):
        x[i] = (y[i] - sum(low[k][i] * x[k] for k in range(i + 1, n))) / low[i][i]
    return jnp.stack(x)


def _lm_quadratic(
    x0: jax.Array,
    a: jax.Array,
    b: jax.Array,
    c0: jax.Array,
    lo: jax.Array,
    hi: jax.Array,
    idx: np.ndarray,
    n_iter: int,
) -> tuple:
    """Levenberg–Marquardt minimisation of χ²(x) = c0 - 2 b·u + u·A·u, u = v(x)[1:], in a box.

    A step is accepted when χ² falls; the change is computed as Δu·(e' + e), e = A u - b,
    which, unlike the difference of two χ² values, does not lose the digits of ``c0``.

    Args:
        x0: ``(L,)`` start; a: ``(k, k)``; b: ``(k,)``; c0: scalar; lo, hi: ``(L,)`` box.
        idx: the vectorizer's term indices; n_iter: iterations.

    Returns:
        ``(x, chi2, g, h)``: the end point, χ² there, g = -(∂u/∂x)ᵀe (= JᵀWr) and the
        Gauss–Newton matrix h = (∂u/∂x)ᵀ A (∂u/∂x) (= JᵀWJ).
    """
    n = x0.shape[-1]
    eye = jnp.eye(n, dtype=x0.dtype)
    eps = jnp.finfo(x0.dtype).eps

    def evaluate(x: jax.Array) -> tuple:
        v, dv = vectorize_with_jacobian(x, idx)
        u, du = v[1:], dv[1:]
        e = a @ u - b
        return u, e, -du.T @ e, du.T @ a @ du

    def body(_: int, state: tuple) -> tuple:
        x, chi, u, e, g, h, lam = state
        diag = jnp.diagonal(h)
        damp = lam * (diag + eps * jnp.maximum(jnp.max(diag), 1.0))
        step = _small_spd_solve(h + damp * eye, g)
        step = jnp.where(jnp.isfinite(step), step, 0.0)
        x_new = jnp.clip(x + step, lo, hi)
        u_new, e_new, g_new, h_new = evaluate(x_new)
        change = (u_new - u) @ (e_new + e)
        better = jnp.isfinite(change) & (change <= 0)
        new = (x_new, chi + change, u_new, e_new, g_new, h_new)
        old = (x, chi, u, e, g, h)
        x, chi, u, e, g, h = jax.tree.map(lambda p, q: jnp.where(better, p, q), new, old)
        lam = jnp.clip(jnp.where(better, lam / 3.0, lam * 5.0), _LAMBDA_MIN, _LAMBDA_MAX)
        return x, chi, u, e, g, h, lam

    u0, e0, g0, h0 = evaluate(x0)
    chi0 = c0 - 2.0 * b @ u0 + u0 @ a @ u0
    lam0 = jnp.asarray(1e-3, x0.dtype)
    state = (x0, chi0, u0, e0, g0, h0, lam0)
    x, chi, _, _, g, h, _ = jax.lax.fori_loop(0, n_iter, body, state)
    return x, chi, g, h


@functools.partial(jax.jit, static_argnames=("order", "n_iter"))
def predict_chunk(
    theta: jax.Array,
    scatter: jax.Array,
    flux: jax.Array,
    ivar: jax.Array,
    starts: jax.Array,
    lo: jax.Array,
    hi: jax.Array,
    *,
    order: int,
    n_iter: int = 40,
) -> dict[str, jax.Array]:
    """Best-fitting standardised labels of a chunk of stars.

    Args:
        theta: ``(P, T)`` coefficients (standardised-label basis); scatter: ``(P,)``.
        flux, ivar: ``(c, P)`` spectra and inverse variances (0 or non-finite: masked).
        starts: ``(S, L)`` standardised starting labels, shared by every star.
        lo, hi: ``(L,)`` box the labels are kept in.
        order: polynomial order of the vectorizer.
        n_iter: LM iterations of each start on the quadratic form.

    Returns:
        dict of ``x`` (c, L), ``cov`` (c, L, L) inverse Fisher matrix, ``chi2`` (c,),
        ``n_pix`` (c,) pixels used, ``decrement`` (c,) Newton decrement gᵀH⁻¹g at the end,
        ``best_start`` (c,) and ``chi2_starts`` (c, S).
    """
    n_labels = starts.shape[-1]
    idx = term_indices(n_labels, order)
    mask = (ivar > 0) & jnp.isfinite(ivar) & jnp.isfinite(flux)
    ivar_safe = jnp.where(mask, ivar, 1.0)
    weight = jnp.where(mask, 1.0 / (1.0 / ivar_safe + scatter**2), 0.0)  # (c, P)
    f = jnp.where(mask, flux, 0.0)
    resid0 = f - theta[:, 0]
    th = theta[:, 1:]
    k = th.shape[1]
    iu, ju = np.triu_indices(k)
    a = _fill_symmetric(weight @ (th[:, iu] * th[:, ju]), k)  # (c, k, k)
    b = (weight * resid0) @ th  # (c, k)
    c0 = jnp.sum(weight * resid0**2, axis=-1)

    def run_start(x0: jax.Array, a: jax.Array, b: jax.Array, c0: jax.Array) -> tuple:
        return _lm_quadratic(x0, a, b, c0, lo, hi, idx, n_iter)

    xs, chis, gs, hs = jax.vmap(jax.vmap(run_start, (0, None, None, None)), (None, 0, 0, 0))(
        starts, a, b, c0
    )
    chis = jnp.where(jnp.isfinite(chis), chis, jnp.inf)
    best = jnp.argmin(chis, axis=1)

    def pick(arr: jax.Array) -> jax.Array:
        return jax.vmap(lambda row, i: row[i])(arr, best)

    x, g, h = pick(xs), pick(gs), pick(hs)
    cov = jax.vmap(lambda hi: _small_spd_solve(hi, jnp.eye(hi.shape[0], dtype=hi.dtype)))(h)
    decrement = jnp.einsum("ci,cij,cj->c", g, cov, g)
    # χ² once more on the pixels: exact, where the quadratic form loses digits to cancellation
    v = jax.vmap(lambda xi: vectorize(xi, idx))(x)
    resid = f - v @ theta.T
    chi = jnp.sum(weight * resid**2, axis=-1)
    return {
        "x": x,
        "cov": cov,
        "chi2": chi,
        "n_pix": mask.sum(-1),
        "decrement": decrement,
        "best_start": best,
        "chi2_starts": chis,
    }


@functools.partial(jax.jit, static_argnames=("order",))
def model_flux(theta: jax.Array, x: jax.Array, *, order: int) -> jax.Array:
    """``(n, P)`` model spectra of ``(n, L)`` standardised labels."""
    idx = term_indices(x.shape[-1], order)
    return jax.vmap(lambda xi: vectorize(xi, idx))(x) @ theta.T
