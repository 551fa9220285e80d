"""Helpers of the inference tests: labels inside the box, simulated stars."""

import jax
import numpy as np


def interior_labels(model, n, seed, margin=0.15):
    """``(n, n_labels)`` labels drawn uniformly from the inner part of the box."""
    rng = np.random.default_rng(seed)
    unit = rng.uniform(margin, 1.0 - margin, (n, model.n_labels))
    return model.lower + unit * (model.upper - model.lower)


def simulated_stars(model, n, snr, seed, rv_scale=100.0):
    """``(Params, Spectrum)`` of n stars inside the box with RVs and tilted continua."""
    from jaxspec.infer import Params

    rng = np.random.default_rng(seed + 1)
    labels = interior_labels(model, n, seed)
    cont = np.zeros((n, len(model.segments), model.continuum_order + 1))
    cont[:, :, 0] = rng.uniform(0.8, 1.2, (n, 1))
    cont[:, :, 1] = rng.uniform(-0.05, 0.05, (n, 1))
    truth = Params(labels, rng.uniform(-rv_scale, rv_scale, n), np.zeros(n), cont)
    spec = model.simulate(truth, model.emulator.wave, snr, jax.random.key(seed))
    return truth, spec
