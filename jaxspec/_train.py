"""Minibatch training of spectrum networks on augmented grid spectra (optax, resumable).

:func:`train_network` is shared by the CNN regressor and the spectral classifier. Every
step draws a minibatch of noise-free grid spectra, augments it afresh
(:func:`jaxspec.augment.augment`: noise, RV, resolution, continuum, masked chunks), turns it
into the two-channel input (:func:`jaxspec.augment.model_inputs`) and takes an AdamW step;
each step is one compiled program. After every epoch the loss on a fixed augmented
validation set decides which weights are kept (the best epoch) and when to stop (``patience``
epochs without gain). A checkpoint file, if given, is written atomically after every epoch
and a rerun of the same call resumes from it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from ._modelfile import read_model_file, write_model_file
from .augment import AugmentConfig, augment, model_inputs

__all__ = ["TrainConfig", "TrainResult", "train_network"]

_CKPT_FORMAT = "jaxspec.train_checkpoint"
_CKPT_VERSION = 1


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimiser and schedule of :func:`train_network`.

    Attributes:
        batch_size: spectra per step.
        max_epochs: upper limit on passes over the training set.
        patience: stop after this many epochs without a better validation loss.
        learning_rate: peak AdamW learning rate (linear warm-up over the first epoch, then
            cosine decay to 1 % of it at ``max_epochs``).
        weight_decay: AdamW weight decay.
        seed: seed of the initial weights' PRNG stream is the caller's; this one drives the
            minibatch order and the augmentation.
    """

    batch_size: int = 64
    max_epochs: int = 60
    patience: int = 8
    learning_rate: float = 1e-3
    weight_decay: float = 1e-5
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("batch_size", "max_epochs", "patience"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1; got {getattr(self, name)}")
        if not (self.learning_rate > 0 and self.weight_decay >= 0):
            raise ValueError("learning_rate must be > 0 and weight_decay >= 0")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings."""
        return dataclasses.asdict(self)


class TrainResult(NamedTuple):
    """What :func:`train_network` returns.

    Attributes:
        model: the network holding the best weights (validation loss).
        history: per epoch ``{"epoch", "train_loss", "val_loss", "seconds"}``.
        best_epoch: epoch (1-based) whose weights were kept.
        best_val_loss: its validation loss.
        seconds: wall time of the training (this call, compilation included).
        n_train: spectra trained on.
    """

    model: nnx.Module
    history: list[dict[str, float]]
    best_epoch: int
    best_val_loss: float
    seconds: float
    n_train: int


def _tree_take(tree: Any, idx: jax.Array) -> Any:
    return jax.tree.map(lambda a: a[idx], tree)


def _save_checkpoint(path: Path, leaves: list[Any], meta: dict[str, Any]) -> None:
    arrays = {f"leaf_{i:05d}": np.asarray(a) for i, a in enumerate(leaves)}
    write_model_file(
        path,
        format_name=_CKPT_FORMAT,
        format_version=_CKPT_VERSION,
        attrs={"meta": meta},
        arrays=arrays,
        overwrite=True,
    )


def _load_checkpoint(path: Path, template: list[Any], fingerprint: str) -> tuple[list, dict]:
    attrs, arrays = read_model_file(
        path,
        format_name=_CKPT_FORMAT,
        format_version=_CKPT_VERSION,
        what="training checkpoint",
        remedy=f"Delete {path} to start the training afresh",
    )
    meta = attrs["meta"]
    if meta.get("fingerprint") != fingerprint:
        raise ValueError(
            f"checkpoint {path} belongs to another training run (different data, network or "
            f"settings); delete it or choose another checkpoint path"
        )
    leaves = [arrays[f"leaf_{i:05d}"] for i in range(len(template))]
    for i, (a, t) in enumerate(zip(leaves, template, strict=True)):
        if a.shape != np.shape(t):
            raise ValueError(f"checkpoint {path} leaf {i} has shape {a.shape}, expected {t.shape}")
    return [
        jnp.asarray(a, dtype=jnp.asarray(t).dtype) for a, t in zip(leaves, template, strict=True)
    ], meta


def fingerprint(*parts: Any) -> str:
    """SHA-256 of arrays (dtype, shape, bytes) and JSON-able settings: the identity of a
    training run, stored in its checkpoints so a resume never mixes two runs."""
    import hashlib

    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, np.ndarray | jax.Array):
            a = np.ascontiguousarray(np.asarray(p))
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(a.tobytes())
        else:
            h.update(json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()


def train_network(
    model: nnx.Module,
    loss_fn: Callable[[nnx.Module, jax.Array, Any], jax.Array],
    *,
    flux_train: Any,
    targets_train: Any,
    flux_val: Any,
    targets_val: Any,
    wave: Any,
    resolution: float = 0.0,
    augment_config: AugmentConfig | None = None,
    config: TrainConfig | None = None,
    checkpoint: str | Path | None = None,
    progress: bool = True,
    description: str = "training",
) -> TrainResult:
    """Train ``model`` to minimise ``loss_fn`` on augmented spectra.

    Args:
        model: an NNX module taking ``(batch, n_pix, 2)`` inputs; its weights are updated in
            place and also returned (the best epoch's).
        loss_fn: ``loss_fn(model, inputs, targets) -> scalar`` mean loss of a batch, with
            ``inputs`` from :func:`~jaxspec.augment.model_inputs` and ``targets`` a pytree of
            arrays with a leading batch axis.
        flux_train: ``(n_train, n_pix)`` noise-free normalised flux.
        targets_train: pytree of ``(n_train, ...)`` arrays.
        flux_val, targets_val: the validation set, augmented once with a fixed key.
        wave: ``(n_pix,)`` vacuum wavelength [Å].
        resolution: resolving power of the flux (for resolution degradation; 0: none).
        augment_config: augmentation of training and validation spectra (default
            :class:`~jaxspec.augment.AugmentConfig()`).
        config: optimiser, batch size, epochs, patience and seed (default ``TrainConfig()``).
        checkpoint: optional file; written after every epoch, resumed from if it exists.
        progress: show a tqdm bar over epochs.
        description: the bar's label.

    Returns:
        :class:`TrainResult`.
    """
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    augment_config = AugmentConfig() if augment_config is None else augment_config
    config = TrainConfig() if config is None else config
    flux_train = jnp.asarray(flux_train, jnp.float32)
    flux_val = jnp.asarray(flux_val, jnp.float32)
    targets_train = jax.tree.map(jnp.asarray, targets_train)
    targets_val = jax.tree.map(jnp.asarray, targets_val)
    wave = np.asarray(wave, dtype=np.float64)
    n_train = int(flux_train.shape[0])
    batch = min(config.batch_size, n_train)
    steps = max(1, n_train // batch)
    total = steps * config.max_epochs
    schedule = optax.warmup_cosine_decay_schedule(
        0.0,
        config.learning_rate,
        warmup_steps=steps,
        decay_steps=max(total, steps + 1),
        end_value=0.01 * config.learning_rate,
    )
    opt = optax.adamw(schedule, weight_decay=config.weight_decay)
    graphdef, params = nnx.split(model)
    # The step donates its inputs' buffers: train on a copy, and copy the best weights.
    params = jax.tree.map(jnp.copy, params)
    opt_state = opt.init(params)

    def loss_of(p: Any, inputs: jax.Array, targets: Any) -> jax.Array:
        return loss_fn(nnx.merge(graphdef, p), inputs, targets)

    # The training set is an argument, not a closure: a closed-over array would be baked
    # into the compiled program as a constant.
    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def one_step(
        p: Any, s: Any, key: jax.Array, flux: jax.Array, targets: Any
    ) -> tuple[Any, Any, jax.Array]:
        k_idx, k_aug = jax.random.split(key)
        idx = jax.random.choice(k_idx, n_train, (batch,), replace=False)
        aug = augment(k_aug, flux[idx], wave, augment_config, resolution=resolution)
        inputs = model_inputs(aug.flux, aug.mask)
        loss, grads = jax.value_and_grad(loss_of)(p, inputs, _tree_take(targets, idx))
        updates, s = opt.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss

    def epoch(p: Any, s: Any, key: jax.Array) -> tuple[Any, Any, jax.Array]:
        # A Python loop over one compiled step: on CPU, XLA runs this several times faster
        # than the same steps inside a lax.scan.
        losses = []
        for k in jax.random.split(key, steps):
            p, s, loss = one_step(p, s, k, flux_train, targets_train)
            losses.append(loss)
        return p, s, jnp.mean(jnp.stack(losses))

    val_aug = augment(
        jax.random.key(config.seed + 7919), flux_val, wave, augment_config, resolution=resolution
    )
    val_inputs = model_inputs(val_aug.flux, val_aug.mask)
    val_batch = 256

    @jax.jit
    def val_loss_chunk(p: Any, inputs: jax.Array, targets: Any) -> jax.Array:
        return loss_of(p, inputs, targets)

    def val_loss(p: Any) -> float:
        n = int(val_inputs.shape[0])
        total_loss = 0.0
        for i in range(0, n, val_batch):
            j = min(i + val_batch, n)
            part = val_loss_chunk(p, val_inputs[i:j], _tree_take(targets_val, jnp.arange(i, j)))
            total_loss += float(part) * (j - i)
        return total_loss / n

    run_id = fingerprint(
        np.asarray(flux_train[:: max(1, n_train // 64)]),
        jax.tree.map(lambda a: np.asarray(a).shape, jax.tree.leaves(params)),
        config.to_dict(),
        augment_config.to_dict(),
        n_train,
        int(flux_val.shape[0]),
    )
    best_params = params
    best_loss, best_epoch, start_epoch, bad = math.inf, 0, 0, 0
    history: list[dict[str, float]] = []
    ckpt = Path(checkpoint) if checkpoint is not None else None
    template = [*jax.tree.leaves(params), *jax.tree.leaves(opt_state), *jax.tree.leaves(params)]
    if ckpt is not None and ckpt.exists():
        leaves, meta = _load_checkpoint(ckpt, template, run_id)
        n_p, n_s = len(jax.tree.leaves(params)), len(jax.tree.leaves(opt_state))
        params = jax.tree.unflatten(jax.tree.structure(params), leaves[:n_p])
        opt_state = jax.tree.unflatten(jax.tree.structure(opt_state), leaves[n_p : n_p + n_s])
        best_params = jax.tree.unflatten(jax.tree.structure(params), leaves[n_p + n_s :])
        best_loss, best_epoch = float(meta["best_loss"]), int(meta["best_epoch"])
        start_epoch, bad, history = int(meta["epoch"]), int(meta["bad"]), list(meta["history"])

    base_key = jax.random.key(config.seed)
    bar = tqdm(
        range(start_epoch, config.max_epochs),
        desc=description,
        unit="epoch",
        disable=not progress,
        initial=start_epoch,
        total=config.max_epochs,
    )
    for e in bar:
        if bad >= config.patience:
            break
        te = time.perf_counter()
        params, opt_state, train_loss = epoch(params, opt_state, jax.random.fold_in(base_key, e))
        v = val_loss(params)
        if not math.isfinite(v):
            raise FloatingPointError(
                f"validation loss became {v} at epoch {e + 1}; lower the learning rate"
            )
        if v < best_loss:
            best_loss, best_epoch, bad = v, e + 1, 0
            best_params = jax.tree.map(jnp.copy, params)
        else:
            bad += 1
        history.append(
            {
                "epoch": e + 1,
                "train_loss": float(train_loss),
                "val_loss": v,
                "seconds": time.perf_counter() - te,
            }
        )
        bar.set_postfix(train=f"{float(train_loss):.4g}", val=f"{v:.4g}", best=best_epoch)
        if ckpt is not None:
            leaves = [
                *jax.tree.leaves(params),
                *jax.tree.leaves(opt_state),
                *jax.tree.leaves(best_params),
            ]
            meta = {
                "fingerprint": run_id,
                "epoch": e + 1,
                "best_loss": best_loss,
                "best_epoch": best_epoch,
                "bad": bad,
                "history": history,
            }
            _save_checkpoint(ckpt, leaves, meta)
    bar.close()
    nnx.update(model, best_params)
    return TrainResult(
        model=model,
        history=history,
        best_epoch=best_epoch,
        best_val_loss=best_loss,
        seconds=time.perf_counter() - t0,
        n_train=n_train,
    )
