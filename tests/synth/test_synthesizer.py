"""The synthesizer end to end: physical trends, gradients, batching, errors, I/O of results."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxspec import Spectrum
from jaxspec.errors import LabelRangeError
from jaxspec.synth import Synthesizer

# Vacuum wavelengths [Å] (air + ~1.45 Å at 5200 Å).
FE1_5247 = 5248.51  # Fe I 5247.05 air, χ = 0.09 eV, log gf = −4.95
FE1_5250 = 5251.66  # Fe I 5250.21 air, χ = 0.12 eV
FE2_5234 = 5236.08  # Fe II 5234.62 air, χ = 3.22 eV
MG_B = (5168.0, 5187.0)  # Mg b1, b2, b4 and their wings
NA_D = (5889.0, 5899.0)  # Na D1, D2
H_BETA = (4842.0, 4884.0)  # Hβ ± 21 Å


def equivalent_width(synth: Synthesizer, norm: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """∫(1 − F/F_c) dλ over [lo, hi] Å for one spectrum or a batch [Å]."""
    wave = synth.wave
    inside = (wave >= lo) & (wave <= hi)
    dl = np.gradient(wave)[inside]
    return ((1.0 - np.asarray(norm)[..., inside]) * dl).sum(-1)


def labels(teff, logg, feh=0.0, alpha=0.0, vmic=1.0):
    return np.array([teff, logg, feh, alpha, vmic], np.float64)


@pytest.fixture(scope="module")
def iron():
    return Synthesizer(5230.0, 5256.0, 20000.0, bounds={"teff": (4500.0, 6500.0)}, hydrogen=False)


def test_fe1_grows_monotonically_with_metallicity(iron):
    fehs = [-2.5, -1.5, -1.0, -0.5, 0.0, 0.5]
    norm, _ = iron.flux(np.stack([labels(5000, 4.5, f) for f in fehs]))
    for centre in (FE1_5247, FE1_5250):
        ew = equivalent_width(iron, norm, centre - 0.35, centre + 0.35)
        assert np.all(np.diff(ew) > 0), ew
        assert 0.03 < ew[4] < 0.2  # these solar-like K-dwarf lines are ~60–120 mÅ


def test_fe2_over_fe1_rises_as_gravity_falls(iron):
    loggs = [1.0, 2.0, 3.0, 4.0, 5.0]
    norm, _ = iron.flux(np.stack([labels(5000, g, -0.5) for g in loggs]))
    fe2 = equivalent_width(iron, norm, FE2_5234 - 0.3, FE2_5234 + 0.3)
    fe1 = equivalent_width(iron, norm, FE1_5247 - 0.3, FE1_5247 + 0.3)
    ratio = fe2 / fe1
    assert np.all(np.diff(ratio) < 0), ratio


def test_spectrum_object_and_continuum(iron):
    spec = iron(labels(5777, 4.44))
    assert isinstance(spec, Spectrum)
    assert spec.meta.resolution == 20000.0 and spec.meta.frame == "rest"
    norm, cont = iron.flux(labels(5777, 4.44))
    np.testing.assert_allclose(np.asarray(spec.flux), np.asarray(norm))
    assert np.all((np.asarray(norm) > 0) & (np.asarray(norm) <= 1.001))
    # the solar continuum surface flux near 5240 Å is ~1e7 erg s^-1 cm^-2 Å^-1
    assert 0.7e7 < float(np.median(cont)) < 1.4e7
    # the output grid is uniform in ln λ at 3 pixels per resolution element
    step = np.diff(np.log(iron.wave))
    np.testing.assert_allclose(step, 1 / 60000.0, rtol=1e-9)


def test_batch_equals_single_and_compiles_once(iron):
    # Five stars: one full group of iron.batch_size = 4 and a remainder of one.
    batch = np.stack(
        [
            labels(5200, 3.5, -0.3),
            labels(6100, 4.2, 0.2, 0.1, 1.4),
            labels(4600, 2.0, -1.5, 0.4),
            labels(5800, 4.5, 0.0),
            labels(6400, 3.9, -0.8, 0.2, 2.0),
        ]
    )
    assert iron.batch_size == 4
    norm, cont = iron.flux(batch)
    assert norm.shape == (5, iron.wave.size)
    for k in range(5):
        one, c1 = iron.flux(batch[k])
        np.testing.assert_allclose(np.asarray(norm[k]), np.asarray(one), rtol=1e-10)
        np.testing.assert_allclose(np.asarray(cont[k]), np.asarray(c1), rtol=1e-10)
    before = iron._flux_batch._cache_size()
    iron.flux(batch + np.array([10.0, 0.1, 0.1, 0.0, 0.1]))
    assert iron._flux_batch._cache_size() == before


def test_batch_size_must_be_a_positive_integer():
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        Synthesizer(5230.0, 5240.0, 20000.0, hydrogen=False, batch_size=0)


def test_labels_outside_the_range_are_rejected(iron):
    with pytest.raises(LabelRangeError, match="teff"):
        iron.flux(labels(7200, 4.0))
    with pytest.raises(LabelRangeError, match="vmic"):
        iron.flux(labels(5000, 4.0, vmic=7.0))
    with pytest.raises(LabelRangeError, match="logg"):
        iron.flux(labels(5000, 6.5))
    assert not iron.in_domain(labels(5000, 6.5)[None])[0]
    assert iron.in_domain(labels(5000, 4.0)[None])[0]


@pytest.mark.slow
def test_mg_b_and_na_d_deepen_from_f_to_k_dwarfs():
    teffs = [7000.0, 6250.0, 5500.0, 4750.0]
    for lo, hi in (MG_B, NA_D):
        synth = Synthesizer(
            lo - 3, hi + 3, 20000.0, bounds={"teff": (4500.0, 7000.0)}, hydrogen=False
        )
        norm, _ = synth.flux(np.stack([labels(t, 4.5) for t in teffs]))
        ew = equivalent_width(synth, norm, lo, hi)
        assert np.all(np.diff(ew) > 0), (lo, ew)


@pytest.mark.slow
def test_balmer_lines_peak_in_a_stars():
    synth = Synthesizer(
        H_BETA[0] - 5, H_BETA[1] + 5, 5000.0, bounds={"teff": (6000.0, 15000.0)}, cut=1e-2
    )
    teffs = np.array([6000.0, 7000.0, 8000.0, 9000.0, 10000.0, 11000.0, 13000.0, 15000.0])
    norm, _ = synth.flux(np.stack([labels(t, 4.0) for t in teffs]))
    ew = equivalent_width(synth, norm, *H_BETA)
    peak = teffs[int(np.argmax(ew))]
    assert 8000.0 <= peak <= 11000.0, dict(zip(teffs, ew, strict=True))


@pytest.mark.slow
def test_gradients_match_finite_differences():
    synth = Synthesizer(5182.0, 5188.0, 20000.0, bounds={"teff": (5000.0, 6000.0)}, hydrogen=False)
    data = synth._data

    @jax.jit
    def pixel_values(x):
        norm, cont = synth._labels_flux(data, x)
        return jnp.stack([norm[10], norm[40], cont[20] / 1e7])

    x0 = jnp.asarray(labels(5600.0, 4.3, -0.2, 0.1, 1.2))
    # random directions in label space (Teff in K, the others in dex and km/s)
    check_grads(pixel_values, (x0,), order=1, modes=("fwd",), eps=1e-5, atol=1e-4, rtol=1e-3)
    jac = jax.jacfwd(pixel_values)(x0)
    assert jac.shape == (3, 5) and np.all(np.isfinite(np.asarray(jac)))
    assert float(jac[0, 2]) < 0  # more metals: a deeper line
    assert float(jac[2, 0]) > 0  # hotter: a brighter continuum


@pytest.mark.slow
def test_absolute_continuum_against_teff():
    # ∫ F_λ(continuum) dλ / σ Teff⁴: above 1 because the continuum leaves out line
    # blanketing and metal bound-free opacity (UV flux too high) — measured 1.11–1.32.
    synth = Synthesizer(5000.0, 5010.0, None, hydrogen=False)
    wave = np.geomspace(900.0, 3e5, 3000)
    for lab in (labels(5777, 4.44), labels(4500, 2.0), labels(6500, 4.0, -1.0, 0.4)):
        f = np.asarray(synth.continuum_flux(lab, wave))
        ratio = np.trapezoid(f, wave) / (5.670374419e-5 * lab[0] ** 4)
        assert 1.0 < ratio < 1.4, (lab, ratio)
        red = wave > 6000.0
        ratio_red = np.trapezoid(f[red], wave[red]) / (5.670374419e-5 * lab[0] ** 4)
        assert ratio_red < ratio
