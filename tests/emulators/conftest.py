"""A tiny real training grid (Mg b window, Teff and [Fe/H] free) shared by the emulator tests."""

from pathlib import Path

import numpy as np
import pytest

TINY_BOUNDS = {
    "teff": (4500.0, 6500.0),
    "logg": (4.4, 4.4),
    "feh": (-1.5, 0.3),
    "alpha": (0.0, 0.0),
    "vmic": (1.0, 1.0),
}
#: Spectra in the tiny grid; the last N_TEST are never trained on.
N_TINY = 128
N_TEST = 28


@pytest.fixture(scope="session")
def tiny_grid_path(tmp_path_factory) -> Path:
    """128 spectra of the physics synthesizer, 5160–5190 Å at R = 7500 (131 pixels)."""
    from jaxspec.synth import Synthesizer
    from jaxspec.synth.grid import generate_grid, sample_labels

    synth = Synthesizer(
        5160.0,
        5190.0,
        resolution=7500.0,
        bounds={"teff": (4500.0, 6500.0), "logg": (4.0, 4.6), "feh": (-1.5, 0.3)},
        batch_size=16,
    )
    labels = sample_labels(N_TINY, TINY_BOUNDS, seed=3)
    path = tmp_path_factory.mktemp("emulator-grid") / "tiny.h5"
    attrs = {"sampling": {"method": "sobol", "seed": 3, "bounds": TINY_BOUNDS}}
    generate_grid(path, synth, labels, chunk_size=32, progress=False, attrs=attrs)
    return path


@pytest.fixture(scope="session")
def tiny_grid(tiny_grid_path):
    from jaxspec.synth.grid import read_grid

    return read_grid(tiny_grid_path)


@pytest.fixture(scope="session")
def tiny_arrays(tiny_grid):
    """(train labels, train flux, test labels, test flux, label space, wave)."""
    from jaxspec.emulators.training import grid_label_space

    space, _, free = grid_label_space([tiny_grid])
    labels = tiny_grid.label_array()[:, free]
    flux = np.asarray(tiny_grid.flux, dtype=np.float32)
    n = N_TINY - N_TEST
    return labels[:n], flux[:n], labels[n:], flux[n:], space, tiny_grid.wave


@pytest.fixture(scope="session")
def tiny_payne(tiny_arrays):
    """A PayneMLP trained for 2000 steps (a few seconds) on the tiny grid."""
    from jaxspec.emulators import TrainingConfig, fit_emulator

    labels, flux, _, _, space, wave = tiny_arrays
    cfg = TrainingConfig(
        arch="payne", max_steps=2000, batch_size=32, eval_every=100, warmup_steps=100
    )
    return fit_emulator(flux, labels, space, wave, cfg, progress=False, resolution=7500.0)
