"""Validate jaxspec's synthesis against Turbospectrum on the shipped MARCS model.

The project issue asks: synthesise the shipped MARCS model (Teff 6000 K, log g 1.0, [Fe/H] 0,
[α/Fe] 0) with both codes over 5000–5300 Å at R = 20 000 and print the RMS and maximum
difference of the continuum-normalised flux. Target: RMS ≤ 2 %.

Steps:

1. Turbospectrum 1.0.2 (``benchmarks/turbospectrum.py``: LTE, GAS07 solar abundances scaled
   by the model's [M/H] and [α/Fe], vmic = 1 km/s, Gaia-ESO atoms + hydrogen lines, step
   0.01 Å in air) over the air window that covers vacuum 5000–5300 Å plus a margin, or a
   saved spectrum (``--ts-output``).
2. TS air wavelengths → vacuum (``jaxspec.preprocess.air_to_vacuum``), then a Gaussian LSF
   of R = 20 000 (``jaxspec.preprocess.convolve_resolution``, TS treated as unresolved).
3. jaxspec on the same model file::

       model = read_marcs(marcs_reference_model_path())
       synth = Synthesizer(5000.0, 5300.0, resolution=20000.0)
       spec = synth.from_atmosphere(model.atmosphere, feh=model.feh, alpha=model.alpha,
                                    vmic=1.0, eos="atmosphere", tau_ross=model.tau_ross)

4. TS interpolated onto jaxspec's wavelength grid; a table of RMS, max |Δ| and where it
   occurs, mean line depth, equivalent width, RMS in three line-depth bins, the velocity
   shift that minimises the RMS; JSON and a two-panel figure in ``benchmarks/results/``.

TS runs plane-parallel by default, because ``Synthesizer.from_atmosphere`` does plane-parallel
transfer (TS itself would treat this model, radius 2.6e12 cm, as spherical:
``--ts-geometry ts``). As a scale for the differences the script also runs TS in the other
geometry and reports the TS-vs-TS difference (``--no-geometry-check`` skips it).

Usage::

    python benchmarks/validate_turbospectrum.py                  # builds TS on demand
    python benchmarks/validate_turbospectrum.py --ts-exec ~/.cache/jaxspec/turbospectrum/src/exec-gf
    python benchmarks/validate_turbospectrum.py --skip-jaxspec   # TS half only
    python benchmarks/validate_turbospectrum.py --ts-output /tmp/ts_out/marcs_5000_5300.txt

Prints a markdown table and writes ``benchmarks/results/validate_turbospectrum.json`` and
``benchmarks/results/validate_turbospectrum.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import turbospectrum as ts  # noqa: E402

from jaxspec import Spectrum  # noqa: E402
from jaxspec.preprocess import air_to_vacuum, convolve_resolution, vacuum_to_air  # noqa: E402

WAVE_MIN, WAVE_MAX, RESOLUTION, VMIC, TARGET_RMS = 5000.0, 5300.0, 20000.0, 1.0, 0.02
#: Extra air wavelength [Å] synthesised by TS on each side (LSF wings, air/vacuum shift).
TS_PAD = 5.0
#: Line-depth bins (1 − F of TS at R = 20 000) for the binned RMS.
DEPTH_BINS = (
    (0.0, 0.1, "weak/continuum (d < 0.1)"),
    (0.1, 0.3, "medium (0.1 ≤ d < 0.3)"),
    (0.3, 1.01, "strong (d ≥ 0.3)"),
)
C_KMS = 299792.458
RESULTS = Path(__file__).resolve().parent / "results"


# --------------------------------------------------------------------------- helpers
def ts_to_vacuum_r(wave_air: np.ndarray, flux: np.ndarray, resolution: float) -> Spectrum:
    """TS spectrum (air Å) → vacuum wavelengths, convolved to ``resolution`` (edges masked)."""
    wave_vac = np.asarray(air_to_vacuum(np.asarray(wave_air, float)))
    spec = Spectrum(wave_vac, np.asarray(flux, float))
    return convolve_resolution(spec, resolution, resolution_in=None)


def onto(grid: np.ndarray, spec: Spectrum) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate a (convolved) spectrum onto ``grid``; returns (flux, valid)."""
    w, f, bad = (np.asarray(a) for a in (spec.wave, spec.flux, spec.mask))
    good = ~bad
    flux = np.interp(grid, w[good], f[good])
    valid = (grid >= w[good][0]) & (grid <= w[good][-1])
    # Also drop grid points that fall in an interior run of masked pixels.
    idx = np.clip(np.searchsorted(w, grid), 1, w.size - 1)
    valid &= good[idx] & good[idx - 1]
    return flux, valid


