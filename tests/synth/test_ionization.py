"""Partition functions and Saha ionisation balance."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxspec.data import load_atomic_data
from jaxspec.data.sources import irwin_partition_function
from jaxspec.synth.ionization import (
    BOLTZMANN_EV,
    SAHA_CONSTANT,
    partition_functions,
    partition_table,
    saha_fractions,
)


@pytest.fixture(scope="module")
def table():
    return partition_table()


def test_partition_functions_match_the_reference_evaluator(table):
    # The polynomials have large cancelling coefficients (|a_i| ~ 1e3): agreement to float64
    # round-off of their evaluation (~1e-12; ~1e-10 after the extrapolation to 60 000 K).
    pf = load_atomic_data().partition_functions
    temps = np.array([500.0, 1000.0, 3500.0, 5000.0, 9000.0, 16000.0, 25000.0, 60000.0])
    q = np.asarray(partition_functions(table, temps))
    for z, stage, coef in zip(pf.element, pf.ion, pf.coefficients, strict=True):
        if z <= 92 and stage < 3:
            np.testing.assert_allclose(
                q[:, z - 1, stage], irwin_partition_function(coef, temps), rtol=1e-9
            )
    assert q[:, 25, 0][3] == pytest.approx(27.80, abs=0.01)  # Fe I at 5000 K


def test_saha_constant_and_hydrogen_closed_form(table):
    from astropy import constants as c
    from astropy import units as u

    reference = ((2 * np.pi * c.m_e * c.k_B / c.h**2) ** 1.5).to_value(u.cm**-3 * u.K**-1.5)
    assert SAHA_CONSTANT == pytest.approx(reference, rel=1e-8)
    assert BOLTZMANN_EV == pytest.approx(c.k_B.to_value(u.eV / u.K), rel=1e-9)
    t, n_e = 10000.0, 1e14
    q_h = float(partition_functions(table, t)[0, 0])
    ratio = (
        2
        * 1.0
        / q_h
        * reference
        * t**1.5
        / n_e
        * np.exp(-13.598 / (c.k_B.to_value(u.eV / u.K) * t))
    )
    f = np.asarray(saha_fractions(table, t, n_e))[0]
    assert f[1] / f[0] == pytest.approx(ratio, rel=1e-6)
    assert f[2] == 0.0  # hydrogen has no third stage


def test_solar_photosphere_textbook_balance(table):
    # T = 5800 K, n_e = 1e13 cm^-3: Na, Ca and Fe are mostly once ionised, O and H neutral.
    f = np.asarray(saha_fractions(table, 5800.0, 1e13))
    assert f[10, 0] < 0.01 and f[19, 0] < 0.01  # Na I, Ca I
    assert 0.005 < f[25, 0] < 0.2  # Fe I: a few per cent
    assert f[0, 0] > 0.99 and f[7, 0] > 0.99  # H I, O I
    np.testing.assert_allclose(f.sum(axis=-1)[np.asarray(table.available)[:, 0]], 1.0, rtol=1e-12)


def test_trends_batching_and_extremes(table):
    temps = jnp.array([3000.0, 5000.0, 8000.0, 20000.0, 1e5])
    f = saha_fractions(table, temps, 1e14)
    assert f.shape == (5, 92, 3)
    assert np.all(np.diff(np.asarray(f[:, 25, 0])) < 0)  # Fe I drops as T rises
    denser = saha_fractions(table, 6000.0, jnp.array([1e11, 1e13, 1e15]))
    assert np.all(np.diff(np.asarray(denser[:, 25, 0])) > 0)  # more electrons, more Fe I
    assert np.all(np.isfinite(np.asarray(f)))
    f32 = saha_fractions(table, jnp.float32(5800.0), jnp.float32(1e13))
    assert f32.dtype == jnp.float32 and np.all(np.isfinite(np.asarray(f32)))


def test_gradients(table):
    def fe_ii(t, log_ne):
        return saha_fractions(table, t, 10.0**log_ne)[25, 1]

    check_grads(fe_ii, (5800.0, 13.0), order=1, modes=["fwd", "rev"])
    check_grads(
        lambda t: partition_functions(table, t)[25, 0], (5000.0,), order=1, modes=["fwd", "rev"]
    )
    check_grads(
        lambda t: partition_functions(table, t)[25, 0], (20000.0,), order=1, modes=["fwd", "rev"]
    )
    vmapped = jax.vmap(jax.grad(lambda t: saha_fractions(table, t, 1e13)[19, 1]))(
        jnp.linspace(3000.0, 9000.0, 7)
    )
    assert np.all(np.isfinite(np.asarray(vmapped)))
