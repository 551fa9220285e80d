"""Generic FITS readers (1D image, tables) and the bit-exact write_fits round trip."""

import numpy as np
import pytest
from astropy.io import fits

import jaxspec.io
from jaxspec import Spectrum, SpectrumMeta
from jaxspec.errors import FileFormatError
from jaxspec.preprocess.air_vacuum import air_to_vacuum


def _spectrum(rng, *, batch=(), dtype=np.float64, shared=True, n_pix=257):
    wave1 = np.linspace(4000.0, 7000.0, n_pix)
    shape = (*batch, n_pix)
    if shared or not batch:
        wave = wave1
    else:
        wave = wave1 + rng.uniform(0, 1, size=(*batch, 1)).cumsum(axis=-1)
    flux = rng.normal(1.0, 0.1, size=shape).astype(dtype)
    ivar = rng.uniform(50, 150, size=shape).astype(dtype)
    mask = rng.uniform(size=shape) < 0.05
    flux[..., 3] = np.nan  # becomes masked with flux 0, ivar 0
    n = int(np.prod(batch)) if batch else 0
    meta = SpectrumMeta(
        object_id=tuple(f"star-{i}" for i in range(n)) if len(batch) == 1 else "star-0",
        source="/data/original/file.fits",
        format="apstar",
        flux_unit="1e-17 erg / (Angstrom s cm2)",
        frame="heliocentric",
        radial_velocity=-12.25,
        resolution=22500.0,
        header=(
            ("SNR", 101.5),
            ("NVISITS", 3),
            ("FLAG", True),
            ("TELESCOP", "apo25m"),
            ("LONGKEYWORD", "not a FITS keyword, kept through JSON"),
            ("NOTE", "é and a 'quote' and a very long value " * 4),
        ),
    )
    return Spectrum(wave.astype(dtype) if dtype == np.float32 else wave, flux, ivar, mask, meta)


def _assert_identical(a, b):
    for name in ("wave", "flux", "ivar", "mask"):
        x, y = getattr(a, name), getattr(b, name)
        assert isinstance(y, np.ndarray), name
        assert x.dtype == y.dtype, (name, x.dtype, y.dtype)
        np.testing.assert_array_equal(x, y, err_msg=name)
        assert x.tobytes() == y.tobytes(), name  # bit for bit, including -0.0
    assert a.meta == b.meta


CASES = {
    "single-f64": dict(),
    "single-f32": dict(dtype=np.float32),
    "batch-shared-f32": dict(batch=(4,), dtype=np.float32),
    "batch-own-wave-f64": dict(batch=(3,), shared=False),
    "batch-2d-f64": dict(batch=(2, 3)),
}


@pytest.mark.parametrize("ending", [".fits", ".fits.gz"])
@pytest.mark.parametrize("case", list(CASES))
def test_fits_round_trip_is_bit_exact(tmp_path, rng, case, ending):
    spec = _spectrum(rng, **CASES[case])
    assert spec.mask.any() and spec.mask[..., 3].all()
    path = tmp_path / f"out{ending}"
    jaxspec.io.write(spec, path)
    assert jaxspec.io.identify(path) == "jaxspec-fits"
    back = jaxspec.io.read(path)
    _assert_identical(spec, back)
    assert back.meta.format == "apstar" and back.meta.source == "/data/original/file.fits"


def test_fits_file_layout_and_marker(tmp_path, rng):
    spec = _spectrum(rng, batch=(4,), dtype=np.float32)
    path = tmp_path / "batch.fits"
    jaxspec.io.write_fits(spec, path)
    with fits.open(path) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "SPECTRA", "WAVE"]
        h0 = hdul[0].header
        assert h0["JAXSPEC"] == "spectra" and h0["JXFMTVER"] == 1
        assert h0["SNR"] == 101.5 and h0["TELESCOP"] == "apo25m"  # representable cards copied
        assert "LONGKEYWORD" not in h0
        assert list(hdul[1].data["OBJECT_ID"]) == [f"star-{i}" for i in range(4)]
        assert hdul[1].columns["FLUX"].format == "257E"


