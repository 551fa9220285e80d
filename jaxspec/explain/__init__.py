"""Which pixels does a model look at? Saliency of differentiable regressors and classifiers.

Any JAX function ``f(flux) -> outputs`` of one spectrum — ``flux`` ``(n_pix,)`` normalised,
``outputs`` ``(n_out,)`` label predictions or class logits/probabilities — can be explained:

* :func:`saliency` — per output, the attribution of every pixel: the ``"gradient"``
  ∂f_k/∂flux_λ (signed; its magnitude is the classic saliency map), or
  ``"integrated_gradients"`` (Sundararajan, Taly & Yan 2017, ICML): ``(x − x₀) ⊙ ∫₀¹
  ∇f(x₀ + α(x − x₀)) dα`` from a baseline ``x₀`` (default the continuum, flux 1), whose
  attributions add up to ``f(x) − f(x₀)`` (*completeness*, reported in the result);
* :func:`line_positions`, :func:`balmer_lines` — vacuum wavelengths of the significant lines
  of the shipped line list (ranked by :func:`line_strength`) and of Hα–Hε;
* :func:`line_enrichment` — how much more often the most salient pixels fall on listed lines
  than pixels taken at random;
* :func:`plot_saliency` — saliency against wavelength with line ticks (needs the ``[plot]``
  extra).

A network that takes the two-channel input of :func:`jaxspec.augment.model_inputs` is
explained through a closure over its mask, e.g.
``f = lambda x: apply(params, model_inputs(x[None], mask[None]))[0]``.
"""

from __future__ import annotations

from .attribution import Saliency as Saliency
from .attribution import saliency as saliency
from .enrichment import Enrichment as Enrichment
from .enrichment import line_enrichment as line_enrichment
from .lines import BALMER_LINES as BALMER_LINES
from .lines import LinePositions as LinePositions
from .lines import balmer_lines as balmer_lines
from .lines import line_positions as line_positions
from .lines import line_strength as line_strength
from .plot import plot_saliency as plot_saliency

__all__ = [
    "Saliency",
    "saliency",
    "LinePositions",
    "line_strength",
    "line_positions",
    "balmer_lines",
    "BALMER_LINES",
    "Enrichment",
    "line_enrichment",
    "plot_saliency",
]
