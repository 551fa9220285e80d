"""Figures of fit results: the spectrum and its model (:func:`plot_fit`), posteriors
(:func:`plot_corner`).

Both need the plotting extra (``pip install 'jaxspec-stellar[plot]'``: matplotlib and
corner). They build :class:`matplotlib.figure.Figure` objects directly, without pyplot, so
they keep no global state and work on headless machines; a figure given a ``path`` is saved
atomically (written beside the target, then renamed).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ._batches import batch_spectra
from .forward import params_from_vector

__all__ = ["plot_fit", "plot_corner", "format_estimate", "axis_label"]

_PLOT_EXTRA = "pip install 'jaxspec-stellar[plot]'"

#: Axis labels (matplotlib mathtext) of the usual labels; others show their name.
_SYMBOLS = {
    "teff": r"$T_\mathrm{eff}$",
    "logg": r"$\log g$",
    "feh": "[Fe/H]",
    "mh": "[M/H]",
    "alpha": r"[$\alpha$/Fe]",
    "alpha_fe": r"[$\alpha$/Fe]",
    "vmic": r"$v_\mathrm{mic}$",
    "rv": "RV",
    "vsini": r"$v \sin i$",
}

#: Number of Laplace draws :func:`plot_corner` shows for a MAP result.
LAPLACE_DRAWS = 4000


def _matplotlib() -> Any:
    """``matplotlib.figure.Figure``, or an ImportError that says how to get it."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            f"plotting needs matplotlib, which is not installed; get it with {_PLOT_EXTRA}"
        ) from None
    return Figure


def _save(fig: Any, path: str | os.PathLike | None) -> None:
    """Save ``fig`` atomically to ``path`` (format from the suffix), if a path is given."""
    if path is None:
        return
    from matplotlib.backend_bases import FigureCanvasBase

    from .._atomic import atomic_path

    path = Path(path)
    kinds = FigureCanvasBase.get_supported_filetypes()
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in kinds:
        raise ValueError(
            f"cannot save a figure as {path.name!r}: the extension must name an image format "
            f"({', '.join(sorted(kinds))})"
        )
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=120)


def format_estimate(value: float, sigma: float) -> str:
    """``value ± sigma`` with two significant digits of ``sigma`` ("4625 ± 12", "2.459 ± 0.031")."""
    if not math.isfinite(value):
        return "nan"
    if not (math.isfinite(sigma) and sigma > 0):
        return f"{value:.3g}" if abs(value) < 1e4 else f"{value:.0f}"
    digits = int(min(max(1 - math.floor(math.log10(sigma)), 0), 6))
    return f"{value:.{digits}f} ± {sigma:.{digits}f}"


def axis_label(name: str, unit: str) -> str:
    """An axis label with its unit: ``"$T_\\mathrm{eff}$ [K]"``, ``"RV [km/s]"``."""
    symbol = _SYMBOLS.get(name, name)
    return f"{symbol} [{unit}]" if unit else symbol


def _is_sample_result(result: Any) -> bool:
    return hasattr(result, "samples") and hasattr(result, "map")


def _map_of(result: Any) -> Any:
    return result.map if _is_sample_result(result) else result


def _physical(model: Any) -> list[tuple[str, str]]:
    """(name, unit) of the labels, RV and (if fitted) v sin i: the leading parameters."""
    out = list(zip(model.label_names, model.emulator.label_space.units, strict=True))
    out.append(("rv", "km/s"))
    if model.fit_vsini:
        out.append(("vsini", "km/s"))
    return out


def _check_index(result: Any, index: int) -> tuple[str, Any]:
    """The star's id and MapResult, or an error if it does not exist or was not fitted."""
    m = _map_of(result)
    n = len(m)
    if not -n <= index < n:
        raise IndexError(f"index {index} is out of range for a result of {n} stars")
    index = index % n
    oid = m.object_ids[index]
    if m.messages[index]:
        raise ValueError(f"star {index} ({oid}) was not fitted: {m.messages[index]}")
    return oid, m


