"""LAMOST LRS reader on fixtures built after the published DR1-DR7 and DR8+ layouts."""

import numpy as np
import pytest
from astropy.io import fits

import jaxspec.io
from jaxspec.errors import FileFormatError

N_PIX = 3909
CRVAL1 = 3.5682
CD1_1 = 1e-4


def _header() -> fits.Header:
    h = fits.Header()
    for key, value in {
        "TELESCOP": "LAMOST",
        "OBSID": 101001,
        "DESIG": "LAMOST J003051.19+391720.1",
        "OBJNAME": "1234567890",
        "RA": 7.71329,
        "DEC": 39.28893,
        "FIBERID": 17,
        "SPID": 4,
        "LMJD": 56578,
        "CLASS": "STAR",
        "SUBCLASS": "G2",
        "Z": -0.00012345,
        "Z_ERR": 0.0000123,
        "SNRU": 11.5,
        "SNRG": 45.2,
        "SNRR": 60.1,
        "SNRI": 70.3,
        "SNRZ": 50.0,
        "CRVAL1": CRVAL1,
        "CD1_1": CD1_1,
        "CRPIX1": 1,
        "CTYPE1": "LINEAR",
        "DC-FLAG": 1,
        "VACUUM": True,
    }.items():
        h[key] = value
    return h


def _arrays(rng):
    wave = (10 ** (CRVAL1 + CD1_1 * np.arange(N_PIX))).astype(np.float32)
    flux = (1000 + 50 * rng.standard_normal(N_PIX)).astype(np.float32)
    ivar = np.full(N_PIX, 0.01, dtype=np.float32)
    ivar[[5, 6, 7]] = 0.0
    andmask = np.zeros(N_PIX, dtype=np.float32)
    andmask[[100, 101]] = 2**3  # NOSKY
    ormask = np.zeros(N_PIX, dtype=np.float32)
    ormask[[200, 201, 202]] = 2**4  # BRIGHTSKY in some exposure only
    return wave, flux, ivar, andmask, ormask


def make_image_file(path, rng):
    """DR1-DR7: primary image (5, n_pix): flux, ivar, wavelength, andmask, ormask."""
    wave, flux, ivar, andmask, ormask = _arrays(rng)
    data = np.stack([flux, ivar, wave, andmask, ormask])
    fits.PrimaryHDU(data, header=_header()).writeto(path)
    return wave, flux, ivar, andmask, ormask


def make_table_file(path, rng, *, extname="COADD", bunit=None):
    """DR8+: header-only primary, HDU1 'COADD' one-row table of float32 array columns."""
    wave, flux, ivar, andmask, ormask = _arrays(rng)
    cols = [
        fits.Column(name, f"{N_PIX}E", array=arr[None])
        for name, arr in (
            ("FLUX", flux),
            ("IVAR", ivar),
            ("WAVELENGTH", wave),
            ("ANDMASK", andmask),
            ("ORMASK", ormask),
            ("NORMALIZATION", np.ones(N_PIX, np.float32)),
        )
    ]
    header = _header()
    for key in ("CRVAL1", "CD1_1", "CRPIX1", "CTYPE1", "DC-FLAG"):
        del header[key]
    if bunit:
        header["BUNIT"] = bunit
    hdul = fits.HDUList(
        [fits.PrimaryHDU(header=header), fits.BinTableHDU.from_columns(cols, name=extname)]
    )
    hdul.writeto(path)
    return wave, flux, ivar, andmask, ormask


