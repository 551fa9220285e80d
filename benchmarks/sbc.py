"""Simulation-based calibration (SBC, Talts et al. 2018) of the inference in ``jaxspec.infer``.

Stars are drawn from the prior of one :class:`~jaxspec.infer.ForwardModel`, their spectra
simulated with :meth:`~jaxspec.infer.ForwardModel.simulate` at a fixed SNR, and the same model
infers them back. If the posteriors are right, the rank of each true value among ``L``
independent posterior draws is uniform on ``0..L`` and central ``q`` intervals hold the
truth a fraction ``q`` of the time. Methods:

1. ``nuts``: :func:`~jaxspec.infer.sample` (vmapped NUTS started at the MAP, ``--batch-size``
   stars per compiled call: every lane of a vmapped NUTS step waits for the longest tree, so
   small batches are cheapest on CPU). The dense mass matrix starts from the Laplace
   covariance at the MAP and is adapted during warm-up (``sample``'s default; keeping the
   Laplace one fixed left chains of stars near the box edges stuck) and trees are capped at
   depth 6. The ``L`` draws are spread evenly
   over the merged post-warm-up draws of all chains (thinning);
2. ``laplace``: draws from N(MAP, Laplace covariance) of :func:`~jaxspec.infer.fit_map`,
   labels clipped into the emulator's box and RV into its bounds (a clipped draw sits on the
   bound, so it ranks as a truncated normal's would); stars whose Hessian was not positive
   definite have no Laplace posterior and are left out of that method's statistics;
3. ``svi`` (on by default, ``--no-svi`` to skip; it costs ~10 % of NUTS):
   :func:`~jaxspec.infer.sample` with ``method="svi"``.

Model: the default emulator cropped to ``--window`` (5000–5600 Å, 2550 pixels). The crop is
for cost only: :meth:`~jaxspec.emulators.Emulator.crop` keeps the output columns of the same
network, so predictions there are exactly the full model's. The prior is the model's own:
labels uniform in the emulator's box, RV uniform in ``±--rv-bound`` km/s, continuum
coefficients normal (loc 1 for the constant term, 0 otherwise; scale ``--continuum-sigma``).
Truths are drawn from that prior and the same model is used for inference. (One caveat: the
fitter divides each spectrum by its median flux, 0.79–1.08 here, and applies the continuum
prior to the rescaled coefficients, so the continuum prior it uses is not exactly the
generating one. At SNR 30 the data fix the constant term to ~0.001, 40× tighter than the
prior, so the posterior moves by a median 0.02σ (at most ~0.3σ) in that coefficient and less
in the labels. Continuum coefficients are not ranked.)

For each of teff, logg, feh, alpha and rv and each method: rank histogram (``--bins`` bins of
the ``L + 1`` rank values), χ² test of the histogram against uniform, KS test of
``(rank + U) / (L + 1)`` with U ~ Uniform(0, 1) against Uniform(0, 1), and coverage of the
central 68 % and 95 % intervals (quantiles of all of the method's draws) with binomial
standard errors ``sqrt(q (1 − q) / N)``. Targets: NUTS coverage within 68 ± 4 % and 95 ± 3 %
and no label with a p-value (χ² or KS) below 0.01. With N = 200 the binomial standard errors
are 3.3 % (68 %) and 1.5 % (95 %), so the 68 ± 4 % target is only a 1.2σ band: a calibrated
sampler misses it for one of the five parameters more often than not. Diagnostics: NUTS
divergences (every post-warm-up transition), max split-R̂, min bulk ESS, the MAP's convergence,
positive-definite Hessians and stars at the box edge, and wall/CPU times of each stage.

The run is split into chunks of ``--chunk`` stars; after each, the state is saved to
``benchmarks/results/sbc.partial.npz`` (atomically). Rerunning with the same settings resumes
from it (``--fresh`` starts over); it is deleted once the results are written. The JSON and
PNG are written to a temporary file in the same folder and renamed, so a crash never leaves a
half-written result.

Cost (measured on a 2-core machine shared with other jobs): ~1650 s of CPU time for the
default 200 stars: NUTS ~7 CPU-s per star (2 chains × 200 transitions; stars near the box
edges need the longest trees) plus ~30 s of compilation, MAP ~0.3 and SVI ~0.7 CPU-s per
star. That is ~15–30 min of wall time on 2 free CPU cores (depending on how much XLA runs in
parallel) and ~40 min at a load of 5 on 2 cores. NUTS dominates and scales with the run
length: ``--num-samples 200`` (stride 4 for ``L = 99``) adds ~50 %.

Usage::

    python benchmarks/sbc.py                 # 200 stars, NUTS + Laplace + SVI (see Cost)
    python benchmarks/sbc.py --no-svi        # skip SVI
    python benchmarks/sbc.py --n-stars 16    # smoke test, ~4 min

Prints markdown tables and writes ``benchmarks/results/sbc.json`` (statistics, diagnostics,
timings, settings, machine and versions, and per-star truths, MAP, ranks and NUTS
diagnostics) and ``benchmarks/results/sbc.png`` (rank histograms: rows = methods, columns =
parameters, grey band = the central 99 % range of one bin's count under uniform ranks).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

RESULTS = Path(__file__).parent / "results"
RANKED = ("teff", "logg", "feh", "alpha", "rv")
LEVELS = (0.68, 0.95)
TARGET_TOL = {0.68: 0.04, 0.95: 0.03}
P_FAIL = 0.01


# ---- set-up --------------------------------------------------------------------------------


def build_model(args: argparse.Namespace) -> Any:
    from jaxspec.emulators import load_default
    from jaxspec.infer import ForwardModel

    emu = load_default().crop(*args.window)
    return ForwardModel(
        emu,
        rv_bounds=(-args.rv_bound, args.rv_bound),
        continuum_order=args.continuum_order,
        continuum_prior=(1.0, args.continuum_sigma),
    )


def draw_truths(model: Any, n: int, seed: int) -> Any:
    """``Params`` of ``n`` stars drawn from the model's own prior."""
    from jaxspec.infer import Params

    keys = jax.random.split(jax.random.key(seed), model.n_labels + 2)
    labels = np.stack(
        [np.asarray(model.label_prior(i).sample(keys[i], (n,))) for i in range(model.n_labels)],
        axis=1,
    )
    rv = np.asarray(model.rv_prior().sample(keys[-2], (n,)))
    loc, scale = model.continuum_prior_arrays()
    cont = loc + scale * np.asarray(jax.random.normal(keys[-1], (n, *loc.shape)))
    return Params(labels.astype(np.float64), rv.astype(np.float64), np.zeros(n), cont)


