"""Training augmentation: each step does what it says, alone and together, and bad input fails."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxspec.augment import NO_AUGMENTATION, AugmentConfig, augment, model_inputs

C_KMS = 299_792.458
R = 20_000.0


def _wave(n=1500, lo=5000.0, hi=5100.0):
    return np.exp(np.linspace(np.log(lo), np.log(hi), n))


def _line_spectra(n_spec, wave, centre=5050.0, depth=0.6, sigma=0.08):
    flux = 1.0 - depth * np.exp(-0.5 * ((wave - centre) / sigma) ** 2)
    return np.tile(flux.astype(np.float32), (n_spec, 1))


def _only(**kwargs):
    return dataclasses.replace(NO_AUGMENTATION, **kwargs)


def test_no_augmentation_is_the_identity():
    wave = _wave()
    flux = _line_spectra(3, wave)
    out = augment(jax.random.key(0), flux, wave, NO_AUGMENTATION, resolution=R)
    np.testing.assert_array_equal(np.asarray(out.flux), flux)
    assert not np.asarray(out.mask).any() and not np.asarray(out.ivar).any()
    assert np.all(np.isinf(np.asarray(out.snr)))


def test_noise_has_the_drawn_snr_and_ivar():
    wave = _wave()
    flux = np.ones((200, wave.size), np.float32)
    out = augment(jax.random.key(1), flux, wave, _only(snr_range=(5.0, 200.0)))
    snr = np.asarray(out.snr)
    assert snr.min() >= 5.0 and snr.max() <= 200.0
    # log-uniform: the median is near the geometric mean, sqrt(5 * 200) = 31.6
    assert 20 < np.median(snr) < 50
    pulls = (np.asarray(out.flux) - 1.0) * snr[:, None]
    assert abs(pulls.std() - 1.0) < 0.01
    np.testing.assert_allclose(np.asarray(out.ivar), np.broadcast_to(snr[:, None] ** 2, flux.shape))


def test_rv_shift_moves_a_line_by_lambda_v_over_c():
    wave = _wave()
    flux = _line_spectra(64, wave)
    out = augment(jax.random.key(2), flux, wave, _only(rv_max=30.0))
    depth = 1.0 - np.asarray(out.flux, dtype=np.float64)
    centroid = (depth * wave).sum(1) / depth.sum(1)
    shifts_kms = (centroid / 5050.0 - 1.0) * C_KMS
    assert np.abs(shifts_kms).max() <= 30.5
    assert shifts_kms.std() > 10.0  # the velocities are spread over ±30 km/s
    # the same key gives the same velocities: the centroid shift is reproducible
    again = augment(jax.random.key(2), flux, wave, _only(rv_max=30.0))
    np.testing.assert_array_equal(np.asarray(again.flux), np.asarray(out.flux))


def test_resolution_degradation_conserves_equivalent_width_and_widens_lines():
    wave = _wave()
    flux = _line_spectra(32, wave)
    cfg = _only(p_resolution=1.0, resolution_min_fraction=0.3, max_kernel_half_width=12)
    out = np.asarray(augment(jax.random.key(3), flux, wave, cfg, resolution=R).flux)
    dw = np.gradient(wave)
    ew_in = ((1 - flux) * dw).sum(1)
    ew_out = ((1 - out) * dw).sum(1)
    np.testing.assert_allclose(ew_out, ew_in, rtol=2e-3)
    assert np.all((1 - out).max(1) <= (1 - flux).max(1) + 1e-6)
    assert ((1 - out).max(1) < 0.99 * (1 - flux).max(1)).mean() > 0.5


def test_continuum_perturbation_is_a_smooth_low_order_factor():
    wave = _wave()
    flux = _line_spectra(16, wave)
    out = augment(jax.random.key(4), flux, wave, _only(continuum_order=2, continuum_sigma=0.05))
    ratio = np.asarray(out.flux, np.float64) / flux
    x = 2 * (wave - wave[0]) / (wave[-1] - wave[0]) - 1
    for r in ratio:
        fit = np.polynomial.chebyshev.chebfit(x, r, 2)
        np.testing.assert_allclose(np.polynomial.chebyshev.chebval(x, fit), r, atol=2e-6)
    assert ratio.std(axis=1).max() > 0.01


def test_masked_chunks_are_contiguous_flagged_and_keep_input_masks():
    wave = _wave()
    flux = _line_spectra(100, wave)
    given = np.zeros(flux.shape, bool)
    given[:, :5] = True
    cfg = _only(mask_chunks_mean=2.0, mask_chunk_max_fraction=0.05, snr_range=(50.0, 50.0))
    out = augment(jax.random.key(5), flux, wave, cfg, mask=given)
    mask = np.asarray(out.mask)
    assert mask[:, :5].all()
    extra = mask & ~given
    assert 0.2 < extra.any(1).mean() < 1.0  # Poisson(2): most spectra get a chunk, some none
    assert np.all(np.asarray(out.flux)[mask] == 1.0) and np.all(np.asarray(out.ivar)[mask] == 0)
    assert np.all(np.asarray(out.ivar)[~mask] == pytest.approx(2500.0))


def test_defaults_run_under_jit_and_keys_matter():
    wave = _wave(400)
    flux = _line_spectra(8, wave)
    fn = jax.jit(lambda k, f: augment(k, f, wave, AugmentConfig(), resolution=R))
    a, b = fn(jax.random.key(6), flux), fn(jax.random.key(7), flux)
    assert a.flux.shape == flux.shape and a.flux.dtype == jnp.float32
    assert np.all(np.isfinite(np.asarray(a.flux)))
    assert not np.array_equal(np.asarray(a.flux), np.asarray(b.flux))


def test_model_inputs_centre_flux_and_carry_the_mask():
    flux = jnp.array([[1.1, 0.5, 0.9]], jnp.float32)
    mask = jnp.array([[False, True, False]])
    x = np.asarray(model_inputs(flux, mask))
    assert x.shape == (1, 3, 2)
    np.testing.assert_allclose(x[0, :, 0], [0.1, 0.0, -0.1], atol=1e-6)
    np.testing.assert_array_equal(x[0, :, 1], [0, 1, 0])


def test_config_round_trips_through_a_dict():
    cfg = AugmentConfig(snr_range=(10, 100), rv_max=3.0)
    assert AugmentConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"snr_range": (0.0, 10.0)}, "snr_range"),
        ({"snr_range": (20.0, 10.0)}, "snr_range"),
        ({"rv_max": -1.0}, "rv_max"),
        ({"p_resolution": 1.5}, "p_resolution"),
        ({"mask_chunk_max_fraction": 1.0}, "mask_chunk_max_fraction"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AugmentConfig(**kwargs)


def test_bad_arrays_are_refused():
    wave = _wave(50)
    flux = np.ones((2, 50), np.float32)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="to match wave"):
        augment(key, flux[:, :40], wave)
    with pytest.raises(ValueError, match="strictly increasing"):
        augment(key, flux, wave[::-1])
    with pytest.raises(ValueError, match="mask must have the shape"):
        augment(key, flux, wave, mask=np.zeros((2, 49), bool))
