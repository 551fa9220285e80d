"""Tests of ``jaxspec fit``: simulated stars written to files, plus files that cannot be fitted.

The fit runs once per module (in-process, through ``cli.main``) with the default emulator
cropped to 5100–5300 Å, so the MAP program compiles once.
"""

import contextlib
import io as textio

import numpy as np
import pytest
from astropy.table import Table

from jaxspec import io
from jaxspec.cli import main

TRUTH = np.array([[5100.0, 3.0, -0.5, 0.2], [5900.0, 4.3, -0.1, 0.05]])
RV = np.array([30.0, -75.0])
FLUX_UNIT = "erg / (s cm2 Angstrom)"


def read(path):
    """A catalog as written (astropy masks empty strings and NaN of FITS files by default)."""
    kwargs = {"mask_invalid": False} if path.suffix == ".fits" else {}
    return Table.read(path, **kwargs)


def run(argv):
    """``(status, stdout, stderr)`` of ``jaxspec ARGV`` run in-process."""
    out, err = textio.StringIO(), textio.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(a) for a in argv])
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    from jaxspec.emulators import load_default, save_emulator

    emu = load_default().crop(5100, 5300)
    path = tmp_path_factory.mktemp("emulator") / "window.h5"
    save_emulator(emu, path)
    return emu, path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, emulator):
    """Files, in order: good star (HDF5), garbage, good star (FITS), no overlap (HDF5)."""
    import jax

    from jaxspec import Spectrum
    from jaxspec.infer import ForwardModel, Params
    from jaxspec.preprocess import resample

    emu, _ = emulator
    folder = tmp_path_factory.mktemp("spectra")
    model = ForwardModel(emu, continuum_order=1)
    # The emulator's log-uniform pixels, extended beyond its range on both sides.
    step = float(np.log(emu.wave[1] / emu.wave[0]))
    wave = np.exp(np.log(emu.wave[0]) + step * np.arange(-150, emu.n_pix + 150))
    cont = np.array([[[1.0, 0.05]], [[1.0, -0.05]]])
    spectra = model.simulate(Params(TRUTH, RV, np.zeros(2), cont), wave, 40.0, jax.random.key(11))
    # Physical units and a sloped continuum, as in a flux-calibrated file.
    sed = 3e-14 * (1.0 + 2e-3 * (wave - 5200.0))
    flux, ivar = np.asarray(spectra.flux) * sed, np.asarray(spectra.ivar) / sed**2
    one = Spectrum(wave, flux[0], ivar[0], object_id="star-one", flux_unit=FLUX_UNIT)
    two = Spectrum(wave, flux[1], ivar[1], object_id="star-two", flux_unit=FLUX_UNIT)
    # Star two on a linear 0.25 Å grid covering only the red part of the emulator's range.
    two = resample(two, np.arange(5160.0, 5330.0, 0.25))
    files = [folder / "star-one.h5", folder / "star-two.fits"]
    io.write(one, files[0])
    io.write(two, files[1])
    junk = folder / "junk.fits"
    junk.write_text("this is not a spectrum\n")
    far = folder / "far.h5"
    wave = np.linspace(8000.0, 8200.0, 500)
    io.write(Spectrum(wave, np.ones_like(wave), np.full_like(wave, 100.0), object_id="far"), far)
    return [files[0], junk, files[1], far]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, emulator, inputs):
    _, emu_path = emulator
    folder = tmp_path_factory.mktemp("fit")
    catalog = folder / "catalog.fits"
    plots = folder / "plots"
    argv = [
        "fit",
        *inputs,
        "-o",
        catalog,
        "--emulator",
        emu_path,
        "--continuum-order",
        1,
        "--plot-dir",
        plots,
    ]
    status, out, err = run(argv)
    return status, out, err, catalog, plots


def test_catalog_has_one_row_per_file_in_input_order(fitted, inputs):
    status, out, err, catalog, _ = fitted
    assert status == 0, err
    t = read(catalog)
    assert list(t["object_id"]) == ["star-one", "junk.fits", "star-two", "far"]
    assert list(t["file"]) == [str(p) for p in inputs]
    assert list(t["flag_unfit"]) == [False, True, False, True]
    assert t.meta["METHOD"] == "map+laplace"
    assert f"wrote {catalog}: 4 stars, 2 fitted (map)" in out


def test_files_that_cannot_be_fitted_get_flagged_rows_and_one_line_warnings(fitted):
    _, out, err, catalog, _ = fitted
    t = read(catalog)
    assert t["message"][0] == "" and t["message"][2] == ""
    assert t["message"][1].startswith("could not read the file: ")
    assert "junk.fits" in t["message"][1]
    assert t["message"][3].startswith("no wavelength overlap with the emulator")
    assert "8000.0-8200.0 A" in t["message"][3]  # FITS text is ASCII
    assert np.all(np.isnan(t["teff"][[1, 3]]))
    assert t["flag"][1] & 1 and t["flag"][3] & 1
    lines = err.strip().splitlines()
    assert len(lines) == 2, err
    assert lines[0].startswith("jaxspec fit: ") and "junk.fits: not fitted (could not" in lines[0]
    assert "far.h5: not fitted (no wavelength overlap" in lines[1]
    # The summary names every star, with flags or the reason it was not fitted.
    assert "object" in out and "teff [K]" in out and "rv [km/s]" in out
    assert "not fitted: no wavelength overlap" in out


