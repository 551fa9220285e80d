"""Preprocessing of spectra: resampling, Doppler shifts, air/vacuum, broadening, continuum, noise."""

from .air_vacuum import air_to_vacuum as air_to_vacuum
from .air_vacuum import vacuum_to_air as vacuum_to_air

__all__ = ["air_to_vacuum", "vacuum_to_air"]
