import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxspec import Spectrum, SpectrumValidationError
from jaxspec.preprocess import (
    SPEED_OF_LIGHT_KMS,
    convolve_resolution,
    log_linear_grid,
    pixel_edges,
    rotational_broadening,
)

CENTER = 5050.0


def _line(sigma=0.01, depth=0.5, sampling=6.0):
    wave = log_linear_grid(5000, 5100, resolution=100000, sampling=sampling)
    flux = 1 - depth * np.exp(-0.5 * ((wave - CENTER) / sigma) ** 2)
    return Spectrum(wave, flux, np.full(wave.size, 1e4))


def _equivalent_width(spec):
    """Equivalent width [Å] over the good pixels (masked edges hold no line)."""
    edges = np.asarray(pixel_edges(jnp.asarray(spec.wave)))
    depth = np.where(spec.mask, 0.0, 1 - np.asarray(spec.flux))
    return np.sum(depth * np.diff(edges))


def _fwhm(spec):
    """FWHM of an absorption line by linear interpolation of the half-depth crossings."""
    wave = np.asarray(spec.wave)
    depth = np.where(spec.mask, 0.0, 1 - np.asarray(spec.flux))
    half = depth.max() / 2
    i = np.flatnonzero(depth >= half)
    lo, hi = i[0], i[-1]
    left = np.interp(half, [depth[lo - 1], depth[lo]], [wave[lo - 1], wave[lo]])
    right = np.interp(half, [depth[hi + 1], depth[hi]], [wave[hi + 1], wave[hi]])
    return right - left


@pytest.mark.parametrize("resolution", [5000.0, 22500.0, 50000.0])
def test_lsf_conserves_flux_and_gives_expected_fwhm(resolution):
    s = _line()
    out = convolve_resolution(s, resolution)
    assert _equivalent_width(out) == pytest.approx(_equivalent_width(s), rel=1e-6)
    expected = np.hypot(2.3548 * 0.01, CENTER / resolution)
    assert _fwhm(out) == pytest.approx(expected, rel=0.01)
    assert out.meta.resolution == resolution


def test_lsf_from_finite_input_resolution_adds_in_quadrature():
    s = _line(sigma=0.005)
    once = convolve_resolution(s, 20000.0)
    twice = convolve_resolution(once, 10000.0, resolution_in=20000.0)
    direct = convolve_resolution(s, 10000.0)
    both = ~np.asarray(twice.mask) & ~np.asarray(direct.mask)
    assert both.sum() > 0.9 * s.n_pix
    np.testing.assert_allclose(
        np.asarray(twice.flux)[both], np.asarray(direct.flux)[both], atol=2e-4
    )


def test_lsf_propagates_variance_and_mask():
    s = _line()
    mask = np.zeros(s.n_pix, bool)
    mask[1000:1003] = True
    out = convolve_resolution(s.with_mask(mask), 10000.0)
    assert np.all(out.mask[1000:1003]) and not np.any(out.mask[1100:-200])
    # Smoothing averages independent pixels, so the variance drops (ivar rises).
    assert np.all(np.asarray(out.ivar)[1100:2000] > 1e4 * 5)


def test_lsf_bad_arguments():
    s = _line()
    with pytest.raises(SpectrumValidationError, match="resolution must be finite and > 0"):
        convolve_resolution(s, -5.0)
    with pytest.raises(SpectrumValidationError, match="cannot raise the resolving power"):
        convolve_resolution(s, 30000.0, resolution_in=20000.0)
    with pytest.raises(SpectrumValidationError, match="half_window"):
        jax.jit(lambda r: convolve_resolution(s, r).flux)(10000.0)


def _rotation_reference(spec, vsini, eps):
    """Direct numerical convolution with Gray's kernel on a 20× finer grid."""
    wave = np.asarray(spec.wave)
    fine = np.exp(np.linspace(np.log(wave[0]), np.log(wave[-1]), 20 * wave.size))
    flux = np.interp(fine, wave, np.asarray(spec.flux))
    dv = np.diff(np.log(fine))[0] * SPEED_OF_LIGHT_KMS
    half = int(np.ceil(vsini / dv))
    x = np.arange(-half, half + 1) * dv / vsini
    inside = np.abs(x) < 1
    kernel = np.where(
        inside,
        2 * (1 - eps) * np.sqrt(np.clip(1 - x**2, 0, None)) + np.pi * eps / 2 * (1 - x**2),
        0,
    )
    kernel /= kernel.sum()
    conv = np.convolve(flux, kernel, mode="same")
    return np.interp(wave, fine, conv)


