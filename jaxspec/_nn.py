"""The 1-D convolutional trunk shared by the CNN regressor and the spectral classifier.

StarNet (Fabbro et al. 2018, MNRAS 475, 2978) and astroNN's ApogeeBCNN (Leung & Bovy 2019,
MNRAS 483, 3255) read a spectrum with two narrow convolutions, one max-pool and two dense
layers; heads on top give labels or classes. :class:`ConvTrunk` is that trunk, with the
input as two channels (normalised flux − 1, and the mask; :func:`jaxspec.augment.model_inputs`),
so masked pixels are known to the network rather than guessed from a fill value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

__all__ = ["ConvTrunk", "TRUNK_DEFAULTS"]

#: StarNet's sizes: 4 and 16 filters of width 8, max-pool 4, dense 256 and 128.
TRUNK_DEFAULTS: dict[str, Any] = {
    "filters": (4, 16),
    "kernel_size": 8,
    "pool": 4,
    "hidden": (256, 128),
}


class ConvTrunk(nnx.Module):
    """Conv1D × len(filters) (ReLU) → max-pool → flatten → Dense × len(hidden) (ReLU).

    Args:
        n_pix: pixels per spectrum.
        in_channels: input channels (2: flux − 1 and mask).
        filters: output channels of each convolution.
        kernel_size: convolution width [pixels].
        pool: max-pool width and stride [pixels].
        hidden: widths of the dense layers.
        rngs: Flax random streams (``params`` is used).

    Call: ``(batch, n_pix, in_channels)`` → ``(batch, hidden[-1])`` features.
    """

    def __init__(
        self,
        n_pix: int,
        *,
        in_channels: int = 2,
        filters: Sequence[int] = TRUNK_DEFAULTS["filters"],
        kernel_size: int = TRUNK_DEFAULTS["kernel_size"],
        pool: int = TRUNK_DEFAULTS["pool"],
        hidden: Sequence[int] = TRUNK_DEFAULTS["hidden"],
        rngs: nnx.Rngs,
    ) -> None:
        if n_pix < pool or pool < 1:
            raise ValueError(f"need n_pix >= pool >= 1; got n_pix={n_pix}, pool={pool}")
        if not filters or not hidden:
            raise ValueError("filters and hidden need at least one entry each")
        channels = [in_channels, *filters]
        self.convs = nnx.List(
            [
                nnx.Conv(a, b, kernel_size=(kernel_size,), padding="SAME", rngs=rngs)
                for a, b in zip(channels[:-1], channels[1:], strict=True)
            ]
        )
        self.pool = int(pool)
        self.n_pix = int(n_pix)
        sizes = [(n_pix // pool) * filters[-1], *hidden]
        self.dense = nnx.List(
            [nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
        )
        self.n_features = int(hidden[-1])

    def __call__(self, x: jax.Array) -> jax.Array:
        if x.ndim != 3 or x.shape[1] != self.n_pix:
            raise ValueError(f"expected input (batch, {self.n_pix}, channels); got shape {x.shape}")
        for conv in self.convs:
            x = jax.nn.relu(conv(x))
        b, n, c = x.shape
        m = n // self.pool
        x = jnp.max(x[:, : m * self.pool].reshape(b, m, self.pool, c), axis=2)
        x = x.reshape(b, m * c)
        for layer in self.dense:
            x = jax.nn.relu(layer(x))
        return x