def _check_common(spec, flux, ivar):
    assert spec.n_pix == N_PIX and spec.batch_shape == ()
    assert spec.meta.format == "lamost" and spec.meta.frame == "heliocentric"
    assert spec.meta.object_id == "LAMOST J003051.19+391720.1"
    assert spec.meta.redshift == pytest.approx(-0.00012345)
    assert spec.meta.resolution == 1800.0
    header = spec.meta.header_dict
    assert header["OBSID"] == 101001 and header["SUBCLASS"] == "G2" and header["Z_ERR"] > 0
    assert spec.flux.dtype == np.float32 and spec.wave.dtype == np.float64
    # masking: ivar == 0 and any andmask bit are bad; ormask alone is not
    assert spec.mask[[5, 6, 7]].all() and spec.mask[[100, 101]].all()
    assert not spec.mask[[200, 201, 202]].any()
    assert spec.mask.sum() == 5
    good = ~spec.mask
    np.testing.assert_array_equal(spec.flux[good], flux[good])
    np.testing.assert_array_equal(spec.ivar[good], ivar[good])


def test_lamost_image_layout(tmp_path, rng):
    path = tmp_path / "spec-56578-M31_011N40_B1_sp04-017.fits"
    wave, flux, ivar, _, _ = make_image_file(path, rng)
    assert jaxspec.io.identify(path) == "lamost"
    spec = jaxspec.io.read(path)
    _check_common(spec, flux, ivar)
    # the float64 WCS grid is used; it agrees with the float32 wavelength row
    np.testing.assert_allclose(spec.wave, 10 ** (CRVAL1 + CD1_1 * np.arange(N_PIX)), rtol=1e-14)
    np.testing.assert_allclose(spec.wave, wave, rtol=1e-7)
    assert spec.meta.flux_unit == ""
    assert "relative" in spec.meta.header_dict["FLUXNOTE"]
    assert spec.meta.header_dict["LAYOUT"] == "image"


def test_lamost_table_layout(tmp_path, rng):
    path = tmp_path / "spec-58000-HD000000N000000B01_sp01-001.fits.gz"
    wave, flux, ivar, _, _ = make_table_file(path, rng, bunit="1e-17 erg/s/cm2/Angstrom")
    assert jaxspec.io.identify(path) == "lamost"
    spec = jaxspec.io.read(path)
    _check_common(spec, flux, ivar)
    np.testing.assert_array_equal(spec.wave, wave.astype(np.float64))
    assert spec.meta.flux_unit == "1e-17 erg / (Angstrom s cm2)"
    assert spec.meta.header_dict["LAYOUT"] == "table"


def test_lamost_mask_options(tmp_path, rng):
    path = tmp_path / "lamost.fits"
    make_image_file(path, rng)
    relaxed = jaxspec.io.read(path, andmask_bits=0)
    assert not relaxed.mask[[100, 101]].any() and relaxed.mask[[5, 6, 7]].all()
    strict = jaxspec.io.read(path, ormask_bits=-1)
    assert strict.mask[[200, 201, 202]].all()
    other_bit = jaxspec.io.read(path, andmask_bits=1 << 1)
    assert not other_bit.mask[[100, 101]].any()


def test_lamost_mrs_file_is_not_claimed(tmp_path, rng):
    path = tmp_path / "mrs.fits"
    make_table_file(path, rng, extname="COADD_B")
    assert jaxspec.io.identify(path) != "lamost"
    with pytest.raises(FileFormatError, match=r"mrs\.fits: not a LAMOST LRS file.*COADD"):
        jaxspec.io.read(path, format="lamost")


def test_lamost_missing_column_names_file_hdu_and_columns(tmp_path, rng):
    path = tmp_path / "broken.fits"
    wave, flux, ivar, andmask, ormask = _arrays(rng)
    cols = [fits.Column(n, f"{N_PIX}E", array=a[None]) for n, a in (("FLUX", flux), ("IVAR", ivar))]
    header = _header()
    table = fits.BinTableHDU.from_columns(cols, name="COADD")
    fits.HDUList([fits.PrimaryHDU(header=header), table]).writeto(path)
    with pytest.raises(
        FileFormatError,
        match=r"broken\.fits: HDU 1 'COADD' has no wavelength column; looked for \['WAVELENGTH'\].*"
        r"\['FLUX', 'IVAR'\]",
    ):
        jaxspec.io.read(path, format="lamost")
