"""A deep ensemble of heteroscedastic 1-D CNNs that read stellar labels off spectra.

The network is StarNet's (Fabbro et al. 2018, MNRAS 475, 2978): two narrow convolutions, a
max-pool and two dense layers (:class:`jaxspec._nn.ConvTrunk`), reading the two-channel input
of :func:`jaxspec.augment.model_inputs` (flux − 1 and the mask). As in astroNN (Leung & Bovy
2019, MNRAS 483, 3255) its head predicts, per label, a Gaussian mean μ and a standard
deviation σ (the aleatoric uncertainty), trained by a Gaussian negative log likelihood on
grid spectra augmented afresh at every step (noise, RV, resolution, continuum, masked
chunks; :mod:`jaxspec.augment`).

A deep ensemble (Lakshminarayanan, Pritzel & Blundell 2017, NeurIPS) of M such networks,
trained from different random seeds, adds the epistemic uncertainty. For one spectrum the
ensemble's prediction is the equally weighted mixture of the members' Gaussians:

* label = mean of the member means μ_m;
* aleatoric variance = mean of the member variances σ_m²;
* epistemic variance = variance (ddof = 0) of the member means;
* total σ = sqrt(aleatoric + epistemic) (the mixture's variance).

Labels enter the network scaled to the training box, ``to_unit(x) − 0.5`` ∈ [−0.5, 0.5];
everything returned is in physical units.

Training (:meth:`SpectrumCNN.train`, :meth:`SpectrumCNN.fit_arrays`) lives in
:mod:`jaxspec.regress.cnn_training`, the model file in :mod:`jaxspec.regress.cnn_io`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from .._nn import TRUNK_DEFAULTS, ConvTrunk
from ..augment import AugmentConfig, model_inputs
from ..labels import LabelSpace

if TYPE_CHECKING:
    from .._train import TrainConfig

__all__ = [
    "SpectrumCNN",
    "CNNResult",
    "LabelNetwork",
    "gaussian_nll",
    "trunk_config",
    "BETA",
    "SIGMA_FLOOR",
]

#: β of the β-NLL training loss (Seitzer et al. 2022); see :func:`gaussian_nll`.
BETA = 0.5
#: Smallest σ the network can predict, in scaled label units (1e-3 of the training box).
SIGMA_FLOOR = 1e-3
#: σ of a freshly initialised head, in scaled label units.
_SIGMA_INIT = 0.1

# Traces of the jitted ensemble prediction (for recompilation tests).
_TRACES = {"moments": 0}


def trunk_config(trunk: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The trunk settings: :data:`jaxspec._nn.TRUNK_DEFAULTS` updated by ``trunk``.

    Raises:
        ValueError: an unknown key.
    """
    trunk = dict(trunk or {})
    unknown = sorted(set(trunk) - set(TRUNK_DEFAULTS))
    if unknown:
        raise ValueError(
            f"unknown trunk setting(s) {unknown}; the trunk takes {sorted(TRUNK_DEFAULTS)}"
        )
    cfg = {**TRUNK_DEFAULTS, **trunk}
    return {
        "filters": tuple(int(v) for v in cfg["filters"]),
        "kernel_size": int(cfg["kernel_size"]),
        "pool": int(cfg["pool"]),
        "hidden": tuple(int(v) for v in cfg["hidden"]),
    }


