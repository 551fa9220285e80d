"""The ``jaxspec`` command line: ``demo``, ``info``, ``convert``, ``fit``, ``synth``,
``synth-grid``, ``train-emulator``.

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
    if args.apogee:
        from .demo import run_apogee_demo

        output = Path(args.output or "jaxspec-demo.png")
        return run_apogee_demo(output=output, show_plot=not args.no_plot)
    options: dict[str, Any] = {}
    if args.num_warmup is not None:
        if args.num_warmup < 0:
            raise ValueError(f"--num-warmup must be >= 0, got {args.num_warmup}")
        options["num_warmup"] = args.num_warmup
    if args.num_samples is not None:
        if args.num_samples < 1:
            raise ValueError(f"--num-samples must be >= 1, got {args.num_samples}")
        options["num_samples"] = args.num_samples
    if args.window is not None:
        lo, hi = args.window
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"--window {lo:g} {hi:g}: give LO below HI (vacuum Å)")
        options["window"] = (lo, hi)
    import jax

    jax.config.update("jax_enable_x64", True)
    from .demo import run_showcase

    return run_showcase(output=args.output or "jaxspec-demo", show_plot=not args.no_plot, **options)


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


#: Catalog formats of ``fit`` by file name ending (those of jaxspec.infer.write_catalog).
_CATALOG_SUFFIXES = (".fits", ".fit", ".h5", ".hdf5", ".ecsv")

#: Order of the Chebyshev continuum ``fit`` divides each spectrum by before fitting.
_PRENORMALISE_ORDER = 3


def _one_line(text: object) -> str:
    return "; ".join(line.strip() for line in str(text).splitlines() if line.strip())


def _check_fit_args(args: argparse.Namespace) -> Path:
    """Usage errors of ``fit``, found before anything slow is done; returns the output path."""
    out = Path(args.output)
    if out.suffix.lower() not in _CATALOG_SUFFIXES:
        raise ValueError(
            f"-o {out}: cannot tell the catalog format; end the name with "
            f"{', '.join(_CATALOG_SUFFIXES)}"
        )
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise FileNotFoundError(f"cannot write {out}: directory {parent} does not exist")
    if not (math.isfinite(args.rv_min) and math.isfinite(args.rv_max)):
        raise ValueError("--rv-min and --rv-max must be finite numbers [km/s]")
    if not args.rv_min < args.rv_max:
        raise ValueError(f"--rv-min {args.rv_min:g} must be below --rv-max {args.rv_max:g}")
    if args.continuum_order < 0:
        raise ValueError(f"--continuum-order must be >= 0, got {args.continuum_order}")
    if args.num_warmup < 0 or args.num_samples < 1 or args.num_chains < 1:
        raise ValueError(
            "--num-warmup must be >= 0, --num-samples and --num-chains >= 1; got "
            f"{args.num_warmup}, {args.num_samples}, {args.num_chains}"
        )
    if args.resolution is not None and not (math.isfinite(args.resolution) and args.resolution > 0):
        raise ValueError(f"--resolution must be a resolving power > 0, got {args.resolution}")
    if args.plot_dir is not None:
        missing = []
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            missing.append("matplotlib")
        if args.method != "map":
            try:
                import corner  # noqa: F401
            except ImportError:
                missing.append("corner")
        if missing:
            raise JaxspecError(
                f"--plot-dir needs {' and '.join(missing)}, not installed; get it with "
                "pip install 'jaxspec-stellar[plot]'"
            )
        plot_dir = Path(args.plot_dir)
        if plot_dir.exists() and not plot_dir.is_dir():
            raise NotADirectoryError(f"--plot-dir {plot_dir} exists and is not a directory")
    return out


def _onto_emulator_grid(star: Any, emulator: Any, what: str = "emulator") -> tuple[Any, str]:
    """One observed spectrum → (continuum-normalised spectrum on the model's grid, "") or
    (None, why it cannot be used). ``emulator`` is any model with ``wave`` and ``resolution``
    (an emulator, a classifier), named ``what`` in messages."""
    from .preprocess import continuum_normalize, convolve_resolution, resample
    from .spectrum import Spectrum

    grid = np.asarray(emulator.wave, dtype=np.float64)
    wave = np.asarray(star.wave, dtype=np.float64)
    good = ~np.asarray(star.mask)
    # Float64 throughout, whatever the file stored (the grids must match exactly to stack).
    flux, ivar = (np.asarray(a, dtype=np.float64) for a in (star.flux, star.ivar))
    star = Spectrum(wave, flux, ivar, ~good, star.meta)
    if not good.any():
        return None, "no usable pixels in the file (all masked, NaN or zero ivar)"
    lo, hi = float(wave[good].min()), float(wave[good].max())
    if hi <= grid[0] or lo >= grid[-1]:
        return None, (
            f"no wavelength overlap with the {what}: the spectrum covers {lo:.1f}–{hi:.1f} Å, "
            f"the {what} {grid[0]:.1f}–{grid[-1]:.1f} Å (vacuum)"
        )
    r_obs, r_emu = star.meta.resolution, emulator.resolution
    if r_obs and r_emu and r_obs > r_emu * (1 + 1e-6):
        # Sharper than the model: bring it to the model's resolving power first.
        star = convolve_resolution(star, r_emu)
    on_grid = resample(star, grid, max_bad_fraction=0.5)
    covered = ~np.asarray(on_grid.mask)
    if covered.sum() < 2 * (_PRENORMALISE_ORDER + 1):
        return None, (
            f"only {int(covered.sum())} good pixels on the {what}'s grid "
            f"({grid[0]:.1f}–{grid[-1]:.1f} Å) after resampling"
        )
    segment = (float(grid[covered][0]), float(grid[covered][-1]))
    normalised = continuum_normalize(on_grid, segments=[segment], order=_PRENORMALISE_ORDER)
    arrays = (np.asarray(a) for a in (normalised.flux, normalised.ivar, normalised.mask))
    return Spectrum(grid, *arrays, normalised.meta), ""


def _read_for_fit(
    paths: Sequence[str], emulator: Any, warn: Any, what: str = "emulator"
) -> tuple[list[Any], list[str], list[str], list[str]]:
    """Read, resample and normalise every star of every file, in order.

    Returns ``(spectra, object ids, file names, messages)``, one entry per star; stars that
    cannot be fitted get an all-masked placeholder spectrum and a message.
    """
    from . import io
    from .spectrum import Spectrum

    grid = np.asarray(emulator.wave, dtype=np.float64)
    placeholder = Spectrum(grid, np.ones_like(grid), np.zeros_like(grid), np.ones(grid.size, bool))
    spectra, ids, files, messages = [], [], [], []

    def add(spec: Any, oid: str, where: str, message: str) -> None:
        if message:
            verb = "fitted" if what == "emulator" else "used"
            warn(f"{where}: not {verb} ({message}); it gets a flagged row")
        spectra.append(placeholder if spec is None else spec.with_meta(object_id=oid))
        ids.append(oid)
        files.append(where)
        messages.append(message)

    for path in paths:
        stem = Path(path).name
        try:
            spec = io.read(path)
        except Exception as exc:  # any unreadable file becomes a flagged row, never a crash
            add(None, stem, path, f"could not read the file: {_one_line(exc)}")
            continue
        shape = spec.batch_shape
        n = int(np.prod(shape)) if shape else 1
        for i, index in enumerate(np.ndindex(*shape)):
            star = spec[index] if shape else spec
            oid = star.meta.object_id
            oid = str(oid) if oid else (stem if n == 1 else f"{stem}[{i}]")
            where = path if n == 1 else f"{path}[{i}]"
            try:
                prepared, message = _onto_emulator_grid(star, emulator, what)
            except Exception as exc:  # a broken star must not stop the batch
                prepared, message = None, f"preprocessing failed: {_one_line(exc)}"
            add(prepared, oid, where, message)
    return spectra, ids, files, messages


def _summary_lines(table: Any, names: Sequence[str], units: Sequence[str]) -> list[str]:
    """The short summary of ``fit``: object, labels ± σ, flags."""
    from .infer.plots import format_estimate

    header = ["object", *(f"{n} [{u}]" if u else n for n, u in zip(names, units, strict=True))]
    flag_cols = [c for c in table.colnames if c.startswith("flag_")]
    rows, flags = [], []
    for row in table:
        if row["flag_unfit"]:
            rows.append([str(row["object_id"]), *("—" for _ in names)])
            flags.append(f"not fitted: {row['message']}")
            continue
        values = [format_estimate(float(row[n]), float(row[f"{n}_err"])) for n in names]
        rows.append([str(row["object_id"]), *values])
        flags.append(", ".join(c.removeprefix("flag_") for c in flag_cols if row[c]) or "-")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str], last: str) -> str:
        padded = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join([*padded, last])

    return [line(header, "flags"), *(line(r, f) for r, f in zip(rows, flags, strict=True))]


_ASCII = str.maketrans({"–": "-", "—": "-", "Å": "A", "×": "x", "σ": "sigma", "≥": ">=", "≤": "<="})


def _ascii_strings(table: Any) -> None:
    """Make the text columns of a catalog ASCII (in place), as FITS needs."""
    for name in table.colnames:
        if table[name].dtype.kind == "U":
            text = [str(v).translate(_ASCII) for v in table[name]]
            table[name] = [t.encode("ascii", "backslashreplace").decode() for t in text]


def _safe_name(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9+._-]+", "_", text).strip("_")[:60] or "star"


def _cmd_fit(args: argparse.Namespace) -> int:
    out = _check_fit_args(args)

    def warn(message: str) -> None:
        print(f"jaxspec fit: {_one_line(message)}", file=sys.stderr)

    import jax

    jax.config.update("jax_enable_x64", True)
    from .emulators import load_default, load_emulator
    from .infer import ForwardModel, fit_map, sample, write_catalog
    from .spectrum import stack

    emulator = load_default() if args.emulator is None else load_emulator(args.emulator)
    options: dict[str, Any] = {
        "continuum_order": args.continuum_order,
        "rv_bounds": (args.rv_min, args.rv_max),
    }
    if args.resolution is not None:
        options["resolution"] = args.resolution
    model = ForwardModel(emulator, **options)

    spectra, ids, files, messages = _read_for_fit(args.files, emulator, warn)
    batch = stack(spectra).with_meta(object_id=tuple(ids))
    progress = not args.quiet and sys.stderr.isatty()
    result = fit_map(batch, model, progress=progress)
    map_result = result
    for i, message in enumerate(map_result.messages):
        if message and not messages[i]:
            messages[i] = message
            warn(f"{files[i]}: not fitted ({message}); it gets a flagged row")
    if args.method != "map":
        result = sample(
            batch,
            model,
            args.method,
            init=map_result,
            num_warmup=args.num_warmup,
            num_samples=args.num_samples,
            num_chains=args.num_chains,
            seed=args.seed,
            progress=progress,
        )
    table = result.table()
    table["message"] = np.asarray(messages, dtype=str)
    table.add_column(np.asarray(files, dtype=str), index=1, name="file")
    table.meta["COMMAND"] = "jaxspec " + shlex.join(args.argv)
    if out.suffix.lower() in (".fits", ".fit"):
        _ascii_strings(table)  # FITS strings are ASCII
    write_catalog(table, out, overwrite=True)

    names = [*model.label_names, "rv"]
    units = [*emulator.label_space.units, "km/s"]
    fitted = int(np.sum(~np.asarray(table["flag_unfit"])))
    if not args.quiet:
        print("\n".join(_summary_lines(table, names, units)))
    print(
        f"wrote {out}: {len(table)} stars, {fitted} fitted ({args.method}), "
        f"{int(np.sum(np.asarray(table['flag']) != 0))} flagged"
    )
    if args.plot_dir is not None:
        _fit_plots(Path(args.plot_dir), result, batch, args.method, warn)
    return 0


def _fit_plots(plot_dir: Path, result: Any, batch: Any, method: str, warn: Any) -> None:
    from .infer.plots import plot_corner, plot_fit

    plot_dir.mkdir(parents=True, exist_ok=True)
    m = result if method == "map" else result.map
    n_plots = 0
    for i, oid in enumerate(m.object_ids):
        if m.messages[i]:
            continue
        stem = plot_dir / f"{i:04d}_{_safe_name(oid)}"
        try:
            plot_fit(result, batch, index=i, path=stem.with_name(stem.name + "_fit.png"))
            n_plots += 1
            if method != "map":
                plot_corner(result, index=i, path=stem.with_name(stem.name + "_corner.png"))
                n_plots += 1
        except Exception as exc:  # a figure must not cost the catalog already written
            warn(f"could not plot star {i} ({oid}): {_one_line(exc)}")
    print(f"{n_plots} plots in {plot_dir}")


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
        help="simulate three stars and fit them (MAP and NUTS), with plots",
        description="Simulate three stars (a cool giant, a solar-like dwarf and a metal-poor "
        "warm star) at S/N 30 with the default emulator, fit them with MAP + Laplace and with "
        "NUTS (vmapped over stars, 2 chains), print truth vs estimates, and save a fit plot "
        "and a corner plot (1-3 minutes on two CPU cores). --apogee runs the preprocessing "
        "walk-through on the shipped APOGEE spectrum instead.",
    )
    demo.add_argument(
        "-o",
        "--output",
        default=None,
        help="prefix or directory of the plots: PREFIX-fit.png, PREFIX-corner.png (default: "
        "jaxspec-demo); with --apogee, the PNG file (default: jaxspec-demo.png)",
    )
    demo.add_argument("--no-plot", action="store_true", help="skip the plots")
    demo.add_argument(
        "--apogee",
        action="store_true",
        help="read, normalise and resample the shipped APOGEE DR17 apStar spectrum instead",
    )
    # Hidden: shrink the showcase (tests, quick looks).
    demo.add_argument("--num-warmup", type=int, default=None, help=argparse.SUPPRESS)
    demo.add_argument("--num-samples", type=int, default=None, help=argparse.SUPPRESS)
    demo.add_argument("--window", type=float, nargs=2, default=None, help=argparse.SUPPRESS)
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

    fit = sub.add_parser(
        "fit",
        help="fit labels and RV of observed spectra with an emulator; write a catalog",
        description="Read spectrum files (any readable format; files with several spectra "
        "give several stars), resample them onto the emulator's wavelength grid, divide by a "
        "fitted continuum, and fit labels, RV and a Chebyshev continuum per star with MAP + "
        "Laplace (--method map) or sample the posterior (nuts, svi). Writes a catalog with "
        "one row per star in input order (.fits, .h5/.hdf5 or .ecsv, atomically); a file or "
        "star that cannot be fitted gets a row with flag_unfit and a message, and a warning "
        "on stderr, without stopping the others.",
    )
    fit.add_argument("files", nargs="+", metavar="FILE", help="spectrum files")
    fit.add_argument(
        "-o", "--output", required=True, help="catalog to write (.fits, .h5, .hdf5, .ecsv)"
    )
    fit.add_argument(
        "--method",
        choices=("map", "nuts", "svi"),
        default="map",
        help="map: MAP + Laplace errors (fast); nuts, svi: posterior samples, started at the "
        "MAP (map)",
    )
    fit.add_argument(
        "--emulator", default=None, metavar="MODEL.h5", help="emulator file (default: shipped)"
    )
    fit.add_argument(
        "--continuum-order",
        type=int,
        default=2,
        metavar="N",
        help="Chebyshev order of the fitted continuum correction (2)",
    )
    fit.add_argument("--rv-min", type=float, default=-600.0, help="lowest RV [km/s] (-600)")
    fit.add_argument("--rv-max", type=float, default=600.0, help="highest RV [km/s] (600)")
    fit.add_argument(
        "--resolution",
        type=float,
        default=None,
        metavar="R",
        help="resolving power of the spectra when below the emulator's (the model is "
        "broadened to it); spectra sharper than the emulator are broadened to it when "
        "their files state R",
    )
    fit.add_argument("--num-warmup", type=int, default=500, help="NUTS warm-up steps (500)")
    fit.add_argument("--num-samples", type=int, default=500, help="posterior draws per chain (500)")
    fit.add_argument("--num-chains", type=int, default=2, help="NUTS chains per star (2)")
    fit.add_argument("--seed", type=int, default=0, help="sampling seed (0)")
    fit.add_argument("--overwrite", action="store_true", help="replace the catalog if it exists")
    fit.add_argument(
        "--plot-dir",
        default=None,
        metavar="DIR",
        help="save a fit plot (and a corner plot for nuts/svi) of every fitted star there",
    )
    fit.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summary")
    fit.set_defaults(func=_cmd_fit)

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

    from ._cli_learn import add_parsers

    add_parsers(sub)
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
