"""Plane-parallel model atmospheres from the atmosnet emulator of C3K/ATLAS12 models.

Two multilayer perceptrons from the MIT-licensed ``atmosnet==1.0.1`` (Nidever & Ting) map
(Teff, log g, [Fe/H], [α/Fe]) to eight Kurucz-deck quantities at 80 depths of a C3K
(ATLAS12) model atmosphere. Their weights were converted once to
``jaxspec/data/atmosnet_c3k.npz`` by :mod:`jaxspec.data.atmosnet` and are read here with
``numpy.load(..., allow_pickle=False)``. Everything below is pure JAX: :func:`predict` works
under ``jit``, ``vmap`` and ``grad``, in the floating dtype of its labels (float32 labels
give float32 atmospheres; the stored weights are float32).

What the networks predict
-------------------------
Each network is 4 → 300 → 300 → 80 per deck column with leaky ReLU (slope 0.01), on labels
scaled as (x − x_min)/(x_max − x_min) − 0.5. Its outputs are **log10**(value + 1e-16) at
each depth (atmosnet itself exponentiates with ``exp``, which gives T ≈ 50 K). The units
below were checked against physics, not taken on trust (``tests/synth/test_atmosphere.py``):

=================  =======  ===============  ==========================================
field              column   unit             checked by
=================  =======  ===============  ==========================================
rhox               RHOX     g cm⁻²           P ≈ (g − g_rad)·RHOX at the surface
temperature        T        K                T(τ_Ross = 2/3) ≈ Teff
pressure           P        dyn cm⁻²         (gas pressure) hydrostatic equilibrium
electron_density   XNE      cm⁻³             n_e kT / P → 0.5 when H and He are ionised
kappa_ross         ABROSS   cm² g⁻¹          ∫ κ dRHOX reproduces the deck's τ_Ross grid
accrad             ACCRAD   cm s⁻²           (radiative acceleration) hydrostatics above
flxcnv             FLXCNV   erg s⁻¹ cm⁻²     ≈ σTeff⁴/4π deep in convective envelopes
                                             (Kurucz's Eddington flux H = F/4π)
vconv              VCONV    cm s⁻¹           ~1–4 km/s where flxcnv > 0, else 0
=================  =======  ===============  ==========================================

atmosnet's comments label its last two columns VTURB and FLXCNV. Their values are not a
microturbulence (which would be ~2e5 cm/s at every depth): column 6 vanishes in radiative
layers and equals the total Eddington flux σTeff⁴/4π at the bottom of convective
envelopes, column 7 is ~2e5 cm/s in exactly the same layers and 0 elsewhere — the deck's
FLXCNV and VCONV. So no microturbulence is predicted (C3K decks use a fixed one; the
synthesizer takes ``vmic`` as a label). Both are learned as log10(x + 1e-16) of quantities
that are mostly exactly 0, and are reliable only where convection matters (cool stars); in
hot stars the hot network returns spurious values (e.g. vconv up to 1e9 cm/s in radiative
layers at 20000 K). Nothing downstream should use them for hot stars.

The depth grid is the deck's: equal steps in log τ_Ross, mostly 10^-6.875 … 10^3 (step
0.125). Some cool dwarfs (Teff ≲ 4250 K, log g ≳ 4; most below 3500 K or at low [Fe/H])
were computed on a shallower grid (10^-4.3 … 10^2), and between the two the networks blend
the grids, so always use :meth:`Atmosphere.tau_ross`, never an assumed grid.

Known defects of the emulator (measured on a grid of 1696 labels in the domain, see the
tests): T(τ_Ross = 2/3) is within 5 % of Teff for 98 % of models at 4500–25000 K, but 5–13
% above Teff for M and late-K stars (3500–4500 K, mostly giants) and up to 7.5 % (9 % at
the training labels) above for 25000–30000 K dwarfs. In ~2 % of models RHOX (hence τ_Ross)
is not monotonic at depth — low-gravity FGK supergiants (log g ≲ 1) at τ ≈ 6–200 and a
ridge of cool models (5500 K/log g 1 … 7500 K/4.5) at τ ≈ 100–250, where τ can even turn
negative; down to τ = 3 every model is monotonic, and T rises with depth for 1 ≤ τ ≤ 30
everywhere. M dwarfs between the two depth grids (≈ 3500 K, log g 4.5–5, low [Fe/H]) come
out distorted (surface P/(g·RHOX) 0.7–1.9 instead of ≈ 1).

Domain, blend and checks
------------------------
The cool network was trained on 2500–8500 K and log g −1 to 5.5, the hot one on
7500–50000 K and log g 0.5–5.0 (atmosnet's ``ranges`` entries say 8000 K for both, which is
only where atmosnet switches from one to the other); both on [Fe/H] −4 to +1.5 and
[α/Fe] −0.2 to +0.6. :func:`predict` blends their log10 outputs with a C² smoothstep
weight in Teff across 7500–8500 K (:data:`BLEND_TEFF`), where both were trained, so the
atmosphere is smooth in all four labels from 2500 to 50000 K.

The valid box depends on the Teff regime (:data:`COOL_LABELS` for Teff ≤ 7500 K,
:data:`HOT_LABELS` above, where the hot network is involved and log g must be ≥ 0.5).
Inside the box the training grid is far from rectangular: hot, low-gravity atmospheres do
not exist (radiation pressure), so the hot grid's lowest log g rises from 0.5 at 7500 K to
2–2.5 at 9250–19000 K, 3.0 at 20000–25000 K, 4.0 at 29000–32000 K and 4.5–5.0 above;
cool models stop at log g 5.0 above 4250 K. Off that grid the networks extrapolate and
return unphysical atmospheres (at 30000 K and log g 3.25 the predicted surface g_rad is
1.3 g, so no hydrostatic atmosphere could exist).
:func:`check_labels` therefore also checks log g against the lowest and highest log g
trained at the neighbouring Teff nodes (interpolated linearly in Teff) unless
``strict=False``. Checks need concrete values: :func:`predict` runs them when its labels
are concrete and skips them under ``jit``/``vmap``/``grad`` — call :func:`check_labels` on
the batch first, or mask with :func:`in_domain` inside traced code.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import FileFormatError, LabelRangeError
from ..labels import LabelSpace

__all__ = [
    "Atmosphere",
    "MLPParams",
    "TrainingGrid",
    "AtmosphereParams",
    "load_atmosphere_emulator",
    "atmosphere_provenance",
    "predict",
    "predict_log10",
    "network_log10",
    "blend_weight",
    "check_labels",
    "in_domain",
    "COOL_LABELS",
    "HOT_LABELS",
    "BLEND_TEFF",
    "LABEL_NAMES",
    "COLUMNS",
    "ATMOSNET_FORMAT_VERSION",
]

#: Layout version of ``atmosnet_c3k.npz`` that this code reads.
ATMOSNET_FORMAT_VERSION = 1
_FORMAT = "jaxspec.atmosnet_c3k"
_FILE = "atmosnet_c3k.npz"

#: Order of the labels of :func:`predict`.
LABEL_NAMES: tuple[str, ...] = ("teff", "logg", "feh", "alpha_fe")
_UNITS = ("K", "dex(cm / s2)", "dex", "dex")
#: Deck quantity of each network output column (see the module docstring for 6 and 7).
COLUMNS: tuple[str, ...] = ("RHOX", "T", "P", "XNE", "ABROSS", "ACCRAD", "FLXCNV", "VCONV")
_FIELDS = (
    "rhox",
    "temperature",
    "pressure",
    "electron_density",
    "kappa_ross",
    "accrad",
    "flxcnv",
    "vconv",
)
_OFFSET = 1e-16  # the networks predict log10(value + 1e-16)

#: Teff window [K] across which the cool and hot networks are blended.
BLEND_TEFF: tuple[float, float] = (7500.0, 8500.0)

#: Labels where only the cool network is used (Teff up to the start of the blend window).
COOL_LABELS = LabelSpace(LABEL_NAMES, _UNITS, (2500.0, -1.0, -4.0, -0.2), (7500.0, 5.5, 1.5, 0.6))
#: Labels where the hot network is used (in the blend window together with the cool one,
#: so log g must lie in both networks' ranges there).
HOT_LABELS = LabelSpace(LABEL_NAMES, _UNITS, (7500.0, 0.5, -4.0, -0.2), (50000.0, 5.0, 1.5, 0.6))


# --------------------------------------------------------------------------------------
# The atmosphere container
# --------------------------------------------------------------------------------------


@functools.partial(jax.tree_util.register_dataclass, data_fields=list(_FIELDS), meta_fields=[])
@dataclasses.dataclass(frozen=True)
class Atmosphere:
    """A plane-parallel model atmosphere: Kurucz-deck quantities at each depth, top first.

    A registered pytree; every field is a ``(..., n_depth)`` array (leading axes appear
    under ``vmap``-ed construction). Units as established in the module docstring.

    Attributes:
        rhox: ``(n_depth,)`` column mass above each depth, RHOX [g cm⁻²].
        temperature: ``(n_depth,)`` temperature [K].
        pressure: ``(n_depth,)`` gas pressure [dyn cm⁻²].
        electron_density: ``(n_depth,)`` electron number density [cm⁻³].
        kappa_ross: ``(n_depth,)`` Rosseland mean opacity per gram, ABROSS [cm² g⁻¹].
        accrad: ``(n_depth,)`` radiative acceleration [cm s⁻²].
        flxcnv: ``(n_depth,)`` convective flux in Eddington-flux units, F_conv/4π
            [erg s⁻¹ cm⁻²] (unreliable for hot stars).
        vconv: ``(n_depth,)`` convective velocity [cm s⁻¹] (unreliable for hot stars).
    """

    rhox: jax.Array
    temperature: jax.Array
    pressure: jax.Array
    electron_density: jax.Array
    kappa_ross: jax.Array
    accrad: jax.Array
    flxcnv: jax.Array
    vconv: jax.Array

    @property
    def n_depth(self) -> int:
        """Number of depth points."""
        return self.rhox.shape[-1]

    def tau_ross(self) -> jax.Array:
        """Rosseland optical depth τ_Ross = ∫ κ_R dRHOX at each depth, ``(..., n_depth)``.

        Trapezoidal in RHOX between depths; above the first depth κ_R is taken as constant,
        so τ_0 = κ_R,0 · RHOX_0 (this reproduces the deck's own τ grid to ~0.05 dex at the
        top). Strictly increasing wherever κ_R > 0 and RHOX increases.
        """
        k, m = self.kappa_ross, self.rhox
        top = k[..., :1] * m[..., :1]
        steps = 0.5 * (k[..., 1:] + k[..., :-1]) * jnp.diff(m, axis=-1)
        return jnp.concatenate([top, top + jnp.cumsum(steps, axis=-1)], axis=-1)

    def at_tau(self, values: Any, tau: Any) -> jax.Array:
        """Interpolate a per-depth quantity to Rosseland optical depth ``tau``.

        Linear in log τ_Ross, clamped at the ends of the atmosphere. For one atmosphere;
        ``vmap`` it over a batch.

        Args:
            values: ``(n_depth,)`` quantity, e.g. ``atm.temperature``.
            tau: Rosseland optical depth(s), any shape.

        Returns:
            ``values`` at ``tau``, with the shape of ``tau``.
        """
        log_tau = jnp.log(self.tau_ross())
        return jnp.interp(jnp.log(jnp.asarray(tau, log_tau.dtype)), log_tau, values)


# --------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------


class MLPParams(NamedTuple):
    """Weights of one atmosnet network, stacked over the 8 deck columns (a pytree).

    Attributes:
        w0: ``(8, H, 4)`` first-layer weights; ``b0``: ``(8, H)``.
        w1: ``(8, H, H)`` hidden-layer weights; ``b1``: ``(8, H)``.
        w2: ``(8, n_depth, H)`` output weights; ``b2``: ``(8, n_depth)``.
        x_min, x_max: ``(4,)`` label scaling.
    """

    w0: jax.Array
    b0: jax.Array
    w1: jax.Array
    b1: jax.Array
    w2: jax.Array
    b2: jax.Array
    x_min: jax.Array
    x_max: jax.Array


@dataclasses.dataclass(frozen=True)
class TrainingGrid:
    """Where a network was trained, in (Teff, log g): host-side, hashable, static.

    Attributes:
        teff: Teff nodes [K] of the training set, increasing.
        logg_min: lowest log g trained at each node.
        logg_max: highest log g trained at each node.
    """

    teff: tuple[float, ...]
    logg_min: tuple[float, ...]
    logg_max: tuple[float, ...]

    def logg_bounds(self, teff: Any) -> tuple[np.ndarray, np.ndarray]:
        """Lowest and highest trained log g at ``teff``, interpolated linearly between nodes."""
        t = np.asarray(teff, dtype=float)
        return np.interp(t, self.teff, self.logg_min), np.interp(t, self.teff, self.logg_max)


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=["cool", "hot"],
    meta_fields=["cool_grid", "hot_grid"],
)
@dataclasses.dataclass(frozen=True)
class AtmosphereParams:
    """Both networks' weights (pytree leaves) and their training grids (static).

    Attributes:
        cool: the cool network (trained on 2500–8500 K).
        hot: the hot network (trained on 7500–50000 K).
        cool_grid, hot_grid: their training grids, for :func:`check_labels`.
    """

    cool: MLPParams
    hot: MLPParams
    cool_grid: TrainingGrid
    hot_grid: TrainingGrid


def _read(path: Path) -> tuple[AtmosphereParams, dict[str, Any]]:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise FileFormatError(
            f"cannot read the atmosphere emulator from {path}: {exc}; rebuild it with "
            "python -m jaxspec.data.atmosnet"
        ) from exc
    if str(arrays.get("format", "")) != _FORMAT or "format_version" not in arrays:
        raise FileFormatError(
            f"{path} is not a jaxspec atmosnet file (format {_FORMAT!r} expected); rebuild it "
            "with python -m jaxspec.data.atmosnet"
        )
    version = int(arrays["format_version"])
    if version != ATMOSNET_FORMAT_VERSION:
        raise FileFormatError(
            f"{path} has format_version {version}, this jaxspec reads "
            f"{ATMOSNET_FORMAT_VERSION}; rebuild it with python -m jaxspec.data.atmosnet"
        )
    try:
        nets = {
            net: MLPParams(*(jnp.asarray(arrays[f"{net}_{f}"]) for f in MLPParams._fields))
            for net in ("cool", "hot")
        }
        grids = {
            net: TrainingGrid(
                *(
                    tuple(float(v) for v in arrays[f"{net}_grid_{f}"])
                    for f in ("teff", "logg_min", "logg_max")
                )
            )
            for net in ("cool", "hot")
        }
        provenance = json.loads(str(arrays["provenance"]))
        columns = tuple(str(c) for c in arrays["columns"])
        ranges = {net: arrays[f"{net}_ranges"] for net in ("cool", "hot")}
    except (KeyError, ValueError) as exc:
        raise FileFormatError(f"{path} lacks or garbles an entry: {exc}") from exc
    if columns != COLUMNS:
        raise FileFormatError(f"{path} has columns {columns}, expected {COLUMNS}")
    # The boxes above must agree with the file: log g, [Fe/H], [α/Fe] ranges as stored, and
    # both training sets must cover the blend window.
    for net, space in (("cool", COOL_LABELS), ("hot", HOT_LABELS)):
        stored = ranges[net][1:]
        ours = np.array([space.lower[1:], space.upper[1:]]).T
        if not np.allclose(stored, ours):
            raise FileFormatError(
                f"{path}: the {net} network's stored ranges {stored.tolist()} differ from "
                f"jaxspec's {ours.tolist()}"
            )
    if grids["cool"].teff[-1] < BLEND_TEFF[1] or grids["hot"].teff[0] > BLEND_TEFF[0]:
        raise FileFormatError(
            f"{path}: the networks' training sets do not both cover the blend window {BLEND_TEFF} K"
        )
    params = AtmosphereParams(nets["cool"], nets["hot"], grids["cool"], grids["hot"])
    return params, provenance


@functools.lru_cache(maxsize=4)
def _cached(path: str) -> tuple[AtmosphereParams, dict[str, Any]]:
    return _read(Path(path))


def _resolve(path: str | os.PathLike | None) -> str:
    from ..data import data_path

    resolved = Path(path) if path is not None else data_path(_FILE)
    if not resolved.is_file():
        raise FileNotFoundError(f"no atmosphere-emulator file at {resolved}")
    return str(resolved.resolve())


def load_atmosphere_emulator(path: str | os.PathLike | None = None) -> AtmosphereParams:
    """Load (once, then cached) the atmosnet weights; default the file shipped in jaxspec.

    Args:
        path: an ``atmosnet_c3k.npz`` written by :func:`jaxspec.data.atmosnet.convert_atmosnet`.

    Returns:
        The :class:`AtmosphereParams` to pass to :func:`predict` (weights on the default
        device, float32).

    Raises:
        FileNotFoundError: no such file.
        FileFormatError: not an atmosnet file of this format version, or corrupt.
    """
    return _cached(_resolve(path))[0]


def atmosphere_provenance(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """The provenance record stored in the emulator file (source, checksums, licence)."""
    return dict(_cached(_resolve(path))[1])


# --------------------------------------------------------------------------------------
# Pure functions
# --------------------------------------------------------------------------------------


def _float_labels(labels: Any) -> jax.Array:
    x = jnp.asarray(labels)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    if x.shape != (len(LABEL_NAMES),):
        raise ValueError(
            f"expected one label vector of shape (4,) ({', '.join(LABEL_NAMES)}), got shape "
            f"{tuple(x.shape)}; for a batch use jax.vmap(predict, in_axes=(None, 0))"
        )
    return x


def _leaky_relu(z: jax.Array) -> jax.Array:
    return jnp.where(z > 0, z, 0.01 * z)


def network_log10(net: MLPParams, labels: Any) -> jax.Array:
    """One network's raw output, log10(value + 1e-16), for one label vector.

    Args:
        net: :class:`MLPParams` of the cool or hot network.
        labels: ``(4,)`` Teff [K], log g [cgs], [Fe/H], [α/Fe].

    Returns:
        ``(8, n_depth)`` in the dtype of ``labels``; rows in the order of :data:`COLUMNS`.
    """
    x = _float_labels(labels)
    p = jax.tree.map(lambda a: a.astype(x.dtype), net)
    scaled = (x - p.x_min) / (p.x_max - p.x_min) - 0.5
    h = _leaky_relu(jnp.einsum("chl,l->ch", p.w0, scaled) + p.b0)
    h = _leaky_relu(jnp.einsum("cgh,ch->cg", p.w1, h) + p.b1)
    return jnp.einsum("cdh,ch->cd", p.w2, h) + p.b2


def blend_weight(teff: Any) -> jax.Array:
    """Weight of the hot network: 0 below 7500 K, 1 above 8500 K, C² smoothstep between.

    w = 6s⁵ − 15s⁴ + 10s³ with s = (Teff − 7500 K)/1000 K clipped to [0, 1]; its first and
    second derivatives vanish at both ends, so the blend adds no kink.
    """
    lo, hi = BLEND_TEFF
    s = jnp.clip((teff - lo) / (hi - lo), 0.0, 1.0)
    return s * s * s * (s * (6.0 * s - 15.0) + 10.0)


def predict_log10(params: AtmosphereParams, labels: Any) -> jax.Array:
    """Blended log10(value + 1e-16) of the 8 deck columns, ``(8, n_depth)``; no checks."""
    x = _float_labels(labels)
    w = blend_weight(x[0])
    cool, hot = network_log10(params.cool, x), network_log10(params.hot, x)
    # Outside the window return the one network's output as is (no 0 * inf from the other).
    return jnp.where(w <= 0.0, cool, jnp.where(w >= 1.0, hot, (1.0 - w) * cool + w * hot))


def _is_traced(x: Any) -> bool:
    return isinstance(x, jax.core.Tracer)


def predict(params: AtmosphereParams, labels: Any, *, strict: bool = True) -> Atmosphere:
    """Model atmosphere for one set of labels.

    Pure and differentiable in ``labels`` (smooth across the 7500–8500 K blend); use
    ``jax.vmap(predict, in_axes=(None, 0))`` for a batch. Computed in the floating dtype
    of ``labels`` (float64 needs ``jax_enable_x64``).

    Args:
        params: from :func:`load_atmosphere_emulator`.
        labels: ``(4,)`` Teff [K], log g [log10 cm s⁻²], [Fe/H], [α/Fe].
        strict: also reject log g outside the training grid at that Teff (see
            :func:`check_labels`).

    Returns:
        An :class:`Atmosphere` of 80 depths, in the dtype of ``labels``.

    Raises:
        LabelRangeError: concrete labels outside the emulator's domain (naming the label,
            its value and the allowed range). Not raised for traced labels (inside
            ``jit``/``vmap``/``grad``): check those first with :func:`check_labels`.
        ValueError: ``labels`` is not one vector of 4.
    """
    x = _float_labels(labels)
    if not _is_traced(x):
        check_labels(x, params, strict=strict)
    out = predict_log10(params, x)
    values = jnp.maximum(jnp.power(jnp.asarray(10.0, out.dtype), out) - _OFFSET, 0.0)
    return Atmosphere(*values)


# --------------------------------------------------------------------------------------
# Domain checks
# --------------------------------------------------------------------------------------


def _envelope(params: AtmosphereParams, teff: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Trained log g range at ``teff`` of the network(s) that contribute there."""
    lo_c, hi_c = params.cool_grid.logg_bounds(teff)
    lo_h, hi_h = params.hot_grid.logg_bounds(teff)
    cool_only = teff <= BLEND_TEFF[0]
    hot_only = teff >= BLEND_TEFF[1]
    lo = np.where(cool_only, lo_c, np.where(hot_only, lo_h, np.maximum(lo_c, lo_h)))
    hi = np.where(cool_only, hi_c, np.where(hot_only, hi_h, np.minimum(hi_c, hi_h)))
    return lo, hi