@pytest.mark.parametrize("vsini, eps", [(10.0, 0.6), (40.0, 0.0), (80.0, 1.0)])
def test_rotation_matches_direct_convolution(vsini, eps):
    s = _line(sigma=0.05)
    out = rotational_broadening(s, vsini, eps)
    ref = _rotation_reference(s, vsini, eps)
    core = slice(500, -500)
    np.testing.assert_allclose(np.asarray(out.flux)[core], ref[core], atol=2e-3)
    assert _equivalent_width(out) == pytest.approx(_equivalent_width(s), rel=1e-6)


def test_rotation_zero_velocity_is_identity_and_gradient_finite():
    s = _line(sigma=0.05)
    out = rotational_broadening(s, 0.0)
    np.testing.assert_allclose(out.flux, s.flux, atol=1e-12)
    sj = Spectrum(jnp.asarray(s.wave), jnp.asarray(s.flux), jnp.asarray(s.ivar))
    grad = jax.grad(lambda v: jnp.sum(rotational_broadening(sj, v, half_window=5).flux))(0.0)
    assert np.isfinite(grad)


def test_rotation_bad_arguments():
    s = _line()
    with pytest.raises(SpectrumValidationError, match="vsini must be finite and >= 0"):
        rotational_broadening(s, -1.0)
    with pytest.raises(SpectrumValidationError, match="limb_darkening must be in"):
        rotational_broadening(s, 10.0, 1.5)


@pytest.mark.slow
def test_gradients_match_finite_differences():
    s = _line(sigma=0.03, sampling=3.0)
    s = Spectrum(jnp.asarray(s.wave), jnp.asarray(s.flux), jnp.asarray(s.ivar))
    weights = jnp.linspace(0.5, 1.5, s.n_pix)

    def lsf(r):
        return jnp.sum(weights * convolve_resolution(s, r, half_window=40).flux ** 2)

    def rot(v, eps):
        return jnp.sum(weights * rotational_broadening(s, v, eps, half_window=60).flux ** 2)

    check_grads(lsf, (15000.0,), order=1, modes=["fwd", "rev"])
    check_grads(rot, (17.0, 0.55), order=1, modes=["fwd", "rev"])


def test_batched_parameters():
    s = _line()
    batch = Spectrum(s.wave, np.stack([s.flux] * 3), np.stack([s.ivar] * 3))
    out = convolve_resolution(batch, jnp.array([5000.0, 10000.0, 20000.0]))
    widths = [_fwhm(out[i]) for i in range(3)]
    assert widths[0] > widths[1] > widths[2]
    single = convolve_resolution(s, 10000.0, half_window=out_half_window(s, 5000.0))
    np.testing.assert_allclose(out[1].flux, single.flux, atol=1e-12)


def out_half_window(spec, resolution):
    step = np.min(np.diff(np.log(np.asarray(spec.wave)))) * SPEED_OF_LIGHT_KMS
    return int(np.ceil(5 * SPEED_OF_LIGHT_KMS / resolution / 2.3548 / step)) + 1


def test_input_resolution_comes_from_meta():
    s = _line().with_meta(resolution=20000.0)
    with pytest.raises(SpectrumValidationError, match="cannot raise the resolving power"):
        convolve_resolution(s, 30000.0)
    from_meta = convolve_resolution(s, 10000.0)
    explicit = convolve_resolution(s, 10000.0, resolution_in=20000.0)
    model = convolve_resolution(s, 10000.0, resolution_in=None)
    np.testing.assert_array_equal(from_meta.flux, explicit.flux)
    assert _fwhm(model) > _fwhm(from_meta)


def test_gradient_finite_where_output_equals_input_resolution():
    s = _line(sampling=3.0)
    s = Spectrum(jnp.asarray(s.wave), jnp.asarray(s.flux), jnp.asarray(s.ivar))
    grad = jax.grad(
        lambda r: jnp.sum(convolve_resolution(s, r, resolution_in=22500.0, half_window=40).flux)
    )(22500.0)
    assert np.isfinite(grad)


def test_edges_are_masked_not_biased():
    wave = log_linear_grid(5000, 5100, resolution=20000, sampling=3)
    ramp = Spectrum(wave, 1 + (wave - 5000) / 100)
    out = convolve_resolution(ramp, 500.0)
    good = ~np.asarray(out.mask)
    assert out.mask[0] and out.mask[-1] and good.sum() > 0.5 * wave.size
    # Where the kernel is mostly on the grid, a ramp stays a ramp (to the truncated tails).
    core = good & (np.abs(wave - 5050) < 25)
    np.testing.assert_allclose(
        np.asarray(out.flux)[core], (1 + (wave - 5000) / 100)[core], rtol=2e-4
    )
