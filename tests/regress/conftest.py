"""Shared fixtures of the label-regressor tests: spectra of the shipped emulator.

The shipped FGK emulator, cropped to 5150–5350 Å (857 pixels at R = 7500), makes realistic
noise-free training spectra in well under a second; no synthesis is needed.
"""

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest

WAVE_RANGE = (5150.0, 5350.0)
N_TRAIN = 1200
N_TEST = 200
SEED = 20260611


class RegressionData(NamedTuple):
    """Noise-free emulated spectra with labels drawn uniformly in the emulator's box.

    Attributes:
        wave: ``(n_pix,)`` vacuum wavelength [Å].
        resolution: resolving power R.
        label_space: teff [K], logg, feh, alpha [dex] and their box.
        flux_train, labels_train: ``(N_TRAIN, n_pix)`` float32 flux and ``(N_TRAIN, 4)``.
        flux_test, labels_test: ``(N_TEST, n_pix)`` and ``(N_TEST, 4)``, never trained on.
    """

    wave: np.ndarray
    resolution: float
    label_space: Any
    flux_train: np.ndarray
    labels_train: np.ndarray
    flux_test: np.ndarray
    labels_test: np.ndarray


def _add_noise(flux: np.ndarray, snr: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (flux + rng.normal(size=flux.shape) / snr).astype(np.float32)


@pytest.fixture(scope="session")
def add_noise():
    """``add_noise(flux, snr, seed=0)``: flux plus Gaussian noise of σ = 1/snr (float32)."""
    return _add_noise


@pytest.fixture(scope="session")
def regression_emulator():
    """The shipped emulator cropped to :data:`WAVE_RANGE`."""
    from jaxspec.emulators import load_default

    return load_default().crop(*WAVE_RANGE)


@pytest.fixture(scope="session")
def regression_data(regression_emulator) -> RegressionData:
    """:data:`N_TRAIN` + :data:`N_TEST` spectra, labels uniform in the box (fixed seed)."""
    em = regression_emulator
    space = em.label_space
    lo, hi = np.asarray(space.lower), np.asarray(space.upper)
    rng = np.random.default_rng(SEED)
    labels = lo + (hi - lo) * rng.uniform(size=(N_TRAIN + N_TEST, space.n_labels))
    flux = np.asarray(em.predict(labels), dtype=np.float32)
    return RegressionData(
        wave=np.asarray(em.wave, dtype=np.float64),
        resolution=float(em.resolution),
        label_space=space,
        flux_train=flux[:N_TRAIN],
        labels_train=labels[:N_TRAIN],
        flux_test=flux[N_TRAIN:],
        labels_test=labels[N_TRAIN:],
    )


class _EmulatorSynthesizer:
    """The emulator as a grid synthesizer, with a fixed ``vmic`` column (as real grids have)."""

    def __init__(self, em: Any) -> None:
        self.em = em
        self.wave = em.wave
        self.label_names = (*em.label_space.names, "vmic")
        self.label_units = (*em.label_space.units, "km / s")

    def flux(self, labels: Any) -> tuple[np.ndarray, np.ndarray]:
        f = np.asarray(self.em.predict(np.asarray(labels)[:, :-1]), dtype=np.float32)
        return f, np.ones_like(f)

    def config(self) -> dict[str, Any]:
        return {"name": "shipped emulator", "resolution": float(self.em.resolution)}


@pytest.fixture(scope="session")
def regression_grid_path(regression_emulator, tmp_path_factory) -> Path:
    """A tiny grid file: 96 emulated spectra, 5150–5200 Å, vmic fixed at 1 km/s."""
    from jaxspec.synth.grid import generate_grid, sample_labels

    em = regression_emulator.crop(5150.0, 5200.0)
    space = em.label_space
    bounds = {n: (lo, hi) for n, lo, hi in zip(space.names, space.lower, space.upper, strict=True)}
    bounds["vmic"] = (1.0, 1.0)
    labels = sample_labels(96, bounds, seed=5)
    path = tmp_path_factory.mktemp("regress-grid") / "tiny.h5"
    attrs = {"sampling": {"method": "sobol", "seed": 5, "bounds": bounds}}
    generate_grid(
        path, _EmulatorSynthesizer(em), labels, chunk_size=96, progress=False, attrs=attrs
    )
    return path
