"""The Cannon: a data-driven, polynomial model of stellar spectra as functions of labels.

The Cannon (Ness et al. 2015, ApJ 808, 16; Casey et al. 2016, arXiv:1603.03040, "The
Cannon 2") models the normalised flux of every pixel λ as a polynomial in the labels,

    f_nλ = θ_λ · v(x_n) + noise,   noise ~ N(0, σ_nλ² + s_λ²),

where ``x = (labels - mean) / scale`` are the standardised labels, ``v`` holds every
monomial of ``x`` up to degree ``order`` (2: quadratic) and ``s_λ`` is the pixel's intrinsic
scatter. The *training step* fits θ_λ and s_λ of every pixel to spectra of stars with known
labels (optionally with an L1 penalty Λ‖θ_λ[1:]‖₁, as in Casey et al. 2016); the *test
step* fits the labels of new spectra, from several starting points, by Levenberg–Marquardt.

Masked pixels: a pixel with ``ivar == 0``, non-finite ``ivar`` or NaN flux is ignored, in
training and at test time (NaN flux is masked, as in specutils). Negative ``ivar`` raises.
The arithmetic runs in the dtype of the flux (float32 or, with x64 enabled, float64).

Example:
    >>> model = Cannon(space).fit(train_labels, train_flux, train_ivar)  # doctest: +SKIP
    >>> result = model.predict(flux, ivar)  # doctest: +SKIP
    >>> result.to_table()  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import SpectrumValidationError
from ..labels import LabelSpace
from . import _cannon_fit
from ._cannon_inputs import (
    check_spectra,
    check_training_labels,
    check_training_spectra,
    float_dtype,
    halton,
    usable,
)
from ._vectorizer import design_matrix, n_terms, term_indices, term_names, vectorize

__all__ = ["Cannon", "CannonResult"]

#: Quantiles of the training labels kept in the model (for starting points and bounds).
_QUANTILES = np.linspace(0.0, 1.0, 21)
#: Labels are searched within the training range widened by this fraction on each side.
_RANGE_MARGIN = 0.5
#: A fit has converged when a further Gauss–Newton step would lower χ² by less than this.
_DECREMENT_TOL = 1e-2


@dataclasses.dataclass(frozen=True, eq=False)
class CannonResult:
    """Labels fitted by :meth:`Cannon.predict`; arrays are numpy, first axis the stars.

    Attributes:
        labels: ``(n, L)`` best-fitting labels in the units of ``label_space``.
        errors: ``(n, L)`` formal 1σ uncertainties, √diag of ``covariance``.
        covariance: ``(n, L, L)`` inverse Fisher matrix (JᵀWJ)⁻¹, W = 1/(σ² + s²).
        chi2_red: ``(n,)`` χ² / (n_pix − L) at the best fit.
        converged: ``(n,)`` True where the fit converged inside the search box.
        n_pix: ``(n,)`` number of pixels used.
        best_start: ``(n,)`` index of the winning starting point (0: the mean labels).
        label_space: names and units of the labels.
    """

    labels: np.ndarray
    errors: np.ndarray
    covariance: np.ndarray
    chi2_red: np.ndarray
    converged: np.ndarray
    n_pix: np.ndarray
    best_start: np.ndarray
    label_space: LabelSpace

    def to_table(self) -> Any:
        """An astropy Table: ``teff, teff_err, ..., chi2_red, converged``, with units."""
        from astropy.table import Column, Table

        t = Table()
        for i, (name, unit) in enumerate(
            zip(self.label_space.names, self.label_space.units, strict=True)
        ):
            t[name] = Column(self.labels[:, i], unit=unit or None)
            t[f"{name}_err"] = Column(self.errors[:, i], unit=unit or None)
        t["chi2_red"] = self.chi2_red
        t["converged"] = self.converged
        t["n_pix"] = self.n_pix
        return t


@dataclasses.dataclass(frozen=True, eq=False)
class Cannon:
    """A Cannon model: untrained (settings only) or trained (with coefficients).

    Build an untrained model with ``Cannon(label_space, order=2, l1=0.0)`` and train it with
    :meth:`fit`, which returns a new, trained model. The trained fields are numpy arrays.

    Attributes:
        label_space: names, units and bounds of the labels (training labels must lie inside).
        order: polynomial order of the label vectorizer (2: quadratic).
        l1: L1 regularisation strength Λ ≥ 0 on the non-constant coefficients, in units of
            −ln L (θ in units of flux per standardised label).
        theta: ``(n_pix, n_terms)`` coefficients, columns in :attr:`term_names` order.
        scatter: ``(n_pix,)`` intrinsic scatter s_λ (flux units); 0 where below 1 % of the
            pixel's typical noise, ``inf`` for pixels without more usable training stars than
            terms (θ = 0 there; ignored at test time).
        wave: ``(n_pix,)`` wavelengths of the pixels [Å], or None.
        label_offset: ``(L,)`` mean of the training labels.
        label_scale: ``(L,)`` standard deviation of the training labels.
        label_quantiles: ``(21, L)`` 0, 5, ..., 100 % quantiles of the training labels.
        training: training record (``n_train``, ``seed``, ``fit_seconds``, ...).
    """

    label_space: LabelSpace
    order: int = 2
    l1: float = 0.0
    theta: np.ndarray | None = None
    scatter: np.ndarray | None = None
    wave: np.ndarray | None = None
    label_offset: np.ndarray | None = None
    label_scale: np.ndarray | None = None
    label_quantiles: np.ndarray | None = None
    training: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.label_space, LabelSpace):
            raise TypeError(
                f"label_space must be a jaxspec.labels.LabelSpace, got "
                f"{type(self.label_space).__name__}"
            )
        if isinstance(self.order, bool) or int(self.order) != self.order or self.order < 1:
            raise ValueError(f"order must be an integer >= 1, got {self.order!r}")
        object.__setattr__(self, "order", int(self.order))
        if not (math.isfinite(float(self.l1)) and float(self.l1) >= 0):
            raise ValueError(f"l1 must be a finite number >= 0, got {self.l1!r}")
        object.__setattr__(self, "l1", float(self.l1))
        fitted = ("theta", "scatter", "label_offset", "label_scale", "label_quantiles")
        given = [getattr(self, f) is not None for f in fitted]
        if any(given) and not all(given):
            missing = [f for f, g in zip(fitted, given, strict=True) if not g]
            raise ValueError(f"a trained Cannon needs all of {fitted}; missing {missing}")
        if not all(given):
            return
        L, T = self.n_labels, self.n_terms
        theta = np.asarray(self.theta)
        want = {
            "theta": (theta.shape[0], T),
            "scatter": (theta.shape[0],),
            "label_offset": (L,),
            "label_scale": (L,),
        }
        if self.wave is not None:
            want["wave"] = (theta.shape[0],)
        for name, shape in want.items():
            arr = np.asarray(getattr(self, name))
            if arr.shape != shape:
                raise ValueError(f"Cannon.{name} must have shape {shape}, got {arr.shape}")
            object.__setattr__(self, name, arr)
        q = np.asarray(self.label_quantiles, dtype=np.float64)
        if q.ndim != 2 or q.shape[1] != L or q.shape[0] < 2:
            raise ValueError(f"Cannon.label_quantiles must have shape (k>=2, {L}), got {q.shape}")
        object.__setattr__(self, "label_quantiles", q)

    # ---- description ------------------------------------------------------------------

    def __repr__(self) -> str:
        labels = ", ".join(self.label_space.names)
        state = (
            f"{self.n_pix} pixels, trained on {self.training.get('n_train', '?')} spectra"
            if self.is_trained
            else "untrained"
        )
        return f"Cannon(order={self.order}, l1={self.l1:g}, labels=({labels}), {state})"

    @property
    def n_labels(self) -> int:
        """Number of labels."""
        return self.label_space.n_labels

    @property
    def n_terms(self) -> int:
        """Number of coefficients per pixel."""
        return n_terms(self.n_labels, self.order)

    @property
    def term_names(self) -> tuple[str, ...]:
        """Names of the terms: ``"1"``, ``"teff"``, ..., ``"teff*logg"``, ``"teff^2"``."""
        return term_names(self.label_space.names, self.order)

    @property
    def is_trained(self) -> bool:
        """Whether the model has coefficients."""
        return self.theta is not None

    @property
    def n_pix(self) -> int:
        """Number of pixels of the trained model."""
        self._require_trained("n_pix")
        return int(self.theta.shape[0])

    def _require_trained(self, what: str) -> None:
        if not self.is_trained:
            raise RuntimeError(
                f"Cannon.{what} needs a trained model; train it first with "
                "model = model.fit(labels, flux, ivar)"
            )

    def _standardise(self, labels: Any, dtype: Any) -> jax.Array:
        arr = np.asarray(labels, dtype=np.float64)
        if arr.ndim == 0 or arr.shape[-1] != self.n_labels:
            raise ValueError(
                f"expected labels with a last axis of {self.n_labels} "
                f"({', '.join(self.label_space.names)}), got shape {arr.shape}"
            )
        x = (arr - self.label_offset) / self.label_scale
        return jnp.asarray(x, dtype=dtype)

    def design_matrix(self, labels: Any) -> jax.Array:
        """``(..., n_terms)`` vectorizer terms of ``(..., L)`` labels (physical units)."""
        self._require_trained("design_matrix")
        x = self._standardise(labels, float_dtype(np.asarray(self.theta)))
        idx = term_indices(self.n_labels, self.order)
        flat = x.reshape(-1, self.n_labels)
        v = jax.vmap(lambda xi: vectorize(xi, idx))(flat)
        return v.reshape(*x.shape[:-1], self.n_terms)

    def flux(self, labels: Any) -> jax.Array:
        """Model spectra, the generative model θ · v(x).

        Args:
            labels: ``(..., L)`` labels in the units of :attr:`label_space`.

        Returns:
            ``(..., n_pix)`` normalised flux.
        """
        self._require_trained("flux")
        theta = jnp.asarray(self.theta)
        x = self._standardise(labels, theta.dtype)
        flat = x.reshape(-1, self.n_labels)
        out = _cannon_fit.model_flux(theta, flat, order=self.order)
        return out.reshape(*x.shape[:-1], self.n_pix)

    # ---- training ---------------------------------------------------------------------

    def fit(
        self,
        labels: Any,
        flux: Any,
        ivar: Any,
        wave: Any = None,
        *,
        pixel_chunk: int | None = None,
        max_iter: int = 30,
        progress: bool = False,
    ) -> Cannon:
        """Train θ and s of every pixel on spectra of stars with known labels.

        Args:
            labels: ``(n_stars, L)`` training labels, inside :attr:`label_space`.
            flux: ``(n_stars, n_pix)`` normalised flux.
            ivar: ``(n_stars, n_pix)`` inverse variance of the flux; 0 (or non-finite, or
                NaN flux) masks a pixel.
            wave: ``(n_pix,)`` wavelengths [Å], stored with the model (optional).
            pixel_chunk: pixels trained together (bounds memory: about 8 arrays of
                n_stars × pixel_chunk); default keeps each array near 4 M elements.
            max_iter: most θ / s alternations per pixel.
            progress: show a progress bar over the chunks (tqdm).

        Returns:
            A new, trained :class:`Cannon`.

        Raises:
            ValueError: labels of the wrong shape or with NaN, fewer stars than terms,
                degenerate labels, shapes that disagree.
            LabelRangeError: labels outside :attr:`label_space`.
            SpectrumValidationError: flux / ivar of the wrong shape, negative ivar.
        """
        t_start = time.perf_counter()
        labels = check_training_labels(labels, self.label_space, self.order)
        n = labels.shape[0]
        flux, ivar, wave = check_training_spectra(flux, ivar, wave, n)
        n_pix = flux.shape[1]
        offset = labels.mean(axis=0)
        scale = labels.std(axis=0)
        if np.any(scale <= 0):
            const = [self.label_space.names[i] for i in np.flatnonzero(scale <= 0)]
            raise ValueError(
                f"training labels {const} take a single value; the Cannon cannot learn them. "
                "Drop them from the label space"
            )
        idx = term_indices(self.n_labels, self.order)
        design = design_matrix((labels - offset) / scale, idx)
        rank = np.linalg.matrix_rank(design / np.sqrt(n))
        if rank < self.n_terms:
            raise ValueError(
                f"the training labels constrain only {rank} of the {self.n_terms} terms (labels "
                "are collinear or take too few distinct values); spread the training set or "
                "lower `order`"
            )
        if self.l1 > 0:
            basis = np.eye(self.n_terms)
        else:  # an orthogonal basis keeps the normal equations well conditioned (float32)
            r = np.linalg.qr(design, mode="r")
            basis = np.sqrt(n) * np.linalg.inv(r)
        dtype = float_dtype(flux)
        design_j = jnp.asarray(design @ basis, dtype=dtype)
        if pixel_chunk is None:
            pixel_chunk = max(64, (1 << 22) // n)
        chunk = int(min(max(1, pixel_chunk), n_pix))
        thetas, scatters, alternations = [], [], []
        starts = range(0, n_pix, chunk)
        if progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="Cannon training", unit="chunk")
        for s in starts:
            f_c = flux[:, s : s + chunk]
            i_c = ivar[:, s : s + chunk]
            p = f_c.shape[1]
            if p < chunk:  # pad with masked pixels: one compiled shape
                f_c = np.pad(f_c, ((0, 0), (0, chunk - p)))
                i_c = np.pad(i_c, ((0, 0), (0, chunk - p)))
            th, sc, k = _cannon_fit.train_chunk(
                design_j,
                jnp.asarray(f_c, dtype=dtype),
                jnp.asarray(i_c, dtype=dtype),
                jnp.asarray(self.l1, dtype=dtype),
                lasso=self.l1 > 0,
                n_outer=int(max_iter),
            )
            thetas.append(np.asarray(th)[:p])
            scatters.append(np.asarray(sc)[:p])
            alternations.append(int(k))
        theta = (np.concatenate(thetas) @ basis.T).astype(dtype)
        scatter = np.concatenate(scatters).astype(dtype)
        n_empty = int(np.sum(~np.isfinite(scatter)))
        if n_empty:
            warnings.warn(
                f"{n_empty} of {n_pix} pixels have no more usable training stars than the "
                f"{self.n_terms} terms; they are ignored at test time (scatter = inf)",
                UserWarning,
                stacklevel=2,
            )
        record = {
            "n_train": int(n),
            "n_pix": int(n_pix),
            "seed": None,  # training is deterministic
            "fit_seconds": round(time.perf_counter() - t_start, 3),
            "trained_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "max_alternations": max(alternations),
            "unconstrained_pixels": n_empty,
            "dtype": np.dtype(dtype).name,
        }
        return dataclasses.replace(
            self,
            theta=theta,
            scatter=scatter,
            wave=wave,
            label_offset=offset,
            label_scale=scale,
            label_quantiles=np.quantile(labels, _QUANTILES, axis=0),
            training=record,
        )

    # ---- test step --------------------------------------------------------------------

    def starting_points(self, n_starts: int) -> np.ndarray:
        """``(n_starts, L)`` starting labels of :meth:`predict`: the training mean, then
        Halton points mapped through the 5–95 % quantiles of the training labels."""
        self._require_trained("starting_points")
        if int(n_starts) < 1:
            raise ValueError(f"n_starts must be >= 1, got {n_starts}")
        u = 0.05 + 0.9 * halton(int(n_starts) - 1, self.n_labels)
        q = self.label_quantiles
        nodes = np.linspace(0.0, 1.0, q.shape[0])
        pts = np.stack([np.interp(u[:, j], nodes, q[:, j]) for j in range(self.n_labels)], -1)
        return np.concatenate([self.label_offset[None, :], pts.reshape(-1, self.n_labels)])

    def search_box(self) -> tuple[np.ndarray, np.ndarray]:
        """``(lower, upper)`` labels the test step stays within: the training range widened
        by 50 % on each side, cut to :attr:`label_space`'s bounds."""
        self._require_trained("search_box")
        q0, q1 = self.label_quantiles[0], self.label_quantiles[-1]
        width = q1 - q0
        lo = np.maximum(q0 - _RANGE_MARGIN * width, self.label_space.lower)
        hi = np.minimum(q1 + _RANGE_MARGIN * width, self.label_space.upper)
        return lo, hi

    def predict(
        self,
        flux: Any,
        ivar: Any,
        *,
        n_starts: int = 8,
        chunk_size: int | None = None,
        n_iter: int = 40,
        progress: bool = False,
    ) -> CannonResult:
        """Fit the labels of spectra (the test step).

        Each star is fitted from ``n_starts`` starting points (:meth:`starting_points`) by
        Levenberg–Marquardt on χ² with exact Jacobians, inside :meth:`search_box`; the start
        with the lowest χ² wins. Stars are fitted in chunks of ``chunk_size`` (the last one
        padded), so every chunk runs the same compiled program.

        Args:
            flux: ``(n_stars, n_pix)`` (or ``(n_pix,)``) normalised flux on the model's pixels.
            ivar: inverse variance of the same shape; 0, non-finite ivar or NaN flux mask a
                pixel.
            n_starts: starting points per star.
            chunk_size: stars fitted together (one compiled program for all chunks).
            n_iter: LM iterations per start.
            progress: show a progress bar over the chunks (tqdm).

        Returns:
            A :class:`CannonResult`.

        Raises:
            SpectrumValidationError: wrong pixel count, shapes that disagree, negative ivar,
                or a star with fewer usable pixels than labels + 1.
        """
        self._require_trained("predict")
        flux, ivar = check_spectra(flux, ivar, self.n_pix)
        good = usable(flux, ivar) & np.isfinite(self.scatter)[None, :]
        n_good = good.sum(axis=1)
        few = np.flatnonzero(n_good <= self.n_labels)
        if few.size:
            raise SpectrumValidationError(
                f"star {few[0]} has {n_good[few[0]]} usable pixels (ivar > 0, finite flux, "
                f"pixel trained), fewer than the {self.n_labels + 1} needed to fit "
                f"{self.n_labels} labels ({few.size} such stars: {few[:10].tolist()}); drop "
                "them or check their ivar"
            )
        dtype = float_dtype(flux)
        n = flux.shape[0]
        if chunk_size is None:
            chunk_size = int(np.clip((1 << 20) // self.n_pix, 16, 512))
        chunk = int(min(max(1, chunk_size), n))
        theta = jnp.asarray(self.theta, dtype=dtype)
        scatter = jnp.asarray(self.scatter, dtype=dtype)
        starts = self._standardise(self.starting_points(n_starts), dtype)
        lo, hi = (self._standardise(b, dtype) for b in self.search_box())
        parts = []
        offsets = range(0, n, chunk)
        if progress:
            from tqdm.auto import tqdm

            offsets = tqdm(offsets, desc="Cannon test step", unit="chunk")
        for s in offsets:
            f_c, i_c = flux[s : s + chunk], ivar[s : s + chunk]
            c = f_c.shape[0]
            if c < chunk:  # pad with copies of the first star: one compiled shape
                f_c = np.concatenate([f_c, np.repeat(f_c[:1], chunk - c, axis=0)])
                i_c = np.concatenate([i_c, np.repeat(i_c[:1], chunk - c, axis=0)])
            out = _cannon_fit.predict_chunk(
                theta,
                scatter,
                jnp.asarray(f_c, dtype=dtype),
                jnp.asarray(i_c, dtype=dtype),
                starts,
                lo,
                hi,
                order=self.order,
                n_iter=int(n_iter),
            )
            parts.append({k: np.asarray(v)[:c] for k, v in out.items()})
        res = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        return self._result(res, lo, hi)

    def _result(self, res: dict[str, np.ndarray], lo: jax.Array, hi: jax.Array) -> CannonResult:
        scale = self.label_scale
        x = res["x"].astype(np.float64)
        labels = x * scale + self.label_offset
        cov = res["cov"].astype(np.float64) * scale[:, None] * scale[None, :]
        with np.errstate(invalid="ignore"):
            errors = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
            span = np.asarray(hi, np.float64) - np.asarray(lo, np.float64)
            tol = 1e-6 * span
            inside = np.all((x > np.asarray(lo) + tol) & (x < np.asarray(hi) - tol), axis=1)
            converged = (
                inside
                & np.isfinite(res["chi2"])
                & np.all(np.isfinite(errors), axis=1)
                & (res["decrement"] < _DECREMENT_TOL)
            )
        dof = np.maximum(res["n_pix"] - self.n_labels, 1)
        return CannonResult(
            labels=labels,
            errors=errors,
            covariance=cov,
            chi2_red=res["chi2"].astype(np.float64) / dof,
            converged=converged,
            n_pix=res["n_pix"].astype(np.int64),
            best_start=res["best_start"].astype(np.int64),
            label_space=self.label_space,
        )

    # ---- files ------------------------------------------------------------------------

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the trained model to an HDF5 file (see :func:`~jaxspec.regress.save_cannon`)."""
        from .cannon_io import save_cannon

        return save_cannon(self, path, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Cannon:
        """Read a model written by :meth:`save` (see :func:`~jaxspec.regress.load_cannon`)."""
        from .cannon_io import load_cannon

        return load_cannon(path)
