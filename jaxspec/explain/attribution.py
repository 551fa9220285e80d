"""Saliency and integrated gradients of any differentiable model of one spectrum."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Saliency", "saliency"]

_METHODS = ("gradient", "integrated_gradients")


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=["values", "wave", "output", "baseline_output"],
    meta_fields=["output_names", "method"],
)
@dataclasses.dataclass(frozen=True)
class Saliency:
    """Attributions of each output to each pixel (a pytree; names and method are static).

    Attributes:
        values: ``(n, n_out, n_pix)`` or, for one spectrum, ``(n_out, n_pix)`` signed
            attributions: ∂f_k/∂flux_λ for ``"gradient"``, the integrated gradients for
            ``"integrated_gradients"`` [output units].
        wave: ``(n_pix,)`` vacuum wavelength [Å], or None.
        output: ``(n, n_out)`` or ``(n_out,)`` model outputs f(x).
        baseline_output: f(x₀) at the baseline (integrated gradients only, else None).
        output_names: one name per output.
        method: ``"gradient"`` or ``"integrated_gradients"``.
    """

    values: Any
    wave: Any = None
    output: Any = None
    baseline_output: Any = None
    output_names: tuple[str, ...] = ()
    method: str = "gradient"

    @property
    def magnitude(self) -> Any:
        """``|values|``: the saliency map proper."""
        return jnp.abs(self.values)

    @property
    def completeness_gap(self) -> Any:
        """Σ_λ attributions − (f(x) − f(x₀)), shaped like ``output``; None for gradients.

        Zero for exact integrated gradients; it shrinks as ``steps`` grows (Sundararajan et
        al. 2017 suggest ``steps`` large enough that it is within ~5 % of f(x) − f(x₀)).
        """
        if self.baseline_output is None:
            return None
        return jnp.sum(self.values, axis=-1) - (self.output - self.baseline_output)

    def mean_abs(self) -> np.ndarray:
        """``(n_out, n_pix)`` mean |attribution| over the spectra (|values| for one)."""
        mag = np.abs(np.asarray(self.values))
        return mag.mean(axis=0) if mag.ndim == 3 else mag

    def output_index(self, output: int | str) -> int:
        """Index of an output given by index or by name."""
        return _output_index(output, self.output_names)

    def top_pixels(self, output: int | str = 0, fraction: float = 0.01) -> np.ndarray:
        """Indices of the ``fraction`` most salient pixels of one output, most salient first.

        Pixels are ranked by :meth:`mean_abs`; at least one pixel is returned.
        """
        score = self.mean_abs()[self.output_index(output)]
        return np.argsort(-score, kind="stable")[: _n_top(fraction, score.size)]


class _ById:
    """Hashes a callable by identity, so jit caches one program per model object."""

    def __init__(self, fn: Callable) -> None:
        self.fn = fn

    def __hash__(self) -> int:
        return id(self.fn)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _ById) and other.fn is self.fn


def _value_and_jacobian(f: Callable, x: Any) -> tuple[Any, Any]:
    y, pullback = jax.vjp(f, x)
    (jac,) = jax.vmap(pullback)(jnp.eye(y.shape[0], dtype=y.dtype))
    return y, jac


@functools.partial(jax.jit, static_argnames=("model", "method", "steps", "chunk_size"))
def _attribute(model: _ById, flux: Any, baseline: Any, *, method, steps, chunk_size) -> Any:
    f = model.fn
    shape = jax.eval_shape(f, flux[0])
    if not hasattr(shape, "shape") or len(shape.shape) != 1:
        found = getattr(shape, "shape", type(shape).__name__)
        raise ValueError(
            f"f must return a 1-D array (n_out,) for one spectrum of shape ({flux.shape[1]},); "
            f"got {found}. Wrap a scalar model as lambda x: jnp.atleast_1d(g(x)) and a batched "
            "one as lambda x: g(x[None])[0]"
        )
    if not jnp.issubdtype(shape.dtype, jnp.inexact):
        raise ValueError(
            f"f must return floating-point outputs to be differentiated; got {shape.dtype}"
        )
    alphas = (jnp.arange(steps, dtype=flux.dtype) + 0.5) / steps  # midpoint rule

    def one(args: tuple[Any, Any]) -> tuple[Any, Any, Any]:
        x, x0 = args
        if method == "gradient":
            y, jac = _value_and_jacobian(f, x)
            return jac, y, y
        path = x0 + alphas[:, None] * (x - x0)
        _, jacs = jax.vmap(lambda p: _value_and_jacobian(f, p))(path)
        return (x - x0) * jnp.mean(jacs, axis=0), f(x), f(x0)

    if chunk_size is None:
        return jax.vmap(one)((flux, baseline))
    return jax.lax.map(one, (flux, baseline), batch_size=chunk_size)


def saliency(
    f: Callable[[Any], Any],
    flux: Any,
    *,
    method: str = "gradient",
    baseline: Any = None,
    steps: int = 64,
    output_names: Sequence[str] | None = None,
    wave: Any = None,
    chunk_size: int | None = None,
) -> Saliency:
    """Attribute each output of ``f`` to the pixels of one spectrum or a batch.

    One program is compiled per ``f`` object, shapes, ``method``, ``steps`` and
    ``chunk_size``; keep hold of ``f`` (a fresh lambda per call compiles per call).

    Args:
        f: ``f(flux) -> (n_out,)`` differentiable function of one ``(n_pix,)`` spectrum.
        flux: ``(n_pix,)`` or ``(n, n_pix)`` normalised flux, finite (put masked pixels at 1
            and close the mask into ``f``).
        method: ``"gradient"`` (∂f_k/∂flux_λ at x) or ``"integrated_gradients"`` (alias
            ``"ig"``).
        baseline: x₀ for integrated gradients: scalar, ``(n_pix,)`` or ``(n, n_pix)``;
            default 1 (the continuum, a featureless spectrum).
        steps: points of the midpoint rule along x₀ → x (integrated gradients; error ∝
            1/steps² for smooth f; check :attr:`Saliency.completeness_gap`). Memory grows as
            spectra × steps × model activations: lower ``chunk_size`` for large models.
        output_names: one name per output (default ``"0"``, ``"1"``, ...).
        wave: ``(n_pix,)`` vacuum wavelength [Å], kept in the result.
        chunk_size: spectra per vectorised batch (``jax.lax.map``); None: all at once.

    Returns:
        :class:`Saliency`, batched like ``flux``.

    Raises:
        ValueError: bad flux, wave or baseline shape, non-finite flux, unknown method,
            ``steps`` < 1, or ``f`` not returning a 1-D floating array.
    """
    if not callable(f):
        raise TypeError(f"f must be a callable f(flux) -> (n_out,); got {type(f).__name__}")
    method = "integrated_gradients" if method == "ig" else method
    if method not in _METHODS:
        raise ValueError(f"unknown method {method!r}; use 'gradient' or 'integrated_gradients'")
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 1:
        raise ValueError(
            f"steps must be a positive integer (points along the path from the baseline for "
            f"integrated gradients); got {steps!r}; 32-256 is typical"
        )
    if chunk_size is not None and (not isinstance(chunk_size, int | np.integer) or chunk_size < 1):
        raise ValueError(f"chunk_size must be None or a positive integer; got {chunk_size!r}")
    x = _as_flux(flux, "flux")
    single = x.ndim == 1
    x2 = x[None] if single else x
    n, n_pix = x2.shape
    x0 = _as_baseline(baseline, (n, n_pix), x2.dtype)
    if wave is not None:
        wave = _as_wave(wave, n_pix, "flux")
    values, output, base_out = _attribute(
        _ById(f), x2, x0, method=method, steps=int(steps), chunk_size=chunk_size
    )
    n_out = values.shape[1]
    if output_names is None:
        names = tuple(str(k) for k in range(n_out))
    else:
        names = tuple(str(s) for s in output_names)
        if len(names) != n_out:
            raise ValueError(f"f returns {n_out} outputs but {len(names)} output_names were given")
    if method == "gradient":
        base_out = None
    if single:
        values, output = values[0], output[0]
        base_out = None if base_out is None else base_out[0]
    return Saliency(values, wave, output, base_out, names, method)


def _as_flux(flux: Any, what: str) -> Any:
    try:
        arr = np.asarray(flux)
    except jax.errors.TracerArrayConversionError:
        raise TypeError(
            f"{what} must be concrete: saliency() is a driver (it compiles its own program); "
            "call it outside jit"
        ) from None
    if arr.ndim not in (1, 2) or arr.shape[-1] < 1:
        raise ValueError(f"expected {what} of shape (n_pix,) or (n, n_pix); got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(jnp.result_type(float))
    bad = ~np.isfinite(arr)
    if bad.any():
        where = np.argwhere(bad)[0]
        raise ValueError(
            f"{what} has {int(bad.sum())} NaN/inf values (first at index {tuple(where.tolist())}); "
            "set masked or bad pixels to 1 (the continuum) and give the mask to the model, as "
            "jaxspec.augment.model_inputs does"
        )
    return jnp.asarray(arr)


def _as_baseline(baseline: Any, shape: tuple[int, int], dtype: Any) -> Any:
    if baseline is None:
        return jnp.ones(shape, dtype)
    arr = np.asarray(baseline, dtype)
    if (
        arr.ndim > 2
        or (arr.ndim >= 1 and arr.shape[-1] != shape[1])
        or (arr.ndim == 2 and arr.shape[0] != shape[0])
    ):
        raise ValueError(
            f"baseline must be a scalar, ({shape[1]},) or {shape} to match flux; got shape "
            f"{arr.shape}"
        )
    if not np.isfinite(arr).all():
        raise ValueError("baseline has NaN/inf values; use a finite reference spectrum")
    return jnp.broadcast_to(jnp.asarray(arr), shape)


def _as_wave(wave: Any, n_pix: int, other: str) -> np.ndarray:
    w = np.asarray(wave, float)
    if w.ndim != 1 or w.size != n_pix:
        raise ValueError(
            f"expected wave of shape ({n_pix},) to match {other}, got {w.shape}; pass the "
            "wavelength grid the model was built for (resample with jaxspec.preprocess first)"
        )
    return w


def _output_index(output: int | str, names: Sequence[str]) -> int:
    if isinstance(output, str):
        if output not in names:
            raise ValueError(f"unknown output {output!r}; the outputs are {list(names)}")
        return list(names).index(output)
    k = int(output)
    if not -len(names) <= k < len(names):
        raise ValueError(f"output index {k} out of range for {len(names)} outputs")
    return k % len(names)


def _n_top(fraction: float, n_pix: int) -> int:
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction of top pixels must be in (0, 1]; got {fraction}")
    return max(1, int(round(fraction * n_pix)))