def _box(teff: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 4) lower and upper bounds of the regime box of each row."""
    cool = (teff <= COOL_LABELS.upper[0])[:, None]
    lower = np.where(cool, COOL_LABELS.lower, HOT_LABELS.lower)
    upper = np.where(cool, COOL_LABELS.upper, HOT_LABELS.upper)
    lower[:, 0], upper[:, 0] = COOL_LABELS.lower[0], HOT_LABELS.upper[0]
    return lower, upper


def _g(v: float) -> str:
    return f"{v:.6g}"


def check_labels(
    labels: Any,
    params: AtmosphereParams | None = None,
    *,
    strict: bool = True,
    max_reported: int = 10,
) -> Any:
    """Raise if labels fall outside the emulator's domain; return them unchanged if not.

    The domain is the box of the Teff regime (:data:`COOL_LABELS` for Teff ≤ 7500 K,
    :data:`HOT_LABELS` above) and, when ``strict``, log g between the lowest and highest
    log g of the training grid at that Teff (interpolated linearly between the grid's Teff
    nodes; in the blend window both networks' grids apply).

    Args:
        labels: ``(..., 4)`` Teff [K], log g, [Fe/H], [α/Fe]; concrete values.
        params: whose training grids to use; default the shipped emulator's.
        strict: check the training grid as well as the box.
        max_reported: at most this many problems are listed.

    Returns:
        ``labels``, unchanged.

    Raises:
        LabelRangeError: naming each offending label (up to ``max_reported``), its row in a
            batch, its value and the allowed range.
        ValueError: the last axis does not hold 4 labels.
        TypeError: called on traced values; use :func:`in_domain` inside ``jit``.
    """
    if _is_traced(labels):
        raise TypeError(
            "check_labels needs concrete values and cannot run inside jit, vmap or grad; call "
            "it before, or use jaxspec.synth.atmosphere.in_domain inside"
        )
    arr = np.asarray(labels, dtype=float)
    if arr.ndim == 0 or arr.shape[-1] != len(LABEL_NAMES):
        raise ValueError(
            f"expected labels with a last axis of 4 ({', '.join(LABEL_NAMES)}), got shape "
            f"{arr.shape}"
        )
    flat = arr.reshape(-1, len(LABEL_NAMES))
    lower, upper = _box(np.nan_to_num(flat[:, 0]))
    bad = ~((flat >= lower) & (flat <= upper))  # NaN compares False: bad
    off_grid = np.zeros(len(flat), dtype=bool)
    lo_g = hi_g = np.zeros(len(flat))
    if strict:
        params = params if params is not None else load_atmosphere_emulator()
        teff = np.clip(np.nan_to_num(flat[:, 0]), COOL_LABELS.lower[0], HOT_LABELS.upper[0])
        lo_g, hi_g = _envelope(params, teff)
        ok_box = ~bad.any(axis=1)
        eps = 1e-9
        off_grid = ok_box & ((flat[:, 1] < lo_g - eps) | (flat[:, 1] > hi_g + eps))
    if not bad.any() and not off_grid.any():
        return labels

    lines = []
    rows = [int(r) for r in np.flatnonzero(bad.any(axis=1) | off_grid)]
    n_problems = int(bad.sum() + off_grid.sum())
    batch_shape = arr.shape[:-1]
    for r in rows:
        where = ""
        if batch_shape:
            index = np.unravel_index(r, batch_shape)
            where = f"row {index[0] if len(index) == 1 else tuple(int(i) for i in index)}: "
        for j in np.flatnonzero(bad[r]):
            value = flat[r, j]
            shown = "NaN" if np.isnan(value) else _g(value)
            regime = ""
            if j == 1:
                regime = (
                    " for Teff ≤ 7500 K (cool network)"
                    if flat[r, 0] <= COOL_LABELS.upper[0]
                    else " for Teff > 7500 K (hot network and the 7500–8500 K blend)"
                )
            lines.append(
                f"{where}{LABEL_NAMES[j]} = {shown} {_UNITS[j]} is outside "
                f"[{_g(lower[r, j])}, {_g(upper[r, j])}] {_UNITS[j]}{regime}"
            )
        if off_grid[r]:
            lines.append(
                f"{where}logg = {_g(flat[r, 1])} {_UNITS[1]} is outside the training grid at "
                f"Teff = {_g(flat[r, 0])} K, which spans log g [{_g(lo_g[r])}, {_g(hi_g[r])}] "
                "there"
            )
    shown_lines = lines[:max_reported]
    if len(lines) > max_reported:
        shown_lines.append(f"... and {len(lines) - max_reported} more")
    scope = f" in {len(rows)} of {len(flat)} rows" if batch_shape else ""
    advice = (
        "The atmosnet emulator covers Teff 2500–50000 K, log g −1 to 5.5 up to 7500 K and "
        "0.5 to 5.0 above, [Fe/H] −4 to +1.5, [α/Fe] −0.2 to +0.6"
    )
    if off_grid.any():
        advice += (
            "; off the training grid (hot, low-gravity atmospheres do not exist) it "
            "extrapolates to unphysical atmospheres — pass strict=False to accept that"
        )
    raise LabelRangeError(
        f"{n_problems} atmosphere label value(s) outside the emulator's domain{scope}:\n  "
        + "\n  ".join(shown_lines)
        + f"\n{advice}."
    )


def in_domain(params: AtmosphereParams, labels: Any, *, strict: bool = True) -> jax.Array:
    """Whether labels lie in the emulator's domain, as a traceable boolean (jit/vmap-safe).

    The same rule as :func:`check_labels`, for masking inside traced code.

    Args:
        params: from :func:`load_atmosphere_emulator` (its static training grids are used).
        labels: ``(..., 4)`` labels.
        strict: include the training-grid check.

    Returns:
        ``(...)`` boolean array; False where any label is outside or NaN.
    """
    x = jnp.asarray(labels)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    teff, logg = x[..., 0], x[..., 1]
    cool = (teff <= COOL_LABELS.upper[0])[..., None]
    lower = jnp.where(cool, jnp.asarray(COOL_LABELS.lower), jnp.asarray(HOT_LABELS.lower))
    upper = jnp.where(cool, jnp.asarray(COOL_LABELS.upper), jnp.asarray(HOT_LABELS.upper))
    ok = jnp.all((x >= lower.astype(x.dtype)) & (x <= upper.astype(x.dtype)), axis=-1)
    ok &= (teff >= COOL_LABELS.lower[0]) & (teff <= HOT_LABELS.upper[0])
    if strict:

        def bounds(grid: TrainingGrid) -> tuple[jax.Array, jax.Array]:
            nodes = jnp.asarray(grid.teff, x.dtype)
            return (
                jnp.interp(teff, nodes, jnp.asarray(grid.logg_min, x.dtype)),
                jnp.interp(teff, nodes, jnp.asarray(grid.logg_max, x.dtype)),
            )

        lo_c, hi_c = bounds(params.cool_grid)
        lo_h, hi_h = bounds(params.hot_grid)
        cool_only = teff <= BLEND_TEFF[0]
        hot_only = teff >= BLEND_TEFF[1]
        lo = jnp.where(cool_only, lo_c, jnp.where(hot_only, lo_h, jnp.maximum(lo_c, lo_h)))
        hi = jnp.where(cool_only, hi_c, jnp.where(hot_only, hi_h, jnp.minimum(hi_c, hi_h)))
        eps = 1e-9 if x.dtype == jnp.float64 else 1e-5
        ok &= (logg >= lo - eps) & (logg <= hi + eps)
    return ok