def test_fits_float16_flux_round_trip(tmp_path, rng):
    spec = Spectrum(np.linspace(5000, 5100, 50), rng.normal(size=50).astype(np.float16))
    path = tmp_path / "half.fits"
    jaxspec.io.write(spec, path)
    _assert_identical(spec, jaxspec.io.read(path))


def test_single_spectrum_file_is_a_plain_fits_table(tmp_path, rng):
    spec = _spectrum(rng)
    path = tmp_path / "single.fits"
    jaxspec.io.write(spec, path)
    plain = jaxspec.io.read(path, format="fits-table")
    np.testing.assert_array_equal(plain.wave, spec.wave)
    np.testing.assert_array_equal(plain.flux, spec.flux)
    np.testing.assert_array_equal(plain.mask, spec.mask)
    assert plain.meta.format == "fits-table" and plain.meta.object_id == "star-0"


# ------------------------------------------------------------------------- fits-image
def _image(path, flux, **cards):
    hdu = fits.PrimaryHDU(flux)
    for key, value in cards.items():
        hdu.header[key.replace("_", "-") if key == "DC_FLAG" else key] = value
    hdu.writeto(path)


def test_fits_image_linear_nm_with_error_extension(tmp_path, rng):
    flux = rng.normal(5, 0.1, 100).astype(np.float32)
    err = np.full(100, 0.5, np.float32)
    err[7] = 0
    hdul = fits.HDUList([fits.PrimaryHDU(flux), fits.ImageHDU(err, name="ERROR")])
    h = hdul[0].header
    h.update(CRVAL1=500.0, CDELT1=0.01, CRPIX1=1, CTYPE1="WAVE", CUNIT1="nm")
    h.update(BUNIT="erg/s/cm2/Angstrom", OBJECT="HD 1234", SPECSYS="BARYCENT")
    path = tmp_path / "image.fits"
    hdul.writeto(path)
    assert jaxspec.io.identify(path) == "fits-image"
    spec = jaxspec.io.read(path)
    np.testing.assert_allclose(spec.wave, 5000.0 + 0.1 * np.arange(100), rtol=1e-13)
    assert spec.flux.dtype == np.float32
    np.testing.assert_allclose(spec.ivar[~spec.mask], 4.0)
    assert spec.mask[7] and spec.mask.sum() == 1
    assert spec.meta.object_id == "HD 1234" and spec.meta.frame == "barycentric"
    assert spec.meta.flux_unit == "erg / (Angstrom s cm2)"
    assert spec.meta.format == "fits-image"


def test_fits_image_log10_dcflag_and_descending(tmp_path, rng):
    flux = np.arange(50, dtype=np.float64)
    path = tmp_path / "log.fits"
    _image(path, flux, CRVAL1=3.7, CD1_1=1e-4, CRPIX1=1, CTYPE1="LINEAR", DC_FLAG=1)
    spec = jaxspec.io.read(path)
    np.testing.assert_allclose(spec.wave, 10 ** (3.7 + 1e-4 * np.arange(50)), rtol=1e-14)
    path2 = tmp_path / "descending.fits"
    _image(path2, flux, CRVAL1=6000.0, CDELT1=-2.0, CRPIX1=1, CTYPE1="WAVE")
    spec2 = jaxspec.io.read(path2)
    assert np.all(np.diff(spec2.wave) > 0)
    np.testing.assert_array_equal(spec2.flux, flux[::-1])