def test_labels_of_the_good_stars_match_the_truth(fitted):
    _, _, _, catalog, _ = fitted
    t = read(catalog)
    names = ["teff", "logg", "feh", "alpha", "rv"]
    floor = {"teff": 20.0, "logg": 0.03, "feh": 0.02, "alpha": 0.02, "rv": 0.3}
    for row, truth in zip((0, 2), np.column_stack([TRUTH, RV]), strict=True):
        for name, value in zip(names, truth, strict=True):
            est, err = float(t[name][row]), float(t[f"{name}_err"][row])
            assert 0 < err < np.inf
            assert abs(est - value) < 4 * err + floor[name], (row, name, est, err, value)
        assert t["chi2_red"][row] < 2.0
    assert t["teff"].unit == "K" and t["rv"].unit == "km / s"


def test_catalog_round_trips_through_fits_and_ecsv(fitted, tmp_path):
    from jaxspec.infer import write_catalog

    _, _, _, catalog, _ = fitted
    t = read(catalog)
    for name in ("again.fits", "again.ecsv"):
        write_catalog(t, tmp_path / name)
        back = read(tmp_path / name)
        assert back.colnames == t.colnames
        for col in t.colnames:
            assert back[col].unit == t[col].unit, col
            if t[col].dtype.kind in "fiub":
                np.testing.assert_array_equal(np.asarray(back[col]), np.asarray(t[col]))
            else:  # astropy's ECSV reader masks empty strings
                text = back[col].filled("") if hasattr(back[col], "filled") else back[col]
                assert list(text) == list(t[col]), col
        assert back.meta["METHOD"] == "map+laplace"


def test_plot_dir_has_a_fit_plot_per_fitted_star(fitted):
    _, out, _, _, plots = fitted
    names = sorted(p.name for p in plots.iterdir())
    assert names == ["0000_star-one_fit.png", "0002_star-two_fit.png"]
    assert (plots / names[0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"2 plots in {plots}" in out


def test_nothing_fittable_still_writes_a_catalog(tmp_path, emulator, inputs):
    _, emu_path = emulator
    out = tmp_path / "cat.ecsv"
    status, stdout, err = run(
        ["fit", inputs[1], inputs[3], "-o", out, "--emulator", emu_path, "-q"]
    )
    assert status == 0, err
    t = read(out)
    assert len(t) == 2 and all(t["flag_unfit"])
    assert stdout.strip() == f"wrote {out}: 2 stars, 0 fitted (map), 2 flagged"
    assert len(err.strip().splitlines()) == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-o", "{tmp}/cat.txt"], "cannot tell the catalog format"),
        (["-o", "{tmp}/exists.fits"], "exists; pass --overwrite"),
        (["-o", "{tmp}/nodir/cat.fits"], "does not exist"),
        (["-o", "{tmp}/c.fits", "--rv-min", "10", "--rv-max", "-10"], "--rv-min 10 must be below"),
        (["-o", "{tmp}/c.fits", "--num-samples", "0"], "--num-samples and --num-chains >= 1"),
        (["-o", "{tmp}/c.fits", "--continuum-order", "-1"], "--continuum-order must be >= 0"),
        (["-o", "{tmp}/c.fits", "--emulator", "{tmp}/missing.h5"], "no emulator file"),
    ],
)
def test_usage_errors_exit_2_with_one_line(tmp_path, inputs, extra, message):
    (tmp_path / "exists.fits").write_text("")
    argv = ["fit", inputs[0], *(a.format(tmp=tmp_path) for a in extra)]
    status, out, err = run(argv)
    assert status == 2
    assert err.startswith("jaxspec fit: error: ") and message in err
    assert len(err.strip().splitlines()) == 1 and out == ""
    assert not (tmp_path / "c.fits").exists()


@pytest.mark.parametrize(
    "argv", [["fit", "-o", "c.fits"], ["fit", "x.h5", "-o", "c.fits", "--method", "mcmc"]]
)
def test_argument_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.long
@pytest.mark.parametrize("method", ["nuts", "svi"])
def test_sampling_methods(tmp_path, emulator, inputs, method):
    _, emu_path = emulator
    out = tmp_path / "cat.h5"
    argv = [
        "fit",
        inputs[0],
        inputs[1],
        "-o",
        out,
        "--emulator",
        emu_path,
        "--method",
        method,
        "--num-warmup",
        100,
        "--num-samples",
        100,
        "--plot-dir",
        tmp_path / "plots",
        "-q",
    ]
    status, _, err = run(argv)
    assert status == 0, err
    t = Table.read(out, path="catalog")
    assert t.meta["METHOD"] == method and list(t["flag_unfit"]) == [False, True]
    assert "teff_p50" in t.colnames and "teff_rhat" in t.colnames
    assert abs(t["teff"][0] - TRUTH[0, 0]) < 4 * t["teff_err"][0] + 20
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "0000_star-one_corner.png",
        "0000_star-one_fit.png",
    ]
