"""Label fitting: MAP throughput and accuracy against The Payne's curve_fit, NUTS against
emcee, and MAP scatter against the Cramér–Rao bound, on simulated spectra.

Stars are simulated with :meth:`jaxspec.infer.ForwardModel.simulate` (Gaussian noise at a
given continuum SNR plus the emulator's pixel error, which the likelihood assumes): labels
uniform inside the emulator's box at least ``--margin`` (5 %) of its width from every edge,
RV uniform in ±100 km/s, a mild quadratic Chebyshev continuum (a_0 ∈ [0.9, 1.1],
|a_1| ≤ 0.05, |a_2| ≤ 0.03). The forward model is ``ForwardModel(emulator)`` with its
defaults (one quadratic continuum segment, RV prior ±``--rv-bound`` km/s, emulator pixel
error in the variance).

(a) **MAP throughput and accuracy.** ``fit_map`` (default settings: 3 starts, batch 128) on
    ``--n-map`` stars at ``--snr`` with the full default emulator. The first call (its first
    ``batch_size`` stars) includes compilation; the steady state is the rest. Reference: the
    way The Payne fits (Ting et al. 2019; ``The_Payne/fitting.py``), one
    ``scipy.optimize.curve_fit`` per star (``method="trf"``, box bounds, the default 2-point
    finite-difference Jacobian, ``ftol = xtol = 5e-4`` as in The Payne's ``fitting.py``,
    ``absolute_sigma=True``) on the SAME emulator weights run by a numpy forward pass (checked
    against ``Emulator.predict``), with the same parameters (labels — scaled to The Payne's
    ``[-0.5, 0.5]`` box —, RV, the three continuum coefficients), the same relativistic
    Doppler shift and linear interpolation on the emulator's log-uniform grid, the same
    pixels (``ForwardModel.prepare``) and weights ``1/σ² = 1/(1/ivar + (C·e)²)`` (``e`` the
    emulator pixel error, ``C`` the starting continuum: curve_fit needs fixed weights, and
    the continuum moves by about a per cent during a fit). A check in the script requires
    the numpy network to match ``Emulator.predict`` and the numpy model ``model_parts`` to
    1e-4 (they agree to ~1e-6). Starts as The Payne starts: labels at the box centre; RV from
    the cross-correlation ``fit_map`` does (its ``rv_ccf``: the same information, not timed
    for curve_fit), continuum by linear least squares at that RV. curve_fit runs on the first
    ``--n-scipy`` of the stars in ``--scipy-workers`` processes (one per core, each with
    single-threaded BLAS, as The Payne's fits are parallelised). Reported: stars/s of both
    (wall, and per process-CPU second since the machine is shared), the ratio, and on the
    same stars the median |error|, RMS error per label and the fraction of catastrophic fits
    (|ΔTeff| > 500 K or failed).
(b) **NUTS vs emcee: effective samples per second per star** on ``--n-nuts`` stars at
    ``--snr`` with the emulator cropped to ``--crop`` Å (both samplers; the full emulator is
    too slow for emcee on 2 cores). ``sample(..., "nuts")`` from the MAP, all stars and chains
    vmapped in one compiled program. The same program with 4 + 4 draws is run first: with
    wall = compilation + rate × draws, the two calls give the compilation and the steady
    state (both are reported). ESS/s per star = median
    over stars of the min over labels of the ESS ``sample`` reports (numpyro's
    ``effective_sample_size`` over the chains) ÷ (wall ÷ n_stars). emcee:
    ``EnsembleSampler(vectorize=True)`` with ``--walkers`` walkers per star on the identical
    density, ``ForwardModel.log_posterior`` jit-compiled and vmapped over walkers (constrained
    space, −inf outside the label box and RV prior), walkers started from draws of the MAP's
    Laplace approximation, ``--emcee-steps`` steps of which the first ``--emcee-burn`` are
    discarded, on the first ``--n-emcee`` of the stars one after another (compilation
    excluded). emcee ESS = walkers × kept steps ÷ τ, τ from ``emcee.autocorr.integrated_time``
    (``tol=0``; the numpyro ESS with walkers as chains is shown as a check).
(c) **MAP scatter / Cramér–Rao bound** at SNR 20, 50, 100 on ``--n-crb`` stars each (full
    emulator; the SNR-50 stars are the first ``--n-crb`` of (a)): per label the RMS over stars
    of (MAP − truth)/σ_CRB(star) (``cramer_rao`` with the true labels, RV, continuum and the
    simulated ivar, RV and continuum marginalised), the ratio std(MAP − truth) /
    median σ_CRB, and the median Laplace σ / σ_CRB. Stars flagged ``at_edge`` are excluded
    and counted.

Usage::

    python benchmarks/bench_fit.py          # ~20 minutes on 2 shared CPU cores
    python benchmarks/bench_fit.py --n-map 256 --n-scipy 10 --n-nuts 4 --n-crb 32 \\
        --nuts-warmup 50 --nuts-samples 50 --emcee-steps 500 --emcee-burn 100  # smoke test

The defaults are sized to that budget on a shared 2-core CPU, where ``fit_map`` runs at
about 1–2 stars/s and NUTS at about 0.4 s per star and draw on the cropped emulator: raise
``--n-map`` (e.g. to 10000, about 1.5–2 hours there) and ``--n-nuts`` on faster machines.

Prints a markdown table per measurement and writes ``benchmarks/results/bench_fit.json``
and ``benchmarks/results/bench_fit.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jaxspec.emulators import load_default  # noqa: E402
from jaxspec.emulators.networks import LEAKY_SLOPE  # noqa: E402
from jaxspec.infer import ForwardModel, Params, fit_map, sample  # noqa: E402
from jaxspec.infer.bounds import cramer_rao  # noqa: E402
from jaxspec.infer.forward import params_from_vector  # noqa: E402
from jaxspec.preprocess.doppler import SPEED_OF_LIGHT_KMS  # noqa: E402

RESULTS = Path(__file__).parent / "results"
CATASTROPHIC_TEFF = 500.0  # K
CRB_SNRS = (20.0, 50.0, 100.0)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Clock:
    """Wall and process-CPU seconds of a block (the CPU time is robust to a shared machine)."""

    def __enter__(self) -> Clock:
        self.t0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.wall = time.perf_counter() - self.t0
        self.cpu = time.process_time() - self.c0


def machine_info() -> dict[str, Any]:
    return {
        "platform": jax.devices()[0].platform,
        "device": str(jax.devices()[0]),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": list(os.getloadavg()),
        "python": platform.python_version(),
        "jax": jax.__version__,
    }


# ---- simulated stars --------------------------------------------------------------------


def draw_truth(model: ForwardModel, n: int, rng: np.random.Generator, margin: float) -> Params:
    """Labels uniform in the box interior, RV uniform ±100 km/s, a mild continuum."""
    lo, hi = model.lower, model.upper
    width = hi - lo
    labels = lo + margin * width + rng.random((n, lo.size)) * (1 - 2 * margin) * width
    rv = rng.uniform(-100.0, 100.0, n)
    order = model.continuum_order
    cont = np.zeros((n, len(model.segments), order + 1))
    cont[..., 0] = rng.uniform(0.9, 1.1, (n, len(model.segments)))
    if order >= 1:
        cont[..., 1] = rng.uniform(-0.05, 0.05, (n, len(model.segments)))
    if order >= 2:
        cont[..., 2] = rng.uniform(-0.03, 0.03, (n, len(model.segments)))
    return Params(labels, rv, np.zeros(n), cont)


def take(p: Params, sel: Any) -> Params:
    return Params(*(np.asarray(a)[sel] for a in p))


def simulate(model: ForwardModel, truth: Params, snr: float, seed: int) -> Any:
    return model.simulate(truth, model.emulator.wave, snr, jax.random.key(seed))


def pieces(n: int, first: int, chunk: int) -> list[tuple[int, int]]:
    """``[0, first)`` then chunks of ``chunk`` (a tail shorter than ``first`` is merged)."""
    out = [(0, min(first, n))]
    start = out[0][1]
    while start < n:
        stop = min(start + chunk, n)
        if n - stop < first:
            stop = n
        out.append((start, stop))
        start = stop
    return out


def error_stats(est: np.ndarray, truth: np.ndarray, names: list[str]) -> dict[str, Any]:
    err = est - truth
    ok = np.all(np.isfinite(err), axis=1)
    e = err[ok]
    teff = names.index("teff") if "teff" in names else 0
    return {
        "n": int(ok.sum()),
        "n_failed": int((~ok).sum()),
        "median_abs_error": dict(zip(names, np.median(np.abs(e), axis=0).tolist(), strict=True)),
        "rms_error": dict(zip(names, np.sqrt(np.mean(e**2, axis=0)).tolist(), strict=True)),
        "catastrophic_fraction": float(
            (np.sum(np.abs(e[:, teff]) > CATASTROPHIC_TEFF) + (~ok).sum()) / len(err)
        ),
    }


# ---- The Payne's way: numpy emulator + scipy curve_fit per star ------------------------


class NumpyEmulator:
    """The emulator's network as plain numpy matmuls (The Payne's ``get_spectrum_from_neural_net``).

    Called with labels scaled to ``[-0.5, 0.5]`` (The Payne's convention, that of
    :func:`jaxspec.emulators.networks.scale_labels`).
    """

    def __init__(self, emulator: Any, dtype: Any = np.float32) -> None:
        from flax import nnx

        layers: dict[Any, dict[str, np.ndarray]] = {}
        for path, leaf in nnx.to_flat_state(emulator.params):
            value = leaf.get_value() if isinstance(leaf, nnx.Variable) else leaf
            layers.setdefault(tuple(path[:-1]), {})[str(path[-1])] = np.asarray(value, dtype)
        order = sorted((k for k in layers if k[0] != "output"), key=lambda k: [str(p) for p in k])
        if emulator.arch == "smooth":
            order = sorted(order, key=lambda k: int(k[-1]))
        self.hidden = [(layers[k]["kernel"], layers[k]["bias"]) for k in order]
        self.out = (layers[("output",)]["kernel"], layers[("output",)]["bias"])
        self.arch = emulator.arch
        self.dtype = dtype

    def _act(self, h: np.ndarray) -> np.ndarray:
        if self.arch == "payne":
            return np.where(h > 0, h, LEAKY_SLOPE * h)
        with np.errstate(over="ignore"):
            return h / (1 + np.exp(-h))

    def __call__(self, scaled: np.ndarray) -> np.ndarray:
        h = np.asarray(scaled, self.dtype)
        for w, b in self.hidden:
            h = self._act(h @ w + b)
        return (h @ self.out[0] + self.out[1]).astype(np.float64)


def check_numpy_emulator(nn: NumpyEmulator, emulator: Any, rng: np.random.Generator) -> float:
    """Max |numpy − Emulator.predict| over 64 random labels in the box."""
    lo = np.asarray(emulator.label_space.lower, np.float64)
    hi = np.asarray(emulator.label_space.upper, np.float64)
    labels = lo + rng.random((64, lo.size)) * (hi - lo)
    ref = np.asarray(emulator.predict(labels), np.float64)
    return float(np.max(np.abs(nn((labels - lo) / (hi - lo) - 0.5) - ref)))


def check_payne_model(fitter: Any, model: ForwardModel, star: Any, truth: Params) -> float:
    """Max |numpy model − ForwardModel.model_parts| on one star's good pixels at its truth."""
    cont = np.asarray(truth.continuum) / float(star.scale)
    p = Params(jnp.asarray(truth.labels), jnp.asarray(truth.rv), jnp.zeros(()), jnp.asarray(cont))
    ref, _, _ = model.model_parts(model.emulator.params, p, jax.tree.map(jnp.asarray, star))
    scaled = (np.asarray(truth.labels) - model.lower) / (model.upper - model.lower) - 0.5
    mine = fitter.model_flux(star, np.concatenate([scaled, [float(truth.rv)], cont.ravel()]))
    return float(np.max(np.abs(np.asarray(ref)[np.asarray(star.good)] - mine)))


