"""Bayesian label inference: forward model, batched MAP + Laplace, vmapped NUTS, SVI.

- :class:`ForwardModel`: emulator → broadening → Doppler shift → continuum polynomial, with a
  Gaussian likelihood (noise + emulator error + jitter) and priors (numpyro model).
- :func:`fit_map`: MAP of many stars in one compiled program, Laplace covariances.
- :func:`sample`: NUTS (vmapped over stars, per-star adaptation) or SVI posteriors.
- :func:`cramer_rao`: the Fisher bound on label uncertainties.
- :mod:`jaxspec.infer.results`: astropy Table catalogs, FITS/HDF5/ECSV, ArviZ export.
- :func:`plot_fit`, :func:`plot_corner`: figures (``[plot]`` extra).
"""

from .bounds import cramer_rao
from .forward import FitData, ForwardModel, Params
from .map import MapResult, fit_map
from .mcmc import SampleResult, sample
from .plots import plot_corner, plot_fit
from .results import FLAG_BITS, to_arviz, write_catalog
from .synth_model import SynthesizerModel

__all__ = [
    "ForwardModel",
    "FitData",
    "Params",
    "fit_map",
    "MapResult",
    "sample",
    "SampleResult",
    "cramer_rao",
    "write_catalog",
    "to_arviz",
    "FLAG_BITS",
    "SynthesizerModel",
    "plot_fit",
    "plot_corner",
]
