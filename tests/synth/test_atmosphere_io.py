"""MARCS and Kurucz model-atmosphere I/O: units checked against physics, round trips, errors."""

import dataclasses
import gzip
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxspec.errors import FileFormatError, UnknownFormatError
from jaxspec.synth.atmosphere import Atmosphere, load_atmosphere_emulator, predict
from jaxspec.synth.atmosphere_io import (
    ModelAtmosphere,
    marcs_reference_model_path,
    read_kurucz,
    read_marcs,
    read_model_atmosphere,
    write_kurucz,
)

K_B = 1.380649e-16
M_U = 1.66053907e-24
SIGMA = 5.670374419e-5
FIELDS = tuple(f.name for f in dataclasses.fields(Atmosphere))


@pytest.fixture(scope="module")
def marcs() -> ModelAtmosphere:
    return read_marcs(marcs_reference_model_path())


def _np(model: ModelAtmosphere, field: str) -> np.ndarray:
    return np.asarray(getattr(model.atmosphere, field))


# --------------------------------------------------------------------------------------
# MARCS
# --------------------------------------------------------------------------------------


def test_marcs_header(marcs):
    from jaxspec.data import load_atomic_data

    assert marcs.format == "marcs" and marcs.n_depth == 56
    assert marcs.teff == 6000.0
    assert marcs.logg == pytest.approx(1.0)  # the file gives g = 1.0000E+01 cm/s², not log g
    # "m0.5" in the name is the mass; line 7 says [Fe/H] = +0.00, [alpha/Fe] = +0.00.
    assert marcs.feh == 0.0 and marcs.alpha == 0.0
    assert marcs.meta["mass"] == 0.5
    assert marcs.vmic == 5.0  # "t05"
    assert marcs.geometry == "spherical" and marcs.radius == pytest.approx(2.5827e12)
    assert marcs.meta["model_id"].startswith("s6000_g+1.0_m0.5_t05_st_z+0.00")
    assert marcs.meta["luminosity"] == pytest.approx(1615.0369)
    assert marcs.meta["flux"] == pytest.approx(SIGMA * 6000.0**4, rel=1e-4)
    # The 92 abundances are exactly Turbospectrum's solar GAS07 mixture (H = 12, -99 = absent).
    solar = load_atomic_data().solar_log_eps
    assert marcs.log_eps.shape == (92,)
    np.testing.assert_array_equal(np.isnan(marcs.log_eps), np.isnan(solar))
    assert np.isnan(marcs.log_eps).sum() == 9  # Tc, Pm, Po-Ac, Pa
    np.testing.assert_allclose(marcs.log_eps, solar, atol=1e-12, equal_nan=True)
    assert marcs.log_eps[25] == 7.45 and marcs.log_eps[0] == 12.0
    assert marcs.log_tau5[0] == -4.3387 and marcs.log_tau5[-1] == 1.9642


def test_marcs_first_and_last_rows(marcs):
    t, pg = _np(marcs, "temperature"), _np(marcs, "pressure")
    assert t[0] == 3935.2 and t[-1] == 16578.6
    assert pg[0] == 8.3731e-01 and pg[-1] == 7.1151e02
    ne = _np(marcs, "electron_density")
    assert ne[0] == pytest.approx(9.4190e-05 / (K_B * 3935.2), rel=1e-12)
    assert ne[-1] == pytest.approx(3.5316e02 / (K_B * 16578.6), rel=1e-12)
    assert _np(marcs, "rhox")[0] == 2.841917e-01 and _np(marcs, "rhox")[-1] == 1.012168e02
    assert _np(marcs, "kappa_ross")[0] == 1.0979e-04 and _np(marcs, "kappa_ross")[-1] == 2.1479
    np.testing.assert_allclose(np.log10(marcs.tau_ross[[0, 40, -1]]), [-5.0, 0.0, 2.0])
    np.testing.assert_array_equal(_np(marcs, "accrad"), 0.0)  # not in a MARCS file
    assert marcs.meta["prad"][0] == 1.5817 and marcs.meta["depth"][40] == 0.0
    assert _np(marcs, "rhox").dtype == np.float64


