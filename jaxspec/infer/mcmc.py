"""Posterior sampling of many stars in one compiled program: :func:`sample`.

``method="nuts"`` runs numpyro's NUTS through its functional interface
(:func:`numpyro.infer.hmc.hmc`): the HMC state, including the step-size and (dense) mass-matrix
adaptation state, is an ordinary pytree, so ``jax.vmap`` gives every star and chain its own
adaptation, and ``lax.scan`` runs warm-up and sampling without returning to Python. We chose
this over BlackJAX because numpyro is already the package's probabilistic layer (the same
model serves NUTS, SVI and predictive checks) and adds no dependency. Chains start from draws
of the MAP's Laplace approximation (:func:`~jaxspec.infer.fit_map`), clipped into the box.

``method="svi"`` fits numpyro's :class:`~numpyro.infer.autoguide.AutoMultivariateNormal`
per star (vmapped SVI updates), started at the MAP with the Laplace covariance mapped to the
unconstrained space, and returns draws from the fitted Gaussian.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from ..spectrum import Spectrum
from ._batches import as_forward_model, batch_spectra, chunk_size, run_chunked, scatter
from .forward import FitData, ForwardModel, parameter_names
from .map import MapResult, fit_map

__all__ = ["sample", "SampleResult", "METHODS"]

METHODS = ("nuts", "svi")


def _site_layout(model: ForwardModel) -> list[tuple[str, tuple[int, ...]]]:
    """Latent sample sites of :meth:`ForwardModel.numpyro_model` and their shapes."""
    sites = [(name, ()) for name in model.label_names] + [("rv", ())]
    if model.fit_vsini:
        sites.append(("vsini", ()))
    sites.append(("continuum", (len(model.segments), model.continuum_order + 1)))
    return sites


def _to_sites(model: ForwardModel, theta: Any) -> dict[str, Any]:
    """Flat parameter vector → dict of sample-site values."""
    out, i = {}, 0
    for name, shape in _site_layout(model):
        size = int(np.prod(shape)) if shape else 1
        out[name] = theta[i : i + size].reshape(shape)
        i += size
    return out


def _from_sites(model: ForwardModel, sites: dict[str, Any]) -> Any:
    """Dict of site values (any leading axes) → flat parameter vectors."""
    parts = []
    for name, shape in _site_layout(model):
        v = jnp.asarray(sites[name])
        lead = v.shape[: v.ndim - len(shape)]
        parts.append(v.reshape(*lead, -1))
    return jnp.concatenate(parts, axis=-1)


class _Transforms:
    """Bijections between constrained site values and numpyro's unconstrained space."""

    def __init__(self, model: ForwardModel) -> None:
        import numpyro.distributions as dist
        from numpyro.distributions.transforms import biject_to

        supports = {n: model.label_prior(i).support for i, n in enumerate(model.label_names)}
        supports["rv"] = model.rv_prior().support
        if model.fit_vsini:
            supports["vsini"] = dist.Uniform(0.0, model.vsini_max).support
        supports["continuum"] = dist.constraints.real
        self.model = model
        self.maps = {n: biject_to(s) for n, s in supports.items()}

    def unconstrain(self, theta: Any) -> dict[str, Any]:
        sites = _to_sites(self.model, theta)
        return {n: self.maps[n].inv(v) for n, v in sites.items()}

    def constrain(self, z: dict[str, Any]) -> dict[str, Any]:
        return {n: self.maps[n](v) for n, v in z.items()}


def _interior(model: ForwardModel, theta: Any) -> Any:
    """Clip a flat vector strictly inside the prior box (bijections diverge at the edges)."""
    k = model.n_labels
    width = model.upper - model.lower
    labels = jnp.clip(theta[..., :k], model.lower + 1e-4 * width, model.upper - 1e-4 * width)
    w_rv = model.rv_bounds[1] - model.rv_bounds[0]
    rv = jnp.clip(theta[..., k], model.rv_bounds[0] + 1e-4 * w_rv, model.rv_bounds[1] - 1e-4 * w_rv)
    rest = theta[..., k + 1 :]
    if model.fit_vsini:
        vs = jnp.clip(rest[..., 0], 1e-3 * model.vsini_max, (1 - 1e-4) * model.vsini_max)
        rest = jnp.concatenate([vs[..., None], rest[..., 1:]], axis=-1)
    return jnp.concatenate([labels, rv[..., None], rest], axis=-1)