class PayneFitter:
    """One star as The Payne fits it, on the forward model's parametrisation (picklable).

    Parameters: labels scaled to ``[-0.5, 0.5]`` (The Payne's), RV [km/s], the continuum
    coefficients; the model is ``C(λ) · f(λ / D(RV))`` with ``ForwardModel``'s Doppler factor
    and linear interpolation on the emulator's log-uniform grid.
    """

    def __init__(self, model: ForwardModel, dtype: Any = np.float32) -> None:
        emu = model.emulator
        self.nn = NumpyEmulator(emu, dtype)
        self.k = model.n_labels
        self.lower, self.upper = model.lower, model.upper
        self.rv_bounds = model.rv_bounds
        self.ln0 = float(np.log(emu.wave[0]))
        self.step = float(np.median(np.diff(np.log(emu.wave))))
        self.n_emu = emu.n_pix
        use_err = model.use_pixel_error and emu.pixel_error is not None
        self.pix_err = np.asarray(emu.pixel_error, np.float64) if use_err else np.zeros(emu.n_pix)

    def _shift(self, lnw: np.ndarray, rest: np.ndarray, rv: float) -> np.ndarray:
        # ForwardModel.interpolation on the log-uniform grid: λ_rest = λ / D(rv).
        x = (lnw - np.arctanh(rv / SPEED_OF_LIGHT_KMS) - self.ln0) / self.step
        x = np.clip(x, 0.0, self.n_emu - 1.0)
        i = np.clip(np.floor(x).astype(np.int64), 0, self.n_emu - 2)
        w = x - i
        return rest[i] * (1.0 - w) + rest[i + 1] * w

    def _pixels(self, star: Any) -> tuple[np.ndarray, ...]:
        good = np.asarray(star.good)
        basis = np.asarray(star.basis)[good].reshape(good.sum(), -1)
        return (
            np.log(np.asarray(star.wave)[good]),
            np.asarray(star.flux)[good],
            star.ivar[good],
            basis,
        )

    def model_flux(self, star: Any, p: np.ndarray) -> np.ndarray:
        """Model on the good pixels at ``p`` = (scaled labels, RV, continuum)."""
        lnw, _, _, basis = self._pixels(star)
        k = self.k
        return (basis @ p[k + 1 :]) * self._shift(lnw, self.nn(p[:k]), p[k])

    def fit(self, star: Any, rv0: float, tol: float) -> tuple[np.ndarray, int, float]:
        """``(labels, RV, continuum)``, the number of model evaluations, process-CPU seconds."""
        from scipy.optimize import curve_fit

        c0 = time.process_time()
        k = self.k
        lnw, y, ivar, basis = self._pixels(star)
        # Start: box centre, the cross-correlation RV, linear least-squares continuum.
        norm0 = self._shift(lnw, self.nn(np.zeros(k)), rv0)
        phi = norm0[:, None] * basis
        a0 = np.linalg.solve(phi.T @ (ivar[:, None] * phi), phi.T @ (ivar * y))
        sigma = np.sqrt(1.0 / ivar + ((basis @ a0) * self._shift(lnw, self.pix_err, rv0)) ** 2)
        calls = [0]

        def fit_func(_: Any, *p: float) -> np.ndarray:
            calls[0] += 1
            p = np.asarray(p)
            return (basis @ p[k + 1 :]) * self._shift(lnw, self.nn(p[:k]), p[k])

        lower = np.concatenate([np.full(k, -0.5), [self.rv_bounds[0]], np.full(a0.size, -np.inf)])
        upper = np.concatenate([np.full(k, 0.5), [self.rv_bounds[1]], np.full(a0.size, np.inf)])
        p0 = np.clip(np.concatenate([np.zeros(k), [rv0], a0]), lower + 1e-9, upper - 1e-9)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                popt, _ = curve_fit(
                    fit_func,
                    [],
                    y,
                    p0=p0,
                    sigma=sigma,
                    absolute_sigma=True,
                    bounds=(lower, upper),
                    method="trf",
                    ftol=tol,
                    xtol=tol,
                )
        except (RuntimeError, ValueError, np.linalg.LinAlgError):
            popt = np.full(p0.size, np.nan)
        out = popt.copy()
        out[:k] = self.lower + (popt[:k] + 0.5) * (self.upper - self.lower)
        return out, calls[0], time.process_time() - c0


