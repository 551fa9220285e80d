"""Shared fixtures of the inference tests: a window of the default emulator and simulated stars."""

import pytest
from _stars import simulated_stars

#: A 200 Å window of the default emulator (Mg b and Fe lines): ~860 pixels, the real network.
WINDOW = (5150.0, 5350.0)


@pytest.fixture(scope="session")
def window_emulator():
    from jaxspec.emulators import load_default

    return load_default().crop(*WINDOW)


@pytest.fixture(scope="session")
def forward_model(window_emulator):
    from jaxspec.infer import ForwardModel

    return ForwardModel(window_emulator, rv_bounds=(-300.0, 300.0))


@pytest.fixture(scope="session")
def stars_snr100(forward_model):
    return simulated_stars(forward_model, 6, 100.0, seed=11)


@pytest.fixture(scope="session")
def map_snr100(forward_model, stars_snr100):
    from jaxspec.infer import fit_map

    return fit_map(stars_snr100[1], forward_model, progress=False)