def _usable_cov(init: MapResult) -> np.ndarray:
    """Laplace covariances, with a small diagonal one where the Hessian was not usable."""
    cov = np.array(init.cov, dtype=np.float64)
    bad = ~np.all(np.isfinite(cov), axis=(1, 2))
    if bad.any():
        m = init.model
        scale = np.concatenate(
            [1e-2 * (m.upper - m.lower), [1.0], [1.0] * int(m.fit_vsini), [1e-2] * m.n_continuum]
        )
        cov[bad] = np.diag(scale**2)
    return cov


def _initial_points(
    model: ForwardModel, theta: np.ndarray, cov: np.ndarray, n_chains: int, key: jax.Array
) -> Any:
    """``(n_stars, n_chains, n_params)`` starts: draws from the Laplace approximation."""
    p = theta.shape[-1]
    chol = np.linalg.cholesky(cov + 1e-12 * np.eye(p))
    eps = np.asarray(jax.random.normal(key, (theta.shape[0], n_chains, p)))
    draws = theta[:, None, :] + np.einsum("spq,scq->scp", chol, eps)
    draws[:, 0] = theta  # the first chain starts at the MAP itself
    return _interior(model, jnp.asarray(draws))


@functools.lru_cache(maxsize=16)
def _nuts_program(
    model: ForwardModel,
    num_warmup: int,
    num_samples: int,
    thinning: int,
    dense_mass: bool,
    adapt_mass_matrix: bool,
    target_accept: float,
    max_tree_depth: int,
) -> Any:
    from numpyro.infer.hmc import hmc

    transforms = _Transforms(model)

    init_kernel, sample_kernel = hmc(potential_fn_gen=_PotentialGen(model), algo="NUTS")

    def one_chain(
        params: Any, data: FitData, theta0: Any, theta_map: Any, cov: Any, key: Any
    ) -> tuple[Any, Any, Any]:
        z0 = transforms.unconstrain(theta0)
        # The Laplace covariance, mapped to the unconstrained space at the MAP (not at the
        # chain's start, which may lie near a box edge where the map is extreme), is the
        # starting mass matrix: the first trajectories are then as short as adapted ones.
        inv_mass = _unconstrained_cov(model, transforms, theta_map, cov, sorted_sites=True)
        if not dense_mass:
            inv_mass = jnp.diag(inv_mass)
        state = init_kernel(
            z0,
            num_warmup,
            inverse_mass_matrix=inv_mass,
            adapt_mass_matrix=adapt_mass_matrix,
            regularize_mass_matrix=False,
            dense_mass=dense_mass,
            target_accept_prob=target_accept,
            max_tree_depth=max_tree_depth,
            model_args=(params, data),
            rng_key=key,
        )

        def step(s: Any, _: Any) -> tuple[Any, None]:
            return sample_kernel(s, model_args=(params, data)), None

        state, _ = jax.lax.scan(step, state, None, length=num_warmup)

        def draw(s: Any, _: Any) -> tuple[Any, Any]:
            diverging, steps = False, 0
            for _ in range(thinning):  # count divergences and steps of every transition
                s = sample_kernel(s, model_args=(params, data))
                diverging = diverging | s.diverging
                steps = steps + s.num_steps
            theta = _from_sites(model, transforms.constrain(s.z))
            return s, (theta, diverging, steps)

        state, (thetas, div, steps) = jax.lax.scan(draw, state, None, length=num_samples)
        return thetas, div, steps

    @jax.jit
    def run(params: Any, data: FitData, theta0: Any, cov: Any, keys: Any) -> dict:
        per_chain = jax.vmap(one_chain, in_axes=(None, None, 0, None, None, 0))
        thetas, div, steps = jax.vmap(per_chain, in_axes=(None, 0, 0, 0, 0, 0))(
            params, data, theta0, theta0[:, 0], cov, keys
        )
        return {"samples": thetas, "divergent": div, "num_steps": steps}

    return run


