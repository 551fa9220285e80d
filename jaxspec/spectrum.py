"""The :class:`Spectrum` container: a JAX pytree of wavelength, flux, inverse variance and mask.

Conventions (shared with specutils and numpy.ma):

* ``wave`` holds pixel-centre **vacuum** wavelengths in Å, strictly increasing along the
  last axis. It is either shared, shape ``(n_pix,)``, or one row per spectrum, with the
  same shape as ``flux``.
* ``flux`` has shape ``(..., n_pix)``; any leading axes are batch axes.
* ``ivar`` is the inverse variance of ``flux`` (units of ``flux_unit**-2``).
* ``mask`` is boolean, **True marks a bad pixel**.

On construction with concrete arrays the container is validated and normalised so that
downstream code never meets a NaN:

* non-finite ``flux`` or ``ivar`` pixels are masked, their flux set to 0 and ivar to 0;
* a masked pixel has ``ivar == 0`` and a pixel with ``ivar == 0`` is masked
  (so the weight of a pixel is simply its ivar);
* negative ivar, non-matching shapes and non-increasing or non-positive wavelengths raise
  :class:`~jaxspec.errors.SpectrumValidationError`.

Inside traced code (``jit``, ``vmap``, ``grad``) the checks that need values are skipped;
shape checks always run. The metadata (:class:`SpectrumMeta`) is static: it is part of the
tree structure, hashable and never traced.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .errors import SpectrumValidationError

__all__ = ["Spectrum", "SpectrumMeta", "stack", "VELOCITY_FRAMES"]

#: Velocity frames a wavelength axis may be expressed in.
VELOCITY_FRAMES = ("unknown", "topocentric", "heliocentric", "barycentric", "rest")


def _freeze(value: Any) -> Any:
    """Turn header values into hashable, JSON-friendly Python scalars.

    Non-finite floats become None: NaN != NaN would make equal metadata compare unequal
    (and so make JAX retrace).
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