def test_marcs_kappa_is_per_gram(marcs):
    """τ_top + ∫κ dRHOX reproduces the file's lgTauR: KappaRoss is in cm² g⁻¹."""
    m, k = _np(marcs, "rhox"), _np(marcs, "kappa_ross")
    log_tau = np.log10(marcs.tau_ross)
    anchored = marcs.tau_ross[0] + np.concatenate(
        [[0.0], np.cumsum(0.5 * (k[1:] + k[:-1]) * np.diff(m))]
    )
    err = np.log10(anchored) - log_tau
    # Measured: 0.011-0.038 dex down to lgTauR = 1.6; 0.19-0.21 dex at the two deepest
    # points, where κ drops from 17.9 to 2.1 across two coarse steps (trapezoid error).
    assert np.max(np.abs(err[:54])) < 0.04
    assert np.max(np.abs(err[54:])) < 0.25
    # Atmosphere.tau_ross() (κ constant above the top) is 0.49 dex high at τ = 1e-5 and
    # 0.10 dex at 1e-4, then within 0.05 dex from 10^-3.4 to 10^1.6.
    own = np.log10(np.asarray(marcs.atmosphere.tau_ross())) - log_tau
    window = (log_tau >= -3.4) & (log_tau <= 1.6)
    assert np.max(np.abs(own[window])) < 0.05
    assert 0.4 < own[0] < 0.6


def test_marcs_hydrostatic_equilibrium(marcs):
    """Pressures and column mass obey d(Pg + Prad)/dRHOX = g(r) = g (R/r)²."""
    m, pg = _np(marcs, "rhox"), _np(marcs, "pressure")
    prad, depth = marcs.meta["prad"], marcs.meta["depth"]
    g = 10.0**marcs.logg * (marcs.radius / (marcs.radius - depth)) ** 2
    # At the top the gas pressure alone is only 0.29 g RHOX: MARCS puts the surface
    # radiation pressure (1.58 dyn/cm² vs Pg = 0.84) into the column mass.
    assert pg[0] / (10.0**marcs.logg * m[0]) == pytest.approx(0.295, abs=0.01)
    assert (pg[0] + prad[0]) / (g[0] * m[0]) == pytest.approx(1.0, abs=0.01)  # 1.004
    ptot = pg + prad
    ratio = np.diff(ptot) / np.diff(m) / (0.5 * (g[1:] + g[:-1]))
    upper = np.log10(marcs.tau_ross[1:]) <= 0.0
    # Measured 0.961-0.974 above τ = 1 (3 % short; the same 1-3 % shows in τ and ∫ρ dr).
    assert np.all((ratio[upper] > 0.94) & (ratio[upper] < 1.0))
    # Column mass from density and geometric depth: ∫ρ dDepth + RHOX_top = RHOX within 2 %.
    rho = marcs.meta["density"]
    m_rho = m[0] + np.concatenate([[0.0], np.cumsum(0.5 * (rho[1:] + rho[:-1]) * np.diff(depth))])
    above10 = marcs.tau_ross <= 10.0
    np.testing.assert_allclose(m_rho[above10], m[above10], rtol=0.02)
    # Ideal gas: Pg = ρ k T / (μ m_u) to 4e-4 (block 1 and block 2 columns line up).
    t = _np(marcs, "temperature")
    np.testing.assert_allclose(pg, rho * K_B * t / (marcs.meta["mu"] * M_U), rtol=1e-3)


def test_marcs_convection_units(marcs):
    """Vconv is in cm/s and flxcnv in Kurucz Eddington-flux units (F_conv / 4π)."""
    v, flx = _np(marcs, "vconv"), _np(marcs, "flxcnv")
    rho, pg, frac = marcs.meta["density"], _np(marcs, "pressure"), marcs.meta["fconv_frac"]
    f_tot = SIGMA * marcs.teff**4
    assert flx.max() == pytest.approx(0.88241 * f_tot / (4 * math.pi), rel=0.01)
    conv = frac > 0.01
    # Mixing-length theory: F_conv ≈ (4 c_p T / (α g H_p)) ρ v³, i.e. a ratio of tens;
    # measured 15-37 (if Vconv were m/s the ratio would be ~1e7).
    ratio = frac[conv] * f_tot / (rho[conv] * v[conv] ** 3)
    assert np.all((ratio > 10) & (ratio < 60))
    # At most about sonic (measured max 1.06 c_s with γ = 5/3).
    c_s = np.sqrt(5.0 / 3.0 * pg / rho)
    assert 0.8 < np.max(v / c_s) < 1.2


