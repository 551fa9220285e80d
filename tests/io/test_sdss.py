"""SDSS/BOSS spec reader on fixtures built after the published spec data model."""

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits

import jaxspec.io
from jaxspec.errors import FileFormatError

N_PIX = 4600
LOGLAM0 = 3.5523


def make_spec_file(path, rng, *, full=False, drop=()):
    """spec-PLATE-MJD-FIBER: HDU0 header, HDU1 COADD (one row per pixel), HDU2 SPALL,
    HDU3 SPZLINE, and for the full file one exposure HDU per camera."""
    loglam = (LOGLAM0 + 1e-4 * np.arange(N_PIX)).astype(np.float32)
    flux = (20 + rng.standard_normal(N_PIX)).astype(np.float32)
    ivar = np.full(N_PIX, 4.0, dtype=np.float32)
    ivar[[0, 1, 2]] = 0.0
    and_mask = np.zeros(N_PIX, dtype=np.int32)
    and_mask[[10, 11]] = 1 << 22  # NOSKY
    or_mask = np.zeros(N_PIX, dtype=np.int32)
    or_mask[[20, 21, 22]] = 1 << 16  # NEARBADPIXEL in one exposure
    wdisp = np.full(N_PIX, 1.0, dtype=np.float32)
    columns = {
        "flux": ("E", flux),
        "loglam": ("E", loglam),
        "ivar": ("E", ivar),
        "and_mask": ("J", and_mask),
        "or_mask": ("J", or_mask),
        "wdisp": ("E", wdisp),
        "sky": ("E", np.ones(N_PIX, np.float32)),
        "model": ("E", flux.copy()),
    }
    coadd = fits.BinTableHDU.from_columns(
        [fits.Column(n, f, array=a) for n, (f, a) in columns.items() if n not in drop],
        name="COADD",
    )
    primary = fits.PrimaryHDU()
    for key, value in {
        "TELESCOP": "SDSS 2.5-M",
        "PLATEID": 1234,
        "MJD": 56789,
        "FIBERID": 42,
        "PLUG_RA": 150.1234,
        "PLUG_DEC": 2.3456,
        "OBJTYPE": "SPECTROPHOTO_STD",
        "RUN2D": "v5_13_2",
    }.items():
        primary.header[key] = value
    spall = fits.BinTableHDU.from_columns(
        [
            fits.Column("PLATE", "J", array=[1234]),
            fits.Column("MJD", "J", array=[56789]),
            fits.Column("FIBERID", "J", array=[42]),
            fits.Column("CLASS", "6A", array=["STAR"]),
            fits.Column("SUBCLASS", "21A", array=["F5"]),
            fits.Column("Z", "E", array=[0.000123]),
            fits.Column("Z_ERR", "E", array=[0.00001]),
            fits.Column("ZWARNING", "J", array=[0]),
        ],
        name="SPALL",
    )
    spzline = fits.BinTableHDU.from_columns(
        [
            fits.Column("LINENAME", "13A", array=["H_alpha"]),
            fits.Column("LINEWAVE", "D", array=[6564.61]),
            fits.Column("LINEZ", "E", array=[0.000123]),
        ],
        name="SPZLINE",
    )
    hdus = [primary, coadd, spall, spzline]
    if full:
        exposure = fits.BinTableHDU.from_columns(
            [
                fits.Column(n, "E", array=np.zeros(10, np.float32))
                for n in ("flux", "loglam", "ivar")
            ],
            name="B1-00123456-00123457-00123458",
        )
        hdus.append(exposure)
    fits.HDUList(hdus).writeto(path)
    return loglam, flux, ivar


@pytest.mark.parametrize("full", [False, True], ids=["lite", "full"])
def test_sdss_reader(tmp_path, rng, full):
    path = tmp_path / "spec-1234-56789-0042.fits"
    loglam, flux, ivar = make_spec_file(path, rng, full=full)
    assert jaxspec.io.identify(path) == "sdss"
    spec = jaxspec.io.read(path)
    assert spec.n_pix == N_PIX and spec.batch_shape == ()
    np.testing.assert_array_equal(spec.wave, 10.0 ** loglam.astype(np.float64))
    assert spec.wave.dtype == np.float64 and spec.flux.dtype == np.float32
    good = ~spec.mask
    np.testing.assert_array_equal(spec.flux[good], flux[good])
    np.testing.assert_array_equal(spec.ivar[good], ivar[good])
    # ivar == 0 and and_mask are bad; or_mask alone is not
    assert spec.mask[[0, 1, 2, 10, 11]].all() and spec.mask.sum() == 5
    assert not spec.mask[[20, 21, 22]].any()
    meta = spec.meta
    assert meta.object_id == "1234-56789-0042" and meta.format == "sdss"
    assert meta.frame == "heliocentric" and meta.source == str(path)
    assert meta.redshift == pytest.approx(0.000123, rel=1e-6)
    assert u.Unit(meta.flux_unit) == 1e-17 * u.erg / u.s / u.cm**2 / u.AA
    # wdisp = 1 pixel sigma at dloglam = 1e-4: R = 1 / (2.3548 ln(10) 1e-4)
    expected_r = 1 / (2 * np.sqrt(2 * np.log(2)) * np.log(10) * 1e-4)
    assert meta.resolution == pytest.approx(expected_r, rel=1e-4)
    header = meta.header_dict
    assert header["CLASS"] == "STAR" and header["SUBCLASS"] == "F5"
    assert header["PLATEID"] == 1234 and header["TELESCOP"] == "SDSS 2.5-M"


def test_sdss_mask_options(tmp_path, rng):
    path = tmp_path / "spec-1234-56789-0042.fits"
    make_spec_file(path, rng)
    assert not jaxspec.io.read(path, andmask_bits=0).mask[[10, 11]].any()
    assert jaxspec.io.read(path, ormask_bits=1 << 16).mask[[20, 21, 22]].all()


def test_sdss_missing_column(tmp_path, rng):
    path = tmp_path / "spec-no-ivar.fits"
    make_spec_file(path, rng, drop=("ivar",))
    assert jaxspec.io.identify(path) != "sdss"
    with pytest.raises(
        FileFormatError,
        match=r"spec-no-ivar\.fits: HDU 1 'COADD' has no inverse variance column; looked for "
        r"\['ivar'\].*'flux', 'loglam', 'and_mask'",
    ):
        jaxspec.io.read(path, format="sdss")
