"""jaxspec-stellar: differentiable modelling of stellar spectra in JAX.

The top-level import is light: it gives the :class:`Spectrum` container and its metadata.
Subpackages (``jaxspec.io``, ``jaxspec.preprocess``, ``jaxspec.labels``, ``jaxspec.synth``,
``jaxspec.emulators``) are imported on use.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import (
    FileFormatError as FileFormatError,
)
from .errors import (
    JaxspecError as JaxspecError,
)
from .errors import (
    LabelRangeError as LabelRangeError,
)
from .errors import (
    SpectrumValidationError as SpectrumValidationError,
)
from .errors import (
    UnknownFormatError as UnknownFormatError,
)
from .spectrum import Spectrum as Spectrum
from .spectrum import SpectrumMeta as SpectrumMeta
from .spectrum import stack as stack

__version__ = "0.1.0"

__all__ = [
    "Spectrum",
    "SpectrumMeta",
    "stack",
    "JaxspecError",
    "SpectrumValidationError",
    "FileFormatError",
    "UnknownFormatError",
    "LabelRangeError",
    "io",
    "preprocess",
    "labels",
    "synth",
    "emulators",
    "infer",
    "augment",
    "regress",
    "classify",
    "explain",
    "__version__",
]

_SUBMODULES = {
    "io",
    "preprocess",
    "labels",
    "synth",
    "emulators",
    "infer",
    "augment",
    "regress",
    "classify",
    "explain",
}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'jaxspec' has no attribute {name!r}")