def test_atmosphere_through_jit_and_vmap(marcs):
    atm = marcs.atmosphere
    same = jax.jit(lambda a: a)(atm)
    assert isinstance(same, Atmosphere)
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(same, f), getattr(atm, f))
    stacked = jax.tree.map(lambda *x: jnp.stack(x), atm, atm)
    tau = jax.vmap(lambda a: a.tau_ross())(stacked)
    assert tau.shape == (2, 56) and tau.dtype == jnp.float64
    np.testing.assert_allclose(tau[1], atm.tau_ross())


def test_marcs_gzip_and_sniff(tmp_path, marcs):
    gz = tmp_path / "model.mod.gz"
    gz.write_bytes(gzip.compress(marcs_reference_model_path().read_bytes()))
    model = read_model_atmosphere(gz)
    assert model.format == "marcs" and model.source == str(gz)
    np.testing.assert_array_equal(model.atmosphere.temperature, marcs.atmosphere.temperature)


def _marcs_lines() -> list[str]:
    return marcs_reference_model_path().read_text().splitlines(keepends=True)


def test_marcs_truncated(tmp_path):
    p = tmp_path / "trunc.mod"
    p.write_text("".join(_marcs_lines()[:100]))  # stops inside the first block
    with pytest.raises(FileFormatError, match=r"trunc\.mod.*announces 56 depth points") as e:
        read_marcs(p)
    assert "re-download" in str(e.value)


def test_marcs_corrupt_fields(tmp_path):
    lines = _marcs_lines()
    bad = list(lines)
    bad[29] = bad[29].replace("4136.8", "41x6.8")  # depth 5, line 30
    p = tmp_path / "bad.mod"
    p.write_text("".join(bad))
    with pytest.raises(FileFormatError, match=r"bad\.mod, line 30: .*'41x6\.8'"):
        read_marcs(p)
    cold = list(lines)
    cold[29] = cold[29].replace(" 4136.8", "-4136.8")
    p.write_text("".join(cold))
    with pytest.raises(FileFormatError, match=r"depth 5 .*T = -4136.8 is not positive"):
        read_marcs(p)
    no_block2 = lines[:81]
    p.write_text("".join(no_block2))
    with pytest.raises(FileFormatError, match="second block"):
        read_marcs(p)
    few_abund = lines[:13] + lines[14:]
    p.write_text("".join(few_abund))
    with pytest.raises(FileFormatError, match="expected 92 abundances"):
        read_marcs(p)


# --------------------------------------------------------------------------------------
# Kurucz
# --------------------------------------------------------------------------------------

# Written by hand in the ATLAS9 layout of Castelli & Kurucz's [-0.5a] grid decks (4 depths,
# rows rounded from an atmosnet 5777/4.44 model), with Fortran D exponents and, on row 3, an
# ACCRAD of -1.234E-02 run into the ABROSS field as fixed-width Fortran output does.
HAND_DECK = """\
TEFF   5750.  GRAVITY 4.50000 LTE
TITLE  [-0.5a] VTURB=2  L/H=1.25 NOVER NEW ODF
 OPACITY IFOP 1 1 1 1 1 1 1 1 1 1 1 1 1 0 1 0 0 0 0 0
 CONVECTION ON   1.25 TURBULENCE OFF  0.00  0.00  0.00  0.00
ABUNDANCE SCALE   0.31623 ABUNDANCE CHANGE 1 0.92140 2 0.07843
 ABUNDANCE CHANGE  3 -10.94  4 -10.64  5  -9.49  6  -3.52  7  -4.12  8  -2.81
 ABUNDANCE CHANGE 26  -4.54 43 -20.00 12  -4.06
READ DECK6  4 RHOX,T,P,XNE,ABROSS,ACCRAD,VTURB,FLXCNV,VCONV,VELSND
 4.9847D-04   3690.9 1.349D+01 2.405D+09 2.720D-04 1.007D-01 2.000D+05 0.000D+00 0.000D+00 6.700D+05
 6.5163E-04   3699.1 1.766E+01 3.072E+09 3.107E-04 1.113E-01 2.000E+05 0.000E+00 0.000E+00 6.650E+05
 8.3223E-04   3720.2 2.252E+01 3.851E+09 3.543E-04-1.234E-02 2.000E+05 0.000E+00 0.000E+00 6.600E+05
 1.2130E+01  11454.9 3.321E+05 2.177E+16 3.016E+02 3.230E+00 2.000E+05 4.905E+09 1.834E+05 8.900E+05
PRADK 1.4875E+00
BEGIN                    ITERATION  15 COMPLETED
"""

