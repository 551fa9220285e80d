"""Saliency against wavelength, with line ticks (needs matplotlib: the ``[plot]`` extra)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .attribution import Saliency, _as_wave

__all__ = ["plot_saliency"]

_LINE_COLOURS = ("tab:red", "tab:blue", "tab:green", "tab:purple", "tab:orange", "tab:brown")


def plot_saliency(
    sal: Saliency,
    wave: Any = None,
    *,
    outputs: Sequence[int | str] | None = None,
    lines: Mapping[str, Any] | Any = None,
    flux: Any = None,
    path: str | os.PathLike | None = None,
    ax: Any = None,
) -> Any:
    """Plot mean |saliency| against wavelength, one panel per output (needs matplotlib).

    Args:
        sal: a :class:`Saliency`.
        wave: ``(n_pix,)`` vacuum wavelength [Å]; None to use ``sal.wave``.
        outputs: outputs to plot (indices or names); default all.
        lines: ``{label: wavelengths or LinePositions}`` (or one array / LinePositions),
            drawn as ticks at the top of each panel, one colour per label.
        flux: ``(n_pix,)`` or ``(n, n_pix)`` spectra for an extra top panel (at most 5 drawn).
        path: save the figure there (format from the suffix).
        ax: an Axes, or a sequence of one Axes per panel, to draw into.

    Returns:
        The matplotlib ``Figure``, made without pyplot: no global backend is changed and
        nothing is shown (saving renders with Agg; in a notebook, display the returned figure).
    """
    from matplotlib.figure import Figure

    wave = _as_wave(sal.wave if wave is None else wave, np.shape(sal.values)[-1], "the saliency")
    outputs = range(len(sal.output_names)) if outputs is None else outputs
    picks = [sal.output_index(o) for o in outputs]
    if lines is None:
        lines = {}
    elif not isinstance(lines, Mapping):
        lines = {"lines": lines}
    n_panels = len(picks) + (flux is not None)
    if ax is None:
        fig = Figure(figsize=(10, 1.2 + 1.8 * n_panels), layout="constrained")
        axes = list(fig.subplots(n_panels, 1, sharex=True, squeeze=False)[:, 0])
    else:
        axes = [ax] if hasattr(ax, "plot") else list(ax)
        if len(axes) != n_panels:
            raise ValueError(
                f"need {n_panels} Axes (one per output, plus one for flux); got {len(axes)}"
            )
        fig = axes[0].figure
    if flux is not None:
        f2 = np.atleast_2d(np.asarray(flux, float))
        if f2.shape[-1] != wave.size:
            raise ValueError(f"flux has {f2.shape[-1]} pixels, wave {wave.size}")
        for row in f2[:5]:
            axes[0].plot(wave, row, lw=0.7, color="k", alpha=1.0 if len(f2) == 1 else 0.5)
        axes[0].set_ylabel("flux")
    mean_abs = sal.mean_abs()
    label = "|∂{}/∂flux|" if sal.method == "gradient" else "|IG {}|"
    for a, k in zip(axes[flux is not None :], picks, strict=True):
        a.plot(wave, mean_abs[k], lw=0.8, color="tab:gray")
        a.set_ylabel(label.format(sal.output_names[k]))
        a.set_ylim(bottom=0)
    inside = (wave.min(), wave.max())
    for (name, ws), colour in zip(lines.items(), _LINE_COLOURS * 10, strict=False):
        w = np.asarray(getattr(ws, "wave", ws), float).ravel()
        w = w[(w >= inside[0]) & (w <= inside[1])]
        for j, a in enumerate(axes):
            a.vlines(
                w,
                0.88,
                1.0,
                transform=a.get_xaxis_transform(),
                colors=colour,
                lw=0.8,
                label=name if j == 0 else None,
            )
    if lines:
        axes[0].legend(loc="lower right", fontsize="small", frameon=False)
    axes[-1].set_xlabel("vacuum wavelength [Å]")
    axes[-1].set_xlim(*inside)
    if path is not None:
        fig.savefig(os.fspath(path), dpi=150)
    return fig
