"""The ``jaxspec`` command line: ``demo``, ``info`` and ``convert``.

Every subcommand has ``--help``. Errors in the input (unreadable or unknown files, bad
arguments) end with a one-line message on stderr and exit status 2; no traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import __version__
from .errors import JaxspecError

__all__ = ["main", "build_parser"]


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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``jaxspec`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (JaxspecError, OSError, ValueError) as exc:
        print(f"jaxspec {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
