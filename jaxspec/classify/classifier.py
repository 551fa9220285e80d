"""MK spectral classification with a convolutional network and calibrated probabilities.

:class:`SpectralClassifier` reads a continuum-normalised spectrum on its training grid's
pixels and gives probabilities of the MK temperature class (O B A F G K M), of the numeric
subclass and of the luminosity class (I to V).

Targets
-------
Training grids carry Teff and log g; :func:`jaxspec.labels.spectral_type` turns them into a
type code (O = 0 ... M = 60 plus subclass; Pecaut & Mamajek 2013 dwarf sequence, version
2022.04.16) and a luminosity class. The code is binned into **half subclasses** (140 bins,
O0, O0.5, ... M9.5): bin ``floor(2 code + 0.5)``, the rounding of ``spectral_type``, so the
class and subclass of the true bin are exactly those ``spectral_type`` reports (integer
bins, ``bin_width=1``, would put F9.6 in G0 although ``spectral_type`` calls it F9.5), and
the half types of the calibration table (B9.5, F9.5, M0.5, ...) have their own bins. One
subclass is ~100 K for F/G stars, below what R ≈ 2000 spectra at modest S/N resolve, so the
finer bins cost little: their probabilities spread over neighbours and the expected code
(``code_mean``) and its spread (``code_std``) summarise them.

Network and loss
----------------
:class:`~jaxspec._nn.ConvTrunk` (StarNet-style) → two linear heads: ``n_bins`` type logits
and 5 luminosity logits; the loss is the sum of the two cross-entropies, optionally weighted
by inverse class frequency (``balance_classes``: by MK class for the type head, by
luminosity class for the other, clipped at 10× and normalised to mean 1). Grids sample Teff
uniformly, so B types fill most of a 7500–30000 K grid and K/F types most of a
3500–7500 K grid; unweighted, the probabilities follow the grid's class frequencies (the
prior of the training set), weighted, a flat prior over the classes present. Neither is the
prior of a real survey. Training uses :func:`jaxspec._train.train_network` on spectra
augmented afresh at every step (noise, RV, resolution, continuum, masked chunks).

Probabilities and calibration
-----------------------------
MK-class probabilities are sums of type-bin probabilities within each class, so the two are
consistent and each sums to one; the subclass is the most probable bin inside the most
probable class. After training, one temperature per head (Guo et al. 2017) is fitted on the
held-out validation spectra, augmented with a fixed key so they look like test data, and
stored with the model (:mod:`jaxspec.classify.calibration`). The type head's temperature
minimises the NLL of the MK-class probabilities (sums over bins), which are what is
reported, rather than that of the 140 fine bins.

Where the physics is too simple
-------------------------------
The classes are only as good as the synthetic spectra they are trained on:

* **M and late-K types.** The synthesizer is 1D LTE with atomic lines only: no molecular
  bands. Real M and late-K spectra are defined by TiO, VO and CaH bands, which the training
  spectra lack, so M types are separated from K only by atomic lines and the continuum, and
  real M dwarfs will look unlike anything in training. Types cooler than the grids' 3500 K
  (about M2.5) are not represented at all.
* **O and early-B types.** LTE, no winds; He I and He II lines are included, but O types need
  Teff ≳ 30000 K, outside the grids (Teff ≤ 30000 K, i.e. no earlier than about B0.5), so O
  cannot be trained and the earliest B subclasses only partly.
* **Giants.** The Teff → type calibration is a dwarf sequence applied to giants too (see
  :mod:`jaxspec.labels`): evolved G–M stars get types a few subclasses later than their MK
  types, and the luminosity classes follow the project's log g rule, not MK standards.
* **Absent classes.** A class (or subclass) absent from training gets no probability mass to
  speak of, however the spectrum looks; the training record lists the class counts.
  Probabilities are calibrated on the validation spectra, i.e. for the grid's population.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from .._modelfile import check_weights, fill_state, flat_weights, read_model_file, write_model_file
from .._nn import TRUNK_DEFAULTS, ConvTrunk
from .._train import TrainConfig, train_network
from ..augment import AugmentConfig, augment, model_inputs
from ..errors import FileFormatError
from ..labels import LUMINOSITY_CLASSES, MK_CLASSES, format_spectral_type, spectral_type
from . import calibration

__all__ = [
    "SpectralClassifier",
    "ClassificationResult",
    "ClassifierNet",
    "type_bins",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "CALIBRATION_REFERENCE",
]

FORMAT_NAME = "jaxspec.spectral_classifier"
FORMAT_VERSION = 1
#: The Teff → spectral-type calibration behind the targets (see :mod:`jaxspec.labels`).
CALIBRATION_REFERENCE = "Pecaut & Mamajek 2013, v2022.04.16"
#: Offset of the seed of the key that augments the temperature-scaling set.
_CALIBRATION_KEY_OFFSET = 104_729
_N_MK = len(MK_CLASSES)
_N_LUM = len(LUMINOSITY_CLASSES)
#: Traces of the jitted prediction function (tests check it compiles once per shape).
_TRACES: collections.Counter[str] = collections.Counter()


# --------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------


def _n_bins(bin_width: float) -> int:
    if bin_width not in (0.5, 1.0):
        raise ValueError(f"bin_width must be 0.5 or 1.0 subclass; got {bin_width}")
    return int(round(10 * _N_MK / bin_width))


def type_bins(code: Any, bin_width: float = 0.5) -> np.ndarray:
    """Type-bin index of spectral codes (O0 = 0 ... M9 = 69, or M9.5 = 139 for half bins).

    Args:
        code: spectral codes (:func:`jaxspec.labels.spectral_code`), any shape, finite.
        bin_width: 0.5 (half subclasses, 140 bins) or 1.0 (subclasses, 70 bins).

    Returns:
        int64 bin indices ``floor(code / bin_width + 0.5)``, clipped to the bins.
    """
    n = _n_bins(bin_width)
    idx = np.floor(np.asarray(code, dtype=np.float64) / bin_width + 0.5)
    return np.clip(idx, 0, n - 1).astype(np.int64)


def _class_counts(mk_index: np.ndarray, lum_index: np.ndarray) -> dict[str, dict[str, int]]:
    mk = np.bincount(mk_index, minlength=_N_MK)
    lum = np.bincount(lum_index, minlength=_N_LUM)
    return {
        "mk": {c: int(k) for c, k in zip(MK_CLASSES, mk, strict=True)},
        "luminosity": {c: int(k) for c, k in zip(LUMINOSITY_CLASSES, lum, strict=True)},
    }


def _balanced(
    index: np.ndarray, train: np.ndarray, n_classes: int, clip: float = 10.0
) -> np.ndarray:
    """Inverse-frequency weights from the training counts, clipped, mean 1 on training."""
    counts = np.bincount(index[train], minlength=n_classes).astype(np.float64)
    present = counts > 0
    per_class = np.where(present, train.size / (present.sum() * np.maximum(counts, 1)), 0.0)
    w = np.minimum(per_class[index], clip)
    return (w / np.mean(w[train])).astype(np.float32)


# --------------------------------------------------------------------------------------
# Network and pure functions
# --------------------------------------------------------------------------------------


class ClassifierNet(nnx.Module):
    """:class:`~jaxspec._nn.ConvTrunk` with a type-bin head and a luminosity-class head.

    Args:
        n_pix: pixels per spectrum.
        n_bins: type bins.
        trunk: :class:`~jaxspec._nn.ConvTrunk` settings (``filters``, ``kernel_size``,
            ``pool``, ``hidden``).
        rngs: Flax random streams.

    Call: ``(batch, n_pix, 2)`` inputs → ``((batch, n_bins), (batch, 5))`` logits.
    """

    def __init__(self, n_pix: int, n_bins: int, *, trunk: Mapping[str, Any], rngs: nnx.Rngs):
        self.trunk = ConvTrunk(n_pix, **trunk, rngs=rngs)
        self.type_head = nnx.Linear(self.trunk.n_features, n_bins, rngs=rngs)
        self.lum_head = nnx.Linear(self.trunk.n_features, _N_LUM, rngs=rngs)

    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        h = self.trunk(x)
        return self.type_head(h), self.lum_head(h)


def _loss(model: ClassifierNet, inputs: jax.Array, targets: Any) -> jax.Array:
    """Sum of the (weighted) cross-entropies of the two heads, averaged over the batch."""
    y_type, y_lum, w_type, w_lum = targets
    z_type, z_lum = model(inputs)
    ce_type = optax.softmax_cross_entropy_with_integer_labels(z_type, y_type)
    ce_lum = optax.softmax_cross_entropy_with_integer_labels(z_lum, y_lum)
    return jnp.mean(w_type * ce_type) + jnp.mean(w_lum * ce_lum)


def _probabilities(
    graphdef: Any, params: Any, flux: jax.Array, mask: jax.Array, inv_t: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(type_prob, lum_prob, mk_prob)`` of ``(b, n_pix)`` flux; ``inv_t`` = 1/T per head."""
    z_type, z_lum = nnx.merge(graphdef, params)(model_inputs(flux, mask))
    p_type = jax.nn.softmax(z_type * inv_t[0], axis=-1)
    p_lum = jax.nn.softmax(z_lum * inv_t[1], axis=-1)
    p_mk = jnp.sum(p_type.reshape(p_type.shape[0], _N_MK, -1), axis=-1)
    return p_type, p_lum, p_mk


