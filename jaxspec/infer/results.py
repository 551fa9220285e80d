"""Catalogs of fit results: astropy Tables with units and flags, FITS/HDF5/ECSV, ArviZ.

Columns of a catalog (one row per star, in input order):

- ``object_id``; for each label ``<name>`` and ``<name>_err`` (with the label's unit);
  ``rv``, ``rv_err`` [km/s]; ``vsini``, ``vsini_err`` [km/s] when fitted.
- ``corr``: ``(n_labels + 1 [+ 1])`` square correlation matrix of labels, RV [, v sin i].
- ``continuum``: the Chebyshev coefficients (units of ``flux_scale``), ``flux_scale``.
- ``chi2``, ``n_pix`` (pixels in the likelihood), ``chi2_red`` (χ² / (n_pix − n_params)).
- Sampling catalogs add ``<name>_p16``/``_p50``/``_p84``, ``<name>_rhat``, ``<name>_ess``
  and ``n_divergent``; their values and errors are posterior means and standard deviations.
- ``flag`` (bit mask, bits in ``meta["FLAGBITS"]``) and one boolean column per bit,
  ``message`` (why a star was not fitted, else empty).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FLAG_BITS", "map_table", "sample_table", "write_catalog", "to_arviz"]

#: Bit of each flag in the ``flag`` column.
FLAG_BITS = {
    "flag_unfit": 0,  # not fitted: too few usable pixels (see ``message``)
    "flag_edge": 1,  # a label is at the edge of the emulator's box (estimate is a bound)
    "flag_not_converged": 2,  # the optimiser did not meet its tolerance
    "flag_bad_hessian": 3,  # the Hessian at the optimum is not positive definite
    "flag_rhat": 4,  # some split-R̂ > 1.01 (sampling)
    "flag_divergent": 5,  # divergent NUTS transitions after warm-up
    "flag_poor_fit": 6,  # reduced χ² > 3: the model does not describe the spectrum
}

#: Reduced χ² above which ``flag_poor_fit`` is set.
POOR_FIT_CHI2_RED = 3.0


def _unit(u: str) -> Any:
    import astropy.units as au

    return au.Unit(u) if u else au.dimensionless_unscaled


def _physical_names(model: Any) -> list[tuple[str, str]]:
    """(name, unit) of the labels, RV and v sin i."""
    out = list(zip(model.label_names, model.emulator.label_space.units, strict=True))
    out.append(("rv", "km / s"))
    if model.fit_vsini:
        out.append(("vsini", "km / s"))
    return out


def _corr(cov: np.ndarray) -> np.ndarray:
    sd = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return cov / (sd[..., :, None] * sd[..., None, :])


def _base_table(
    model: Any,
    object_ids: list[str],
    value: np.ndarray,
    cov: np.ndarray,
    chi2: np.ndarray,
    n_good: np.ndarray,
    scale: np.ndarray | None,
    method: str,
) -> Any:
    from astropy.table import Table

    from .. import __version__

    t = Table()
    t["object_id"] = np.asarray(object_ids, dtype=str)
    phys = _physical_names(model)
    sd = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
    for i, (name, unit) in enumerate(phys):
        u = _unit(unit)
        t[name] = value[:, i] * u
        t[f"{name}_err"] = sd[:, i] * u
    k = len(phys)
    t["corr"] = _corr(cov[:, :k, :k])
    t["continuum"] = value[:, k:]
    if scale is not None:
        t["flux_scale"] = scale
    n_free = value.shape[1]
    t["chi2"] = chi2
    t["n_pix"] = n_good.astype(np.int32)
    dof = np.maximum(n_good - n_free, 1)
    t["chi2_red"] = chi2 / dof
    t.meta["METHOD"] = method
    emu = model.emulator
    t.meta["EMULATOR"] = f"{emu.arch} {emu.wave[0]:.1f}-{emu.wave[-1]:.1f}A R={emu.resolution}"
    t.meta["LABELS"] = ",".join(model.label_names)
    t.meta["CONTORD"] = model.continuum_order
    t.meta["SEGMENTS"] = ";".join(f"{a:.3f}-{b:.3f}" for a, b in model.segments)
    t.meta["JITTER"] = model.jitter
    t.meta["PIXERR"] = bool(model.use_pixel_error)
    t.meta["FLAGBITS"] = ",".join(f"{n}={b}" for n, b in FLAG_BITS.items())
    t.meta["CREATOR"] = f"jaxspec-stellar {__version__}"
    return t


def _finish_flags(t: Any, flags: dict[str, np.ndarray], messages: list[str]) -> Any:
    with np.errstate(invalid="ignore"):
        flags["flag_poor_fit"] = np.asarray(t["chi2_red"]) > POOR_FIT_CHI2_RED
    bits = np.zeros(len(t), dtype=np.int32)
    for name, bit in FLAG_BITS.items():
        value = np.asarray(flags.get(name, np.zeros(len(t), bool)), dtype=bool)
        t[name] = value
        bits |= value.astype(np.int32) << bit
    t["flag"] = bits
    t["message"] = np.asarray(messages, dtype=str) if len(messages) else np.zeros(0, str)
    return t


def _scale_of(result: Any) -> np.ndarray | None:
    return getattr(result, "flux_scale", None)


def map_table(result: Any) -> Any:
    """The catalog of a :class:`~jaxspec.infer.MapResult` (Laplace errors)."""
    model = result.model
    t = _base_table(
        model,
        result.object_ids,
        result.theta,
        result.cov,
        result.chi2,
        result.n_good,
        _scale_of(result),
        "map+laplace",
    )
    fitted = result.fitted
    flags = {
        "flag_unfit": ~fitted,
        "flag_edge": result.at_edge,
        "flag_not_converged": fitted & ~result.converged,
        "flag_bad_hessian": fitted & ~result.hessian_ok,
    }
    return _finish_flags(t, flags, result.messages)


def sample_table(result: Any) -> Any:
    """The catalog of a :class:`~jaxspec.infer.SampleResult` (posterior mean ± std)."""
    model = result.model
    flat = result.flat_samples
    with np.errstate(invalid="ignore"):
        mean = flat.mean(axis=1)
        centred = flat - mean[:, None, :]
        cov = np.einsum("sdp,sdq->spq", centred, centred) / max(flat.shape[1] - 1, 1)
    m = result.map
    t = _base_table(model, m.object_ids, mean, cov, m.chi2, m.n_good, _scale_of(m), result.method)
    phys = _physical_names(model)
    with warnings.catch_warnings():  # rows of stars not fitted are all NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        pct = np.nanpercentile(flat, [16, 50, 84], axis=1)
    for i, (name, unit) in enumerate(phys):
        u = _unit(unit)
        for j, q in enumerate((16, 50, 84)):
            t[f"{name}_p{q}"] = pct[j][:, i] * u
        t[f"{name}_rhat"] = result.r_hat[:, i]
        t[f"{name}_ess"] = result.ess[:, i]
    t["n_divergent"] = result.divergences.astype(np.int32)
    fitted = m.fitted
    with np.errstate(invalid="ignore"):
        rhat_bad = np.any(result.r_hat > 1.01, axis=1)
    flags = {
        "flag_unfit": ~fitted,
        "flag_edge": m.at_edge,
        "flag_rhat": fitted & rhat_bad,
        "flag_divergent": fitted & (result.divergences > 0),
    }
    t.meta["NCHAINS"] = int(result.samples.shape[1])
    t.meta["NDRAWS"] = int(result.samples.shape[2])
    return _finish_flags(t, flags, m.messages)


_FORMATS = {".fits": "fits", ".fit": "fits", ".h5": "hdf5", ".hdf5": "hdf5", ".ecsv": "ascii.ecsv"}


def write_catalog(table: Any, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """Write a catalog atomically; the format follows the suffix (.fits, .h5/.hdf5, .ecsv).

    Raises:
        ValueError: unknown suffix.
        FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    from .._atomic import atomic_path

    path = Path(path)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(
            f"cannot tell the catalog format from {path.name!r}; use a .fits, .h5/.hdf5 or "
            ".ecsv file name"
        )
    kwargs: dict[str, Any] = {"format": fmt, "overwrite": True}
    if fmt == "hdf5":
        kwargs |= {"path": "catalog", "serialize_meta": True}
    if fmt == "fits":
        table = _ascii_text(table)
    with atomic_path(path, overwrite=overwrite) as tmp, warnings.catch_warnings():
        # FITS has no "dex" unit: astropy warns and writes the unit string as it is.
        warnings.filterwarnings("ignore", message=".*could not be saved in native FITS.*")
        table.write(tmp, **kwargs)
    return path


