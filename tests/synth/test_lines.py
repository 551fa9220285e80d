"""Atomic line opacity: line data, damping rules, profile accumulation and FFT wings."""

import math

import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxspec.data import load_atomic_data
from jaxspec.synth import eos
from jaxspec.synth.ionization import partition_table
from jaxspec.synth.lines import (
    LineParameters,
    accumulate_lines,
    build_line_table,
    line_parameters,
    lorentz_wings,
)

STEP = 1.0 / 299792.458  # 1 km/s in ln λ


@pytest.fixture(scope="module")
def data():
    atomic = load_atomic_data()
    table = partition_table(atomic)
    lines = build_line_table(atomic, 4200.0, 4205.0, ionization_energy=table.ionization_energy)
    return atomic, table, lines


def test_line_table_damping_rules(data):
    atomic, _, lines = data
    # Fe I 4200.924 Å (air) has fdamp = 814.285: ABO σ = 814 a0², α = 0.285.
    ll = atomic.linelist

    def index(air):
        k = int(np.flatnonzero(np.isclose(ll.wave_air, air) & (ll.element == 26))[0])
        return int(np.flatnonzero(np.isclose(lines.wave, atomic.wave_vac[k], rtol=0, atol=1e-9))[0])

    i = index(4200.924)
    assert lines.element[i] == 26 and lines.ion[i] == 1
    a0 = 5.29177210903e-9
    mass = 55.845 * 1.66053906660e-24
    m_h = 1.00782503207 * 1.66053906660e-24
    v_bar = math.sqrt(8 * 1.380649e-16 * 1e4 / math.pi * (1 / m_h + 1 / mass))
    expected = (
        2 * (4 / math.pi) ** 0.1425 * math.gamma((4 - 0.285) / 2) * 1e6 * 814 * a0**2
        * (v_bar / 1e6) ** (1 - 0.285)
    )  # fmt: skip
    np.testing.assert_allclose(lines.gamma_vdw[i], expected, rtol=1e-10)
    np.testing.assert_allclose(lines.vdw_exponent[i], (1 - 0.285) / 2)
    # Fe I 4200.087 Å (air) has fdamp = −7.420: VALD log γ6 at 10^4 K.
    j = index(4200.087)
    np.testing.assert_allclose(lines.gamma_vdw[j], 10**-7.42, rtol=1e-10)
    assert np.all(lines.gamma_stark >= 0) and np.all(np.isfinite(lines.gamma_vdw))
    assert np.all((lines.wave >= 4200.0) & (lines.wave <= 4205.0))


def test_isotope_lines_carry_their_fraction():
    atomic = load_atomic_data()
    table = partition_table(atomic)
    lines = build_line_table(atomic, 4200, 9200, ionization_energy=table.ionization_energy)
    ll = atomic.linelist
    keep = ll.isotope == 138
    raw = ll.loggf[keep & (ll.element == 56)]
    mine = lines.log_gf[(lines.element == 56) & np.isclose(lines.mass / 1.66053906660e-24, 138)]
    np.testing.assert_allclose(np.sort(mine), np.sort(raw + np.log10(0.717)), atol=1e-6)


def _pops(atomic, table, t=5500.0, n_e=1e13):
    comp = eos.composition(atomic.solar_log_eps, atomic.atomic_weight)
    return eos.populations(table, comp, jnp.asarray([t]), jnp.asarray([n_e]))


def test_line_parameters_scale_as_physics_says(data):
    atomic, table, lines = data
    hot = line_parameters(lines, _pops(atomic, table, 6000.0), 1.0)
    vmic = line_parameters(lines, _pops(atomic, table, 6000.0), 3.0)
    # Doppler width: ξ² = 2kT/m + v_mic²
    xi = np.asarray(hot.width)[:, 0] * 2.99792458e5
    expected = np.sqrt(2 * 1.380649e-16 * 6000.0 / lines.mass / 1e10 + 1.0)
    np.testing.assert_allclose(xi, expected, rtol=1e-12)
    assert np.all(np.asarray(vmic.width) > np.asarray(hot.width))
    # strength ∝ gf at fixed species and excitation: compare two Fe I lines
    fe = np.flatnonzero((lines.element == 26) & (lines.ion == 1))
    s = np.asarray(hot.strength)[fe, 0]
    boltz = 10 ** lines.log_gf[fe] * np.exp(-lines.e_low[fe] / (8.617333262e-5 * 6000.0))
    stim = 1 - np.exp(-1.438776877 / (lines.wave[fe] * 1e-8 * 6000.0))
    ratio = s / (boltz * stim * lines.wave[fe])
    np.testing.assert_allclose(ratio / ratio[0], 1.0, rtol=1e-10)


def test_accumulated_profile_integrates_to_the_strength():
    s = jnp.asarray([[2.0, 3.0]])
    w = jnp.asarray([[1.5, 2.5]]) * STEP
    a = jnp.asarray([[0.01, 0.2]])
    params = LineParameters(s, w, a)
    grid = jnp.zeros((40001, 2))
    base, frac = jnp.asarray([20000]), jnp.asarray([0.37])
    core = accumulate_lines(grid, base, frac, params, np.arange(-15, 17), step=STEP, profile="core")
    wings = lorentz_wings(grid.shape, base + frac, params, 16, step=STEP)
    total = np.asarray(core + wings).sum(0) * STEP
    # the Lorentz wings beyond ±20000 px hold a fraction 2a/(π v_max) of the area
    missing = 2 * np.asarray(a)[0] / (math.pi * 20000 * STEP / np.asarray(w)[0])
    np.testing.assert_allclose(total, np.asarray(s)[0] * (1 - missing), rtol=2e-4)


def test_fft_wings_match_direct_voigt():
    s = jnp.asarray([[1.0, 2.0, 1.0]])
    w = jnp.asarray([[1.8, 3.0, 1.3]]) * STEP
    a = jnp.asarray([[0.14, 1.0, 0.001]])
    params = LineParameters(s, w, a)
    grid = jnp.zeros((1200, 3))
    base, frac = jnp.asarray([600]), jnp.asarray([0.3])
    direct = accumulate_lines(
        grid, base, frac, params, np.arange(-500, 501), step=STEP, profile="fast"
    )
    split = accumulate_lines(
        grid, base, frac, params, np.arange(-15, 17), step=STEP, profile="core"
    )
    split = split + lorentz_wings(grid.shape, base + frac, params, 16, step=STEP)
    ratio = np.asarray(split / direct)[150:1050]
    assert np.abs(ratio - 1).max() < 4e-3  # at the core edge (sub-pixel deposit, O(v⁻⁶))
    assert np.median(np.abs(ratio - 1)) < 1e-4


def test_line_parameter_gradients(data):
    atomic, table, lines = data
    comp = eos.composition(atomic.solar_log_eps, atomic.atomic_weight)

    def f(t, vmic):
        pops = eos.populations(table, comp, jnp.asarray([t]), jnp.asarray([2e13]))
        p = line_parameters(lines, pops, vmic)
        return jnp.stack([p.strength[:5, 0].sum(), p.width[:5, 0].sum(), p.damping[:5, 0].sum()])

    check_grads(f, (5200.0, 1.3), order=1, modes=("fwd", "rev"), rtol=1e-5)
