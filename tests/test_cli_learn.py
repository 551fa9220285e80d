"""``jaxspec train-regressor``, ``train-classifier`` and ``classify`` end to end, in-process.

The training grid is written by :func:`jaxspec.synth.grid.generate_grid` from the shipped
emulator cropped to 5150–5350 Å (a cheap, realistic stand-in for the synthesizer), so the
commands see a real grid file with provenance.
"""

import contextlib
import io as textio

import numpy as np
import pytest
from astropy.table import Table

from jaxspec import Spectrum, io
from jaxspec.cli import main

BOUNDS = {
    "teff": (4000.0, 7000.0),
    "logg": (1.0, 5.0),
    "feh": (-2.0, 0.5),
    "alpha": (0.0, 0.4),
    "vmic": (1.0, 1.0),
}


def run(argv):
    out, err = textio.StringIO(), textio.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(a) for a in argv])
    return status, out.getvalue(), err.getvalue()


class _EmulatorAsSynthesizer:
    """The grid-synthesizer protocol on top of an emulator (vmic fixed at 1 km/s)."""

    label_names = ("teff", "logg", "feh", "alpha", "vmic")
    label_units = ("K", "dex", "dex", "dex", "km/s")

    def __init__(self, emulator):
        self.emulator = emulator
        self.wave = emulator.wave

    def flux(self, labels):
        f = np.asarray(self.emulator.predict(np.asarray(labels)[:, :4]), dtype=np.float32)
        return f, np.ones_like(f)

    def config(self):
        return {"emulator": "default, cropped to 5150-5350", "resolution": 7500.0}


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    from jaxspec.emulators import load_default
    from jaxspec.synth.grid import generate_grid, sample_labels

    emu = load_default().crop(5150.0, 5350.0)
    labels = sample_labels(600, BOUNDS, seed=5)
    path = tmp_path_factory.mktemp("learn") / "grid.h5"
    attrs = {"sampling": {"method": "sobol", "seed": 5, "bounds": BOUNDS}}
    generate_grid(path, _EmulatorAsSynthesizer(emu), labels, progress=False, attrs=attrs)
    return path, emu


def test_train_regressor_cannon_writes_a_model_that_recovers_labels(grid, tmp_path):
    from jaxspec.regress import Cannon

    path, emu = grid
    out = tmp_path / "cannon.h5"
    status, stdout, err = run(["train-regressor", path, "-o", out, "--method", "cannon", "-q"])
    assert status == 0, err
    assert "trained on 600 spectra" in stdout and "vmic" in stdout
    model = Cannon.load(out)
    assert model.label_space.names == ("teff", "logg", "feh", "alpha")
    truth = np.array([[5500.0, 4.0, -0.5, 0.2]])
    flux = np.asarray(emu.predict(truth))
    res = model.predict(flux, np.full_like(flux, 1e4))
    assert abs(float(res.labels[0, 0]) - 5500.0) < 150.0
    # an existing output is kept unless --overwrite
    status, _, err = run(["train-regressor", path, "-o", out, "--method", "cannon", "-q"])
    assert status == 2 and "--overwrite" in err


def test_train_classifier_then_classify_files(grid, tmp_path):
    from jaxspec.classify import SpectralClassifier

    path, emu = grid
    model_path = tmp_path / "clf.h5"
    status, stdout, err = run(
        ["train-classifier", path, "-o", model_path, "--epochs", "1", "--batch-size", "64", "-q"]
    )
    assert status == 0, err
    clf = SpectralClassifier.load(model_path)
    assert clf.n_pix == emu.n_pix

    # A G dwarf written as a FITS file on its own (linear) grid, some junk, and no overlap.
    star = np.asarray(emu.predict(np.array([[5700.0, 4.4, 0.0, 0.0]])))[0]
    wave = np.arange(5140.0, 5360.0, 0.2)
    flux = np.interp(wave, emu.wave, star, left=1.0, right=1.0)
    good = tmp_path / "sun-like.fits"
    io.write(Spectrum(wave, flux, np.full_like(wave, 2500.0), object_id="sunlike"), good)
    junk = tmp_path / "junk.fits"
    junk.write_text("not a spectrum")
    far = tmp_path / "far.h5"
    fw = np.linspace(8000.0, 8100.0, 300)
    io.write(Spectrum(fw, np.ones_like(fw), np.ones_like(fw), object_id="far"), far)
    table_path = tmp_path / "classes.ecsv"
    status, stdout, err = run(["classify", good, junk, far, "-m", model_path, "-o", table_path])
    assert status == 0, err
    assert "junk.fits: not used (could not read the file" in err
    assert "far.h5: not used (no wavelength overlap with the classifier" in err
    lines = stdout.splitlines()
    assert lines[0].split()[:2] == ["object", "type"]
    assert lines[1].startswith("sunlike ")
    table = Table.read(table_path)
    assert list(table["object"]) == ["sunlike", "junk.fits", "far"]
    assert table["label"][0] and not table["message"][0]
    assert 0.0 <= table["p_mk_class"][0] <= 1.0 and np.isnan(table["p_mk_class"][1])
    assert table["mk_class"][0] in ("F", "G", "K")


def test_classify_usage_errors(tmp_path):
    status, _, err = run(["classify", "x.fits", "-m", tmp_path / "absent.h5"])
    assert status == 2 and "absent.h5" in err
    status, _, err = run(["classify", "x.fits", "-m", "m.h5", "-o", tmp_path / "t.txt"])
    assert status == 2 and "unknown table format" in err


@pytest.mark.slow
def test_train_regressor_cnn_writes_a_loadable_ensemble(grid, tmp_path):
    from jaxspec.regress import SpectrumCNN

    path, emu = grid
    out = tmp_path / "cnn.h5"
    argv = ["train-regressor", path, "-o", out, "--members", "2", "--epochs", "1", "-q"]
    status, stdout, err = run(argv)
    assert status == 0, err
    assert f"wrote {out}" in stdout
    model = SpectrumCNN.load(out)
    assert model.n_members == 2 and model.label_names == ("teff", "logg", "feh", "alpha")
    flux = np.asarray(emu.predict(np.array([[5500.0, 4.0, -0.5, 0.2]])))
    res = model.predict(flux)
    assert np.all(np.isfinite(res.labels)) and np.all(res.errors > 0)