SEVEN_COLUMNS = """\
TEFF   4000.  GRAVITY 1.50000 LTE
TITLE SDSC GRID  [+0.0]   VTURB 2.0 KM/S    L/H 1.25
ABUNDANCE SCALE   1.00000 ABUNDANCE CHANGE 1 0.91100 2 0.08900
READ DECK6  3 RHOX,T,P,XNE,ABROSS,ACCRAD,VTURB
 1.0D-03   3000.0 3.1D+00 1.0D+07 1.0D-04 1.0D-02 1.5D+05
 1.0D-02   3100.0 3.1D+01 1.0D+08 1.0D-03 1.0D-02 1.5D+05
 1.0D-01   3200.0 3.1D+02 1.0D+09 1.0D-02 1.0D-02 2.5D+05
PRADK 1.0D-01
"""


def _write(tmp_path, text, name="deck.dat"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_hand_made_atlas9_deck(tmp_path):
    m = read_kurucz(_write(tmp_path, HAND_DECK))
    assert m.format == "kurucz" and m.geometry == "plane-parallel" and m.radius is None
    assert (m.teff, m.logg, m.n_depth) == (5750.0, 4.5, 4)
    assert m.feh == pytest.approx(-0.5, abs=1e-4)
    assert m.alpha == 0.4  # Castelli's "a" grids
    assert m.vmic == 2.0 and m.log_tau5 is None
    np.testing.assert_allclose(_np(m, "rhox"), [4.9847e-4, 6.5163e-4, 8.3223e-4, 12.13])
    np.testing.assert_allclose(_np(m, "temperature"), [3690.9, 3699.1, 3720.2, 11454.9])
    np.testing.assert_allclose(_np(m, "accrad"), [0.1007, 0.1113, -0.01234, 3.23])
    np.testing.assert_allclose(_np(m, "kappa_ross")[2], 3.543e-4)
    np.testing.assert_allclose(_np(m, "flxcnv")[-1], 4.905e9)
    np.testing.assert_allclose(_np(m, "vconv")[-1], 1.834e5)
    np.testing.assert_allclose(m.meta["velsnd"], [6.7e5, 6.65e5, 6.6e5, 8.9e5])
    assert m.meta["pradk"] == 1.4875 and m.meta["mixing_length"] == 1.25
    np.testing.assert_allclose(m.tau_ross, np.asarray(m.atmosphere.tau_ross()), rtol=1e-12)
    # log ε = value + log10(scale) - log10(X_H) + 12.
    off = math.log10(0.31623) - math.log10(0.92140) + 12.0
    assert m.log_eps[0] == 12.0
    assert m.log_eps[1] == pytest.approx(math.log10(0.07843 / 0.92140) + 12.0)  # 10.93
    assert m.log_eps[25] == pytest.approx(-4.54 + off)  # Fe: 7.50 - 0.5
    assert m.log_eps[11] == pytest.approx(-4.06 + off)
    assert np.isnan(m.log_eps[42]) and np.isnan(m.log_eps[50])  # -20 (Tc) and unlisted (Sb)
    assert m.meta["trailing"] == ["BEGIN                    ITERATION  15 COMPLETED"]


def test_seven_column_deck(tmp_path):
    m = read_model_atmosphere(_write(tmp_path, SEVEN_COLUMNS))
    assert m.format == "kurucz" and m.feh == 0.0 and m.alpha == 0.0
    assert m.vmic == 1.5  # median VTURB / 1e5
    np.testing.assert_array_equal(_np(m, "flxcnv"), 0.0)
    np.testing.assert_array_equal(_np(m, "vconv"), 0.0)
    assert m.meta["velsnd"] is None and m.meta["pradk"] == 0.1


def test_multi_model_file(tmp_path):
    p = _write(tmp_path, HAND_DECK + SEVEN_COLUMNS)
    assert read_kurucz(p).teff == 5750.0
    second = read_kurucz(p, index=1)
    assert second.teff == 4000.0 and second.source.endswith("[model 1]")
    with pytest.raises(ValueError, match="holds 2 model"):
        read_kurucz(p, index=2)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        # truncated: 4 announced, 3 rows then PRADK
        (lambda s: s.replace(s.splitlines()[11] + "\n", ""), r"line 12: .*announces 4 .*only 3"),
        (lambda s: s.split("\n 8.3223E-04")[0] + "\n", r"announces 4 depths but only 2"),
        (lambda s: s.replace("3699.1", "3699,1"), r"line 10: .*'3699,1'"),
        (lambda s: s.replace("3699.1", "****.*"), r"line 10: .*'\*\*\*\*\.\*'"),
        (lambda s: s.replace("6.5163E-04", "4.0000E-04"), r"line 10: RHOX is not strict"),
        (lambda s: s.replace("  3720.2", " -3720.2"), r"line 11: T = -3720.2 is not positive"),
        (
            lambda s: s.replace(" 6.650E+05\n", "\n"),
            r"line 10: expected 10 numbers like the rows above, found 9",
        ),
        (lambda s: s.replace("READ DECK6  4", "READ DECK6  3"), r"line 12: .*more rows follow"),
        (lambda s: s.replace("READ DECK6", "REDO DECK6"), r"no 'READ DECK6"),
        (lambda s: s.replace("TEFF", "TEMP"), r"no 'TEFF \.\.\. GRAVITY"),
        (lambda s: s.replace(" 26  -4.54", " 26"), r"line 7: ABUNDANCE CHANGE needs pairs"),
    ],
)
def test_corrupt_decks_raise(tmp_path, edit, match):
    p = _write(tmp_path, edit(HAND_DECK), name="corrupt.dat")
    with pytest.raises(FileFormatError, match=match) as e:
        read_kurucz(p)
    message = str(e.value)
    assert "corrupt.dat" in message
    assert any(w in message for w in ("regenerate", "re-download", "correct", "check"))


