"""The shipped default emulator: what it covers, physical trends, and agreement with synthesis."""

import numpy as np
import pytest

from jaxspec.data import data_path
from jaxspec.emulators import load_default
from jaxspec.emulators.default import DEFAULT_EMULATOR_FILE
from jaxspec.errors import LabelRangeError

SUN = np.array([5772.0, 4.44, 0.0, 0.0])


@pytest.fixture(scope="module")
def emu():
    return load_default()


def _mean_depth(emu, flux, lo, hi):
    m = (emu.wave >= lo) & (emu.wave <= hi)
    return np.mean(1.0 - np.asarray(flux)[..., m], axis=-1)


def test_it_covers_the_promised_box_range_and_resolution(emu):
    assert data_path(DEFAULT_EMULATOR_FILE).stat().st_size <= 15 * 2**20
    assert load_default() is emu  # cached
    assert emu.label_names == ("teff", "logg", "feh", "alpha")
    assert emu.label_space.lower == (4000.0, 1.0, -2.5, -0.2)
    assert emu.label_space.upper == (7000.0, 5.0, 0.5, 0.6)
    assert emu.fixed_labels == {"vmic": 1.0}
    assert emu.resolution >= 7500
    assert emu.wave[0] < 4205 and emu.wave[-1] > 6795
    assert emu.provenance["training"]["n_train"] >= 2000
    assert np.median(emu.pixel_error) < 2e-3


def test_solar_spectrum_is_physical(emu):
    flux = np.asarray(emu.predict(SUN))
    assert np.all(np.isfinite(flux))
    assert flux.min() > 0.0 and flux.max() < 1.01
    # Hα (6564.6 Å in vacuum) is more than 40 % deep over its central 2 Å at R = 7500,
    # and the Mg b triplet is strong.
    assert _mean_depth(emu, flux, 6563.6, 6565.6) > 0.4
    assert _mean_depth(emu, flux, 5168.0, 5185.0) > 0.15


def test_known_trends(emu):
    # Metal lines deepen with [Fe/H] and as Teff falls; Balmer lines strengthen with Teff.
    fehs = np.array([[5500.0, 4.5, f, 0.0] for f in (-2.0, -1.0, 0.0, 0.4)])
    metal = _mean_depth(emu, emu.predict(fehs), 5160.0, 5190.0)
    assert np.all(np.diff(metal) > 0), metal
    teffs = np.array([[t, 4.5, 0.0, 0.0] for t in (4500.0, 5500.0, 6500.0)])
    flux = emu.predict(teffs)
    assert np.all(np.diff(_mean_depth(emu, flux, 5160.0, 5190.0)) < 0)
    assert np.all(np.diff(_mean_depth(emu, flux, 6550.0, 6577.0)) > 0)


def test_outside_the_box_is_an_error(emu):
    with pytest.raises(LabelRangeError, match="teff = 8000 K"):
        emu.predict(np.array([8000.0, 4.0, 0.0, 0.0]))


@pytest.mark.slow
def test_agrees_with_the_synthesizer_for_a_star_it_never_saw(emu):
    import jax

    jax.config.update("jax_enable_x64", True)
    star = np.array([5234.0, 3.71, -0.62, 0.23])  # not a grid point (grids are Sobol draws)
    synth = emu.synthesizer()
    np.testing.assert_array_equal(np.asarray(synth.wave), emu.wave)
    truth = np.asarray(synth.flux(emu.synthesis_labels(star))[0])
    err = np.abs(np.asarray(emu.predict(star), dtype=float) - truth)
    assert np.median(err) < 2e-3
    assert np.percentile(err, 95) < 1e-2
