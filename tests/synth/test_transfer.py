"""Radiative transfer: exponential integrals and the emergent flux of simple source functions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy.special import exp1, expn

from jaxspec.synth.transfer import (
    emergent_flux,
    exponential_integral_e1,
    exponential_integrals,
    optical_depth,
    planck,
)


def test_e1_matches_scipy():
    x = np.concatenate([10 ** np.linspace(-12, 0, 500), np.linspace(1, 600, 4000)])
    np.testing.assert_allclose(np.asarray(exponential_integral_e1(x)), exp1(x), rtol=1e-10)


def test_higher_exponential_integrals():
    x = np.concatenate([[0.0], 10 ** np.linspace(-10, 2.5, 800)])
    for n, value in zip((2, 3, 4), exponential_integrals(x), strict=True):
        ref = expn(n, x)
        keep = ref > 1e-250
        np.testing.assert_allclose(np.asarray(value)[keep], ref[keep], rtol=1e-8)


def _tau(n=60):
    return jnp.asarray(10 ** np.linspace(-7, 3, n))[:, None]


def test_isothermal_half_space_gives_pi_b():
    source = 3.0 * jnp.ones((60, 2))
    np.testing.assert_allclose(np.asarray(emergent_flux(_tau() * jnp.ones(2), source)), 3 * np.pi)


@pytest.mark.parametrize("slope", [0.0, 0.5, 4.0])
def test_eddington_barbier_is_exact_for_linear_source(slope):
    tau = _tau(80)
    source = 1.0 + slope * tau
    # F = π (a + 2b/3) for S = a + b τ
    np.testing.assert_allclose(
        np.asarray(emergent_flux(tau, source))[0], np.pi * (1 + 2 * slope / 3), rtol=1e-12
    )


def test_planck_integrates_to_sigma_t4():
    wave = np.geomspace(500.0, 5e6, 200001)
    b = np.asarray(planck(wave, jnp.asarray([5777.0])))[0]
    sigma = 5.670374419e-5
    np.testing.assert_allclose(np.pi * np.trapezoid(b, wave), sigma * 5777.0**4, rtol=1e-4)


def test_optical_depth_of_uniform_slab():
    rhox = jnp.asarray(np.linspace(0.1, 10.0, 50))
    density = jnp.full(50, 2.0)
    extinction = jnp.full((50, 3), 4.0)  # cm^-1 -> 2 cm^2/g
    np.testing.assert_allclose(np.asarray(optical_depth(extinction, density, rhox))[:, 0], 2 * rhox)


def test_flux_gradients_and_grey_atmosphere_limb():
    tau = _tau(40)

    def flux(t_eff):
        # Eddington grey atmosphere T^4 = 3/4 Teff^4 (tau + 2/3): flux ≈ σ Teff^4 / π per sr
        t = (0.75 * t_eff**4 * (tau[:, 0] + 2.0 / 3.0)) ** 0.25
        s = 5.670374419e-5 * t**4 / np.pi
        return emergent_flux(tau, s[:, None])[0]

    ratio = float(flux(5000.0)) / (5.670374419e-5 * 5000.0**4)
    assert abs(ratio - 1.0) < 0.02  # Eddington approximation is ~1 % off the exact grey flux
    check_grads(flux, (5000.0,), order=1, modes=("fwd", "rev"), rtol=1e-5)


def test_vmap_over_wavelength_batches():
    tau = _tau(30) * jnp.asarray([1.0, 2.0, 5.0])
    source = 1.0 + tau
    batched = jax.vmap(emergent_flux, in_axes=(1, 1))(tau[:, :, None], source[:, :, None])
    np.testing.assert_allclose(np.asarray(batched)[:, 0], np.asarray(emergent_flux(tau, source)))
