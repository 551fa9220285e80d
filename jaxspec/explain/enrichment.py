"""Do the most salient pixels fall on spectral lines more often than chance?"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .attribution import Saliency, _as_wave, _n_top, _output_index

__all__ = ["Enrichment", "line_enrichment"]

_C_KMS = 299_792.458


class Enrichment(NamedTuple):
    """How often the most salient pixels fall on lines, against chance.

    Attributes:
        factor: ``top_on_lines / chance``; 1 for no preference.
        top_on_lines: fraction of the top pixels within a window of a line.
        chance: fraction of all pixels within a window of a line.
        n_top, n_top_on_lines: number of top pixels, and of those on lines.
        n_pix, n_pix_on_lines: number of pixels, and of those on lines.
        p_value: hypergeometric probability of ≥ ``n_top_on_lines`` top pixels on lines if
            the top pixels were drawn at random.
    """

    factor: float
    top_on_lines: float
    chance: float
    n_top: int
    n_top_on_lines: int
    n_pix: int
    n_pix_on_lines: int
    p_value: float


def _half_window(wave: np.ndarray, window_kms, window_aa, window_pix, resolution) -> np.ndarray:
    given = {
        "window_kms": window_kms,
        "window_aa": window_aa,
        "window_pix": window_pix,
        "resolution": resolution,
    }
    set_ = {k: v for k, v in given.items() if v is not None}
    if len(set_) > 1:
        raise ValueError(
            f"give one window (window_kms, window_aa, window_pix or resolution); got {sorted(set_)}"
        )
    ((name, value),) = set_.items() if set_ else (("window_pix", 1.0),)
    if not value > 0:
        raise ValueError(f"{name} must be positive; got {value}")
    if name == "window_kms":
        return wave * value / _C_KMS
    if name == "window_aa":
        return np.full_like(wave, value)
    if name == "resolution":
        return wave / (2.0 * value)
    return value * np.abs(np.gradient(wave)) if wave.size > 1 else np.full_like(wave, np.inf)


def line_enrichment(
    sal: Saliency | Any,
    wave: Any,
    output: int | str,
    line_wave: Any,
    *,
    top_fraction: float = 0.01,
    window_kms: float | None = None,
    window_aa: float | None = None,
    window_pix: float | None = None,
    resolution: float | None = None,
) -> Enrichment:
    """Enrichment of the most salient pixels of one output on listed lines.

    A pixel is *on a line* if its centre lies within ± a half window of a line's vacuum
    wavelength. The half window is one of: ``window_kms`` (velocity, λ·v/c),
    ``window_aa`` [Å], ``window_pix`` (pixels, local spacing), or ``resolution`` R
    (± half a resolution element, λ/2R); default ± 1 pixel.

    Args:
        sal: a :class:`Saliency`, or an array ``(n_pix,)``, ``(n_out, n_pix)`` or
            ``(n, n_out, n_pix)`` of attributions (ranked by mean |value| over spectra).
        wave: ``(n_pix,)`` vacuum wavelength [Å]; None to use ``sal.wave``.
        output: output index or name (ignored for a ``(n_pix,)`` array).
        line_wave: ``(n_lines,)`` vacuum line wavelengths [Å], or a :class:`LinePositions`.
        top_fraction: fraction of pixels counted as most salient (at least one).

    Returns:
        :class:`Enrichment`.
    """
    if isinstance(sal, Saliency):
        score = sal.mean_abs()[sal.output_index(output)]
        wave = sal.wave if wave is None else wave
    else:
        arr = np.abs(np.asarray(sal, float))
        if arr.ndim not in (1, 2, 3):
            raise ValueError(
                f"expected saliency (n_pix,), (n_out, n_pix) or (n, n_out, n_pix); got {arr.shape}"
            )
        arr = arr.mean(axis=0) if arr.ndim == 3 else arr
        if arr.ndim == 2:
            arr = arr[_output_index(output, [str(k) for k in range(len(arr))])]
        score = arr
    if wave is None:
        raise ValueError("no wavelengths: pass wave, or compute the saliency with wave=...")
    wave = _as_wave(wave, score.size, "the saliency")
    lines = np.sort(np.asarray(getattr(line_wave, "wave", line_wave), float).ravel())
    if lines.size == 0 or not np.isfinite(lines).all():
        raise ValueError("line_wave must be a non-empty array of finite vacuum wavelengths [Å]")
    half = _half_window(wave, window_kms, window_aa, window_pix, resolution)
    pos = np.searchsorted(lines, wave)
    dist = np.minimum(
        np.abs(wave - lines[np.clip(pos - 1, 0, lines.size - 1)]),
        np.abs(wave - lines[np.clip(pos, 0, lines.size - 1)]),
    )
    on = dist <= half
    n_on = int(on.sum())
    if n_on == 0:
        raise ValueError(
            f"no pixel of {wave.min():.1f}–{wave.max():.1f} Å lies within a window of a listed "
            "line; check that both are vacuum wavelengths in Å over the same range"
        )
    n_top = _n_top(top_fraction, score.size)
    top = np.argsort(-score, kind="stable")[:n_top]
    k = int(on[top].sum())
    from scipy.stats import hypergeom

    p_value = float(hypergeom.sf(k - 1, score.size, n_on, n_top))
    chance, hit = n_on / score.size, k / n_top
    return Enrichment(hit / chance, hit, chance, n_top, k, score.size, n_on, p_value)