def ranked_columns(model: Any) -> list[int]:
    from jaxspec.infer.forward import parameter_names

    if tuple(model.label_names) != RANKED[:-1]:
        raise ValueError(f"expected an emulator of {RANKED[:-1]}, got {model.label_names}")
    names = parameter_names(model)
    return [names.index(r) for r in RANKED]


# ---- per-chunk inference -------------------------------------------------------------------


class Clock:
    """Wall and process-CPU seconds of a block (CPU: all threads; the machine is shared)."""

    def __enter__(self) -> Clock:
        self.w0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.wall = time.perf_counter() - self.w0
        self.cpu = time.process_time() - self.c0


def run_chunk(
    model: Any, truth: Any, idx: np.ndarray, args: argparse.Namespace, cols: list[int]
) -> dict[str, Any]:
    """Simulate and infer the stars ``idx``; returns arrays for the checkpoint."""
    from jaxspec.infer import Params, fit_map, sample

    sub = Params(*(np.asarray(a)[idx] for a in truth))
    key = jax.random.fold_in(jax.random.key(args.seed + 1), int(idx[0]))
    spec = model.simulate(sub, model.emulator.wave, args.snr, key)
    n = idx.size
    lo, hi = box_bounds(model)
    out: dict[str, Any] = {"idx": idx}

    with Clock() as t:
        mp = fit_map(spec, model, progress=False)
    out |= {
        "map_wall": t.wall,
        "map_cpu": t.cpu,
        "map_theta": mp.theta[:, cols],
        "map_converged": mp.converged,
        "map_hessian_ok": mp.hessian_ok,
        "map_at_edge": mp.at_edge,
        "map_fitted": mp.fitted,
        "flux_scale": mp.flux_scale,
    }

    # Laplace: N(MAP, cov), clipped into the prior box.
    rng = np.random.default_rng([args.seed, 2, int(idx[0])])
    m = max(args.n_draws, args.laplace_draws)
    lap = np.full((n, m, len(cols)), np.nan)
    for s in range(n):
        cov = mp.cov[s][np.ix_(cols, cols)]
        if mp.hessian_ok[s] and np.all(np.isfinite(cov)):
            lap[s] = rng.multivariate_normal(mp.theta[s, cols], cov, size=m, method="cholesky")
    out["laplace_draws"] = np.clip(lap, lo, hi)

    with Clock() as t:
        res = sample(
            spec,
            model,
            "nuts",
            init=mp,
            num_warmup=args.num_warmup,
            num_samples=args.num_samples,
            num_chains=args.num_chains,
            max_tree_depth=args.max_tree_depth,
            target_accept=args.target_accept,
            adapt_mass_matrix=args.adapt_mass_matrix,
            seed=args.seed + 3 + int(idx[0]),
            batch_size=args.batch_size,
            progress=False,
        )
    out |= {
        "nuts_wall": t.wall,
        "nuts_cpu": t.cpu,
        "nuts_draws": res.flat_samples[:, :, cols],
        "nuts_divergences": res.divergences,
        "nuts_r_hat": res.r_hat[:, cols],
        "nuts_ess": res.ess[:, cols],
        "nuts_num_steps": res.num_steps,
    }

    if args.svi:
        with Clock() as t:
            res = sample(
                spec,
                model,
                "svi",
                init=mp,
                num_samples=m,
                svi_steps=args.svi_steps,
                svi_lr=args.svi_lr,
                seed=args.seed + 4 + int(idx[0]),
                batch_size=n,
                progress=False,
            )
        out |= {"svi_wall": t.wall, "svi_cpu": t.cpu, "svi_draws": res.flat_samples[:, :, cols]}
    return out