def best_shift(wave: np.ndarray, f_ref: np.ndarray, f: np.ndarray) -> tuple[float, float]:
    """Velocity shift [km/s] of ``f`` that best correlates it with ``f_ref``, and the RMS there.

    The shift maximises the Pearson correlation of the two spectra (insensitive to a depth
    scaling, so it measures a wavelength-scale offset such as an air/vacuum mix-up), searched
    over ±3 km/s in 0.02 km/s steps and refined with a parabola through the peak.
    """
    shifts = np.arange(-3.0, 3.0001, 0.02)
    inner = (wave > wave[0] + 1.0) & (wave < wave[-1] - 1.0)

    def shifted(v: float) -> np.ndarray:
        return np.interp(wave[inner] * (1 - v / C_KMS), wave, f)

    corr = np.array([np.corrcoef(shifted(v), f_ref[inner])[0, 1] for v in shifts])
    i = int(np.clip(np.argmax(corr), 1, shifts.size - 2))
    c0, c1, c2 = corr[i - 1 : i + 2]
    denom = c0 - 2 * c1 + c2
    v = float(shifts[i] + (0.5 * (c0 - c2) / denom * 0.02 if denom < 0 else 0.0))
    return v, float(np.sqrt(np.mean((shifted(v) - f_ref[inner]) ** 2)))


def largest_differences(wave: np.ndarray, diff: np.ndarray, n: int = 5, sep: float = 0.5) -> list:
    """The ``n`` largest |Δ| at least ``sep`` Å apart, as (λ_vac, Δ)."""
    out: list[tuple[float, float]] = []
    for i in np.argsort(-np.abs(diff)):
        if all(abs(wave[i] - w) > sep for w, _ in out):
            out.append((float(wave[i]), float(diff[i])))
        if len(out) == n:
            break
    return out


def compare(wave: np.ndarray, f_ts: np.ndarray, f_jx: np.ndarray) -> dict[str, Any]:
    """Statistics of jaxspec − TS on a common vacuum grid."""
    d = f_jx - f_ts
    dl = np.gradient(wave)
    i = int(np.argmax(np.abs(d)))
    depth = 1.0 - f_ts
    bins = []
    for lo, hi, label in DEPTH_BINS:
        sel = (depth >= lo) & (depth < hi)
        bins.append(
            {
                "bin": label,
                "n_pix": int(sel.sum()),
                "rms": float(np.sqrt(np.mean(d[sel] ** 2))) if sel.any() else None,
                "mean_diff": float(np.mean(d[sel])) if sel.any() else None,
            }
        )
    shift, rms_shifted = best_shift(wave, f_ts, f_jx)
    return {
        "n_pix": int(wave.size),
        "wave_min_vac": float(wave[0]),
        "wave_max_vac": float(wave[-1]),
        "rms": float(np.sqrt(np.mean(d**2))),
        "max_abs_diff": float(abs(d[i])),
        "max_diff_wave_vac": float(wave[i]),
        "max_diff_wave_air": float(np.asarray(vacuum_to_air(wave[i]))),
        "max_diff_flux_ts": float(f_ts[i]),
        "max_diff_flux_jaxspec": float(f_jx[i]),
        "mean_diff": float(np.mean(d)),
        "mean_depth_ts": float(np.mean(1 - f_ts)),
        "mean_depth_jaxspec": float(np.mean(1 - f_jx)),
        "equivalent_width_ts": float(np.sum((1 - f_ts) * dl)),
        "equivalent_width_jaxspec": float(np.sum((1 - f_jx) * dl)),
        "rms_by_line_depth": bins,
        "best_shift_kms": shift,
        "rms_at_best_shift": rms_shifted,
        "largest_differences": largest_differences(wave, d),
        "passes_target": bool(np.sqrt(np.mean(d**2)) <= TARGET_RMS),
    }


