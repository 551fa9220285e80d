"""Compare an emulator with the physics synthesizer for stars it was not trained on.

Draws ``--n`` random stars inside the emulator's training box (never in a training grid:
they come from a different random stream), synthesises them with
:class:`jaxspec.synth.Synthesizer` over the emulator's wavelengths and resolving power, and
prints |Δ normalised flux| for each. The first star is plotted in three windows with the
residuals below (the README figure).

Usage::

    python examples/emulator_vs_synthesizer.py                        # the default emulator
    python examples/emulator_vs_synthesizer.py --emulator model.h5 --plot cmp.png --n 5
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

WINDOWS = ((4840.0, 4880.0), (5160.0, 5190.0), (6540.0, 6590.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--emulator", default=None, help="model file (default: shipped)")
    parser.add_argument("--n", type=int, default=3, help="stars to compare (3)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--plot", default="docs/emulator_vs_synthesizer.png")
    args = parser.parse_args()

    from jaxspec.emulators import load_default, load_emulator

    emu = load_emulator(args.emulator) if args.emulator else load_default()
    jax.config.update("jax_enable_x64", True)

    space = emu.label_space
    rng = np.random.default_rng(args.seed)
    lo, hi = np.array(space.lower), np.array(space.upper)
    stars = lo + rng.random((args.n, space.n_labels)) * (hi - lo)
    synth = emu.synthesizer()  # the training grid's synthesizer: the same pixels
    rows = []
    for star in stars:
        truth = np.asarray(synth.flux(emu.synthesis_labels(star))[0])
        pred = np.asarray(emu.predict(star), dtype=np.float64)
        rows.append((star, truth, pred))
        err = np.abs(pred - truth)
        label = ", ".join(f"{n}={v:.4g}" for n, v in zip(space.names, star, strict=True))
        print(
            f"{label}: |Δ| median {np.median(err):.2e}, 95th percentile "
            f"{np.percentile(err, 95):.2e}, max {err.max():.2e} at {emu.wave[err.argmax()]:.2f} Å"
        )

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    star, truth, pred = rows[0]
    fig, axes = plt.subplots(
        2,
        len(WINDOWS),
        figsize=(5 * len(WINDOWS), 5),
        sharex="col",
        gridspec_kw={"height_ratios": [3, 1]},
    )
    for j, (a, b) in enumerate(WINDOWS):
        m = (emu.wave >= a) & (emu.wave <= b)
        axes[0, j].plot(emu.wave[m], truth[m], "k-", lw=1.2, label="synthesizer")
        axes[0, j].plot(emu.wave[m], pred[m], "C1--", lw=1.0, label=f"emulator ({emu.arch})")
        axes[1, j].plot(emu.wave[m], (pred - truth)[m], "C3-", lw=0.8)
        axes[1, j].axhline(0, color="grey", lw=0.5)
        axes[1, j].set_xlabel("vacuum wavelength [Å]")
    axes[0, 0].set_ylabel("normalised flux")
    axes[1, 0].set_ylabel("emulator − synth")
    axes[0, 0].legend(loc="lower left", fontsize=8)
    title = ", ".join(f"{n} = {v:.4g}" for n, v in zip(space.names, star, strict=True))
    fig.suptitle(f"Held-out star: {title}; R = {emu.resolution:g}")
    fig.tight_layout()
    fig.savefig(args.plot, dpi=110)
    print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