def _unconstrained_cov(
    model: ForwardModel, transforms: _Transforms, theta: Any, cov: Any, *, sorted_sites: bool
) -> Any:
    """A constrained-space covariance mapped linearly to the unconstrained latent vector.

    numpyro's HMC flattens the latent dict with ``ravel_pytree`` (sites in sorted name
    order, ``sorted_sites=True``); the autoguides keep the model's site order.
    """

    def to_latent(t: Any) -> Any:
        z = transforms.unconstrain(t)
        return ravel_pytree(z)[0] if sorted_sites else _from_sites(model, z)

    jac = jax.jacfwd(to_latent)(theta)
    out = jac @ cov @ jac.T
    return 0.5 * (out + out.T) + 1e-12 * jnp.eye(out.shape[0])


class _PotentialGen:
    """``(params, data) -> potential_fn(z)``: numpyro's potential energy of one star."""

    def __init__(self, model: ForwardModel) -> None:
        self.model = model

    def __call__(self, params: Any, data: FitData) -> Any:
        from numpyro.infer.util import potential_energy

        return functools.partial(potential_energy, self.model.numpyro_model, (params, data), {})


@functools.lru_cache(maxsize=16)
def _svi_program(model: ForwardModel, steps: int, lr: float, num_samples: int) -> Any:
    import optax
    from numpyro.distributions.transforms import biject_to
    from numpyro.infer import SVI, Trace_ELBO
    from numpyro.infer.autoguide import AutoMultivariateNormal
    from numpyro.infer.svi import SVIState

    transforms = _Transforms(model)
    guide = AutoMultivariateNormal(model.numpyro_model)
    svi = SVI(model.numpyro_model, guide, optax.adam(lr), Trace_ELBO())
    tril = biject_to(guide.scale_tril_constraint)

    def one_star(params: Any, data: FitData, theta0: Any, cov: Any, key: Any) -> dict:
        # The guide's latent vector holds the sites in the model's order, as _from_sites.
        loc = _from_sites(model, transforms.unconstrain(theta0))
        cov_u = _unconstrained_cov(model, transforms, theta0, cov, sorted_sites=False)
        chol = jnp.linalg.cholesky(cov_u)
        guide_params = {"auto_loc": loc, "auto_scale_tril": tril.inv(chol)}
        state = SVIState(svi.optim.init(guide_params), None, key)

        def step(s: Any, _: Any) -> tuple[Any, Any]:
            s, loss = svi.update(s, params, data)
            return s, loss

        state, losses = jax.lax.scan(step, state, None, length=steps)
        fitted = svi.get_params(state)
        k_draw = jax.random.fold_in(key, 1)
        eps = jax.random.normal(k_draw, (num_samples, loc.size))
        u = fitted["auto_loc"] + eps @ fitted["auto_scale_tril"].T
        thetas = jax.vmap(lambda v: _from_sites(model, transforms.constrain(_to_sites(model, v))))(
            u
        )
        return {"samples": thetas[None], "loss": losses}

    @jax.jit
    def run(params: Any, data: FitData, theta0: Any, cov: Any, keys: Any) -> dict:
        return jax.vmap(one_star, in_axes=(None, 0, 0, 0, 0))(params, data, theta0, cov, keys)

    return run, svi, guide


