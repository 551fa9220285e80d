"""Tests of the Spectrum container: validation, pytree behaviour, batching, specutils."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxspec import Spectrum, SpectrumMeta, SpectrumValidationError, stack


def _spec(n=50, batch=(), **kw):
    wave = np.linspace(5000.0, 5100.0, n)
    flux = np.ones(batch + (n,))
    return Spectrum(wave, flux, ivar=np.full(batch + (n,), 4.0), **kw)


def test_non_finite_pixels_are_masked_with_zero_ivar():
    wave = np.linspace(5000, 5010, 6)
    flux = np.array([1.0, np.nan, 1.0, np.inf, 1.0, 1.0])
    ivar = np.array([1.0, 1.0, np.nan, 1.0, 0.0, 1.0])
    s = Spectrum(wave, flux, ivar)
    np.testing.assert_array_equal(s.mask, [False, True, True, True, True, False])
    np.testing.assert_array_equal(s.ivar, [1.0, 0, 0, 0, 0, 1.0])
    assert np.all(np.isfinite(s.flux))
    np.testing.assert_array_equal(s.flux[s.mask], 0.0)


def test_explicit_mask_zeroes_ivar():
    s = Spectrum(np.arange(1.0, 5.0), np.ones(4), np.ones(4), mask=np.array([0, 1, 0, 0]))
    assert s.mask.dtype == bool
    np.testing.assert_array_equal(s.ivar, [1.0, 0.0, 1.0, 1.0])


@pytest.mark.parametrize(
    "wave, match",
    [
        (np.array([1.0, 3.0, 2.0, 4.0]), "strictly increasing.*pixel 2"),
        (np.array([-1.0, 1.0, 2.0, 3.0]), "positive"),
        (np.array([1.0, np.nan, 2.0, 3.0]), "non-finite"),
        (np.array([1.0, 2.0, 3.0]), "expected wave with 4 pixels"),
    ],
)
def test_bad_wavelengths_raise(wave, match):
    with pytest.raises(SpectrumValidationError, match=match):
        Spectrum(wave, np.ones(4))


def test_negative_ivar_and_shape_mismatch_raise():
    with pytest.raises(SpectrumValidationError, match="ivar must be >= 0; 1 pixels"):
        Spectrum(np.arange(1.0, 5.0), np.ones(4), np.array([1.0, -1.0, 1.0, 1.0]))
    with pytest.raises(SpectrumValidationError, match="expected ivar with shape"):
        Spectrum(np.arange(1.0, 5.0), np.ones(4), np.ones(3))
    with pytest.raises(SpectrumValidationError, match="expected mask with shape"):
        Spectrum(np.arange(1.0, 5.0), np.ones(4), mask=np.zeros(5, bool))
    with pytest.raises(SpectrumValidationError, match="match flux"):
        Spectrum(np.ones((2, 4)).cumsum(-1), np.ones((3, 4)))


def test_meta_rules():
    with pytest.raises(SpectrumValidationError, match="radial_velocity and meta.redshift"):
        SpectrumMeta(radial_velocity=10.0, redshift=0.1)
    with pytest.raises(SpectrumValidationError, match="meta.frame"):
        SpectrumMeta(frame="galactic")
    meta = SpectrumMeta(header={"SNR": np.float64(3.0), "OBJ": "x"})
    assert meta.header_dict == {"SNR": 3.0, "OBJ": "x"}
    hash(meta)


def test_is_immutable():
    s = _spec()
    with pytest.raises(dataclasses.FrozenInstanceError, match="replace"):
        s.flux = np.zeros(50)


def test_jit_roundtrip_and_static_meta():
    s = _spec(object_id="star")
    out = jax.jit(lambda sp: jax.tree_util.tree_map(lambda x: x, sp))(s)
    assert isinstance(out, Spectrum)
    assert out.meta == s.meta
    np.testing.assert_array_equal(out.flux, s.flux)


def test_vmap_over_batch_with_shared_wave():
    s = _spec(batch=(3,))
    assert s.shared_wave and s.batch_shape == (3,) and len(s) == 3
    total = jax.vmap(lambda sp: jnp.sum(sp.flux * sp.wave), in_axes=(s.batch_axes(),))(s)
    np.testing.assert_allclose(total, np.full(3, np.sum(s.wave)))


def test_construct_inside_jit_skips_value_checks():
    wave = jnp.linspace(5000.0, 5100.0, 10)

    @jax.jit
    def f(flux):
        return Spectrum(wave, flux * 2.0).flux

    np.testing.assert_allclose(f(jnp.ones(10)), 2.0)


def test_getitem_and_stack():
    a = Spectrum(np.linspace(1, 2, 5), np.arange(5.0), object_id="a")
    b = Spectrum(np.linspace(1, 2, 5), np.arange(5.0) + 1, object_id="b")
    batch = stack([a, b])
    assert batch.batch_shape == (2,)
    assert batch.meta.object_id == ("a", "b")
    assert batch[1].meta.object_id == "b"
    np.testing.assert_array_equal(batch[1].flux, b.flux)
    assert batch[0:1].batch_shape == (1,)
    with pytest.raises(SpectrumValidationError, match="resample"):
        stack([a, Spectrum(np.linspace(1, 3, 5), np.ones(5))])
    with pytest.raises(IndexError):
        a[0]


def test_median_snr_ignores_masked_pixels():
    flux = np.full(100, 10.0)
    ivar = np.full(100, 4.0)
    flux[:10] = np.nan
    s = Spectrum(np.arange(1.0, 101.0), flux, ivar)
    assert float(s.median_snr()) == pytest.approx(20.0)


def test_specutils_round_trip():
    pytest.importorskip("specutils")
    from astropy import units as u

    wave = np.linspace(5000.0, 5100.0, 20)
    flux = np.linspace(1.0, 2.0, 40).reshape(2, 20)
    mask = np.zeros((2, 20), bool)
    mask[0, 3] = True
    s = Spectrum(
        wave,
        flux,
        np.full((2, 20), 9.0),
        mask,
        object_id=("a", "b"),
        flux_unit="erg / (s cm2 Angstrom)",
        radial_velocity=12.5,
        frame="barycentric",
    )
    sp = s.to_specutils()
    assert sp.flux.unit == u.erg / u.s / u.cm**2 / u.AA
    back = Spectrum.from_specutils(sp)
    np.testing.assert_array_equal(back.wave, s.wave)
    np.testing.assert_array_equal(back.flux, s.flux)
    np.testing.assert_array_equal(back.ivar, s.ivar)
    np.testing.assert_array_equal(back.mask, s.mask)
    assert back.meta.object_id == ("a", "b")
    assert back.meta.radial_velocity == pytest.approx(12.5)
    assert back.meta.frame == "barycentric"


def test_from_specutils_frequency_axis_and_stddev():
    specutils = pytest.importorskip("specutils")
    from astropy import units as u
    from astropy.nddata import StdDevUncertainty

    freq = np.linspace(5.0e14, 6.0e14, 10) * u.Hz
    cls = getattr(specutils, "Spectrum", None) or specutils.Spectrum1D
    sp = cls(
        flux=np.arange(10.0) * u.Jy,
        spectral_axis=freq,
        uncertainty=StdDevUncertainty(np.full(10, 0.5)),
    )
    s = Spectrum.from_specutils(sp)
    assert np.all(np.diff(s.wave) > 0)
    np.testing.assert_allclose(s.wave[0], (6.0e14 * u.Hz).to_value(u.AA, u.spectral()))
    np.testing.assert_allclose(s.flux, np.arange(10.0)[::-1])
    np.testing.assert_allclose(s.ivar, 4.0)


def test_meta_equality_survives_nan_headers_and_tuple_ids():
    a = SpectrumMeta(object_id=(1, np.str_("b")), header={"X": float("nan")})
    b = SpectrumMeta(object_id=("1", "b"), header={"X": None})
    assert a == b and hash(a) == hash(b)


def test_getitem_on_two_dimensional_batch_keeps_matching_ids():
    ids = tuple(f"s{i}" for i in range(6))
    s = Spectrum(np.linspace(1, 2, 4), np.ones((2, 3, 4)), object_id=ids)
    assert s[1].meta.object_id == ("s3", "s4", "s5")
    assert s[1, 2].meta.object_id == "s5"


def test_specutils_keeps_redshift_as_redshift():
    pytest.importorskip("specutils")
    s = Spectrum(np.linspace(5000.0, 5100.0, 20), np.ones(20), redshift=0.1)
    back = Spectrum.from_specutils(s.to_specutils())
    assert back.meta.redshift == pytest.approx(0.1) and back.meta.radial_velocity is None


def test_strip_meta_lets_jit_compile_once_across_stars():
    traces = []

    @jax.jit
    def total(spec):
        traces.append(1)
        return jnp.sum(spec.flux * spec.ivar)

    stars = [
        Spectrum(
            np.linspace(5000, 5100, 30),
            np.full(30, float(i)),
            object_id=f"star{i}",
            source=f"/data/{i}.fits",
            radial_velocity=float(i),
            header={"SNR": i},
        )
        for i in range(4)
    ]
    results = [float(total(s.strip_meta())) for s in stars]
    assert len(traces) == 1
    assert results == [30.0 * i for i in range(4)]
    assert stars[2].strip_meta().meta.object_id is None
    # Without stripping, every distinct meta is a new static argument: one trace per star.
    for s in stars:
        total(s)
    assert len(traces) == 1 + 4
