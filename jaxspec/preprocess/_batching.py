"""Run a one-spectrum function over every leading batch axis of a Spectrum with ``jax.vmap``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import SpectrumValidationError
from ..spectrum import Spectrum

__all__ = ["map_spectra", "concrete_max", "concrete_or_none", "with_constant_wave"]


def _prepare_param(
    value: Any, batch_shape: tuple[int, ...], core_ndim: int, name: str
) -> tuple[Any, bool]:
    """Broadcast a parameter to the batch; return it and whether it is mapped."""
    if value is None:
        return None, False
    arr = jnp.asarray(value)
    if arr.ndim <= core_ndim:
        return arr, False
    lead = tuple(arr.shape[: arr.ndim - core_ndim])
    try:
        target = np.broadcast_shapes(lead, batch_shape)
    except ValueError:
        target = None
    if target != tuple(batch_shape):
        raise SpectrumValidationError(
            f"{name} has leading shape {lead}, which does not broadcast to the spectra's batch "
            f"shape {batch_shape}; give one value, or one per spectrum"
        )
    arr = jnp.broadcast_to(arr, tuple(batch_shape) + tuple(arr.shape[arr.ndim - core_ndim :]))
    return arr, True


def map_spectra(
    single: Callable[..., Spectrum],
    spec: Spectrum,
    params: Sequence[Any] = (),
    *,
    core_ndims: Sequence[int] | None = None,
    names: Sequence[str] | None = None,
    wave_param: int | None = None,
) -> Spectrum:
    """Apply ``single(spectrum, *params)`` to each spectrum of a batch.

    Args:
        single: function of one spectrum (wave ``(n_pix,)``, flux ``(n_pix,)``) and params.
        spec: a single spectrum or a batch with any number of leading axes.
        params: parameters; each is either shared or has the batch shape as leading axes.
        core_ndims: number of trailing (non-batch) axes of each parameter (default 0).
        names: parameter names for error messages.
        wave_param: index of the parameter that gives the output wavelength axis (as in
            ``resample``); the output axis is then shared exactly when that parameter is.
            ``None``: the output keeps the input's wavelength axis.

    Returns:
        the spectrum (or batch) returned by ``single``.
    """
    params = list(params)
    core_ndims = list(core_ndims) if core_ndims is not None else [0] * len(params)
    names = list(names) if names is not None else [f"argument {i}" for i in range(len(params))]
    batch_shape = spec.batch_shape
    if not batch_shape:
        for value, core, name in zip(params, core_ndims, names, strict=True):
            if value is not None and jnp.ndim(value) > core:
                raise SpectrumValidationError(
                    f"{name} has shape {jnp.shape(value)} but the spectrum is not batched; "
                    "give a single value"
                )
        source = spec.wave if wave_param is None else params[wave_param]
        return with_constant_wave(single(spec, *params), source)
    prepared = [
        _prepare_param(v, batch_shape, c, n)
        for v, c, n in zip(params, core_ndims, names, strict=True)
    ]
    values = [p[0] for p in prepared]
    mapped = [p[1] for p in prepared]
    out_wave_shared = spec.shared_wave if wave_param is None else not mapped[wave_param]

    # The output metadata is static: record it while tracing and map only the arrays.
    out_meta: list = []

    def leaves(s: Spectrum, *p: Any) -> tuple[Any, Any, Any, Any]:
        out = single(s, *p)
        out_meta.append(out.meta)
        return out.wave, out.flux, out.ivar, out.mask

    fn = leaves
    out_axes = (None if out_wave_shared else 0, 0, 0, 0)
    for _ in batch_shape:
        fn = jax.vmap(
            fn, in_axes=(spec.batch_axes(), *[0 if m else None for m in mapped]), out_axes=out_axes
        )
    leaves_out = fn(spec, *values)  # traces single(), which records the output metadata
    out = Spectrum.tree_unflatten(out_meta[-1], leaves_out)
    if not out_wave_shared:
        return out
    return with_constant_wave(out, spec.wave if wave_param is None else params[wave_param])


def concrete_max(value: Any, name: str, hint: str) -> float:
    """Largest value of a parameter that must be known at trace time (to size a window)."""
    try:
        return float(np.max(np.asarray(value)))
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError) as exc:
        raise SpectrumValidationError(
            f"{name} is traced (inside jit/grad/vmap), so the kernel window cannot be sized "
            f"from it; {hint}"
        ) from exc


def concrete_or_none(value: Any) -> np.ndarray | None:
    """The value as a numpy array when it is concrete, else None."""
    try:
        return np.asarray(value)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def with_constant_wave(spec: Spectrum, wave: Any) -> Spectrum:
    """``spec`` with its wavelength axis replaced by ``wave`` when that is a numpy constant.

    Under ``jit`` every array a function returns is a tracer, even a grid that was a numpy
    constant; putting the constant back lets later steps size their kernels from it.
    """
    if isinstance(wave, np.ndarray) and wave.ndim == 1 and wave.shape == tuple(spec.wave.shape):
        return Spectrum.tree_unflatten(
            spec.meta, (wave.astype(spec.wave.dtype, copy=False), spec.flux, spec.ivar, spec.mask)
        )
    return spec
