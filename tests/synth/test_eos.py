"""Equation of state: charge and particle conservation, Saha limits, H⁻ and H₂, gradients."""

import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxspec.data import load_atomic_data
from jaxspec.synth import eos
from jaxspec.synth.atmosphere import load_atmosphere_emulator, predict
from jaxspec.synth.ionization import partition_table


@pytest.fixture(scope="module")
def setup():
    atomic = load_atomic_data()
    return atomic, partition_table(atomic)


def _comp(atomic, feh=0.0, alpha=0.0):
    return eos.composition(atomic.solar_log_eps, atomic.atomic_weight, feh, alpha)


def test_composition_scaling(setup):
    atomic, _ = setup
    base = np.asarray(_comp(atomic).ratio)
    poor = np.asarray(_comp(atomic, -1.0, 0.4).ratio)
    assert base[0] == 1.0 and poor[0] == 1.0
    np.testing.assert_allclose(poor[1], base[1])  # He not scaled
    np.testing.assert_allclose(poor[25] / base[25], 0.1)  # Fe
    np.testing.assert_allclose(poor[11] / base[11], 10**-0.6)  # Mg: α-enhanced
    np.testing.assert_allclose(np.log10(base[25]) + 12, 7.45)  # GAS07 Fe


def test_charge_and_pressure_balance(setup):
    atomic, table = setup
    comp = _comp(atomic)
    t = jnp.asarray([3500.0, 5000.0, 6500.0, 9000.0, 15000.0, 30000.0])
    n_e = jnp.asarray([1e10, 1e12, 1e14, 1e14, 1e15, 1e15])
    pops = eos.populations(table, comp, t, n_e)
    species = np.asarray(pops.species)
    charge = species[:, 1:, 1] + 2 * species[:, 1:, 2]
    electrons = species[:, 0, 1] - np.asarray(pops.n_hminus) + charge.sum(1)
    np.testing.assert_allclose(electrons, np.asarray(n_e), rtol=1e-10)
    n_h = species[:, 0, 0] + species[:, 0, 1] + np.asarray(pops.n_hminus + 2 * pops.n_h2)
    heavy = species.sum(-1)[:, 1:]
    expected = np.broadcast_to(np.asarray(comp.ratio)[None, 1:], heavy.shape)
    np.testing.assert_allclose(heavy / n_h[:, None], expected, rtol=1e-10)
    particles = species.sum((1, 2)) + np.asarray(pops.n_hminus + pops.n_h2 + n_e)
    np.testing.assert_allclose(
        np.asarray(pops.gas_pressure), particles * eos.K_B * np.asarray(t), rtol=1e-10
    )


def test_hydrogen_ionises_and_molecules_form_where_expected(setup):
    atomic, table = setup
    comp = _comp(atomic)
    hot = eos.populations(table, comp, jnp.asarray([20000.0]), jnp.asarray([1e14]))
    assert float(hot.n_hplus[0] / hot.n_h1[0]) > 100
    cool = eos.populations(table, comp, jnp.asarray([2800.0, 6000.0]), jnp.asarray([1e11, 1e11]))
    fraction_h2 = np.asarray(2 * cool.n_h2 / (cool.n_h1 + 2 * cool.n_h2))
    assert fraction_h2[0] > 0.3 and fraction_h2[1] < 1e-4


def test_hminus_follows_saha(setup):
    atomic, table = setup
    t, n_e = 6300.0, 50.0 / (eos.K_B * 6300.0)
    pops = eos.populations(table, _comp(atomic), jnp.asarray([t]), jnp.asarray([n_e]))
    u_h = float(pops.partition[0, 0, 0])
    expected = n_e / (
        2 * u_h * 2.4146830e15 * t**1.5 * np.exp(-eos.HMINUS_BINDING_EV / (8.617333262e-5 * t))
    )
    np.testing.assert_allclose(float(pops.n_hminus[0] / pops.n_h1[0]), expected, rtol=1e-5)
    assert 1e-9 < expected < 1e-6  # the photospheric H- fraction


def test_h2_dissociation_at_one_atmosphere():
    # Pure hydrogen at 3000 K and 1 atm is ~8 % dissociated (JANAF thermochemical tables:
    # K_p = 4α²P/(1 − α²) ≈ 0.026 atm); at 2000 K it is almost all molecular.
    for t, lo, hi in ((3000.0, 0.05, 0.12), (2000.0, 0.0, 0.002)):
        k_p = float(eos.h2_dissociation_constant(t)) * eos.K_B * t / 1.01325e6  # atm
        alpha = np.sqrt(k_p / (4.0 + k_p))
        assert lo < alpha < hi, (t, alpha)


def test_electron_density_solve_reproduces_pressure(setup):
    atomic, table = setup
    params = load_atmosphere_emulator()
    for labels in ([5777.0, 4.44, 0.0, 0.0], [4200.0, 1.5, -1.0, 0.3], [9000.0, 4.0, 0.0, 0.0]):
        atm = predict(params, jnp.asarray(labels))
        comp = _comp(atomic, labels[2], labels[3])
        n_e = eos.solve_electron_density(
            table, comp, atm.temperature, atm.pressure, atm.electron_density
        )
        pops = eos.populations(table, comp, atm.temperature, n_e)
        np.testing.assert_allclose(np.asarray(pops.gas_pressure), np.asarray(atm.pressure), 1e-8)
        # and the emulator's own n_e agrees with the EOS to ~10 % in the photosphere
        tau = np.asarray(atm.tau_ross())
        photosphere = (tau > 1e-4) & (tau < 10)
        ratio = np.asarray(n_e / atm.electron_density)[photosphere]
        assert np.all(np.abs(ratio - 1) < 0.2), (labels, ratio.min(), ratio.max())


@pytest.mark.slow
def test_populations_gradients(setup):
    atomic, table = setup
    comp = _comp(atomic)

    def f(t, n_e):
        pops = eos.populations(table, comp, jnp.asarray([t]), jnp.asarray([n_e]))
        return jnp.stack([pops.n_h1[0], pops.n_hminus[0], pops.species[0, 25, 1], pops.density[0]])

    check_grads(f, (5500.0, 3e13), order=1, modes=("fwd", "rev"), rtol=1e-5)

    def g(t):
        n_e = eos.solve_electron_density(
            table, comp, jnp.asarray([t]), jnp.asarray([1e5]), jnp.asarray([1e13])
        )
        return n_e[0]

    check_grads(g, (5500.0,), order=1, modes=("fwd",), rtol=1e-4)
