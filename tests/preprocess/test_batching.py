"""Every preprocessing step on two batch axes, on empty batches, and compiled once under jit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxspec import Spectrum
from jaxspec import preprocess as pp

WAVE = pp.log_linear_grid(5000, 5050, resolution=30000, sampling=3)
STEPS = {
    "resample": lambda s: pp.resample(s, WAVE[10:-10]),
    "doppler_shift": lambda s: pp.doppler_shift(s, 12.0),
    "convolve_resolution": lambda s: pp.convolve_resolution(s, 10000.0),
    "rotational_broadening": lambda s: pp.rotational_broadening(s, 20.0),
    "continuum_normalize": lambda s: pp.continuum_normalize(s),
    "quantile_continuum": lambda s: pp.continuum_normalize(s, method="quantile", window=5.0),
    "add_noise": lambda s: pp.add_noise(s, 50.0, key=jax.random.key(1)),
}


def _batch(shape, rng):
    flux = 1 + 0.1 * np.sin(WAVE / 0.7) + rng.normal(0, 0.01, shape + WAVE.shape)
    return Spectrum(WAVE, flux, np.full(shape + WAVE.shape, 1e4))


@pytest.mark.parametrize("name", STEPS)
def test_two_batch_axes_match_one_by_one(name, rng):
    batch = _batch((2, 3), rng)
    out = STEPS[name](batch)
    assert out.batch_shape == (2, 3)
    if name == "add_noise":
        return  # noise differs per spectrum by design; shape checked above
    for i in range(2):
        for j in range(3):
            single = STEPS[name](batch[i, j])
            np.testing.assert_allclose(out.flux[i, j], single.flux, rtol=1e-10, atol=1e-12)
            np.testing.assert_array_equal(out.mask[i, j], single.mask)


@pytest.mark.parametrize("name", STEPS)
def test_empty_batch(name, rng):
    out = STEPS[name](_batch((0,), rng))
    assert out.batch_shape == (0,)


def test_pipeline_compiles_once_for_many_batches(rng):
    traces = []

    @jax.jit
    def pipeline(flux, ivar):
        traces.append(1)
        spec = Spectrum(WAVE, flux, ivar)  # the grid is a constant: kernels are sized at trace
        spec = pp.convolve_resolution(pp.resample(spec, WAVE[5:-5]), 10000.0)
        return pp.continuum_normalize(spec).flux

    for _ in range(3):
        b = _batch((4,), rng)
        out = pipeline(jnp.asarray(b.flux), jnp.asarray(b.ivar))
        assert out.shape == (4, WAVE.size - 10)
    assert len(traces) == 1