_FITTER: PayneFitter | None = None


def _worker_init(fitter: PayneFitter) -> None:
    global _FITTER
    _FITTER = fitter


def _worker_ready(_: Any) -> int:
    return os.getpid()


def _worker_fit(task: tuple[Any, float, float]) -> tuple[np.ndarray, int, float]:
    assert _FITTER is not None
    return _FITTER.fit(*task)


def run_payne(
    fitter: PayneFitter, stars: list[Any], rv0: np.ndarray, tol: float, workers: int
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """curve_fit on every star in ``workers`` processes with single-threaded BLAS.

    (Multi-threaded OpenBLAS on a 256 × n_pix matrix–vector product is ~40× slower than one
    thread on this shared 2-core machine; one process per core is how The Payne's fits are
    run in parallel.) Returns ``(theta, calls, wall_s, cpu_s)``; pool start-up is not timed.
    """
    import multiprocessing as mp

    saved = {v: os.environ.get(v) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    os.environ.update({v: "1" for v in saved})
    try:
        with mp.get_context("spawn").Pool(workers, _worker_init, (fitter,)) as pool:
            pool.map(_worker_ready, range(workers), chunksize=1)
            tasks = [(s, float(r), tol) for s, r in zip(stars, rv0, strict=True)]
            with Clock() as c:
                out = pool.map(_worker_fit, tasks, chunksize=1)
    finally:
        for v, old in saved.items():
            if old is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = old
    theta = np.stack([o[0] for o in out])
    calls = np.array([o[1] for o in out])
    return theta, calls, c.wall, float(sum(o[2] for o in out))


# ---- (a) MAP throughput -----------------------------------------------------------------


def bench_map(args: argparse.Namespace, model: ForwardModel, rng: np.random.Generator) -> dict:
    names = list(model.label_names)
    n = args.n_map
    truth = draw_truth(model, n, rng, args.margin)
    batch = int(min(args.batch_size, max(n // 2, 1)))
    parts = pieces(n, batch, max(args.chunk // batch, 1) * batch)
    theta = np.full((n, len(names) + 1 + model.n_continuum), np.nan)
    keep: dict[str, np.ndarray] = {
        k: np.zeros(n, dtype=bool) for k in ("converged", "at_edge", "hessian_ok")
    }
    n_iter = np.zeros(n, int)
    rv_ccf = np.zeros(n)
    label_sigma = np.full((n, len(names)), np.nan)
    first = steady_wall = steady_cpu = 0.0
    first_cpu = 0.0
    scipy_data = None
    ivar_crb = None
    batch_max: list[int] = []

    def join(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.concatenate([x, y]) if np.ndim(x) else np.append(x, y)

    for j, (a, b) in enumerate(parts):
        spec = simulate(model, take(truth, slice(a, b)), args.snr, 1000 + j)
        if a < args.n_scipy:
            part = jax.tree.map(np.asarray, model.prepare(spec[: args.n_scipy - a])[0])
            scipy_data = part if scipy_data is None else jax.tree.map(join, scipy_data, part)
        if a < args.n_crb:
            piece = np.asarray(spec.ivar)[: args.n_crb - a]
            ivar_crb = piece if ivar_crb is None else np.concatenate([ivar_crb, piece])
        with Clock() as c:
            res = fit_map(spec, model, batch_size=batch, progress=False)
        if j == 0:
            first, first_cpu = c.wall, c.cpu
        else:
            steady_wall += c.wall
            steady_cpu += c.cpu
        theta[a:b] = res.theta
        keep["converged"][a:b] = res.converged
        keep["at_edge"][a:b] = res.at_edge
        keep["hessian_ok"][a:b] = res.hessian_ok
        n_iter[a:b] = res.n_iter
        batch_max += [int(res.n_iter[g : g + batch].max()) for g in range(0, b - a, batch)]
        rv_ccf[a:b] = res.rv_ccf
        label_sigma[a:b] = res.label_sigma
        log(f"(a) fit_map stars {a}-{b}: {c.wall:.1f} s wall, {c.cpu:.1f} s CPU")
        del spec, res
    n_first = parts[0][1]
    n_steady = n - n_first
    rate = n_steady / steady_wall if n_steady else n_first / first
    rate_cpu = n_steady / steady_cpu if n_steady else n_first / first_cpu
    k = len(names)
    jax_stats = error_stats(theta[:, :k], truth.labels, names)

    # The Payne's way on the first n_scipy stars.
    fitter = PayneFitter(model, np.float64 if args.scipy_float64 else np.float32)
    max_diff = check_numpy_emulator(fitter.nn, model.emulator, rng)
    n_s = jax.tree.leaves(scipy_data)[0].shape[0]
    stars = [jax.tree.map(lambda x, i=i: x[i], scipy_data) for i in range(n_s)]
    model_diff = check_payne_model(fitter, model, stars[0], take(truth, 0))
    log(f"(a) numpy vs jaxspec: emulator max |Δ| {max_diff:.1e}, model max |Δ| {model_diff:.1e}")
    if max(max_diff, model_diff) > 1e-4:
        raise SystemExit("the numpy forward model differs from jaxspec's; see the log above")
    sp_theta, calls, sp_wall, sp_cpu = run_payne(
        fitter, stars, rv_ccf[:n_s], args.scipy_tol, args.scipy_workers
    )
    sp_rate, sp_rate_cpu = n_s / sp_wall, n_s / sp_cpu
    log(f"(a) curve_fit on {n_s} stars: {sp_wall:.1f} s wall, {sp_cpu:.1f} s CPU")
    sub = slice(0, n_s)
    return {
        "n_stars": n,
        "snr": args.snr,
        "batch_size": batch,
        "first_call_stars": n_first,
        "first_call_wall_s": first,
        "first_call_cpu_s": first_cpu,
        "compile_wall_s_estimate": max(first - n_first / rate, 0.0),
        "steady_stars": n_steady,
        "steady_wall_s": steady_wall,
        "steady_cpu_s": steady_cpu,
        "jaxspec_stars_per_s": rate,
        "jaxspec_stars_per_cpu_s": rate_cpu,
        "jaxspec_converged_fraction": float(keep["converged"].mean()),
        "jaxspec_at_edge": int(keep["at_edge"].sum()),
        "jaxspec_n_iter_median": float(np.median(n_iter)),
        "jaxspec_n_iter_max": int(n_iter.max()),
        # fit_map's Levenberg–Marquardt loop is vmapped: every star of a batch iterates as
        # long as the slowest start of the batch.
        "jaxspec_n_iter_batch_max_mean": float(np.mean(batch_max)),
        "jaxspec_rv_abs_error_median": float(np.nanmedian(np.abs(theta[:, k] - truth.rv))),
        "jaxspec_accuracy_all": jax_stats,
        "scipy": {
            "n_stars": n_s,
            "method": "curve_fit trf, 2-point Jacobian, bounds",
            "ftol": args.scipy_tol,
            "xtol": args.scipy_tol,
            "dtype": "float64" if args.scipy_float64 else "float32",
            "workers": args.scipy_workers,
            "start": "labels at the box centre, RV = fit_map's rv_ccf, continuum by linear "
            "least squares",
            "numpy_vs_predict_max_abs": max_diff,
            "numpy_vs_jaxspec_model_max_abs": model_diff,
            "wall_s": sp_wall,
            "cpu_s": sp_cpu,
            "stars_per_s": sp_rate,
            "stars_per_cpu_s": sp_rate_cpu,
            "model_calls_median": float(np.median(calls)),
            "n_failed": int(np.sum(~np.all(np.isfinite(sp_theta), axis=1))),
            "rv_abs_error_median": float(np.nanmedian(np.abs(sp_theta[:, k] - truth.rv[sub]))),
        },
        "speedup_wall": rate / sp_rate,
        "target_speedup": 10.0,
        "speedup_cpu": rate_cpu / sp_rate_cpu,
        "same_stars": {
            "jaxspec": error_stats(theta[sub, :k], truth.labels[sub], names),
            "scipy": error_stats(sp_theta[:, :k], truth.labels[sub], names),
        },
        "_truth": truth,
        "_theta": theta,
        "_scipy_theta": sp_theta,
        "_at_edge": keep["at_edge"],
        "_label_sigma": label_sigma,
        "_ivar_crb": ivar_crb,
    }


# ---- (b) NUTS vs emcee ------------------------------------------------------------------


def log_density(model: ForwardModel) -> Any:
    """``(thetas (W, P), data) -> (W,)`` log posterior, −inf outside the prior box."""
    k = model.n_labels
    lo = jnp.asarray(np.concatenate([model.lower, [model.rv_bounds[0]]]))
    hi = jnp.asarray(np.concatenate([model.upper, [model.rv_bounds[1]]]))
    params = model.emulator.params

    def one(theta: Any, data: Any) -> Any:
        inside = jnp.all((theta[: k + 1] >= lo) & (theta[: k + 1] <= hi))
        safe = jnp.where(inside, theta, jnp.concatenate([0.5 * (lo + hi), theta[k + 1 :]]))
        lp = model.log_posterior(params, params_from_vector(model, safe), data)
        return jnp.where(inside & jnp.isfinite(lp), lp, -jnp.inf)

    return jax.jit(jax.vmap(one, in_axes=(0, None)))


def bench_sampling(args: argparse.Namespace, emulator: Any, rng: np.random.Generator) -> dict:
    import emcee
    from numpyro.diagnostics import effective_sample_size

    model = ForwardModel(emulator.crop(*args.crop), rv_bounds=(-args.rv_bound, args.rv_bound))
    k = model.n_labels
    truth = draw_truth(model, args.n_nuts, rng, args.margin)
    spec = simulate(model, truth, args.snr, 2000)
    with Clock() as cm:
        init = fit_map(spec, model, progress=False)
    log(f"(b) MAP of {args.n_nuts} stars ({model.emulator.n_pix} pixels): {cm.wall:.1f} s")

    def run_nuts(warmup: int, samples: int, seed: int) -> tuple[Any, Clock]:
        with Clock() as c:
            res = sample(
                spec,
                model,
                "nuts",
                init=init,
                num_warmup=warmup,
                num_samples=samples,
                num_chains=args.nuts_chains,
                seed=seed,
                progress=False,
            )
        return res, c

    # The same program with 4 + 4 draws (the lengths are only loop trip counts) compiles as
    # long; wall = compilation + rate × draws through both calls gives the steady state.
    _, tiny = run_nuts(4, 4, 1)
    log(f"(b) NUTS 4 + 4 draws: {tiny.wall:.1f} s")
    res, c = run_nuts(args.nuts_warmup, args.nuts_samples, 0)
    draws = args.nuts_warmup + args.nuts_samples
    share = draws / max(draws - 8, 1)
    n_nuts = args.n_nuts
    min_ess = np.min(res.ess[:, :k], axis=1)
    ess = float(np.median(min_ess))
    steady_wall = max(c.wall - tiny.wall, 1e-9) * share
    steady_cpu = max(c.cpu - tiny.cpu, 1e-9) * share
    steps = float(np.mean(res.num_steps))
    n_grad = args.nuts_chains * (args.nuts_warmup + args.nuts_samples) * steps
    nuts = {
        "num_warmup": args.nuts_warmup,
        "num_samples": args.nuts_samples,
        "num_chains": args.nuts_chains,
        "ess": "numpyro effective_sample_size over chains (SampleResult.ess), min over labels",
        "compile_wall_s_estimate": c.wall - steady_wall,
        "wall_s": c.wall,
        "cpu_s": c.cpu,
        "steady_wall_s": steady_wall,
        "min_label_ess_median": ess,
        "ess_per_s_per_star": ess / (steady_wall / n_nuts),
        "ess_per_cpu_s_per_star": ess / (steady_cpu / n_nuts),
        "ess_per_s_per_star_with_compile": ess / (c.wall / n_nuts),
        "max_r_hat": float(np.nanmax(res.r_hat[:, :k])),
        "divergences": int(res.divergences.sum()),
        "mean_leapfrog_steps": steps,
        "gradients_per_ess": n_grad / ess,
        "ms_per_gradient_per_chain": 1e3 * steady_wall / (n_nuts * n_grad),
    }
    log(f"(b) NUTS: {c.wall:.1f} s wall, median min-ESS {ess:.0f}, {steps:.1f} steps/draw")

    # emcee on the identical density, first n_emcee stars one after another.
    density = log_density(model)
    data, _ = model.prepare(spec)
    data = jax.tree.map(np.asarray, data)
    n_e = min(args.n_emcee, args.n_nuts)
    walkers = args.walkers
    cov = np.array(init.cov)
    kept = args.emcee_steps - args.emcee_burn
    tau_ess, chain_ess, times, cpus, accept = [], [], [], [], []
    lo = np.concatenate([model.lower, [model.rv_bounds[0]]])
    hi = np.concatenate([model.upper, [model.rv_bounds[1]]])
    for i in range(n_e):
        star = jax.tree.map(lambda x, i=i: jnp.asarray(x[i]), data)
        c_i = cov[i] if np.all(np.isfinite(cov[i])) else np.diag(np.full(cov.shape[1], 1e-4))
        p0 = rng.multivariate_normal(init.theta[i], c_i, size=walkers, check_valid="ignore")
        width = hi - lo
        p0[:, : k + 1] = np.clip(p0[:, : k + 1], lo + 1e-4 * width, hi - 1e-4 * width)

        def log_prob(x: np.ndarray, star: Any = star) -> np.ndarray:
            return np.asarray(density(jnp.asarray(x), star))

        log_prob(p0)  # compile both batch shapes the stretch move uses
        log_prob(p0[: walkers // 2])
        sampler = emcee.EnsembleSampler(walkers, p0.shape[1], log_prob, vectorize=True)
        with Clock() as c:
            sampler.run_mcmc(p0, args.emcee_steps, progress=False)
        chain = sampler.get_chain(discard=args.emcee_burn)[:, :, :k]  # (steps, walkers, k)
        tau = emcee.autocorr.integrated_time(chain, tol=0, quiet=True)
        tau_ess.append(float(np.min(walkers * kept / tau)))
        chain_ess.append(float(np.min(effective_sample_size(np.swapaxes(chain, 0, 1)))))
        times.append(c.wall)
        cpus.append(c.cpu)
        accept.append(float(np.mean(sampler.acceptance_fraction)))
        log(f"(b) emcee star {i}: {c.wall:.1f} s, τ max {np.max(tau):.0f} steps")
    emcee_rate = float(np.median(np.asarray(tau_ess) / np.asarray(times)))
    emcee_rate_cpu = float(np.median(np.asarray(tau_ess) / np.asarray(cpus)))
    return {
        "emulator_crop_A": list(args.crop),
        "n_pix": model.emulator.n_pix,
        "n_stars": args.n_nuts,
        "snr": args.snr,
        "map_wall_s": cm.wall,
        "nuts": nuts,
        "emcee": {
            "n_stars": n_e,
            "walkers": walkers,
            "steps": args.emcee_steps,
            "burn_in": args.emcee_burn,
            "ess": "walkers × kept steps / τ (emcee.autocorr.integrated_time, tol=0), min over "
            "labels",
            "min_label_ess_median": float(np.median(tau_ess)),
            "min_label_ess_numpyro_walkers_as_chains_median": float(np.median(chain_ess)),
            "wall_s_per_star_median": float(np.median(times)),
            "acceptance_median": float(np.median(accept)),
            "ess_per_s_per_star": emcee_rate,
            "ess_per_cpu_s_per_star": emcee_rate_cpu,
            "evaluations_per_ess": float(walkers * args.emcee_steps / np.median(tau_ess)),
            "ms_per_evaluation": float(1e3 * np.median(times) / (walkers * args.emcee_steps)),
        },
        "ratio_steady": nuts["ess_per_s_per_star"] / emcee_rate,
        "ratio_steady_cpu": nuts["ess_per_cpu_s_per_star"] / emcee_rate_cpu,
        "ratio_with_compile": nuts["ess_per_s_per_star_with_compile"] / emcee_rate,
        # The same ratio with emcee's ESS from numpyro's estimator (walkers as chains).
        "ratio_steady_numpyro_emcee_ess": nuts["ess_per_s_per_star"]
        / float(np.median(np.asarray(chain_ess) / np.asarray(times))),
        "target_ratio": 5.0,
    }


# ---- (c) MAP scatter vs the Cramér–Rao bound --------------------------------------------


def crb_row(
    model: ForwardModel,
    truth: Params,
    theta: np.ndarray,
    at_edge: np.ndarray,
    label_sigma: np.ndarray,
    ivar: np.ndarray,
    snr: float,
) -> dict:
    names = list(model.label_names)
    k = len(names)
    cov = cramer_rao(
        truth.labels, model, ivar, wave=model.emulator.wave, rv=truth.rv, continuum=truth.continuum
    )
    sig = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
    ok = ~at_edge & np.all(np.isfinite(theta[:, :k]), axis=1)
    err = (theta[:, :k] - truth.labels)[ok]
    z = err / sig[ok]
    return {
        "snr": snr,
        "n_stars": int(len(ok)),
        "n_excluded_at_edge": int(at_edge.sum()),
        "n_used": int(ok.sum()),
        "rms_z": dict(zip(names, np.sqrt(np.mean(z**2, axis=0)).tolist(), strict=True)),
        "std_error_over_median_crb": dict(
            zip(names, (np.std(err, axis=0) / np.median(sig[ok], axis=0)).tolist(), strict=True)
        ),
        "median_crb_sigma": dict(zip(names, np.median(sig[ok], axis=0).tolist(), strict=True)),
        "median_laplace_over_crb": dict(
            zip(names, np.nanmedian(label_sigma[ok] / sig[ok], axis=0).tolist(), strict=True)
        ),
        "fraction_abs_z_gt_5": float(np.mean(np.any(np.abs(z) > 5, axis=1))),
        "_z": z,
    }


def bench_crb(args: argparse.Namespace, model: ForwardModel, a: dict, rng: np.random.Generator):
    rows = []
    n = args.n_crb
    for snr in CRB_SNRS:
        if snr == args.snr and n <= a["n_stars"]:
            truth = take(a["_truth"], slice(0, n))
            theta, edge = a["_theta"][:n], a["_at_edge"][:n]
            sigma, ivar = a["_label_sigma"][:n], a["_ivar_crb"][:n]
        else:
            truth = draw_truth(model, n, rng, args.margin)
            spec = simulate(model, truth, snr, 3000 + int(snr))
            with Clock() as c:
                res = fit_map(spec, model, batch_size=min(args.batch_size, n), progress=False)
            log(f"(c) fit_map of {n} stars at SNR {snr:g}: {c.wall:.1f} s")
            theta, edge, sigma = res.theta, res.at_edge, res.label_sigma
            ivar = np.asarray(spec.ivar)
        rows.append(crb_row(model, truth, theta, edge, sigma, ivar, snr))
    return rows


# ---- output -----------------------------------------------------------------------------


def fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 100 else f"{x:,.0f}"


def print_tables(a: dict | None, b: dict | None, c: list | None, names: list[str]) -> None:
    if a is not None:
        s = a["scipy"]
        print(f"\n### (a) MAP: {a['n_stars']} stars at SNR {a['snr']:g}, full emulator\n")
        print("| quantity | jaxspec fit_map | The Payne's curve_fit | ratio |")
        print("|---|---|---|---|")
        print(
            f"| stars/s (wall) | {a['jaxspec_stars_per_s']:.2f} | {s['stars_per_s']:.2f} | "
            f"{a['speedup_wall']:.2f}× (target ≥ {a['target_speedup']:g}×) |"
        )
        print(
            f"| stars/s (process CPU) | {a['jaxspec_stars_per_cpu_s']:.2f} | "
            f"{s['stars_per_cpu_s']:.2f} | {a['speedup_cpu']:.2f}× |"
        )
        print(
            f"| first call (compile + {a['first_call_stars']} stars) [s] | "
            f"{a['first_call_wall_s']:.1f} | – | |"
        )
        print(f"| compile, estimated [s] | {a['compile_wall_s_estimate']:.1f} | – | |")
        print(
            f"| stars timed | {a['steady_stars']} (steady) | {s['n_stars']} | |\n"
            f"| iterations (median / max) or function calls (median) | "
            f"{a['jaxspec_n_iter_median']:.0f} / {a['jaxspec_n_iter_max']} (per-batch max, "
            f"mean: {a['jaxspec_n_iter_batch_max_mean']:.0f}) | "
            f"{s['model_calls_median']:.0f} | |"
        )
        js, ss = a["same_stars"]["jaxspec"], a["same_stars"]["scipy"]
        for key, label in (("median_abs_error", "median abs. error"), ("rms_error", "RMS error")):
            for nme in names:
                print(
                    f"| {label} {nme} (same {js['n']} stars) | {fmt(js[key][nme])} | "
                    f"{fmt(ss[key][nme])} | |"
                )
        print(
            f"| catastrophic (ΔTeff beyond ±{CATASTROPHIC_TEFF:.0f} K, or failed) | "
            f"{js['catastrophic_fraction']:.3f} | {ss['catastrophic_fraction']:.3f} | |"
        )
        print(
            f"| median abs. ΔRV [km/s] | {a['jaxspec_rv_abs_error_median']:.3f} | "
            f"{s['rv_abs_error_median']:.3f} | |"
        )
        all_ = a["jaxspec_accuracy_all"]
        print(
            f"\njaxspec over all {all_['n']} stars: RMS "
            + ", ".join(f"{nme} {fmt(all_['rms_error'][nme])}" for nme in names)
            + f"; catastrophic {all_['catastrophic_fraction']:.4f}; converged "
            f"{a['jaxspec_converged_fraction']:.3f}; at edge {a['jaxspec_at_edge']}. "
            f"curve_fit: ftol = xtol = {s['ftol']:g}, {s['workers']} processes, {s['dtype']} "
            f"numpy forward pass (max |Δflux| vs Emulator.predict "
            f"{s['numpy_vs_predict_max_abs']:.1e}, vs the jaxspec model "
            f"{s['numpy_vs_jaxspec_model_max_abs']:.1e}), {s['n_failed']} failed."
        )
    if b is not None:
        nu, em = b["nuts"], b["emcee"]
        print(
            f"\n### (b) ESS per second per star: {b['n_stars']} stars at SNR {b['snr']:g}, "
            f"emulator cropped to {b['emulator_crop_A'][0]:g}–{b['emulator_crop_A'][1]:g} Å "
            f"({b['n_pix']} pixels)\n"
        )
        print(
            "| sampler | min-label ESS (median star) | wall s / star | ESS/s/star | "
            "evaluations / ESS | ms / evaluation |"
        )
        print("|---|---|---|---|---|---|")
        per_star = nu["steady_wall_s"] / b["n_stars"]
        print(
            f"| NUTS {nu['num_chains']} chains × ({nu['num_warmup']} + {nu['num_samples']}), "
            f"steady state | {nu['min_label_ess_median']:.0f} | {per_star:.2f} | "
            f"{nu['ess_per_s_per_star']:.2f} | {nu['gradients_per_ess']:.0f} gradients | "
            f"{nu['ms_per_gradient_per_chain']:.2f} |"
        )
        print(
            f"| NUTS, compilation ({nu['compile_wall_s_estimate']:.0f} s) included | | "
            f"{nu['wall_s'] / b['n_stars']:.2f} | {nu['ess_per_s_per_star_with_compile']:.2f} | |"
            " |"
        )
        print(
            f"| emcee {em['walkers']} walkers × {em['steps']} (burn {em['burn_in']}), "
            f"{em['n_stars']} stars | {em['min_label_ess_median']:.0f} "
            f"(numpyro: {em['min_label_ess_numpyro_walkers_as_chains_median']:.0f}) | "
            f"{em['wall_s_per_star_median']:.2f} | {em['ess_per_s_per_star']:.2f} | "
            f"{em['evaluations_per_ess']:.0f} densities | {em['ms_per_evaluation']:.3f} |"
        )
        print(
            f"\nNUTS / emcee: {b['ratio_steady']:.2f}× (steady state, wall), "
            f"{b['ratio_steady_cpu']:.2f}× (process CPU), {b['ratio_with_compile']:.2f}× "
            f"(NUTS compilation included), {b['ratio_steady_numpyro_emcee_ess']:.2f}× "
            f"(steady, emcee ESS by numpyro with walkers as chains); target ≥ "
            f"{b['target_ratio']:g}×. NUTS: max R̂ {nu['max_r_hat']:.3f}, "
            f"{nu['divergences']} divergences, {nu['mean_leapfrog_steps']:.1f} leapfrog "
            f"steps/draw; emcee acceptance {em['acceptance_median']:.2f}."
        )
    if c is not None:
        print("\n### (c) MAP scatter / Cramér–Rao bound (full emulator; target RMS z ≤ 1.2)\n")
        head = " | ".join(f"RMS z {n_}" for n_ in names)
        head2 = " | ".join(f"std/CRB {n_}" for n_ in names)
        print(f"| SNR | stars used (at edge) | {head} | {head2} | share with abs z > 5 |")
        print("|---" * (3 + 2 * len(names)) + "|")
        for r in c:
            print(
                f"| {r['snr']:g} | {r['n_used']} ({r['n_excluded_at_edge']}) | "
                + " | ".join(f"{r['rms_z'][n_]:.2f}" for n_ in names)
                + " | "
                + " | ".join(f"{r['std_error_over_median_crb'][n_]:.2f}" for n_ in names)
                + f" | {r['fraction_abs_z_gt_5']:.3f} |"
            )
        print(
            "\nmedian σ_CRB: "
            + "; ".join(
                f"SNR {r['snr']:g}: "
                + ", ".join(f"{n_} {fmt(r['median_crb_sigma'][n_])}" for n_ in names)
                for r in c
            )
        )
        print(
            "median Laplace σ / σ_CRB: "
            + "; ".join(
                f"SNR {r['snr']:g}: "
                + ", ".join(f"{n_} {r['median_laplace_over_crb'][n_]:.2f}" for n_ in names)
                for r in c
            )
        )


def plot(path: Path, a: dict | None, c: list | None, names: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = int(a is not None) + int(c is not None)
    if rows == 0:
        return
    fig, axes = plt.subplots(rows, len(names), figsize=(3.2 * len(names), 2.8 * rows))
    axes = np.atleast_2d(axes)
    r = 0
    if a is not None:
        n_s = a["scipy"]["n_stars"]
        truth = a["_truth"].labels[:n_s]
        for i, nme in enumerate(names):
            ax = axes[r, i]
            ej = a["_theta"][:n_s, i] - truth[:, i]
            es = a["_scipy_theta"][:, i] - truth[:, i]
            for err, label in ((ej, "jaxspec fit_map"), (es, "curve_fit (The Payne)")):
                e = np.sort(np.abs(err[np.isfinite(err)]))
                frac = np.arange(1, e.size + 1) / len(err)  # failed fits never arrive
                ax.step(np.maximum(e, 1e-12), frac, where="post", label=label)
            ax.set_xscale("log")
            ax.set_ylim(0, 1)
            ax.set_xlabel(f"|Δ{nme}| (same {n_s} stars)")
        axes[r, 0].set_ylabel("fraction of stars ≤")
        axes[r, 0].legend(fontsize=7)
        r += 1
    if c is not None:
        grid = np.linspace(-5, 5, 41)
        for i, nme in enumerate(names):
            ax = axes[r, i]
            for row in c:
                ax.hist(
                    np.clip(row["_z"][:, i], -5, 5),
                    grid,
                    density=True,
                    histtype="step",
                    label=f"SNR {row['snr']:g}",
                )
            x = np.linspace(-5, 5, 200)
            ax.plot(x, np.exp(-0.5 * x**2) / np.sqrt(2 * np.pi), "k:", lw=1)
            ax.set_xlabel(f"(MAP − truth) / σ_CRB, {nme}")
        axes[r, 0].legend(fontsize=7)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
    os.replace(tmp, path)


def public(x: Any) -> Any:
    """Drop the private (underscore) entries kept for tables and plots."""
    if isinstance(x, dict):
        return {k: public(v) for k, v in x.items() if not str(k).startswith("_")}
    if isinstance(x, list):
        return [public(v) for v in x]
    return x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-map", type=int, default=512, help="stars for (a)")
    parser.add_argument("--n-scipy", type=int, default=100, help="stars for curve_fit in (a)")
    parser.add_argument("--n-nuts", type=int, default=2, help="stars for NUTS in (b)")
    parser.add_argument("--n-emcee", type=int, default=2, help="stars for emcee in (b)")
    parser.add_argument("--n-crb", type=int, default=128, help="stars per SNR in (c)")
    parser.add_argument("--snr", type=float, default=50.0, help="SNR of (a) and (b)")
    parser.add_argument("--margin", type=float, default=0.05, help="box margin (fraction)")
    parser.add_argument("--rv-bound", type=float, default=600.0, help="RV prior ± [km/s]")
    parser.add_argument("--batch-size", type=int, default=128, help="fit_map batch_size")
    parser.add_argument("--chunk", type=int, default=1024, help="stars simulated at once")
    parser.add_argument("--scipy-tol", type=float, default=5e-4, help="curve_fit ftol, xtol")
    parser.add_argument("--scipy-float64", action="store_true", help="float64 numpy network")
    parser.add_argument(
        "--scipy-workers", type=int, default=os.cpu_count() or 1, help="curve_fit processes"
    )
    parser.add_argument("--crop", type=float, nargs=2, default=(5000.0, 5600.0))
    parser.add_argument("--nuts-warmup", type=int, default=200)
    parser.add_argument("--nuts-samples", type=int, default=200)
    parser.add_argument("--nuts-chains", type=int, default=2)
    parser.add_argument("--walkers", type=int, default=32)
    parser.add_argument("--emcee-steps", type=int, default=2000)
    parser.add_argument("--emcee-burn", type=int, default=500)
    parser.add_argument("--skip", nargs="*", default=(), choices=("map", "sampling", "crb"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=str(RESULTS / "bench_fit.json"))
    parser.add_argument("--plot", default=str(RESULTS / "bench_fit.png"))
    args = parser.parse_args()
    if "map" in args.skip and "crb" not in args.skip:
        parser.error("(c) reuses the SNR-50 fits of (a): skip crb too, or keep map")
    if args.emcee_burn >= args.emcee_steps:
        parser.error("--emcee-burn must be below --emcee-steps")

    rng = np.random.default_rng(args.seed)
    emulator = load_default()
    model = ForwardModel(emulator, rv_bounds=(-args.rv_bound, args.rv_bound))
    names = list(model.label_names)
    info = machine_info()
    start = time.perf_counter()
    seconds: dict[str, float] = {}

    a = b = c = None
    if "map" not in args.skip:
        t0 = time.perf_counter()
        a = bench_map(args, model, rng)
        seconds["map"] = time.perf_counter() - t0
    if "sampling" not in args.skip:
        t0 = time.perf_counter()
        b = bench_sampling(args, emulator, rng)
        seconds["sampling"] = time.perf_counter() - t0
    if "crb" not in args.skip:
        t0 = time.perf_counter()
        c = bench_crb(args, model, a, rng)
        seconds["crb"] = time.perf_counter() - t0
    seconds["total"] = time.perf_counter() - start

    print(
        f"\nLabel fitting on {info['platform']} ({info['cpu_count']} cores, load average at "
        f"start {info['load_average_at_start'][0]:.1f}); default emulator "
        f"{emulator.arch} {emulator.n_pix} pixels; RV prior ±{args.rv_bound:g} km/s"
    )
    print_tables(a, b, c, names)
    print("\nsection wall times [s]: " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()))
    info["load_average_at_end"] = list(os.getloadavg())
    result = {
        "machine": info,
        "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items()},
        "emulator": {"arch": emulator.arch, "n_pix": emulator.n_pix, "labels": names},
        "map": public(a),
        "sampling": public(b),
        "crb": public(c),
        "section_wall_s": seconds,
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2))
    os.replace(tmp, out)
    print(f"\nwrote {out}")
    if args.plot:
        plot(Path(args.plot), a, c, names)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
