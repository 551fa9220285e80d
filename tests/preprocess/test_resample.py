import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxspec import Spectrum, SpectrumValidationError
from jaxspec.preprocess import log_linear_grid, pixel_edges, resample


def _integral(spec):
    edges = np.asarray(pixel_edges(jnp.asarray(spec.wave)))
    return np.sum(np.asarray(spec.flux) * np.diff(edges))


def test_identity_resample_is_exact(rng):
    wave = np.sort(rng.uniform(5000, 5100, 300))
    s = Spectrum(wave, rng.normal(1, 0.1, 300), rng.uniform(1, 10, 300))
    out = resample(s, wave)
    np.testing.assert_allclose(out.flux, s.flux, rtol=1e-12)
    np.testing.assert_allclose(out.ivar, s.ivar, rtol=1e-12)
    assert not np.any(out.mask)


def test_flux_integral_is_conserved(rng):
    wave = log_linear_grid(5000, 5100, n_pix=2000)
    flux = 1 + 0.3 * np.sin(wave / 3.0) + rng.normal(0, 0.01, wave.size)
    s = Spectrum(wave, flux)
    new_edges = np.linspace(
        pixel_edges(jnp.asarray(wave))[0], pixel_edges(jnp.asarray(wave))[-1], 701
    )
    new_wave = 0.5 * (new_edges[1:] + new_edges[:-1])
    out = resample(s, new_wave)
    assert not np.any(out.mask)
    np.testing.assert_allclose(
        np.sum(np.asarray(out.flux) * np.diff(new_edges)), _integral(s), rtol=1e-12
    )


def test_ivar_propagation_matches_monte_carlo(key):
    wave = np.linspace(5000, 5100, 400)
    sigma = np.linspace(0.5, 2.0, 400)
    truth = Spectrum(wave, np.ones(400), sigma**-2)
    new_wave = np.linspace(5002, 5098, 137)
    draws = jnp.ones((4000, 400)) + sigma * jax.random.normal(key, (4000, 400))
    batch = Spectrum(wave, draws, np.broadcast_to(sigma**-2, (4000, 400)))
    out = resample(batch, new_wave)
    predicted = 1.0 / np.sqrt(np.asarray(resample(truth, new_wave).ivar))
    measured = np.std(np.asarray(out.flux), axis=0)
    np.testing.assert_allclose(measured, predicted, rtol=0.06)


def test_downsample_by_two_adds_inverse_variances():
    wave = np.arange(1.0, 101.0)
    s = Spectrum(wave, np.arange(100.0), np.full(100, 3.0))
    out = resample(s, wave[::2] + 0.5)
    np.testing.assert_allclose(out.flux, np.arange(100.0)[::2] + 0.5)
    np.testing.assert_allclose(out.ivar, 6.0)


def test_mask_and_coverage():
    wave = np.arange(1.0, 101.0)
    mask = np.zeros(100, bool)
    mask[50] = True
    s = Spectrum(wave, np.ones(100), mask=mask)
    out = resample(s, np.arange(0.25, 110.0, 2.0))
    new = np.asarray(out.wave)
    # Outside the old coverage, and every new pixel touching old pixel 51 (index 50).
    assert np.all(out.mask[(new < 1.5) | (new > 99.5)])
    assert np.all(out.mask[np.abs(new - 51.0) < 1.5])
    assert not np.any(out.mask[(new > 3) & (new < 48)])
    lenient = resample(s, np.arange(4.0, 97.0, 4.0), max_bad_fraction=0.5)
    assert not np.any(lenient.mask)
    np.testing.assert_allclose(lenient.flux, 1.0)


def test_batch_with_per_spectrum_grids_and_jit():
    wave = np.stack([np.linspace(5000, 5100, 200), np.linspace(5001, 5101, 200)])
    flux = np.stack([np.linspace(0, 1, 200), np.linspace(1, 2, 200)])
    s = Spectrum(wave, flux)
    new_wave = np.linspace(5010, 5090, 50)
    out = jax.jit(resample)(s, new_wave)
    assert out.batch_shape == (2,) and out.shared_wave
    np.testing.assert_allclose(out.flux[0], np.interp(new_wave, wave[0], flux[0]), atol=2e-3)
    np.testing.assert_allclose(out.flux[1], np.interp(new_wave, wave[1], flux[1]), atol=2e-3)


def test_gradient_with_respect_to_flux_and_grid():
    wave = jnp.linspace(5000.0, 5010.0, 30)
    new = jnp.linspace(5001.0, 5009.0, 17)
    flux = jnp.sin(wave)

    def f(flux, shift):
        return jnp.sum(resample(Spectrum(wave, flux), new + shift).flux ** 2)

    check_grads(f, (flux, 0.013), order=1, modes=["fwd", "rev"])


def test_bad_new_grid_raises():
    s = Spectrum(np.arange(1.0, 11.0), np.ones(10))
    with pytest.raises(SpectrumValidationError, match="strictly increasing"):
        resample(s, np.array([3.0, 2.0, 4.0]))
    with pytest.raises(SpectrumValidationError, match="at least 2 pixels"):
        resample(s, np.array([3.0]))
    with pytest.raises(SpectrumValidationError, match="max_bad_fraction"):
        resample(s, np.arange(2.0, 5.0), max_bad_fraction=1.5)


def test_log_linear_grid():
    grid = log_linear_grid(15000, 17000, resolution=22500, sampling=3)
    steps = np.diff(np.log(grid))
    np.testing.assert_allclose(steps, steps[0], rtol=1e-9)
    assert steps[0] == pytest.approx(1 / 67500, rel=1e-3)
    with pytest.raises(ValueError, match="exactly one"):
        log_linear_grid(1, 2)
