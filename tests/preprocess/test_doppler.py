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
    return Spectrum(
        wave, np.broadcast_to(flux, batch + flux.shape), np.full(batch + flux.shape, 1e4)
    )


def _centroid(spec):
    depth = np.where(spec.mask, 0.0, 1.0 - np.asarray(spec.flux, np.float64))
    return np.sum(np.asarray(spec.wave, np.float64) * depth, axis=-1) / np.sum(depth, axis=-1)


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
    check_grads(
        lambda rv: jnp.sum(doppler_shift(s, rv).flux ** 2), (3.37,), order=1, modes=["fwd", "rev"]
    )


def test_small_shifts_are_resolved_in_float32():
    # APOGEE-like grid in float32: 16000 Å is rounded to ~0.001 Å (0.02 km/s), yet shifts
    # of 0.02 km/s must be recovered, because the shift is applied as an offset.
    wave = (10 ** (4.179 + 6e-6 * np.arange(8575))).astype(np.float32)
    flux = (1 - 0.5 * np.exp(-0.5 * ((wave - 16000.0) / 0.3) ** 2)).astype(np.float32)
    s = Spectrum(wave, flux)
    for rv in (0.02, 0.1, 1.0):
        shifted = doppler_shift(s, rv)
        assert shifted.flux.dtype == np.float32
        measured = (_centroid(shifted) - _centroid(s)) / 16000.0 * SPEED_OF_LIGHT_KMS
        assert measured == pytest.approx(rv, rel=0.03, abs=0.002)
    # The mismatch to the unshifted spectrum grows smoothly with rv (no plateaus).
    chi2 = [
        float(np.sum((np.asarray(doppler_shift(s, rv).flux) - flux)[1000:-1000] ** 2))
        for rv in np.linspace(0.0, 0.05, 11)
    ]
    assert np.all(np.diff(chi2) > 0)


def test_metadata_follows_the_shift():
    s = _line_spectrum()
    observed = s.with_meta(frame="topocentric", radial_velocity=-44.42)
    rest = doppler_shift(observed, 44.42)
    assert rest.meta.frame == "rest" and rest.meta.radial_velocity is None
    moved = doppler_shift(rest, 30.0)
    assert moved.meta.frame == "unknown" and moved.meta.radial_velocity == pytest.approx(30.0)
    composed = doppler_shift(moved, 30.0, keep_grid=False)
    # Relativistic composition: slightly less than 60 km/s.
    assert composed.meta.radial_velocity == pytest.approx(59.99999, abs=1e-4)
    assert composed.meta.radial_velocity < 60.0
    batch = Spectrum(s.wave, np.stack([s.flux] * 2))
    assert doppler_shift(batch, jnp.array([1.0, 2.0])).meta.radial_velocity is None


def test_velocity_must_be_below_c():
    with pytest.raises(Exception, match="below c"):
        doppler_shift(_line_spectrum(), 3.1e5)


def test_velocity_shape_must_match_batch():
    batch = _line_spectrum(batch=(2,))
    with pytest.raises(Exception, match=r"batch shape \(2,\)"):
        doppler_shift(batch, jnp.ones(3))