def _ascii_text(table: Any) -> Any:
    """A copy with text columns and metadata in ASCII (FITS headers and tables need it)."""
    import unicodedata

    def ascii_of(text: str) -> str:
        text = text.replace("–", "-").replace("—", "-").replace("Å", "A").replace("σ", "sigma")
        text = unicodedata.normalize("NFKD", text)
        return text.encode("ascii", "replace").decode("ascii")

    out = table.copy(copy_data=True)
    for name in out.colnames:
        if out[name].dtype.kind == "U":
            out[name] = np.asarray([ascii_of(str(v)) for v in out[name]], dtype=str)
    for key, value in list(out.meta.items()):
        if isinstance(value, str):
            out.meta[key] = ascii_of(value)
    return out


def to_arviz(result: Any) -> Any:
    """An ArviZ ``InferenceData`` of a :class:`~jaxspec.infer.SampleResult`.

    The posterior group has one variable per label (and ``rv``, ``vsini``, ``continuum``)
    with dimensions ``(chain, draw, star)``; ``sample_stats`` holds nothing per draw.

    Raises:
        ImportError: arviz is not installed (``pip install arviz``).
    """
    try:
        import arviz as az
    except ImportError as exc:
        raise ImportError("to_arviz needs arviz; install it with pip install arviz") from exc
    s = result.samples  # (stars, chains, draws, p)
    model = result.model
    posterior: dict[str, np.ndarray] = {}
    phys = _physical_names(model)
    for i, (name, _) in enumerate(phys):
        posterior[name] = np.moveaxis(s[..., i], 0, -1)
    posterior["continuum"] = np.moveaxis(s[..., len(phys) :], 0, 2)
    ids = result.map.object_ids
    return az.from_dict(
        posterior=posterior,
        coords={"star": ids, "coef": result.names[len(phys) :]},
        dims={**{n: ["star"] for n, _ in phys}, "continuum": ["star", "coef"]},
        attrs={"method": result.method, "inference_library": "numpyro"},
    )