class LabelNetwork(nnx.Module):
    """:class:`~jaxspec._nn.ConvTrunk` → Linear head giving a mean and a σ per label.

    Args:
        n_pix: pixels per spectrum.
        n_labels: labels L.
        trunk: trunk settings (see :func:`trunk_config`).
        rngs: Flax random streams (``params``).

    Call: ``(batch, n_pix, 2)`` inputs → ``(mean, sigma)``, each ``(batch, L)`` in scaled
    label units; ``sigma = SIGMA_FLOOR + softplus(raw)`` is positive and differentiable.
    """

    def __init__(
        self,
        n_pix: int,
        n_labels: int,
        *,
        trunk: Mapping[str, Any] | None = None,
        rngs: nnx.Rngs,
    ) -> None:
        self.trunk = ConvTrunk(n_pix, **trunk_config(trunk), rngs=rngs)
        self.n_labels = int(n_labels)
        raw0 = math.log(math.expm1(_SIGMA_INIT - SIGMA_FLOOR))  # softplus⁻¹

        def bias_init(key: Any, shape: Any, dtype: Any = jnp.float32) -> jax.Array:
            return jnp.concatenate([jnp.zeros(n_labels), jnp.full(n_labels, raw0)]).astype(dtype)

        self.head = nnx.Linear(
            self.trunk.n_features, 2 * self.n_labels, bias_init=bias_init, rngs=rngs
        )

    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        out = self.head(self.trunk(x))
        mean, raw = out[..., : self.n_labels], out[..., self.n_labels :]
        return mean, SIGMA_FLOOR + jax.nn.softplus(raw)


def gaussian_nll(mean: Any, sigma: Any, y: Any, beta: Any = 0.0) -> jax.Array:
    """Gaussian negative log likelihood per element, optionally β-weighted.

    ``nll = ½ log 2π + log σ + ½ (y − μ)² / σ²``, multiplied by ``stop_gradient(σ²)^β``.

    β = 0 is the plain NLL, a proper scoring rule: it is what validation (early stopping,
    the best epoch) uses. Training uses β = :data:`BETA` = 0.5, the β-NLL of Seitzer et al.
    (2022, ICLR, "On the pitfalls of heteroscedastic uncertainty estimation with probabilistic
    neural networks"): with the plain NLL the gradient on μ is scaled by 1/σ², so spectra
    the network fits badly (large σ) stop teaching the mean and the labels converge slowly;
    the σ^(2β) weight makes that 1/σ and leaves the optimum of σ unchanged (σ² → residual²).
    The β-NLL value is no score (it shrinks with σ), hence plain NLL for validation.

    Args:
        mean, sigma: ``(..., L)`` predicted mean and σ > 0.
        y: ``(..., L)`` targets.
        beta: scalar or broadcastable array, ≥ 0.

    Returns:
        ``(..., L)`` per-element loss.
    """
    var = sigma**2
    nll = 0.5 * math.log(2 * math.pi) + jnp.log(sigma) + 0.5 * (y - mean) ** 2 / var
    return nll * jax.lax.stop_gradient(var) ** beta


def ensemble_loss(model: LabelNetwork, inputs: jax.Array, targets: Mapping[str, Any]) -> jax.Array:
    """Mean (β-)NLL of a batch; ``targets = {"y": (b, L), "beta": (b,)}`` (see
    :func:`gaussian_nll`: β = 0.5 in training, 0 for validation)."""
    mean, sigma = model(inputs)
    beta = targets["beta"].astype(mean.dtype)[:, None]
    return jnp.mean(gaussian_nll(mean, sigma, targets["y"].astype(mean.dtype), beta))


