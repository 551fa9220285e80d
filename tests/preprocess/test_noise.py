import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxspec import Spectrum, SpectrumValidationError
from jaxspec.preprocess import add_noise


def _model(n=100_000, batch=(), depth=0.3):
    wave = np.linspace(5000.0, 6000.0, n)
    flux = 1 - depth * np.sin(wave / 2.0) ** 8  # line-like dips, median just under 1
    return Spectrum(wave, np.broadcast_to(flux, batch + (n,)))


@pytest.mark.parametrize("snr", [5.0, 20.0, 100.0])
def test_requested_snr_within_two_percent(snr, key):
    # A continuum with weak lines over 1e5 pixels: the measured median S/N hits the target.
    model = _model(depth=0.05)
    noisy = add_noise(model, snr, key=key)
    assert float(noisy.median_snr()) == pytest.approx(snr, rel=0.02)


@pytest.mark.parametrize("snr", [5.0, 20.0, 100.0])
def test_ivar_matches_the_drawn_noise(snr, key):
    model = _model()
    noisy = add_noise(model, snr, key=key)
    level = np.median(np.asarray(model.flux))
    np.testing.assert_allclose(level * np.sqrt(np.asarray(noisy.ivar)), snr, rtol=1e-12)
    pulls = (np.asarray(noisy.flux) - np.asarray(model.flux)) * np.sqrt(np.asarray(noisy.ivar))
    assert np.std(pulls) == pytest.approx(1.0, rel=0.01)
    assert abs(np.mean(pulls)) < 0.01


def test_poisson_noise_scales_with_sqrt_flux(key):
    model = _model()
    noisy = add_noise(model, 50.0, key=key, kind="poisson")
    sigma = 1 / np.sqrt(np.asarray(noisy.ivar))
    flux = np.asarray(model.flux)
    ratio = sigma / np.sqrt(flux)
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-10)
    # S/N = snr at the median flux level.
    at_median = np.argmin(np.abs(flux - np.median(flux)))
    assert flux[at_median] / sigma[at_median] == pytest.approx(50.0, rel=1e-3)


def test_batch_gets_independent_noise_and_per_spectrum_snr(key):
    batch = _model(n=20_000, batch=(3,), depth=0.05)
    noisy = add_noise(batch, jnp.array([10.0, 10.0, 40.0]), key=key)
    resid = np.asarray(noisy.flux) - np.asarray(batch.flux)
    assert abs(np.corrcoef(resid[0], resid[1])[0, 1]) < 0.03
    np.testing.assert_allclose(np.asarray(noisy.median_snr()), [10, 10, 40], rtol=0.03)


def test_masked_pixels_stay_masked_and_same_key_reproduces(key):
    model = _model(n=1000)
    mask = np.zeros(1000, bool)
    mask[10:20] = True
    model = model.with_mask(mask)
    a = add_noise(model, 30.0, key=key)
    b = jax.jit(lambda s, k: add_noise(s, 30.0, key=k))(model, key)
    np.testing.assert_array_equal(a.mask, mask)
    np.testing.assert_array_equal(np.asarray(a.ivar)[mask], 0.0)
    np.testing.assert_allclose(a.flux, b.flux)


def test_bad_arguments(key):
    with pytest.raises(SpectrumValidationError, match="snr must be finite and > 0"):
        add_noise(_model(n=10), 0.0, key=key)
    with pytest.raises(SpectrumValidationError, match="kind must be one of"):
        add_noise(_model(n=10), 10.0, key=key, kind="uniform")
    with pytest.raises(SpectrumValidationError, match="batch shape"):
        add_noise(_model(n=10, batch=(2,)), jnp.ones(3), key=key)