def box_bounds(model: Any) -> tuple[np.ndarray, np.ndarray]:
    """Prior bounds of the ranked parameters (labels, then RV)."""
    return (
        np.array([*model.lower, model.rv_bounds[0]]),
        np.array([*model.upper, model.rv_bounds[1]]),
    )


# ---- statistics ----------------------------------------------------------------------------


def thin_evenly(draws: np.ndarray, n: int) -> np.ndarray:
    """``n`` draws spread evenly over axis 1 (the merged chains)."""
    m = draws.shape[1]
    if m < n:
        raise ValueError(f"need at least {n} draws per star, have {m}")
    return draws[:, np.round(np.linspace(0, m - 1, n)).astype(int)]


def ranks(truth: np.ndarray, draws: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``(n_stars, p)`` rank of the truth among the draws, ties broken at random."""
    below = np.sum(draws < truth[:, None, :], axis=1)
    ties = np.sum(draws == truth[:, None, :], axis=1)
    return below + np.floor(rng.random(below.shape) * (ties + 1)).astype(int)


def uniformity(r: np.ndarray, n_draws: int, bins: int, rng: np.random.Generator) -> dict:
    """Histogram, χ² and KS p-values of the ranks ``r`` (0..n_draws) of one parameter."""
    from scipy import stats

    hist = np.bincount(r * bins // (n_draws + 1), minlength=bins)
    chi2 = stats.chisquare(hist)
    u = (r + rng.random(r.size)) / (n_draws + 1)
    ks = stats.kstest(u, "uniform")
    return {
        "hist": hist.tolist(),
        "chi2": float(chi2.statistic),
        "chi2_p": float(chi2.pvalue),
        "ks": float(ks.statistic),
        "ks_p": float(ks.pvalue),
    }


def coverage(truth: np.ndarray, draws: np.ndarray) -> dict:
    """Fraction of truths inside the central intervals of the draws, per parameter."""
    out = {}
    n = truth.shape[0]
    for q in LEVELS:
        lo, hi = np.quantile(draws, [(1 - q) / 2, (1 + q) / 2], axis=1)
        inside = (truth >= lo) & (truth <= hi)
        out[f"{q:.2f}"] = {
            "fraction": inside.mean(axis=0).tolist(),
            "se": float(np.sqrt(q * (1 - q) / n)),
        }
    return out


def analyse(
    truth: np.ndarray, draws: dict[str, np.ndarray], args: argparse.Namespace
) -> dict[str, Any]:
    rng = np.random.default_rng([args.seed, 5])
    out: dict[str, Any] = {}
    for method, d in draws.items():
        ok = np.all(np.isfinite(d), axis=(1, 2))
        t, d = truth[ok], d[ok]
        r = ranks(t, thin_evenly(d, args.n_draws), rng)
        cov = coverage(t, d)
        per = {}
        for j, name in enumerate(RANKED):
            u = uniformity(r[:, j], args.n_draws, args.bins, rng)
            c = {f"cov_{k}": v["fraction"][j] for k, v in cov.items()}
            c |= {f"cov_{k}_se": v["se"] for k, v in cov.items()}
            u["uniform_ok"] = u["chi2_p"] >= P_FAIL and u["ks_p"] >= P_FAIL
            u["coverage_ok"] = all(abs(c[f"cov_{q:.2f}"] - q) <= TARGET_TOL[q] for q in LEVELS)
            per[name] = u | c
        all_ranks = np.full(truth.shape, -1)
        all_ranks[ok] = r
        out[method] = {
            "n_stars_used": int(ok.sum()),
            "n_draws_per_star": int(d.shape[1]),
            "params": per,
            "ranks": all_ranks.tolist(),  # per star, RANKED order; -1: star left out
        }
    return out


# ---- output --------------------------------------------------------------------------------


def atomic_write(path: Path, write: Any) -> None:
    """``write(tmp_path)`` then rename onto ``path`` (same folder, so the rename is atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def plot(stats_: dict[str, Any], args: argparse.Namespace, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import stats

    methods = list(stats_)
    fig, axes = plt.subplots(
        len(methods), len(RANKED), figsize=(2.6 * len(RANKED), 2.2 * len(methods)), squeeze=False
    )
    for i, method in enumerate(methods):
        n = stats_[method]["n_stars_used"]
        lo, hi = stats.binom.ppf([0.005, 0.995], n, 1.0 / args.bins)
        for j, name in enumerate(RANKED):
            ax = axes[i, j]
            s = stats_[method]["params"][name]
            ax.axhspan(lo, hi, color="0.85", lw=0)
            ax.axhline(n / args.bins, color="0.5", lw=0.8)
            ax.bar(np.arange(args.bins), s["hist"], width=1.0, align="edge", color="C0", ec="w")
            ax.set_xlim(0, args.bins)
            ax.set_xticks([0, args.bins / 2, args.bins], ["0", f"{args.n_draws // 2 + 1}", "L+1"])
            ax.set_title(
                f"{method} {name}\nχ² p={s['chi2_p']:.2g}, KS p={s['ks_p']:.2g}", fontsize=8
            )
            ax.tick_params(labelsize=7)
        axes[i, 0].set_ylabel(f"stars (N={n})", fontsize=8)
    fig.suptitle(
        f"SBC rank histograms: L={args.n_draws} draws, {args.bins} bins, SNR {args.snr:g}; "
        "grey: 99 % range under uniform ranks",
        fontsize=9,
    )
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


def print_tables(result: dict[str, Any]) -> None:
    print(
        f"\nSBC: {result['settings']['n_stars']} stars, SNR {result['settings']['snr']:g}, "
        f"L = {result['settings']['n_draws']}, {result['settings']['bins']} bins; targets: "
        f"coverage 68 ± 4 % and 95 ± 3 % (NUTS), χ² and KS p ≥ {P_FAIL}\n"
    )
    print("| method | param | N | χ² p | KS p | 68 % cov. | 95 % cov. | uniform | coverage |")
    print("|---|---|---|---|---|---|---|---|---|")
    for method, m in result["stats"].items():
        for name, s in m["params"].items():
            print(
                f"| {method} | {name} | {m['n_stars_used']} | {s['chi2_p']:.3f} | "
                f"{s['ks_p']:.3f} | {100 * s['cov_0.68']:.1f} ± {100 * s['cov_0.68_se']:.1f} | "
                f"{100 * s['cov_0.95']:.1f} ± {100 * s['cov_0.95_se']:.1f} | "
                f"{'ok' if s['uniform_ok'] else 'FAIL'} | {'ok' if s['coverage_ok'] else 'miss'} |"
            )
    d = result["diagnostics"]
    print("\n| diagnostic | value |\n|---|---|")
    for k, v in d.items():
        print(f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |")
    print("\n| stage | wall [s] | CPU [s] |\n|---|---|---|")
    for k, v in result["timing"].items():
        print(f"| {k} | {v['wall']:.1f} | {v['cpu']:.1f} |")


# ---- driver --------------------------------------------------------------------------------


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    keys = (
        "n_stars snr window rv_bound continuum_sigma continuum_order num_warmup num_samples "
        "num_chains max_tree_depth target_accept adapt_mass_matrix batch_size n_draws "
        "laplace_draws bins svi svi_steps svi_lr chunk seed"
    ).split()
    return {k: (list(v) if isinstance(v, tuple) else v) for k in keys for v in [getattr(args, k)]}


def load_checkpoint(path: Path, digest: str) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with np.load(path, allow_pickle=False) as z:
        if str(z["digest"]) != digest:
            print(f"{path} is from other settings; starting over")
            return []
        n = int(z["n_chunks"])
        chunks = [
            {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith(f"{i}/")} for i in range(n)
        ]
    print(f"resuming: {sum(c['idx'].size for c in chunks)} stars done ({path})")
    return chunks


def save_checkpoint(path: Path, digest: str, chunks: list[dict[str, Any]]) -> None:
    arrays = {"digest": np.asarray(digest), "n_chunks": np.asarray(len(chunks))}
    for i, c in enumerate(chunks):
        arrays |= {f"{i}/{k}": np.asarray(v) for k, v in c.items()}

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    atomic_write(path, write)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-stars", type=int, default=200)
    parser.add_argument("--snr", type=float, default=30.0)
    parser.add_argument("--window", type=float, nargs=2, default=(5000.0, 5600.0))
    parser.add_argument("--rv-bound", type=float, default=100.0, help="RV prior ±[km/s]")
    parser.add_argument("--continuum-sigma", type=float, default=0.05)
    parser.add_argument("--continuum-order", type=int, default=2)
    parser.add_argument("--num-warmup", type=int, default=100)
    parser.add_argument("--num-samples", type=int, default=100, help="per chain")
    parser.add_argument("--num-chains", type=int, default=2)
    parser.add_argument("--max-tree-depth", type=int, default=6)
    parser.add_argument("--target-accept", type=float, default=0.8)
    parser.add_argument(
        "--adapt-mass-matrix",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="adapt NUTS's dense mass matrix in warm-up (as sample() does by default)",
    )
    parser.add_argument("--batch-size", type=int, default=2, help="stars per vmapped NUTS call")
    parser.add_argument("--n-draws", type=int, default=99, help="L draws ranked per star")
    parser.add_argument("--laplace-draws", type=int, default=1000, help="for coverage")
    parser.add_argument("--bins", type=int, default=10, help="must divide L + 1")
    parser.add_argument(
        "--svi", action=argparse.BooleanOptionalAction, default=True, help="also calibrate SVI"
    )
    parser.add_argument("--svi-steps", type=int, default=1000)
    parser.add_argument("--svi-lr", type=float, default=1e-3)
    parser.add_argument("--chunk", type=int, default=50, help="stars per checkpoint")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fresh", action="store_true", help="ignore a saved checkpoint")
    parser.add_argument("--output", default=str(RESULTS / "sbc.json"))
    args = parser.parse_args()
    args.window = tuple(args.window)
    if (args.n_draws + 1) % args.bins:
        parser.error(f"--bins ({args.bins}) must divide L + 1 = {args.n_draws + 1}")
    if args.num_chains * args.num_samples < args.n_draws:
        parser.error("num_chains × num_samples must be at least --n-draws")

    jax.config.update("jax_enable_x64", True)
    out = Path(args.output)
    ckpt = out.with_suffix(".partial.npz")
    settings = settings_of(args)
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]

    with Clock() as t_setup:
        model = build_model(args)
        truth = draw_truths(model, args.n_stars, args.seed)
    cols = ranked_columns(model)
    chunks = [] if args.fresh else load_checkpoint(ckpt, digest)
    done = sum(c["idx"].size for c in chunks)
    for start in range(done, args.n_stars, args.chunk):
        idx = np.arange(start, min(start + args.chunk, args.n_stars))
        c = run_chunk(model, truth, idx, args, cols)
        chunks.append(c)
        save_checkpoint(ckpt, digest, chunks)
        print(
            f"stars {idx[0]}–{idx[-1]}: MAP {c['map_wall']:.0f} s, NUTS {c['nuts_wall']:.0f} s"
            + (f", SVI {c['svi_wall']:.0f} s" if args.svi else "")
            + f" (wall; CPU {c['map_cpu'] + c['nuts_cpu']:.0f} s)",
            flush=True,
        )

    def cat(key: str) -> np.ndarray:
        return np.concatenate([c[key] for c in chunks])

    def total(key: str) -> float:
        return float(sum(float(c[key]) for c in chunks))

    true_vec = np.column_stack([truth.labels, truth.rv])
    draws = {"nuts": cat("nuts_draws"), "laplace": cat("laplace_draws")}
    if args.svi:
        draws["svi"] = cat("svi_draws")
    stats_ = analyse(true_vec, draws, args)

    ess, r_hat = cat("nuts_ess"), cat("nuts_r_hat")
    div = cat("nuts_divergences")
    n_total = args.num_chains * args.num_samples
    diagnostics = {
        "nuts_divergences_total": int(div.sum()),
        "nuts_stars_with_divergences": int((div > 0).sum()),
        "nuts_max_r_hat": float(np.nanmax(r_hat)),
        "nuts_stars_r_hat_over_1.01": int(np.sum(np.nanmax(r_hat, axis=1) > 1.01)),
        "nuts_min_ess": float(np.nanmin(ess)),
        "nuts_median_star_min_ess": float(np.nanmedian(np.nanmin(ess, axis=1))),
        "nuts_stars_min_ess_below_L": int(np.sum(np.nanmin(ess, axis=1) < args.n_draws)),
        "nuts_draws_per_star": n_total,
        "nuts_thinning_stride": n_total / args.n_draws,
        "nuts_mean_leapfrog_steps": float(np.nanmean(cat("nuts_num_steps"))),
        "map_not_converged": int((~cat("map_converged")).sum()),
        "map_hessian_not_pd": int((~cat("map_hessian_ok")).sum()),
        "map_at_edge": int(cat("map_at_edge").sum()),
        "map_not_fitted": int((~cat("map_fitted")).sum()),
        "flux_scale_median": float(np.median(cat("flux_scale"))),
    }
    timing = {
        "setup (load, crop, prior draws)": {"wall": t_setup.wall, "cpu": t_setup.cpu},
        "MAP + Laplace": {"wall": total("map_wall"), "cpu": total("map_cpu")},
        "NUTS": {"wall": total("nuts_wall"), "cpu": total("nuts_cpu")},
    }
    if args.svi:
        timing["SVI"] = {"wall": total("svi_wall"), "cpu": total("svi_cpu")}
    nuts = stats_["nuts"]["params"]
    result = {
        "settings": settings,
        "model": {
            "emulator_pixels": int(model.emulator.n_pix),
            "wave_range": [float(model.emulator.wave[0]), float(model.emulator.wave[-1])],
            "label_lower": model.lower.tolist(),
            "label_upper": model.upper.tolist(),
            "rv_bounds": list(model.rv_bounds),
            "continuum_prior": list(model.continuum_prior),
            "continuum_order": model.continuum_order,
            "use_pixel_error": model.use_pixel_error,
        },
        "targets": {
            "nuts_coverage": {f"{q:.2f}": [q - TARGET_TOL[q], q + TARGET_TOL[q]] for q in LEVELS},
            "uniformity_p_min": P_FAIL,
            "nuts_coverage_met": all(s["coverage_ok"] for s in nuts.values()),
            "nuts_uniformity_met": all(s["uniform_ok"] for s in nuts.values()),
        },
        "stats": stats_,
        "diagnostics": diagnostics,
        "per_star": {
            "parameters": list(RANKED),
            "truth": true_vec.tolist(),
            "map": cat("map_theta").tolist(),
            "map_at_edge": cat("map_at_edge").tolist(),
            "map_hessian_ok": cat("map_hessian_ok").tolist(),
            "nuts_divergences": div.tolist(),
            "nuts_max_r_hat": np.nanmax(r_hat, axis=1).tolist(),
            "nuts_min_ess": np.nanmin(ess, axis=1).tolist(),
        },
        "timing": timing,
        "machine": {
            "platform": jax.devices()[0].platform,
            "device": str(jax.devices()[0]),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "jax": jax.__version__,
            "numpyro": _version("numpyro"),
            "jaxspec": _version("jaxspec-stellar"),
        },
    }
    print_tables(result)
    plot(stats_, args, out.with_suffix(".png"))
    atomic_write(out, lambda tmp: Path(tmp).write_text(json.dumps(result, indent=2)))
    ckpt.unlink(missing_ok=True)
    print(f"\nwrote {out} and {out.with_suffix('.png')}")


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