def plot_fit(
    result: Any,
    spectra: Any,
    index: int = 0,
    path: str | os.PathLike | None = None,
    *,
    wave_range: tuple[float, float] | None = None,
) -> Any:
    """The observed spectrum of one star, its best model, and the normalised residuals.

    Fluxes are shown in the units of ``spectra`` (the fit divides each spectrum by its median
    good flux, :attr:`~jaxspec.infer.MapResult.flux_scale`; the plot multiplies the model
    back). Pixels left out of the likelihood (masked, zero ivar, outside the continuum
    segments or too close to the emulator's edges for the RV range) are shaded grey, and
    their flux, where the spectrum has one, is drawn in grey.

    Args:
        result: a :class:`~jaxspec.infer.MapResult` (the model at the MAP) or a
            :class:`~jaxspec.infer.SampleResult` (the model at the posterior mean).
        spectra: the spectra that were fitted (the batch given to ``fit_map``/``sample``).
        index: which star of the batch.
        path: save the figure there (format from the suffix, e.g. ``.png``, ``.pdf``).
        wave_range: ``(min, max)`` vacuum wavelength [Å] to show (default: everything).

    Returns:
        the :class:`matplotlib.figure.Figure` (upper panel: flux and model; lower panel:
        ``(data − model) / σ`` with σ the likelihood's total noise).

    Raises:
        ImportError: matplotlib is not installed.
        IndexError, ValueError: no such star, the star was not fitted, or ``spectra`` are
            not the spectra that were fitted (their number or median fluxes differ).
    """
    Figure = _matplotlib()
    oid, m = _check_index(result, index)
    index = index % len(m)
    model = result.model
    batch, _ = batch_spectra(spectra)
    if batch.batch_shape[0] != len(m):
        raise ValueError(
            f"spectra hold {batch.batch_shape[0]} stars but the result {len(m)}; pass the "
            "batch that was fitted"
        )
    star = batch[index]
    sampled = _is_sample_result(result)
    theta = np.asarray(result.mean[index] if sampled else result.theta[index])
    with jax.enable_x64(True):
        data, _ = model.prepare(star)
        p = params_from_vector(model, jnp.asarray(theta, dtype=jnp.float64))
        fit, _, model_var = model.model_parts(model.emulator.params, p, data)
        var = model.variance(data, model_var)
        fit, var = np.asarray(fit), np.asarray(var)
    scale = float(data.scale)
    if not math.isclose(scale, float(m.flux_scale[index]), rel_tol=1e-6):
        raise ValueError(
            f"star {index} ({oid}) has median flux {scale:.6g} but the fitted spectrum had "
            f"{float(m.flux_scale[index]):.6g}: these are not the spectra that were fitted"
        )
    good = np.asarray(data.good)
    wave = np.asarray(star.wave, dtype=np.float64)
    observed = np.where(np.asarray(star.mask), np.nan, np.asarray(star.flux, dtype=np.float64))
    inside = np.asarray(data.basis)[..., 0].sum(axis=-1) > 0
    model_flux = np.where(inside, fit * scale, np.nan)
    resid = np.where(good, (np.asarray(data.flux) - fit) / np.sqrt(var), np.nan)
    if wave_range is not None:
        lo, hi = (float(v) for v in wave_range)
        sel = (wave >= lo) & (wave <= hi)
        if not sel.any():
            raise ValueError(
                f"wave_range {lo:g}–{hi:g} Å holds none of the spectrum's pixels "
                f"({wave[0]:.1f}–{wave[-1]:.1f} Å)"
            )
        wave, observed, model_flux, resid, good = (
            a[sel] for a in (wave, observed, model_flux, resid, good)
        )

    fig = Figure(figsize=(11.0, 5.6), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": (3, 1)})
    for ax in (top, bottom):
        shade = ax.get_xaxis_transform()
        ax.fill_between(wave, 0, 1, where=~good, step="mid", color="0.9", lw=0, transform=shade)
    observed_good = np.where(good, observed, np.nan)
    top.plot(wave, observed_good, color="k", lw=0.6, ds="steps-mid", label="observed")
    if np.any(~good & np.isfinite(observed)):
        observed_bad = np.where(good, np.nan, observed)
        top.plot(wave, observed_bad, color="0.6", lw=0.6, ds="steps-mid", label="not fitted")
    kind = "posterior-mean model" if sampled else "MAP model"
    top.plot(wave, model_flux, color="C3", lw=0.8, label=kind)
    unit = star.meta.flux_unit
    top.set_ylabel(f"flux [{unit}]" if unit else "normalised flux")
    top.legend(loc="lower right", fontsize="small", ncols=3)
    phys = _physical(model)
    sd = np.sqrt(np.diagonal(_covariance(result, index)))
    parts = [
        f"{_SYMBOLS.get(name, name)} = {format_estimate(theta[i], sd[i])}"
        + (f" {u}" if u not in ("", "dex") else "")
        for i, (name, u) in enumerate(phys)
    ]
    chi2_red = m.chi2[index] / max(int(m.n_good[index]) - len(m.names), 1)
    top.set_title(
        f"{oid}: " + ", ".join(parts) + rf"; $\chi^2_\nu$ = {chi2_red:.2f}", fontsize="medium"
    )
    bottom.plot(wave, resid, color="k", lw=0.5, ds="steps-mid")
    for level, style in ((0.0, "-"), (-3.0, ":"), (3.0, ":")):
        bottom.axhline(level, color="C3", lw=0.8, ls=style)
    finite = np.abs(resid[np.isfinite(resid)])
    lim = 1.1 * max(4.0, float(np.percentile(finite, 99.5))) if finite.size else 5.0
    bottom.set_ylim(-lim, lim)
    bottom.set_ylabel(r"(data $-$ model) / $\sigma$")
    bottom.set_xlabel("vacuum wavelength [Å]")
    bottom.set_xlim(wave[0], wave[-1])
    _save(fig, path)
    return fig


def _covariance(result: Any, index: int) -> np.ndarray:
    """Covariance of the parameter vector of one star (posterior draws or Laplace)."""
    if _is_sample_result(result):
        draws = result.flat_samples[index]
        return np.atleast_2d(np.cov(draws, rowvar=False))
    return np.asarray(result.cov[index])


def _draws(result: Any, index: int) -> tuple[np.ndarray, str]:
    """``(n_draws, n_params)`` posterior draws of one star and what they are."""
    if _is_sample_result(result):
        return np.asarray(result.flat_samples[index]), f"{result.method.upper()} posterior"
    theta, cov = np.asarray(result.theta[index]), np.asarray(result.cov[index])
    if not np.all(np.isfinite(cov)):
        raise ValueError(
            f"star {index} has no Laplace covariance (the Hessian at the MAP is not positive "
            "definite); sample its posterior with jaxspec.infer.sample instead"
        )
    rng = np.random.default_rng(0)
    return rng.multivariate_normal(theta, cov, size=LAPLACE_DRAWS), "Laplace approximation"


def plot_corner(
    result: Any,
    index: int = 0,
    truths: Any = None,
    path: str | os.PathLike | None = None,
) -> Any:
    """Corner plot of the labels and RV (and v sin i when fitted) of one star.

    Args:
        result: a :class:`~jaxspec.infer.SampleResult` (its draws, chains merged) or a
            :class:`~jaxspec.infer.MapResult` (draws of its Laplace approximation).
        index: which star of the batch.
        truths: reference values to mark: a sequence in the order labels, RV [, v sin i]
            (it may stop after the labels), or a mapping from name to value; None entries
            are not marked.
        path: save the figure there (format from the suffix).

    Returns:
        the :class:`matplotlib.figure.Figure`; each diagonal panel is titled with the mean ±
        standard deviation of its parameter.

    Raises:
        ImportError: matplotlib or corner is not installed.
        IndexError, ValueError: no such star, it was not fitted, or ``truths`` does not fit.
    """
    Figure = _matplotlib()
    try:
        import corner
    except ImportError:
        raise ImportError(
            f"plot_corner needs the corner package, which is not installed; get it with "
            f"{_PLOT_EXTRA}"
        ) from None
    _check_index(result, index)
    index = index % len(_map_of(result))
    phys = _physical(result.model)
    k = len(phys)
    draws, what = _draws(result, index)
    draws = draws[:, :k]
    names = [name for name, _ in phys]
    marks = _truths(truths, names)
    dim = 2.0 * k
    fig = Figure(figsize=(dim, dim))
    # Panel ranges: the central 99 % of the draws, widened to show the truths.
    lo, hi = np.percentile(draws, [0.5, 99.5], axis=0)
    for i, t in enumerate(marks or ()):
        if t is not None:
            lo[i], hi[i] = min(lo[i], t), max(hi[i], t)
    pad = 0.05 * np.where(hi > lo, hi - lo, np.maximum(np.abs(hi), 1.0))
    ranges = list(zip(lo - pad, hi + pad, strict=True))
    with np.errstate(invalid="ignore"), _quiet_corner():
        corner.corner(
            draws,
            labels=[axis_label(name, unit) for name, unit in phys],
            truths=marks,
            truth_color="C3",
            quantiles=(0.16, 0.5, 0.84),
            fig=fig,
            range=ranges,
            max_n_ticks=3,
            label_kwargs={"fontsize": "medium"},
        )
    axes = np.asarray(fig.axes).reshape(k, k)
    mean, sd = draws.mean(axis=0), draws.std(axis=0, ddof=1)
    for i in range(k):
        axes[i, i].set_title(format_estimate(mean[i], sd[i]), fontsize="small")
    oid = _map_of(result).object_ids[index]
    fig.suptitle(f"{oid}: {what} ({draws.shape[0]} draws)", fontsize="medium")
    _save(fig, path)
    return fig


class _DropFewPoints(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Too few points to create valid contours")


@contextlib.contextmanager
def _quiet_corner() -> Iterator[None]:
    """Silence corner's root-logger warning about contours of few draws (the contour
    levels are then skipped; the scatter still shows the draws)."""
    root = logging.getLogger()
    drop = _DropFewPoints()
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)


def _truths(truths: Any, names: list[str]) -> list[float | None] | None:
    if truths is None:
        return None
    if hasattr(truths, "keys"):
        unknown = set(truths) - set(names)
        if unknown:
            raise ValueError(f"truths for unknown parameters {sorted(unknown)}; known: {names}")
        return [None if truths.get(n) is None else float(truths[n]) for n in names]
    values = list(np.asarray(truths, dtype=object).ravel())
    if len(values) > len(names):
        raise ValueError(
            f"got {len(values)} truths for {len(names)} parameters ({', '.join(names)})"
        )
    values += [None] * (len(names) - len(values))
    return [None if v is None else float(v) for v in values]