# -------------------------------------------------------------------------- jaxspec half
def jaxspec_model_path() -> Path:
    """The MARCS model file jaxspec ships (raises ImportError until atmosphere_io exists)."""
    from jaxspec.synth.atmosphere_io import marcs_reference_model_path

    return Path(marcs_reference_model_path())


def run_jaxspec(vmic: float) -> dict[str, Any]:
    """Synthesise the shipped MARCS model with jaxspec (API of the coming Synthesizer)."""
    from jaxspec.synth import Synthesizer
    from jaxspec.synth.atmosphere_io import marcs_reference_model_path, read_marcs

    model = read_marcs(marcs_reference_model_path())
    synth = Synthesizer(WAVE_MIN, WAVE_MAX, resolution=RESOLUTION)
    t0 = time.perf_counter()
    # As Turbospectrum does: T and P_e from the model, its own τ_Ross grid.
    kwargs = dict(feh=model.feh, alpha=model.alpha, vmic=vmic, eos="atmosphere",
                  tau_ross=model.tau_ross)  # fmt: skip
    spec = synth.from_atmosphere(model.atmosphere, **kwargs)
    jax.block_until_ready(spec.flux)
    t_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    spec = synth.from_atmosphere(model.atmosphere, **kwargs)
    jax.block_until_ready(spec.flux)
    t_second = time.perf_counter() - t0
    mask = np.asarray(spec.mask) if getattr(spec, "mask", None) is not None else None
    return {
        "wave": np.asarray(spec.wave, float),
        "flux": np.asarray(spec.flux, float),
        "mask": mask,
        "geometry": "plane-parallel",
        "model_geometry": str(getattr(model, "geometry", "unknown")),
        "labels": {k: _plain(getattr(model, k, None)) for k in ("teff", "logg", "feh", "alpha")},
        "seconds_first_call": t_first,
        "seconds_second_call": t_second,
    }


def _plain(x: Any) -> Any:
    try:
        return float(x)
    except (TypeError, ValueError):
        return None if x is None else str(x)


