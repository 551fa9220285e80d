"""CNN regressor model files: versioned, checksummed HDF5 (:mod:`jaxspec._modelfile`).

Schema, ``format`` = ``"jaxspec.cnn_regressor"``, ``format_version`` 1
-----------------------------------------------------------------------
JSON attributes:

* ``label_space`` (``{"names", "units", "lower", "upper"}``, the training box) and
  ``label_scaling`` = ``"(x - lower) / (upper - lower) - 0.5"``;
* ``trunk``: the :class:`~jaxspec._nn.ConvTrunk` settings; ``sigma_floor``: the smallest σ
  of the head (scaled units); ``n_members``;
* ``resolution``: resolving power R of the training spectra (0: unknown);
* ``augment_config``: the :class:`~jaxspec.augment.AugmentConfig` of the training;
* ``fixed_labels``: ``{name: value}`` of labels fixed in the training grids;
* ``training``: the training record (split, seeds, per-member epochs, best validation NLL,
  seconds, optimiser settings, grid provenance and hashes).

Datasets: ``wave`` ``(n_pix,)`` float64 vacuum wavelength [Å]; ``member_{i}/<path>`` one
float32 array per weight of member ``i``, named by its path in the Flax NNX state
(``member_0/trunk/convs/0/kernel``, ``member_0/head/bias``, ...).

The network is rebuilt from ``trunk``, the label count and the pixel count; the stored
weights must match its names and shapes exactly. Nothing is unpickled.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from flax import nnx

from .._modelfile import check_weights, fill_state, flat_weights, read_model_file, write_model_file
from ..augment import AugmentConfig
from ..errors import FileFormatError
from ..labels import LabelSpace
from .cnn import SIGMA_FLOOR, LabelNetwork, SpectrumCNN, trunk_config

__all__ = ["save_cnn", "load_cnn", "FORMAT_NAME", "FORMAT_VERSION"]

FORMAT_NAME = "jaxspec.cnn_regressor"
FORMAT_VERSION = 1
LABEL_SCALING = "(x - lower) / (upper - lower) - 0.5"
_WHAT = "CNN regressor"
_REMEDY = "Train the model again (SpectrumCNN.train) or copy the file again"
_ATTRS = ("label_space", "label_scaling", "trunk", "sigma_floor", "n_members", "resolution")


def save_cnn(model: SpectrumCNN, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write ``model`` to ``path`` (atomically; see the module docstring for the layout).

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    arrays: dict[str, np.ndarray] = {"wave": np.asarray(model.wave, dtype=np.float64)}
    for i, state in enumerate(model.members):
        for name, arr in flat_weights(state).items():
            arrays[f"member_{i}/{name}"] = arr
    trunk = {k: list(v) if isinstance(v, tuple) else v for k, v in model.trunk.items()}
    attrs = {
        "label_space": model.label_space.to_dict(),
        "label_scaling": LABEL_SCALING,
        "trunk": trunk,
        "sigma_floor": SIGMA_FLOOR,
        "n_members": model.n_members,
        "resolution": float(model.resolution),
        "augment_config": model.augment_config.to_dict(),
        "fixed_labels": dict(model.fixed_labels),
        "training": model.training_record,
    }
    return write_model_file(
        path,
        format_name=FORMAT_NAME,
        format_version=FORMAT_VERSION,
        attrs=attrs,
        arrays=arrays,
        overwrite=overwrite,
    )


def load_cnn(path: str | os.PathLike) -> SpectrumCNN:
    """Read a model written by :func:`save_cnn`.

    Raises:
        FileNotFoundError: no such file.
        FileFormatError: not a CNN regressor file (e.g. an emulator or Cannon file), another
            version, truncated or corrupted, or weights that do not fit the stored settings.
    """
    p = Path(path)
    attrs, arrays = read_model_file(
        p, format_name=FORMAT_NAME, format_version=FORMAT_VERSION, what=_WHAT, remedy=_REMEDY
    )
    missing = [k for k in _ATTRS if k not in attrs] + (["wave"] if "wave" not in arrays else [])
    if missing:
        raise FileFormatError(f"{p}: {_WHAT} file lacks {missing}; it is incomplete. {_REMEDY}")
    if attrs["label_scaling"] != LABEL_SCALING or attrs["sigma_floor"] != SIGMA_FLOOR:
        raise FileFormatError(
            f"{p}: label_scaling {attrs['label_scaling']!r} / sigma_floor "
            f"{attrs['sigma_floor']!r} differ from this jaxspec's ({LABEL_SCALING!r}, "
            f"{SIGMA_FLOOR}); use the jaxspec that wrote it"
        )
    try:
        space = LabelSpace.from_dict(attrs["label_space"])
        trunk = trunk_config(attrs["trunk"])
        augment_config = AugmentConfig.from_dict(attrs.get("augment_config") or {})
        n_members = int(attrs["n_members"])
    except (TypeError, ValueError) as exc:
        raise FileFormatError(f"{p}: invalid {_WHAT} settings ({exc}). {_REMEDY}") from None
    wave = np.asarray(arrays["wave"], dtype=np.float64)
    if wave.ndim != 1 or wave.size < 2:
        raise FileFormatError(f"{p}: 'wave' must be 1-D with >= 2 pixels; got {wave.shape}")
    abstract = nnx.eval_shape(
        lambda: LabelNetwork(wave.size, space.n_labels, trunk=trunk, rngs=nnx.Rngs(0))
    )
    graphdef, template = nnx.split(abstract)
    members = []
    used = {"wave"}
    for i in range(n_members):
        prefix = f"member_{i}/"
        stored = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
        used.update(prefix + k for k in stored)
        check_weights(p, template, stored, f"{_WHAT} member {i}")
        members.append(fill_state(template, stored))
    extra = sorted(set(arrays) - used)
    if extra or not members:
        raise FileFormatError(
            f"{p}: unexpected datasets {extra[:5]} for {n_members} members; the file is "
            f"damaged or from another jaxspec. {_REMEDY}"
        )
    return SpectrumCNN(
        label_space=space,
        wave=wave,
        resolution=float(attrs["resolution"]),
        trunk=trunk,
        graphdef=graphdef,
        members=tuple(members),
        augment_config=augment_config,
        fixed_labels={str(k): float(v) for k, v in (attrs.get("fixed_labels") or {}).items()},
        training_record=attrs.get("training") or {},
    )
