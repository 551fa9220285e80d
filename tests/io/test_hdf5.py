"""HDF5 schema: bit-exact round trips, partial reads, schema and version checks."""

import json

import h5py
import numpy as np
import pytest

import jaxspec.io
from jaxspec import Spectrum, SpectrumMeta
from jaxspec.errors import FileFormatError
from jaxspec.io.hdf5 import FORMAT_NAME, FORMAT_VERSION, read_hdf5, write_hdf5


def _spectrum(rng, *, batch=(), dtype=np.float64, shared=True, n_pix=300):
    shape = (*batch, n_pix)
    wave = np.linspace(15100.0, 17000.0, n_pix)
    if batch and not shared:
        wave = wave * (1 + rng.uniform(-1e-4, 1e-4, size=(*batch, 1)))
    flux = rng.normal(1.0, 0.05, size=shape).astype(dtype)
    ivar = rng.uniform(100, 400, size=shape).astype(dtype)
    ivar[..., 10] = 0.0  # becomes masked
    mask = rng.uniform(size=shape) < 0.03
    n = batch[0] if batch else 0
    meta = SpectrumMeta(
        object_id=tuple(f"2M{i:08d}" for i in range(n)) if len(batch) == 1 else "2M00000000",
        source="tests/data/some.fits",
        format="apstar",
        flux_unit="1e-17 erg / (Angstrom s cm2)",
        frame="rest",
        redshift=1.5e-4,
        resolution=22500.0,
        header=(("SNR", 120.25), ("NVISITS", 2), ("GOOD", False), ("FIELD", "K04_083+13")),
    )
    return Spectrum(wave, flux, ivar, mask, meta)


def _assert_identical(a, b):
    for name in ("wave", "flux", "ivar", "mask"):
        x, y = getattr(a, name), getattr(b, name)
        assert isinstance(y, np.ndarray), name
        assert x.dtype == y.dtype, (name, x.dtype, y.dtype)
        np.testing.assert_array_equal(x, y, err_msg=name)
        assert x.tobytes() == y.tobytes(), name
    assert a.meta == b.meta


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "batch,shared",
    [((), True), ((5,), True), ((4,), False), ((2, 3), True), ((2, 3), False)],
    ids=["single", "batch-shared", "batch-own-wave", "2d-shared", "2d-own-wave"],
)
def test_hdf5_round_trip_is_bit_exact(tmp_path, rng, dtype, batch, shared):
    spec = _spectrum(rng, batch=batch, dtype=dtype, shared=shared)
    assert spec.mask.any() and spec.mask[..., 10].all()
    path = tmp_path / "spectra.h5"
    jaxspec.io.write(spec, path)
    assert jaxspec.io.identify(path) == "hdf5"
    _assert_identical(spec, jaxspec.io.read(path))
    _assert_identical(spec, read_hdf5(path))


def test_hdf5_schema(tmp_path, rng):
    spec = _spectrum(rng, batch=(5,), dtype=np.float32)
    path = tmp_path / "spectra.hdf5"
    write_hdf5(spec, path)
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == FORMAT_NAME == "jaxspec.spectra"
        version = f.attrs["format_version"]
        assert version == FORMAT_VERSION == 1 and np.issubdtype(type(version), np.integer)
        assert sorted(f) == ["flux", "ivar", "mask", "object_id", "wave"]
        assert f["wave"].shape == (300,) and f["flux"].shape == (5, 300)
        assert f["flux"].dtype == np.float32 and f["mask"].dtype == bool
        assert f["flux"].chunks == (1, 300)
        assert list(f["object_id"].asstr()[()]) == list(spec.meta.object_id)
        meta = json.loads(f.attrs["meta"])
        assert meta["frame"] == "rest" and "object_id" not in meta
        assert meta["header"][0] == ["SNR", 120.25]
        assert json.loads(f.attrs["batch_shape"]) == [5] and bool(f.attrs["shared_wave"])


@pytest.mark.parametrize("shared", [True, False])
def test_hdf5_index_reads_a_selection(tmp_path, rng, shared):
    spec = _spectrum(rng, batch=(6,), shared=shared)
    path = tmp_path / "batch.h5"
    write_hdf5(spec, path)
    one = read_hdf5(path, index=4)
    assert one.batch_shape == () and one.meta.object_id == "2M00000004"
    np.testing.assert_array_equal(one.flux, spec.flux[4])
    np.testing.assert_array_equal(one.wave, spec.wave if shared else spec.wave[4])
    part = read_hdf5(path, index=slice(1, 5, 2))
    _assert_identical(spec[1:5:2], part)
    picked = jaxspec.io.read(path, index=[5, 0, 2, 0])
    assert picked.meta.object_id == ("2M00000005", "2M00000000", "2M00000002", "2M00000000")
    np.testing.assert_array_equal(picked.flux, spec.flux[[5, 0, 2, 0]])
    np.testing.assert_array_equal(picked.mask, spec.mask[[5, 0, 2, 0]])
    assert read_hdf5(path, index=-1).meta.object_id == "2M00000005"
    _assert_identical(spec[::-2], read_hdf5(path, index=slice(None, None, -2)))
    assert read_hdf5(path, index=[]).batch_shape == (0,)
    with pytest.raises(IndexError, match=r"index 6 is out of range for .*batch\.h5.*6 spectra"):
        read_hdf5(path, index=6)


def test_hdf5_index_on_single_spectrum(tmp_path, rng):
    path = tmp_path / "single.h5"
    write_hdf5(_spectrum(rng), path)
    with pytest.raises(IndexError, match=r"single\.h5 holds a single spectrum"):
        read_hdf5(path, index=0)


def test_hdf5_wrong_version_and_schema(tmp_path, rng):
    path = tmp_path / "future.h5"
    write_hdf5(_spectrum(rng), path)
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = 2
    with pytest.raises(
        FileFormatError, match=r"future\.h5 has format_version=2.*reads format_version=1"
    ):
        jaxspec.io.read(path)

    missing = tmp_path / "partial.h5"
    write_hdf5(_spectrum(rng), missing)
    with h5py.File(missing, "r+") as f:
        del f["ivar"]
    with pytest.raises(FileFormatError, match=r"partial\.h5: .*missing dataset\(s\) \['ivar'\]"):
        read_hdf5(missing)

    other = tmp_path / "grid.h5"
    with h5py.File(other, "w") as f:
        f.attrs["format"] = "jaxspec.grid"
        f["flux"] = np.zeros(3)
    assert jaxspec.io.identify(other) == "hdf5"
    with pytest.raises(
        FileFormatError, match=r"grid\.h5 is an HDF5 file but not a jaxspec spectra"
    ):
        jaxspec.io.read(other)


def test_hdf5_overwrite_flag(tmp_path, rng):
    path = tmp_path / "x.h5"
    write_hdf5(_spectrum(rng), path)
    with pytest.raises(FileExistsError, match="x.h5 exists"):
        jaxspec.io.write(_spectrum(rng), path, overwrite=False)
