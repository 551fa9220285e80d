"""Preprocessing of spectra: resampling, Doppler shifts, air/vacuum, broadening, continuum, noise.

Every function takes a :class:`~jaxspec.Spectrum` (one spectrum or a batch with any
leading axes), is written for one spectrum and batched with ``jax.vmap``, works under
``jax.jit``, and is differentiable in its continuous parameters.
"""

from .air_vacuum import air_to_vacuum as air_to_vacuum
from .air_vacuum import vacuum_to_air as vacuum_to_air
from .broadening import convolve_resolution as convolve_resolution
from .broadening import rotational_broadening as rotational_broadening
from .continuum import APOGEE_CHIPS as APOGEE_CHIPS
from .continuum import continuum_normalize as continuum_normalize
from .continuum import fit_continuum as fit_continuum
from .continuum import normalize_by as normalize_by
from .doppler import SPEED_OF_LIGHT_KMS as SPEED_OF_LIGHT_KMS
from .doppler import doppler_factor as doppler_factor
from .doppler import doppler_shift as doppler_shift
from .noise import add_noise as add_noise
from .resample import log_linear_grid as log_linear_grid
from .resample import pixel_edges as pixel_edges
from .resample import resample as resample

__all__ = [
    "air_to_vacuum",
    "vacuum_to_air",
    "resample",
    "pixel_edges",
    "log_linear_grid",
    "doppler_shift",
    "doppler_factor",
    "SPEED_OF_LIGHT_KMS",
    "convolve_resolution",
    "rotational_broadening",
    "fit_continuum",
    "continuum_normalize",
    "normalize_by",
    "APOGEE_CHIPS",
    "add_noise",
]
