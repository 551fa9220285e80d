"""Model files: exact round trips, and every kind of damage refused with a one-line message."""

import h5py
import numpy as np
import pytest
from flax import nnx

from jaxspec import FileFormatError
from jaxspec._modelfile import (
    check_weights,
    fill_state,
    flat_weights,
    read_model_file,
    write_model_file,
)

FMT = {"format_name": "jaxspec.test_model", "format_version": 1}
READ = {**FMT, "what": "test model", "remedy": "Write it again."}


def _write(path, **kwargs):
    attrs = {"labels": ["teff", "logg"], "config": {"hidden": [8, 4]}, "resolution": 7500.0}
    arrays = {
        "wave": np.linspace(5000, 5100, 11),
        "member_0/kernel": np.arange(6, dtype=np.float32).reshape(2, 3),
        "counts": np.array([1, 2, 3]),
        "flag": np.array(True),
    }
    return write_model_file(path, attrs=attrs, arrays=arrays, **{**FMT, **kwargs}), attrs, arrays


def test_round_trip_is_exact(tmp_path):
    path, attrs, arrays = _write(tmp_path / "m.h5")
    got_attrs, got_arrays = read_model_file(path, **READ)
    for key, value in attrs.items():
        assert got_attrs[key] == value
    assert got_attrs["created_by"].startswith("jaxspec-stellar ")
    assert set(got_arrays) == set(arrays)
    for key, value in arrays.items():
        np.testing.assert_array_equal(got_arrays[key], value)
        assert got_arrays[key].dtype == np.asarray(value).dtype
    assert [p.name for p in tmp_path.iterdir()] == ["m.h5"]  # no temporary left


def test_existing_file_is_kept_unless_overwrite(tmp_path):
    path, _, _ = _write(tmp_path / "m.h5")
    with pytest.raises(FileExistsError, match="overwrite"):
        _write(path)
    _write(path, overwrite=True)


def test_edited_array_fails_the_sha256(tmp_path):
    path, _, _ = _write(tmp_path / "m.h5")
    with h5py.File(path, "r+") as f:
        del f["counts"]
        f["counts"] = np.array([1, 2, 4])
    with pytest.raises(FileFormatError, match="SHA-256"):
        read_model_file(path, **READ)


def test_edited_attribute_fails_the_sha256(tmp_path):
    path, _, _ = _write(tmp_path / "m.h5")
    with h5py.File(path, "r+") as f:
        f.attrs["resolution"] = "22500.0"
    with pytest.raises(FileFormatError, match="SHA-256"):
        read_model_file(path, **READ)


def test_truncated_file(tmp_path):
    path, _, _ = _write(tmp_path / "m.h5")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(FileFormatError, match="truncated|corrupt"):
        read_model_file(path, **READ)


def test_other_format_version_and_non_model_files(tmp_path):
    path, _, _ = _write(tmp_path / "m.h5")
    with pytest.raises(FileFormatError, match="expected format='jaxspec.other'"):
        read_model_file(path, **{**READ, "format_name": "jaxspec.other"})
    with pytest.raises(FileFormatError, match="format_version=1"):
        read_model_file(path, **{**READ, "format_version": 2})
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5")
    with pytest.raises(FileFormatError, match="cannot be opened as HDF5"):
        read_model_file(text, **READ)
    with pytest.raises(FileNotFoundError, match="no test model file"):
        read_model_file(tmp_path / "absent.h5", **READ)


def test_reserved_names_and_bad_values_are_refused(tmp_path):
    with pytest.raises(ValueError, match="reserved"):
        write_model_file(tmp_path / "a.h5", attrs={"format": "x"}, arrays={}, **FMT)
    with pytest.raises(ValueError, match="JSON"):
        write_model_file(tmp_path / "a.h5", attrs={"bad": object()}, arrays={}, **FMT)
    with pytest.raises(ValueError, match="only numbers"):
        write_model_file(tmp_path / "a.h5", attrs={}, arrays={"s": np.array(["a"])}, **FMT)
    assert not (tmp_path / "a.h5").exists()


class _Tiny(nnx.Module):
    def __init__(self, rngs):
        self.layers = nnx.List([nnx.Linear(3, 4, rngs=rngs), nnx.Linear(4, 2, rngs=rngs)])


def test_nnx_weights_round_trip_and_shape_check(tmp_path):
    _, state = nnx.split(_Tiny(nnx.Rngs(0)))
    flat = flat_weights(state)
    assert set(flat) == {"layers/0/kernel", "layers/0/bias", "layers/1/kernel", "layers/1/bias"}
    _, other = nnx.split(_Tiny(nnx.Rngs(1)))
    filled = flat_weights(fill_state(other, flat))
    for key in flat:
        np.testing.assert_array_equal(filled[key], flat[key])
    check_weights(tmp_path, state, flat, "tiny")
    bad = dict(flat)
    bad["layers/1/kernel"] = np.zeros((4, 3), np.float32)
    with pytest.raises(FileFormatError, match="do not fit the tiny network"):
        check_weights(tmp_path, state, bad, "tiny")
