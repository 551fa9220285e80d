import jax
import numpy as np
import pytest

from jaxspec.preprocess import air_to_vacuum, vacuum_to_air


def test_h_alpha_tabulated_values():
    # Hα: 6562.80 Å in air, 6564.61 Å in vacuum (NIST ASD).
    assert float(air_to_vacuum(6562.80)) == pytest.approx(6564.61, abs=0.01)
    assert float(vacuum_to_air(6564.61)) == pytest.approx(6562.80, abs=0.01)


@pytest.mark.parametrize(
    "air, vac",
    [(4861.35, 4862.71), (5889.95, 5891.58), (8542.09, 8544.44)],
)
def test_more_tabulated_lines(air, vac):
    # Hβ, Na D2 and Ca II 8542 (NIST Atomic Spectra Database, air and vacuum).
    assert float(air_to_vacuum(air)) == pytest.approx(vac, abs=0.01)


def test_exact_inverses_and_short_wavelengths():
    wave = np.geomspace(1000.0, 50000.0, 2001)
    np.testing.assert_allclose(vacuum_to_air(air_to_vacuum(wave)), wave, rtol=1e-13)
    np.testing.assert_allclose(air_to_vacuum(vacuum_to_air(wave)), wave, rtol=1e-13)
    short = np.array([1200.0, 1999.0])
    np.testing.assert_array_equal(air_to_vacuum(short), short)


def test_vectorised_and_jittable():
    wave = np.linspace(4000.0, 9000.0, 12).reshape(3, 4)
    out = jax.jit(air_to_vacuum)(wave)
    assert out.shape == (3, 4)
    assert np.all(out > wave)