# --------------------------------------------------------------------------------- plot
def plot(
    path: Path,
    ts_wave: np.ndarray,
    ts_flux: np.ndarray,
    other: tuple[str, np.ndarray, np.ndarray] | None,
    diff: tuple[str, np.ndarray, np.ndarray] | None,
    title: str,
) -> None:
    """Two panels: spectra overlaid, and their difference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(
        2, 1, figsize=(14, 7), sharex=True, gridspec_kw={"height_ratios": [2.2, 1]}
    )
    ax1.plot(ts_wave, ts_flux, color="k", lw=0.7, label="Turbospectrum 1.0.2 (R = 20 000)")
    if other is not None:
        label, w, f = other
        ax1.plot(w, f, color="C3", lw=0.7, alpha=0.85, label=label)
    ax1.set_ylabel("normalised flux")
    ax1.set_ylim(0, 1.08)
    ax1.legend(loc="lower left", fontsize=9)
    ax1.set_title(title, fontsize=10)
    if diff is not None:
        label, w, d = diff
        ax2.plot(w, d, color="C0", lw=0.7)
        ax2.set_ylabel(label)
        rms = float(np.sqrt(np.mean(d**2)))
        ax2.text(
            0.01,
            0.88,
            f"RMS {rms:.4f}, max |Δ| {np.max(np.abs(d)):.4f}",
            transform=ax2.transAxes,
            fontsize=9,
        )
    else:
        ax2.text(0.5, 0.5, "no comparison spectrum", ha="center", transform=ax2.transAxes)
    for y in (-TARGET_RMS, 0.0, TARGET_RMS):
        ax2.axhline(y, color="0.6", lw=0.6, ls="-" if y == 0 else ":")
    ax2.set_xlabel("vacuum wavelength [Å]")
    ax2.set_xlim(WAVE_MIN, WAVE_MAX)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)


# --------------------------------------------------------------------------------- main
def _ts_dir(args: argparse.Namespace, spherical: bool) -> Path:
    """A fixed TS run directory per geometry (reused, so runs do not pile up)."""
    return args.ts_workdir / f"validate-{'spherical' if spherical else 'plane-parallel'}"


def _fmt(x: Any, spec: str = ".4f") -> str:
    return "—" if x is None else format(x, spec)


def main(argv: list[str] | None = None) -> int:
    """Run the validation; returns 0 (target met or jaxspec skipped), 1 (missed), 2 (error)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ts-exec", type=Path, default=None, help="dir with babsma_lu and bsyn_lu")
    p.add_argument("--sdist", type=Path, default=ts.DEFAULT_SDIST, help="TS sdist (to build)")
    p.add_argument("--ts-workdir", type=Path, default=ts.DEFAULT_WORKDIR, help="TS build dir")
    p.add_argument("--ts-output", type=Path, default=None, help="reuse a saved TS spectrum")
    p.add_argument("--model", type=Path, default=None, help="default: jaxspec's shipped model")
    p.add_argument(
        "--ts-geometry",
        choices=("plane-parallel", "ts", "spherical"),
        default="plane-parallel",
        help="TS transfer; plane-parallel (default) like jaxspec's from_atmosphere; "
        "ts: TS's own choice (spherical if the MARCS radius >= 2 cm)",
    )
    p.add_argument("--pure-lte", action="store_true", help="TS PURE-LTE (scattering as abs.)")
    p.add_argument("--step", type=float, default=0.01, help="TS wavelength step [Å]")
    p.add_argument("--vmic", type=float, default=VMIC)
    p.add_argument("--skip-jaxspec", action="store_true", help="only run/plot Turbospectrum")
    p.add_argument("--no-geometry-check", action="store_true")
    p.add_argument("--out", type=Path, default=RESULTS / "validate_turbospectrum.json")
    p.add_argument("--fig", type=Path, default=RESULTS / "validate_turbospectrum.png")
    args = p.parse_args(argv)

    # --- jaxspec first (fails fast when the synthesizer is not there yet)
    jx = None
    if not args.skip_jaxspec:
        try:
            jx = run_jaxspec(args.vmic)
        except ImportError as exc:
            print(
                f"jaxspec synthesis is not available ({exc}); run with --skip-jaxspec for the "
                "Turbospectrum half only",
                file=sys.stderr,
            )
            return 2
    model = args.model
    if model is None:
        try:
            model = jaxspec_model_path()
        except ImportError:
            model = ts.MARCS_MODEL
    head = ts.read_model_header(model)
    spherical = {"ts": head["spherical"], "spherical": True, "plane-parallel": False}[
        args.ts_geometry
    ]

    # --- (1) Turbospectrum
    lo = float(np.asarray(vacuum_to_air(WAVE_MIN))) - TS_PAD
    hi = float(np.asarray(vacuum_to_air(WAVE_MAX))) + TS_PAD
    ts_info: dict[str, Any] = {"model": str(model)}
    ts_alt = None
    if args.ts_output is not None:
        raw = ts.read_spectrum(args.ts_output)
        first = args.ts_output.read_text().split("\n", 1)[0]
        geometry = next((g for g in ("plane-parallel", "spherical") if g in first), "unknown")
        ts_info.update(source=str(args.ts_output), geometry=geometry, header=first.lstrip("# "))
    else:
        exec_dir = args.ts_exec or ts.build(args.sdist, args.ts_workdir)
        kw = dict(
            wave_min=lo,
            wave_max=hi,
            step=args.step,
            vmic=args.vmic,
            pure_lte=args.pure_lte,
            exec_dir=exec_dir,
        )
        raw = ts.run(model, spherical=spherical, workdir=_ts_dir(args, spherical), **kw)
        ts_info.update(
            source="run",
            workdir=raw["workdir"],
            geometry=raw["settings"]["geometry"],
            settings={k: raw["settings"][k] for k in raw["settings"] if not k.endswith("input")},
            n_lines=raw["n_lines"],
            babsma_seconds=raw["babsma_seconds"],
            bsyn_seconds=raw["bsyn_seconds"],
            abundances_used={k: raw["abundances"].get(k) for k in ("C", "O", "Mg", "Ca", "Fe")},
        )
        if not args.no_geometry_check and (head["spherical"] or spherical):
            ts_alt = ts.run(
                model, spherical=not spherical, workdir=_ts_dir(args, not spherical), **kw
            )

    # --- (2) vacuum + R = 20 000
    ts_r = ts_to_vacuum_r(raw["wave_air"], raw["flux_norm"], RESOLUTION)
    grid = jx["wave"] if jx is not None else None
    if grid is None:
        w = np.asarray(ts_r.wave)
        grid = w[(w >= WAVE_MIN) & (w <= WAVE_MAX)]
    f_ts, valid = onto(grid, ts_r)

    geometry_check = None
    if ts_alt is not None:
        f_alt, valid_alt = onto(
            grid, ts_to_vacuum_r(ts_alt["wave_air"], ts_alt["flux_norm"], RESOLUTION)
        )
        sel = valid & valid_alt
        d_alt = f_alt[sel] - f_ts[sel]
        geometry_check = {
            "what": f"TS {ts_alt['settings']['geometry']} − TS {ts_info['geometry']}, R = 20 000",
            "rms": float(np.sqrt(np.mean(d_alt**2))),
            "max_abs_diff": float(np.max(np.abs(d_alt))),
            "mean_depth_alt": float(np.mean(1 - f_alt[sel])),
            "bsyn_seconds_alt": ts_alt["bsyn_seconds"],
        }

    # --- (3)+(4) compare
    stats = None
    if jx is not None:
        sel_cmp = valid & np.isfinite(jx["flux"])
        if jx["mask"] is not None:
            sel_cmp &= ~jx["mask"]
        stats = compare(grid[sel_cmp], f_ts[sel_cmp], jx["flux"][sel_cmp])
    ts_stats = {
        "mean_depth": float(np.mean(1 - f_ts[valid])),
        "equivalent_width": float(np.sum((1 - f_ts[valid]) * np.gradient(grid[valid]))),
        "min_flux": float(np.min(f_ts[valid])),
        "n_pix_on_grid": int(valid.sum()),
        "coverage_vac": [float(grid[valid][0]), float(grid[valid][-1])],
    }

    # --- table
    print(
        f"\n## jaxspec vs Turbospectrum — {Path(model).name}, {WAVE_MIN:.0f}–{WAVE_MAX:.0f} Å "
        f"(vacuum), R = {RESOLUTION:.0f}, vmic = {args.vmic} km/s\n"
    )
    print("| quantity | value |\n|---|---|")
    rows = [
        ("TS geometry", ts_info["geometry"]),
        ("TS lines used", ts_info.get("n_lines", "—")),
        (
            "TS babsma / bsyn [s]",
            f"{ts_info['babsma_seconds']:.2f} / {ts_info['bsyn_seconds']:.2f}"
            if "bsyn_seconds" in ts_info
            else "—",
        ),
        ("TS mean depth ⟨1 − F⟩", f"{ts_stats['mean_depth']:.4f}"),
        ("TS equivalent width of window [Å]", f"{ts_stats['equivalent_width']:.2f}"),
    ]
    if geometry_check is not None:
        rows.append(
            (
                geometry_check["what"] + " RMS / max",
                f"{geometry_check['rms']:.4f} / {geometry_check['max_abs_diff']:.4f}",
            )
        )
    if stats is not None:
        rows += [
            ("jaxspec transfer (model geometry)", f"{jx['geometry']} ({jx['model_geometry']})"),
            (
                "pixels compared",
                f"{stats['n_pix']} ({stats['wave_min_vac']:.2f}–{stats['wave_max_vac']:.2f} Å)",
            ),
            ("**RMS Δ (jaxspec − TS)**", f"**{stats['rms']:.4f}** (target ≤ {TARGET_RMS})"),
            (
                "max \\|Δ\\|",
                f"{stats['max_abs_diff']:.4f} at {stats['max_diff_wave_vac']:.2f} Å vac "
                f"({stats['max_diff_wave_air']:.2f} air): TS {stats['max_diff_flux_ts']:.3f},"
                f" jaxspec {stats['max_diff_flux_jaxspec']:.3f}",
            ),
            ("mean Δ (bias)", f"{stats['mean_diff']:+.4f}"),
            (
                "mean depth TS / jaxspec",
                f"{stats['mean_depth_ts']:.4f} / {stats['mean_depth_jaxspec']:.4f}",
            ),
            (
                "EW of window TS / jaxspec [Å]",
                f"{stats['equivalent_width_ts']:.2f} / {stats['equivalent_width_jaxspec']:.2f}",
            ),
            (
                "best shift [km/s] (RMS there)",
                f"{stats['best_shift_kms']:+.2f} ({stats['rms_at_best_shift']:.4f})",
            ),
            (
                "jaxspec 1st / 2nd call [s]",
                f"{jx['seconds_first_call']:.2f} / {jx['seconds_second_call']:.2f}",
            ),
            ("target met", "yes" if stats["passes_target"] else "**NO**"),
        ]
    for k, v in rows:
        print(f"| {k} | {v} |")
    if stats is not None:
        print("\n| TS line depth bin | pixels | RMS Δ | mean Δ |\n|---|---:|---:|---:|")
        for b in stats["rms_by_line_depth"]:
            print(
                f"| {b['bin']} | {b['n_pix']} | {_fmt(b['rms'])} | {_fmt(b['mean_diff'], '+.4f')} |"
            )
        print(
            "\nlargest differences (λ_vac, Δ): "
            + ", ".join(f"{w:.2f} Å {d:+.3f}" for w, d in stats["largest_differences"])
        )
    else:
        print("\n(jaxspec skipped: TS half only)")

    # --- outputs
    payload = {
        "benchmark": "validate_turbospectrum",
        "window_vac": [WAVE_MIN, WAVE_MAX],
        "resolution": RESOLUTION,
        "vmic_kms": args.vmic,
        "target_rms": TARGET_RMS,
        "lsf": "Gaussian, FWHM = λ/R, jaxspec.preprocess.convolve_resolution (pixel-integrated)",
        "air_to_vacuum": "jaxspec.preprocess.air_to_vacuum (IAU, Morton 2000)",
        "turbospectrum": ts_info,
        "turbospectrum_stats": ts_stats,
        "geometry_check": geometry_check,
        "jaxspec": None
        if jx is None
        else {
            k: jx[k]
            for k in (
                "geometry",
                "model_geometry",
                "labels",
                "seconds_first_call",
                "seconds_second_call",
            )
        },
        "comparison": stats,
        "jaxspec_skipped": jx is None,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    tmp.replace(args.out)
    title = (
        f"{Path(model).name}: TS {ts_info['geometry']}, LTE, GAS07, vmic {args.vmic} km/s, "
        f"R = {RESOLUTION:.0f}"
    )
    if jx is not None:
        plot(
            args.fig,
            grid[valid],
            f_ts[valid],
            ("jaxspec", jx["wave"], jx["flux"]),
            ("jaxspec − TS", grid[sel_cmp], jx["flux"][sel_cmp] - f_ts[sel_cmp]),
            title,
        )
    elif ts_alt is not None:
        f_alt, valid_alt = onto(
            grid, ts_to_vacuum_r(ts_alt["wave_air"], ts_alt["flux_norm"], RESOLUTION)
        )
        both = valid & valid_alt
        alt_geom = ts_alt["settings"]["geometry"]
        plot(
            args.fig,
            grid[valid],
            f_ts[valid],
            (f"TS {alt_geom}", grid[both], f_alt[both]),
            (f"TS {alt_geom} − TS {ts_info['geometry']}", grid[both], f_alt[both] - f_ts[both]),
            title + " (jaxspec skipped)",
        )
    else:
        plot(args.fig, grid[valid], f_ts[valid], None, None, title + " (jaxspec skipped)")
    print(f"\nwrote {args.out}\nwrote {args.fig}")
    if stats is None:
        return 0
    return 0 if stats["passes_target"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