def test_sniffing(tmp_path):
    assert read_model_atmosphere(marcs_reference_model_path()).format == "marcs"
    assert read_model_atmosphere(_write(tmp_path, HAND_DECK, "x.mod")).format == "kurucz"
    junk = _write(tmp_path, "wavelength flux\n5000 1.0\n", "junk.txt")
    with pytest.raises(UnknownFormatError, match=r"junk\.txt is neither a MARCS"):
        read_model_atmosphere(junk)


def _assert_same_structure(a: Atmosphere, b: Atmosphere, rtol: float, t_atol: float = 0.0):
    for f in FIELDS:
        x, y = np.asarray(getattr(a, f)), np.asarray(getattr(b, f))
        if f == "temperature":
            np.testing.assert_allclose(y, x, rtol=0, atol=max(t_atol, 1e-9), err_msg=f)
        else:
            np.testing.assert_allclose(y, x, rtol=rtol, atol=0, err_msg=f)


def test_marcs_to_kurucz_round_trip(tmp_path, marcs):
    p = tmp_path / "marcs.kur"
    write_kurucz(marcs, p)
    k = read_kurucz(p)
    _assert_same_structure(marcs.atmosphere, k.atmosphere, rtol=1e-6, t_atol=1e-4)
    assert (k.teff, k.logg, k.feh, k.alpha, k.vmic) == (6000.0, 1.0, 0.0, 0.0, 5.0)
    np.testing.assert_allclose(k.log_eps, marcs.log_eps, atol=0.0051, equal_nan=True)
    assert k.meta["pradk"] == 1.5817 and k.meta["mixing_length"] == 1.5
    # Writing what was read gives the same bytes: exact to the printed precision.
    again = tmp_path / "again.kur"
    write_kurucz(k, again)
    assert again.read_bytes() == p.read_bytes()


