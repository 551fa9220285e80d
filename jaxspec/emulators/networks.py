"""Flax NNX networks that map scaled labels to normalised flux on a fixed pixel grid.

Two architectures, both ``(..., n_labels) -> (..., n_pix)`` in float32, both pure functions
of their parameters once split with :func:`flax.nnx.split`:

* :class:`PayneMLP` — the reference architecture of The Payne (Ting et al. 2019, ApJ 879,
  69): two hidden layers of 300 units with leaky ReLU (slope 0.01), then a linear layer to
  every pixel. It is the baseline every other emulator is compared with.
* :class:`SmoothMLP` — the stronger default: three hidden layers of 512 units and one of
  256 with SiLU activations, then a linear layer to every pixel. Smooth activations make the
  emulated spectrum a smooth function of the labels (leaky ReLU makes it piecewise linear,
  so its error between training points is first order in their spacing), and the extra
  depth lets it bend where the spectrum bends (line saturation, ionisation balance). The
  measurement against The Payne is ``benchmarks/bench_emulator_accuracy.py`` (see the
  README).

Labels enter scaled to the training box as The Payne scales them, ``(x - lower) / (upper -
lower) - 0.5`` (:func:`scale_labels`); the final bias starts at the mean training spectrum
(``flux_mean``) so training starts from the average star.

:data:`ARCHITECTURES` maps the names used on the command line and in model files
(``"payne"``, ``"smooth"``) to the classes and their default configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

__all__ = ["PayneMLP", "SmoothMLP", "ARCHITECTURES", "build_network", "scale_labels"]


def _array(leaf: Any) -> Any:
    """The array held by a state leaf (an ``nnx.Variable`` or already an array)."""
    return leaf.get_value() if isinstance(leaf, nnx.Variable) else leaf


#: Slope of the leaky ReLU on the negative side, as in The Payne.
LEAKY_SLOPE = 0.01


def scale_labels(labels: Any, lower: Any, upper: Any, dtype: Any = jnp.float32) -> jax.Array:
    """Scale labels to The Payne's box ``[-0.5, 0.5]``: ``(x - lower) / (upper - lower) - 0.5``.

    Args:
        labels: ``(..., n_labels)`` labels in physical units.
        lower, upper: ``(n_labels,)`` bounds of the training box.
        dtype: dtype of the result (that of the network's weights; float32 by default).

    Returns:
        ``(..., n_labels)`` scaled labels.
    """
    x = jnp.asarray(labels).astype(dtype)
    lo = jnp.asarray(lower, dtype=dtype)
    hi = jnp.asarray(upper, dtype=dtype)
    return (x - lo) / (hi - lo) - 0.5


def _output_layer(width: int, n_pix: int, flux_mean: Any, rngs: nnx.Rngs) -> nnx.Linear:
    layer = nnx.Linear(width, n_pix, rngs=rngs)
    if flux_mean is not None:
        mean = jnp.asarray(flux_mean, dtype=jnp.float32)
        if mean.shape != (n_pix,):
            raise ValueError(f"flux_mean must have shape ({n_pix},), got {mean.shape}")
        layer.bias[...] = mean
    return layer


class PayneMLP(nnx.Module):
    """The Payne's emulator: labels -> 300 -> 300 (leaky ReLU) -> every pixel.

    Args:
        n_labels: number of labels.
        n_pix: number of output pixels.
        hidden: width of the two hidden layers (300 in The Payne).
        flux_mean: optional ``(n_pix,)`` initial output bias (the mean training spectrum).
        rngs: Flax random streams (``params`` is used).

    Call: ``(..., n_labels)`` scaled labels (:func:`scale_labels`) -> ``(..., n_pix)`` flux.
    """

    def __init__(
        self,
        n_labels: int,
        n_pix: int,
        *,
        hidden: int = 300,
        flux_mean: Any = None,
        rngs: nnx.Rngs,
    ) -> None:
        self.hidden1 = nnx.Linear(n_labels, hidden, rngs=rngs)
        self.hidden2 = nnx.Linear(hidden, hidden, rngs=rngs)
        self.output = _output_layer(hidden, n_pix, flux_mean, rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        h = jax.nn.leaky_relu(self.hidden1(x), LEAKY_SLOPE)
        h = jax.nn.leaky_relu(self.hidden2(h), LEAKY_SLOPE)
        return self.output(h)


class SmoothMLP(nnx.Module):
    """A deeper MLP with smooth (SiLU) activations and a narrower layer before the pixels.

    labels -> ``layers`` × ``hidden`` (SiLU) -> ``head`` (SiLU) -> every pixel.

    Args:
        n_labels: number of labels.
        n_pix: number of output pixels.
        hidden: width of the hidden layers.
        layers: number of hidden layers of width ``hidden``.
        head: width of the last hidden layer, the one every pixel reads (it sets the size
            of the output matrix, ``head × n_pix``, which dominates the weights).
        flux_mean: optional ``(n_pix,)`` initial output bias (the mean training spectrum).
        rngs: Flax random streams (``params`` is used).

    Call: ``(..., n_labels)`` scaled labels (:func:`scale_labels`) -> ``(..., n_pix)`` flux.
    """

    def __init__(
        self,
        n_labels: int,
        n_pix: int,
        *,
        hidden: int = 512,
        layers: int = 3,
        head: int = 256,
        flux_mean: Any = None,
        rngs: nnx.Rngs,
    ) -> None:
        sizes = [n_labels] + [hidden] * layers + [head]
        self.hidden = nnx.List(
            [nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
        )
        self.output = _output_layer(head, n_pix, flux_mean, rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        h = x
        for layer in self.hidden:
            h = jax.nn.silu(layer(h))
        return self.output(h)


#: Architecture name -> (class, default configuration). The configuration keys are the
#: keyword arguments of the class (besides ``n_labels``, ``n_pix``, ``flux_mean``, ``rngs``).
ARCHITECTURES: dict[str, tuple[type[nnx.Module], dict[str, int]]] = {
    "payne": (PayneMLP, {"hidden": 300}),
    "smooth": (SmoothMLP, {"hidden": 512, "layers": 3, "head": 256}),
}


def network_config(arch: str, config: Mapping[str, Any] | None = None) -> dict[str, int]:
    """The full configuration of architecture ``arch``: its defaults updated by ``config``.

    Raises:
        ValueError: unknown architecture, unknown key, or a value that is not a positive int.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(
            f"unknown emulator architecture {arch!r}; choose one of {sorted(ARCHITECTURES)}"
        )
    defaults = ARCHITECTURES[arch][1]
    merged = dict(defaults)
    for key, value in (config or {}).items():
        if key not in defaults:
            raise ValueError(
                f"architecture {arch!r} has no setting {key!r}; its settings are {sorted(defaults)}"
            )
        if isinstance(value, bool) or int(value) != value or int(value) < 1:
            raise ValueError(f"{arch} setting {key} must be a positive integer, got {value!r}")
        merged[key] = int(value)
    return merged


def build_network(
    arch: str,
    n_labels: int,
    n_pix: int,
    config: Mapping[str, Any] | None = None,
    *,
    flux_mean: Any = None,
    seed: int = 0,
) -> nnx.Module:
    """Build a freshly initialised network of architecture ``arch``.

    Args:
        arch: ``"payne"`` or ``"smooth"`` (see :data:`ARCHITECTURES`).
        n_labels, n_pix: input and output sizes.
        config: settings overriding the architecture's defaults.
        flux_mean: optional ``(n_pix,)`` initial output bias.
        seed: seed of the weight initialisation.
    """
    cfg = network_config(arch, config)
    cls = ARCHITECTURES[arch][0]
    if flux_mean is not None:
        flux_mean = np.asarray(flux_mean, dtype=np.float32)
    return cls(n_labels, n_pix, **cfg, flux_mean=flux_mean, rngs=nnx.Rngs(params=seed))
