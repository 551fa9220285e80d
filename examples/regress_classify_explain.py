"""A tour of the data-driven side: The Cannon, the CNN ensemble, the classifier, saliency.

Training spectra come from the shipped FGK emulator cropped to 5150–5350 Å (the Mg b
region), so the tour runs in a few minutes on a laptop CPU; for real work train on
synthesizer grids (``jaxspec train-regressor GRID... -o cnn.h5``). Test spectra get noise at
S/N 50. Prints the label errors of both regressors, the classifier's accuracy, and how
strongly the CNN's [Fe/H] saliency falls on Fe lines; saves a saliency plot.

Usage::

    python examples/regress_classify_explain.py [--plot saliency.png] [--n-train 2000]
"""

from __future__ import annotations

import argparse

import numpy as np

from jaxspec.classify import SpectralClassifier
from jaxspec.emulators import load_default
from jaxspec.explain import line_enrichment, line_positions, plot_saliency, saliency
from jaxspec.regress import Cannon, SpectrumCNN, TrainConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--n-test", type=int, default=300)
    parser.add_argument("--plot", default="regress_saliency.png")
    args = parser.parse_args()

    emulator = load_default().crop(5150.0, 5350.0)
    space, wave = emulator.label_space, emulator.wave
    rng = np.random.default_rng(1)
    lo, hi = np.asarray(space.lower), np.asarray(space.upper)
    labels = lo + (hi - lo) * rng.random((args.n_train + args.n_test, space.n_labels))
    flux = np.asarray(emulator.predict(labels), dtype=np.float32)
    train, test = slice(0, args.n_train), slice(args.n_train, None)
    noisy = flux[test] + rng.standard_normal(flux[test].shape).astype(np.float32) / 50.0

    # The Cannon: a quadratic model of every pixel, trained on the noise-free spectra.
    cannon = Cannon(space, order=2).fit(
        labels[train], flux[train], np.full_like(flux[train], 1e4), wave=wave
    )
    by_cannon = cannon.predict(noisy, np.full_like(noisy, 2500.0))

    # A deep ensemble of StarNet-style CNNs, trained on augmented spectra (S/N 5-200, RV,
    # resolution, continuum, masked chunks).
    cnn = SpectrumCNN.fit_arrays(
        flux[train], labels[train], wave, space, emulator.resolution,
        n_members=2, train_config=TrainConfig(max_epochs=15), progress=False,
    )  # fmt: skip
    by_cnn = cnn.predict(noisy)

    print(f"S/N 50, {args.n_test} test spectra: robust scatter (median reported σ)")
    for j, name in enumerate(space.names):
        cells = []
        for result in (by_cannon, by_cnn):
            err = np.asarray(result.labels)[:, j] - labels[test, j]
            scatter = 1.4826 * np.median(np.abs(err - np.median(err)))
            cells.append(f"{scatter:8.3g} ({np.median(np.asarray(result.errors)[:, j]):.3g})")
        print(f"  {name:6s} Cannon {cells[0]}   CNN {cells[1]}")

    # The classifier: MK class and luminosity class from Teff and log g of the labels.
    teff, logg = labels[:, 0], labels[:, 1]
    clf = SpectralClassifier.fit_arrays(
        flux[train], teff[train], logg[train], wave, emulator.resolution,
        train_config=TrainConfig(max_epochs=10), progress=False,
    )  # fmt: skip
    classes = clf.predict(noisy)
    from jaxspec.labels import spectral_type

    truth = spectral_type(teff[test], logg[test])
    accuracy = np.mean(np.asarray(classes.mk_class) == truth.mk_class)
    present = sorted({str(c) for c in truth.mk_class})
    print(f"MK class accuracy at S/N 50: {accuracy:.3f} (classes present: {present})")

    # Saliency: which pixels move the CNN's [Fe/H]?
    sal = saliency(
        cnn.flux_function(), noisy[:16], method="integrated_gradients", steps=32,
        wave=wave, output_names=list(cnn.label_names),
    )  # fmt: skip
    fe = line_positions(wave[0], wave[-1], species="Fe")
    e = line_enrichment(sal, wave, "feh", fe.wave, resolution=emulator.resolution)
    print(
        f"top 1 % [Fe/H]-saliency pixels on Fe lines: {e.top_on_lines:.2f} "
        f"(chance {e.chance:.2f}, enrichment {e.factor:.1f})"
    )
    plot_saliency(sal, wave, lines={"Fe": fe.wave}, flux=noisy[0], path=args.plot)
    print(f"saved {args.plot}")


if __name__ == "__main__":
    main()
