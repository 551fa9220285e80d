"""MK spectral classification: temperature class, subclass and luminosity class.

:class:`SpectralClassifier` (a convolutional network on continuum-normalised spectra, trained
on synthetic grids, with temperature-scaled probabilities) and the calibration tools of
:mod:`jaxspec.classify.calibration`. See :mod:`jaxspec.classify.classifier` for the targets,
the design and where the training physics is too simple for some classes.
"""

from __future__ import annotations

from .._train import TrainConfig as TrainConfig
from .calibration import Reliability as Reliability
from .calibration import confusion_matrix as confusion_matrix
from .calibration import expected_calibration_error as expected_calibration_error
from .calibration import fit_temperature as fit_temperature
from .calibration import reliability as reliability
from .classifier import CALIBRATION_REFERENCE as CALIBRATION_REFERENCE
from .classifier import ClassificationResult as ClassificationResult
from .classifier import SpectralClassifier as SpectralClassifier
from .classifier import type_bins as type_bins

__all__ = [
    "TrainConfig",
    "SpectralClassifier",
    "ClassificationResult",
    "CALIBRATION_REFERENCE",
    "type_bins",
    "fit_temperature",
    "expected_calibration_error",
    "reliability",
    "Reliability",
    "confusion_matrix",
]
