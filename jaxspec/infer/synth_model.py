"""The physics synthesizer behind the emulator interface, so it can be the forward model.

``ForwardModel(SynthesizerModel.from_emulator(emulator))`` fits with the differentiable
synthesizer the emulator was trained on (same wavelengths, labels and box): slow, but free
of emulator error, which is how emulator-based fits are checked.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp
import numpy as np

from ..labels import LabelSpace

__all__ = ["SynthesizerModel"]


@dataclasses.dataclass(frozen=True, eq=False)
class SynthesizerModel:
    """A :class:`~jaxspec.synth.Synthesizer` with the attributes a :class:`ForwardModel` uses.

    Attributes:
        synthesizer: the physics synthesizer (use float64: ``jax_enable_x64``).
        label_space: the free labels and their box (a subset of the synthesis labels).
        fixed_labels: values of the synthesis labels that are not free, e.g. ``{"vmic": 1}``.
    """

    synthesizer: Any
    label_space: LabelSpace
    fixed_labels: dict[str, float] = dataclasses.field(default_factory=dict)

    #: No weights: the synthesizer's data are constants of the compiled program.
    params: tuple = ()
    pixel_error: None = None
    arch: str = "synthesizer"

    def __post_init__(self) -> None:
        from ..synth.synthesizer import LABEL_NAMES

        missing = [
            n for n in LABEL_NAMES if n not in self.label_space.names and n not in self.fixed_labels
        ]
        if missing:
            raise ValueError(f"synthesis labels {missing} are neither free nor fixed")
        unknown = [n for n in self.label_space.names if n not in LABEL_NAMES]
        if unknown:
            raise ValueError(f"labels {unknown} are not synthesis labels {LABEL_NAMES}")

    @classmethod
    def from_emulator(cls, emulator: Any) -> SynthesizerModel:
        """The synthesizer an emulator was trained on, with its labels and box."""
        return cls(emulator.synthesizer(), emulator.label_space, dict(emulator.fixed_labels))

    @property
    def wave(self) -> np.ndarray:
        return np.asarray(self.synthesizer.wave, dtype=np.float64)

    @property
    def n_pix(self) -> int:
        return int(self.wave.size)

    @property
    def resolution(self) -> float | None:
        return self.synthesizer.resolution

    @property
    def label_names(self) -> tuple[str, ...]:
        return self.label_space.names

    def __repr__(self) -> str:
        return (
            f"SynthesizerModel({self.n_pix} pixels {self.wave[0]:.1f}–{self.wave[-1]:.1f} Å, "
            f"R={self.resolution}, labels {list(self.label_names)}, fixed {self.fixed_labels})"
        )

    def apply(self, params: Any, labels: Any) -> Any:
        """``(..., n_labels)`` labels → ``(..., n_pix)`` normalised flux (float64)."""
        from ..synth.synthesizer import LABEL_NAMES

        del params
        x = jnp.asarray(labels, dtype=jnp.float64)
        cols = [
            x[..., self.label_space.names.index(n)]
            if n in self.label_space.names
            else jnp.full(x.shape[:-1], float(self.fixed_labels[n]))
            for n in LABEL_NAMES
        ]
        norm, _ = self.synthesizer.flux(jnp.stack(cols, axis=-1))
        return norm
