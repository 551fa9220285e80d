"""The :class:`Emulator`: a trained network together with everything needed to use it.

An emulator knows its label space (names, units, training box), its wavelength grid and
resolving power, its per-pixel held-out error and where its training data came from. Its
core is a pure function, :meth:`Emulator.apply` ``(params, labels) -> flux``, that works
under ``jit``, ``vmap``, ``grad`` and ``jacfwd``; :meth:`Emulator.predict` wraps it for
concrete labels and refuses labels outside the training box unless asked to extrapolate.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ..errors import LabelRangeError
from ..labels import LabelSpace
from .networks import _array, build_network, network_config, scale_labels

__all__ = ["Emulator", "Prediction"]


class Prediction(NamedTuple):
    """What :meth:`Emulator.predict` returns with ``extrapolate=True``.

    Attributes:
        flux: ``(..., n_pix)`` emulated normalised flux.
        outside: ``(...)`` bool, True where the labels lie outside the training box (the
            flux there is an extrapolation and not to be trusted).
    """

    flux: jax.Array
    outside: jax.Array


@dataclasses.dataclass(frozen=True, eq=False)
class Emulator:
    """A trained spectrum emulator.

    Attributes:
        arch: architecture name (``"payne"`` or ``"smooth"``).
        config: the architecture's settings (e.g. ``{"hidden": 300}``).
        label_space: names, units and training box of the labels.
        wave: ``(n_pix,)`` vacuum wavelength [Å] of the emulated pixels.
        graphdef: the network's Flax NNX graph definition (its structure, no weights).
        params: the network's weights, an ``nnx.State`` pytree (float32).
        resolution: resolving power R of the emulated spectra (None: native synthesis).
        pixel_error: ``(n_pix,)`` RMS of (emulator − synthesizer) normalised flux on held-out
            spectra, or None. Add it in quadrature to the noise of a fit.
        fixed_labels: labels that were held fixed in the training grid, e.g. ``{"vmic": 1.0}``.
        provenance: training-grid provenance and the training record (JSON-able dict).
    """

    arch: str
    config: dict[str, int]
    label_space: LabelSpace
    wave: np.ndarray
    graphdef: Any
    params: Any
    resolution: float | None = None
    pixel_error: np.ndarray | None = None
    fixed_labels: dict[str, float] = dataclasses.field(default_factory=dict)
    provenance: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        wave = np.asarray(self.wave, dtype=np.float64)
        if wave.ndim != 1 or wave.size < 2 or not np.all(np.diff(wave) > 0):
            raise ValueError("Emulator wave must be 1-D and strictly increasing [Å]")
        object.__setattr__(self, "wave", wave)
        if self.pixel_error is not None:
            err = np.asarray(self.pixel_error, dtype=np.float32)
            if err.shape != wave.shape:
                raise ValueError(
                    f"pixel_error must have shape {wave.shape} like wave, got {err.shape}"
                )
            object.__setattr__(self, "pixel_error", err)
        object.__setattr__(self, "_predict", jax.jit(self.apply))

    # ---- construction -----------------------------------------------------------------

    @classmethod
    def initialise(
        cls,
        arch: str,
        label_space: LabelSpace,
        wave: Any,
        *,
        config: dict[str, Any] | None = None,
        flux_mean: Any = None,
        seed: int = 0,
        **fields: Any,
    ) -> Emulator:
        """A freshly initialised (untrained) emulator of architecture ``arch``.

        Args:
            arch: ``"payne"`` or ``"smooth"``.
            label_space: the labels and their training box.
            wave: ``(n_pix,)`` vacuum wavelength [Å].
            config: architecture settings overriding the defaults.
            flux_mean: ``(n_pix,)`` initial output bias (the mean training spectrum).
            seed: seed of the weight initialisation.
            **fields: other :class:`Emulator` fields (``resolution``, ``provenance``, ...).
        """
        cfg = network_config(arch, config)
        wave = np.asarray(wave, dtype=np.float64)
        net = build_network(
            arch, label_space.n_labels, wave.size, cfg, flux_mean=flux_mean, seed=seed
        )
        graphdef, params = nnx.split(net)
        return cls(arch, cfg, label_space, wave, graphdef, params, **fields)

    def with_params(self, params: Any, **changes: Any) -> Emulator:
        """A copy with other weights (and optionally other fields)."""
        return dataclasses.replace(self, params=params, **changes)

    # ---- description ------------------------------------------------------------------

    @property
    def n_pix(self) -> int:
        """Number of emulated pixels."""
        return int(self.wave.size)

    @property
    def label_names(self) -> tuple[str, ...]:
        """Label names, in the order of the last axis of a label array."""
        return self.label_space.names

    @property
    def n_params(self) -> int:
        """Number of trained weights."""
        return int(sum(np.size(x) for x in jax.tree.leaves(self.params)))

    def flops_per_spectrum(self) -> int:
        """Multiply-adds × 2 of one forward pass through the network's dense layers."""
        return int(
            sum(
                2 * np.size(_array(x))
                for path, x in nnx.to_flat_state(self.params)
                if path[-1] == "kernel"
            )
        )

    def __repr__(self) -> str:
        r = f"R={self.resolution:g}" if self.resolution else "native resolution"
        return (
            f"Emulator({self.arch} {self.config}, {self.n_params:,} weights, "
            f"{self.n_pix} pixels {self.wave[0]:.1f}–{self.wave[-1]:.1f} Å, {r}, "
            f"labels {list(self.label_names)})"
        )

    # ---- evaluation -------------------------------------------------------------------

    def apply(self, params: Any, labels: Any) -> jax.Array:
        """The emulator as a pure function of its weights: no checks, traceable.

        Args:
            params: weights (:attr:`params`, or a pytree of the same structure).
            labels: ``(..., n_labels)`` labels in the units of :attr:`label_space`.

        Returns:
            ``(..., n_pix)`` normalised flux in the dtype of the weights (float32 as
            trained; cast the weights to float64 for float64 evaluation).
        """
        net = nnx.merge(self.graphdef, params)
        dtype = jax.tree.leaves(params)[0].dtype
        x = scale_labels(labels, self.label_space.lower, self.label_space.upper, dtype)
        return net(x)

    def flux_function(self) -> Any:
        """``labels -> flux`` with the weights bound: hand it to ``vmap``, ``jacfwd``, numpyro."""
        params = self.params
        return lambda labels: self.apply(params, labels)

    def _checked(self, labels: Any) -> jax.Array:
        x = jnp.asarray(labels)
        if not jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(jnp.float32)
        k = self.label_space.n_labels
        if x.ndim == 0 or x.shape[-1] != k:
            raise ValueError(
                f"expected labels with a last axis of {k} ({', '.join(self.label_names)}), "
                f"got shape {tuple(x.shape)}"
            )
        if not isinstance(x, jax.core.Tracer) and not bool(jnp.all(jnp.isfinite(x))):
            raise ValueError("labels contain NaN or inf; every label must be finite")
        return x

    def outside(self, labels: Any) -> jax.Array:
        """``(...)`` bool: True where labels lie outside the training box."""
        return ~self.label_space.contains(self._checked(labels))

    def predict(self, labels: Any, *, extrapolate: bool = False) -> Any:
        """Emulated normalised flux for concrete labels (jit-compiled once per shape).

        Args:
            labels: ``(n_labels,)`` or ``(n, n_labels)`` labels in the units of
                :attr:`label_space`.
            extrapolate: if False (default), labels outside the training box raise
                :class:`~jaxspec.LabelRangeError`. If True, nothing is refused and a
                :class:`Prediction` ``(flux, outside)`` is returned, ``outside`` flagging
                the extrapolated rows.

        Returns:
            ``(..., n_pix)`` flux, or a :class:`Prediction` when ``extrapolate=True``.

        Raises:
            ValueError: wrong label shape, NaN or inf labels.
            LabelRangeError: labels outside the training box (without ``extrapolate``).
        """
        x = self._checked(labels)
        if extrapolate:
            return Prediction(self._predict(self.params, x), self.outside(x))
        try:
            self.label_space.check(x, what="emulator labels")
        except LabelRangeError as exc:
            raise LabelRangeError(
                f"{exc}. The emulator was trained only inside this box; pass "
                "extrapolate=True to evaluate it anyway (rows outside are flagged)"
            ) from None
        return self._predict(self.params, x)

    def __call__(self, labels: Any) -> Any:
        """The emulated spectrum (or batch) as a :class:`~jaxspec.Spectrum` (box-checked)."""
        from ..spectrum import Spectrum

        flux = self.predict(labels)
        return Spectrum(
            self.wave, np.asarray(flux, dtype=np.float64), source=f"emulator:{self.arch}"
        )

    def jacobian(self, labels: Any) -> jax.Array:
        """``d flux / d labels`` for one star or a batch: ``(..., n_pix, n_labels)``."""
        x = self._checked(labels)
        one = jax.jacfwd(self.flux_function())
        fn = one
        for _ in range(x.ndim - 1):
            fn = jax.vmap(fn)
        return fn(x)