@dataclasses.dataclass(frozen=True, eq=False)
class SampleResult:
    """Posterior draws for a batch of stars.

    Attributes:
        model: the forward model.
        method: ``"nuts"`` or ``"svi"``.
        names: names of the parameter vector's entries.
        samples: ``(n_stars, n_chains, n_draws, n_params)`` posterior draws (NaN for stars
            not fitted); SVI has one "chain".
        divergences: ``(n_stars,)`` divergent transitions after warm-up (NUTS; 0 for SVI).
        r_hat: ``(n_stars, n_params)`` split-R̂ (NaN with a single chain).
        ess: ``(n_stars, n_params)`` bulk effective sample size.
        num_steps: ``(n_stars,)`` mean leapfrog steps per draw (NUTS).
        map: the :class:`MapResult` the chains started from.
        wall_time: seconds spent sampling (compilation included).
    """

    model: ForwardModel
    method: str
    names: list[str]
    samples: np.ndarray
    divergences: np.ndarray
    r_hat: np.ndarray
    ess: np.ndarray
    num_steps: np.ndarray
    map: MapResult
    wall_time: float

    def __len__(self) -> int:
        return int(self.samples.shape[0])

    @property
    def flat_samples(self) -> np.ndarray:
        """``(n_stars, n_chains × n_draws, n_params)`` draws with chains merged."""
        s = self.samples
        return s.reshape(s.shape[0], -1, s.shape[-1])

    @property
    def mean(self) -> np.ndarray:
        return self.flat_samples.mean(axis=1)

    @property
    def std(self) -> np.ndarray:
        return self.flat_samples.std(axis=1, ddof=1)

    @property
    def labels(self) -> np.ndarray:
        return self.mean[:, : self.model.n_labels]

    @property
    def label_sigma(self) -> np.ndarray:
        return self.std[:, : self.model.n_labels]

    def table(self) -> Any:
        """The catalog as an astropy Table (see :func:`jaxspec.infer.results.sample_table`)."""
        from .results import sample_table

        return sample_table(self)

    def to_arviz(self) -> Any:
        """An ArviZ ``InferenceData`` (needs ``arviz``; see :func:`jaxspec.infer.results`)."""
        from .results import to_arviz

        return to_arviz(self)


