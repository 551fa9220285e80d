"""Labels fitted with the synthesizer itself as forward model vs with the emulator.

The check asked for in the issue: fit the same stars once with the differentiable physics
synthesizer as the forward model (slow, free of emulator error) and once with the default
emulator, and see whether the posterior means agree within 0.5σ or the difference is
explained.

Set-up:

* A :class:`~jaxspec.synth.Synthesizer` with the default emulator's training settings
  (``emulator.provenance["synthesizer"]``: resolving power, sampling, step, strength cut,
  label box, EOS, depth grid, hydrogen lines) but restricted to a window (``--window``,
  default 5150–5250 Å, which holds the Mg b triplet). The window's ends are moved onto
  the emulator's pixels, so the synthesizer's output grid *is* the emulator's grid there;
  the emulator is cropped (:meth:`~jaxspec.emulators.Emulator.crop`) to exactly those
  pixels. Both forward models then apply the same observation operator (linear
  interpolation after the Doppler shift, the same continuum segment and RV bounds, the same
  good pixels), so the two fits differ only in the rest-frame flux model.
* ``--n-stars`` stars with labels drawn (Latin hypercube, ``--seed``) in the inner 10–90 %
  of the emulator's box and inside the atmosphere domain, RVs uniform in ±80 km/s and a
  mild quadratic continuum. Their observed spectra are simulated with the *synthesizer*
  forward model (the truth) on the window's pixels, Gaussian noise at ``--snr`` per pixel.
* Synthesizer fit: :func:`~jaxspec.infer.fit_map` with few candidates and starts (each
  Levenberg–Marquardt iteration pushes a forward-mode Jacobian and a gradient through the
  synthesizer), Laplace σ. NUTS with the synthesizer is too slow to run here; at SNR 50 the
  posterior is close to Gaussian, so the MAP is its mean to first order in the noise (the
  emulator's NUTS − MAP offset, reported below, measures how far that holds).
* Emulator fits: ``fit_map`` (default settings) and NUTS (:func:`~jaxspec.infer.sample`,
  started at that MAP). The emulator's per-pixel held-out error (``pixel_error``) is added to
  the variance, as by default in :class:`~jaxspec.infer.ForwardModel`; the synthesizer has
  none.

Reported per star and label: truth, synthesizer MAP ± σ, emulator MAP ± σ, emulator NUTS
mean ± sd; Δ_MAP = emulator MAP − synthesizer MAP and Δ_NUTS = emulator NUTS mean −
synthesizer MAP, in units of the emulator's σ and of the combined σ = √(σ_synth² + σ_emu²).
Both fits see the same noise realisation, so the noise cancels from Δ to first order and Δ
measures the emulator's bias, whatever the noise draw.

"Explained": two linearised predictions of Δ (J: a model's Jacobian in all parameters,
labels, RV and continuum; W: 1/variance of a fit, on the good pixels; e: emulator, s:
synthesizer):

* pred@truth, the emulator's bias for noise-free data, ``(J_eᵀW_eJ_e)⁻¹ J_eᵀW_e
  (m_s(θ₀) − m_e(θ₀))`` at the truth θ₀ (sign: the emulator's estimate moves to explain
  data the synthesizer made). First order in the noise as well, so it fails for stars whose
  fits land far from the truth.
* pred@synth MAP, one Gauss–Newton step of the emulator's posterior from the
  synthesizer's MAP θ̂_s, ``A⁻¹ (J_eᵀW_e (d − m_e) + ∇log prior)``, exact to first order
  in the model difference whatever the noise. It is split into four terms: flux
  ``J_eᵀW_e (m_s − m_e)`` at θ̂_s (itself split into emulator error, the full-range training
  synthesizer (``SynthesizerModel.from_emulator``) minus the emulator, and window, the
  window synthesizer minus the full one: far line wings and lines kept only in the full
  range; ``--no-full`` skips the split), Jacobian ``(J_e − J_s)ᵀW_e r_s`` (the emulator's
  derivative error acting on the fit residual r_s = d − m_s, which is noise), weights
  ``J_sᵀ(W_e − W_s) r_s`` (the pixel_error in the emulator's variance) and the synthesizer
  fit's remaining gradient (0 at an exact MAP).

A pair (star, label) *agrees* when |Δ| < 0.5σ_emu for both the MAP and the NUTS mean; if
not, it is *explained* when |Δ_MAP − pred| < 0.5σ_emu and |Δ_NUTS − pred − (NUTS mean −
emulator MAP)| < 0.5σ_NUTS, pred = pred@synth MAP (the rest of Δ_NUTS is the emulator
posterior's own mean–mode offset, which a synthesizer posterior of the same shape would
share). The synthesizer's log posterior at the emulator's MAP is also evaluated: if it
beats the synthesizer's own MAP, that fit missed its mode.

Usage::

    python benchmarks/check_synth_vs_emulator.py [--window 5150 5250] [--n-stars 5] \\
        [--snr 50] [--synth-candidates 32] [--synth-starts 1] [--num-warmup 500]

Run time, measured on 2 shared CPU cores (load average 5–10, run under ``nice``): 13–21
minutes for 5 stars in the default 100 Å window, most of it compiling: the synthesizer's
MAP program (5–10 min; XLA warns "Very slow compile", ~7 GB of memory), the emulator's NUTS
(~1.5 min) and the explanation's synthesizer Jacobian (~2 min); each synthesizer MAP then
takes ~1 min (4 Levenberg–Marquardt iterations), growing about linearly with the window.
Prints markdown tables and writes
``benchmarks/results/check_synth_vs_emulator.json`` and ``.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jaxspec.emulators import load_default  # noqa: E402
from jaxspec.infer import ForwardModel, Params, SynthesizerModel, fit_map, sample  # noqa: E402
from jaxspec.infer.forward import params_from_vector  # noqa: E402
from jaxspec.synth import Synthesizer  # noqa: E402

RESULTS = Path(__file__).parent / "results"
TOL = 0.5  # agreement threshold, in σ


def window_synthesizer(emu: Any, w0: float, w1: float) -> tuple[Synthesizer, Any]:
    """The emulator's training synthesizer restricted to [w0, w1] Å, on the emulator's pixels.

    Returns ``(synthesizer, cropped emulator)`` with identical wavelength grids.
    """
    crop = emu.crop(w0, w1)
    if crop.n_pix < 50:
        raise SystemExit(f"the window {w0}–{w1} Å holds only {crop.n_pix} emulator pixels")
    try:
        return crop.synthesizer(), crop
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


def draw_stars(
    synth: Synthesizer, emu: Any, n: int, seed: int, order: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels (Latin hypercube in the inner 10–90 % of the box, in the atmosphere domain),
    RVs [km/s] and continuum coefficients ``(n, 1, order + 1)`` of ``n`` stars."""
    from scipy.stats import qmc

    lo = np.asarray(emu.label_space.lower, np.float64)
    hi = np.asarray(emu.label_space.upper, np.float64)
    names = list(emu.label_names)
    fixed = dict(emu.fixed_labels)
    from jaxspec.synth.synthesizer import LABEL_NAMES

    def full(x: np.ndarray) -> np.ndarray:
        cols = [
            x[:, names.index(k)] if k in names else np.full(len(x), fixed[k]) for k in LABEL_NAMES
        ]
        return np.stack(cols, axis=1)

    sampler = qmc.LatinHypercube(len(names), seed=seed)
    labels = np.zeros((0, len(names)))
    while len(labels) < n:
        x = lo + (0.1 + 0.8 * sampler.random(n)) * (hi - lo)
        labels = np.concatenate([labels, x[synth.in_domain(full(x))]])
    labels = labels[:n]
    rng = np.random.default_rng(seed)
    rv = rng.uniform(-80.0, 80.0, n)
    cont = np.zeros((n, 1, order + 1))
    cont[:, 0, 0] = 1.0
    if order >= 1:
        cont[:, 0, 1] = rng.uniform(-0.05, 0.05, n)
    if order >= 2:
        cont[:, 0, 2] = rng.uniform(-0.02, 0.02, n)
    return labels, rv, cont


