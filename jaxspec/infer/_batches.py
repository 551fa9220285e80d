"""Shared plumbing of the batched fitters: model resolution, data preparation, chunking."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np

from ..spectrum import Spectrum
from .forward import FitData, ForwardModel

#: Fewer good pixels than this per star and the star is not fitted (flagged instead).
MIN_GOOD_PIXELS = 20


def as_forward_model(model: Any, **options: Any) -> ForwardModel:
    """A :class:`ForwardModel` from a ForwardModel or an Emulator (plus options)."""
    if isinstance(model, ForwardModel):
        return model.replace(**options) if options else model
    from ..emulators import Emulator
    from .synth_model import SynthesizerModel

    if isinstance(model, (Emulator, SynthesizerModel)):
        return ForwardModel(model, **options)
    raise TypeError(
        f"expected an Emulator, SynthesizerModel or ForwardModel, got {type(model).__name__}; "
        "load an emulator with jaxspec.emulators.load_emulator(path) or load_default()"
    )


def batch_spectra(spectra: Spectrum) -> tuple[Spectrum, bool]:
    """``(batch with one leading axis, was_single)``."""
    if not isinstance(spectra, Spectrum):
        raise TypeError(
            f"expected a jaxspec Spectrum (one star or a batch), got {type(spectra).__name__}; "
            "read files with jaxspec.io.read and combine them with jaxspec.stack"
        )
    if spectra.batch_shape == ():
        from ..spectrum import stack

        return stack([spectra]), True
    if len(spectra.batch_shape) != 1:
        raise ValueError(
            f"expected one star or a 1-D batch of stars, got batch shape {spectra.batch_shape}; "
            "reshape it first"
        )
    return spectra, False


def star_ids(spectra: Spectrum, n: int) -> list[str]:
    """Object names of the stars (index strings when the metadata has none)."""
    oid = spectra.meta.object_id
    if isinstance(oid, (tuple, list)) and len(oid) == n:
        return [str(o) for o in oid]
    if n == 1 and oid:
        return [str(oid)]
    return [str(i) for i in range(n)]


def unfit_messages(n_good: np.ndarray, n_free: int) -> list[str]:
    """One message per star: empty when fittable, else why not."""
    need = max(MIN_GOOD_PIXELS, n_free + 1)
    out = []
    for k in np.asarray(n_good):
        if k == 0:
            out.append(
                "no usable pixels (all masked, NaN, zero ivar, or outside the emulator's "
                "wavelength range at every allowed RV)"
            )
        elif k < need:
            out.append(f"only {int(k)} usable pixels; at least {need} are needed")
        else:
            out.append("")
    return out


def chunk_size(n: int, batch_size: int) -> int:
    """Stars per compiled call: the next power of two ≥ n, at most ``batch_size``.

    Rounding up (the chunk is padded) keeps the number of distinct compilations small when
    batches of many different sizes are fitted.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return int(min(batch_size, 1 << max(n - 1, 0).bit_length()))


def chunks(data: FitData, fittable: np.ndarray, size: int) -> Iterator[tuple[np.ndarray, FitData]]:
    """Fittable stars in chunks of exactly ``size`` (the last padded by repetition).

    Yields ``(indices, chunk)``; only the first ``len(indices)`` rows of a chunk are real.
    """
    idx = np.flatnonzero(fittable)
    for start in range(0, idx.size, size):
        sel = idx[start : start + size]
        pad = np.concatenate([sel, np.full(size - sel.size, sel[0])])
        yield sel, jax.tree.map(lambda a, p=pad: np.asarray(a)[p], data)


def run_chunked(
    fn: Callable[[FitData], Any],
    data: FitData,
    fittable: np.ndarray,
    size: int,
    *,
    progress: bool,
    desc: str,
) -> list[tuple[np.ndarray, Any]]:
    """Apply a compiled per-chunk function to every chunk, with a tqdm bar over stars."""
    from tqdm.auto import tqdm

    out = []
    with tqdm(total=int(fittable.sum()), desc=desc, unit="star", disable=not progress) as bar:
        for sel, chunk in chunks(data, fittable, size):
            res = jax.tree.map(np.asarray, fn(chunk))
            out.append((sel, jax.tree.map(lambda a, n=sel.size: a[:n], res)))
            bar.update(sel.size)
    return out


def scatter(n: int, parts: list[tuple[np.ndarray, Any]], template: Any, fill: Any) -> Any:
    """Assemble per-chunk results into arrays over all ``n`` stars, ``fill`` elsewhere."""

    def alloc(a: np.ndarray) -> np.ndarray:
        out = np.empty((n, *a.shape[1:]), dtype=a.dtype)
        out[...] = fill if np.issubdtype(a.dtype, np.floating) else 0
        return out

    full = jax.tree.map(alloc, template)
    for sel, res in parts:
        jax.tree.map(lambda f, r, s=sel: f.__setitem__(s, r), full, res)
    return full
