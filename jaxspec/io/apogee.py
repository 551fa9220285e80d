"""Readers of SDSS APOGEE spectra: ``apStar`` (combined, rest frame) and ``apVisit``.

Data models followed (SDSS DR17 datamodel pages ``APOGEE_REDUX/.../apStar`` and ``apVisit``,
checked against the real DR17 files shipped in ``jaxspec/data`` and ``tests/data``):

``apStar`` / ``asStar``
    HDU0 header only (``OBJID``, ``SNR``, ``RA``, ``DEC``, ``VHELIO``, ``NVISITS``, the
    wavelength WCS ``CRVAL1``, ``CDELT1``, ``CRPIX1``, ``CTYPE1='LOG-LINEAR'``, ``NWAVE``);
    HDU1 flux [1e-17 erg s⁻¹ cm⁻² Å⁻¹], HDU2 flux uncertainty, HDU3 pixel bitmask
    (``APOGEE_PIXMASK``), each ``(n_rows, NWAVE)``. With one visit the rows are
    ``[combined, zeros]``; with N > 1 visits there are N + 2 rows: 0 combined with
    pixel-based weights, 1 combined with global weights, 2… the individual visits. All rows
    are resampled to the stellar rest frame on the vacuum log10-linear grid
    ``λ = 10**(CRVAL1 + CDELT1·(p + 1 − CRPIX1))``, p = 0…NWAVE−1.

``apVisit``
    HDU1 flux ``(3, 4096)`` float32, HDU2 error, HDU3 bitmask (int16, same bits), HDU4
    vacuum wavelength [Å] ``(3, 4096)`` float64. The three chips are stored red → blue and
    each chip's wavelengths decrease with pixel index; the reader reverses them into one
    strictly increasing axis of 12288 pixels. Wavelengths are in the topocentric frame.

``APOGEE_PIXMASK`` bits: 0 BADPIX, 1 CRPIX, 2 SATPIX, 3 UNFIXABLE, 4 BADDARK, 5 BADFLAT,
6 BADERR, 7 NOSKY, 8 LITTROW_GHOST, 9 PERSIST_HIGH, 10 PERSIST_MED, 11 PERSIST_LOW,
12 SIG_SKYLINE, 13 SIG_TELLURIC, 14 NOT_ENOUGH_PSF. By default bits 0–7 and 14 mark a pixel
bad (the pipeline's "level 1" bits, BADMASK = 16639); persistence, ``SIG_SKYLINE`` and
``SIG_TELLURIC`` are warnings only. Pixels whose error is 1e10 or more (the pipeline's
BADERR) get ivar 0 and are masked too.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import FileFormatError
from ..spectrum import SpectrumMeta
from . import _fits
from .registry import make_spectrum

if TYPE_CHECKING:
    from ..spectrum import Spectrum
    from .registry import FileProbe

__all__ = [
    "read_apstar",
    "read_apvisit",
    "is_apstar",
    "is_apvisit",
    "APOGEE_PIXMASK_BITS",
    "APOGEE_BAD_BITS",
    "APOGEE_FLUX_UNIT",
    "APOGEE_RESOLUTION",
]

#: Names of the APOGEE_PIXMASK bits (DR17), indexed by bit number.
APOGEE_PIXMASK_BITS = (
    "BADPIX", "CRPIX", "SATPIX", "UNFIXABLE", "BADDARK", "BADFLAT", "BADERR", "NOSKY",
    "LITTROW_GHOST", "PERSIST_HIGH", "PERSIST_MED", "PERSIST_LOW", "SIG_SKYLINE",
    "SIG_TELLURIC", "NOT_ENOUGH_PSF",
)  # fmt: skip
#: Default bad bits: 0-7 (BADPIX ... NOSKY) and 14 (NOT_ENOUGH_PSF), the "level 1" (bad)
#: bits of the APOGEE reduction pipeline's PixelBitMask (its BADMASK = 16639); the other
#: bits (persistence, SIG_SKYLINE, SIG_TELLURIC, ...) are warnings.
APOGEE_BAD_BITS = sum(1 << b for b in (0, 1, 2, 3, 4, 5, 6, 7, 14))
#: The APOGEE pipeline sets the error of unusable pixels to 1e10 (BADERR) or more.
APOGEE_BAD_ERROR = 1.0e10
#: Flux unit of apStar/apVisit spectra (astropy string).
APOGEE_FLUX_UNIT = "1e-17 erg / (s cm2 Angstrom)"
#: Nominal APOGEE resolving power.
APOGEE_RESOLUTION = 22500.0

_APSTAR_KEYS = (
    "OBJID", "TELESCOP", "FIELD", "RA", "DEC", "GLON", "GLAT", "J", "H", "K", "SNR", "SNREV",
    "NVISITS", "VHELIO", "VSCATTER", "VERR", "STARFLAG", "ANDFLAG", "RV_TEFF", "RV_LOGG",
    "RV_FEH", "MEANFIB", "NWAVE", "CRVAL1", "CDELT1", "CRPIX1",
)  # fmt: skip
_APVISIT_KEYS = (
    "OBJID", "TELESCOP", "PLATE", "MJD5", "FIBERID", "FIELD", "LOCID", "RA", "DEC", "SNR",
    "DATE-OBS", "JD-MID", "EXPTIME", "STARFLAG", "VRAD", "VRADERR", "VHELIO", "BC", "HJD",
    "VSCATTER", "RVTEFF", "RVLOGG", "RVFEH",
)  # fmt: skip


def _ivar_from_error(err: np.ndarray, dtype: Any) -> np.ndarray:
    """``1/err²`` where ``err`` is finite, positive and below BADERR, else 0, in ``dtype``."""
    good = np.isfinite(err) & (err > 0) & (err < APOGEE_BAD_ERROR)
    safe = np.where(good, err, 1.0).astype(dtype)
    return np.where(good, 1.0 / (safe * safe), 0.0).astype(dtype)


def _object_id(header: Any) -> str | None:
    for key in ("OBJID", "APOGEE_ID", "OBJECT"):
        value = str(header.get(key, "") or "").strip()
        if value:
            return value
    return None


def _history(header: Any) -> str:
    return "\n".join(str(h) for h in header.get("HISTORY", []))


# ------------------------------------------------------------------------ identifiers
def is_apstar(probe: FileProbe) -> bool:
    """An apStar/asStar file: primary header with ``NWAVE`` and a ``LOG-LINEAR`` WCS whose
    HDU1 image has ``NWAVE`` columns."""
    if not probe.is_fits or len(probe.hdus) < 4:
        return False
    h0 = probe.hdus[0].header
    if "NWAVE" not in h0 or str(h0.get("CTYPE1", "")).strip().upper() != "LOG-LINEAR":
        return False
    h1 = probe.hdus[1]
    return h1.kind == "image" and bool(h1.shape) and h1.shape[-1] == int(h0["NWAVE"])


def is_apvisit(probe: FileProbe) -> bool:
    """An apVisit file: ``AP1DVISIT`` in the primary HISTORY, or a 3-chip layout whose
    HDU4 holds wavelengths."""
    if not probe.is_fits or len(probe.hdus) < 5:
        return False
    if "AP1DVISIT" in _history(probe.hdus[0].header):
        return True
    h1, h4 = probe.hdus[1], probe.hdus[4]
    return (
        h1.kind == "image"
        and len(h1.shape) == 2
        and h1.shape[0] == 3
        and str(h4.header.get("BUNIT", "")).lower().startswith("wavelength")
    )


# ---------------------------------------------------------------------------- readers
def read_apstar(
    path: str | os.PathLike,
    *,
    row: int | str = 0,
    bad_bits: int = APOGEE_BAD_BITS,
) -> Spectrum:
    """Read an APOGEE ``apStar``/``asStar`` file.

    Args:
        path: the file (``.fits`` or ``.fits.gz``).
        row: which row of the flux array: 0 (default) is the combined spectrum
            (pixel-weighted), 1 the globally weighted combination (only when NVISITS > 1),
            2… the individual visits. ``"all"`` returns a batch of every non-empty row
            (rows that are all zero or all NaN are dropped), with ``meta.object_id`` a tuple
            (the same APOGEE id for each row) and the kept rows listed in header card
            ``APROWS``.
        bad_bits: ``APOGEE_PIXMASK`` bits that mark a pixel bad (an int bitmask). Default
            :data:`APOGEE_BAD_BITS` (bits 0–7 and 14); pass e.g.
            ``APOGEE_BAD_BITS | 1 << 13`` to also drop ``SIG_TELLURIC`` pixels, or 0 to use
            only NaN flux and missing errors.

    Returns:
        a :class:`~jaxspec.Spectrum` of ``NWAVE`` (8575) pixels, vacuum Å, rest frame
        (``meta.frame='rest'``), flux in 1e-17 erg s⁻¹ cm⁻² Å⁻¹, ``ivar = 1/err²`` (0 where the
        error is not finite and positive or is ≥ 1e10). The axis is already in the star's rest
        frame, so ``meta.radial_velocity`` is None; the measured ``VHELIO`` (km/s) is kept in
        ``meta.header``.

    Raises:
        FileFormatError: the file lacks the flux/error/mask HDUs or their shapes disagree.
        ValueError: ``row`` is out of range.
    """
    with _fits.open_fits(path) as hdul:
        h0 = hdul[0].header
        flux, err, pixmask = (
            _fits.read_image(_fits.get_hdu(hdul, path, i, what=what), path, what=what, index=i)
            for i, what in ((1, "flux"), (2, "flux uncertainty"), (3, "pixel bitmask"))
        )
        bunit = str(hdul[1].header.get("BUNIT", "") or "").strip()
    flux2, err2, mask2 = (np.atleast_2d(a) for a in (flux, err, pixmask))
    if not (flux2.shape == err2.shape == mask2.shape):
        raise FileFormatError(
            f"{path}: apStar flux {flux2.shape}, error {err2.shape} and mask {mask2.shape} "
            "(HDU1-3) should have the same shape; the file is not a valid apStar file"
        )
    n_rows, n_pix = flux2.shape
    nwave = int(h0.get("NWAVE", n_pix))
    if nwave != n_pix:
        raise FileFormatError(f"{path}: header NWAVE = {nwave} but HDU1 has {n_pix} pixels per row")
    wave, _ = _fits.wcs_wavelength(h0, n_pix, path=path, label="primary header")

    rows = _select_rows(path, flux2, row)
    ivar = _ivar_from_error(err2[rows], flux2.dtype)
    bad = (mask2[rows].astype(np.int64) & int(bad_bits)) != 0
    header = _fits.header_cards(h0, _APSTAR_KEYS)
    if bunit:
        header.append(("BUNIT", bunit))
    header.append(("APROWS", ",".join(str(r) for r in rows)))
    object_id = _object_id(h0)
    meta = SpectrumMeta(
        object_id=tuple(object_id or "" for _ in rows) if row == "all" else object_id,
        source=os.fspath(path),
        format="apstar",
        flux_unit=APOGEE_FLUX_UNIT,
        frame="rest",
        resolution=APOGEE_RESOLUTION,
        header=tuple(header),
    )
    if row == "all":
        return make_spectrum(path, wave, flux2[rows], ivar, bad, meta)
    return make_spectrum(path, wave, flux2[rows[0]], ivar[0], bad[0], meta)


def _select_rows(path: str | os.PathLike, flux: np.ndarray, row: int | str) -> list[int]:
    n_rows = flux.shape[0]
    if isinstance(row, str):
        if row != "all":
            raise ValueError(f"row must be an integer or 'all', got {row!r}")
        empty = np.all((flux == 0) | ~np.isfinite(flux), axis=1)
        rows = [i for i in range(n_rows) if not empty[i]]
        if not rows:
            raise FileFormatError(f"{path}: every row of the apStar flux (HDU1) is empty")
        return rows
    if isinstance(row, bool) or not isinstance(row, (int, np.integer)):
        raise ValueError(f"row must be an integer or 'all', got {row!r}")
    if not -n_rows <= row < n_rows:
        layout = (
            "0: combined spectrum"
            if n_rows <= 2
            else "0: combined (pixel weights), 1: combined (global weights), "
            f"2-{n_rows - 1}: visits 1-{n_rows - 2}"
        )
        raise ValueError(
            f"row={row} is out of range for {path}: its flux has {n_rows} row(s) ({layout}); "
            "use row='all' for every non-empty row"
        )
    return [int(row) % n_rows]


def read_apvisit(
    path: str | os.PathLike,
    *,
    bad_bits: int = APOGEE_BAD_BITS,
) -> Spectrum:
    """Read an APOGEE ``apVisit`` file (one visit, three chips) as one spectrum.

    Args:
        path: the file (``.fits`` or ``.fits.gz``).
        bad_bits: ``APOGEE_PIXMASK`` bits that mark a pixel bad; see :func:`read_apstar`.

    Returns:
        a :class:`~jaxspec.Spectrum` of 3 × 4096 = 12288 pixels on a strictly increasing
        vacuum wavelength axis [Å] (float64), flux float32 in 1e-17 erg s⁻¹ cm⁻² Å⁻¹, in the
        topocentric frame. ``meta.radial_velocity`` is ``VRAD``, the Doppler shift of these
        topocentric wavelengths (km/s); ``VHELIO`` and the barycentric correction ``BC`` are
        kept in ``meta.header``.

    Raises:
        FileFormatError: HDUs 1–4 are missing or their shapes disagree.
    """
    with _fits.open_fits(path) as hdul:
        h0 = hdul[0].header
        arrays = {}
        for index, what in (
            (1, "flux"),
            (2, "flux error"),
            (3, "pixel bitmask"),
            (4, "wavelength"),
        ):
            hdu = _fits.get_hdu(hdul, path, index, what=what)
            arrays[what] = np.atleast_2d(_fits.read_image(hdu, path, what=what, index=index))
    shapes = {k: v.shape for k, v in arrays.items()}
    if len(set(shapes.values())) != 1:
        raise FileFormatError(
            f"{path}: apVisit flux, error, mask and wavelength (HDU1-4) should share one "
            f"(n_chip, n_pix) shape, got {shapes}"
        )
    wave_chips = arrays["wavelength"].astype(np.float64)
    # Orient every chip blue -> red, then order the chips by wavelength.
    flips = [bool(w[0] > w[-1]) for w in wave_chips]
    order = np.argsort([w.min() for w in wave_chips])

    def join(a: np.ndarray) -> np.ndarray:
        return np.concatenate([a[c][::-1] if flips[c] else a[c] for c in order])

    wave = join(wave_chips)
    flux = join(arrays["flux"])
    ivar = _ivar_from_error(join(arrays["flux error"]), flux.dtype)
    bad = (join(arrays["pixel bitmask"]).astype(np.int64) & int(bad_bits)) != 0
    vrad = h0.get("VRAD")
    meta = SpectrumMeta(
        object_id=_object_id(h0),
        source=os.fspath(path),
        format="apvisit",
        flux_unit=APOGEE_FLUX_UNIT,
        frame="topocentric",
        radial_velocity=float(vrad)
        if isinstance(vrad, (int, float)) and np.isfinite(vrad)
        else None,
        resolution=APOGEE_RESOLUTION,
        header=tuple(_fits.header_cards(h0, _APVISIT_KEYS)),
    )
    return make_spectrum(path, wave, flux, ivar, bad, meta)
