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
        pixel_error: ``(n_pix,)`` RMS of (emulator − synthesizer) normalised flux on the
            validation spectra (never used for weight updates; used to pick the stopping
            step), or None. Add it in quadrature to the noise of a fit.
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

    def crop(self, wave_min: float, wave_max: float) -> Emulator:
        """The same emulator restricted to the pixels with ``wave_min <= λ <= wave_max`` [Å].

        Only the output layer's columns are kept, so predictions on those pixels are exactly
        the full model's, at a fraction of the cost (fits of one window, fast benchmarks).

        Raises:
            ValueError: fewer than two pixels in the range.
        """
        idx = np.flatnonzero((self.wave >= wave_min) & (self.wave <= wave_max))
        if idx.size < 2:
            raise ValueError(
                f"the range {wave_min}–{wave_max} Å holds {idx.size} of the emulator's pixels "
                f"({self.wave[0]:.2f}–{self.wave[-1]:.2f} Å); give a range with at least two"
            )
        sl = slice(int(idx[0]), int(idx[-1]) + 1)
        k = self.label_space.n_labels
        # Only the structure is needed: build it abstractly, without initialising weights.
        net = nnx.eval_shape(lambda: build_network(self.arch, k, idx.size, self.config))
        graphdef, _ = nnx.split(net)

        def cut(path: Any, leaf: Any) -> Any:
            names = [getattr(k, "key", getattr(k, "name", None)) for k in path]
            return leaf[..., sl] if "output" in names else leaf

        params = jax.tree_util.tree_map_with_path(cut, self.params)
        return dataclasses.replace(
            self,
            wave=self.wave[sl],
            graphdef=graphdef,
            params=params,
            pixel_error=None if self.pixel_error is None else self.pixel_error[sl],
            provenance={**self.provenance, "cropped_to": [float(wave_min), float(wave_max)]},
        )

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

    def synthesizer(self) -> Any:
        """The physics :class:`~jaxspec.synth.Synthesizer` the training grid was made with.

        Rebuilt from the synthesizer settings in :attr:`provenance` (wavelength range,
        resolving power, sampling, depth grid, EOS, strength cut, label bounds), so its
        wavelengths are the emulator's; for a :meth:`crop`, over the window only. Enable
        float64 first (``jax.config.update("jax_enable_x64", True)``). Its labels are the
        full synthesis labels: the emulator's plus :attr:`fixed_labels`.

        Raises:
            ValueError: the provenance holds no synthesizer settings, or the rebuilt
                wavelengths differ from the emulator's.
        """
        from ..synth import Synthesizer

        cfg = self.provenance.get("synthesizer") or {}
        if "wave_min" not in cfg:
            raise ValueError("this emulator's provenance records no synthesizer settings")
        wave_min, wave_max = cfg["wave_min"], cfg["wave_max"]
        if "cropped_to" in self.provenance:
            # A window (crop): the same log-linear grid, from the first to the last kept
            # pixel (half an output step more, so the last pixel is included).
            sampling = cfg.get("sampling_per_fwhm") or 3.0
            step = 1.0 / (cfg["resolution"] * sampling) if cfg.get("resolution") else 0.0
            wave_min, wave_max = float(self.wave[0]), float(self.wave[-1] * np.exp(0.5 * step))
        log_tau = cfg.get("log_tau_ross")
        synth = Synthesizer(
            wave_min,
            wave_max,
            resolution=cfg.get("resolution"),
            step_kms=cfg.get("step_kms", 1.0),
            sampling=cfg.get("sampling_per_fwhm") or 3.0,
            cut=cfg.get("strength_cut", 3e-4),
            bounds={k: tuple(v) for k, v in cfg.get("bounds", {}).items()} or None,
            eos=cfg.get("eos", "solve"),
            hydrogen=cfg.get("hydrogen_lines", True),
            log_tau=None
            if log_tau is None
            else np.round(np.linspace(*log_tau[:2], int(log_tau[2])), 6),
        )
        if synth.wave.shape != self.wave.shape or not np.allclose(
            np.asarray(synth.wave), self.wave, rtol=1e-12, atol=0
        ):
            raise ValueError(
                "the rebuilt synthesizer's wavelengths differ from the emulator's; the "
                "provenance does not describe the training grid"
            )
        return synth

    def synthesis_labels(self, labels: Any) -> np.ndarray:
        """``(..., 5)`` synthesizer labels: ``labels`` plus :attr:`fixed_labels`, in order."""
        from ..synth.synthesizer import LABEL_NAMES

        x = self._concrete(labels)
        columns = []
        for name in LABEL_NAMES:
            if name in self.label_names:
                columns.append(x[..., self.label_names.index(name)])
            elif name in self.fixed_labels:
                columns.append(np.full(x.shape[:-1], self.fixed_labels[name]))
            else:
                raise ValueError(f"label {name!r} is neither emulated nor fixed in this emulator")
        return np.stack(columns, axis=-1)

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
        """``labels -> flux`` with the weights bound: hand it to ``vmap``, ``jacfwd``, numpyro.

        Under ``jit`` the bound weights become constants of the compiled program; for large
        models jitted many times, pass them as an argument to :meth:`apply` instead.
        """
        params = self.params
        return lambda labels: self.apply(params, labels)

    def _concrete(self, labels: Any) -> np.ndarray:
        """Concrete labels as float64 (the precision of the bounds), shape- and NaN-checked."""
        if isinstance(labels, jax.core.Tracer):
            raise TypeError(
                "Emulator.predict/jacobian/outside take concrete labels; inside jit, vmap or "
                "grad use Emulator.apply(params, labels) or Emulator.flux_function()"
            )
        x = np.asarray(labels, dtype=np.float64)
        k = self.label_space.n_labels
        if x.ndim == 0 or x.shape[-1] != k:
            raise ValueError(
                f"expected labels with a last axis of {k} ({', '.join(self.label_names)}), "
                f"got shape {x.shape}"
            )
        if not np.all(np.isfinite(x)):
            raise ValueError("labels contain NaN or inf; every label must be finite")
        return x

    def _in_box(self, x: np.ndarray, extrapolate: bool) -> None:
        if extrapolate:
            return
        try:
            self.label_space.check(x, what="emulator labels")
        except LabelRangeError as exc:
            raise LabelRangeError(
                f"{str(exc).rstrip('.')}; the emulator was trained only inside this box, pass "
                "extrapolate=True to evaluate it anyway (rows outside are flagged)"
            ) from None

    def outside(self, labels: Any) -> np.ndarray:
        """``(...)`` bool: True where labels lie outside the training box."""
        x = self._concrete(labels)
        lo, hi = np.asarray(self.label_space.lower), np.asarray(self.label_space.upper)
        return ~np.all((x >= lo) & (x <= hi), axis=-1)

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
            TypeError: traced labels (use :meth:`apply` inside transformations).
        """
        x = self._concrete(labels)
        self._in_box(x, extrapolate)
        flux = self._predict(self.params, x)
        return Prediction(flux, self.outside(x)) if extrapolate else flux

    def __call__(self, labels: Any) -> Any:
        """The emulated spectrum (or batch) as a :class:`~jaxspec.Spectrum` (box-checked)."""
        from ..spectrum import Spectrum

        flux = self.predict(labels)
        return Spectrum(
            self.wave, np.asarray(flux, dtype=np.float64), source=f"emulator:{self.arch}"
        )

    def jacobian(self, labels: Any, *, extrapolate: bool = False) -> jax.Array:
        """``d flux / d labels`` for one star or a batch: ``(..., n_pix, n_labels)``.

        Labels are checked as in :meth:`predict` (``extrapolate=True`` skips the box check).
        """
        x = self._concrete(labels)
        self._in_box(x, extrapolate)
        fn = jax.jacfwd(self.apply, argnums=1)
        for _ in range(x.ndim - 1):
            fn = jax.vmap(fn, in_axes=(None, 0))
        return fn(self.params, x)
