"""Tests of the jaxspec command line (run in-process through cli.main and as a subprocess)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jaxspec import io
from jaxspec.cli import build_parser, main
from jaxspec.data import apogee_example_path


def test_every_subcommand_has_help(capsys):
    commands = {
        "demo",
        "info",
        "convert",
        "fit",
        "synth",
        "synth-grid",
        "train-emulator",
        "train-regressor",
        "train-classifier",
        "classify",
    }
    for cmd in sorted(commands):
        with pytest.raises(SystemExit) as exc:
            main([cmd, "--help"])
        assert exc.value.code == 0
        assert cmd in capsys.readouterr().out
    assert set(build_parser()._subparsers._group_actions[0].choices) == commands


def test_info_reports_format_object_pixels_range_and_snr(capsys):
    assert main(["info", str(apogee_example_path())]) == 0
    out = capsys.readouterr().out
    assert "format:      apstar" in out
    assert "2M19485057+5005279" in out
    assert "pixels:      8575" in out
    assert "15100.802 – 16999.807 Å" in out
    snr = float(out.split("median S/N per pixel:")[1].split()[0])
    assert snr == pytest.approx(137.49, rel=0.03)


@pytest.mark.parametrize("suffix", [".h5", ".fits"])
def test_convert_round_trip(tmp_path, capsys, suffix):
    out = tmp_path / f"star{suffix}"
    assert main(["convert", str(apogee_example_path()), str(out)]) == 0
    original = io.read(apogee_example_path())
    back = io.read(out)
    for name in ("wave", "flux", "ivar", "mask"):
        np.testing.assert_array_equal(getattr(back, name), getattr(original, name))
    assert main(["convert", str(apogee_example_path()), str(out)]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert main(["convert", str(apogee_example_path()), str(out), "--overwrite"]) == 0


def test_bad_input_gives_one_line_error_and_status_2(tmp_path, capsys):
    junk = tmp_path / "notes.txt"
    junk.write_text("not a spectrum\n")
    assert main(["info", str(junk)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxspec info: error: could not identify the format of")
    assert str(junk) in err
    assert main(["info", str(tmp_path / "missing.fits")]) == 2
    assert "missing.fits" in capsys.readouterr().err
    # A bad file among good ones: the others are still reported, the status says it failed.
    assert main(["info", str(junk), str(apogee_example_path())]) == 2
    captured = capsys.readouterr()
    assert "notes.txt" in captured.err and "2M19485057+5005279" in captured.out


def test_convert_output_format_option(tmp_path):
    out = tmp_path / "star.dat"
    assert main(["convert", str(apogee_example_path()), str(out), "--to", "hdf5"]) == 0
    assert io.identify(out) == "hdf5"


def test_apogee_demo_prints_summary_and_saves_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "demo.png"
    assert main(["demo", "--apogee", "-o", str(png)]) == 0
    out = capsys.readouterr().out
    assert "2M19485057+5005279" in out and "continuum-normalised" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_apogee_demo_without_matplotlib_says_how_to_get_the_plot(tmp_path):
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from jaxspec.cli import main\n"
        f"raise SystemExit(main(['demo', '--apogee', '-o', r'{tmp_path / 'x.png'}']))\n"
    )
    # Default JAX precision (float32) and warnings as errors: no dtype-truncation warnings.
    done = subprocess.run(
        [sys.executable, "-W", "error::UserWarning", "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr
    assert "pip install 'jaxspec-stellar[plot]'" in done.stdout
    assert not (tmp_path / "x.png").exists()


def test_demo_plot_names_from_prefix_or_directory(tmp_path):
    from jaxspec.demo import _plot_paths

    assert _plot_paths("jaxspec-demo") == (
        Path("jaxspec-demo-fit.png"),
        Path("jaxspec-demo-corner.png"),
    )
    assert _plot_paths(tmp_path / "run.png") == (
        tmp_path / "run-fit.png",
        tmp_path / "run-corner.png",
    )
    assert _plot_paths(tmp_path) == (
        tmp_path / "jaxspec-demo-fit.png",
        tmp_path / "jaxspec-demo-corner.png",
    )


def test_demo_fails_before_fitting_when_the_plot_folder_is_missing(tmp_path, capsys):
    pytest.importorskip("corner")
    assert main(["demo", "-o", str(tmp_path / "missing" / "run")]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("jaxspec demo: error: cannot save the plots")
    assert "MAP" not in captured.out
    assert main(["demo", "--window", "5300", "5100"]) == 2
    assert "give LO below HI" in capsys.readouterr().err


@pytest.mark.long
def test_demo_showcase_fits_three_stars_with_map_and_nuts(tmp_path, capsys):
    pytest.importorskip("corner")
    assert main(["demo", "-o", str(tmp_path / "show")]) == 0
    out = capsys.readouterr().out
    for name in ("cool giant", "solar-like dwarf", "metal-poor warm star"):
        assert name in out
    assert "MAP ± σ" in out and "NUTS mean ± σ" in out and "wall time" in out
    rhat = [
        float(line.split("max R-hat ")[1].split(",")[0])
        for line in out.splitlines()
        if "R-hat" in line
    ]
    assert len(rhat) == 3 and max(rhat) < 1.05
    for kind in ("fit", "corner"):
        assert (tmp_path / f"show-{kind}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_console_script_version():
    done = subprocess.run(
        [sys.executable, "-m", "jaxspec.cli", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "jaxspec-stellar" in done.stdout