@functools.partial(jax.jit, static_argnums=0)
def _probabilities_jit(graphdef: Any, params: Any, flux: Any, mask: Any, inv_t: Any) -> Any:
    _TRACES["probabilities"] += 1
    return _probabilities(graphdef, params, flux, mask, inv_t)


@functools.partial(jax.jit, static_argnums=0)
def _logits_jit(graphdef: Any, params: Any, flux: Any, mask: Any) -> Any:
    return nnx.merge(graphdef, params)(model_inputs(flux, mask))


def _batched(fn: Callable[..., Any], flux: np.ndarray, mask: np.ndarray, batch_size: int):
    """Apply ``fn(flux, mask)`` in chunks of ``batch_size``; the last chunk is padded to a
    power of two, so at most ``log2(batch_size) + 1`` shapes are ever compiled."""
    n = flux.shape[0]
    outs = []
    for i in range(0, n, batch_size):
        j = min(i + batch_size, n)
        size = min(batch_size, 1 << max(0, (j - i - 1).bit_length()))
        f = np.ones((size, flux.shape[1]), np.float32)
        m = np.ones((size, flux.shape[1]), bool)
        f[: j - i], m[: j - i] = flux[i:j], mask[i:j]
        out = fn(jnp.asarray(f), jnp.asarray(m))
        outs.append(jax.tree.map(lambda a, k=j - i: np.asarray(a)[:k], out))
    return jax.tree.map(lambda *a: np.concatenate(a), *outs)


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------


