"""The ``jaxspec`` command line: ``demo``, ``info``, ``convert``, ``synth``, ``synth-grid``,
``train-emulator``.

Every subcommand has ``--help``. Errors in the input (unreadable or unknown files, bad
arguments, labels outside the synthesizer's domain) end with a one-line message on stderr
and exit status 2; no traceback.

``synth`` and ``synth-grid`` build their synthesizer through :func:`make_synthesizer`, the
one place that imports :mod:`jaxspec.synth` (tests replace it with a fake). JAX and the
synthesizer are imported inside the command functions, so ``import jaxspec.cli`` stays light.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .errors import JaxspecError, LabelRangeError

__all__ = ["main", "build_parser", "make_synthesizer"]

#: The label options of ``synth`` / ``synth-grid``, keyed by the synthesizer's label names.
_LABEL_OPTIONS = {
    "teff": "teff",
    "logg": "logg",
    "feh": "feh",
    "alpha": "alpha",
    "alpha_fe": "alpha",
    "vmic": "vmic",
}
_SYMBOLS = {
    "teff": "Teff",
    "logg": "log g",
    "feh": "[Fe/H]",
    "alpha": "[α/Fe]",
    "alpha_fe": "[α/Fe]",
    "vmic": "v_mic",
}
_ABSOLUTE_UNIT = "erg / (s cm2 Angstrom)"


def _describe(path: str, fmt: str | None) -> list[str]:
    from . import io

    detected = fmt or io.identify(path)
    spec = io.read(path, format=detected)
    wave = np.asarray(spec.wave)
    snr = np.atleast_1d(np.asarray(spec.median_snr(), dtype=float))
    n_good = np.atleast_1d(np.sum(~np.asarray(spec.mask), axis=-1)).ravel()
    ids = spec.meta.object_id
    ids = ids if isinstance(ids, tuple) else (ids,) * max(1, int(np.prod(spec.batch_shape)))
    lines = [
        f"file:        {path}",
        f"format:      {detected}"
        + (f" (originally {spec.meta.format})" if spec.meta.format != detected else ""),
        f"spectra:     {int(np.prod(spec.batch_shape)) if spec.batch_shape else 1}"
        + (f" (batch shape {spec.batch_shape})" if spec.batch_shape else ""),
        f"pixels:      {spec.n_pix} per spectrum",
        f"wavelength:  {float(wave.min()):.3f} – {float(wave.max()):.3f} Å "
        f"(vacuum, frame: {spec.meta.frame})",
        f"flux unit:   {spec.meta.flux_unit or 'dimensionless'}",
    ]
    for i, (oid, value, good) in enumerate(zip(ids, snr.ravel(), n_good, strict=False)):
        if i == 10:
            lines.append(f"... {snr.size - 10} more spectra")
            break
        lines.append(
            f"object:      {oid}    good pixels: {good}    median S/N per pixel: {value:.1f}"
        )
    return lines


def _cmd_info(args: argparse.Namespace) -> int:
    status = 0
    for i, path in enumerate(args.files):
        if i:
            print()
        try:
            print("\n".join(_describe(path, args.format)))
        except (JaxspecError, OSError, ValueError) as exc:
            # Report and go on with the other files; the exit status says something failed.
            print(f"jaxspec info: error: {exc}", file=sys.stderr)
            status = 2
    return status


def _cmd_convert(args: argparse.Namespace) -> int:
    from . import io

    out = Path(args.output)
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    spec = io.read(args.input, format=args.format)
    io.write(spec, out, format=args.to, overwrite=True)
    print(
        f"wrote {out} ({spec.meta.format} -> {out.suffix.lstrip('.') or 'file'}, "
        f"{int(np.prod(spec.batch_shape)) if spec.batch_shape else 1} spectra "
        f"x {spec.n_pix} pixels)"
    )
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(output=Path(args.output), show_plot=not args.no_plot)


def make_synthesizer(
    wave_min: float,
    wave_max: float,
    resolution: float | None,
    bounds: dict[str, tuple[float, float]] | None = None,
) -> Any:
    """The synthesizer of ``synth`` and ``synth-grid`` (the injection point tests replace).

    Args:
        wave_min, wave_max: vacuum wavelength range [Å].
        resolution: resolving power R of the output, or None for native sampling.
        bounds: the label box it will serve (lines are selected for it).
    """
    from .synth import Synthesizer

    return Synthesizer(wave_min, wave_max, resolution=resolution, bounds=bounds)


def _prepare_synthesis(
    args: argparse.Namespace, bounds: dict[str, tuple[float, float]] | None = None
) -> Any:
    """Check the common options, switch JAX to float64 (the physics needs it), build the
    synthesizer."""
    if not (math.isfinite(args.wave_min) and math.isfinite(args.wave_max)):
        raise ValueError("--wave-min and --wave-max must be finite numbers")
    if not 0 < args.wave_min < args.wave_max:
        raise ValueError(
            f"--wave-min {args.wave_min:g} must be positive and below --wave-max "
            f"{args.wave_max:g} (vacuum Å)"
        )
    if not math.isfinite(args.R) or args.R < 0:
        raise ValueError(f"--R must be a resolving power >= 0 (0: native sampling), got {args.R}")
    import jax

    jax.config.update("jax_enable_x64", True)
    return make_synthesizer(args.wave_min, args.wave_max, args.R or None, bounds)


def _option(name: str) -> str:
    try:
        return _LABEL_OPTIONS[name]
    except KeyError:
        raise ValueError(
            f"the synthesizer expects a label {name!r} that this command has no option for "
            f"(it knows {', '.join(sorted(set(_LABEL_OPTIONS.values())))})"
        ) from None


def _label_title(names: Sequence[str], units: Sequence[str], values: Sequence[float]) -> str:
    parts = []
    for name, unit, value in zip(names, units, values, strict=True):
        unit = "" if unit in ("", "dex") else f" {unit}"
        parts.append(f"{_SYMBOLS.get(name, name)} = {value:g}{unit}")
    return ", ".join(parts)


def _parse_windows(text: str) -> list[tuple[float, float]]:
    windows = []
    for item in text.split(","):
        try:
            lo, hi = (float(v) for v in item.split(":"))
        except ValueError:
            raise ValueError(
                f"--plot-windows: {item!r} is not LO:HI; give e.g. 5150:5200,6540:6590 (Å)"
            ) from None
        if not lo < hi:
            raise ValueError(f"--plot-windows: window {item!r} must have LO below HI")
        windows.append((lo, hi))
    return windows


def _check_plot_target(path: Path) -> None:
    """Fail before the slow work if the plot cannot be made."""
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        raise JaxspecError(
            "--plot needs matplotlib, which is not installed; get it with "
            "pip install 'jaxspec-stellar[plot]'"
        ) from None
    kinds = FigureCanvasBase.get_supported_filetypes()
    if path.suffix.lstrip(".").lower() not in kinds:
        raise ValueError(
            f"--plot {path}: the extension must name an image format ({', '.join(sorted(kinds))})"
        )


def _plot_spectrum(
    path: Path,
    wave: np.ndarray,
    flux: np.ndarray,
    windows: list[tuple[float, float]],
    title: str,
    ylabel: str,
) -> None:
    from matplotlib.figure import Figure

    from ._atomic import atomic_path

    ncols = min(len(windows), 3)
    nrows = math.ceil(len(windows) / ncols)
    width = 11.0 if len(windows) == 1 else 4.2 * ncols
    fig = Figure(figsize=(width, 3.2 * nrows + 0.4), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (lo, hi) in zip(axes, windows, strict=False):
        sel = (wave >= lo) & (wave <= hi)
        ax.plot(wave[sel], flux[sel], lw=0.7, color="k")
        ax.set_xlim(lo, hi)
        ax.set_xlabel("vacuum wavelength [Å]")
        ax.set_ylabel(ylabel)
    for ax in axes[len(windows) :]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize="medium")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".").lower() or "png", dpi=120)


def _cmd_synth(args: argparse.Namespace) -> int:
    out = Path(args.output)
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    if args.plot_windows and not args.plot:
        raise ValueError("--plot-windows needs --plot FILE.png")
    windows = _parse_windows(args.plot_windows) if args.plot_windows else None
    for lo, hi in windows or ():
        if hi < args.wave_min or lo > args.wave_max:
            raise ValueError(
                f"--plot-windows: {lo:g}:{hi:g} lies outside the synthesised range "
                f"{args.wave_min:g}–{args.wave_max:g} Å"
            )
    if args.plot:
        _check_plot_target(Path(args.plot))
    given = {
        "teff": args.teff,
        "logg": args.logg,
        "feh": args.feh,
        "alpha": args.alpha,
        "vmic": args.vmic,
    }
    for name, value in given.items():
        if not math.isfinite(value):
            raise LabelRangeError(f"--{name} must be a finite number, got {value}")
    synth = _prepare_synthesis(args, {name: (value, value) for name, value in given.items()})
    names = tuple(synth.label_names)
    labels = np.array([given[_option(n)] for n in names], dtype=np.float64)
    synth.check_labels(labels)
    normalised, continuum = synth.flux(labels[None, :])
    wave = np.asarray(synth.wave, dtype=np.float64)
    flux = np.asarray(normalised)[0]
    if args.absolute:
        flux = flux * np.asarray(continuum)[0]
    windows = windows or [(float(wave[0]), float(wave[-1]))]

    from .io import write_hdf5
    from .spectrum import Spectrum

    units = tuple(synth.label_units)
    header = tuple((n.upper(), float(v)) for n, v in zip(names, labels, strict=True))
    header += (
        ("LABEL_UNITS", json.dumps(dict(zip(names, units, strict=True)))),
        ("FLUX", "absolute F_lambda" if args.absolute else "continuum-normalised"),
        ("SYNTH_CONFIG", _config_json(synth.config())),
        ("COMMAND", "jaxspec " + shlex.join(args.argv)),
    )
    spec = Spectrum(
        wave,
        flux,
        object_id="synth " + ", ".join(f"{n}={v:g}" for n, v in zip(names, labels, strict=True)),
        source="jaxspec.synth.Synthesizer",
        format="synth",
        flux_unit=_ABSOLUTE_UNIT if args.absolute else "",
        frame="rest",
        resolution=float(args.R) if args.R else None,
        header=header,
    )
    write_hdf5(spec, out, overwrite=True)
    kind = "absolute flux" if args.absolute else "normalised flux"
    print(f"wrote {out}: {kind}, {spec.n_pix} pixels, {wave[0]:.2f}–{wave[-1]:.2f} Å (vacuum)")
    if args.plot:
        ylabel = (
            r"$F_\lambda$ [erg s$^{-1}$ cm$^{-2}$ Å$^{-1}$]" if args.absolute else "normalised flux"
        )
        title = _label_title(names, units, labels)
        _plot_spectrum(Path(args.plot), wave, np.asarray(flux), windows, title, ylabel)
        print(f"plot saved to {args.plot}")
    return 0


def _config_json(config: Any, limit: int = 16384) -> str:
    """The synthesizer configuration as JSON for a header card (HDF5 attributes are small)."""
    text = json.dumps(config, sort_keys=True, default=str)
    if len(text) <= limit:
        return text
    import hashlib

    digest = hashlib.sha256(text.encode()).hexdigest()
    return json.dumps({"truncated": True, "sha256": digest, "start": text[: limit // 2]})


def _bounds_arg(option: str, values: Sequence[float]) -> tuple[float, float]:
    if len(values) not in (1, 2):
        raise ValueError(f"--{option} takes LO HI, or one value to fix it; got {len(values)}")
    lo, hi = (values[0], values[0]) if len(values) == 1 else values
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise LabelRangeError(f"--{option} must be finite numbers, got {lo} {hi}")
    if lo > hi:
        raise LabelRangeError(f"--{option} {lo:g} {hi:g}: LO is above HI; swap them")
    return float(lo), float(hi)


def _cmd_synth_grid(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise ValueError(f"--n must be at least 1, got {args.n}")
    if args.chunk_size < 1:
        raise ValueError(f"--chunk-size must be at least 1, got {args.chunk_size}")
    given = {
        name: _bounds_arg(name, getattr(args, name))
        for name in ("teff", "logg", "feh", "alpha", "vmic")
    }
    out = Path(args.output)
    synth = _prepare_synthesis(args, given)
    names = tuple(synth.label_names)
    bounds = {n: given[_option(n)] for n in names}

    from .synth.grid import generate_grid, sample_labels

    try:
        labels = sample_labels(
            args.n, bounds, method=args.method, seed=args.seed, accept=synth.in_domain
        )
    except LabelRangeError as exc:
        centre = np.array([(lo + hi) / 2 for lo, hi in bounds.values()])
        try:
            synth.check_labels(centre)
        except LabelRangeError as detail:
            raise LabelRangeError(f"{exc}. At the centre of the bounds: {detail}") from exc
        raise
    attrs = {
        "sampling": {
            "method": args.method,
            "seed": args.seed,
            "n": args.n,
            "bounds": {n: list(b) for n, b in bounds.items()},
            "accept": "synthesizer.in_domain",
        },
        "command": "jaxspec " + shlex.join(args.argv),
    }
    try:
        generate_grid(
            out,
            synth,
            labels,
            chunk_size=args.chunk_size,
            resume=not args.overwrite,
            overwrite=args.overwrite,
            progress=not args.quiet,
            attrs=attrs,
        )
    except KeyboardInterrupt:
        print(
            f"jaxspec synth-grid: interrupted; finished chunks are kept in {out}.parts/, run "
            "the same command again to resume",
            file=sys.stderr,
        )
        return 130
    print(f"grid {out}: {args.n} spectra x {len(synth.wave)} pixels ({', '.join(names)})")
    return 0


def _cmd_train_emulator(args: argparse.Namespace) -> int:
    from .emulators.training import TrainingConfig, train_emulator

    network = {
        key: getattr(args, key)
        for key in ("hidden", "layers", "head")
        if getattr(args, key) is not None
    }
    config = TrainingConfig(
        arch=args.arch,
        network=network,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        max_steps=args.max_steps,
        eval_every=args.eval_every,
        patience=args.patience,
        val_fraction=args.val_fraction,
        seed=args.seed,
    )
    try:
        emulator = train_emulator(
            args.grids,
            args.output,
            config,
            max_spectra=args.max_spectra,
            overwrite=args.overwrite,
            progress=not args.quiet,
        )
    except KeyboardInterrupt:
        ckpt = Path(args.output + ".ckpt.h5")
        kept = (
            f"the checkpoint {ckpt} is kept, run the same command again to resume"
            if ckpt.exists()
            else "no checkpoint was written yet"
        )
        print(f"jaxspec train-emulator: interrupted; {kept}", file=sys.stderr)
        return 130
    except RuntimeError as exc:  # XLA errors, e.g. out of memory for a large grid
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(
            f"training failed in JAX/XLA ({first}); if memory ran out, use fewer spectra "
            "(--max-spectra) or a smaller --batch-size"
        ) from exc
    rec = emulator.provenance["training"]
    size = Path(args.output).stat().st_size / 2**20
    print(f"wrote {args.output} ({size:.1f} MiB): {emulator!r}")
    print(
        f"trained on {rec['n_train']} spectra, validated on {rec['n_validation']}; "
        f"{rec['steps']} steps (best {rec['best_step']}; {rec['stopped']})"
    )
    print(
        "validation |Δ normalised flux|: "
        f"median {rec['val_median_abs']:.2e}, 95th percentile {rec['val_p95_abs']:.2e}, "
        f"max {rec['val_max_abs']:.2e}"
    )
    return 0


def _add_synthesis_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wave-min", type=float, default=4200.0, help="shortest vacuum wavelength [Å] (4200)"
    )
    parser.add_argument(
        "--wave-max", type=float, default=6800.0, help="longest vacuum wavelength [Å] (6800)"
    )
    parser.add_argument(
        "--R",
        type=float,
        default=0.0,
        metavar="R",
        help="resolving power of the output; 0 or omitted: the synthesizer's native sampling",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``jaxspec`` command."""
    parser = argparse.ArgumentParser(
        prog="jaxspec",
        description="jaxspec-stellar: differentiable modelling of stellar spectra in JAX.",
    )
    parser.add_argument("--version", action="version", version=f"jaxspec-stellar {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    demo = sub.add_parser(
        "demo",
        help="run the pipeline on the shipped real APOGEE spectrum",
        description="Read the shipped APOGEE DR17 apStar spectrum, normalise its continuum per "
        "chip, resample it onto a log-linear grid, print a summary and save a plot.",
    )
    demo.add_argument(
        "-o",
        "--output",
        default="jaxspec-demo.png",
        help="PNG file for the plot (default: %(default)s)",
    )
    demo.add_argument("--no-plot", action="store_true", help="skip the plot")
    demo.set_defaults(func=_cmd_demo)

    info = sub.add_parser(
        "info",
        help="summarise spectrum files",
        description="Print format, object, pixels, wavelength range and median S/N of each file.",
    )
    info.add_argument(
        "files", nargs="+", metavar="FILE", help="spectrum files (any readable format)"
    )
    info.add_argument("--format", default=None, help="reader to use instead of auto-detection")
    info.set_defaults(func=_cmd_info)

    convert = sub.add_parser(
        "convert",
        help="convert a spectrum file to HDF5 or FITS",
        description="Read any supported file and write it as jaxspec HDF5 (.h5, .hdf5) or FITS "
        "(.fits, .fits.gz); the output format follows the extension. Writes are atomic.",
    )
    convert.add_argument("input", metavar="FILE")
    convert.add_argument("output", metavar="OUT", help="OUT.h5 | OUT.hdf5 | OUT.fits | OUT.fits.gz")
    convert.add_argument("--format", default=None, help="reader of FILE, instead of auto-detection")
    convert.add_argument(
        "--to",
        choices=("hdf5", "fits"),
        default=None,
        help="output format, when OUT's extension does not say it",
    )
    convert.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    convert.set_defaults(func=_cmd_convert)

    synth = sub.add_parser(
        "synth",
        help="synthesise one spectrum and write it as HDF5",
        description="Synthesise the spectrum of one star and write it with "
        "jaxspec.io.write_hdf5 (readable by 'jaxspec info' and jaxspec.io.read). The file "
        "holds the continuum-normalised flux; --absolute writes the absolute surface flux "
        "F_λ = normalised x continuum [erg s-1 cm-2 Å-1] instead (the spectra schema has one "
        "flux per file). Labels, units and the synthesizer configuration go in the header.",
    )
    synth.add_argument("--teff", type=float, required=True, help="effective temperature [K]")
    synth.add_argument("--logg", type=float, required=True, help="surface gravity log g [dex]")
    synth.add_argument("--feh", type=float, required=True, help="metallicity [Fe/H] [dex]")
    synth.add_argument("--alpha", type=float, default=0.0, help="[α/Fe] [dex] (0)")
    synth.add_argument("--vmic", type=float, default=1.0, help="microturbulence [km/s] (1.0)")
    _add_synthesis_options(synth)
    synth.add_argument("-o", "--output", required=True, help="HDF5 file to write (.h5)")
    synth.add_argument("--absolute", action="store_true", help="write absolute flux F_λ")
    synth.add_argument("--plot", default=None, metavar="PNG", help="also plot the spectrum")
    synth.add_argument(
        "--plot-windows",
        default=None,
        metavar="LO:HI,...",
        help="wavelength windows [Å], one panel each, e.g. 5150:5200,6540:6590 (default: all)",
    )
    synth.add_argument("--overwrite", action="store_true", help="replace the output if it exists")
    synth.set_defaults(func=_cmd_synth)

    grid = sub.add_parser(
        "synth-grid",
        help="synthesise a training grid of spectra (resumable)",
        description="Sample labels in the given bounds inside the synthesizer's domain "
        "(scrambled Sobol or Latin hypercube, deterministic from --seed), synthesise them in "
        "chunks and write a jaxspec grid HDF5 file (see jaxspec.synth.grid). Interrupted? "
        "Run the same command again: finished chunks are kept and only the rest is computed. "
        "Give one value instead of LO HI to fix a label.",
    )
    grid.add_argument("--n", type=int, required=True, help="number of spectra")
    for name, default, what in (
        ("teff", (4000.0, 7000.0), "effective temperature [K]"),
        ("logg", (1.0, 5.0), "surface gravity log g [dex]"),
        ("feh", (-2.5, 0.5), "[Fe/H] [dex]"),
        ("alpha", (-0.2, 0.6), "[α/Fe] [dex]"),
        ("vmic", (1.0,), "microturbulence [km/s]"),
    ):
        grid.add_argument(
            f"--{name}",
            type=float,
            nargs="+",
            default=list(default),
            metavar="X",
            help=f"{what}: LO HI, or one value (default: {' '.join(f'{v:g}' for v in default)})",
        )
    _add_synthesis_options(grid)
    grid.add_argument("--method", choices=("sobol", "lhs"), default="sobol", help="(sobol)")
    grid.add_argument("--seed", type=int, default=0, help="sampling seed (0)")
    grid.add_argument("--chunk-size", type=int, default=64, help="spectra per chunk (64)")
    grid.add_argument("-o", "--output", required=True, help="grid file to write (.h5)")
    grid.add_argument(
        "--overwrite",
        action="store_true",
        help="discard unfinished work and replace an existing grid file",
    )
    grid.add_argument("-q", "--quiet", action="store_true", help="no progress bar or messages")
    grid.set_defaults(func=_cmd_synth_grid)

    train = sub.add_parser(
        "train-emulator",
        help="train a spectrum emulator on synthetic grids (resumable)",
        description="Train a Flax emulator (labels -> normalised flux) on one or more grid "
        "files from 'jaxspec synth-grid' with the same wavelengths, with AdamW, a "
        "validation split and early stopping, and write an HDF5 model file. Interrupted? "
        "Run the same command again: training resumes from OUTPUT.ckpt.h5.",
    )
    train.add_argument("grids", nargs="+", metavar="GRID", help="grid file(s) (.h5)")
    train.add_argument("-o", "--output", required=True, help="model file to write (.h5)")
    train.add_argument(
        "--arch",
        choices=("payne", "smooth"),
        default="smooth",
        help="payne: The Payne's 300-300 leaky-ReLU MLP; smooth: 512-512-512-256 SiLU MLP (smooth)",
    )
    train.add_argument(
        "--hidden", type=int, default=None, help="hidden width (payne 300, smooth 512)"
    )
    train.add_argument("--layers", type=int, default=None, help="smooth: hidden layers (3)")
    train.add_argument("--head", type=int, default=None, help="smooth: last hidden width (256)")
    train.add_argument("--batch-size", type=int, default=128, help="spectra per step (128)")
    train.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (3e-3)")
    train.add_argument("--max-steps", type=int, default=20000, help="optimiser steps (20000)")
    train.add_argument(
        "--eval-every", type=int, default=250, help="steps between validations (250)"
    )
    train.add_argument(
        "--patience", type=int, default=12, help="validations without gain before stopping (12)"
    )
    train.add_argument(
        "--val-fraction", type=float, default=0.1, help="held-out validation fraction (0.1)"
    )
    train.add_argument("--max-spectra", type=int, default=None, help="use only the first N")
    train.add_argument("--seed", type=int, default=0, help="seed of split, init, batches (0)")
    train.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    train.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=_cmd_train_emulator)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``jaxspec`` console script."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    try:
        return int(args.func(args))
    except (JaxspecError, OSError, ValueError) as exc:
        message = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        print(f"jaxspec {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
