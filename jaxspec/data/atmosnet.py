"""Convert the atmosnet C3K model-atmosphere emulator weights to a safe ``.npz``.

For maintainers; users never need to run it (the result ships in the package)::

    python -m jaxspec.data.atmosnet --wheel atmosnet-1.0.1-py2.py3-none-any.whl
    python -m jaxspec.data.atmosnet                  # downloads the wheel from PyPI with pip

The MIT-licensed wheel ``atmosnet==1.0.1`` (David Nidever and Yuan-Sen Ting) ships two
neural networks that emulate C3K/ATLAS12 plane-parallel model atmospheres (80 depth
points) from (Teff, log g, [Fe/H], [α/Fe]):

* ``atmosnet/data/atmosnet_c3k_300neurons_cool.pkl`` — trained on 2500–8500 K;
* ``atmosnet/data/atmosnet_c3k_300neurons_hot.pkl`` — trained on 7500–50000 K.

Each file is a ``dill`` pickle of a list of 8 dicts, one network per Kurucz deck column,
holding plain numpy arrays: ``w_array_0`` (300, 4), ``b_array_0`` (300,), ``w_array_1``
(300, 300), ``b_array_1`` (300,), ``w_array_2`` (80, 300), ``b_array_2`` (80,) (float32),
the label scaling ``x_min``/``x_max`` (4,), the label ``ranges`` (4, 2), the training
labels (n, 4) and training settings. The network is
``out = W2 · lrelu(W1 · lrelu(W0 · x + b0) + b1) + b2`` with ``lrelu(z) = max(z, 0.01 z)``
on ``x = (labels − x_min)/(x_max − x_min) − 0.5``; ``out`` is log10(value + 1e-16) per
depth (see :mod:`jaxspec.synth.atmosphere` for how that was established).

Unpickling runs arbitrary code, so it happens here only, once, by a maintainer, with
``dill`` installed in a throwaway place that jaxspec's environment never sees::

    python -m pip install --target /tmp/dillonly dill
    PYTHONPATH=/tmp/dillonly python -m jaxspec.data.atmosnet --wheel atmosnet-1.0.1-*.whl

jaxspec does not depend on ``dill``. The result, ``jaxspec/data/atmosnet_c3k.npz``, holds
only numeric and string arrays and is read at run time with
``numpy.load(..., allow_pickle=False)``.

Layout of the ``.npz`` (``format_version`` 1); ``{net}`` is ``cool`` or ``hot``:

* ``format`` (str), ``format_version`` (int), ``provenance`` (JSON str);
* ``label_names`` (4,) str, ``columns`` (8,) str — the deck quantity of each output column;
* ``{net}_w0`` (8, H, 4), ``{net}_b0`` (8, H), ``{net}_w1`` (8, H, H), ``{net}_b1`` (8, H),
  ``{net}_w2`` (8, D, H), ``{net}_b2`` (8, D), ``{net}_x_min`` (4,), ``{net}_x_max`` (4,):
  float32, stacked over the 8 columns (H = 300 neurons, D = 80 depths);
* ``{net}_ranges`` (4, 2) float64: atmosnet's own ``ranges`` entry (its switch-over
  between the networks, not the extent of the training set);
* ``{net}_grid_teff``, ``{net}_grid_logg_min``, ``{net}_grid_logg_max`` (float64): the
  Teff nodes of the training set and the lowest/highest log g trained at each (the
  training grid is far from rectangular: hot, low-gravity atmospheres do not exist);
* ``{net}_n_train`` (int): number of training atmospheres.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_path
from ._pip import pip_download

__all__ = [
    "convert_atmosnet",
    "main",
    "SOURCE_PACKAGE",
    "SOURCE_VERSION",
    "MEMBERS",
    "FORMAT",
    "FORMAT_VERSION",
    "DEFAULT_OUTPUT",
]

SOURCE_PACKAGE = "atmosnet"
SOURCE_VERSION = "1.0.1"
#: The two pickles read from the wheel, by network name.
MEMBERS = {
    "cool": "atmosnet/data/atmosnet_c3k_300neurons_cool.pkl",
    "hot": "atmosnet/data/atmosnet_c3k_300neurons_hot.pkl",
}
FORMAT = "jaxspec.atmosnet_c3k"
#: Version of the layout of ``atmosnet_c3k.npz``.
FORMAT_VERSION = 1
DEFAULT_OUTPUT = Path(__file__).parent / "atmosnet_c3k.npz"

#: Label order of the networks (atmosnet's names) and ours.
_ATMOSNET_LABELS = ("TEFF", "LOGG", "FE_H", "ALPHA_FE")
LABEL_NAMES = ("teff", "logg", "feh", "alpha_fe")
#: Deck quantity of each output column. atmosnet's comments call columns 6 and 7 VTURB and
#: FLXCNV; their values are the convective flux and the convective velocity (zero in
#: radiative layers, FLXCNV ≈ σTeff⁴/4π deep in convective envelopes), i.e. the deck
#: columns FLXCNV and VCONV. See jaxspec.synth.atmosphere.
COLUMNS = ("RHOX", "T", "P", "XNE", "ABROSS", "ACCRAD", "FLXCNV", "VCONV")
OUTPUT_TRANSFORM = "log10(value + 1e-16)"
REFERENCES = {
    "emulator": "atmosnet 1.0.1, D. Nidever & Y.-S. Ting (https://github.com/dnidever/atmosnet); "
    "network design from The Payne (Ting et al. 2019, ApJ 879, 69)",
    "models": "C3K grid of ATLAS12 model atmospheres (C. Conroy et al.; Kurucz 1970, 2005 for "
    "ATLAS). The wheel names no paper: its only statement of origin is 'c3k' in the file "
    "names; C3K is usually cited as Conroy et al. (2019, in prep.), e.g. in Cargile et al. "
    "2020, ApJ 900, 28",
}

_WEIGHTS = {  # npz suffix -> atmosnet key
    "w0": "w_array_0",
    "b0": "b_array_0",
    "w1": "w_array_1",
    "b1": "b_array_1",
    "w2": "w_array_2",
    "b2": "b_array_2",
}


def _import_dill() -> Any:
    try:
        import dill
    except ImportError as exc:
        raise ImportError(
            "convert_atmosnet needs the 'dill' package to read atmosnet's weight pickles, "
            "and jaxspec does not depend on it on purpose (unpickling runs code). Install it "
            "in a throwaway place and run the conversion with it on the path: "
            "python -m pip install --target /tmp/dillonly dill && "
            "PYTHONPATH=/tmp/dillonly python -m jaxspec.data.atmosnet --wheel <atmosnet wheel> "
            "(or pip install dill in a throwaway virtual environment)"
        ) from exc
    return dill


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_member(archive: zipfile.ZipFile, name: str, wheel: Path) -> bytes:
    try:
        return archive.read(name)
    except KeyError:
        raise FileNotFoundError(
            f"{wheel} has no file {name}; expected the {SOURCE_PACKAGE}=={SOURCE_VERSION} wheel"
        ) from None


def _dist_info_text(archive: zipfile.ZipFile, filename: str) -> str:
    names = [n for n in archive.namelist() if re.fullmatch(rf"[^/]+\.dist-info/{filename}", n)]
    if not names:
        return ""
    return archive.read(names[0]).decode("utf-8", errors="replace")


def _stack_network(columns: Any, net: str) -> dict[str, np.ndarray]:
    """Validate one unpickled network list and stack its columns into float32 arrays."""
    if not isinstance(columns, list) or len(columns) != len(COLUMNS):
        raise ValueError(
            f"expected the {net} pickle to hold a list of {len(COLUMNS)} dicts (one per deck "
            f"column), got {type(columns).__name__} of length {len(columns)}"
        )
    first = columns[0]
    for i, col in enumerate(columns):
        missing = [k for k in (*_WEIGHTS.values(), "x_min", "x_max", "labels") if k not in col]
        if missing:
            raise ValueError(f"{net} column {i} lacks entries {missing}")
        if int(col.get("column", i)) != i:
            raise ValueError(f"{net} column {i} says it is column {col['column']}")
        if tuple(col["labels"]) != _ATMOSNET_LABELS:
            raise ValueError(
                f"{net} column {i} has labels {col['labels']}, expected {list(_ATMOSNET_LABELS)}"
            )
        for key in ("x_min", "x_max", "ranges", "training_labels"):
            if key in first and not np.array_equal(col[key], first[key]):
                raise ValueError(f"{net} column {i} has a different {key} from column 0")
    out = {
        f"{net}_{short}": np.stack([np.asarray(c[key], np.float32) for c in columns])
        for short, key in _WEIGHTS.items()
    }
    n_hidden, n_labels = out[f"{net}_w0"].shape[1:]
    n_depth = out[f"{net}_w2"].shape[1]
    expected = {
        "w0": (n_hidden, n_labels),
        "b0": (n_hidden,),
        "w1": (n_hidden, n_hidden),
        "b1": (n_hidden,),
        "w2": (n_depth, n_hidden),
        "b2": (n_depth,),
    }
    for short, shape in expected.items():
        if out[f"{net}_{short}"].shape[1:] != shape or n_labels != len(LABEL_NAMES):
            raise ValueError(
                f"{net} {_WEIGHTS[short]} has shape {out[f'{net}_{short}'].shape[1:]}, "
                f"expected {shape} for a {len(LABEL_NAMES)}→{n_hidden}→{n_hidden}→{n_depth} MLP"
            )
    out[f"{net}_x_min"] = np.asarray(first["x_min"], np.float32)
    out[f"{net}_x_max"] = np.asarray(first["x_max"], np.float32)
    training = np.asarray(first["training_labels"], np.float64)
    if "ranges" in first:
        ranges = np.asarray(first["ranges"], np.float64)
    else:  # atmosnet's own fallback: the extent of the training labels
        ranges = np.stack([training.min(axis=0), training.max(axis=0)], axis=1)
    out[f"{net}_ranges"] = ranges
    teff = np.unique(training[:, 0])
    out[f"{net}_grid_teff"] = teff
    out[f"{net}_grid_logg_min"] = np.array([training[training[:, 0] == t, 1].min() for t in teff])
    out[f"{net}_grid_logg_max"] = np.array([training[training[:, 0] == t, 1].max() for t in teff])
    out[f"{net}_n_train"] = np.asarray(len(training), np.int64)
    return out


def _training_record(columns: list[dict[str, Any]]) -> dict[str, Any]:
    first = columns[0]
    record: dict[str, Any] = {}
    for key in ("num_neurons", "num_steps", "batch_size", "learning_rate"):
        if key in first:
            record[key] = np.asarray(first[key]).item()
    training = np.asarray(first["training_labels"], np.float64)
    record["n_atmospheres"] = int(len(training))
    record["label_min"] = training.min(axis=0).tolist()
    record["label_max"] = training.max(axis=0).tolist()
    record["x_min"] = np.asarray(first["x_min"], np.float64).tolist()
    record["x_max"] = np.asarray(first["x_max"], np.float64).tolist()
    if "ranges" in first:
        record["ranges"] = np.asarray(first["ranges"], np.float64).tolist()
    return record


def convert_atmosnet(wheel: Path, output: Path = DEFAULT_OUTPUT) -> dict:
    """Read the atmosnet wheel and write the weights to ``output`` (atomically).

    Args:
        wheel: path of ``atmosnet-1.0.1-py2.py3-none-any.whl`` (read without extracting).
        output: the ``.npz`` to write; default ``jaxspec/data/atmosnet_c3k.npz``.

    Returns:
        The provenance record stored (as JSON) in the file.

    Raises:
        ImportError: ``dill`` is not installed (the message says how to run this in a
            throwaway environment).
        FileNotFoundError: the wheel lacks one of the pickles.
        ValueError: a pickle does not have the expected structure.
    """
    dill = _import_dill()
    wheel = Path(wheel)
    wheel_bytes = wheel.read_bytes()
    arrays: dict[str, np.ndarray] = {}
    files: dict[str, dict[str, Any]] = {}
    with zipfile.ZipFile(io.BytesIO(wheel_bytes)) as archive:
        for net, member in MEMBERS.items():
            data = _read_member(archive, member, wheel)
            columns = dill.loads(data)  # the only unpickling in jaxspec
            arrays.update(_stack_network(columns, net))
            files[member] = {"sha256": _sha256(data), "training": _training_record(columns)}
        licence_text = _dist_info_text(archive, "LICENSE")
        metadata = _dist_info_text(archive, "METADATA")
    n_depth = {arrays[f"{net}_w2"].shape[1] for net in MEMBERS}
    if len(n_depth) != 1:
        raise ValueError(f"the networks predict different numbers of depths: {sorted(n_depth)}")

    copyright_line = re.search(r"^\s*(Copyright.*)$", licence_text, re.MULTILINE)
    version = re.search(r"^Version:\s*(\S+)", metadata, re.MULTILINE)
    licence = re.search(r"^License:\s*(.+)$", metadata, re.MULTILINE)
    authors = re.search(r"^Author:\s*(.+)$", metadata, re.MULTILINE)
    provenance = {
        "source_package": SOURCE_PACKAGE,
        "source_version": version.group(1) if version else "unknown",
        "source_file": wheel.name,
        "source_sha256": _sha256(wheel_bytes),
        "source_licence": licence.group(1).strip() if licence else "unknown",
        "copyright": copyright_line.group(1).strip() if copyright_line else "unknown",
        "authors": authors.group(1).strip() if authors else "unknown",
        "files": files,
        "references": REFERENCES,
        "columns": list(COLUMNS),
        "column_note": "atmosnet's comments name columns 6 and 7 VTURB and FLXCNV; their values "
        "are the deck's FLXCNV and VCONV (see jaxspec.synth.atmosphere)",
        "output_transform": OUTPUT_TRANSFORM,
        "activation": "leaky ReLU, slope 0.01",
        "label_scaling": "(x - x_min) / (x_max - x_min) - 0.5",
        "stored_dtype": "float32 (weights, biases, scalings); float64 (ranges, training grid)",
        "built_by": "python -m jaxspec.data.atmosnet",
    }
    arrays["format"] = np.asarray(FORMAT)
    arrays["format_version"] = np.asarray(FORMAT_VERSION, np.int64)
    arrays["provenance"] = np.asarray(json.dumps(provenance))
    arrays["label_names"] = np.asarray(LABEL_NAMES)
    arrays["columns"] = np.asarray(COLUMNS)
    with atomic_path(output) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)
    return provenance


def _download_wheel(directory: Path) -> Path:
    return pip_download(
        f"{SOURCE_PACKAGE}=={SOURCE_VERSION}",
        directory,
        sdist=False,
        pattern=f"{SOURCE_PACKAGE}-{SOURCE_VERSION}-*.whl",
    )


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python -m jaxspec.data.atmosnet``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--wheel",
        type=Path,
        help=f"{SOURCE_PACKAGE}-{SOURCE_VERSION}-py2.py3-none-any.whl (default: pip download)",
    )
    parser.add_argument(
        "-o", "--output", type=Path, default=DEFAULT_OUTPUT, help="default: %(default)s"
    )
    args = parser.parse_args(argv)
    _import_dill()  # fail before downloading anything
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or _download_wheel(Path(tmp))
        provenance = convert_atmosnet(wheel, args.output)
    size = args.output.stat().st_size / 2**20
    print(
        f"wrote {args.output} ({size:.2f} MiB) from {wheel.name} "
        f"sha256 {provenance['source_sha256'][:16]}…"
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
