"""Cannon model files: versioned, checksummed HDF5 (:mod:`jaxspec._modelfile`), no pickle.

Schema, ``format`` = ``"jaxspec.cannon"``, ``format_version`` 1
-----------------------------------------------------------------
JSON attributes: ``label_space`` (``{"names", "units", "lower", "upper"}``), ``order``,
``l1``, ``term_names`` (checked against the vectorizer on reading) and ``training`` (the
training record: ``n_train``, ``n_pix``, ``seed``, ``fit_seconds``, ``trained_utc``, ...).

Datasets: ``theta`` ``(n_pix, n_terms)``, ``scatter`` ``(n_pix,)``, ``label_offset`` and
``label_scale`` ``(n_labels,)`` (the standardisation x = (labels − offset) / scale),
``label_quantiles`` ``(21, n_labels)`` and, if the model has one, ``wave`` ``(n_pix,)`` [Å].
"""

from __future__ import annotations

import os
from pathlib import Path

from .._modelfile import read_model_file, write_model_file
from ..errors import FileFormatError
from ..labels import LabelSpace
from .cannon import Cannon

__all__ = ["save_cannon", "load_cannon", "FORMAT_NAME", "FORMAT_VERSION"]

FORMAT_NAME = "jaxspec.cannon"
FORMAT_VERSION = 1

_WHAT = "Cannon model"
_REMEDY = "Train and save the Cannon again"


def save_cannon(model: Cannon, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write a trained :class:`Cannon` to a versioned, checksummed HDF5 file (no pickle).

    Args:
        model: a trained Cannon.
        path: destination (``.h5``).
        overwrite: replace an existing file.

    Returns:
        the path written.

    Raises:
        RuntimeError: the model is not trained.
        FileExistsError: the file exists and ``overwrite`` is False.
    """
    model._require_trained("save")
    arrays = {
        "theta": model.theta,
        "scatter": model.scatter,
        "label_offset": model.label_offset,
        "label_scale": model.label_scale,
        "label_quantiles": model.label_quantiles,
    }
    if model.wave is not None:
        arrays["wave"] = model.wave
    attrs = {
        "label_space": model.label_space.to_dict(),
        "order": model.order,
        "l1": model.l1,
        "term_names": list(model.term_names),
        "training": model.training,
    }
    return write_model_file(
        path,
        format_name=FORMAT_NAME,
        format_version=FORMAT_VERSION,
        attrs=attrs,
        arrays=arrays,
        overwrite=overwrite,
    )


def load_cannon(path: str | os.PathLike) -> Cannon:
    """Read a :class:`Cannon` written by :func:`save_cannon`.

    Raises:
        FileNotFoundError: no such file.
        FileFormatError: not a Cannon file, another format version, truncated or corrupted
            (checksums), or contents that do not make a consistent model.
    """
    attrs, arrays = read_model_file(
        path, format_name=FORMAT_NAME, format_version=FORMAT_VERSION, what=_WHAT, remedy=_REMEDY
    )
    try:
        space = LabelSpace.from_dict(attrs["label_space"])
        model = Cannon(
            label_space=space,
            order=attrs["order"],
            l1=attrs["l1"],
            theta=arrays["theta"],
            scatter=arrays["scatter"],
            wave=arrays.get("wave"),
            label_offset=arrays["label_offset"],
            label_scale=arrays["label_scale"],
            label_quantiles=arrays["label_quantiles"],
            training=attrs.get("training", {}),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise FileFormatError(
            f"{path}: the stored arrays and settings do not make a consistent Cannon "
            f"({type(exc).__name__}: {exc}). {_REMEDY}"
        ) from exc
    if list(model.term_names) != list(attrs.get("term_names", model.term_names)):
        raise FileFormatError(
            f"{path}: the stored term names {attrs['term_names']} differ from this jaxspec's "
            f"vectorizer {list(model.term_names)}. {_REMEDY}"
        )
    return model