class ClassificationResult(NamedTuple):
    """Classes and probabilities of ``n`` spectra (the leading axis is dropped for one).

    Attributes:
        mk_prob: ``(n, 7)`` probabilities of O B A F G K M (sums of ``type_prob``).
        lum_prob: ``(n, 5)`` probabilities of luminosity classes I II III IV V.
        type_prob: ``(n, n_bins)`` probabilities of the type bins (O0, O0.5, ... M9.5).
        mk_class: ``(n,)`` most probable MK class (``"G"``).
        subclass: ``(n,)`` subclass of the most probable bin within that class (2.0).
        luminosity_class: ``(n,)`` most probable luminosity class (``"V"``).
        label: ``(n,)`` full type (``"G2V"``).
        mk_class_prob: ``(n,)`` probability of ``mk_class``.
        lum_class_prob: ``(n,)`` probability of ``luminosity_class``.
        code_mean: ``(n,)`` expected type code Σ p_b c_b (O = 0 ... M = 60 plus subclass).
        code_std: ``(n,)`` its standard deviation [subclasses].
        masked_fraction: ``(n,)`` fraction of pixels that were masked.
    """

    mk_prob: np.ndarray
    lum_prob: np.ndarray
    type_prob: np.ndarray
    mk_class: np.ndarray
    subclass: np.ndarray
    luminosity_class: np.ndarray
    label: np.ndarray
    mk_class_prob: np.ndarray
    lum_class_prob: np.ndarray
    code_mean: np.ndarray
    code_std: np.ndarray
    masked_fraction: np.ndarray

    def to_table(self, *, type_prob: bool = False) -> Any:
        """An :class:`astropy.table.Table`, one row per spectrum.

        Args:
            type_prob: also include the ``(n, n_bins)`` type-bin probabilities.
        """
        from astropy.table import Table

        names = [f for f in self._fields if f != "type_prob" or type_prob]
        cols = {}
        for name in names:
            value = np.asarray(getattr(self, name))
            vector = name in ("mk_prob", "lum_prob", "type_prob")
            cols[name] = np.atleast_2d(value) if vector else np.atleast_1d(value)
        table = Table(cols)
        table.meta["mk_classes"] = list(MK_CLASSES)
        table.meta["luminosity_classes"] = list(LUMINOSITY_CLASSES)
        for name in ("code_mean", "code_std"):
            table[name].description = "spectral code: O=0, B=10, ..., M=60, plus subclass"
        return table


def _result(p_type, p_lum, p_mk, masked_fraction, bin_width, single) -> ClassificationResult:
    n, n_bins = p_type.shape
    per_class = n_bins // _N_MK
    rows = np.arange(n)
    mk_idx = np.argmax(p_mk, axis=1)
    block = p_type.reshape(n, _N_MK, per_class)[rows, mk_idx]
    subclass = np.argmax(block, axis=1) * bin_width
    lum_idx = np.argmax(p_lum, axis=1)
    codes = np.arange(n_bins) * bin_width
    p64 = p_type.astype(np.float64)
    mean = p64 @ codes
    std = np.sqrt(np.maximum(np.sum(p64 * (codes[None, :] - mean[:, None]) ** 2, axis=1), 0.0))
    lum_class = np.asarray(LUMINOSITY_CLASSES)[lum_idx]
    out = ClassificationResult(
        mk_prob=p_mk,
        lum_prob=p_lum,
        type_prob=p_type,
        mk_class=np.asarray(MK_CLASSES)[mk_idx],
        subclass=subclass.astype(np.float64),
        luminosity_class=lum_class,
        label=np.asarray(format_spectral_type(10.0 * mk_idx + subclass, lum_class)),
        mk_class_prob=p_mk[rows, mk_idx],
        lum_class_prob=p_lum[rows, lum_idx],
        code_mean=mean,
        code_std=std,
        masked_fraction=masked_fraction,
    )
    return ClassificationResult(*(a[0] for a in out)) if single else out


