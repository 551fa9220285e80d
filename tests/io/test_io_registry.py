"""The format registry: order, lazy registration, custom readers, light import."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import jaxspec.io
from jaxspec import Spectrum
from jaxspec.data import apogee_example_path
from jaxspec.io import registry


@pytest.fixture
def clean_registry(monkeypatch):
    """Let a test register formats without leaking them into other tests."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def test_public_api():
    assert set(jaxspec.io.__all__) >= {
        "read",
        "write",
        "identify",
        "available_formats",
        "register_reader",
        "read_hdf5",
        "write_hdf5",
        "write_fits",
    }
    for name in jaxspec.io.__all__:
        assert callable(getattr(jaxspec.io, name)) or name in ("WRITE_FORMATS", "APOGEE_BAD_BITS")


def test_fixed_identification_order():
    assert jaxspec.io.available_formats() == (
        "hdf5",
        "jaxspec-fits",
        "apstar",
        "apvisit",
        "lamost",
        "sdss",
        "fits-table",
        "fits-image",
    )


def test_identify_real_files(data_dir):
    assert jaxspec.io.identify(apogee_example_path()) == "apstar"
    assert jaxspec.io.identify(data_dir / "apStar-dr17-2M17335483-2753043.fits.gz") == "apstar"
    assert jaxspec.io.identify(data_dir / "apVisit-r13-5095-55844-128.fits.gz") == "apvisit"


def test_identify_sniffs_content_not_name(tmp_path):
    disguised = tmp_path / "spectrum.h5"  # an apStar file with a misleading name
    disguised.write_bytes(apogee_example_path().read_bytes())
    assert jaxspec.io.identify(disguised) == "apstar"
    assert jaxspec.io.read(disguised).meta.object_id == "2M19485057+5005279"


def test_probe_facts(tmp_path):
    probe = jaxspec.io.FileProbe(apogee_example_path())
    assert probe.compression == "gzip" and probe.is_fits and not probe.is_hdf5
    assert len(probe.hdus) == 11 and probe.hdus[1].shape == (2, 8575)
    assert probe.primary_header["OBJID"] == "2M19485057+5005279"
    assert "0 PRIMARY (header only); 1 (image (2, 8575))" in probe.describe()


def _read_myspec(path, *, scale=1.0):
    lines = Path(path).read_text().split("\n")[1:]
    wave, flux = np.loadtxt(lines, unpack=True)
    return registry.make_spectrum(
        path, wave, flux * scale, None, None, jaxspec.SpectrumMeta(format="myspec")
    )


def _is_myspec(probe):
    return probe.head.startswith(b"MYSPEC")


def test_register_custom_reader(tmp_path, clean_registry):
    path = tmp_path / "star.txt"
    path.write_text("MYSPEC 1\n5000 1.0\n5001 2.0\n5002 3.0")
    jaxspec.io.register_reader("myspec", _read_myspec, _is_myspec, description="test format")
    assert jaxspec.io.available_formats()[-3:] == ("myspec", "fits-table", "fits-image")
    assert jaxspec.io.identify(path) == "myspec"
    spec = jaxspec.io.read(path, scale=2.0)
    np.testing.assert_array_equal(spec.flux, [2.0, 4.0, 6.0])
    with pytest.raises(ValueError, match="format 'myspec' is already registered.*overwrite=True"):
        jaxspec.io.register_reader("myspec", _read_myspec, _is_myspec)
    jaxspec.io.register_reader("myspec", _read_myspec, None, overwrite=True)
    with pytest.raises(jaxspec.UnknownFormatError):
        jaxspec.io.identify(path)  # without an identifier it is used only by name
    assert jaxspec.io.read(path, format="myspec").n_pix == 3


def test_string_registration_is_lazy(tmp_path, clean_registry):
    jaxspec.io.register_reader("lazy", "jaxspec_no_such_module:read", None)
    assert "jaxspec_no_such_module" not in sys.modules
    path = tmp_path / "x.txt"
    path.write_text("x")
    with pytest.raises(ModuleNotFoundError, match="jaxspec_no_such_module"):
        jaxspec.io.read(path, format="lazy")


def test_write_picks_format_from_name(tmp_path):
    spec = Spectrum(np.linspace(5000, 5010, 11), np.ones(11))
    for name, fmt in (
        ("a.h5", "hdf5"),
        ("a.hdf5", "hdf5"),
        ("a.fits", "jaxspec-fits"),
        ("a.fit", "jaxspec-fits"),
    ):
        jaxspec.io.write(spec, tmp_path / name)
        assert jaxspec.io.identify(tmp_path / name) == fmt
    jaxspec.io.write(spec, tmp_path / "a.fits.gz")
    assert (tmp_path / "a.fits.gz").read_bytes()[:2] == b"\x1f\x8b"
    assert jaxspec.io.read(tmp_path / "a.fits.gz").n_pix == 11


def test_import_is_light():
    code = (
        "import sys, json\n"
        "import jaxspec.io\n"
        "light = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('matplotlib', 'numpyro', 'h5py') or m.startswith('astropy.io.fits'))\n"
        "from jaxspec.data import apogee_example_path\n"
        "jaxspec.io.read(apogee_example_path())\n"
        "after = sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'numpyro'))\n"
        "print(json.dumps([light, after]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    light, after = json.loads(out.stdout.strip().splitlines()[-1])
    assert light == [], f"import jaxspec.io pulled in {light}"
    assert after == [], f"reading a file pulled in {after}"
