"""The data-driven commands of the ``jaxspec`` CLI: train-regressor, train-classifier, classify.

Kept apart from :mod:`jaxspec.cli` (which builds the parser and calls :func:`add_parsers`) so
each file has one job; everything heavy is imported inside the commands.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["add_parsers"]

#: Inverse variance given to noise-free grid spectra when a Cannon is trained on them.
_CANNON_TRAINING_IVAR = 1e4

#: Table formats of ``classify -o`` by file name ending.
_TABLE_SUFFIXES = (".fits", ".fit", ".h5", ".hdf5", ".ecsv", ".csv")


def _augment_config(args: argparse.Namespace) -> Any:
    from .augment import AugmentConfig

    return AugmentConfig(snr_range=(args.snr_min, args.snr_max), rv_max=args.rv_max)


def _train_config(args: argparse.Namespace) -> Any:
    from ._train import TrainConfig

    return TrainConfig(
        batch_size=args.batch_size,
        max_epochs=args.epochs,
        patience=args.patience,
        learning_rate=args.lr,
        seed=args.seed,
    )


def _check_output(path: str, overwrite: bool) -> Path:
    out = Path(path)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"cannot write {out}: directory {out.parent} does not exist")
    return out


def _interrupted(command: str, where: Path) -> int:
    print(
        f"jaxspec {command}: interrupted; checkpoints in {where} are kept, run the same "
        "command again to resume",
        file=sys.stderr,
    )
    return 130


def _cmd_train_regressor(args: argparse.Namespace) -> int:
    out = _check_output(args.output, args.overwrite)
    ckpt_dir = Path(str(out) + ".ckpt")
    if args.method == "cannon":
        return _train_cannon(args, out)
    from .regress import SpectrumCNN

    try:
        model = SpectrumCNN.train(
            args.grids,
            n_members=args.members,
            validation_fraction=args.val_fraction,
            augment_config=_augment_config(args),
            train_config=_train_config(args),
            seed=args.seed,
            checkpoint_dir=ckpt_dir,
            progress=not args.quiet,
        )
    except KeyboardInterrupt:
        return _interrupted("train-regressor", ckpt_dir)
    model.save(out, overwrite=args.overwrite)
    print(f"wrote {out}: {model!r}")
    return 0


def _train_cannon(args: argparse.Namespace, out: Path) -> int:
    from .emulators.training import grid_label_space
    from .regress import Cannon
    from .synth import read_grids

    grids = read_grids(args.grids, purpose="a Cannon")
    wave = grids[0].wave
    space, fixed, free = grid_label_space(grids)
    labels = np.concatenate([g.label_array()[:, free] for g in grids])
    flux = np.concatenate([np.asarray(g.flux, np.float32) for g in grids])
    if args.max_spectra:
        labels, flux = labels[: args.max_spectra], flux[: args.max_spectra]
    # Noise-free model spectra: a nominal S/N of 100 per pixel; the per-pixel intrinsic
    # scatter absorbs what the polynomial cannot follow.
    ivar = np.full(flux.shape, _CANNON_TRAINING_IVAR, np.float32)
    model = Cannon(space, order=args.order, l1=args.l1).fit(
        labels, flux, ivar, wave=wave, progress=not args.quiet
    )
    model.save(out, overwrite=args.overwrite)
    print(f"wrote {out}: {model!r} trained on {len(flux)} spectra (fixed labels {fixed})")
    return 0


def _cmd_train_classifier(args: argparse.Namespace) -> int:
    from .classify import SpectralClassifier

    out = _check_output(args.output, args.overwrite)
    ckpt = Path(str(out) + ".ckpt.h5")
    try:
        model = SpectralClassifier.train(
            args.grids,
            validation_fraction=args.val_fraction,
            augment_config=_augment_config(args),
            train_config=_train_config(args),
            balance_classes=args.balance_classes,
            seed=args.seed,
            checkpoint=ckpt,
            progress=not args.quiet,
        )
    except KeyboardInterrupt:
        return _interrupted("train-classifier", ckpt)
    model.save(out, overwrite=args.overwrite)
    rec = model.record
    print(f"wrote {out}: {model!r}")
    ece = rec.get("ece", {})
    if ece:
        print(f"validation ECE before/after temperature scaling: {ece}")
    return 0


def _write_table(table: Any, path: Path, overwrite: bool) -> None:
    from ._atomic import atomic_path

    suffix = path.suffix.lower()
    fmt = {".fits": "fits", ".fit": "fits", ".h5": "hdf5", ".hdf5": "hdf5"}.get(
        suffix, "ascii.ecsv" if suffix == ".ecsv" else "ascii.csv"
    )
    with atomic_path(path, overwrite=overwrite) as tmp:
        kwargs = {"path": "classification", "serialize_meta": True} if fmt == "hdf5" else {}
        table.write(tmp, format=fmt, overwrite=True, **kwargs)


def _cmd_classify(args: argparse.Namespace) -> int:
    from astropy.table import Table

    from .classify import SpectralClassifier
    from .cli import _read_for_fit

    out = None
    if args.output:
        out = Path(args.output)
        if out.suffix.lower() not in _TABLE_SUFFIXES:
            raise ValueError(
                f"-o {out}: unknown table format {out.suffix!r}; use one of {_TABLE_SUFFIXES}"
            )
        _check_output(args.output, args.overwrite)
    model = SpectralClassifier.load(args.model)

    def warn(message: str) -> None:
        print(f"jaxspec classify: {message}", file=sys.stderr)

    spectra, ids, files, messages = _read_for_fit(args.files, model, warn, what="classifier")
    ok = np.array([not m for m in messages])
    rows: dict[str, list[Any]] = {
        k: []
        for k in ("file", "object", "label", "mk_class", "subclass", "luminosity_class",
                  "p_mk_class", "p_luminosity_class", "masked_fraction", "message")
    }  # fmt: skip
    result = None
    if ok.any():
        flux = np.stack([np.asarray(s.flux) for s, g in zip(spectra, ok, strict=True) if g])
        mask = np.stack([np.asarray(s.mask) for s, g in zip(spectra, ok, strict=True) if g])
        result = model.predict(flux, mask)
    j = 0
    for i, good in enumerate(ok):
        rows["file"].append(files[i])
        rows["object"].append(ids[i])
        rows["message"].append(messages[i])
        if good:
            rows["label"].append(str(result.label[j]))
            rows["mk_class"].append(str(result.mk_class[j]))
            rows["subclass"].append(float(result.subclass[j]))
            rows["luminosity_class"].append(str(result.luminosity_class[j]))
            rows["p_mk_class"].append(float(result.mk_class_prob[j]))
            rows["p_luminosity_class"].append(float(result.lum_class_prob[j]))
            rows["masked_fraction"].append(float(result.masked_fraction[j]))
            j += 1
        else:
            for key, empty in (("label", ""), ("mk_class", ""), ("luminosity_class", "")):
                rows[key].append(empty)
            for key in ("subclass", "p_mk_class", "p_luminosity_class", "masked_fraction"):
                rows[key].append(np.nan)
    table = Table(rows)
    table.meta["model"] = str(args.model)
    if not args.quiet:
        width = max([len(o) for o in ids] + [6])
        print(f"{'object':<{width}}  type    P(class)  P(lum)")
        for r in table:
            if r["message"]:
                print(f"{r['object']:<{width}}  --      not classified: {r['message']}")
            else:
                print(
                    f"{r['object']:<{width}}  {r['label']:<6}  {r['p_mk_class']:8.3f}  "
                    f"{r['p_luminosity_class']:6.3f}"
                )
    if out is not None:
        _write_table(table, out, args.overwrite)
        if not args.quiet:
            print(f"wrote {out} ({len(table)} rows)")
    return 0 if ok.any() else 1


def _add_training_options(p: argparse.ArgumentParser, epochs: int) -> None:
    p.add_argument("grids", nargs="+", metavar="GRID", help="grid file(s) (.h5), same pixels")
    p.add_argument("-o", "--output", required=True, help="model file to write (.h5)")
    p.add_argument("--epochs", type=int, default=epochs, help=f"most epochs ({epochs})")
    p.add_argument("--patience", type=int, default=8, help="epochs without gain to stop (8)")
    p.add_argument("--batch-size", type=int, default=64, help="spectra per step (64)")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (1e-3)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="validation fraction (0.1)")
    p.add_argument("--snr-min", type=float, default=5.0, help="lowest augmented S/N (5)")
    p.add_argument("--snr-max", type=float, default=200.0, help="highest augmented S/N (200)")
    p.add_argument("--rv-max", type=float, default=5.0, help="residual RV augmentation (±5)")
    p.add_argument("--seed", type=int, default=0, help="seed of split, weights, batches (0)")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def add_parsers(sub: Any) -> None:
    """Add train-regressor, train-classifier and classify to the CLI's subparsers."""
    reg = sub.add_parser(
        "train-regressor",
        help="train a label regressor (CNN ensemble or The Cannon) on grids (resumable)",
        description="Train a data-driven label regressor on one or more grid files from "
        "'jaxspec synth-grid' with identical wavelengths and write an HDF5 model file. "
        "cnn: a deep ensemble of StarNet-style CNNs with heteroscedastic uncertainties, "
        "trained on augmented spectra (noise, RV, resolution, continuum, masked chunks); "
        "interrupted? run the same command again, finished members and epochs are kept in "
        "OUTPUT.ckpt/. cannon: a polynomial Cannon on the noise-free grid spectra.",
    )
    _add_training_options(reg, epochs=40)
    reg.add_argument("--method", choices=("cnn", "cannon"), default="cnn", help="(cnn)")
    reg.add_argument("--members", type=int, default=3, help="cnn: ensemble members (3)")
    reg.add_argument("--order", type=int, default=2, help="cannon: polynomial order (2)")
    reg.add_argument("--l1", type=float, default=0.0, help="cannon: L1 regularisation (0)")
    reg.add_argument("--max-spectra", type=int, default=None, help="cannon: first N only")
    reg.set_defaults(func=_cmd_train_regressor)

    clf = sub.add_parser(
        "train-classifier",
        help="train the MK-type / luminosity-class classifier on grids (resumable)",
        description="Train a spectral classifier (MK class, subclass, luminosity class from "
        "labels.spectral_type of the grids' Teff and log g) on augmented spectra, calibrate "
        "its probabilities by temperature scaling on the validation split, and write an "
        "HDF5 model file. Interrupted? Run the same command again: training resumes from "
        "OUTPUT.ckpt.h5.",
    )
    _add_training_options(clf, epochs=40)
    clf.add_argument(
        "--balance-classes",
        action="store_true",
        help="inverse-frequency class weights (a flat class prior instead of the grid's)",
    )
    clf.set_defaults(func=_cmd_train_classifier)

    cls = sub.add_parser(
        "classify",
        help="MK type, subclass and luminosity class of spectra in any readable files",
        description="Read each file (any format 'jaxspec info' knows), bring every spectrum "
        "to the classifier's resolving power if sharper, resample it onto the model's "
        "pixels, divide a sigma-clipped Chebyshev continuum, and print the type (e.g. G2V) "
        "with the probability of its MK class and luminosity class. Spectra must be near "
        "rest frame. Unreadable files and spectra without overlap get a row with a message.",
    )
    cls.add_argument("files", nargs="+", metavar="FILE", help="spectrum files")
    cls.add_argument("-m", "--model", required=True, help="classifier model file (.h5)")
    cls.add_argument("-o", "--output", default=None, help="also write a table (.ecsv/.fits/.h5)")
    cls.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    cls.add_argument("-q", "--quiet", action="store_true", help="print nothing")
    cls.set_defaults(func=_cmd_classify)
