import jax
import numpy as np
import pytest

from jaxspec import Spectrum, SpectrumValidationError
from jaxspec.data import apogee_example_path
from jaxspec.preprocess import APOGEE_CHIPS, continuum_normalize, fit_continuum, log_linear_grid


def _lined_spectrum(rng, snr=200.0):
    wave = log_linear_grid(5000, 5500, resolution=20000, sampling=3)
    x = (wave - 5250) / 250
    continuum = 1000 * (1 + 0.2 * x - 0.1 * x**2 + 0.05 * x**3)
    centers = rng.uniform(5005, 5495, 120)
    depths = rng.uniform(0.05, 0.7, 120)
    lines = np.prod(
        1 - depths[:, None] * np.exp(-0.5 * ((wave - centers[:, None]) / 0.15) ** 2), axis=0
    )
    noise = rng.normal(0, 1 / snr, wave.size)
    flux = continuum * (lines + noise)
    return Spectrum(wave, flux, (continuum / snr) ** -2), continuum


def test_polynomial_recovers_continuum_under_lines(rng):
    spec, continuum = _lined_spectrum(rng)
    fit = np.asarray(fit_continuum(spec, order=3))
    np.testing.assert_allclose(fit, continuum, rtol=0.005)


def test_quantile_recovers_continuum_under_lines(rng):
    spec, continuum = _lined_spectrum(rng)
    fit = np.asarray(fit_continuum(spec, method="quantile", window=20.0, quantile=0.95))
    core = slice(200, -200)
    # A running quantile is biased by the continuum slope across the window (~1 % here).
    np.testing.assert_allclose(fit[core], continuum[core], rtol=0.03)
    assert abs(np.median(fit[core] / continuum[core]) - 1) < 0.015


def test_normalisation_keeps_snr_and_sets_unit(rng):
    spec, _ = _lined_spectrum(rng)
    spec = spec.with_meta(flux_unit="1e-17 erg / (s cm2 Angstrom)")
    norm = continuum_normalize(spec)
    assert norm.meta.flux_unit == ""
    snr_in = np.asarray(spec.flux) * np.sqrt(np.asarray(spec.ivar))
    snr_out = np.asarray(norm.flux) * np.sqrt(np.asarray(norm.ivar))
    np.testing.assert_allclose(snr_out, snr_in, rtol=1e-10)
    assert np.median(np.asarray(norm.flux)) == pytest.approx(0.95, abs=0.05)


def test_segments_fit_independent_levels():
    wave = np.linspace(1000, 2000, 1000)
    flux = np.where(wave < 1500, 10.0, 20.0) * (1 + 0.1 * (wave - 1500) / 500)
    mask = (wave > 1490) & (wave < 1510)
    spec = Spectrum(wave, flux, mask=mask)
    fit = np.asarray(fit_continuum(spec, order=1, segments=[(1000, 1490), (1510, 2000)]))
    np.testing.assert_allclose(fit[~mask], flux[~mask], rtol=1e-8)
    assert np.all(np.isnan(fit[mask]))
    norm = continuum_normalize(spec, order=1, segments=[(1000, 1490), (1510, 2000)])
    np.testing.assert_array_equal(norm.mask, mask)


def test_real_apogee_spectrum_per_chip():
    from astropy.io import fits

    with fits.open(apogee_example_path()) as hdul:
        flux, err = hdul[1].data[0], hdul[2].data[0]
    wave = 10 ** (4.179 + 6e-6 * np.arange(flux.size))
    with np.errstate(divide="ignore", invalid="ignore"):
        spec = Spectrum(wave, flux, np.where(err > 0, err**-2.0, 0.0))
    norm = continuum_normalize(spec, segments=APOGEE_CHIPS)
    good = ~np.asarray(norm.mask)
    assert good.sum() > 7000
    # A normalised cool-dwarf H-band spectrum sits just under 1 with few pixels above 1.05.
    assert 0.95 < np.median(np.asarray(norm.flux)[good]) < 1.01
    assert np.mean(np.asarray(norm.flux)[good] > 1.05) < 0.03


def test_batched_and_jitted(rng):
    spec, continuum = _lined_spectrum(rng)
    batch = Spectrum(
        spec.wave, np.stack([spec.flux, 2 * spec.flux]), np.stack([spec.ivar, spec.ivar / 4])
    )
    fit = jax.jit(lambda s: fit_continuum(s))(batch)
    np.testing.assert_allclose(fit[1], 2 * fit[0], rtol=1e-9)


def test_bad_arguments():
    spec = Spectrum(np.arange(1.0, 11.0), np.ones(10))
    with pytest.raises(SpectrumValidationError, match="unknown continuum method 'spline3'"):
        fit_continuum(spec, method="spline3")
    with pytest.raises(SpectrumValidationError, match="wave_min < wave_max"):
        fit_continuum(spec, segments=[(5.0, 2.0)])
    with pytest.raises(SpectrumValidationError, match="quantile must be in"):
        fit_continuum(spec, method="quantile", quantile=1.5)
