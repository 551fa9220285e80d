"""Bad input: every failure names the file (or argument) and says what is wrong."""

import gzip
import os

import h5py
import numpy as np
import pytest
from astropy.io import fits

import jaxspec.io
from jaxspec import Spectrum
from jaxspec.data import apogee_example_path
from jaxspec.errors import FileFormatError, SpectrumValidationError, UnknownFormatError


@pytest.fixture
def apstar_bytes() -> bytes:
    """The uncompressed bytes of the real single-visit apStar file."""
    return gzip.decompress(apogee_example_path().read_bytes())


def _spectrum(n=50):
    return Spectrum(np.linspace(5000, 5100, n), np.ones(n), np.full(n, 4.0))


def _leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# -------------------------------------------------------------------- unknown formats
def test_text_file_is_unknown(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("wavelength flux\n5000 1.0\n")
    with pytest.raises(UnknownFormatError, match=r"notes\.txt.*hdf5, .*fits-image.*format="):
        jaxspec.io.read(path)
    with pytest.raises(
        UnknownFormatError, match=r"neither a FITS signature .* starts with b'wavelength"
    ):
        jaxspec.io.identify(path)


def test_empty_file_is_unknown(tmp_path):
    path = tmp_path / "empty.fits"
    path.write_bytes(b"")
    with pytest.raises(UnknownFormatError, match=r"empty\.fits.*the file is empty"):
        jaxspec.io.read(path)


def test_fits_with_unrelated_table_is_unknown(tmp_path):
    path = tmp_path / "catalog.fits"
    table = fits.BinTableHDU.from_columns(
        [fits.Column(n, "D", array=np.arange(3.0)) for n in ("RA", "DEC", "GMAG")], name="CAT"
    )
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    with pytest.raises(
        UnknownFormatError,
        match=r"catalog\.fits: none of the formats .*fits-table.*1 CAT \(table: RA, DEC, GMAG\)",
    ):
        jaxspec.io.read(path)


def test_unknown_format_name_and_option():
    path = apogee_example_path()
    with pytest.raises(
        ValueError, match=r"unknown format 'apstr'; available formats: hdf5, .*apstar"
    ):
        jaxspec.io.read(path, format="apstr")
    with pytest.raises(
        TypeError, match=r"'apstar' reader does not take option\(s\) \['rows'\].*'row'"
    ):
        jaxspec.io.read(path, rows="all")


def test_nonexistent_path(tmp_path):
    missing = tmp_path / "nowhere" / "apStar-missing.fits"
    for call in (
        lambda: jaxspec.io.read(missing),
        lambda: jaxspec.io.read(missing, format="apstar"),
        lambda: jaxspec.io.identify(missing),
        lambda: jaxspec.io.read_hdf5(missing),
    ):
        with pytest.raises(FileNotFoundError, match=r"apStar-missing\.fits"):
            call()


# ------------------------------------------------------------------ damaged FITS files
def test_truncated_fits(tmp_path, apstar_bytes):
    path = tmp_path / "apStar-half.fits"
    path.write_bytes(apstar_bytes[: len(apstar_bytes) // 2])
    with pytest.raises(
        FileFormatError, match=r"apStar-half\.fits is truncated or corrupt.*truncated"
    ):
        jaxspec.io.read(path)
    with pytest.raises(FileFormatError, match=r"apStar-half\.fits is truncated"):
        jaxspec.io.read(path, format="apstar")


def test_truncated_fits_gz(tmp_path):
    data = apogee_example_path().read_bytes()
    path = tmp_path / "apStar-half.fits.gz"
    path.write_bytes(data[: len(data) // 2])
    # astropy alone reads such a file silently up to the cut; jaxspec must not
    with pytest.raises(
        FileFormatError, match=r"apStar-half\.fits\.gz is truncated: its gzip stream"
    ):
        jaxspec.io.read(path)
    with pytest.raises(FileFormatError, match=r"apStar-half\.fits\.gz is truncated"):
        jaxspec.io.read(path, format="apstar")


def test_corrupt_gzip(tmp_path):
    data = bytearray(apogee_example_path().read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\x00" * 64
    path = tmp_path / "apStar-corrupt.fits.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(FileFormatError, match=r"apStar-corrupt\.fits\.gz is corrupt"):
        jaxspec.io.read(path, format="apstar")


def test_garbage_bytes(tmp_path, rng):
    path = tmp_path / "garbage.fits"
    path.write_bytes(rng.integers(0, 256, 10_000, dtype=np.uint8).tobytes())
    with pytest.raises(UnknownFormatError, match=r"garbage\.fits"):
        jaxspec.io.read(path)
    with pytest.raises(FileFormatError, match=r"garbage\.fits cannot be read as FITS.*SIMPLE"):
        jaxspec.io.read(path, format="fits-image")


def test_corrupt_fits_header(tmp_path, rng, apstar_bytes):
    data = bytearray(apstar_bytes)
    start = data.find(b"XTENSION")  # header of HDU1
    data[start : start + 400] = rng.integers(128, 256, 400, dtype=np.uint8).tobytes()
    path = tmp_path / "apStar-corrupt.fits"
    path.write_bytes(bytes(data))
    with pytest.raises(
        FileFormatError, match=r"apStar-corrupt\.fits is truncated or corrupt.*non-ASCII"
    ):
        jaxspec.io.read(path)


def test_missing_table_column(tmp_path):
    path = tmp_path / "nowave.fits"
    table = fits.BinTableHDU.from_columns(
        [fits.Column("FLUX", "D", array=np.ones(5)), fits.Column("IVAR", "D", array=np.ones(5))],
        name="SPEC",
    )
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    with pytest.raises(
        FileFormatError,
        match=r"nowave\.fits: HDU 1 'SPEC' has no wavelength column; looked for \['wave', "
        r"'wavelength', 'lambda', 'loglam'\].*columns are \['FLUX', 'IVAR'\]",
    ):
        jaxspec.io.read(path, format="fits-table")


@pytest.mark.parametrize(
    "wave,message",
    [
        ([5000.0, 5002.0, 5001.0, 5003.0], r"strictly increasing"),
        ([-1.0, 5000.0, 5001.0, 5002.0], r"positive"),
    ],
    ids=["unsorted", "negative"],
)
def test_invalid_wavelengths_name_the_file(tmp_path, wave, message):
    path = tmp_path / "badwave.fits"
    table = fits.BinTableHDU.from_columns(
        [fits.Column("WAVE", "D", array=wave), fits.Column("FLUX", "D", array=np.ones(4))]
    )
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)
    with pytest.raises(
        SpectrumValidationError, match=rf"badwave\.fits \(format 'fits-table'\).*{message}"
    ):
        jaxspec.io.read(path)


# ------------------------------------------------------------------ damaged HDF5 files
def test_truncated_and_corrupt_hdf5(tmp_path):
    good = tmp_path / "good.h5"
    jaxspec.io.write(_spectrum(2000), good)
    data = good.read_bytes()
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(data[: len(data) // 2])
    assert jaxspec.io.identify(truncated) == "hdf5"
    with pytest.raises(FileFormatError, match=r"truncated\.h5 cannot be opened as HDF5.*truncated"):
        jaxspec.io.read(truncated)
    corrupt = tmp_path / "corrupt.h5"
    corrupt.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\xff" * 4000)
    with pytest.raises(FileFormatError, match=r"corrupt\.h5 cannot be opened as HDF5"):
        jaxspec.io.read_hdf5(corrupt)


# ---------------------------------------------------------------- atomic, failed writes
def test_failed_hdf5_write_leaves_nothing(tmp_path, monkeypatch):
    target = tmp_path / "out.h5"
    original = h5py.Group.create_dataset

    def failing(self, name, *args, **kwargs):
        if name == "ivar":
            raise OSError("simulated disk full")
        return original(self, name, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", failing)
    with pytest.raises(FileFormatError, match=r"could not write .*out\.h5: simulated disk full"):
        jaxspec.io.write(_spectrum(), target)
    assert not target.exists() and _leftovers(tmp_path) == []

    target.write_bytes(b"previous content")
    with pytest.raises(FileFormatError):
        jaxspec.io.write(_spectrum(), target)
    assert target.read_bytes() == b"previous content"
    assert sorted(os.listdir(tmp_path)) == ["out.h5"]


@pytest.mark.parametrize("name", ["out.fits", "out.fits.gz"])
def test_failed_fits_write_leaves_nothing(tmp_path, monkeypatch, name):
    target = tmp_path / name

    def failing(self, fileobj, *args, **kwargs):
        fileobj.write(b"SIMPLE  =                    T" + b" " * 100)  # a partial file
        raise OSError("simulated disk full")

    monkeypatch.setattr(fits.HDUList, "writeto", failing)
    with pytest.raises(FileFormatError, match=rf"could not write .*{name}: simulated disk full"):
        jaxspec.io.write(_spectrum(), target)
    assert not target.exists() and _leftovers(tmp_path) == []

    target.write_bytes(b"previous content")
    with pytest.raises(FileFormatError):
        jaxspec.io.write_fits(_spectrum(), target)
    assert target.read_bytes() == b"previous content"
    assert sorted(os.listdir(tmp_path)) == [name]


def test_write_needs_a_known_ending_or_format(tmp_path):
    with pytest.raises(ValueError, match=r"spectrum\.dat.*\.h5.*format='hdf5'"):
        jaxspec.io.write(_spectrum(), tmp_path / "spectrum.dat")
    with pytest.raises(ValueError, match=r"cannot write format 'csv'"):
        jaxspec.io.write(_spectrum(), tmp_path / "spectrum.dat", format="csv")
    with pytest.raises(TypeError, match="expects a jaxspec.Spectrum, got ndarray"):
        jaxspec.io.write(np.ones(3), tmp_path / "x.h5")
    jaxspec.io.write(_spectrum(), tmp_path / "spectrum.dat", format="hdf5")
    assert jaxspec.io.identify(tmp_path / "spectrum.dat") == "hdf5"