def _diagnostics(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split-R̂ and ESS per star and parameter from ``(n_stars, chains, draws, p)``."""
    from numpyro.diagnostics import effective_sample_size, split_gelman_rubin

    x = np.moveaxis(samples, 0, 2)  # (chains, draws, stars, p)
    ess = np.asarray(effective_sample_size(x))
    if samples.shape[1] < 2 or samples.shape[2] < 4:  # split-R̂ needs two halves of ≥ 2
        return np.full(ess.shape, np.nan), ess
    return np.asarray(split_gelman_rubin(x)), ess


def sample(
    spectra: Spectrum,
    model: Any,
    method: str = "nuts",
    *,
    init: MapResult | None = None,
    num_warmup: int = 500,
    num_samples: int = 500,
    num_chains: int = 2,
    thinning: int = 1,
    dense_mass: bool = True,
    adapt_mass_matrix: bool = True,
    target_accept: float = 0.8,
    max_tree_depth: int = 8,
    svi_steps: int = 1000,
    svi_lr: float = 1e-3,
    seed: int = 0,
    batch_size: int = 64,
    progress: bool = True,
    **options: Any,
) -> SampleResult:
    """Posterior samples of labels, RV and continuum for many stars at once.

    Args:
        spectra: one :class:`~jaxspec.Spectrum` or a batch.
        model: an :class:`~jaxspec.emulators.Emulator` or a :class:`ForwardModel`.
        method: ``"nuts"`` (default) or ``"svi"``.
        init: the :class:`MapResult` to start from; computed with :func:`fit_map` if None.
        num_warmup, num_samples, num_chains, thinning: NUTS run length per star and chain
            (SVI draws ``num_samples`` from the fitted Gaussian).
        dense_mass: use a dense mass matrix (labels are strongly correlated). It starts as
            the Laplace covariance mapped to numpyro's unconstrained space.
        adapt_mass_matrix: adapt the mass matrix in warm-up too (numpyro's windowed
            estimate, unregularised because the parameters' scales differ by 10⁴), starting
            from the Laplace one; False keeps the Laplace mass matrix and adapts only the
            step size (cheaper, but chains stick where the posterior is far from Gaussian,
            e.g. against a box edge).
        target_accept, max_tree_depth: NUTS settings.
        svi_steps, svi_lr: SVI optimisation steps and Adam learning rate.
        seed: random seed.
        batch_size: stars per compiled call.
        progress: tqdm bar over stars.
        **options: :class:`ForwardModel` settings when ``model`` is an Emulator.

    Returns:
        a :class:`SampleResult`; ``.table()`` gives the catalog.
    """
    import time

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if min(num_samples, num_chains, thinning) < 1 or num_warmup < 0:
        raise ValueError("num_samples, num_chains and thinning must be >= 1, num_warmup >= 0")
    fm = as_forward_model(model, **options)
    batch, _ = batch_spectra(spectra)
    if init is None:
        init = fit_map(batch, fm, progress=progress)
    elif len(init) != batch.batch_shape[0] or init.model != fm:
        raise ValueError(
            "init must be the MapResult of these spectra with this forward model "
            "(fit_map(spectra, model)); got one of another batch or model"
        )
    names = parameter_names(fm)
    n = len(init)
    fittable = init.fitted & np.all(np.isfinite(init.theta), axis=1)
    key = jax.random.key(seed)
    start = time.perf_counter()
    with jax.enable_x64(True):
        data, _ = fm.prepare(batch)
        cov = _usable_cov(init)
        if method == "nuts":
            theta0 = np.asarray(_initial_points(fm, init.theta, cov, num_chains, key))
            keys = jax.random.split(jax.random.fold_in(key, 1), (n, num_chains))
            program = _nuts_program(
                fm,
                num_warmup,
                num_samples,
                thinning,
                dense_mass,
                adapt_mass_matrix,
                target_accept,
                max_tree_depth,
            )
            extra = {"theta0": theta0, "cov": cov, "keys": np.asarray(jax.random.key_data(keys))}

            def fn(chunk: Any) -> Any:
                d, t0, c, k = chunk
                return program(fm.emulator.params, d, t0, c, jax.random.wrap_key_data(k))

        else:
            theta0 = np.asarray(_interior(fm, jnp.asarray(np.nan_to_num(init.theta))))
            keys = jax.random.split(jax.random.fold_in(key, 2), n)
            program, svi, guide = _svi_program(fm, svi_steps, svi_lr, num_samples)
            if guide.prototype_trace is None:  # set the guide up once, outside jit
                first = int(np.flatnonzero(fittable)[0]) if fittable.any() else 0
                star = jax.tree.map(lambda a: jnp.asarray(a[first]), data)
                svi.init(key, fm.emulator.params, star)
            extra = {"theta0": theta0, "cov": cov, "keys": np.asarray(jax.random.key_data(keys))}

            def fn(chunk: Any) -> Any:
                d, t0, c, k = chunk
                return program(fm.emulator.params, d, t0, c, jax.random.wrap_key_data(k))

        bundle = (data, *extra.values())
        size = chunk_size(int(fittable.sum()), batch_size)
        parts = run_chunked(fn, bundle, fittable, size, progress=progress, desc=method.upper())
    wall = time.perf_counter() - start
    c = num_chains if method == "nuts" else 1
    p = len(names)
    template = {"samples": np.zeros((1, c, num_samples, p))}
    if method == "nuts":
        template |= {"divergent": np.zeros((1, c, num_samples), bool)}
        template |= {"num_steps": np.zeros((1, c, num_samples), np.int32)}
    else:
        template |= {"loss": np.zeros((1, svi_steps))}
    out = scatter(n, parts, template, np.nan)
    samples = out["samples"]
    r_hat, ess = _diagnostics(samples)
    bad = ~fittable
    r_hat[bad], ess[bad] = np.nan, np.nan
    if method == "nuts":
        div = out["divergent"].sum(axis=(1, 2))
        steps = out["num_steps"].mean(axis=(1, 2))
    else:
        div, steps = np.zeros(n, int), np.zeros(n)
    return SampleResult(fm, method, names, samples, div, r_hat, ess, steps, init, wall)
