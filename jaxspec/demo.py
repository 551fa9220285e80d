"""``jaxspec demo``: the pipeline that exists today, run on a real APOGEE spectrum.

Steps: read the shipped APOGEE DR17 apStar file, fit and divide the continuum (cubic
Chebyshev per detector chip, sigma-clipped), resample onto a log-linear grid with two
pixels per resolution element at R = 22 500, print a summary and plot raw and normalised
flux (needs matplotlib: ``pip install 'jaxspec-stellar[plot]'``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import io
from .data import apogee_example_path
from .preprocess import APOGEE_CHIPS, continuum_normalize, log_linear_grid, resample

__all__ = ["run_demo"]

DEMO_RESOLUTION = 22500.0
DEMO_SAMPLING = 2.0


def run_demo(output: Path = Path("jaxspec-demo.png"), show_plot: bool = True) -> int:
    """Run the demo; return the exit status (0)."""
    raw = io.read(apogee_example_path())
    normalised = continuum_normalize(raw, segments=APOGEE_CHIPS, order=3)
    grid = log_linear_grid(
        APOGEE_CHIPS[0][0], APOGEE_CHIPS[-1][1], resolution=DEMO_RESOLUTION, sampling=DEMO_SAMPLING
    )
    common = resample(normalised, grid)

    def summary(spec, label):
        wave = np.asarray(spec.wave)
        good = ~np.asarray(spec.mask)
        return (
            f"  {label:<27s}{spec.n_pix:5d} pixels ({int(good.sum())} good), "
            f"{wave.min():.2f}–{wave.max():.2f} Å, median S/N {float(spec.median_snr()):.1f}"
        )

    header = raw.meta.header_dict
    print(f"jaxspec demo: {apogee_example_path().name}")
    print(
        f"  object                     {raw.meta.object_id} (APOGEE DR17 apStar, {raw.meta.format})"
    )
    print(f"  header S/N                 {header.get('SNR', float('nan')):.1f}")
    print(summary(raw, "raw"))
    print(summary(normalised, "continuum-normalised"))
    print(summary(common, f"resampled ({DEMO_SAMPLING:g} px/R={DEMO_RESOLUTION:.0f})"))
    flux = np.asarray(common.flux)[~np.asarray(common.mask)]
    print(
        f"  normalised flux: median {np.median(flux):.3f}, 1st–99th percentile "
        f"{np.percentile(flux, 1):.3f}–{np.percentile(flux, 99):.3f}"
    )

    if not show_plot:
        return 0
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(
            "  plot skipped: matplotlib is not installed; get it with "
            "pip install 'jaxspec-stellar[plot]' (in a source checkout: pip install -e '.[plot]')"
        )
        return 0
    fig, axes = plt.subplots(2, 1, figsize=(11, 6), sharex=True, constrained_layout=True)
    w_raw, f_raw, m_raw = (np.asarray(a) for a in (raw.wave, raw.flux, raw.mask))
    axes[0].plot(w_raw, np.where(m_raw, np.nan, f_raw), lw=0.5, color="k")
    axes[0].set_ylabel(f"flux [{raw.meta.flux_unit}]")
    axes[0].set_title(f"APOGEE DR17 apStar {raw.meta.object_id}: raw (masked pixels removed)")
    w_new, f_new, m_new = (np.asarray(a) for a in (common.wave, common.flux, common.mask))
    axes[1].plot(w_new, np.where(m_new, np.nan, f_new), lw=0.5, color="C0")
    axes[1].axhline(1.0, color="0.5", lw=0.8, ls="--")
    axes[1].set_ylim(0.4, 1.2)
    axes[1].set_ylabel("normalised flux")
    axes[1].set_xlabel("vacuum wavelength [Å]")
    axes[1].set_title("continuum-normalised per chip, resampled to a log-linear grid")
    for ax in axes:
        for lo, hi in APOGEE_CHIPS:
            ax.axvspan(lo, hi, color="0.95", zorder=0)
    output = Path(output)
    tmp = output.with_name(f".{output.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(output)
    print(f"  plot saved to {output}")
    return 0
