"""Training grids: label sampling, resumable generation (killed for real), the file schema.

A cheap fake synthesizer (``_grid_fake.py`` beside this file) stands in for the physics one,
so these tests exercise the grid machinery only. Kill tests run the generator in a child
process and SIGKILL it.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from jaxspec.errors import FileFormatError, LabelRangeError
from jaxspec.synth import grid as gm


def _load_fake():
    if "_grid_fake" not in sys.modules:
        path = Path(__file__).with_name("_grid_fake.py")
        spec = importlib.util.spec_from_file_location("_grid_fake", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["_grid_fake"] = module
        spec.loader.exec_module(module)
    return sys.modules["_grid_fake"]


fake_mod = _load_fake()
FakeSynthesizer = fake_mod.FakeSynthesizer
BOUNDS = fake_mod.BOUNDS
WORKER = Path(fake_mod.__file__)


def _labels(n, seed=1):
    return gm.sample_labels(n, BOUNDS, seed=seed, accept=FakeSynthesizer().in_domain)


def _expected(labels, fake=None):
    norm, cont = (fake or FakeSynthesizer()).flux(labels)
    return norm.astype(np.float32), cont.astype(np.float32)


def _assert_same_grid(a, b):
    np.testing.assert_array_equal(a.wave, b.wave)
    np.testing.assert_array_equal(a.label_array(), b.label_array())
    np.testing.assert_array_equal(a.flux, b.flux)
    np.testing.assert_array_equal(a.continuum, b.continuum)


# --------------------------------------------------------------------------- sampling


@pytest.mark.parametrize("method", ["sobol", "lhs"])
def test_sample_labels_deterministic_in_bounds_with_fixed_label(method):
    x = gm.sample_labels(100, BOUNDS, method=method, seed=3)
    assert x.shape == (100, 5) and x.dtype == np.float64
    np.testing.assert_array_equal(x, gm.sample_labels(100, BOUNDS, method=method, seed=3))
    assert not np.array_equal(x, gm.sample_labels(100, BOUNDS, method=method, seed=4))
    for j, (lo, hi) in enumerate(BOUNDS.values()):
        assert np.all((x[:, j] >= lo) & (x[:, j] <= hi))
    np.testing.assert_array_equal(x[:, 4], 1.0)  # vmic fixed
    assert len(np.unique(x[:, 0])) == 100  # free labels really vary
    # a single number fixes a label too; column order follows the dict
    y = gm.sample_labels(8, {"vmic": 2.0, "teff": (4000, 5000)}, method=method)
    np.testing.assert_array_equal(y[:, 0], 2.0)
    assert np.all((y[:, 1] >= 4000) & (y[:, 1] <= 5000))


def test_lhs_is_stratified_in_every_free_dimension():
    n = 37
    x = gm.sample_labels(n, BOUNDS, method="lhs", seed=11)
    for j, (lo, hi) in enumerate(BOUNDS.values()):
        if hi > lo:
            strata = np.floor((x[:, j] - lo) / (hi - lo) * n).astype(int)
            np.testing.assert_array_equal(np.sort(strata), np.arange(n))


def test_sobol_is_balanced_and_a_prefix_of_one_sequence():
    x = gm.sample_labels(64, BOUNDS, method="sobol", seed=5)
    for j, (lo, hi) in enumerate(list(BOUNDS.values())[:4]):
        bins = np.floor((x[:, j] - lo) / (hi - lo) * 64).astype(int)
        np.testing.assert_array_equal(np.sort(bins), np.arange(64))
    np.testing.assert_array_equal(gm.sample_labels(40, BOUNDS, seed=5), x[:40])


@pytest.mark.parametrize("method", ["sobol", "lhs"])
def test_accept_keeps_first_accepted_points_in_draw_order(method):
    fake = FakeSynthesizer()
    calls = []

    def accept(labels):
        calls.append(len(labels))
        return fake.in_domain(labels)

    x = gm.sample_labels(300, BOUNDS, method=method, seed=2, accept=accept)
    assert x.shape == (300, 5) and fake.in_domain(x).all()
    np.testing.assert_array_equal(
        x, gm.sample_labels(300, BOUNDS, method=method, seed=2, accept=fake.in_domain)
    )
    raw = gm.sample_labels(calls[0], BOUNDS, method=method, seed=2)
    assert 0.5 < fake.in_domain(raw).mean() < 0.95  # the envelope does reject some
    if method == "sobol":
        # one sequence: the accepted points of a long raw draw, in order
        raw = gm.sample_labels(2048, BOUNDS, method="sobol", seed=2)
        np.testing.assert_array_equal(x, raw[fake.in_domain(raw)][:300])
        assert all(c & (c - 1) == 0 for c in calls)  # rounds keep powers of two
    else:
        first = raw[fake.in_domain(raw)]
        np.testing.assert_array_equal(x[: len(first)], first)
        assert len(calls) >= 2


def test_hopeless_acceptance_says_which_bounds_to_narrow():
    wide = {**BOUNDS, "teff": (3000.0, 30000.0)}
    with pytest.raises(
        LabelRangeError, match=r"narrow teff to about \[3\d\d\d, 3\d\d\d\] \(now \[3000, 30000\]\)"
    ):
        gm.sample_labels(100, wide, accept=lambda x: x[:, 0] < 3100)
    with pytest.raises(LabelRangeError, match="none of 4096 labels"):
        gm.sample_labels(10, BOUNDS, accept=lambda x: np.zeros(len(x), bool))
    with pytest.raises(ValueError, match="one bool per row"):
        gm.sample_labels(10, BOUNDS, accept=lambda x: np.ones(3, bool))


def test_sample_labels_argument_errors():
    with pytest.raises(ValueError, match=r"bounds\['logg'\]: low 5 is above high 1"):
        gm.sample_labels(5, {**BOUNDS, "logg": (5, 1)})
    with pytest.raises(ValueError, match="finite"):
        gm.sample_labels(5, {"teff": (4000, np.nan)})
    with pytest.raises(ValueError, match="method"):
        gm.sample_labels(5, BOUNDS, method="grid")
    with pytest.raises(ValueError, match="positive integer"):
        gm.sample_labels(0, BOUNDS)
    with pytest.raises(ValueError, match="non-empty dict"):
        gm.sample_labels(5, {})
    everything_fixed = gm.sample_labels(
        3, {"teff": 5000, "logg": (4, 4)}, accept=lambda x: x[:, 0] > 0
    )
    np.testing.assert_array_equal(everything_fixed, [[5000, 4]] * 3)


# --------------------------------------------------------------------------- generation


def test_round_trip_schema_and_provenance(tmp_path):
    fake = FakeSynthesizer()
    labels = _labels(23)
    attrs = {"sampling": {"method": "sobol", "seed": 1, "bounds": BOUNDS}, "command": "test"}
    out = gm.generate_grid(
        tmp_path / "g.h5", fake, labels, chunk_size=5, progress=False, attrs=attrs
    )
    assert out == tmp_path / "g.h5"
    assert not (tmp_path / "g.h5.parts").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.h5"]
    assert [len(c) for c in fake.calls] == [5] * 5  # last chunk padded to one shape
    grid = gm.read_grid(out)
    norm, cont = _expected(labels)
    np.testing.assert_array_equal(grid.label_array(), labels)
    np.testing.assert_array_equal(grid.flux, norm)
    np.testing.assert_array_equal(grid.continuum, cont)
    np.testing.assert_array_equal(grid.wave, fake.wave)
    assert grid.flux.dtype == np.float32 and grid.continuum.dtype == np.float32
    assert grid.n == 23 and grid.n_wave == len(fake.wave)
    assert grid.label_names == fake.label_names and grid.label_units == fake.label_units
    assert str(grid.labels["teff"].unit) == "K" and grid.labels["vmic"].unit == "km / s"
    with h5py.File(out) as f:
        assert f.attrs["format"] == "jaxspec.grid" and int(f.attrs["format_version"]) == 1
        assert f["wave"].dtype == np.float64 and f["labels"].dtype == np.float64
        assert f["wave"].attrs["unit"] == "Angstrom" and f["wave"].attrs["medium"] == "vacuum"
        assert list(f["labels"].attrs["names"]) == list(fake.label_names)
        assert list(f["labels"].attrs["units"]) == list(fake.label_units)
        assert f["continuum"].attrs["unit"] == "erg / (s cm2 Angstrom)"
        assert f["flux"].compression == "gzip"
    prov = grid.provenance
    assert prov["synthesizer"] == fake.config()
    assert prov["sampling"]["bounds"]["teff"] == [4000.0, 7000.0] and prov["command"] == "test"
    assert prov["n"] == 23 and prov["chunk_size"] == 5 and prov["nonfinite_rows"] == []
    assert prov["jaxspec_version"] and prov["created_utc"].endswith("+00:00")
    lazy = gm.read_grid(out, lazy=True)
    assert isinstance(lazy.flux, gm.LazyDataset) and lazy.flux.shape == (23, len(fake.wave))
    np.testing.assert_array_equal(lazy.flux[3:7], norm[3:7])
    np.testing.assert_array_equal(np.asarray(lazy.continuum), cont)
    spectra = grid.spectra(slice(0, 4))
    assert spectra.batch_shape == (4,)
    np.testing.assert_array_equal(spectra.flux, norm[:4])


def test_finished_grid_is_not_recomputed(tmp_path, capsys):
    labels = _labels(12)
    gm.generate_grid(tmp_path / "g.h5", FakeSynthesizer(), labels, chunk_size=4)
    before = (tmp_path / "g.h5").stat().st_mtime_ns
    again = FakeSynthesizer()
    gm.generate_grid(tmp_path / "g.h5", again, labels, chunk_size=4)
    assert again.calls == [] and (tmp_path / "g.h5").stat().st_mtime_ns == before
    assert "already holds this grid (12 spectra); nothing to do" in capsys.readouterr().err
    # a different grid at the same path is refused unless overwrite=True
    with pytest.raises(FileExistsError, match="is not this grid"):
        gm.generate_grid(tmp_path / "g.h5", FakeSynthesizer(), labels[:10], progress=False)
    gm.generate_grid(
        tmp_path / "g.h5", FakeSynthesizer(), labels[:10], progress=False, overwrite=True
    )
    assert gm.read_grid(tmp_path / "g.h5").n == 10


def _run_worker(out, n, chunk, sleep, *extra):
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(out), str(n), str(chunk), str(sleep), *map(str, extra)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )


def _wait_for(predicate, proc, timeout=60.0):
    t0 = time.monotonic()
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"worker ended early: {proc.communicate()[1].decode()[-2000:]}")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            raise AssertionError("worker made no progress")
        time.sleep(0.01)


def _chunks(parts):
    return sorted(p.name for p in parts.glob("chunk_*.h5"))


def test_sigkill_then_resume_loses_and_duplicates_nothing(tmp_path):
    n, chunk = 40, 4
    out = tmp_path / "grid.h5"
    # fast for three chunks, then 3 s per chunk: a wide window to kill it in
    proc = _run_worker(out, n, chunk, "0.05,0.05,0.05,3")
    parts = tmp_path / "grid.h5.parts"
    _wait_for(lambda: len(_chunks(parts)) >= 3, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    on_disk = _chunks(parts)
    assert 3 <= len(on_disk) <= 4 and not out.exists()
    assert on_disk == [f"chunk_{i:06d}.h5" for i in range(len(on_disk))]
    labels = _labels(n)
    resumed = FakeSynthesizer()
    gm.generate_grid(out, resumed, labels, chunk_size=chunk, progress=False)
    # only the missing chunks were computed, each exactly once, in order
    assert len(resumed.calls) == 10 - len(on_disk)
    np.testing.assert_array_equal(np.concatenate(resumed.calls), labels[4 * len(on_disk) :])
    gm.generate_grid(
        tmp_path / "ref.h5", FakeSynthesizer(), labels, chunk_size=chunk, progress=False
    )
    got, ref = gm.read_grid(out), gm.read_grid(tmp_path / "ref.h5")
    _assert_same_grid(got, ref)
    assert len(np.unique(got.label_array(), axis=0)) == n  # no duplicates
    np.testing.assert_array_equal(got.flux, _expected(labels)[0])  # no gaps, rows aligned
    assert not parts.exists()


def test_sigkill_during_chunk_write_leaves_only_a_temporary_that_is_cleaned(tmp_path):
    n, chunk = 20, 4
    out = tmp_path / "grid.h5"
    proc = _run_worker(out, n, chunk, 0.0, 2)
    marker = tmp_path / "grid.h5.hang"
    _wait_for(marker.exists, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    parts = tmp_path / "grid.h5.parts"
    tmp = Path(json.loads(marker.read_text())["tmp"])
    assert tmp.exists() and tmp.parent == parts and tmp.name.startswith(".chunk_000002.h5.")
    assert _chunks(parts) == ["chunk_000000.h5", "chunk_000001.h5"]
    resumed = FakeSynthesizer()
    labels = _labels(n)
    gm.generate_grid(out, resumed, labels, chunk_size=chunk, progress=False)
    assert len(resumed.calls) == 3 and not tmp.exists() and not parts.exists()
    gm.generate_grid(
        tmp_path / "ref.h5", FakeSynthesizer(), labels, chunk_size=chunk, progress=False
    )
    _assert_same_grid(gm.read_grid(out), gm.read_grid(tmp_path / "ref.h5"))


def _crash_after(path, labels, k, chunk=4, **kwargs):
    with pytest.raises(RuntimeError, match="simulated crash"):
        gm.generate_grid(
            path, FakeSynthesizer(fail_after=k, **kwargs), labels, chunk_size=chunk, progress=False
        )


def test_different_job_in_parts_folder_raises(tmp_path):
    out = tmp_path / "g.h5"
    labels = _labels(16)
    _crash_after(out, labels, 2)
    with pytest.raises(gm.GridResumeError, match="different labels or synthesizer.*delete"):
        gm.generate_grid(out, FakeSynthesizer(), _labels(16, seed=9), chunk_size=4)
    with pytest.raises(gm.GridResumeError, match="another output path"):
        gm.generate_grid(out, FakeSynthesizer(resolution=20000), labels, chunk_size=4)
    # resume=False discards the old parts and starts again
    fresh = FakeSynthesizer()
    gm.generate_grid(out, fresh, _labels(16, seed=9), chunk_size=4, resume=False, progress=False)
    assert len(fresh.calls) == 4


def test_corrupt_or_foreign_chunks_are_recomputed(tmp_path, capsys):
    out = tmp_path / "g.h5"
    labels = _labels(24)
    _crash_after(out, labels, 4)
    parts = tmp_path / "g.h5.parts"
    assert len(_chunks(parts)) == 4
    data = (parts / "chunk_000001.h5").read_bytes()
    (parts / "chunk_000001.h5").write_bytes(data[: len(data) // 2])  # truncated
    with h5py.File(parts / "chunk_000002.h5", "a") as f:  # a chunk of some other grid
        f.attrs["grid_hash"] = "0" * 64
    # what a kill during the final assembly leaves beside the output
    stale = tmp_path / ".g.h5.k1ll3d.tmp"
    stale.write_bytes(b"half a grid")
    resumed = FakeSynthesizer()
    gm.generate_grid(out, resumed, labels, chunk_size=4)
    assert not stale.exists()
    err = capsys.readouterr().err
    assert "removed 1 temporary file(s) left by an interrupted run" in err
    assert "chunk 1 is incomplete or corrupt" in err and "chunk 2 is incomplete" in err
    assert "resuming" in err and "8 of 24 spectra already computed" in err
    assert len(resumed.calls) == 4  # chunks 1, 2, 4, 5
    np.testing.assert_array_equal(
        np.concatenate(resumed.calls), np.concatenate([labels[4:12], labels[16:24]])
    )
    grid = gm.read_grid(out)
    np.testing.assert_array_equal(grid.label_array(), labels)
    np.testing.assert_array_equal(grid.flux, _expected(labels)[0])


def test_resume_keeps_the_first_chunk_size(tmp_path, capsys):
    out = tmp_path / "g.h5"
    labels = _labels(20)
    _crash_after(out, labels, 2, chunk=4)
    resumed = FakeSynthesizer()
    gm.generate_grid(out, resumed, labels, chunk_size=7)
    assert "chunk size this grid started with, 4" in capsys.readouterr().err
    assert [len(c) for c in resumed.calls] == [4, 4, 4]
    assert gm.read_grid(out).provenance["chunk_size"] == 4


def test_a_second_writer_is_refused(tmp_path):
    out = tmp_path / "g.h5"
    (tmp_path / "g.h5.parts").mkdir()
    fd = os.open(tmp_path / "g.h5.parts" / ".lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(gm.GridResumeError, match="another process is writing"):
            gm.generate_grid(out, FakeSynthesizer(), _labels(4), progress=False)
    finally:
        os.close(fd)


def test_bad_labels_are_refused_before_any_work(tmp_path):
    fake = FakeSynthesizer()
    bad = _labels(6)
    bad[3, 1] = 0.1  # below the log g envelope
    with pytest.raises(LabelRangeError, match="logg = 0.1"):
        gm.generate_grid(tmp_path / "g.h5", fake, bad, progress=False)
    with pytest.raises(ValueError, match=r"shape \(n, 5\)"):
        gm.generate_grid(tmp_path / "g.h5", fake, bad[:, :4], progress=False)
    with pytest.raises(ValueError, match="chunk_size"):
        gm.generate_grid(tmp_path / "g.h5", fake, bad, chunk_size=0, progress=False)
    assert fake.calls == [] and list(tmp_path.iterdir()) == []


def test_nonfinite_spectra_are_reported(tmp_path):
    fake = FakeSynthesizer()
    flux = fake.flux

    def nan_flux(labels):
        norm, cont = flux(labels)
        norm[1, 5] = np.nan
        cont[2, 7] = 1e300  # overflows float32 (without a RuntimeWarning)
        return norm, cont

    fake.flux = nan_flux
    with pytest.warns(UserWarning, match=r"4 spectra .* non-finite values \(rows \[1, 2, 4, 5\]"):
        gm.generate_grid(tmp_path / "g.h5", fake, _labels(6), chunk_size=3, progress=False)
    grid = gm.read_grid(tmp_path / "g.h5")
    assert grid.provenance["nonfinite_rows"] == [1, 2, 4, 5]
    assert np.isinf(grid.continuum[2, 7]) and np.isnan(grid.flux[1, 5])


def test_read_grid_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError):
        gm.read_grid(tmp_path / "missing.h5")
    (tmp_path / "junk.h5").write_text("not hdf5")
    with pytest.raises(FileFormatError, match="cannot be opened as HDF5"):
        gm.read_grid(tmp_path / "junk.h5")
    path = gm.generate_grid(tmp_path / "g.h5", FakeSynthesizer(), _labels(3), progress=False)
    with h5py.File(path, "a") as f:
        f.attrs["format_version"] = 2
    with pytest.raises(FileFormatError, match="format_version=2"):
        gm.read_grid(path)
    with h5py.File(path, "a") as f:
        f.attrs["format_version"] = 1
        del f["continuum"]
    with pytest.raises(FileFormatError, match=r"missing dataset\(s\) \['continuum'\]"):
        gm.read_grid(path)
    with h5py.File(path, "a") as f:
        f.attrs["format"] = "jaxspec.spectra"
    with pytest.raises(FileFormatError, match="not a jaxspec grid.*jaxspec.io.read"):
        gm.read_grid(path)
