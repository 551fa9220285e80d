import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxspec import Spectrum
from jaxspec.preprocess import SPEED_OF_LIGHT_KMS, doppler_factor, doppler_shift, log_linear_grid


def _line_spectrum(center=5050.0, sigma=0.08, batch=()):
    wave = log_linear_grid(5000, 5100, resolution=100000, sampling=4)
    flux = 1 - 0.6 * np.exp(-0.5 * ((wave - center) / sigma) ** 2)
    return Spectrum(wave, np.broadcast_to(flux, batch + flux.shape), np.full(batch + flux.shape, 1e4))


def _centroid(spec):
    depth = np.where(spec.mask, 0.0, 1.0 - np.asarray(spec.flux))
    return np.sum(np.asarray(spec.wave) * depth, axis=-1) / np.sum(depth, axis=-1)


def test_relativistic_factor():
    beta = 0.1
    assert float(doppler_factor(beta * SPEED_OF_LIGHT_KMS)) == pytest.approx(np.sqrt(1.1 / 0.9))
    assert float(doppler_factor(0.0)) == 1.0


@pytest.mark.parametrize("rv", [-150.0, -12.3, 7.0, 250.0])
def test_line_moves_by_lambda_v_over_c(rv):
    s = _line_spectrum()
    shifted = doppler_shift(s, rv)
    expected = 5050.0 * (float(doppler_factor(rv)) - 1.0)  # ≈ λ v / c
    assert expected == pytest.approx(5050.0 * rv / SPEED_OF_LIGHT_KMS, rel=1e-3)
    assert _centroid(shifted) - _centroid(s) == pytest.approx(expected, abs=2e-4)


def test_keep_grid_false_scales_wavelengths_exactly():
    s = _line_spectrum()
    out = doppler_shift(s, 30.0, keep_grid=False)
    np.testing.assert_allclose(out.wave, s.wave * float(doppler_factor(30.0)), rtol=1e-15)
    np.testing.assert_array_equal(out.flux, s.flux)


def test_round_trip_and_edges_masked():
    s = _line_spectrum()
    back = doppler_shift(doppler_shift(s, 40.0), -40.0)
    good = ~np.asarray(back.mask)
    assert back.mask[0] and back.mask[-1]
    np.testing.assert_allclose(np.asarray(back.flux)[good], np.asarray(s.flux)[good], atol=0.02)
    assert _centroid(back) == pytest.approx(_centroid(s), abs=1e-4)


def test_batch_of_velocities_under_jit():
    s = _line_spectrum(batch=(3,))
    rvs = jnp.array([-20.0, 0.0, 35.0])
    out = jax.jit(doppler_shift)(s, rvs)
    shifts = _centroid(out) - 5050.0
    np.testing.assert_allclose(shifts, 5050.0 * (np.asarray(doppler_factor(rvs)) - 1), atol=3e-4)


def test_gradient_in_velocity():
    s = _line_spectrum()
    s = Spectrum(jnp.asarray(s.wave), jnp.asarray(s.flux), jnp.asarray(s.ivar))
    check_grads(lambda rv: jnp.sum(doppler_shift(s, rv).flux ** 2), (3.37,), order=1, modes=["fwd", "rev"])
