"""Flax NNX spectrum emulators: labels -> normalised flux, in microseconds.

* :class:`Emulator` — a trained network with its label space, wavelengths, resolution,
  held-out error and provenance; :meth:`Emulator.apply` is the pure ``(params, labels) ->
  flux`` function for ``jit``/``vmap``/``jacfwd`` and numpyro.
* :class:`PayneMLP` (The Payne's 300-300 leaky-ReLU MLP) and :class:`SmoothMLP` (the
  stronger default) — the networks, see :mod:`jaxspec.emulators.networks`.
* :func:`train_emulator` (from grid files) and :func:`fit_emulator` (from arrays) — optax
  AdamW training with a validation split, early stopping and resumable checkpoints.
* :func:`save_emulator` / :func:`load_emulator` — versioned HDF5 model files.
* :func:`load_default` — the pretrained FGK emulator shipped with the package.
"""

from __future__ import annotations

from .default import load_default as load_default
from .io import load_emulator as load_emulator
from .io import save_emulator as save_emulator
from .model import Emulator as Emulator
from .model import Prediction as Prediction
from .networks import ARCHITECTURES as ARCHITECTURES
from .networks import PayneMLP as PayneMLP
from .networks import SmoothMLP as SmoothMLP
from .training import TrainingConfig as TrainingConfig
from .training import fit_emulator as fit_emulator
from .training import train_emulator as train_emulator

__all__ = [
    "Emulator",
    "Prediction",
    "PayneMLP",
    "SmoothMLP",
    "ARCHITECTURES",
    "save_emulator",
    "load_emulator",
    "load_default",
    "TrainingConfig",
    "fit_emulator",
    "train_emulator",
]
