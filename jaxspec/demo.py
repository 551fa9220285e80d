"""``jaxspec demo``: simulate three stars, fit them with MAP and NUTS, show the results.

:func:`run_showcase` (``jaxspec demo``): three stars (a cool giant, a solar-like dwarf and a
metal-poor warm star) are simulated at S/N 30 with the default emulator (a tilted continuum
and a radial velocity each), fitted with :func:`~jaxspec.infer.fit_map` (MAP + Laplace) and
sampled with :func:`~jaxspec.infer.sample` (NUTS vmapped over stars, two chains each); the
truth, both estimates and the wall time are printed, and a fit plot and a corner plot are
saved (needs ``pip install 'jaxspec-stellar[plot]'``).

:func:`run_apogee_demo` (``jaxspec demo --apogee``): the preprocessing pipeline on a real
APOGEE spectrum. Read the shipped APOGEE DR17 apStar file, fit and divide the continuum
(cubic Chebyshev per detector chip, sigma-clipped), resample onto a log-linear grid with two
pixels per resolution element at R = 22 500, print a summary and plot raw and normalised
flux.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from . import io
from .data import apogee_example_path
from .preprocess import APOGEE_CHIPS, continuum_normalize, log_linear_grid, resample

__all__ = ["run_showcase", "run_apogee_demo", "SHOWCASE_STARS"]

DEMO_RESOLUTION = 22500.0
DEMO_SAMPLING = 2.0

#: The showcase's stars: (name, (teff [K], logg, [Fe/H], [α/Fe] [dex]), RV [km/s],
#: continuum Chebyshev coefficients), all inside the default emulator's label box.
SHOWCASE_STARS = (
    ("cool giant", (4600.0, 2.4, -0.3, 0.15), -42.0, (1.0, 0.06, -0.03)),
    ("solar-like dwarf", (5780.0, 4.4, 0.0, 0.0), 8.5, (1.0, -0.04, 0.02)),
    ("metal-poor warm star", (6300.0, 4.1, -1.6, 0.35), 118.0, (1.0, 0.02, 0.01)),
)
SHOWCASE_SNR = 30.0
SHOWCASE_SEED = 20261126
SHOWCASE_CHAINS = 2
#: Wavelength range [Å] of the fit plot: the Mg b triplet and Fe lines around it.
ZOOM = (5150.0, 5250.0)
_PLOT_HINT = "pip install 'jaxspec-stellar[plot]' (in a source checkout: pip install -e '.[plot]')"


def _plot_paths(output: str | os.PathLike) -> tuple[Path, Path]:
    """``(fit plot, corner plot)`` from an output prefix or directory."""
    text = os.fspath(output)
    out = Path(text)
    if out.is_dir() or text.endswith(("/", os.sep)):
        return out / "jaxspec-demo-fit.png", out / "jaxspec-demo-corner.png"
    if out.suffix.lower() == ".png":
        out = out.with_suffix("")
    return out.with_name(f"{out.name}-fit.png"), out.with_name(f"{out.name}-corner.png")


def _plot_modules_missing() -> str | None:
    for name in ("matplotlib", "corner"):
        try:
            __import__(name)
        except ImportError:
            return name
    return None


def _aligned(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows of cells as text columns: the first left-aligned, the others right-aligned."""
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    return [
        "  ".join(
            c.ljust(w) if j == 0 else c.rjust(w)
            for j, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]


def run_showcase(
    output: str | os.PathLike = "jaxspec-demo",
    show_plot: bool = True,
    *,
    num_warmup: int = 150,
    num_samples: int = 150,
    window: tuple[float, float] | None = None,
) -> int:
    """Simulate, fit and sample the three :data:`SHOWCASE_STARS`; print and plot; return 0.

    Args:
        output: prefix of the plots (``PREFIX-fit.png``, ``PREFIX-corner.png``) or an
            existing directory (``DIR/jaxspec-demo-fit.png``, ...).
        show_plot: save the plots (skipped with a hint if matplotlib or corner is missing).
        num_warmup, num_samples: NUTS warm-up steps and draws per chain.
        window: ``(min, max)`` [Å]: use only this part of the emulator (a quicker run).

    Raises:
        FileNotFoundError: the plots' directory does not exist (checked before fitting).
    """
    import jax

    from .emulators import load_default
    from .infer import ForwardModel, Params, fit_map, sample
    from .infer.plots import format_estimate, plot_corner, plot_fit

    fit_path, corner_path = _plot_paths(output)
    if show_plot:
        missing = _plot_modules_missing()
        if missing:
            print(f"  plots skipped: {missing} is not installed; get it with {_PLOT_HINT}")
            show_plot = False
        elif not fit_path.parent.is_dir():
            raise FileNotFoundError(
                f"cannot save the plots as {fit_path}: directory {fit_path.parent} does not exist"
            )

    start = time.perf_counter()
    emulator = load_default()
    if window is not None:
        emulator = emulator.crop(*window)
    model = ForwardModel(emulator)
    names = [name for name, *_ in SHOWCASE_STARS]
    truth = np.array([[*labels, rv] for _, labels, rv, _ in SHOWCASE_STARS])
    k = model.n_labels
    print(
        f"jaxspec demo: {len(names)} simulated stars at S/N {SHOWCASE_SNR:g}, emulator "
        f"{emulator.wave[0]:.0f}–{emulator.wave[-1]:.0f} Å, {emulator.n_pix} pixels, "
        f"R = {emulator.resolution:g}",
        flush=True,
    )
    with jax.enable_x64(True):
        p = Params(
            truth[:, :k],
            truth[:, k],
            np.zeros(len(names)),
            np.array([[cont] for *_, cont in SHOWCASE_STARS]),
        )
        spectra = model.simulate(
            p, emulator.wave, SHOWCASE_SNR, jax.random.key(SHOWCASE_SEED)
        ).with_meta(object_id=tuple(names))
        t_sim = time.perf_counter()
        print("  MAP + Laplace ...", flush=True)
        best = fit_map(spectra, model, progress=False)
        t_map = time.perf_counter()
        print(
            f"  NUTS: {SHOWCASE_CHAINS} chains x ({num_warmup} warm-up + {num_samples} draws) "
            "per star, vmapped ...",
            flush=True,
        )
        post = sample(
            spectra,
            model,
            "nuts",
            init=best,
            num_warmup=num_warmup,
            num_samples=num_samples,
            num_chains=SHOWCASE_CHAINS,
            seed=SHOWCASE_SEED,
            progress=False,
        )
        t_nuts = time.perf_counter()

    units = [*emulator.label_space.units, "km/s"]
    params = [*model.label_names, "rv"]
    map_sd, nuts_mean, nuts_sd = best.sigma, post.mean, post.std
    for i, name in enumerate(names):
        print()
        print(
            f"{name}: max R-hat {np.nanmax(post.r_hat[i, : k + 1]):.3f}, "
            f"min ESS {np.nanmin(post.ess[i, : k + 1]):.0f}, {int(post.divergences[i])} "
            f"divergences, chi2_red {best.chi2[i] / (best.n_good[i] - len(best.names)):.2f}"
        )
        rows = [("", "truth", "MAP ± σ", "NUTS mean ± σ")]
        for j, (param, unit) in enumerate(zip(params, units, strict=True)):
            label = f"{param} [{unit}]" if unit else param
            rows.append(
                (
                    label,
                    f"{truth[i, j]:g}",
                    format_estimate(best.theta[i, j], map_sd[i, j]),
                    format_estimate(nuts_mean[i, j], nuts_sd[i, j]),
                )
            )
        print("\n".join("  " + line for line in _aligned(rows)))
    print()
    print(
        f"wall time {t_nuts - start:.1f} s: simulate {t_sim - start:.1f} s, MAP "
        f"{t_map - t_sim:.1f} s, NUTS {t_nuts - t_map:.1f} s (compilation included)"
    )
    if show_plot:
        index = 0
        zoom = ZOOM if emulator.wave[0] <= ZOOM[0] and ZOOM[1] <= emulator.wave[-1] else None
        plot_fit(post, spectra, index=index, path=fit_path, wave_range=zoom)
        where = "" if zoom is None else f", {zoom[0]:g}–{zoom[1]:g} Å shown"
        print(f"  fit plot ({names[index]}{where}) saved to {fit_path}")
        plot_corner(post, index=index, truths=truth[index], path=corner_path)
        print(f"  corner plot ({names[index]}) saved to {corner_path}")
        print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


def run_apogee_demo(output: Path = Path("jaxspec-demo.png"), show_plot: bool = True) -> int:
    """The preprocessing walk-through on the shipped APOGEE spectrum; returns 0."""
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
    print(f"jaxspec demo --apogee: {apogee_example_path().name}")
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