# --------------------------------------------------------------------------------------
# The classifier
# --------------------------------------------------------------------------------------


def _trunk_config(trunk: Mapping[str, Any] | None) -> dict[str, Any]:
    cfg = dict(TRUNK_DEFAULTS)
    unknown = sorted(set(trunk or {}) - set(cfg))
    if unknown:
        raise ValueError(f"unknown trunk settings {unknown}; known: {sorted(cfg)}")
    cfg.update(trunk or {})
    for key in ("filters", "hidden"):
        cfg[key] = tuple(int(v) for v in cfg[key])
    for key in ("kernel_size", "pool"):
        cfg[key] = int(cfg[key])
    return cfg


def _ece_pair(p_mk: np.ndarray, y_mk: np.ndarray, p_lum: np.ndarray, y_lum: np.ndarray):
    return {
        "mk": calibration.expected_calibration_error(p_mk, y_mk),
        "luminosity": calibration.expected_calibration_error(p_lum, y_lum),
    }


def _mk_nll(p_mk: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log probability of the true MK classes."""
    return float(-np.mean(np.log(np.maximum(p_mk[np.arange(len(y)), y], 1e-300))))


@dataclasses.dataclass(frozen=True, eq=False)
class SpectralClassifier:
    """A trained MK classifier (see the module docstring); make one with :meth:`train`,
    :meth:`fit_arrays` or :meth:`load`.

    Attributes:
        graphdef: the network's Flax NNX graph definition.
        params: its weights, an ``nnx.State`` (float32).
        wave: ``(n_pix,)`` vacuum wavelength [Å] the spectra must be on.
        resolution: resolving power R of the training spectra (0: unknown).
        bin_width: type-bin width [subclasses], 0.5 or 1.
        temperatures: ``(T_type, T_lum)`` temperature-scaling factors of the two heads.
        trunk: the :class:`~jaxspec._nn.ConvTrunk` settings.
        augment_config: the training augmentation.
        record: the training record (class counts, epochs, losses, timing, calibration).
    """

    graphdef: Any
    params: Any
    wave: np.ndarray
    resolution: float
    bin_width: float
    temperatures: tuple[float, float]
    trunk: dict[str, Any]
    augment_config: AugmentConfig
    record: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def n_pix(self) -> int:
        """Pixels per spectrum."""
        return int(self.wave.size)

    @property
    def n_bins(self) -> int:
        """Number of type bins."""
        return _n_bins(self.bin_width)

    @property
    def bin_codes(self) -> np.ndarray:
        """``(n_bins,)`` spectral code of each type bin (0, 0.5, ... 69.5)."""
        return np.arange(self.n_bins) * self.bin_width

    def __repr__(self) -> str:
        t = ", ".join(f"{v:.3g}" for v in self.temperatures)
        return (
            f"SpectralClassifier({self.n_pix} px, {self.wave[0]:.1f}–{self.wave[-1]:.1f} Å, "
            f"R={self.resolution:g}, {self.n_bins} type bins, T=({t}))"
        )

    # ---- training -----------------------------------------------------------------

    @classmethod
    def train(
        cls,
        grids: Any,
        *,
        resolution: float | None = None,
        validation_fraction: float = 0.1,
        augment_config: AugmentConfig | None = None,
        train_config: TrainConfig | None = None,
        trunk: Mapping[str, Any] | None = None,
        bin_width: float = 0.5,
        balance_classes: bool = False,
        seed: int = 0,
        checkpoint: str | os.PathLike | None = None,
        progress: bool = True,
    ) -> SpectralClassifier:
        """Train on one or more grids (:func:`jaxspec.synth.grid.read_grid` files).

        Args:
            grids: a grid path or :class:`~jaxspec.synth.grid.Grid`, or a sequence of them;
                all on the same wavelengths, with ``teff`` [K] and ``logg`` label columns.
            resolution: resolving power of the grids (default: the grids' synthesizer
                ``resolution`` in their provenance).

        The other arguments are those of :meth:`fit_arrays`.

        Returns:
            the trained, temperature-scaled classifier.
        """
        from ..synth.grid import read_grids

        loaded = read_grids(grids, purpose="a classifier")
        wave = np.asarray(loaded[0].wave, dtype=np.float64)
        for g in loaded:
            missing = [c for c in ("teff", "logg") if c not in g.labels.colnames]
            if missing:
                raise ValueError(
                    f"grid {g.path} lacks label column(s) {missing} (has {g.labels.colnames})"
                )
        if resolution is None:
            found = {g.provenance.get("synthesizer", {}).get("resolution") for g in loaded}
            if len(found) != 1 or None in found:
                raise ValueError(
                    f"the grids' provenance gives resolving powers {sorted(map(str, found))}; "
                    "pass resolution= explicitly"
                )
            resolution = float(found.pop())
        provenance = [
            {
                "path": str(g.path),
                "grid_hash": g.provenance.get("grid_hash"),
                "n": g.n,
                "sampling": g.provenance.get("sampling"),
            }
            for g in loaded
        ]
        return cls.fit_arrays(
            np.concatenate([np.asarray(g.flux, dtype=np.float32) for g in loaded]),
            np.concatenate([np.asarray(g.labels["teff"], dtype=np.float64) for g in loaded]),
            np.concatenate([np.asarray(g.labels["logg"], dtype=np.float64) for g in loaded]),
            wave,
            resolution,
            validation_fraction=validation_fraction,
            augment_config=augment_config,
            train_config=train_config,
            trunk=trunk,
            bin_width=bin_width,
            balance_classes=balance_classes,
            seed=seed,
            checkpoint=checkpoint,
            progress=progress,
            provenance={"grids": provenance},
        )

    @classmethod
    def fit_arrays(
        cls,
        flux: Any,
        teff: Any,
        logg: Any,
        wave: Any,
        resolution: float = 0.0,
        *,
        validation_fraction: float = 0.1,
        augment_config: AugmentConfig | None = None,
        train_config: TrainConfig | None = None,
        trunk: Mapping[str, Any] | None = None,
        bin_width: float = 0.5,
        balance_classes: bool = False,
        seed: int = 0,
        checkpoint: str | os.PathLike | None = None,
        progress: bool = True,
        provenance: Mapping[str, Any] | None = None,
    ) -> SpectralClassifier:
        """Train on arrays of noise-free normalised spectra and their Teff and log g.

        Rows with non-finite flux or labels are dropped (counted in the record). A seeded
        random ``validation_fraction`` of the rest is held out: it picks the best epoch and
        fits the temperatures (augmented with a fixed key), and its ECE before and after
        scaling is recorded.

        Args:
            flux: ``(n, n_pix)`` continuum-normalised flux.
            teff: ``(n,)`` effective temperature [K].
            logg: ``(n,)`` log10 surface gravity [cm s⁻²].
            wave: ``(n_pix,)`` vacuum wavelength [Å].
            resolution: resolving power R of ``flux`` (0: no resolution augmentation).
            validation_fraction: held-out fraction, in (0, 1).
            augment_config: augmentation (default :class:`~jaxspec.augment.AugmentConfig`).
            train_config: optimiser and schedule (default :class:`~jaxspec._train.TrainConfig`).
            trunk: :class:`~jaxspec._nn.ConvTrunk` settings overriding its defaults.
            bin_width: type bins of 0.5 (default) or 1 subclass.
            balance_classes: weight the losses by inverse class frequency.
            seed: seeds the split, the initial weights and the calibration augmentation.
            checkpoint: optional checkpoint file (resumes an interrupted run).
            progress: show a progress bar.
            provenance: JSON-able description of the training data, kept in the record.

        Returns:
            the trained, temperature-scaled classifier.
        """
        wave = np.asarray(wave, dtype=np.float64)
        if wave.ndim != 1 or wave.size < 2 or np.any(np.diff(wave) <= 0):
            raise ValueError(f"wave must be 1-D and strictly increasing; got shape {wave.shape}")
        flux = np.asarray(flux, dtype=np.float32)
        if flux.ndim != 2 or flux.shape[1] != wave.size:
            raise ValueError(
                f"expected flux of shape (n, {wave.size}) to match wave; got {flux.shape}"
            )
        teff = np.asarray(teff, dtype=np.float64)
        logg = np.asarray(logg, dtype=np.float64)
        if teff.shape != (flux.shape[0],) or logg.shape != (flux.shape[0],):
            raise ValueError(
                f"expected teff and logg of shape ({flux.shape[0]},); got {teff.shape}, "
                f"{logg.shape}"
            )
        if not 0.0 < validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must be in (0, 1); got {validation_fraction}")
        n_bins = _n_bins(bin_width)
        augment_config = AugmentConfig() if augment_config is None else augment_config
        train_config = TrainConfig() if train_config is None else train_config
        trunk_cfg = _trunk_config(trunk)

        ok = np.all(np.isfinite(flux), axis=1) & np.isfinite(teff) & np.isfinite(logg)
        ok &= teff > 0
        keep = np.flatnonzero(ok)
        n = keep.size
        n_val = int(round(validation_fraction * n))
        if n_val < 1 or n - n_val < 1:
            raise ValueError(
                f"{n} usable spectra and validation_fraction={validation_fraction} leave an "
                "empty training or validation set; give more spectra"
            )
        flux, teff, logg = flux[keep], teff[keep], logg[keep]
        st = spectral_type(teff, logg)
        y_type = type_bins(st.code, bin_width)
        y_mk = y_type // (n_bins // _N_MK)
        y_lum = np.asarray(st.lum_index, dtype=np.int64)
        perm = np.random.default_rng(seed).permutation(n)
        val, tr = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        if balance_classes:
            w_type = _balanced(y_mk, tr, _N_MK)
            w_lum = _balanced(y_lum, tr, _N_LUM)
        else:
            w_type = w_lum = np.ones(n, np.float32)

        def targets(idx: np.ndarray) -> tuple[np.ndarray, ...]:
            return (y_type[idx], y_lum[idx], w_type[idx], w_lum[idx])

        # Initialised under one jit: eager initialisation compiles every op separately.
        net = nnx.jit(
            lambda: ClassifierNet(wave.size, n_bins, trunk=trunk_cfg, rngs=nnx.Rngs(params=seed))
        )()
        result = train_network(
            net,
            _loss,
            flux_train=flux[tr],
            targets_train=targets(tr),
            flux_val=flux[val],
            targets_val=targets(val),
            wave=wave,
            resolution=float(resolution or 0.0),
            augment_config=augment_config,
            config=train_config,
            checkpoint=checkpoint,
            progress=progress,
            description="spectral classifier",
        )
        graphdef, params = nnx.split(result.model)

        # Temperature scaling on the validation spectra, augmented like test data.
        key = jax.random.key(seed + _CALIBRATION_KEY_OFFSET)
        aug = augment(key, flux[val], wave, augment_config, resolution=float(resolution or 0))
        z_type, z_lum = _batched(
            functools.partial(_logits_jit, graphdef, params),
            np.asarray(aug.flux, np.float32),
            np.asarray(aug.mask),
            256,
        )
        # The type head's temperature calibrates the MK-class probabilities it reports
        # (sums over the bins of a class), not the 140 fine bins.
        bin_group = np.repeat(np.arange(_N_MK), n_bins // _N_MK)
        t_type = calibration.fit_temperature(z_type, y_mk[val], groups=bin_group)
        t_lum = calibration.fit_temperature(z_lum, y_lum[val])

        def mk_of(p: np.ndarray) -> np.ndarray:
            return p.reshape(p.shape[0], _N_MK, -1).sum(axis=-1)

        before = (calibration.softmax(z_type), calibration.softmax(z_lum))
        after = (calibration.softmax(z_type, t_type), calibration.softmax(z_lum, t_lum))
        mk_val, lum_val = y_mk[val], y_lum[val]
        epoch_seconds = [h["seconds"] for h in result.history]
        record = {
            "seed": int(seed),
            "n_spectra": int(n),
            "n_dropped_nonfinite": int(ok.size - n),
            "n_train": int(tr.size),
            "n_validation": int(val.size),
            "class_counts": {
                "train": _class_counts(y_mk[tr], y_lum[tr]),
                "validation": _class_counts(mk_val, lum_val),
            },
            "type_bin_counts_train": np.bincount(y_type[tr], minlength=n_bins).tolist(),
            "balance_classes": bool(balance_classes),
            "train_config": train_config.to_dict(),
            "epochs": len(result.history),
            "best_epoch": int(result.best_epoch),
            "best_val_loss": float(result.best_val_loss),
            "seconds": float(result.seconds),
            "seconds_per_epoch": float(np.median(epoch_seconds[1:] or epoch_seconds)),
            "history": result.history,
            "temperatures": {"type": t_type, "luminosity": t_lum},
            "validation": {
                "ece_before": _ece_pair(mk_of(before[0]), mk_val, before[1], lum_val),
                "ece_after": _ece_pair(mk_of(after[0]), mk_val, after[1], lum_val),
                "nll_before": {
                    "mk": _mk_nll(mk_of(before[0]), mk_val),
                    "type": calibration.negative_log_likelihood(z_type, y_type[val]),
                    "luminosity": calibration.negative_log_likelihood(z_lum, lum_val),
                },
                "nll_after": {
                    "mk": _mk_nll(mk_of(after[0]), mk_val),
                    "type": calibration.negative_log_likelihood(z_type, y_type[val], t_type),
                    "luminosity": calibration.negative_log_likelihood(z_lum, lum_val, t_lum),
                },
                "accuracy": {
                    "mk": float(np.mean(np.argmax(mk_of(after[0]), 1) == mk_val)),
                    "luminosity": float(np.mean(np.argmax(after[1], 1) == lum_val)),
                    "type_bin_within_1_subclass": float(
                        np.mean(np.abs(np.argmax(z_type, 1) - y_type[val]) * bin_width <= 1.0)
                    ),
                },
                "augmentation_key_seed": int(seed + _CALIBRATION_KEY_OFFSET),
            },
            "provenance": dict(provenance or {}),
        }
        return cls(
            graphdef=graphdef,
            params=params,
            wave=wave,
            resolution=float(resolution or 0.0),
            bin_width=float(bin_width),
            temperatures=(t_type, t_lum),
            trunk=trunk_cfg,
            augment_config=augment_config,
            record=record,
        )

    # ---- prediction ---------------------------------------------------------------

    def _inv_t(self) -> jax.Array:
        return jnp.asarray([1.0 / t for t in self.temperatures], jnp.float32)

    def _check_flux(self, flux: Any, mask: Any, hint: str) -> tuple[np.ndarray, np.ndarray]:
        f = np.asarray(flux)
        if f.dtype.kind not in "fiu":
            raise TypeError(f"flux must be numeric; got dtype {f.dtype}")
        if f.ndim not in (1, 2) or f.shape[-1] != self.n_pix:
            raise ValueError(
                f"expected flux with {self.n_pix} pixels to match model.wave "
                f"({self.wave[0]:.2f}–{self.wave[-1]:.2f} Å), shape ({self.n_pix},) or "
                f"(n, {self.n_pix}); got shape {f.shape}. Resample onto model.wave first with "
                "jaxspec.preprocess.resample(spectrum, model.wave), or use "
                "model.classify_spectra(spectrum)"
            )
        f = np.atleast_2d(f).astype(np.float64)
        if f.shape[0] == 0:
            raise ValueError("no spectra to classify (flux has 0 rows)")
        m = np.zeros(f.shape, bool) if mask is None else np.asarray(mask, dtype=bool)
        if m.shape != f.shape and m.shape != (self.n_pix,):
            raise ValueError(f"mask must have the shape of flux {np.shape(flux)}; got {m.shape}")
        bad = np.broadcast_to(m, f.shape) | ~np.isfinite(f)
        empty = np.flatnonzero(bad.all(axis=1))
        if empty.size:
            shown = ", ".join(str(i) for i in empty[:10]) + (" ..." if empty.size > 10 else "")
            raise ValueError(
                f"spectrum index {shown}: every pixel is masked or non-finite, so there is "
                f"nothing to classify{hint}; drop {'it' if empty.size == 1 else 'them'}"
            )
        return np.where(bad, 1.0, f).astype(np.float32), bad

    def predict(
        self, flux: Any, mask: Any = None, *, batch_size: int = 256
    ) -> ClassificationResult:
        """Classify continuum-normalised spectra on the model's pixels.

        Compiled once per batch shape (chunks of ``batch_size``, the last one padded to a
        power of two).

        Args:
            flux: ``(n, n_pix)`` or ``(n_pix,)`` normalised flux on :attr:`wave`; NaN and
                inf pixels are masked.
            mask: optional bool, shape of ``flux`` (or ``(n_pix,)``), True = bad pixel.
            batch_size: spectra per compiled call.

        Returns:
            :class:`ClassificationResult` (no leading axis for a single spectrum).

        Raises:
            ValueError: flux not on the model's pixels (resample onto :attr:`wave`), a
                spectrum with every pixel masked (its index is named), or an empty batch.
        """
        return self._predict(flux, mask, batch_size, "")

    def _predict(self, flux: Any, mask: Any, batch_size: int, hint: str) -> ClassificationResult:
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}")
        single = np.ndim(flux) == 1
        f, bad = self._check_flux(flux, mask, hint)
        inv_t = self._inv_t()
        p_type, p_lum, p_mk = _batched(
            lambda a, b: _probabilities_jit(self.graphdef, self.params, a, b, inv_t),
            f,
            bad,
            int(batch_size),
        )
        return _result(p_type, p_lum, p_mk, bad.mean(axis=1), self.bin_width, single)

    def classify_spectra(
        self, spectra: Any, *, max_bad_fraction: float = 0.0, batch_size: int = 256
    ) -> ClassificationResult:
        """Resample spectra onto :attr:`wave` (flux-conserving) and classify them.

        Args:
            spectra: a continuum-normalised :class:`~jaxspec.Spectrum` (one or a batch, any
                leading batch shape, flattened to ``n``), near rest frame.
            max_bad_fraction: see :func:`jaxspec.preprocess.resample`; model pixels not
                covered by a spectrum are masked.
            batch_size: spectra per compiled call.

        Returns:
            :class:`ClassificationResult` (no leading axis for an unbatched spectrum).
        """
        from ..preprocess import resample
        from ..spectrum import Spectrum

        if not isinstance(spectra, Spectrum):
            raise TypeError(
                f"classify_spectra takes a jaxspec.Spectrum; got {type(spectra).__name__} "
                "(use predict for flux arrays already on model.wave)"
            )
        out = resample(spectra, self.wave, max_bad_fraction=max_bad_fraction)
        flux, mask = np.asarray(out.flux), np.asarray(out.mask)
        if flux.ndim > 2:
            flux, mask = flux.reshape(-1, self.n_pix), mask.reshape(-1, self.n_pix)
        hint = (
            f" (pixels of model.wave, {self.wave[0]:.1f}–{self.wave[-1]:.1f} Å, outside a "
            "spectrum's wavelength range are masked: check that it covers them)"
        )
        return self._predict(flux, mask, batch_size, hint)

    def flux_function(self, head: str = "mk") -> Callable[..., jax.Array]:
        """A pure JAX function of one spectrum's flux giving calibrated class probabilities.

        For gradients and saliency maps (``jax.grad``, ``jax.jacrev``, ``vmap``); not
        jitted here, and nothing is checked on values: mask NaN pixels yourself.

        Args:
            head: ``"mk"`` (7 MK classes), ``"lum"`` (5 luminosity classes) or ``"type"``
                (``n_bins`` type bins).

        Returns:
            ``f(flux, mask=None)``: ``flux`` ``(n_pix,)`` normalised flux on :attr:`wave`,
            ``mask`` ``(n_pix,)`` bool (True = bad) → ``(n_classes,)`` probabilities.
        """
        heads = {"type": 0, "lum": 1, "mk": 2}
        if head not in heads:
            raise ValueError(f"head must be one of {sorted(heads)}; got {head!r}")
        which = heads[head]
        graphdef, params, inv_t, n_pix = self.graphdef, self.params, self._inv_t(), self.n_pix

        def probabilities(flux: Any, mask: Any = None) -> jax.Array:
            flux = jnp.asarray(flux, jnp.float32)
            if flux.shape != (n_pix,):
                raise ValueError(
                    f"expected flux of shape ({n_pix},) on model.wave; got {flux.shape}"
                )
            mask = jnp.zeros((n_pix,), bool) if mask is None else jnp.asarray(mask, bool)
            return _probabilities(graphdef, params, flux[None], mask[None], inv_t)[which][0]

        return probabilities

    # ---- files --------------------------------------------------------------------

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the classifier to a versioned, checksummed HDF5 file (atomically).

        Args:
            path: destination (``.h5``).
            overwrite: replace an existing file.

        Returns:
            the path written.
        """
        arrays: dict[str, Any] = {"wave": np.asarray(self.wave, np.float64)}
        arrays.update({f"weights/{k}": v for k, v in flat_weights(self.params).items()})
        attrs = {
            "n_pix": self.n_pix,
            "resolution": float(self.resolution),
            "bins": {
                "width": float(self.bin_width),
                "n_bins": self.n_bins,
                "rule": "floor(code / width + 0.5), clipped; code O=0, B=10, ..., M=60",
            },
            "classes": {"mk": list(MK_CLASSES), "luminosity": list(LUMINOSITY_CLASSES)},
            "temperatures": {"type": self.temperatures[0], "luminosity": self.temperatures[1]},
            "trunk": {k: list(v) if isinstance(v, tuple) else v for k, v in self.trunk.items()},
            "augment_config": self.augment_config.to_dict(),
            "training": self.record,
            "calibration_reference": CALIBRATION_REFERENCE,
        }
        return write_model_file(
            path,
            format_name=FORMAT_NAME,
            format_version=FORMAT_VERSION,
            attrs=attrs,
            arrays=arrays,
            overwrite=overwrite,
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> SpectralClassifier:
        """Read a classifier written by :meth:`save` (nothing is unpickled).

        Raises:
            FileNotFoundError: no such file.
            FileFormatError: not HDF5, another format or version, truncated or corrupted
                (checksums), or weights that do not fit the stored network settings.
        """
        remedy = "Train the classifier again or copy an intact file"
        attrs, arrays = read_model_file(
            path,
            format_name=FORMAT_NAME,
            format_version=FORMAT_VERSION,
            what="spectral classifier",
            remedy=remedy,
        )
        p = Path(path)
        need = ("n_pix", "bins", "classes", "temperatures", "trunk", "augment_config")
        missing = [k for k in need if k not in attrs] + [k for k in ("wave",) if k not in arrays]
        if missing:
            raise FileFormatError(f"{p}: spectral classifier file lacks {missing}. {remedy}")
        classes = attrs["classes"]
        if list(classes["mk"]) != list(MK_CLASSES) or list(classes["luminosity"]) != list(
            LUMINOSITY_CLASSES
        ):
            raise FileFormatError(f"{p}: unexpected class lists {classes}. {remedy}")
        try:
            trunk = _trunk_config(attrs["trunk"])
            bin_width = float(attrs["bins"]["width"])
            n_bins = _n_bins(bin_width)
            t = attrs["temperatures"]
            temps = (float(t["type"]), float(t["luminosity"]))
            augment_config = AugmentConfig.from_dict(attrs["augment_config"])
        except (KeyError, TypeError, ValueError) as exc:
            raise FileFormatError(f"{p}: malformed settings ({exc}). {remedy}") from exc
        wave = np.asarray(arrays["wave"], np.float64)
        if wave.shape != (int(attrs["n_pix"]),):
            raise FileFormatError(f"{p}: wave has shape {wave.shape}, expected n_pix. {remedy}")
        abstract = nnx.eval_shape(
            lambda: ClassifierNet(wave.size, n_bins, trunk=trunk, rngs=nnx.Rngs(params=0))
        )
        graphdef, state = nnx.split(abstract)
        stored = {k[len("weights/") :]: v for k, v in arrays.items() if k.startswith("weights/")}
        check_weights(p, state, stored, "spectral classifier")
        return cls(
            graphdef=graphdef,
            params=fill_state(state, stored),
            wave=wave,
            resolution=float(attrs.get("resolution", 0.0)),
            bin_width=bin_width,
            temperatures=temps,
            trunk=trunk,
            augment_config=augment_config,
            record=dict(attrs.get("training", {})),
        )