class Explainer:
    """Linearised predictions of the emulator fit's offset from the synthesizer's.

    All on one star's good pixels, for flat parameter vectors θ (labels, RV, continuum),
    compiled once (the prepared data are an argument). ``W`` is the inverse of each fit's
    variance (the emulator's includes its ``pixel_error``), ``J`` the model's Jacobian.
    """

    def __init__(self, fm_syn: ForwardModel, fm_emu: ForwardModel, fm_full: Any) -> None:
        pv = params_from_vector
        self.fm_emu, self.fm_syn = fm_emu, fm_syn

        def syn(th: Any, d: Any) -> tuple[Any, Any, Any]:
            p = pv(fm_syn, th)
            m, _, mv = fm_syn.model_parts((), p, d)
            var = fm_syn.variance(d, mv)
            terms = jnp.where(d.good, (d.flux - m) ** 2 / var + jnp.log(2 * jnp.pi * var), 0.0)
            return m, var, -0.5 * jnp.sum(terms) + fm_syn.log_prior(p)

        def emu(params: Any, th: Any, d: Any) -> tuple[Any, Any]:
            m, _, mv = fm_emu.model_parts(params, pv(fm_emu, th), d)
            return m, fm_emu.variance(d, mv)

        self.syn = jax.jit(syn)
        self.syn_jac = jax.jit(
            jax.jacfwd(lambda th, d: fm_syn.model_parts((), pv(fm_syn, th), d)[0])
        )
        self.emu = jax.jit(emu)
        self.emu_jac = jax.jit(
            jax.jacfwd(
                lambda params, th, d: fm_emu.model_parts(params, pv(fm_emu, th), d)[0], argnums=1
            )
        )
        self.full = (
            None
            if fm_full is None
            else jax.jit(lambda th, d: fm_full.model_parts((), pv(fm_full, th), d)[0])
        )
        self.prior_grad = jax.jit(jax.grad(lambda th: fm_emu.log_prior(pv(fm_emu, th))))
        self.prior_hess = jax.jit(jax.hessian(lambda th: -fm_emu.log_prior(pv(fm_emu, th))))

    def _emulator_side(self, th: np.ndarray, d: Any) -> tuple[np.ndarray, ...]:
        params = self.fm_emu.emulator.params
        good = np.asarray(d.good)
        m_e, var_e = (np.asarray(x) for x in self.emu(params, th, d))
        w_e = np.where(good, 1.0 / var_e, 0.0)
        j_e = np.asarray(self.emu_jac(params, th, d))
        a = j_e.T @ (w_e[:, None] * j_e) + np.asarray(self.prior_hess(th))
        return good, m_e, w_e, j_e, a

    def _flux_terms(
        self, th: np.ndarray, d: Any, m_s: np.ndarray, parts: tuple[np.ndarray, ...]
    ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """(JᵀWJ)⁻¹JᵀW δm for δm = m_synth − m_emu, split as emulator error + window."""
        good, m_e, w_e, j_e, a = parts
        delta = {"flux": m_s - m_e}
        if self.full is not None:
            m_f = np.asarray(self.full(th, d))
            delta["emulator_error"] = m_f - m_e
            delta["window"] = m_s - m_f
        cont = np.asarray(self.fm_emu.continuum(params_from_vector(self.fm_emu, th), d))
        rms = {
            key: float(np.sqrt(np.mean((v[good] / cont[good]) ** 2))) for key, v in delta.items()
        }
        terms = {
            key: np.linalg.solve(a, j_e.T @ (w_e * np.where(good, v, 0.0)))
            for key, v in delta.items()
        }
        return terms, rms

    def at_truth(self, th0: np.ndarray, d: Any) -> tuple[dict[str, np.ndarray], dict]:
        """The emulator's bias for noise-free data, linearised at the truth θ₀."""
        m_s = np.asarray(self.syn(th0, d)[0])
        return self._flux_terms(th0, d, m_s, self._emulator_side(th0, d))

    def at_synth_map(self, th_s: np.ndarray, d: Any) -> tuple[dict[str, np.ndarray], float]:
        """One Gauss–Newton step of the emulator's posterior from the synthesizer's MAP θ̂_s.

        ``A⁻¹ (J_eᵀW_e (d − m_e) + ∇log prior)``, A = J_eᵀW_eJ_e + prior Hessian, split as
        flux (J_eᵀW_e (m_s − m_e); emulator error + window), Jacobian ((J_e − J_s)ᵀW_e r_s),
        weights (J_sᵀ(W_e − W_s) r_s) and synth gradient (J_sᵀW_s r_s + ∇log prior, 0 at
        an exact MAP), r_s = d − m_s. Also returns the synthesizer's log posterior at θ̂_s.
        """
        m_s, var_s, lp = (np.asarray(x) for x in self.syn(th_s, d))
        parts = self._emulator_side(th_s, d)
        good, _, w_e, j_e, a = parts
        terms, _ = self._flux_terms(th_s, d, m_s, parts)
        w_s = np.where(good, 1.0 / var_s, 0.0)
        j_s = np.asarray(self.syn_jac(th_s, d))
        r_s = np.where(good, np.asarray(d.flux) - m_s, 0.0)
        g = np.asarray(self.prior_grad(th_s))
        terms["jacobian"] = np.linalg.solve(a, (j_e - j_s).T @ (w_e * r_s))
        # Its spread over noise draws (r_s ≈ noise of variance 1/W_s): zero mean, this sd.
        b = np.linalg.solve(a, (j_e - j_s).T * w_e)
        terms["jacobian_sd"] = np.sqrt(
            np.einsum("ip,p,ip->i", b, 1.0 / np.maximum(w_s, 1e-300) * good, b)
        )
        terms["weights"] = np.linalg.solve(a, j_s.T @ ((w_e - w_s) * r_s))
        terms["synth_gradient"] = np.linalg.solve(a, j_s.T @ (w_s * r_s) + g)
        terms["total"] = (
            terms["flux"] + terms["jacobian"] + terms["weights"] + terms["synth_gradient"]
        )
        return terms, float(lp)

    def synth_log_post(self, th: np.ndarray, d: Any) -> float:
        return float(self.syn(th, d)[2])


def fmt(x: float, s: float, name: str) -> str:
    d = 0 if name == "teff" else 3
    return f"{x:.{d}f} ± {s:.{d}f}"


def plot(out: dict, names: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stars = out["stars"]
    k = len(names)
    fig, axes = plt.subplots(1, k, figsize=(3.4 * k, 3.6), sharey=True)
    x = np.arange(len(stars))
    for j, (ax, name) in enumerate(zip(np.atleast_1d(axes), names, strict=True)):
        se = np.array([s["emulator_map"]["sigma"][j] for s in stars])
        sn = np.array([s["emulator_nuts"]["std"][j] for s in stars])
        d_map = np.array([s["delta_map"][j] for s in stars]) / se
        d_nuts = np.array([s["delta_nuts"][j] for s in stars]) / sn
        pred = np.array([s["predicted_at_synth_map"]["total"][j] for s in stars]) / se
        pred0 = np.array([s["predicted_at_truth"]["flux"][j] for s in stars]) / se
        ax.axhspan(-TOL, TOL, color="0.9", zorder=0)
        ax.axhline(0, color="0.5", lw=0.8)
        ax.plot(x - 0.12, d_map, "o", label="emu MAP − synth MAP")
        ax.plot(x + 0.12, d_nuts, "s", label="emu NUTS mean − synth MAP")
        ax.plot(x, pred, "x", color="k", ms=8, label="predicted (GN step from synth MAP)")
        ax.plot(x, pred0, "+", color="0.4", ms=8, label="predicted (flux error at truth)")
        ax.set_xticks(x, [f"{i}" for i in x])
        ax.set_xlabel("star")
        ax.set_title(name)
    np.atleast_1d(axes)[0].set_ylabel("difference / σ_emulator")
    np.atleast_1d(axes)[0].legend(fontsize=7, loc="best")
    w = out["settings"]["window"]
    fig.suptitle(
        f"synthesizer vs emulator forward model, {w[0]:.1f}–{w[1]:.1f} Å, "
        f"SNR {out['settings']['snr']:g} (grey: ±{TOL}σ)",
        fontsize=10,
    )
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def report(out: dict) -> dict:
    """Print the markdown tables of a result (the JSON's content); return the summary."""
    st, wt = out["settings"], out["wall_s"]
    stars, names = out["stars"], out["label_names"]
    n, (w0, w1) = len(stars), st["window"]
    t_syn = wt["synth_map_per_star"]
    print(
        f"\nSynthesizer vs emulator as forward model: {n} stars, {w0:.1f}–{w1:.1f} Å "
        f"({st['n_good']} fitted pixels), SNR {st['snr']:g}; emulator fits include its "
        "pixel_error in the variance\n"
    )
    print("| star | label | truth | synth MAP ± σ | emu MAP ± σ | emu NUTS mean ± sd |")
    print("|---|---|---|---|---|---|")
    for i, s in enumerate(stars):
        for j, name in enumerate(names):
            print(
                f"| {i} | {name} | {fmt(s['truth']['labels'][j], 0, name).split(' ±')[0]} | "
                f"{fmt(s['synth_map']['labels'][j], s['synth_map']['sigma'][j], name)} | "
                f"{fmt(s['emulator_map']['labels'][j], s['emulator_map']['sigma'][j], name)} | "
                f"{fmt(s['emulator_nuts']['mean'][j], s['emulator_nuts']['std'][j], name)} |"
            )
    print(
        "\nDifferences (emulator − synthesizer MAP) in σ: /σ_emu (the emulator fit's σ; NUTS "
        "sd for NUTS) and /σ_comb = √(σ_synth² + σ_emu²). NUTS−MAP: the emulator posterior's "
        "mean − mode (/sd). pred@truth: (JᵀWJ)⁻¹JᵀW (m_synth − m_emu) at the truth; "
        "pred@synth MAP: one Gauss–Newton step of the emulator fit from the synthesizer's MAP "
        "(both /σ_emu; split below)\n"
    )
    print(
        "| star | label | Δ_MAP/σ_emu | Δ_MAP/σ_comb | Δ_NUTS/σ_emu | Δ_NUTS/σ_comb | NUTS−MAP "
        "| pred@truth | pred@synth MAP | verdict |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    n_agree = n_expl = n_pairs = 0
    for i, s in enumerate(stars):
        for j, name in enumerate(names):
            ok = s["agree_map"][j] and s["agree_nuts"][j]
            expl = s["explained_map"][j] and s["explained_nuts"][j]
            verdict = "agree" if ok else ("explained" if expl else "NOT explained")
            n_pairs += 1
            n_agree += ok
            n_expl += (not ok) and expl
            print(
                f"| {i} | {name} | {s['delta_map_over_sigma_emu'][j]:+.2f} | "
                f"{s['delta_map_over_sigma_comb'][j]:+.2f} | "
                f"{s['delta_nuts_over_sigma_emu'][j]:+.2f} | "
                f"{s['delta_nuts_over_sigma_comb'][j]:+.2f} | "
                f"{s['nuts_minus_map_over_sigma'][j]:+.2f} | "
                f"{s['predicted_at_truth_over_sigma_emu']['flux'][j]:+.2f} | "
                f"{s['predicted_at_synth_map_over_sigma_emu']['total'][j]:+.2f} | {verdict} |"
            )
    print(
        f"\n{n_agree}/{n_pairs} (star, label) pairs agree within {TOL}σ (MAP and NUTS); "
        f"{n_expl} more explained (|Δ − pred@synth MAP| < {TOL}σ); "
        f"{n_pairs - n_agree - n_expl} not explained."
    )
    keys = ["emulator_error", "window"] if st["full_range_split"] else ["flux"]
    print(
        "\nSplit of pred@synth MAP (/σ_emu): flux = J_eᵀW_e (m_synth − m_emu) [emulator error "
        "(full-range synthesizer − emulator) + window (window − full-range synthesizer)]; "
        "Jacobian = (J_e − J_s)ᵀW_e r_s (the emulator's derivative error acting on the fit "
        "residual r_s, i.e. noise: zero mean, sd over noise draws in brackets); "
        "weights = J_sᵀ(W_e − W_s) r_s (the pixel_error in the emulator's "
        "variance); synth gradient = the synthesizer fit's own remaining gradient\n"
    )
    print(f"| star | label | {' | '.join(keys)} | Jacobian (sd over noise) | weights "
          "| synth gradient | total | measured Δ_MAP |")  # fmt: skip
    print("|---|---|" + "---|" * (len(keys) + 5))
    for i, s in enumerate(stars):
        pm = s["predicted_at_synth_map_over_sigma_emu"]
        for j, name in enumerate(names):
            cells = " | ".join(f"{pm[key][j]:+.2f}" for key in keys)
            print(
                f"| {i} | {name} | {cells} | {pm['jacobian'][j]:+.2f} "
                f"({pm['jacobian_sd'][j]:.2f}) | {pm['weights'][j]:+.2f} "
                f"| {pm['synth_gradient'][j]:+.2f} | {pm['total'][j]:+.2f} | "
                f"{s['delta_map_over_sigma_emu'][j]:+.2f} |"
            )
    print(
        "\n| star | RMS (m_synth − m_emu)/C at truth | of which emulator error | window | "
        "synth: iterations, converged | synth log post: own MAP / at emu MAP | "
        "NUTS divergences, max R̂ | synth MAP wall [s] |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for i, s in enumerate(stars):
        r = s["rms_model_difference_at_truth"]
        sm = s["synth_map"]
        print(
            f"| {i} | {r['flux']:.2e} | {r.get('emulator_error', float('nan')):.2e} | "
            f"{r.get('window', float('nan')):.2e} | {sm['n_iter']}, {sm['converged']} | "
            f"{sm['log_post']:.2f} / {s['synth_log_post_at_emulator_map']:.2f} | "
            f"{s['emulator_nuts']['divergences']}, {np.nanmax(s['emulator_nuts']['r_hat']):.3f} | "
            f"{sm['wall_s']:.0f} |"
        )
    pe = out["emulator_pixel_error_window"]
    print(f"\nemulator pixel_error in the window: RMS {pe['rms']:.2e}, max {pe['max']:.2e}")
    rest = f"the others {np.mean(t_syn[1:]):.0f} s each" if n > 1 else "no others"
    print(
        f"wall times: synthesizer MAP {sum(t_syn):.0f} s for {n} stars (first star, with "
        f"compilation, {t_syn[0]:.0f} s; {rest}); emulator MAP {wt['emulator_map']:.1f} s "
        f"for all ({wt['emulator_map_compiled']:.2f} s compiled); emulator NUTS "
        f"{wt['emulator_nuts']:.1f} s for all ({st['nuts']['num_chains']} chains × "
        f"{st['nuts']['num_warmup']}+{st['nuts']['num_samples']}); simulation "
        f"{wt['simulate']:.0f} s, explanation {wt['explanation']:.0f} s, total "
        f"{wt['total']:.0f} s (load average at start "
        f"{out['environment']['load_average_start'][0]:.1f} on "
        f"{out['environment']['cpu_count']} CPUs)"
    )
    return {
        "pairs": n_pairs,
        "agree": n_agree,
        "explained": n_expl,
        "not_explained": n_pairs - n_agree - n_expl,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--window", type=float, nargs=2, default=[5150.0, 5250.0])
    parser.add_argument("--n-stars", type=int, default=5)
    parser.add_argument("--snr", type=float, default=50.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rv-max", type=float, default=150.0, help="RV prior bound [km/s]")
    parser.add_argument("--synth-candidates", type=int, default=32)
    parser.add_argument("--synth-starts", type=int, default=1)
    parser.add_argument("--synth-max-iter", type=int, default=40)
    parser.add_argument("--emu-candidates", type=int, default=64)
    parser.add_argument("--emu-starts", type=int, default=3)
    parser.add_argument("--num-warmup", type=int, default=500)
    parser.add_argument("--num-samples", type=int, default=500)
    parser.add_argument("--num-chains", type=int, default=2)
    parser.add_argument("--no-full", action="store_true", help="skip the full-range split")
    parser.add_argument("--output", default=str(RESULTS / "check_synth_vs_emulator.json"))
    args = parser.parse_args()
    t_start = time.perf_counter()
    load0 = os.getloadavg()

    emu_full = load_default()
    t0 = time.perf_counter()
    synth, emu = window_synthesizer(emu_full, *args.window)
    t_build = time.perf_counter() - t0
    names = list(emu.label_names)
    k = len(names)
    smodel = SynthesizerModel(synth, emu.label_space, dict(emu.fixed_labels))
    wave = np.asarray(synth.wave)
    common = {
        "segments": ((float(wave[0]), float(wave[-1])),),
        "rv_bounds": (-args.rv_max, args.rv_max),
    }
    fm_syn = ForwardModel(smodel, **common)
    fm_emu = ForwardModel(emu, **common)
    print(
        f"window {wave[0]:.2f}–{wave[-1]:.2f} Å, {wave.size} pixels (R = {synth.resolution:g}), "
        f"{synth.selection.n_kept} lines; synthesizer built in {t_build:.0f} s",
        flush=True,
    )

    labels, rv, cont = draw_stars(synth, emu, args.n_stars, args.seed, fm_syn.continuum_order)
    n = len(labels)
    truth = Params(labels, rv, np.zeros(n), cont)
    t0 = time.perf_counter()
    spectra = fm_syn.simulate(truth, wave, args.snr, jax.random.key(args.seed))
    t_sim = time.perf_counter() - t0
    theta_true = np.concatenate([labels, rv[:, None], cont.reshape(n, -1)], axis=1)
    print(f"simulated {n} spectra with the synthesizer in {t_sim:.0f} s", flush=True)

    # ---- emulator: MAP (twice: with and without compilation) and NUTS ----
    t0 = time.perf_counter()
    map_emu = fit_map(
        spectra, fm_emu, n_starts=args.emu_starts, n_candidates=args.emu_candidates,
        progress=False,
    )  # fmt: skip
    t_emu_map = time.perf_counter() - t0
    t0 = time.perf_counter()
    fit_map(
        spectra, fm_emu, n_starts=args.emu_starts, n_candidates=args.emu_candidates,
        progress=False,
    )  # fmt: skip
    t_emu_map_warm = time.perf_counter() - t0
    print(f"emulator MAP: {t_emu_map:.1f} s ({t_emu_map_warm:.2f} s compiled)", flush=True)
    nuts = sample(
        spectra, fm_emu, "nuts", init=map_emu, num_warmup=args.num_warmup,
        num_samples=args.num_samples, num_chains=args.num_chains, progress=False,
    )  # fmt: skip
    print(f"emulator NUTS: {nuts.wall_time:.1f} s", flush=True)

    # ---- synthesizer: MAP per star (the first call compiles) ----
    syn_rows, t_syn = [], []
    for i in range(n):
        t0 = time.perf_counter()
        r = fit_map(
            spectra[i : i + 1], fm_syn, n_starts=args.synth_starts,
            n_candidates=args.synth_candidates, max_iter=args.synth_max_iter, progress=False,
        )  # fmt: skip
        t_syn.append(time.perf_counter() - t0)
        syn_rows.append(r)
        print(
            f"synthesizer MAP star {i}: {t_syn[-1]:.0f} s, {int(r.n_iter[0])} iterations, "
            f"converged {bool(r.converged[0])}",
            flush=True,
        )
    syn_theta = np.concatenate([r.theta for r in syn_rows])
    syn_sigma = np.concatenate([r.sigma for r in syn_rows])

    # ---- the explanation: linearised predictions of the offset ----
    t0 = time.perf_counter()
    fm_full = None
    if not args.no_full:
        fm_full = ForwardModel(SynthesizerModel.from_emulator(emu_full), **common)
    data_all, n_good = fm_emu.prepare(spectra)
    data_syn, _ = fm_syn.prepare(spectra)
    if not np.array_equal(np.asarray(data_all.good), np.asarray(data_syn.good)):
        raise SystemExit("the two forward models use different pixels; the comparison is void")
    explainer = Explainer(fm_syn, fm_emu, fm_full)
    stars = []
    for i in range(n):
        data = jax.tree.map(lambda a, i=i: np.asarray(a)[i], data_all)
        # The truth's continuum in FitData units (the spectra were divided by their median).
        th0 = theta_true[i].copy()
        th0[k + 1 :] /= float(data.scale)
        at_truth, rms = explainer.at_truth(th0, data)
        at_map, lp_check = explainer.at_synth_map(syn_theta[i], data)
        # Synthesizer log posterior at the emulator's MAP (a missed mode shows up here).
        lp_at_emu = explainer.synth_log_post(map_emu.theta[i], data)
        se, sn = map_emu.label_sigma[i], nuts.label_sigma[i]
        ss = syn_sigma[i, :k]
        d_map = map_emu.labels[i] - syn_theta[i, :k]
        d_nuts = nuts.labels[i] - syn_theta[i, :k]
        shift = nuts.labels[i] - map_emu.labels[i]
        pred = at_map["total"][:k]
        stars.append(
            {
                "truth": {"labels": labels[i].tolist(), "rv": float(rv[i]),
                          "continuum": cont[i].ravel().tolist()},
                "n_good": int(n_good[i]),
                "synth_map": {
                    "theta": syn_theta[i].tolist(),
                    "labels": syn_theta[i, :k].tolist(), "sigma": ss.tolist(),
                    "rv": float(syn_theta[i, k]), "rv_sigma": float(syn_sigma[i, k]),
                    "converged": bool(syn_rows[i].converged[0]),
                    "n_iter": int(syn_rows[i].n_iter[0]),
                    "hessian_ok": bool(syn_rows[i].hessian_ok[0]),
                    "at_edge": bool(syn_rows[i].at_edge[0]),
                    "log_post": float(syn_rows[i].log_post[0]),
                    "log_post_recomputed": lp_check,
                    "chi2": float(syn_rows[i].chi2[0]),
                    "wall_s": t_syn[i],
                },
                "synth_log_post_at_emulator_map": lp_at_emu,
                "emulator_map": {
                    "theta": map_emu.theta[i].tolist(),
                    "labels": map_emu.labels[i].tolist(), "sigma": se.tolist(),
                    "rv": float(map_emu.theta[i, k]), "rv_sigma": float(map_emu.sigma[i, k]),
                    "converged": bool(map_emu.converged[i]),
                    "at_edge": bool(map_emu.at_edge[i]), "chi2": float(map_emu.chi2[i]),
                },
                "emulator_nuts": {
                    "mean": nuts.labels[i].tolist(), "std": sn.tolist(),
                    "r_hat": nuts.r_hat[i, :k].tolist(), "ess": nuts.ess[i, :k].tolist(),
                    "divergences": int(nuts.divergences[i]),
                },
                "delta_map": d_map.tolist(),
                "delta_nuts": d_nuts.tolist(),
                "delta_map_over_sigma_emu": (d_map / se).tolist(),
                "delta_map_over_sigma_comb": (d_map / np.hypot(ss, se)).tolist(),
                "delta_nuts_over_sigma_emu": (d_nuts / sn).tolist(),
                "delta_nuts_over_sigma_comb": (d_nuts / np.hypot(ss, sn)).tolist(),
                "nuts_minus_map_over_sigma": (shift / sn).tolist(),
                "predicted_at_truth": {key: v[:k].tolist() for key, v in at_truth.items()},
                "predicted_at_truth_over_sigma_emu": {
                    key: (v[:k] / se).tolist() for key, v in at_truth.items()
                },
                "predicted_at_synth_map": {key: v[:k].tolist() for key, v in at_map.items()},
                "predicted_at_synth_map_over_sigma_emu": {
                    key: (v[:k] / se).tolist() for key, v in at_map.items()
                },
                "predicted_rv": {
                    "at_truth": float(at_truth["flux"][k]),
                    "at_synth_map": float(at_map["total"][k]),
                    "measured": float(map_emu.theta[i, k] - syn_theta[i, k]),
                },
                "rms_model_difference_at_truth": rms,
                "agree_map": (np.abs(d_map) < TOL * se).tolist(),
                "agree_nuts": (np.abs(d_nuts) < TOL * sn).tolist(),
                "explained_map": (np.abs(d_map - pred) < TOL * se).tolist(),
                "explained_nuts": (np.abs(d_nuts - pred - shift) < TOL * sn).tolist(),
            }
        )  # fmt: skip
    t_explain = time.perf_counter() - t0
    pix_err = np.asarray(emu.pixel_error, np.float64)

    out = {
        "settings": {
            "window": [float(wave[0]), float(wave[-1])],
            "window_requested": list(args.window),
            "n_pix": int(wave.size),
            "resolution": synth.resolution,
            "lines_kept": synth.selection.n_kept,
            "snr": args.snr,
            "seed": args.seed,
            "rv_bounds": list(common["rv_bounds"]),
            "synth_fit_map": {"n_candidates": args.synth_candidates,
                              "n_starts": args.synth_starts, "max_iter": args.synth_max_iter},
            "emulator_fit_map": {"n_candidates": args.emu_candidates,
                                 "n_starts": args.emu_starts},
            "nuts": {"num_warmup": args.num_warmup, "num_samples": args.num_samples,
                     "num_chains": args.num_chains},
            "emulator": repr(emu_full),
            "emulator_pixel_error_in_variance": True,
            "full_range_split": not args.no_full,
            "n_good": int(n_good[0]),
            "tolerance_sigma": TOL,
        },
        "label_names": names,
        "stars": stars,
        "emulator_pixel_error_window": {"rms": float(np.sqrt(np.mean(pix_err**2))),
                                        "max": float(pix_err.max())},
        "wall_s": {
            "build_synthesizer": t_build, "simulate": t_sim, "synth_map_per_star": t_syn,
            "emulator_map": t_emu_map, "emulator_map_compiled": t_emu_map_warm,
            "emulator_nuts": nuts.wall_time, "explanation": t_explain,
            "total": time.perf_counter() - t_start,
        },
        "environment": {"cpu_count": os.cpu_count(), "load_average_start": list(load0),
                        "jax": jax.__version__, "python": platform.python_version(),
                        "machine": platform.machine()},
    }  # fmt: skip
    out["summary"] = report(out)
    path = Path(args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    png = path.with_suffix(".png")
    plot(out, names, png)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(out, indent=1))
    os.replace(tmp, path)
    print(f"\nwrote {path} and {png}")


if __name__ == "__main__":
    main()
