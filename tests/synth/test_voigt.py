"""Tests of the Faddeeva function and Voigt profiles against scipy (float64 unless stated).

Measured accuracy against ``scipy.special.wofz`` on the grid of ``_grid`` (Re z in
[−1e4, 1e4] with 0, Im z in [1e-8, 1e3], plus the region boundaries |z| = 8 and Im z = 0.1,
1): max relative error 3.4e-11 in Re w and 3.1e-13 in |w| (complex128); 1.5e-5 in Re w
and 5.1e-7 in |w| (complex64, against wofz of the same float32-rounded inputs).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special as sps
from jax.test_util import check_grads

from jaxspec.synth.voigt import faddeeva, voigt_hjerting, voigt_profile

#: |z| and Im z at which the algorithm switches region.
R_ASYMPTOTIC = 8.0
Y_TAYLOR = 0.1


def _grid() -> np.ndarray:
    """Dense test grid over the upper half plane used by stellar lines, with the boundaries."""
    mag = np.logspace(-4, 4, 321)
    x = np.concatenate([-mag[::-1], [0.0], mag, np.linspace(-16, 16, 1281)])
    edges = R_ASYMPTOTIC * np.array([-1, 1, 1 - 1e-9, 1 + 1e-9, -1 + 1e-9, -1 - 1e-9])
    x = np.concatenate([x, edges])
    y = np.logspace(-8, 3, 221)
    y = np.concatenate([y, Y_TAYLOR * (1 + np.array([-1e-9, 0, 1e-9])), [1 - 1e-9, 1.0]])
    grid = (x[None, :] + 1j * y[:, None]).ravel()
    # Both sides of the circle |z| = 8 where the asymptotic series takes over.
    theta = np.linspace(1e-9, np.pi - 1e-9, 2001)
    circle = np.concatenate(
        [R_ASYMPTOTIC * (1 + s) * np.exp(1j * theta) for s in (-1e-9, 0.0, 1e-9)]
    )
    return np.concatenate([grid, circle])


def _rel_errors(w: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """Max relative error of Re w and of |w|."""
    w = np.asarray(w).astype(np.complex128)
    re = np.max(np.abs(w.real - ref.real) / np.abs(ref.real))
    mod = np.max(np.abs(np.abs(w) - np.abs(ref)) / np.abs(ref))
    return float(re), float(mod)


def test_faddeeva_matches_scipy_float64():
    """Measured: Re w 3.4e-11, |w| 3.1e-13 (required: 1e-4 each)."""
    z = _grid()
    w = faddeeva(z)
    assert w.dtype == jnp.complex128
    assert np.all(np.isfinite(np.asarray(w)))
    re, mod = _rel_errors(w, sps.wofz(z))
    assert re <= 1e-4 and mod <= 1e-4
    assert re < 1e-10, re
    assert mod < 1e-12, mod


def test_faddeeva_matches_scipy_float32():
    """complex64: measured Re w 1.5e-5, |w| 5.1e-7; stated bounds 5e-5 and 5e-6."""
    z = _grid().astype(np.complex64)
    w = faddeeva(z)
    assert w.dtype == jnp.complex64
    assert np.all(np.isfinite(np.asarray(w)))
    re, mod = _rel_errors(w, sps.wofz(z.astype(np.complex128)))
    assert re < 5e-5, re
    assert mod < 5e-6, mod


def test_faddeeva_special_values():
    x = np.linspace(-20, 20, 4001)
    rng = np.random.default_rng(3)
    lower = rng.uniform(-6, 6, 500) + 1j * rng.uniform(-4, 0, 500)
    big = np.array([1e150 + 1e-8j, -1e300 + 1j, 1e300 + 1e300j])
    w = np.asarray(faddeeva(np.concatenate([x + 0j, lower, big])))  # one compilation
    w_real, w_lower, w_big = np.split(w, [x.size, x.size + lower.size])
    # Exactly exp(-x²) on the real axis, in every region.
    np.testing.assert_allclose(w_real.real, np.exp(-(x**2)), rtol=1e-14, atol=0)
    np.testing.assert_allclose(w_real.imag, sps.wofz(x + 0j).imag, rtol=1e-12, atol=0)
    assert w_real[x.size // 2] == 1.0
    # Lower half plane through the reflection formula.
    np.testing.assert_allclose(w_lower, sps.wofz(lower), rtol=1e-11)
    # Huge arguments stay finite and follow i / (√π z).
    assert np.all(np.isfinite(w_big))
    np.testing.assert_allclose(w_big.imag, sps.wofz(big).imag, rtol=1e-14)


def test_faddeeva_dtypes():
    def out_dtype(f, *dtypes):
        return jax.eval_shape(f, *(jax.ShapeDtypeStruct((3,), d) for d in dtypes)).dtype

    assert out_dtype(faddeeva, jnp.complex64) == jnp.complex64
    assert out_dtype(faddeeva, jnp.complex128) == jnp.complex128
    assert out_dtype(faddeeva, jnp.float32) == jnp.complex64
    assert out_dtype(faddeeva, jnp.float64) == jnp.complex128
    assert out_dtype(voigt_hjerting, jnp.float32, jnp.float32) == jnp.float32
    assert out_dtype(voigt_profile, jnp.float32, jnp.float32, jnp.float32) == jnp.float32
    assert out_dtype(voigt_profile, jnp.float64, jnp.float64, jnp.float64) == jnp.float64
    # Python scalars follow the array's precision.
    assert jax.eval_shape(voigt_profile, jnp.ones(3, jnp.float32), 1.0, 0.5).dtype == jnp.float32


def test_voigt_hjerting():
    a = np.array([0.0, 1e-3, 0.1, 1.0, 10.0])[:, None]
    v = np.linspace(-30, 30, 601)[None, :]
    h = voigt_hjerting(a, v)
    assert h.shape == (5, 601)
    # atol: XLA flushes subnormals (< 2.2e-308) to zero.
    np.testing.assert_allclose(np.asarray(h), sps.wofz(v + 1j * a).real, rtol=1e-10, atol=1e-307)
    np.testing.assert_allclose(np.asarray(h[0]), np.exp(-(v[0] ** 2)), rtol=1e-14, atol=1e-307)


def test_voigt_profile_matches_scipy():
    sigma = np.array([0.01, 0.3, 1.0, 5.0])[:, None, None]
    gamma = np.array([0.0, 1e-6, 0.01, 0.5, 1.0, 20.0])[None, :, None]
    mag = np.logspace(-3, 4, 200)
    x = np.concatenate([-mag[::-1], [0.0], mag, np.linspace(-40, 40, 801)])[None, None, :]
    got = np.asarray(voigt_profile(x, sigma, gamma))
    ref = sps.voigt_profile(x, sigma, gamma)
    assert got.shape == ref.shape
    peak = sps.voigt_profile(0.0, sigma, gamma)
    sel = ref > 1e-12 * peak
    rel = np.abs(got - ref)[sel] / ref[sel]
    assert rel.max() <= 1e-4
    assert rel.max() < 1e-9, rel.max()  # measured ~3e-11


@pytest.mark.parametrize(("sigma", "gamma"), [(1.0, 0.0), (1.0, 1.0), (0.1, 2.0), (2.0, 0.01)])
def test_voigt_profile_normalised(sigma, gamma):
    # sinh-spaced grid: fine in the core, reaching |x| = 1e7 so that the Lorentzian tails
    # beyond it hold only 2γ / (π 1e7) ≤ 1.3e-7 of the area.
    t = np.linspace(-np.arcsinh(1e7 / 0.01), np.arcsinh(1e7 / 0.01), 200_001)
    x = 0.01 * np.sinh(t)
    v = np.asarray(voigt_profile(x, sigma, gamma))
    area = np.trapezoid(v * 0.01 * np.cosh(t), t)
    assert abs(area - 1.0) < 1e-4, area


def test_gamma_zero_is_gaussian():
    x = np.linspace(-30, 30, 3001)
    for sigma in (0.05, 1.0, 7.0):
        gauss = np.exp(-0.5 * (x / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
        got = np.asarray(voigt_profile(x, sigma, 0.0))
        sel = gauss > 1e-300
        np.testing.assert_allclose(got[sel], gauss[sel], rtol=1e-12)
        assert np.all(got[~sel] < 1e-290)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_small_sigma_is_lorentzian(dtype):
    x = np.concatenate([[0.0], np.logspace(-6, 6, 121)]).astype(dtype)
    gamma = dtype(0.7)
    lorentz = gamma / (np.pi * (x.astype(np.float64) ** 2 + 0.7**2))
    rtol = 1e-10 if dtype == np.float64 else 1e-5
    for sigma in (1e-8, 1e-30, 0.0):
        got = np.asarray(voigt_profile(x, dtype(sigma), gamma))
        assert got.dtype == dtype
        np.testing.assert_allclose(got, lorentz, rtol=rtol)


# (x, sigma, gamma): core, Gaussian wing, Lorentzian wings, and both sides of the region
# boundaries |z| = 8 and Im z = 0.1 (z = (x + iγ) / (σ√2)).
GRAD_POINTS = [
    (0.0, 1.0, 0.5),
    (0.3, 1.0, 0.5),
    (2.5, 0.7, 0.02),
    (4.0, 1.0, 1e-4),
    (40.0, 1.0, 0.3),
    (500.0, 2.0, 0.5),
    (3e4, 1.0, 1.0),
    (R_ASYMPTOTIC * np.sqrt(2) * 0.999, 1.0, 0.05),
    (R_ASYMPTOTIC * np.sqrt(2) * 1.001, 1.0, 0.05),
    (1.5, 1.0, Y_TAYLOR * np.sqrt(2) * 0.99),
    (6.0, 1.0, Y_TAYLOR * np.sqrt(2) * 1.01),
    (0.2, 0.1, 3.0),
    # On the boundaries: the finite differences straddle them.
    (R_ASYMPTOTIC * np.sqrt(2), 1.0, 0.05),
    (R_ASYMPTOTIC * np.sqrt(2) * np.cos(0.3), 1.0, R_ASYMPTOTIC * np.sqrt(2) * np.sin(0.3)),
    (6.0, 1.0, Y_TAYLOR * np.sqrt(2)),
]


@pytest.mark.parametrize("point", GRAD_POINTS)
def test_voigt_profile_gradients(point):
    args = tuple(jnp.asarray(p, jnp.float64) for p in point)
    # log V is O(1) from core to far wing, so the tolerance is meaningful everywhere.
    check_grads(
        lambda x, s, g: jnp.log(voigt_profile(x, s, g)),
        args,
        order=1,
        modes=("fwd", "rev"),
        atol=1e-9,
        rtol=1e-6,
        eps=1e-6,
    )


FADDEEVA_POINTS = [0.3 + 0.2j, 3.0 + 1e-3j, 7.9 + 0.5j, 8.1 + 0.5j, -50 + 20j, 2 - 0.5j]


@pytest.mark.parametrize("z", FADDEEVA_POINTS)
def test_faddeeva_gradients(z):
    check_grads(faddeeva, (jnp.asarray(z, jnp.complex128),), order=1, modes=("fwd", "rev"))


def test_faddeeva_derivatives_are_the_identity():
    """First and second derivatives: w' = −2zw + 2i/√π and w'' = −2w − 2zw'."""
    z = np.array(FADDEEVA_POINTS + [1e4 + 1e-8j, -30 + 1e3j])
    one = jnp.ones(z.shape, jnp.complex128)

    def derivative(z):
        return jax.jvp(faddeeva, (z,), (one,))[1]

    dw, d2w = jax.jit(lambda z: jax.jvp(derivative, (z,), (one,)))(jnp.asarray(z))
    w = sps.wofz(z)
    dw_ref = -2 * z * w + 2j / np.sqrt(np.pi)
    # Reference for |z| ≥ 8 without the cancellation: −(2i/√π) Σₖ (2k+1)!!/(2z²)ᵏ⁺¹,
    # 25 terms (the terms fall below 1e-17 of the first at |z| = 8).
    far = np.abs(z) >= 8
    u = 1 / z[far] ** 2
    term, total, total_dz = np.ones_like(u), np.zeros_like(u), np.zeros_like(u)
    for k in range(25):
        term = term * (2 * k + 1) / 2 * u
        total = total + term
        total_dz = total_dz - (2 * k + 2) * term / z[far]
    dw_ref[far] = -2j / np.sqrt(np.pi) * total
    d2w_ref = -2 * w - 2 * z * dw_ref
    d2w_ref[far] = -2j / np.sqrt(np.pi) * total_dz
    np.testing.assert_allclose(np.asarray(dw), dw_ref, rtol=2e-9)
    np.testing.assert_allclose(np.asarray(d2w), d2w_ref, rtol=1e-8)


def test_gradients_finite_at_gamma_zero_and_huge_x():
    grad = jax.jit(jax.grad(voigt_profile, argnums=(0, 1, 2)))
    sigma = 1.3
    for x in (0.0, 0.5, 3.0, 11.0, 1e3, 1e8, -1e12):
        dx, ds, dg = grad(x, sigma, 0.0)
        assert all(np.isfinite(float(d)) for d in (dx, ds, dg)), x
        # At γ = 0: the Gaussian's derivatives, and dV/dγ = −Im w'(v) / (σ² 2√π).
        v = x / (sigma * np.sqrt(2))
        gauss = np.exp(-(v**2)) / (sigma * np.sqrt(2 * np.pi))
        np.testing.assert_allclose(float(dx), -x / sigma**2 * gauss, rtol=1e-12, atol=1e-300)
        im_dw = -2 * v * sps.wofz(v + 0j).imag + 2 / np.sqrt(np.pi)
        if abs(v) < 1e4:  # beyond, the reference itself cancels catastrophically
            np.testing.assert_allclose(
                float(dg), -im_dw / (2 * np.sqrt(np.pi) * sigma**2), rtol=1e-8, atol=1e-300
            )
    for args in ((1e6, 1.0, 0.5), (-1e9, 0.1, 2.0), (3.0, 1e-30, 0.5), (0.0, 0.0, 0.5)):
        assert all(np.isfinite(float(d)) for d in grad(*args)), args


def test_jit_vmap_and_single_trace():
    x = jnp.linspace(-20, 20, 101)
    sigmas, gammas = [0.5, 1.0, 2.0], [0.0, 0.1, 3.0]
    rows = [voigt_profile(x, s, g) for s, g in zip(sigmas, gammas, strict=True)]
    batched = jax.vmap(voigt_profile, in_axes=(None, 0, 0))(
        x, jnp.asarray(sigmas), jnp.asarray(gammas)
    )
    np.testing.assert_allclose(np.asarray(batched), np.asarray(rows), rtol=1e-14)

    traces = []

    def profile(x, sigma, gamma):
        traces.append(None)
        return voigt_profile(x, sigma, gamma)

    jitted = jax.jit(profile)
    for s, g, row in zip(sigmas, gammas, rows, strict=True):
        np.testing.assert_allclose(np.asarray(jitted(x, s, g)), np.asarray(row), rtol=1e-14)
    assert len(traces) == 1

    w = jax.jit(jax.vmap(faddeeva))(jnp.ones((4, 3), jnp.complex64) * (1 + 1j))
    assert w.dtype == jnp.complex64 and w.shape == (4, 3)
    np.testing.assert_allclose(np.asarray(w), sps.wofz(1 + 1j), rtol=1e-6)


# --------------------------------------------------------------------------------------
# The fast paths used for line opacity
# --------------------------------------------------------------------------------------


def test_dawson_matches_scipy():
    from scipy.special import dawsn

    from jaxspec.synth.voigt import dawson

    x = np.linspace(-40.0, 40.0, 80001)
    assert np.abs(np.asarray(dawson(x)) - dawsn(x)).max() < 1e-10
    # derivative identity F'(x) = 1 − 2x F(x)
    g = jax.vmap(jax.grad(dawson))(jnp.asarray([0.3, 2.7, 7.9, 8.1, 15.0]))
    ref = 1 - 2 * np.array([0.3, 2.7, 7.9, 8.1, 15.0]) * dawsn([0.3, 2.7, 7.9, 8.1, 15.0])
    np.testing.assert_allclose(np.asarray(g), ref, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize(
    ("a_lo", "a_hi", "abs_tol", "rel_tol"),
    [(1e-8, 0.3, 1e-7, 1e-5), (0.3, 0.8, 3e-5, 1e-4), (0.8, 1000.0, 1e-5, 1.5e-4)],
)
def test_voigt_hjerting_fast_accuracy(a_lo, a_hi, abs_tol, rel_tol):
    from scipy.special import wofz

    from jaxspec.synth.voigt import voigt_hjerting_fast

    v = np.linspace(-60.0, 60.0, 12001)[:, None]
    a = np.geomspace(a_lo, a_hi, 40)[None, :]
    ref = wofz(v + 1j * a).real
    got = np.asarray(voigt_hjerting_fast(a, v))
    err = np.abs(got - ref)
    assert err.max() < abs_tol
    assert (err / ref).max() < rel_tol  # relative, also in the far wings


def test_voigt_hjerting_core_is_accurate_in_absolute_terms():
    from scipy.special import wofz

    from jaxspec.synth.voigt import voigt_hjerting_core

    v = np.linspace(-40.0, 40.0, 8001)[:, None]
    a = np.geomspace(1e-6, 5.0, 40)[None, :]
    err = np.abs(np.asarray(voigt_hjerting_core(a, v)) - wofz(v + 1j * a).real)
    assert err.max() < 3e-5


def test_voigt_hjerting_fast_gradients():
    from jax.test_util import check_grads

    from jaxspec.synth.voigt import voigt_hjerting_fast

    for a, v in [(0.01, 0.7), (0.3, 3.1), (1.5, 2.0), (0.05, 12.0)]:
        check_grads(voigt_hjerting_fast, (a, v), order=1, modes=("fwd", "rev"))
