"""Training of :class:`jaxspec.regress.SpectrumCNN` ensembles: data, split, members, resume.

Each member is a :class:`~jaxspec.regress.cnn.LabelNetwork` trained by
:func:`jaxspec._train.train_network` on the same seeded train/validation split, from its own
initial weights and its own minibatch/augmentation stream (both derived from ``seed``, the
member index and ``TrainConfig.seed``). With a checkpoint folder, member ``i`` checkpoints
to ``member_{i}.ckpt.h5`` after every epoch; when it is done its weights and record go to
``member_{i}.h5`` (a ``jaxspec.cnn_member`` model file tagged with a fingerprint of the
data and settings) and the epoch checkpoint is deleted. A rerun of the same call loads the
finished members, resumes the unfinished one and trains the rest.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from flax import nnx

from .._modelfile import check_weights, fill_state, flat_weights, read_model_file, write_model_file
from .._train import TrainConfig, fingerprint, train_network
from ..augment import AugmentConfig
from ..labels import LabelSpace
from .cnn import BETA, SIGMA_FLOOR, LabelNetwork, ensemble_loss, trunk_config

__all__ = ["TrainingData", "read_training_grids", "EnsembleFit", "fit_ensemble"]

_MEMBER_FORMAT = "jaxspec.cnn_member"
_MEMBER_VERSION = 1


class TrainingData(NamedTuple):
    """Training arrays read from grid files (:func:`read_training_grids`).

    Attributes:
        flux: ``(n, n_pix)`` float32 normalised flux (finite rows only).
        labels: ``(n, L)`` float64 labels of ``label_space``.
        wave: ``(n_pix,)`` vacuum wavelength [Å].
        label_space: the learned labels and their box.
        resolution: resolving power R of the grids (0: unknown).
        fixed_labels: labels with one value in every grid.
        provenance: the grids' paths, hashes, sampling and the dropped rows.
    """

    flux: np.ndarray
    labels: np.ndarray
    wave: np.ndarray
    label_space: LabelSpace
    resolution: float
    fixed_labels: dict[str, float]
    provenance: dict[str, Any]


def read_training_grids(
    grids: str | os.PathLike | Sequence[str | os.PathLike], labels: Sequence[str] | None = None
) -> TrainingData:
    """Read one or more grid files into training arrays.

    Args:
        grids: grid file(s) with identical wavelengths and label names.
        labels: names of the labels to learn (default: the free labels of the grids).

    Raises:
        ValueError: no grids, different wavelengths, or a requested label that the grids
            lack or hold fixed.
    """
    from ..emulators.training import grid_label_space
    from ..synth.grid import read_grids

    loaded = read_grids(grids, purpose="a CNN")
    wave = loaded[0].wave
    space, fixed, _ = grid_label_space(loaded)
    names = loaded[0].label_names
    if labels is not None:
        labels = [labels] if isinstance(labels, str) else list(labels)
        for name in labels:
            if name in fixed:
                raise ValueError(
                    f"label {name!r} is fixed at {fixed[name]:g} in the grids; it cannot be "
                    f"learned. Free labels: {list(space.names)}"
                )
            if name not in names:
                raise ValueError(f"the grids have no label {name!r}; they have {list(names)}")
        space = space.subset(labels)
    cols = [names.index(n) for n in space.names]
    lab = np.concatenate([g.label_array()[:, cols] for g in loaded])
    flux = np.concatenate([np.asarray(g.flux, dtype=np.float32) for g in loaded])
    finite = np.all(np.isfinite(flux), axis=1) & np.all(np.isfinite(lab), axis=1)
    synth_cfg = loaded[0].provenance.get("synthesizer", {}) or {}
    provenance = {
        "grids": [
            {
                "path": str(g.path),
                "grid_hash": g.provenance.get("grid_hash"),
                "n": g.n,
                "sampling": g.provenance.get("sampling"),
            }
            for g in loaded
        ],
        "synthesizer": synth_cfg,
        "dropped_nonfinite": np.flatnonzero(~finite).tolist(),
    }
    return TrainingData(
        flux=flux[finite],
        labels=lab[finite],
        wave=np.asarray(wave, dtype=np.float64),
        label_space=space,
        resolution=float(synth_cfg.get("resolution") or 0.0),
        fixed_labels=fixed,
        provenance=provenance,
    )


class EnsembleFit(NamedTuple):
    """What :func:`fit_ensemble` returns: the shared graph, member weights and the record."""

    graphdef: Any
    members: list[Any]
    augment_config: AugmentConfig
    record: dict[str, Any]


def _check_arrays(
    flux: Any, labels: Any, wave: Any, space: LabelSpace
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    wave = np.asarray(wave, dtype=np.float64)
    if wave.ndim != 1 or wave.size < 2:
        raise ValueError(f"wave must be 1-D with >= 2 pixels; got shape {wave.shape}")
    flux = np.asarray(flux, dtype=np.float32)
    if flux.ndim != 2 or flux.shape[1] != wave.size:
        raise ValueError(
            f"flux must be (n_spectra, {wave.size}) to match wave; got shape {flux.shape}"
        )
    labels = np.asarray(labels, dtype=np.float64)
    k = space.n_labels
    if labels.ndim != 2 or labels.shape[1] != k:
        raise ValueError(
            f"labels must be (n_spectra, {k}) for the label space ({', '.join(space.names)}); "
            f"got shape {labels.shape}"
        )
    if labels.shape[0] != flux.shape[0]:
        raise ValueError(f"{flux.shape[0]} spectra but {labels.shape[0]} label rows")
    bad = np.flatnonzero(~np.all(np.isfinite(flux), axis=1) | ~np.all(np.isfinite(labels), 1))
    if bad.size:
        raise ValueError(
            f"{bad.size} training rows have NaN or inf flux or labels (first: {bad[:5].tolist()});"
            " drop them before training"
        )
    space.check(labels, what="training labels")
    if flux.shape[0] < 2:
        raise ValueError(f"need at least 2 training spectra; got {flux.shape[0]}")
    return flux, labels, wave


def _member_seeds(seed: int, train_seed: int, i: int) -> tuple[int, int]:
    init, train = np.random.SeedSequence([int(seed), int(train_seed), i]).generate_state(2)
    return int(init), int(train)


def fit_ensemble(
    flux: Any,
    labels: Any,
    wave: Any,
    label_space: LabelSpace,
    resolution: float | None = None,
    *,
    n_members: int = 3,
    validation_fraction: float = 0.1,
    augment_config: AugmentConfig | None = None,
    train_config: TrainConfig | None = None,
    trunk: Mapping[str, Any] | None = None,
    seed: int = 0,
    checkpoint_dir: str | os.PathLike | None = None,
    progress: bool = True,
    provenance: Mapping[str, Any] | None = None,
) -> EnsembleFit:
    """Train ``n_members`` networks (arguments as in :meth:`SpectrumCNN.fit_arrays`)."""
    augment_config = AugmentConfig() if augment_config is None else augment_config
    train_config = TrainConfig() if train_config is None else train_config
    if isinstance(n_members, bool) or int(n_members) < 1:
        raise ValueError(f"n_members must be a positive integer; got {n_members!r}")
    if not 0.0 < float(validation_fraction) < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1); got {validation_fraction}")
    cfg = trunk_config(trunk)
    flux, labels, wave = _check_arrays(flux, labels, wave, label_space)
    n = flux.shape[0]
    n_val = min(max(1, round(float(validation_fraction) * n)), n - 1)
    perm = np.random.default_rng(seed).permutation(n)
    val, tr = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    y = (np.asarray(label_space.to_unit(labels), dtype=np.float32) - 0.5).astype(np.float32)
    targets_train = {"y": y[tr], "beta": np.full(tr.size, BETA, np.float32)}
    targets_val = {"y": y[val], "beta": np.zeros(val.size, np.float32)}
    resolution = float(resolution or 0.0)
    ckdir = None if checkpoint_dir is None else Path(checkpoint_dir)
    if ckdir is not None:
        ckdir.mkdir(parents=True, exist_ok=True)
    data_hash = fingerprint(
        flux[:: max(1, n // 256)], labels, wave, label_space.to_dict(), n_val, int(seed)
    )

    t0 = time.perf_counter()
    graphdef, members, records = None, [], []
    for i in range(int(n_members)):
        init_seed, train_seed = _member_seeds(seed, train_config.seed, i)
        tc = dataclasses.replace(train_config, seed=train_seed)
        net = LabelNetwork(wave.size, label_space.n_labels, trunk=cfg, rngs=nnx.Rngs(init_seed))
        member_id = fingerprint(
            data_hash, cfg, tc.to_dict(), augment_config.to_dict(), init_seed, resolution
        )
        done = None if ckdir is None else ckdir / f"member_{i}.h5"
        if done is not None and done.exists():
            g, state, record = _load_member(done, net, member_id)
        else:
            result = train_network(
                net,
                ensemble_loss,
                flux_train=flux[tr],
                targets_train=targets_train,
                flux_val=flux[val],
                targets_val=targets_val,
                wave=wave,
                resolution=resolution,
                augment_config=augment_config,
                config=tc,
                checkpoint=None if ckdir is None else ckdir / f"member_{i}.ckpt.h5",
                progress=progress,
                description=f"CNN member {i + 1}/{n_members}",
            )
            g, state = nnx.split(result.model)
            record = {
                "member": i,
                "init_seed": init_seed,
                "train_seed": train_seed,
                "epochs": len(result.history),
                "best_epoch": result.best_epoch,
                "best_val_nll": result.best_val_loss,
                "seconds": result.seconds,
                "history": result.history,
            }
            if done is not None:
                _save_member(done, state, record, member_id)
                (ckdir / f"member_{i}.ckpt.h5").unlink(missing_ok=True)
        graphdef = g if graphdef is None else graphdef
        members.append(state)
        records.append(record)
    record = {
        "n_train": int(tr.size),
        "n_val": int(val.size),
        "validation_fraction": float(validation_fraction),
        "seed": int(seed),
        "n_members": int(n_members),
        "loss": f"beta-NLL (beta={BETA}) for training, Gaussian NLL for validation",
        "sigma_floor": SIGMA_FLOOR,
        "label_scaling": "(x - lower) / (upper - lower) - 0.5",
        "train_config": train_config.to_dict(),
        "augment_config": augment_config.to_dict(),
        "members": records,
        "seconds": time.perf_counter() - t0,
        "provenance": dict(provenance or {}),
    }
    return EnsembleFit(graphdef, members, augment_config, record)


def _save_member(path: Path, state: Any, record: dict[str, Any], run_id: str) -> None:
    write_model_file(
        path,
        format_name=_MEMBER_FORMAT,
        format_version=_MEMBER_VERSION,
        attrs={"fingerprint": run_id, "record": record},
        arrays=flat_weights(state),
        overwrite=True,
    )


def _load_member(path: Path, template: nnx.Module, run_id: str) -> tuple[Any, Any, dict]:
    attrs, stored = read_model_file(
        path,
        format_name=_MEMBER_FORMAT,
        format_version=_MEMBER_VERSION,
        what="CNN ensemble member",
        remedy=f"Delete {path} to train this member again",
    )
    if attrs.get("fingerprint") != run_id:
        raise ValueError(
            f"{path} belongs to another training run (different data, network or settings); "
            "delete it or choose another checkpoint_dir"
        )
    graphdef, state = nnx.split(template)
    check_weights(path, state, stored, "CNN ensemble member")
    return graphdef, fill_state(state, stored), attrs["record"]
