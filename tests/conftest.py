"""Test configuration: float64, several fake CPU devices, warnings from jaxspec are errors."""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
os.environ.setdefault("MPLBACKEND", "Agg")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

# The physics and likelihood code states it needs float64; tests run in float64 unless a test
# asks for float32 arrays explicitly.
jax.config.update("jax_enable_x64", True)

from pathlib import Path  # noqa: E402

DATA = Path(__file__).parent / "data"


@pytest.fixture
def data_dir() -> Path:
    """Folder of the real and generated test fixtures."""
    return DATA


@pytest.fixture
def rng() -> np.random.Generator:
    """A freshly seeded numpy generator for each test."""
    return np.random.default_rng(20261126)


@pytest.fixture
def key() -> jax.Array:
    """A freshly made JAX PRNG key for each test."""
    return jax.random.key(20261126)