def test_fits_image_wave_log_and_air(tmp_path):
    flux = np.ones(40)
    path = tmp_path / "wavelog.fits"
    _image(path, flux, CRVAL1=5000.0, CDELT1=0.5, CRPIX1=1, CTYPE1="WAVE-LOG")
    spec = jaxspec.io.read(path)
    np.testing.assert_allclose(spec.wave, 5000.0 * np.exp(0.5 * np.arange(40) / 5000.0), rtol=1e-14)
    air_path = tmp_path / "air.fits"
    _image(air_path, flux, CRVAL1=5000.0, CDELT1=0.5, CRPIX1=1, CTYPE1="AWAV")
    air = jaxspec.io.read(air_path)
    expected = np.asarray(air_to_vacuum(5000.0 + 0.5 * np.arange(40)))
    np.testing.assert_allclose(air.wave, expected, rtol=1e-13)
    assert 1.38 < air.wave[0] - 5000.0 < 1.41  # the air-vacuum shift at 5000 Å
    flagged = tmp_path / "airorvac.fits"
    _image(flagged, flux, CRVAL1=5000.0, CDELT1=0.5, CTYPE1="WAVE", AIRORVAC="air")
    np.testing.assert_array_equal(jaxspec.io.read(flagged).wave, air.wave)
    vacuum = jaxspec.io.read(flagged, air=False)
    np.testing.assert_allclose(vacuum.wave, 5000.0 + 0.5 * np.arange(40), rtol=1e-15)


def test_fits_image_unsupported_ctype(tmp_path):
    path = tmp_path / "freq.fits"
    _image(path, np.ones(10), CRVAL1=1e14, CDELT1=1e10, CTYPE1="FREQ")
    with pytest.raises(FileFormatError, match=r"freq\.fits: HDU 0 has CTYPE1 = 'FREQ'.*accepted"):
        jaxspec.io.read(path, format="fits-image")


# ------------------------------------------------------------------------- fits-table
def test_fits_table_one_row_per_pixel_with_units(tmp_path, rng):
    n = 120
    wave_nm = np.linspace(650.0, 640.0, n)  # descending, in nm
    flux = rng.normal(1e-15, 1e-17, n)
    err = np.full(n, 2.0)  # in 1e-17 erg/s/cm2/Angstrom
    mask = np.zeros(n, dtype=np.int16)
    mask[5] = 4
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column("WAVELENGTH", "D", unit="nm", array=wave_nm),
            fits.Column("FLUX", "D", unit="erg/(s cm2 Angstrom)", array=flux),
            fits.Column("ERR", "D", unit="1e-17 erg/(s cm2 Angstrom)", array=err),
            fits.Column("MASK", "I", array=mask),
        ],
        name="SPEC",
    )
    table.header["SPECSYS"] = "TOPOCENT"
    path = tmp_path / "table.fits"
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    assert jaxspec.io.identify(path) == "fits-table"
    spec = jaxspec.io.read(path)
    np.testing.assert_allclose(spec.wave, wave_nm[::-1] * 10.0, rtol=1e-15)
    np.testing.assert_array_equal(spec.flux[~spec.mask], flux[::-1][~spec.mask])
    # the error is converted to the flux unit before 1/err**2
    np.testing.assert_allclose(spec.ivar[~spec.mask], 1.0 / (2e-17) ** 2, rtol=1e-12)
    assert spec.mask[n - 1 - 5] and spec.mask.sum() == 1
    assert spec.meta.frame == "topocentric"
    assert spec.meta.flux_unit == "erg / (Angstrom s cm2)"


def test_fits_table_array_columns_batch_loglam_and_air(tmp_path, rng):
    n, rows = 64, 3
    loglam = np.tile(3.6 + 1e-4 * np.arange(n), (rows, 1))
    flux = rng.normal(1, 0.01, (rows, n)).astype(np.float32)
    ivar = np.full((rows, n), 1e4, np.float32)
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column("loglam", f"{n}D", array=loglam),
            fits.Column("flux", f"{n}E", array=flux),
            fits.Column("ivar", f"{n}E", array=ivar),
            fits.Column("objid", "8A", array=["a", "b", "c"]),
        ]
    )
    table.header["VACUUM"] = False
    path = tmp_path / "batch.fits"
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    spec = jaxspec.io.read(path)
    assert spec.batch_shape == (rows,) and spec.shared_wave
    np.testing.assert_allclose(spec.wave, np.asarray(air_to_vacuum(10 ** loglam[0])), rtol=1e-14)
    np.testing.assert_array_equal(spec.flux, flux)
    assert spec.meta.object_id == ("a", "b", "c")
    vacuum = jaxspec.io.read(path, air=False)
    np.testing.assert_allclose(vacuum.wave, 10 ** loglam[0], rtol=1e-14)