@functools.partial(jax.jit, static_argnums=0)
def _moments(
    graphdef: Any, stacked: Any, flux: jax.Array, mask: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Ensemble mean, aleatoric and epistemic variance ``(b, L)`` in scaled units."""
    _TRACES["moments"] += 1
    inputs = model_inputs(flux, mask)
    means, sigmas = jax.vmap(lambda p: nnx.merge(graphdef, p)(inputs))(stacked)
    return jnp.mean(means, 0), jnp.mean(sigmas**2, 0), jnp.var(means, 0)


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=["labels", "errors", "aleatoric", "epistemic", "outside"],
    meta_fields=["label_space"],
)
@dataclasses.dataclass(frozen=True)
class CNNResult:
    """Labels predicted by a :class:`SpectrumCNN`, in the units of ``label_space``.

    Attributes:
        labels: ``(n, L)`` (or ``(L,)`` for one spectrum) ensemble-mean labels.
        errors: total σ = sqrt(aleatoric² + epistemic²), same shape.
        aleatoric: σ from the members' predicted variances (noise, degeneracies).
        epistemic: σ from the spread of the member means (model uncertainty).
        outside: ``(n,)`` (or scalar) bool, True where a predicted label lies outside the
            training box: such labels are extrapolations (reported, never clipped).
        label_space: the model's labels (names, units, training box).
    """

    labels: np.ndarray
    errors: np.ndarray
    aleatoric: np.ndarray
    epistemic: np.ndarray
    outside: np.ndarray
    label_space: LabelSpace

    def to_table(self) -> Any:
        """An astropy Table, one row per star: ``teff``, ``teff_err``,
        ``teff_err_aleatoric``, ``teff_err_epistemic``, ... (with units) and ``outside``."""
        from astropy.table import Table

        cols, names, units = [], [], []
        lab = np.atleast_2d(self.labels)
        parts = [np.atleast_2d(a) for a in (self.errors, self.aleatoric, self.epistemic)]
        for j, (name, unit) in enumerate(
            zip(self.label_space.names, self.label_space.units, strict=True)
        ):
            for suffix, arr in zip(
                ("", "_err", "_err_aleatoric", "_err_epistemic"), (lab, *parts), strict=True
            ):
                cols.append(arr[:, j])
                names.append(name + suffix)
                units.append(unit or None)
        cols.append(np.atleast_1d(self.outside))
        names.append("outside")
        units.append(None)
        return Table(cols, names=names, units=units)


@dataclasses.dataclass(frozen=True, eq=False)
class SpectrumCNN:
    """A trained deep ensemble of heteroscedastic CNN label regressors.

    Make one with :meth:`train` (grid files) or :meth:`fit_arrays` (arrays), read one with
    :meth:`load`. Predict with :meth:`predict` (flux on :attr:`wave`) or
    :meth:`predict_spectra` (any :class:`~jaxspec.Spectrum`, resampled first).

    Attributes:
        label_space: the labels and their training box.
        wave: ``(n_pix,)`` float64 vacuum wavelength [Å] of the training spectra.
        resolution: resolving power R of the training spectra (0: unknown).
        trunk: trunk settings (:func:`trunk_config`).
        graphdef: the members' shared Flax NNX graph definition.
        members: one NNX weight state per ensemble member.
        augment_config: the training augmentation.
        fixed_labels: ``{name: value}`` labels held fixed in the training grids.
        training_record: the training record (split sizes, seeds, per-member epochs, best
            validation NLL and seconds, optimiser settings, grid provenance).
    """

    label_space: LabelSpace
    wave: np.ndarray
    resolution: float
    trunk: dict[str, Any]
    graphdef: Any
    members: tuple[Any, ...]
    augment_config: AugmentConfig
    fixed_labels: dict[str, float] = dataclasses.field(default_factory=dict)
    training_record: dict[str, Any] = dataclasses.field(default_factory=dict)

    # ---- construction -------------------------------------------------------------------

    @classmethod
    def train(
        cls,
        grids: str | os.PathLike | Sequence[str | os.PathLike],
        *,
        labels: Sequence[str] | None = None,
        n_members: int = 3,
        validation_fraction: float = 0.1,
        augment_config: AugmentConfig | None = None,
        train_config: TrainConfig | None = None,
        trunk: Mapping[str, Any] | None = None,
        seed: int = 0,
        checkpoint_dir: str | os.PathLike | None = None,
        progress: bool = True,
    ) -> SpectrumCNN:
        """Train an ensemble on grid files from ``jaxspec synth-grid``.

        Args:
            grids: one or more grid files with identical wavelengths and label names. Rows
                with NaN or inf flux are dropped (and recorded).
            labels: label names to learn (default: every label free in the grids; labels
                with one value throughout, e.g. ``vmic = 1``, are fixed and dropped).
            n_members: ensemble members M.
            validation_fraction: fraction of spectra held out for validation (seeded).
            augment_config: augmentation (default :class:`~jaxspec.augment.AugmentConfig`).
            train_config: :class:`~jaxspec._train.TrainConfig` (default settings); its seed
                is mixed with ``seed`` and the member index.
            trunk: trunk settings overriding :data:`jaxspec._nn.TRUNK_DEFAULTS`.
            seed: seed of the split, the initial weights and the training streams.
            checkpoint_dir: folder for resumable training: member ``i`` checkpoints to
                ``member_{i}.ckpt.h5`` after every epoch and is saved as ``member_{i}.h5``
                when done; a rerun of the same call skips finished members and resumes the
                unfinished one.
            progress: show progress bars.

        Returns:
            the trained :class:`SpectrumCNN`.
        """
        from .cnn_training import read_training_grids

        data = read_training_grids(grids, labels)
        return cls.fit_arrays(
            data.flux,
            data.labels,
            data.wave,
            data.label_space,
            data.resolution,
            n_members=n_members,
            validation_fraction=validation_fraction,
            augment_config=augment_config,
            train_config=train_config,
            trunk=trunk,
            seed=seed,
            checkpoint_dir=checkpoint_dir,
            progress=progress,
            fixed_labels=data.fixed_labels,
            provenance=data.provenance,
        )

    @classmethod
    def fit_arrays(
        cls,
        flux: Any,
        labels: Any,
        wave: Any,
        label_space: LabelSpace,
        resolution: float | None = None,
        *,
        n_members: int = 3,
        validation_fraction: float = 0.1,
        augment_config: AugmentConfig | None = None,
        train_config: TrainConfig | None = None,
        trunk: Mapping[str, Any] | None = None,
        seed: int = 0,
        checkpoint_dir: str | os.PathLike | None = None,
        progress: bool = True,
        fixed_labels: Mapping[str, float] | None = None,
        provenance: Mapping[str, Any] | None = None,
    ) -> SpectrumCNN:
        """Train an ensemble on arrays.

        Args:
            flux: ``(n, n_pix)`` noise-free continuum-normalised flux, finite.
            labels: ``(n, L)`` labels in the units and order of ``label_space``, inside its box.
            wave: ``(n_pix,)`` vacuum wavelength [Å], strictly increasing.
            label_space: the labels and the box they are scaled to.
            resolution: resolving power R of ``flux`` (None or 0: no resolution
                augmentation).
            fixed_labels: labels fixed in the training data (recorded only).
            provenance: recorded in the training record (e.g. the grids').
            n_members, validation_fraction, augment_config, train_config, trunk, seed,
            checkpoint_dir, progress: as in :meth:`train`.

        Returns:
            the trained :class:`SpectrumCNN`.
        """
        from .cnn_training import fit_ensemble

        fit = fit_ensemble(
            flux,
            labels,
            wave,
            label_space,
            resolution,
            n_members=n_members,
            validation_fraction=validation_fraction,
            augment_config=augment_config,
            train_config=train_config,
            trunk=trunk,
            seed=seed,
            checkpoint_dir=checkpoint_dir,
            progress=progress,
            provenance=provenance,
        )
        return cls(
            label_space=label_space,
            wave=np.asarray(wave, dtype=np.float64),
            resolution=float(resolution or 0.0),
            trunk=trunk_config(trunk),
            graphdef=fit.graphdef,
            members=tuple(fit.members),
            augment_config=fit.augment_config,
            fixed_labels=dict(fixed_labels or {}),
            training_record=fit.record,
        )

    # ---- description --------------------------------------------------------------------

    @property
    def n_pix(self) -> int:
        """Pixels per spectrum."""
        return int(self.wave.size)

    @property
    def n_members(self) -> int:
        """Ensemble members M."""
        return len(self.members)

    @property
    def label_names(self) -> tuple[str, ...]:
        """Label names, in output order."""
        return self.label_space.names

    @functools.cached_property
    def _stacked(self) -> Any:
        """Member weights stacked along a leading axis ``(M, ...)``."""
        return jax.tree.map(lambda *a: jnp.stack(a), *self.members)

    def __repr__(self) -> str:
        return (
            f"SpectrumCNN({self.n_members} members, labels {list(self.label_names)}, "
            f"{self.n_pix} pixels {self.wave[0]:.2f}–{self.wave[-1]:.2f} Å, "
            f"R={self.resolution:g})"
        )

    # ---- prediction ---------------------------------------------------------------------

    def _check_flux(self, flux: Any, mask: Any) -> tuple[np.ndarray, np.ndarray, bool]:
        if isinstance(flux, jax.core.Tracer) or isinstance(mask, jax.core.Tracer):
            raise TypeError(
                "SpectrumCNN.predict takes concrete arrays; inside jit, vmap or grad use "
                "SpectrumCNN.flux_function()"
            )
        x = np.asarray(flux, dtype=np.float32)
        if x.ndim not in (1, 2):
            raise ValueError(f"expected flux (n_pix,) or (n, n_pix); got shape {x.shape}")
        if x.shape[-1] != self.n_pix:
            raise ValueError(
                f"expected flux with {self.n_pix} pixels to match model.wave "
                f"({self.wave[0]:.2f}–{self.wave[-1]:.2f} Å), got {x.shape[-1]}; resample "
                "onto model.wave first (jaxspec.preprocess.resample(spectrum, model.wave)) "
                "or use model.predict_spectra"
            )
        single = x.ndim == 1
        x = x.reshape(-1, self.n_pix)
        if x.shape[0] == 0:
            raise ValueError("no spectra to predict (flux has 0 rows)")
        if mask is None:
            m = np.zeros(x.shape, bool)
        else:
            m = np.asarray(mask)
            if m.shape != np.shape(flux):
                raise ValueError(
                    f"mask must have the shape of flux {np.shape(flux)}; got {m.shape}"
                )
            m = m.astype(bool).reshape(x.shape)
        m = m | ~np.isfinite(x)
        empty = np.flatnonzero(np.all(m, axis=1))
        if empty.size:
            which = "the spectrum" if single else f"spectrum {int(empty[0])}"
            more = f" (and {empty.size - 1} more)" if empty.size > 1 else ""
            raise ValueError(
                f"{which}{more} has every pixel masked or non-finite; there is nothing to "
                "predict from. Drop it from the batch"
            )
        return np.where(m, np.float32(1.0), x), m, single

    def predict(self, flux: Any, mask: Any = None, *, batch_size: int = 256) -> CNNResult:
        """Labels and uncertainties of spectra on the model's wavelength grid.

        Spectra go through one jitted function in batches of ``batch_size`` (fewer spectra:
        the next power of two), the last batch padded, so any number of stars compiles at
        most once per batch size.

        Args:
            flux: ``(n, n_pix)`` or ``(n_pix,)`` continuum-normalised flux on :attr:`wave`
                (rest frame). NaN or inf pixels are treated as masked.
            mask: bool like ``flux``, True for bad pixels (default: none).
            batch_size: spectra per compiled call.

        Returns:
            :class:`CNNResult` in physical units (``(L,)`` arrays for one spectrum).

        Raises:
            ValueError: wrong pixel count (resample onto :attr:`wave` first), a spectrum
                with every pixel masked (its index is named), bad ``mask`` shape.
            TypeError: traced input (use :meth:`flux_function` inside transformations).
        """
        if isinstance(batch_size, bool) or int(batch_size) < 1:
            raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
        x, m, single = self._check_flux(flux, mask)
        n = x.shape[0]
        size = min(int(batch_size), 1 << (n - 1).bit_length())
        parts = []
        for i in range(0, n, size):
            xb, mb = x[i : i + size], m[i : i + size]
            k = xb.shape[0]
            if k < size:
                xb = np.concatenate([xb, np.ones((size - k, self.n_pix), np.float32)])
                mb = np.concatenate([mb, np.zeros((size - k, self.n_pix), bool)])
            out = _moments(self.graphdef, self._stacked, jnp.asarray(xb), jnp.asarray(mb))
            parts.append([np.asarray(a, dtype=np.float64)[:k] for a in out])
        mean, alea, epi = (np.concatenate(p) for p in zip(*parts, strict=True))
        lower = np.asarray(self.label_space.lower)
        upper = np.asarray(self.label_space.upper)
        scale = upper - lower
        labels = lower + (mean + 0.5) * scale
        outside = ~np.all((labels >= lower) & (labels <= upper), axis=-1)
        res = (
            labels,
            np.sqrt(alea + epi) * scale,
            np.sqrt(alea) * scale,
            np.sqrt(epi) * scale,
            outside,
        )
        if single:
            res = tuple(a[0] for a in res)
        return CNNResult(*res, label_space=self.label_space)

    def predict_spectra(self, spectra: Any, *, batch_size: int = 256) -> CNNResult:
        """Labels of :class:`~jaxspec.Spectrum` objects (rest frame, continuum-normalised).

        Spectra are resampled onto :attr:`wave` with the flux-conserving
        :func:`jaxspec.preprocess.resample` (skipped when already on it); their mask, and
        pixels with ``ivar = 0`` or outside their wavelength range, become masked.

        Args:
            spectra: one spectrum or a 1-D batch.
            batch_size: as in :meth:`predict`.
        """
        from ..preprocess import resample
        from ..spectrum import Spectrum

        if not isinstance(spectra, Spectrum):
            raise TypeError(
                f"predict_spectra takes a jaxspec.Spectrum; got {type(spectra).__name__} "
                "(for plain arrays on model.wave use predict)"
            )
        if len(spectra.batch_shape) > 1:
            raise ValueError(
                f"expected one spectrum or a 1-D batch; got batch shape {spectra.batch_shape}"
            )
        wave = np.asarray(spectra.wave, dtype=np.float64)
        same = wave.shape[-1] == self.n_pix and np.allclose(wave, self.wave, rtol=1e-10, atol=0)
        spec = spectra if same else resample(spectra, self.wave)
        return self.predict(np.asarray(spec.flux), np.asarray(spec.mask), batch_size=batch_size)

    def flux_function(
        self, member: int | None = None, mask: Any = None
    ) -> Callable[[jax.Array], jax.Array]:
        """A pure JAX function ``f(flux (n_pix,)) -> (L,)`` of label means [physical units].

        For saliency maps (:func:`jaxspec.explain.saliency`), ``jacfwd``, ``vmap``. Computed
        in float32, with the weights bound as constants.

        Args:
            member: one member's mean (0 … M−1), or None for the ensemble mean.
            mask: ``(n_pix,)`` bool closed into ``f`` (True = masked; default none).
        """
        if member is None:
            params = self._stacked
        else:
            if isinstance(member, bool) or not 0 <= int(member) < self.n_members:
                raise ValueError(f"member must be in 0…{self.n_members - 1} or None; got {member}")
            params = self.members[int(member)]
        m = np.zeros(self.n_pix, bool) if mask is None else np.asarray(mask, bool)
        if m.shape != (self.n_pix,):
            raise ValueError(f"mask must be ({self.n_pix},); got shape {m.shape}")
        graphdef = self.graphdef
        lower = np.asarray(self.label_space.lower, np.float32)
        scale = np.asarray(self.label_space.upper, np.float32) - lower

        def f(flux: jax.Array) -> jax.Array:
            inputs = model_inputs(jnp.asarray(flux, jnp.float32)[None], m[None])
            if member is None:
                means = jax.vmap(lambda p: nnx.merge(graphdef, p)(inputs)[0])(params)
                mu = jnp.mean(means, axis=0)[0]
            else:
                mu = nnx.merge(graphdef, params)(inputs)[0][0]
            return lower + (mu + 0.5) * scale

        return f

    # ---- files --------------------------------------------------------------------------

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the model to an HDF5 model file (see :mod:`jaxspec.regress.cnn_io`)."""
        from .cnn_io import save_cnn

        return save_cnn(self, path, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike) -> SpectrumCNN:
        """Read a model written by :meth:`save`.

        Raises:
            FileNotFoundError: no such file.
            FileFormatError: not a CNN regressor file, another version, truncated or
                corrupted, or weights that do not fit the stored settings.
        """
        from .cnn_io import load_cnn

        return load_cnn(path)
