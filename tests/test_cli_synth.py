"""The ``jaxspec synth`` and ``synth-grid`` commands, with a fake synthesizer injected.

``jaxspec.cli.make_synthesizer`` is the injection point; the fake (``synth/_grid_fake.py``)
records how it was built and what it computed.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jaxspec import cli, io
from jaxspec.cli import main
from jaxspec.synth.grid import read_grid


def _load_fake():
    if "_grid_fake" not in sys.modules:
        path = Path(__file__).parent / "synth" / "_grid_fake.py"
        spec = importlib.util.spec_from_file_location("_grid_fake", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["_grid_fake"] = module
        spec.loader.exec_module(module)
    return sys.modules["_grid_fake"]


FakeSynthesizer = _load_fake().FakeSynthesizer
SUN = ["--teff", "5777", "--logg", "4.44", "--feh", "0"]


@pytest.fixture
def built(monkeypatch):
    """Replace the synthesizer factory; the list collects every fake it builds."""
    made = []

    def factory(wave_min, wave_max, resolution, bounds=None):
        fake = FakeSynthesizer(wave_min, wave_max, resolution)
        fake.built_with = (wave_min, wave_max, resolution)
        made.append(fake)
        return fake

    monkeypatch.setattr(cli, "make_synthesizer", factory)
    return made


def test_new_subcommands_have_help(capsys):
    for cmd in ("synth", "synth-grid"):
        with pytest.raises(SystemExit) as exc:
            main([cmd, "--help"])
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert cmd in out and "--wave-min" in out and "--R" in out
    assert {"synth", "synth-grid"} <= set(cli.build_parser()._subparsers._group_actions[0].choices)


def test_import_of_the_cli_stays_light():
    code = (
        "import sys, jaxspec.cli; "
        "heavy = ('jaxspec.synth', 'jaxspec.emulators', 'flax', 'optax', 'matplotlib', 'scipy', "
        "'h5py'); "
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_synth_writes_a_readable_spectrum(tmp_path, built, capsys):
    out = tmp_path / "sun.h5"
    assert main(["synth", *SUN, "--alpha", "0.1", "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    (fake,) = built
    assert fake.built_with == (4200.0, 6800.0, None)  # --R omitted: native sampling
    labels = np.array([[5777, 4.44, 0, 0.1, 1.0]])
    np.testing.assert_array_equal(fake.calls[0], labels)
    spec = io.read(out)
    assert spec.batch_shape == () and spec.meta.flux_unit == ""
    np.testing.assert_array_equal(spec.wave, fake.wave)
    np.testing.assert_allclose(spec.flux, fake.flux(labels)[0][0], rtol=0, atol=0)
    header = spec.meta.header_dict
    assert header["TEFF"] == 5777 and header["ALPHA"] == 0.1 and header["VMIC"] == 1.0
    assert json.loads(header["LABEL_UNITS"])["teff"] == "K"
    assert json.loads(header["SYNTH_CONFIG"]) == fake.config()
    assert header["COMMAND"].startswith("jaxspec synth --teff 5777")
    assert spec.meta.frame == "rest" and spec.meta.resolution is None
    # the file is an ordinary spectra file for the other commands
    assert main(["info", str(out)]) == 0
    assert "pixels:      240" in capsys.readouterr().out
    # existing output is kept unless --overwrite
    assert main(["synth", *SUN, "-o", str(out)]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert main(["synth", *SUN, "-o", str(out), "--overwrite", "--R", "20000"]) == 0
    assert built[-1].built_with == (4200.0, 6800.0, 20000.0)
    assert io.read(out).meta.resolution == 20000.0


def test_synth_absolute_flux_and_r_zero(tmp_path, built):
    out = tmp_path / "abs.h5"
    args = ["synth", *SUN, "-o", str(out), "--absolute", "--R", "0"]
    assert main([*args, "--wave-min", "5000", "--wave-max", "5500"]) == 0
    assert built[0].built_with == (5000.0, 5500.0, None)
    spec = io.read(out)
    norm, cont = built[0].flux(np.array([[5777, 4.44, 0, 0, 1.0]]))
    assert spec.meta.flux_unit == "erg / (s cm2 Angstrom)"
    np.testing.assert_allclose(spec.flux, norm[0] * cont[0], rtol=1e-12)
    assert spec.meta.header_dict["FLUX"] == "absolute F_lambda"


def test_synth_plot_writes_png_with_one_panel_per_window(tmp_path, built, monkeypatch):
    from matplotlib.figure import Figure

    saved = []
    original = Figure.savefig

    def savefig(self, *args, **kwargs):
        saved.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    png = tmp_path / "sun.png"
    args = ["synth", *SUN, "-o", str(tmp_path / "s.h5"), "--plot", str(png)]
    assert main([*args, "--plot-windows", "5150:5200,6540:6590"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    axes = [ax for ax in saved[0].axes if ax.get_visible()]
    assert len(axes) == 2
    assert axes[0].get_xlim() == (5150, 5200) and axes[1].get_xlim() == (6540, 6590)
    assert axes[0].get_xlabel() == "vacuum wavelength [Å]"
    assert axes[0].get_ylabel() == "normalised flux"
    assert "Teff = 5777 K" in saved[0].get_suptitle()
    assert list(tmp_path.glob(".*")) == []  # no temporary files left


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--teff", "100"], "teff = 100 K is outside the allowed range 3000 to 8000"),
        (["--logg", "0.2"], "logg = 0.2 is below the lowest log g"),
        (["--vmic", "nan"], "--vmic must be a finite number"),
        (["--wave-min", "7000"], "--wave-min 7000 must be positive and below --wave-max"),
        (["--R", "-5"], "--R must be a resolving power >= 0"),
        (["--plot-windows", "5200:5100", "--plot", "x.png"], "must have LO below HI"),
        (["--plot-windows", "9000:9100", "--plot", "x.png"], "outside the synthesised range"),
        (["--plot-windows", "5100:5200"], "--plot-windows needs --plot"),
        (["--plot", "x.unknown"], "extension must name an image format"),
    ],
)
def test_synth_errors_are_one_line_with_status_2(tmp_path, built, capsys, extra, message):
    args = ["synth", *SUN, "-o", str(tmp_path / "s.h5"), *extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxspec synth: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "s.h5").exists()


GRID = ["synth-grid", "--n", "30", "--chunk-size", "8", "--R", "20000", "-q"]


def test_synth_grid_runs_and_records_provenance(tmp_path, built, capsys):
    out = tmp_path / "grid.h5"
    assert main([*GRID, "--vmic", "0.5", "2.5", "--seed", "3", "-o", str(out)]) == 0
    assert "grid " in capsys.readouterr().out
    fake = built[0]
    grid = read_grid(out)
    x = grid.label_array()
    assert x.shape == (30, 5) and fake.in_domain(x).all()
    lo = np.array([4000, 1, -2.5, -0.2, 0.5])
    hi = np.array([7000, 5, 0.5, 0.6, 2.5])
    assert np.all((x >= lo) & (x <= hi)) and np.ptp(x[:, 4]) > 1.0
    np.testing.assert_array_equal(grid.flux, fake.flux(x)[0].astype(np.float32))
    prov = grid.provenance
    assert prov["sampling"] == {
        "method": "sobol",
        "seed": 3,
        "n": 30,
        "bounds": {
            "teff": [4000.0, 7000.0],
            "logg": [1.0, 5.0],
            "feh": [-2.5, 0.5],
            "alpha": [-0.2, 0.6],
            "vmic": [0.5, 2.5],
        },
        "accept": "synthesizer.in_domain",
    }
    assert prov["command"].startswith("jaxspec synth-grid --n 30")
    assert prov["synthesizer"]["resolution"] == 20000.0
    # fixed vmic by default; lhs
    out2 = tmp_path / "lhs.h5"
    assert main([*GRID, "--method", "lhs", "-o", str(out2)]) == 0
    np.testing.assert_array_equal(read_grid(out2).label_array()[:, 4], 1.0)


def test_synth_grid_resumes_after_a_crash_and_skips_a_finished_grid(tmp_path, built, monkeypatch):
    ref, out = tmp_path / "ref.h5", tmp_path / "grid.h5"
    assert main([*GRID, "-o", str(ref)]) == 0
    crashing = []

    def factory(wave_min, wave_max, resolution, bounds=None):
        crashing.append(FakeSynthesizer(wave_min, wave_max, resolution, fail_after=2))
        return crashing[-1]

    monkeypatch.setattr(cli, "make_synthesizer", factory)
    with pytest.raises(RuntimeError, match="simulated crash"):
        main([*GRID, "-o", str(out)])
    assert len(list((tmp_path / "grid.h5.parts").glob("chunk_*.h5"))) == 2

    def healthy(wave_min, wave_max, resolution, bounds=None):
        built.append(FakeSynthesizer(wave_min, wave_max, resolution))
        return built[-1]

    monkeypatch.setattr(cli, "make_synthesizer", healthy)
    assert main([*GRID, "-o", str(out)]) == 0
    assert [len(c) for c in built[-1].calls] == [8, 8]  # chunks 2 and 3 only
    a, b = read_grid(out), read_grid(ref)
    np.testing.assert_array_equal(a.label_array(), b.label_array())
    np.testing.assert_array_equal(a.flux, b.flux)
    np.testing.assert_array_equal(a.continuum, b.continuum)
    # the same command again: nothing to do
    assert main([*GRID[:-1], "-o", str(out)]) == 0
    assert built[-1].calls == []
    # other labels into the same file: refused with advice, unless --overwrite
    assert main([*GRID, "--seed", "7", "-o", str(out)]) == 2
    assert main([*GRID, "--seed", "7", "-o", str(out), "--overwrite"]) == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--teff", "100", "200"], "At the centre of the bounds: teff = 150 K is outside"),
        (["--logg", "5", "1"], "--logg 5 1: LO is above HI"),
        (["--feh", "1", "2", "3"], "--feh takes LO HI, or one value"),
        (["--logg", "0", "0.4"], "none of 4096 labels"),
        (["--teff", "3000", "8000", "--logg", "0.45", "0.55"], "narrow teff to about [3"),
        (["--n", "0"], "--n must be at least 1"),
    ],
)
def test_synth_grid_bad_labels_give_status_2(tmp_path, built, capsys, extra, message):
    assert main([*GRID, "-o", str(tmp_path / "g.h5"), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxspec synth-grid: error: ") and message in err
    assert err.count("\n") == 1
    assert not (tmp_path / "g.h5").exists()


@pytest.mark.slow
def test_real_synth_grid_killed_and_resumed_matches_an_uninterrupted_run(tmp_path):
    """`jaxspec synth-grid` with the real synthesizer: SIGKILL after the first chunk, rerun.

    Once compiled, a chunk of two short spectra takes well under a second, so the grid has
    many chunks: the kill must land before the run could possibly finish.
    """
    import os
    import signal
    import time

    args = [
        sys.executable, "-m", "jaxspec.cli", "synth-grid", "--n", "48", "--chunk-size", "2",
        "--teff", "5000", "6000", "--logg", "3.5", "4.5", "--feh", "-1", "0.3",
        "--alpha", "0", "0.3", "--vmic", "1", "1.5", "--wave-min", "5180", "--wave-max",
        "5190", "--R", "20000", "--seed", "3", "-q",
    ]  # fmt: skip
    env = dict(os.environ, JAX_ENABLE_X64="1")
    killed = tmp_path / "killed.h5"
    proc = subprocess.Popen([*args, "-o", str(killed)], env=env)
    parts = tmp_path / "killed.h5.parts"
    deadline = time.time() + 600
    while time.time() < deadline and not list(parts.glob("chunk_*.h5")):
        assert proc.poll() is None, f"synth-grid exited early with status {proc.returncode}"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = sorted(p.name for p in parts.glob("chunk_*.h5"))
    assert 1 <= len(done_before) < 24 and not killed.exists()
    subprocess.run([*args, "-o", str(killed)], env=env, check=True)
    reference = tmp_path / "reference.h5"
    subprocess.run([*args, "-o", str(reference)], env=env, check=True)
    a, b = read_grid(killed), read_grid(reference)
    np.testing.assert_array_equal(a.label_array(), b.label_array())
    assert len(np.unique(a.label_array(), axis=0)) == 48  # no duplicates, no gaps
    np.testing.assert_array_equal(np.asarray(a.flux), np.asarray(b.flux))
    np.testing.assert_array_equal(np.asarray(a.continuum), np.asarray(b.continuum))
    assert np.all(np.isfinite(np.asarray(a.flux))) and not parts.exists()