@dataclasses.dataclass(frozen=True)
class SpectrumMeta:
    """Static metadata of a spectrum or of a batch of spectra.

    Attributes:
        object_id: object identifier, or a tuple with one identifier per spectrum of a batch.
        source: where the data came from (a file path, or the producing function).
        format: name of the reader that produced it (``"apstar"``, ``"lamost"``, ...).
        flux_unit: astropy unit string of ``flux``; ``""`` means dimensionless (normalised).
        frame: velocity frame of the wavelengths, one of :data:`VELOCITY_FRAMES`.
        radial_velocity: radial velocity [km/s] of the source relative to the frame of
            ``wave``: ``doppler_shift(spec, -radial_velocity)`` brings the spectrum to the
            rest frame. None when unknown, or when the axis is already the rest frame.
        redshift: the same as a redshift. At most one of the two is set.
        resolution: resolving power R = λ/Δλ(FWHM) of the data, if known.
        header: selected header cards as ``((key, value), ...)``; values are plain scalars.
    """

    object_id: str | tuple[str, ...] | None = None
    source: str | None = None
    format: str | None = None
    flux_unit: str = ""
    frame: str = "unknown"
    radial_velocity: float | None = None
    redshift: float | None = None
    resolution: float | None = None
    header: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.frame not in VELOCITY_FRAMES:
            raise SpectrumValidationError(
                f"meta.frame must be one of {VELOCITY_FRAMES}, got {self.frame!r}"
            )
        if self.radial_velocity is not None and self.redshift is not None:
            raise SpectrumValidationError(
                "meta.radial_velocity and meta.redshift are both set; give only one "
                "(as specutils does)"
            )
        if isinstance(self.object_id, (list, tuple, np.ndarray)):
            object.__setattr__(self, "object_id", tuple(str(o) for o in self.object_id))
        elif self.object_id is not None and not isinstance(self.object_id, str):
            object.__setattr__(self, "object_id", str(self.object_id))
        header = self.header
        if isinstance(header, Mapping):
            header = tuple(header.items())
        object.__setattr__(self, "header", tuple((str(k), _freeze(v)) for k, v in header))

    def replace(self, **changes: Any) -> SpectrumMeta:
        """Return a copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    @property
    def header_dict(self) -> dict[str, Any]:
        """The header cards as a dictionary (later duplicates win)."""
        return dict(self.header)


def _is_tracer(x: Any) -> bool:
    return isinstance(x, jax.core.Tracer)


def _is_jax_array(x: Any) -> bool:
    return isinstance(x, jax.Array)


def _as_array(x: Any, name: str) -> Any:
    """Keep JAX arrays as they are; make anything else a native-byte-order numpy array.

    FITS data arrive big-endian, which JAX cannot take; values are kept bit for bit.
    """
    if _is_jax_array(x):
        return x
    try:
        arr = np.asarray(x)
    except Exception as exc:  # pragma: no cover - defensive
        raise SpectrumValidationError(f"{name} could not be converted to an array: {exc}") from exc
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


class Spectrum:
    """One spectrum or a batch of spectra on vacuum wavelengths (Å).

    Args:
        wave: ``(n_pix,)`` or ``(..., n_pix)`` pixel-centre vacuum wavelengths [Å].
        flux: ``(..., n_pix)`` flux in ``meta.flux_unit``.
        ivar: inverse variance of ``flux``, same shape; ``None`` means unit weights.
        mask: boolean bad-pixel mask (True = bad), same shape; ``None`` means all good.
        meta: static :class:`SpectrumMeta`; keyword arguments of it may be given instead.

    Raises:
        SpectrumValidationError: shapes do not match, wavelengths are not positive and
            strictly increasing, or ivar is negative.

    Example:
        >>> import numpy as np
        >>> from jaxspec import Spectrum
        >>> s = Spectrum(np.linspace(5000, 5010, 11), np.ones(11), ivar=np.full(11, 1e4))
        >>> s.n_pix, s.batch_shape
        (11, ())
    """

    __slots__ = ("wave", "flux", "ivar", "mask", "meta")

    wave: Any
    flux: Any
    ivar: Any
    mask: Any
    meta: SpectrumMeta

    def __init__(
        self,
        wave: Any,
        flux: Any,
        ivar: Any = None,
        mask: Any = None,
        meta: SpectrumMeta | None = None,
        **meta_fields: Any,
    ) -> None:
        if meta is None:
            meta = SpectrumMeta(**meta_fields)
        elif meta_fields:
            meta = meta.replace(**meta_fields)
        if not isinstance(meta, SpectrumMeta):
            raise SpectrumValidationError(f"meta must be a SpectrumMeta, got {type(meta).__name__}")
        wave = _as_array(wave, "wave")
        flux = _as_array(flux, "flux")
        traced = any(_is_tracer(a) for a in (wave, flux, ivar, mask))
        use_jnp = traced or any(_is_jax_array(a) for a in (wave, flux, ivar, mask))
        xp = jnp if use_jnp else np

        if flux.ndim < 1:
            raise SpectrumValidationError(
                f"flux must have at least one axis (..., n_pix), got a scalar of shape {flux.shape}"
            )
        if not (jnp.issubdtype(flux.dtype, jnp.floating)):
            flux = flux.astype(xp.result_type(float))
        if ivar is None:
            ivar = xp.ones_like(flux)
        ivar = _as_array(ivar, "ivar")
        if mask is None:
            mask = xp.zeros(flux.shape, dtype=bool)
        mask = _as_array(mask, "mask")
        _check_shapes(wave, flux, ivar, mask)
        if mask.dtype != bool:
            mask = mask != 0
        if ivar.dtype != flux.dtype:
            ivar = ivar.astype(flux.dtype)

        if not traced:
            _check_values(wave, ivar)
            bad = mask | ~xp.isfinite(flux) | ~xp.isfinite(ivar) | (ivar == 0)
            if xp is np:
                if bad.any():
                    flux = np.where(bad, 0.0, flux).astype(flux.dtype)
                    ivar = np.where(bad, 0.0, ivar).astype(ivar.dtype)
            else:
                flux = jnp.where(bad, 0.0, flux)
                ivar = jnp.where(bad, 0.0, ivar)
            mask = bad
        _set(self, wave, flux, ivar, mask, meta)

    # ------------------------------------------------------------------ pytree
    def tree_flatten_with_keys(self):
        keys = (jax.tree_util.GetAttrKey(n) for n in ("wave", "flux", "ivar", "mask"))
        leaves = (self.wave, self.flux, self.ivar, self.mask)
        return tuple(zip(keys, leaves, strict=True)), self.meta

    @classmethod
    def tree_unflatten(cls, meta: SpectrumMeta, children: Sequence[Any]) -> Spectrum:
        # Unflattening happens inside transformations with tracers, placeholder objects or
        # None leaves (vmap in_axes); it must not validate.
        obj = object.__new__(cls)
        _set(obj, *children, meta)
        return obj

    def __setattr__(self, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(
            f"Spectrum is immutable; use spec.replace({name}=...) to get a modified copy"
        )

    # --------------------------------------------------------------- properties
    @property
    def n_pix(self) -> int:
        """Number of pixels (length of the last axis)."""
        return int(self.flux.shape[-1])

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Shape of the leading batch axes (``()`` for a single spectrum)."""
        return tuple(self.flux.shape[:-1])

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of ``flux``: ``batch_shape + (n_pix,)``."""
        return tuple(self.flux.shape)

    @property
    def dtype(self) -> Any:
        """Floating dtype of ``flux``."""
        return self.flux.dtype

    @property
    def shared_wave(self) -> bool:
        """True when one wavelength axis serves every spectrum of the batch."""
        return self.wave.ndim == 1

    @property
    def sigma(self) -> Any:
        """1σ flux uncertainty, ``inf`` where ``ivar == 0``."""
        xp = jnp if _is_jax_array(self.ivar) else np
        with np.errstate(divide="ignore"):
            return xp.where(
                self.ivar > 0, 1.0 / xp.sqrt(xp.where(self.ivar > 0, self.ivar, 1.0)), xp.inf
            )

    def median_snr(self) -> Any:
        """Median per-pixel signal-to-noise ``flux * sqrt(ivar)`` over good pixels.

        Returns:
            array of shape ``batch_shape`` (NaN for a spectrum with no good pixel).
        """
        if _is_jax_array(self.flux) or _is_jax_array(self.ivar):
            snr = jnp.where(self.mask, jnp.nan, self.flux * jnp.sqrt(self.ivar))
            return jnp.nanmedian(snr, axis=-1)
        # numpy data stay in numpy (and in their own precision).
        snr = np.where(self.mask, np.nan, self.flux * np.sqrt(self.ivar))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-masked spectrum -> NaN
            return np.nanmedian(snr, axis=-1)

    def strip_meta(self) -> Spectrum:
        """The same arrays with only the metadata computations depend on.

        ``meta`` is static: a jitted function of a Spectrum compiles once per distinct
        ``meta``, so calling it star by star with different ``object_id``, ``source``,
        ``header`` or ``radial_velocity`` recompiles for every star. Pass
        ``spec.strip_meta()`` (keeps ``flux_unit``, ``frame`` and ``resolution``), or stack
        the stars into one batch, to compile once.
        """
        meta = SpectrumMeta(
            flux_unit=self.meta.flux_unit, frame=self.meta.frame, resolution=self.meta.resolution
        )
        obj = object.__new__(Spectrum)
        _set(obj, self.wave, self.flux, self.ivar, self.mask, meta)
        return obj

    def batch_axes(self, axis: int | None = 0) -> Spectrum:
        """The ``in_axes``/``out_axes`` pytree for ``jax.vmap`` over the first batch axis.

        A shared wavelength axis is not mapped (``None``).
        """
        obj = object.__new__(Spectrum)
        _set(obj, None if self.shared_wave else axis, axis, axis, axis, self.meta)
        return obj

    # ------------------------------------------------------------------ copies
    def replace(self, **changes: Any) -> Spectrum:
        """Return a new spectrum with some of ``wave, flux, ivar, mask, meta`` replaced.

        Fields of :class:`SpectrumMeta` may be given directly (``replace(flux_unit="")``).
        The result is validated like a newly constructed spectrum.
        """
        fields = {"wave": self.wave, "flux": self.flux, "ivar": self.ivar, "mask": self.mask}
        meta = changes.pop("meta", self.meta)
        meta_changes = {k: changes.pop(k) for k in list(changes) if k not in fields}
        unknown = set(meta_changes) - {f.name for f in dataclasses.fields(SpectrumMeta)}
        if unknown:
            raise TypeError(f"Spectrum.replace got unknown fields {sorted(unknown)}")
        fields.update(changes)
        if meta_changes:
            meta = meta.replace(**meta_changes)
        return Spectrum(meta=meta, **fields)

    def with_flux(self, flux: Any, ivar: Any = None) -> Spectrum:
        """New spectrum with ``flux`` (and optionally ``ivar``) replaced; mask is kept."""
        return self.replace(flux=flux, ivar=self.ivar if ivar is None else ivar)

    def with_mask(self, mask: Any) -> Spectrum:
        """New spectrum whose mask is ``self.mask | mask`` (pixels can only become bad)."""
        return self.replace(mask=self.mask | mask)

    def with_meta(self, **changes: Any) -> Spectrum:
        """New spectrum with some metadata fields changed (arrays are shared, not copied)."""
        obj = object.__new__(Spectrum)
        _set(obj, self.wave, self.flux, self.ivar, self.mask, self.meta.replace(**changes))
        return obj

    def astype(self, dtype: Any) -> Spectrum:
        """Cast ``wave``, ``flux`` and ``ivar`` to a floating ``dtype``."""
        return jax.tree_util.tree_map(lambda x: x.astype(dtype) if x.dtype != bool else x, self)

    def __getitem__(self, index: Any) -> Spectrum:
        """Index the batch axes: ``batch[0]``, ``batch[10:20]``. The pixel axis is kept."""
        if not self.batch_shape:
            raise IndexError("a single spectrum has no batch axis to index")
        if not isinstance(index, tuple):
            index = (index,)
        if any(i is Ellipsis for i in index) or len(index) > len(self.batch_shape):
            raise IndexError(
                f"index {index} has more entries than the {len(self.batch_shape)} batch axes"
            )
        full = (*index, slice(None))
        wave = self.wave if self.shared_wave else self.wave[full]
        meta = self.meta
        n_batch = math.prod(self.batch_shape)
        if isinstance(meta.object_id, tuple) and len(meta.object_id) == n_batch:
            ids = np.empty(n_batch, dtype=object)
            ids[:] = meta.object_id
            picked = ids.reshape(self.batch_shape)[index]
            meta = meta.replace(
                object_id=picked if isinstance(picked, str) else tuple(picked.ravel())
            )
        obj = object.__new__(Spectrum)
        _set(obj, wave, self.flux[full], self.ivar[full], self.mask[full], meta)
        return obj

    def __len__(self) -> int:
        if not self.batch_shape:
            raise TypeError("a single spectrum has no len(); use n_pix for its pixel count")
        return self.batch_shape[0]

    def __repr__(self) -> str:
        wave = np.asarray(self.wave) if not _is_tracer(self.wave) else None
        rng = f"{float(wave.min()):.2f}–{float(wave.max()):.2f} Å" if wave is not None else "traced"
        return (
            f"Spectrum(batch_shape={self.batch_shape}, n_pix={self.n_pix}, wave={rng}, "
            f"object_id={self.meta.object_id!r}, format={self.meta.format!r}, "
            f"flux_unit={self.meta.flux_unit!r}, frame={self.meta.frame!r})"
        )

    # --------------------------------------------------------------- specutils
    def to_specutils(self) -> Any:
        """Convert to a :class:`specutils.Spectrum` (needs the ``specutils`` extra).

        The uncertainty becomes an ``InverseVariance``; the mask keeps True = bad.
        """
        from astropy import units as u
        from astropy.nddata import InverseVariance

        spectrum_cls = _specutils_class()
        if not self.shared_wave:
            raise SpectrumValidationError(
                "specutils needs one spectral axis for the whole batch; this batch has one "
                "wavelength row per spectrum. Resample it first with jaxspec.preprocess.resample"
            )
        flux_unit = u.Unit(self.meta.flux_unit) if self.meta.flux_unit else u.dimensionless_unscaled
        meta = {
            "object_id": self.meta.object_id,
            "source": self.meta.source,
            "format": self.meta.format,
            "frame": self.meta.frame,
            "resolution": self.meta.resolution,
            "header": self.meta.header_dict,
            # specutils derives a redshift from a radial velocity and vice versa; remember
            # which one jaxspec had, so from_specutils restores the same field.
            "velocity": "redshift" if self.meta.redshift is not None else "radial_velocity",
        }
        kwargs: dict[str, Any] = {}
        if self.meta.radial_velocity is not None:
            kwargs["radial_velocity"] = self.meta.radial_velocity * u.km / u.s
        if self.meta.redshift is not None:
            kwargs["redshift"] = self.meta.redshift
        return spectrum_cls(
            flux=np.asarray(self.flux) * flux_unit,
            spectral_axis=np.asarray(self.wave) * u.AA,
            uncertainty=InverseVariance(np.asarray(self.ivar) / flux_unit**2),
            mask=np.asarray(self.mask),
            meta=meta,
            **kwargs,
        )

    @classmethod
    def from_specutils(cls, spec: Any, *, air: bool = False) -> Spectrum:
        """Build a :class:`Spectrum` from a :class:`specutils.Spectrum`.

        Args:
            spec: the specutils spectrum; its spectral axis may be in any spectral unit.
            air: set True if its wavelengths are in air; they are converted to vacuum.
        """
        from astropy import units as u
        from astropy.nddata import InverseVariance, StdDevUncertainty, VarianceUncertainty

        wave = spec.spectral_axis.to_value(u.AA, equivalencies=u.spectral())
        flux = np.asarray(spec.flux.value)
        if wave[0] > wave[-1]:  # frequency axes come out descending
            wave = wave[::-1]
            flux = flux[..., ::-1]
            flip = True
        else:
            flip = False
        if air:
            from .preprocess.air_vacuum import air_to_vacuum

            wave = np.asarray(air_to_vacuum(wave))
        unc = spec.uncertainty
        if unc is None:
            ivar = None
        else:
            arr = np.asarray(unc.array, dtype=float)
            with np.errstate(divide="ignore", invalid="ignore"):
                if isinstance(unc, InverseVariance):
                    ivar = arr
                elif isinstance(unc, VarianceUncertainty):
                    ivar = np.where(arr > 0, 1.0 / arr, 0.0)
                elif isinstance(unc, StdDevUncertainty):
                    ivar = np.where(arr > 0, 1.0 / arr**2, 0.0)
                else:
                    raise SpectrumValidationError(
                        f"unsupported uncertainty type {type(unc).__name__}; use InverseVariance,"
                        " VarianceUncertainty or StdDevUncertainty"
                    )
            if flip:
                ivar = ivar[..., ::-1]
        mask = None if spec.mask is None else np.asarray(spec.mask, dtype=bool)
        if mask is not None and flip:
            mask = mask[..., ::-1]
        meta_in = dict(spec.meta or {})
        header = meta_in.get("header") or {}
        # specutils keeps both views of one velocity; take the one jaxspec wrote, else the
        # radial velocity (the natural quantity for stars). Zero means "not set".
        rv_kms = redshift = None
        rv = getattr(spec, "radial_velocity", None)
        z = getattr(spec, "redshift", None)
        if meta_in.get("velocity") == "redshift" and z is not None and float(z) != 0.0:
            redshift = float(z)
        elif rv is not None and float(rv.to_value(u.km / u.s)) != 0.0:
            rv_kms = float(rv.to_value(u.km / u.s))
        flux_unit = "" if spec.flux.unit == u.dimensionless_unscaled else spec.flux.unit.to_string()
        meta = SpectrumMeta(
            object_id=meta_in.get("object_id"),
            source=meta_in.get("source", "specutils"),
            format=meta_in.get("format", "specutils"),
            flux_unit=flux_unit,
            frame=meta_in.get("frame", "unknown"),
            resolution=meta_in.get("resolution"),
            radial_velocity=rv_kms,
            redshift=redshift,
            header=tuple(dict(header).items()) if isinstance(header, Mapping) else (),
        )
        return cls(wave, flux, ivar, mask, meta)


jax.tree_util.register_pytree_with_keys(
    Spectrum,
    Spectrum.tree_flatten_with_keys,
    Spectrum.tree_unflatten,
)


def _set(obj: Spectrum, wave: Any, flux: Any, ivar: Any, mask: Any, meta: SpectrumMeta) -> None:
    object.__setattr__(obj, "wave", wave)
    object.__setattr__(obj, "flux", flux)
    object.__setattr__(obj, "ivar", ivar)
    object.__setattr__(obj, "mask", mask)
    object.__setattr__(obj, "meta", meta)


def _check_shapes(wave: Any, flux: Any, ivar: Any, mask: Any) -> None:
    n_pix = flux.shape[-1]
    if wave.ndim == 1:
        if wave.shape[0] != n_pix:
            raise SpectrumValidationError(
                f"expected wave with {n_pix} pixels to match flux {tuple(flux.shape)}, got "
                f"{tuple(wave.shape)}; resample first with jaxspec.preprocess.resample"
            )
    elif tuple(wave.shape) != tuple(flux.shape):
        raise SpectrumValidationError(
            f"wave must be shared (n_pix,) = ({n_pix},) or match flux {tuple(flux.shape)}, got "
            f"{tuple(wave.shape)}"
        )
    for name, arr in (("ivar", ivar), ("mask", mask)):
        if tuple(arr.shape) != tuple(flux.shape):
            raise SpectrumValidationError(
                f"expected {name} with shape {tuple(flux.shape)} to match flux, got "
                f"{tuple(arr.shape)}"
            )


def _check_values(wave: Any, ivar: Any) -> None:
    w = np.asarray(wave)
    if not np.all(np.isfinite(w)):
        raise SpectrumValidationError(
            f"wave has {int((~np.isfinite(w)).sum())} non-finite values; wavelengths must be "
            "finite (mask bad pixels with `mask` instead)"
        )
    if np.any(w <= 0):
        raise SpectrumValidationError(
            f"wave must be positive (vacuum Å); found minimum {float(w.min())}. Check the "
            "wavelength unit and solution (log10 wavelengths must be converted with 10**x)"
        )
    if w.shape[-1] > 1:
        steps = np.diff(w, axis=-1)
        if np.any(steps <= 0):
            where = np.argwhere(steps <= 0)[0]
            raise SpectrumValidationError(
                "wave must be strictly increasing along the pixel axis; first violation at "
                f"pixel {int(where[-1]) + 1} ({float(w[tuple(where)])} -> "
                f"{float(w[(*where[:-1], where[-1] + 1)])} Å). Sort the pixels (np.argsort) or "
                "reverse a descending axis"
            )
    iv = np.asarray(ivar)
    negative = np.isfinite(iv) & (iv < 0)
    if negative.any():
        raise SpectrumValidationError(
            f"ivar must be >= 0; {int(negative.sum())} pixels are negative (minimum "
            f"{float(iv[negative].min())}). Use ivar = 1/sigma**2, and 0 for unknown pixels"
        )


def _specutils_class() -> Any:
    try:
        import specutils
    except ImportError as exc:
        raise ImportError(
            "specutils is not installed; install it with: pip install 'jaxspec-stellar[specutils]'"
        ) from exc
    return getattr(specutils, "Spectrum", None) or specutils.Spectrum1D


def stack(spectra: Sequence[Spectrum]) -> Spectrum:
    """Stack single spectra on the same wavelength grid into a batch of shape ``(n,)``.

    Raises:
        SpectrumValidationError: the list is empty, or the wavelength grids differ
            (resample them onto one grid first).
    """
    spectra = list(spectra)
    if not spectra:
        raise SpectrumValidationError("stack() needs at least one spectrum")
    first = spectra[0]
    for i, s in enumerate(spectra):
        if s.batch_shape:
            raise SpectrumValidationError(
                f"stack() takes single spectra; item {i} has batch shape {s.batch_shape}"
            )
        if s.n_pix != first.n_pix or not np.array_equal(np.asarray(s.wave), np.asarray(first.wave)):
            raise SpectrumValidationError(
                f"item {i} has a different wavelength grid from item 0; resample all spectra "
                "onto one grid first with jaxspec.preprocess.resample"
            )
        if s.meta.flux_unit != first.meta.flux_unit:
            raise SpectrumValidationError(
                f"item {i} has flux unit {s.meta.flux_unit!r}, item 0 {first.meta.flux_unit!r}"
            )
    xp = jnp if any(_is_jax_array(s.flux) for s in spectra) else np
    ids = tuple("" if s.meta.object_id is None else str(s.meta.object_id) for s in spectra)
    meta = first.meta.replace(
        object_id=ids,
        source=first.meta.source
        if all(s.meta.source == first.meta.source for s in spectra)
        else None,
        header=(),
        radial_velocity=None,
        redshift=None,
    )
    return Spectrum(
        first.wave,
        xp.stack([s.flux for s in spectra]),
        xp.stack([s.ivar for s in spectra]),
        xp.stack([s.mask for s in spectra]),
        meta,
    )
