"""Training emulators with optax: AdamW, warm-up + cosine schedule, early stopping, resumable.

:func:`fit_emulator` trains on arrays; :func:`train_emulator` reads one or more grid files
written by ``jaxspec synth-grid`` (the same wavelengths), trains and writes a model file.

Determinism: the validation split, the weight initialisation and the order of the
minibatches are functions of ``seed`` alone (the batch of step ``s`` is drawn from a
permutation seeded by ``(seed, epoch)``), so a run interrupted and resumed from its
checkpoint takes exactly the steps an uninterrupted run takes.

Checkpoints (``<model>.ckpt.h5`` by default) hold the current and best weights, the optimiser
state, the step, the validation history and a hash of everything that defines the run
(data, labels, architecture, hyper-parameters). They are written atomically every
``eval_every`` steps and when the run is interrupted (Ctrl-C); a rerun with the same
arguments resumes from the last one, and a rerun with different ones refuses to mix them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._atomic import atomic_path
from .._hdf5 import to_json
from ..errors import FileFormatError, JaxspecError
from ..labels import LabelSpace
from .io import _flat_weights, fill_state, save_emulator
from .model import Emulator
from .networks import network_config

__all__ = ["TrainingConfig", "fit_emulator", "train_emulator", "grid_label_space"]

_CKPT_FORMAT = "jaxspec.emulator-checkpoint"


class TrainingResumeError(JaxspecError, ValueError):
    """A checkpoint belongs to a different training run."""


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """Hyper-parameters of a training run.

    Attributes:
        arch: ``"payne"`` or ``"smooth"``.
        network: architecture settings overriding its defaults (e.g. ``{"hidden": 300}``).
        batch_size: spectra per optimiser step.
        learning_rate: peak learning rate of the warm-up + cosine schedule.
        final_learning_rate: learning rate at ``max_steps``.
        warmup_steps: linear warm-up from 0 to ``learning_rate``.
        weight_decay: AdamW decoupled weight decay.
        max_steps: optimiser steps at most.
        eval_every: steps between validation passes (and checkpoints).
        patience: validation passes without improvement before stopping early.
        val_fraction: fraction of the spectra held out for validation.
        seed: seed of the split, the initialisation and the batch order.
    """

    arch: str = "smooth"
    network: dict[str, int] = dataclasses.field(default_factory=dict)
    batch_size: int = 128
    learning_rate: float = 3e-3
    final_learning_rate: float = 1e-5
    warmup_steps: int = 200
    weight_decay: float = 1e-5
    max_steps: int = 20000
    eval_every: int = 250
    patience: int = 12
    val_fraction: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        # Validates the architecture and its settings, and stores them in full.
        object.__setattr__(self, "network", network_config(self.arch, self.network))
        for name in ("batch_size", "max_steps", "eval_every", "patience", "warmup_steps", "seed"):
            value = getattr(self, name)
            low = 0 if name in ("warmup_steps", "seed") else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction!r}")
        if not 0 <= self.final_learning_rate <= self.learning_rate:
            raise ValueError(
                "need 0 <= final_learning_rate <= learning_rate, got "
                f"{self.final_learning_rate!r} and {self.learning_rate!r}"
            )
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")

    def schedule(self) -> optax.Schedule:
        """The learning-rate schedule (linear warm-up, cosine decay to the final rate)."""
        warmup = min(self.warmup_steps, self.max_steps - 1)
        return optax.warmup_cosine_decay_schedule(
            0.0,
            self.learning_rate,
            warmup_steps=warmup,
            decay_steps=self.max_steps,
            end_value=self.final_learning_rate,
        )

    def optimizer(self) -> optax.GradientTransformation:
        """AdamW on :meth:`schedule`."""
        return optax.adamw(self.schedule(), weight_decay=self.weight_decay)


# --------------------------------------------------------------------------------------
# Arrays -> emulator
# --------------------------------------------------------------------------------------


def _check_data(flux: np.ndarray, labels: np.ndarray, space: LabelSpace, wave: np.ndarray):
    if flux.ndim != 2 or flux.shape[1] != wave.size:
        raise ValueError(f"expected flux of shape (n, {wave.size}) to match wave, got {flux.shape}")
    if labels.shape != (flux.shape[0], space.n_labels):
        raise ValueError(
            f"expected labels of shape ({flux.shape[0]}, {space.n_labels}) "
            f"({', '.join(space.names)}), got {labels.shape}"
        )
    bad = ~np.all(np.isfinite(flux), axis=1) | ~np.all(np.isfinite(labels), axis=1)
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} training spectra have NaN/inf flux or labels (rows "
            f"{np.flatnonzero(bad)[:10].tolist()}); drop them before training"
        )
    if flux.shape[0] < 4:
        raise ValueError(f"need at least 4 training spectra, got {flux.shape[0]}")


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic (train, validation) index split of ``n`` spectra.

    At least 2 spectra go to each side (``n >= 4``); ``val_fraction`` sets the rest.
    """
    if n < 4:
        raise ValueError(f"need at least 4 spectra to split into training and validation, got {n}")
    perm = np.random.default_rng([seed, 0x5EED]).permutation(n)
    n_val = min(max(2, int(round(val_fraction * n))), n - 2)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def _batch_indices(n_train: int, batch_size: int, seed: int, step: int) -> np.ndarray:
    per_epoch = max(1, n_train // batch_size)
    epoch, j = divmod(step, per_epoch)
    perm = np.random.default_rng([seed, 1, epoch]).permutation(n_train)
    size = min(batch_size, n_train)
    return perm[j * size : (j + 1) * size]


def _run_hash(cfg: TrainingConfig, space: LabelSpace, wave, flux, labels) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(dataclasses.asdict(cfg), sort_keys=True).encode())
    h.update(json.dumps(space.to_dict(), sort_keys=True).encode())
    for arr in (wave, labels, flux):
        a = np.ascontiguousarray(arr)
        h.update(str((a.dtype, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


@dataclasses.dataclass(frozen=True)
class _State:
    """Everything a resumed run needs; a new one is made per step, never changed in place."""

    params: Any
    opt_state: Any
    best_params: Any
    step: int = 0
    best_step: int = 0
    best_val: float = float("inf")
    bad_evals: int = 0
    loss_sum: float = 0.0  # training loss summed since the last validation pass
    loss_count: int = 0
    history: tuple[dict[str, float], ...] = ()
    stopped: str = ""


def _write_checkpoint(path: Path, digest: str, state: _State) -> None:
    import h5py

    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = _CKPT_FORMAT
        f.attrs["run_hash"] = digest
        f.attrs["step"] = np.int64(state.step)
        f.attrs["best_step"] = np.int64(state.best_step)
        f.attrs["best_val"] = float(state.best_val)
        f.attrs["bad_evals"] = np.int64(state.bad_evals)
        f.attrs["loss_sum"] = float(state.loss_sum)
        f.attrs["loss_count"] = np.int64(state.loss_count)
        f.attrs["history"] = to_json(list(state.history), "training history")
        f.attrs["stopped"] = state.stopped
        for group, tree in (("params", state.params), ("best", state.best_params)):
            g = f.create_group(group)
            for name, arr in _flat_weights(tree).items():
                g.create_dataset(name, data=arr)
        g = f.create_group("opt")
        for i, leaf in enumerate(jax.tree.leaves(state.opt_state)):
            g.create_dataset(f"{i:05d}", data=np.asarray(leaf))


def _read_checkpoint(path: Path, digest: str, template: _State) -> _State:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != _CKPT_FORMAT:
                raise FileFormatError(f"{path} is not an emulator training checkpoint")
            if f.attrs["run_hash"] != digest:
                raise TrainingResumeError(
                    f"checkpoint {path} belongs to a different training run (other data, "
                    "labels or settings). Delete it to start afresh, or rerun with the "
                    "settings that made it"
                )

            def restore(tree: Any, group: str) -> Any:
                return fill_state(tree, {name: f[group][name][()] for name in _flat_weights(tree)})

            leaves, treedef = jax.tree.flatten(template.opt_state)
            opt_leaves = [jnp.asarray(f["opt"][f"{i:05d}"][()]) for i in range(len(leaves))]
            return _State(
                params=restore(template.params, "params"),
                opt_state=jax.tree.unflatten(treedef, opt_leaves),
                best_params=restore(template.params, "best"),
                step=int(f.attrs["step"]),
                best_step=int(f.attrs["best_step"]),
                best_val=float(f.attrs["best_val"]),
                bad_evals=int(f.attrs["bad_evals"]),
                loss_sum=float(f.attrs["loss_sum"]),
                loss_count=int(f.attrs["loss_count"]),
                history=tuple(json.loads(f.attrs["history"])),
                stopped=str(f.attrs["stopped"]),
            )
    except JaxspecError:
        raise
    except (OSError, KeyError, ValueError) as exc:
        raise FileFormatError(
            f"checkpoint {path} is unreadable ({exc}); delete it to start the training afresh"
        ) from exc


def _after_validation(
    state: _State, metrics: tuple[jax.Array, jax.Array], cfg: TrainingConfig, schedule: Any
) -> _State:
    """Record a validation pass; keep the best weights; decide whether to stop."""
    val_mse, val_med = (float(v) for v in metrics)
    record = {
        "step": state.step,
        "train_mse": state.loss_sum / max(state.loss_count, 1),
        "val_mse": val_mse,
        "val_median_abs": val_med,
        "learning_rate": float(schedule(state.step)),
    }
    changes: dict[str, Any] = {
        "history": (*state.history, record),
        "loss_sum": 0.0,
        "loss_count": 0,
    }
    if val_mse < state.best_val:
        changes.update(best_val=val_mse, best_step=state.step, bad_evals=0)
        changes["best_params"] = state.params
    else:
        changes["bad_evals"] = state.bad_evals + 1
        if changes["bad_evals"] >= cfg.patience:
            changes["stopped"] = f"early stop: no improvement in {cfg.patience} passes"
    if state.step >= cfg.max_steps and "stopped" not in changes:
        changes["stopped"] = "max_steps reached"
    return dataclasses.replace(state, **changes)


def fit_emulator(
    flux: Any,
    labels: Any,
    label_space: LabelSpace,
    wave: Any,
    config: TrainingConfig | None = None,
    *,
    checkpoint: str | os.PathLike | None = None,
    progress: bool = True,
    **fields: Any,
) -> Emulator:
    """Train an emulator on arrays of spectra.

    Args:
        flux: ``(n, n_pix)`` normalised flux of the training spectra.
        labels: ``(n, n_labels)`` their labels, in the order and units of ``label_space``.
        label_space: names, units and training box of the labels.
        wave: ``(n_pix,)`` vacuum wavelength [Å].
        config: hyper-parameters (default :class:`TrainingConfig`).
        checkpoint: checkpoint file; resumed from when it exists (same run only).
        progress: show a tqdm progress bar.
        **fields: passed to the :class:`Emulator` (``resolution``, ``fixed_labels``,
            ``provenance``; the training record is added to ``provenance["training"]``).

    Returns:
        the emulator with the weights of the best validation pass, and ``pixel_error``
        set to the per-pixel RMS error on the validation spectra.
    """
    from tqdm.auto import tqdm

    cfg = config or TrainingConfig()
    wave = np.asarray(wave, dtype=np.float64)
    flux = np.asarray(flux, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.float64)
    _check_data(flux, labels, label_space, wave)
    outside = ~np.asarray(label_space.contains(labels))
    if outside.any():
        raise ValueError(
            f"{int(outside.sum())} training labels lie outside the label space's box "
            f"(rows {np.flatnonzero(outside)[:10].tolist()}); widen the box or drop them"
        )
    train_idx, val_idx = split_indices(len(flux), cfg.val_fraction, cfg.seed)
    mean = flux[train_idx].mean(axis=0)
    emulator = Emulator.initialise(
        cfg.arch, label_space, wave, config=cfg.network, flux_mean=mean, seed=cfg.seed, **fields
    )
    optimizer = cfg.optimizer()
    schedule = cfg.schedule()
    x_train, y_train = jnp.asarray(labels[train_idx]), jnp.asarray(flux[train_idx])
    x_val, y_val = jnp.asarray(labels[val_idx]), jnp.asarray(flux[val_idx])
    apply = emulator.apply

    def loss_fn(params: Any, x: jax.Array, y: jax.Array) -> jax.Array:
        return jnp.mean(jnp.square(apply(params, x) - y))

    @jax.jit
    def train_step(params, opt_state, x_all, y_all, idx):
        x, y = x_all[idx], y_all[idx]
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    @jax.jit
    def evaluate(params, x, y):
        resid = apply(params, x) - y
        return jnp.mean(jnp.square(resid)), jnp.median(jnp.abs(resid))

    digest = _run_hash(cfg, label_space, wave, flux, labels)
    state = _State(emulator.params, optimizer.init(emulator.params), emulator.params)
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None and ckpt.exists():
        state = _read_checkpoint(ckpt, digest, state)

    n_train = len(train_idx)
    started = time.perf_counter()
    bar = tqdm(
        total=cfg.max_steps,
        initial=state.step,
        desc=f"train {cfg.arch}",
        unit="step",
        disable=not progress,
    )

    def advance(state: _State) -> _State:
        """One optimiser step, and the validation pass when one is due (pure: a new state)."""
        idx = jnp.asarray(_batch_indices(n_train, cfg.batch_size, cfg.seed, state.step))
        params, opt_state, loss = train_step(state.params, state.opt_state, x_train, y_train, idx)
        new = dataclasses.replace(
            state,
            params=params,
            opt_state=opt_state,
            step=state.step + 1,
            loss_sum=state.loss_sum + float(loss),
            loss_count=state.loss_count + 1,
        )
        if new.step % cfg.eval_every and new.step < cfg.max_steps:
            return new
        return _after_validation(new, evaluate(new.params, x_val, y_val), cfg, schedule)

    try:
        while not state.stopped and state.step < cfg.max_steps:
            # ``state`` is only ever replaced by a complete new one, so an interrupt anywhere
            # in ``advance`` leaves the last consistent state to checkpoint.
            state = advance(state)
            bar.update(1)
            if state.loss_count == 0:  # a validation pass just happened
                last = state.history[-1]
                bar.set_postfix(
                    val_med=f"{last['val_median_abs']:.2e}", best=f"{state.best_val:.2e}"
                )
                if ckpt is not None:
                    _write_checkpoint(ckpt, digest, state)
    except KeyboardInterrupt:
        if ckpt is not None:
            _write_checkpoint(ckpt, digest, state)
        raise
    finally:
        bar.close()

    resid = np.asarray(apply(state.best_params, x_val)) - np.asarray(y_val)
    pixel_error = np.sqrt(np.mean(np.square(resid), axis=0))
    training = {
        "config": dataclasses.asdict(cfg),
        "n_train": int(n_train),
        "n_validation": int(len(val_idx)),
        "steps": state.step,
        "best_step": state.best_step,
        "best_val_mse": state.best_val,
        "val_median_abs": float(np.median(np.abs(resid))),
        "val_p95_abs": float(np.percentile(np.abs(resid), 95)),
        "val_max_abs": float(np.max(np.abs(resid))),
        "stopped": state.stopped,
        "seconds_this_session": round(time.perf_counter() - started, 1),
        "history": list(state.history),
        "run_hash": digest,
    }
    provenance = dict(fields.get("provenance") or {})
    provenance["training"] = training
    return emulator.with_params(state.best_params, pixel_error=pixel_error, provenance=provenance)


# --------------------------------------------------------------------------------------
# Grid files -> model file
# --------------------------------------------------------------------------------------


def grid_label_space(grids: Sequence[Any]) -> tuple[LabelSpace, dict[str, float], list[int]]:
    """The label space of one or more grids: free labels, their box, and the fixed labels.

    A label is free if its sampling bounds (``provenance["sampling"]["bounds"]``, or the
    values when the grid does not record them) span a range in any grid; the box is the
    union of the grids' boxes. Labels with one value everywhere are returned as fixed.

    Returns:
        ``(label_space, fixed_labels, free_columns)``.
    """
    names = grids[0].label_names
    units = grids[0].label_units
    for g in grids[1:]:
        if g.label_names != names:
            raise ValueError(
                f"grids have different labels: {list(names)} and {list(g.label_names)}"
            )
    lo = np.full(len(names), np.inf)
    hi = np.full(len(names), -np.inf)
    values: dict[int, set[float]] = {j: set() for j in range(len(names))}
    for g in grids:
        arr = g.label_array()
        bounds = (g.provenance.get("sampling") or {}).get("bounds") or {}
        for j, name in enumerate(names):
            b = bounds.get(name)
            if b is None:
                b_lo, b_hi = float(arr[:, j].min()), float(arr[:, j].max())
            else:
                b = np.atleast_1d(np.asarray(b, dtype=float))
                b_lo, b_hi = float(b.min()), float(b.max())
            lo[j], hi[j] = min(lo[j], b_lo), max(hi[j], b_hi)
            values[j].update(np.unique(arr[:, j]).tolist())
    free = [j for j in range(len(names)) if hi[j] > lo[j]]
    fixed = {names[j]: float(next(iter(values[j]))) for j in range(len(names)) if j not in free}
    if not free:
        raise ValueError("every label is fixed in these grids; there is nothing to emulate")
    space = LabelSpace(
        tuple(names[j] for j in free),
        tuple(units[j] for j in free),
        tuple(float(lo[j]) for j in free),
        tuple(float(hi[j]) for j in free),
    )
    return space, fixed, free


def train_emulator(
    grids: str | os.PathLike | Sequence[str | os.PathLike],
    output: str | os.PathLike,
    config: TrainingConfig | None = None,
    *,
    max_spectra: int | None = None,
    checkpoint: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Emulator:
    """Train an emulator on grid files and write it to ``output``.

    Args:
        grids: one or more grid files from ``jaxspec synth-grid`` with identical wavelengths
            and label names (e.g. two runs with different seeds).
        output: the model file to write (``.h5``).
        config: hyper-parameters (default :class:`TrainingConfig`).
        max_spectra: use only the first ``max_spectra`` spectra (in file order, after rows
            with NaN or inf are dropped; those are listed in the provenance).
        checkpoint: checkpoint file (default ``<output>.ckpt.h5``); an interrupted run
            resumes from it; it is deleted when the model is written.
        overwrite: replace an existing ``output``.
        progress: show progress bars.

    Returns:
        the trained emulator (also written to ``output``).
    """
    from ..synth.grid import read_grids

    out = Path(output)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass overwrite=True (--overwrite) to replace it")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"cannot write {out}: directory {out.parent} does not exist")
    if max_spectra is not None and (isinstance(max_spectra, bool) or int(max_spectra) < 4):
        raise ValueError(f"max_spectra must be an integer >= 4, got {max_spectra!r}")
    loaded = read_grids(grids, purpose="an emulator")
    wave = loaded[0].wave
    space, fixed, free = grid_label_space(loaded)
    labels = np.concatenate([g.label_array()[:, free] for g in loaded])
    flux = np.concatenate([np.asarray(g.flux, dtype=np.float32) for g in loaded])
    finite = np.all(np.isfinite(flux), axis=1) & np.all(np.isfinite(labels), axis=1)
    bad = np.flatnonzero(~finite).tolist()  # e.g. the grid's ``nonfinite_rows``
    keep = np.flatnonzero(finite)
    if max_spectra is not None:
        keep = keep[: int(max_spectra)]
    synth_cfg = loaded[0].provenance.get("synthesizer", {})
    resolution = synth_cfg.get("resolution") or None
    provenance = {
        "grids": [
            {
                "path": str(g.path),
                "grid_hash": g.provenance.get("grid_hash"),
                "n": g.n,
                "sampling": g.provenance.get("sampling"),
                "command": g.provenance.get("command"),
            }
            for g in loaded
        ],
        "synthesizer": synth_cfg,
        "n_spectra_used": int(keep.size),
        "dropped_nonfinite": bad,
        "max_spectra": max_spectra,
    }
    emulator = fit_emulator(
        flux[keep],
        labels[keep],
        space,
        wave,
        config,
        checkpoint=checkpoint or out.with_name(out.name + ".ckpt.h5"),
        progress=progress,
        resolution=resolution,
        fixed_labels=fixed,
        provenance=provenance,
    )
    save_emulator(emulator, out, overwrite=overwrite)
    ckpt = Path(checkpoint or out.with_name(out.name + ".ckpt.h5"))
    ckpt.unlink(missing_ok=True)
    return emulator