@pytest.fixture(scope="module")
def sun() -> Atmosphere:
    return predict(load_atmosphere_emulator(), jnp.array([5777.0, 4.44, 0.0, 0.0]))


def test_atmosnet_round_trip(tmp_path, sun):
    assert sun.rhox.dtype == jnp.float64
    p = tmp_path / "sun.kur"
    write_kurucz(sun, p, teff=5777.0, logg=4.44)
    k = read_model_atmosphere(p)
    _assert_same_structure(sun, k.atmosphere, rtol=1e-6, t_atol=5e-5)
    np.testing.assert_allclose(k.tau_ross, np.asarray(sun.tau_ross()), rtol=1e-5)
    assert (k.teff, k.logg, k.feh, k.alpha, k.vmic) == (5777.0, 4.44, 0.0, 0.0, 2.0)
    assert k.log_eps[25] == pytest.approx(7.45, abs=0.0051)  # default GAS07 solar mixture
    assert k.meta["pradk"] == pytest.approx(2 / 3 * SIGMA * 5777.0**4 / 2.99792458e10, rel=1e-4)
    # ATLAS's own fixed format: 4 significant digits, T to 0.1 K.
    atlas = tmp_path / "sun_atlas.kur"
    write_kurucz(sun, atlas, teff=5777.0, logg=4.44, style="atlas")
    ka = read_kurucz(atlas)
    _assert_same_structure(sun, ka.atmosphere, rtol=5e-4, t_atol=0.05)
    assert len(atlas.read_text().splitlines()[30]) == 15 + 9 + 7 * 10


def test_write_labels_and_abundances(tmp_path, sun):
    p = tmp_path / "poor.kur"
    write_kurucz(sun, p, teff=5777.3, logg=4.437, feh=-1.7, alpha=0.4, vmic=1.1, title="test")
    k = read_kurucz(p)
    assert k.teff == 5777.3 and k.logg == 4.437 and k.alpha == 0.4
    assert k.feh == pytest.approx(-1.7, abs=1e-5) and k.vmic == pytest.approx(1.1)
    assert k.meta["title"].startswith("test [Fe/H]=-1.700 [alpha/Fe]=+0.400")
    assert k.log_eps[25] == pytest.approx(7.45 - 1.7, abs=0.0051)  # Fe
    assert k.log_eps[11] == pytest.approx(7.53 - 1.7 + 0.4, abs=0.0051)  # Mg, α
    assert k.log_eps[1] == pytest.approx(10.93, abs=1e-3)  # He not scaled
    # Explicit log ε round-trip to the printed 0.01 dex.
    eps = np.array(k.log_eps)
    eps[5] = 9.123  # C
    write_kurucz(k, p, log_eps=eps)
    assert read_kurucz(p).log_eps[5] == pytest.approx(9.123, abs=0.0051)


def test_write_refuses_bad_input(tmp_path, sun):
    p = tmp_path / "out.kur"
    p.write_text("old")
    with pytest.raises(ValueError, match="needs teff and logg"):
        write_kurucz(sun, p)
    batch = jax.tree.map(lambda a: jnp.stack([a, a]), sun)
    with pytest.raises(ValueError, match="one atmosphere at a time"):
        write_kurucz(batch, p, teff=5777.0, logg=4.44)
    rhox = sun.rhox.at[70].set(sun.rhox[69])
    broken = Atmosphere(rhox, *(getattr(sun, f) for f in FIELDS[1:]))
    with pytest.raises(ValueError, match=r"depth 71 of 80, RHOX is not strictly increasing"):
        write_kurucz(broken, p, teff=5777.0, logg=4.44)
    with pytest.raises(ValueError, match="style"):
        write_kurucz(sun, p, teff=5777.0, logg=4.44, style="fixed")
    # Nothing half-written: the old file is intact and no temporary file is left.
    assert p.read_text() == "old"
    assert [x.name for x in tmp_path.iterdir()] == ["out.kur"]
