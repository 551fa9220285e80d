"""Model files: round trips in a fresh process, versioning, corruption and truncation."""

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from jaxspec.emulators import Emulator, load_emulator, save_emulator
from jaxspec.emulators import io as emulator_io
from jaxspec.emulators.io import FORMAT_VERSION
from jaxspec.errors import FileFormatError
from jaxspec.labels import LabelSpace

SPACE = LabelSpace(("teff", "feh"), ("K", "dex"), (4000, -2.5), (7000, 0.5))
WAVE = np.linspace(5000.0, 5010.0, 30)
STARS = np.array([[5000.0, -1.0], [6500.0, 0.2]])


@pytest.fixture(params=["payne", "smooth"])
def saved(request, tmp_path):
    emu = Emulator.initialise(
        request.param,
        SPACE,
        WAVE,
        config={"hidden": 16}
        if request.param == "payne"
        else {"hidden": 16, "layers": 1, "head": 8},
        flux_mean=np.full(30, 0.9),
        seed=4,
        resolution=7500.0,
        pixel_error=np.linspace(1e-4, 1e-3, 30),
        fixed_labels={"vmic": 1.0},
        provenance={"grids": [{"path": "g.h5", "n": 10}]},
    )
    path = save_emulator(emu, tmp_path / f"{request.param}.h5")
    return emu, path


def test_round_trip_keeps_everything(saved):
    emu, path = saved
    back = load_emulator(path)
    assert back.arch == emu.arch and back.config == emu.config
    assert back.label_space == emu.label_space
    assert back.resolution == 7500.0 and back.fixed_labels == {"vmic": 1.0}
    assert back.provenance == emu.provenance
    np.testing.assert_array_equal(back.wave, WAVE)
    np.testing.assert_array_equal(back.pixel_error, emu.pixel_error)
    np.testing.assert_array_equal(np.asarray(back.predict(STARS)), np.asarray(emu.predict(STARS)))


def test_fresh_process_gives_identical_predictions(saved, tmp_path):
    emu, path = saved
    out = tmp_path / "pred.npy"
    code = (
        "import numpy as np; from jaxspec.emulators import load_emulator; "
        f"e = load_emulator({str(path)!r}); "
        f"np.save({str(out)!r}, np.asarray(e.predict(np.array({STARS.tolist()!r}))))"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    np.testing.assert_array_equal(np.load(out), np.asarray(emu.predict(STARS)))


def test_existing_file_is_not_overwritten_by_default(saved):
    emu, path = saved
    with pytest.raises(FileExistsError, match="overwrite"):
        save_emulator(emu, path)
    save_emulator(emu, path, overwrite=True)


def test_truncated_file_is_a_clear_error(saved, tmp_path):
    _, path = saved
    cut = tmp_path / "cut.h5"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(FileFormatError, match="truncated"):
        load_emulator(cut)


def test_flipped_bytes_in_the_weights_are_caught(saved, tmp_path):
    _, path = saved
    with h5py.File(path, "r") as f:  # the datasets are chunked: find the raw bytes
        info = f["weights/output/kernel"].id.get_chunk_info(0)
    raw = bytearray(path.read_bytes())
    for i in range(info.byte_offset + 8, info.byte_offset + 24):
        raw[i] ^= 0xFF
    bad = tmp_path / "flipped.h5"
    bad.write_bytes(bytes(raw))
    with pytest.raises(FileFormatError, match="corrupt"):
        load_emulator(bad)


def test_edited_weights_fail_the_sha256(saved):
    _, path = saved
    with h5py.File(path, "r+") as f:
        f["weights/output/bias"][0] += 1.0  # rewrites the Fletcher-32 checksum too
    with pytest.raises(FileFormatError, match="SHA-256"):
        load_emulator(path)


def test_an_edited_label_box_fails_the_sha256(saved):
    _, path = saved
    with h5py.File(path, "r+") as f:
        box = json.loads(f.attrs["label_space"])
        box["upper"][0] = 7500.0  # would silently rescale every prediction
        f.attrs["label_space"] = json.dumps(box)
    with pytest.raises(FileFormatError, match="SHA-256"):
        load_emulator(path)


def test_other_versions_and_other_files_are_refused(saved, tmp_path):
    _, path = saved
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = FORMAT_VERSION + 1
    with pytest.raises(FileFormatError, match=f"format_version={FORMAT_VERSION + 1}"):
        load_emulator(path)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.attrs["format"] = "jaxspec.grid"
    with pytest.raises(FileFormatError, match="not a jaxspec emulator file"):
        load_emulator(other)
    text = tmp_path / "model.h5"
    text.write_text("not hdf5")
    with pytest.raises(FileFormatError, match="cannot be opened as HDF5"):
        load_emulator(text)
    with pytest.raises(FileNotFoundError, match="no emulator file"):
        load_emulator(tmp_path / "missing.h5")


def test_weights_that_do_not_fit_the_architecture_are_refused(saved):
    # A file whose checksum is consistent but whose settings do not fit its weights
    # (a writer bug, not an edit): the shape check still catches it.
    _, path = saved
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["config"])
        config["hidden"] += 1
        f.attrs["config"] = json.dumps(config)
        weights = {}
        f["weights"].visititems(
            lambda n, o: weights.__setitem__(n, o[()]) if hasattr(o, "shape") else None
        )
        pixel_error = f["pixel_error"][()]
        f.attrs["content_sha256"] = emulator_io._digest(
            weights, f.attrs, f["wave"][()], pixel_error
        )
    with pytest.raises(FileFormatError, match="do not fit"):
        load_emulator(path)
