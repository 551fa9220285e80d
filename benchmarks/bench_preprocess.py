"""Throughput of the preprocessing pipeline: one jitted batched call against a numpy loop.

The pipeline, applied to every spectrum of a batch of APOGEE-sized spectra (8575 pixels,
built from the shipped real apStar spectrum with random continuum tilts and noise):

1. flux-conserving ``resample`` onto a common log-linear grid offset by 0.37 pixel,
2. ``convolve_resolution`` from R = 22 500 to R = 10 000 (Gaussian LSF),
3. ``continuum_normalize``: sigma-clipped cubic Chebyshev per APOGEE chip, 5 iterations,

with ivar and mask propagated through every step. The baseline does the same three steps
spectrum by spectrum in vectorised numpy/scipy (cumulative-sum resampling,
``scipy.ndimage.convolve1d`` with the same pixel-integrated kernel, ``numpy.linalg.lstsq``
clipping loop), the way a careful numpy user would. Both produce the same normalised
flux (the maximum difference is printed). JAX runs in float64 (same as numpy) and float32,
500 spectra per compiled call: jaxspec batches each step itself (the resampling gathers
run spectrum by spectrum in a scan, the kernels and the continuum fits over the batch).

Usage::

    python benchmarks/bench_preprocess.py              # 10 000 spectra
    python benchmarks/bench_preprocess.py --n 2000 --n-loop 500

Prints a markdown table and writes ``benchmarks/results/bench_preprocess.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy.ndimage  # noqa: E402
from astropy.io import fits  # noqa: E402
from scipy.special import erf  # noqa: E402

from jaxspec import Spectrum  # noqa: E402
from jaxspec.data import apogee_example_path  # noqa: E402
from jaxspec.preprocess import (  # noqa: E402
    APOGEE_CHIPS,
    SPEED_OF_LIGHT_KMS,
    continuum_normalize,
    convolve_resolution,
    resample,
)

R_IN, R_OUT, ORDER, N_ITER, LOW, HIGH = 22500.0, 10000.0, 3, 5, 2.0, 3.0


# --------------------------------------------------------------------------- data
def make_batch(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``n`` APOGEE-like spectra: the real apStar flux × random tilt, plus noise."""
    with fits.open(apogee_example_path()) as hdul:
        head = hdul[0].header
        flux0 = np.asarray(hdul[1].data[0], float)
        err0 = np.asarray(hdul[2].data[0], float)
    wave = 10 ** (head["CRVAL1"] + head["CDELT1"] * np.arange(head["NWAVE"]))
    # APOGEE flags unusable pixels with NaN flux and with inflated errors (up to ~1e13).
    finite = np.isfinite(flux0) & np.isfinite(err0) & (err0 > 0)
    bad = ~finite | (err0 > 10 * np.median(err0[finite]))
    flux0 = np.where(bad, 0.0, flux0)
    rng = np.random.default_rng(seed)
    x = (wave - wave.mean()) / np.ptp(wave)
    tilt = 1 + rng.normal(0, 0.05, (n, 1)) * x + rng.normal(0, 0.03, (n, 1)) * x**2
    scale = rng.uniform(0.5, 2.0, (n, 1))
    sigma = np.where(bad, 1.0, err0) * scale
    flux = flux0 * tilt * scale + rng.normal(0, 1, (n, wave.size)) * sigma
    ivar = np.where(bad, 0.0, sigma**-2)
    mask = np.broadcast_to(bad, flux.shape).copy()
    return wave, flux, ivar, mask


# ----------------------------------------------------------------------- numpy loop
def _edges(w: np.ndarray) -> np.ndarray:
    mid = 0.5 * (w[1:] + w[:-1])
    return np.concatenate([[2 * w[0] - mid[0]], mid, [2 * w[-1] - mid[-1]]])


def np_resample(wave, flux, ivar, mask, new_wave):
    e, big = _edges(wave), _edges(new_wave)
    dw = np.diff(e)
    g = ~mask
    var = np.where(g, 1.0 / np.where(g, ivar, 1.0), 0.0)
    cum_f = np.concatenate([[0.0], np.cumsum(flux * g * dw)])
    cum_w = np.concatenate([[0.0], np.cumsum(g * dw)])
    cum_v = np.concatenate([[0.0], np.cumsum(var * dw**2)])
    x = np.clip(big, e[0], e[-1])
    idx = np.clip(np.searchsorted(e, x, side="right") - 1, 0, wave.size - 1)
    inside = x - e[idx]
    s_f = np.diff(cum_f[idx] + (flux * g)[idx] * inside)
    s_w = np.diff(cum_w[idx] + g[idx] * inside)
    ia, ib, xa, xb = idx[:-1], idx[1:], x[:-1], x[1:]
    same = ia == ib
    o_a = np.where(same, xb - xa, e[ia + 1] - xa)
    o_b = np.where(same, 0.0, xb - e[ib])
    interior = np.where(same, 0.0, cum_v[ib] - cum_v[np.minimum(ia + 1, ib)])
    s_v = o_a**2 * var[ia] + o_b**2 * var[ib] + interior
    width = np.diff(big)
    ok = (big[:-1] >= e[0]) & (big[1:] <= e[-1]) & (s_w > 0) & (1 - s_w / width <= 1e-12)
    safe = np.where(ok, s_w, 1.0)
    new_var = s_v / safe**2
    return (
        np.where(ok, s_f / safe, 0.0),
        np.where(ok & (new_var > 0), 1 / np.where(new_var > 0, new_var, 1), 0.0),
        ~ok,
    )


def lsf_kernel(wave: np.ndarray) -> np.ndarray:
    """Pixel-integrated Gaussian kernel for a log-uniform grid (same as jaxspec's)."""
    step = np.log(wave[1] / wave[0]) * SPEED_OF_LIGHT_KMS
    sigma = SPEED_OF_LIGHT_KMS / (2 * math.sqrt(2 * math.log(2))) * math.sqrt(R_OUT**-2 - R_IN**-2)
    half = int(math.ceil(5 * SPEED_OF_LIGHT_KMS / (2.3548 * R_OUT) / step)) + 1
    u = (np.arange(-half, half + 1)[:, None] + np.array([-0.5, 0.5])) * step / sigma
    cdf = 0.5 * (1 + erf(u / math.sqrt(2)))
    return cdf[:, 1] - cdf[:, 0]


def np_convolve(flux, ivar, mask, kernel):
    g = (~mask).astype(float)
    var = np.where(g > 0, 1.0 / np.where(g > 0, ivar, 1.0), 0.0)
    conv = lambda a, k: scipy.ndimage.convolve1d(a, k, mode="constant")  # noqa: E731
    w_all = conv(np.ones_like(flux), kernel)
    w_good = conv(g, kernel)
    f_sum = conv(flux * g, kernel)
    v_sum = conv(var * g, kernel**2)
    ok = (g > 0) & (w_good >= 0.5 * w_all) & (w_good > 0)
    safe = np.where(ok, w_good, 1.0)
    new_var = v_sum / safe**2
    return (
        np.where(ok, f_sum / safe, 0.0),
        np.where(ok & (new_var > 0), 1 / np.where(new_var > 0, new_var, 1), 0.0),
        ~ok,
    )


def np_continuum(wave, flux, ivar, mask):
    cont = np.full(flux.shape, np.nan)
    for lo, hi in APOGEE_CHIPS:
        inside = (wave >= lo) & (wave <= hi)
        x = np.clip(2 * (wave[inside] - lo) / (hi - lo) - 1, -1, 1)
        design = np.polynomial.chebyshev.chebvander(x, ORDER)
        usable = ~mask[inside]
        y_all = flux[inside]
        level = np.median(y_all[usable]) if usable.any() else 1.0
        y = y_all / level
        keep = usable.copy()
        for _ in range(N_ITER + 1):
            coef = np.linalg.lstsq(design[keep], y[keep], rcond=None)[0]
            model = design @ coef
            if _ == N_ITER:
                break
            resid = y - model
            sigma = np.sqrt(np.mean(resid[keep] ** 2))
            new_keep = usable & (resid > -LOW * sigma) & (resid < HIGH * sigma)
            if new_keep.sum() > ORDER + 1:
                keep = new_keep
        cont[inside] = model * level
    ok = np.isfinite(cont) & (cont > 0) & ~mask
    safe = np.where(ok, cont, 1.0)
    return np.where(ok, flux / safe, 0.0), np.where(ok, ivar * safe**2, 0.0), ~ok


def numpy_pipeline(wave, new_wave, kernel, flux, ivar, mask):
    f, iv, m = np_resample(wave, flux, ivar, mask, new_wave)
    f, iv, m = np_convolve(f, iv, m, kernel)
    return np_continuum(new_wave, f, iv, m)


# ----------------------------------------------------------------------------- jax
def make_jax_pipeline(wave: np.ndarray, new_wave: np.ndarray, dtype):
    """The jitted pipeline; the wavelength grids are constants, so kernels are sized once."""
    wave = np.asarray(wave, dtype)
    new_wave = np.asarray(new_wave, dtype)

    @jax.jit
    def pipeline(flux, ivar, mask):
        out = resample(Spectrum(wave, flux, ivar, mask), new_wave)
        out = convolve_resolution(out, R_OUT, resolution_in=R_IN)
        out = continuum_normalize(out, order=ORDER, n_iter=N_ITER, segments=APOGEE_CHIPS)
        return out.flux, out.ivar, out.mask

    return pipeline


def run_jax(wave, new_wave, flux, ivar, mask, dtype, chunk):
    n = flux.shape[0]
    fn = make_jax_pipeline(wave, new_wave, dtype)

    def batch(i):
        sl = slice(i, i + chunk)
        parts = [np.asarray(flux[sl], dtype), np.asarray(ivar[sl], dtype), mask[sl]]
        pad = chunk - parts[0].shape[0]  # keep one compiled shape: pad the last chunk
        if pad:
            parts = [np.pad(p, ((0, pad), (0, 0))) for p in parts]
        return parts, chunk - pad

    first, _ = batch(0)
    t0 = time.perf_counter()
    compiled = fn.lower(*first).compile()
    compile_s = time.perf_counter() - t0
    jax.block_until_ready(compiled(*first))  # warm-up
    outs = []
    t0 = time.perf_counter()
    for i in range(0, n, chunk):
        parts, keep = batch(i)
        outs.append(np.asarray(compiled(*parts)[0])[:keep])
    elapsed = time.perf_counter() - t0
    return np.concatenate(outs), elapsed, compile_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="spectra for the JAX runs")
    parser.add_argument(
        "--n-loop", type=int, default=None, help="spectra for the numpy loop (default: --n)"
    )
    parser.add_argument("--chunk", type=int, default=500, help="spectra per compiled JAX call")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "bench_preprocess.json"
    )
    args = parser.parse_args()
    n_loop = args.n if args.n_loop is None else min(args.n_loop, args.n)

    wave, flux, ivar, mask = make_batch(args.n)
    new_wave = np.exp(np.log(wave) + 0.37 * np.log(wave[1] / wave[0]))[5:-5]
    kernel = lsf_kernel(new_wave)
    print(
        f"{args.n} spectra x {wave.size} pixels; devices: {jax.devices()}; cores: {os.cpu_count()}"
    )

    t0 = time.perf_counter()
    ref = [
        numpy_pipeline(wave, new_wave, kernel, flux[i], ivar[i], mask[i])[0] for i in range(n_loop)
    ]
    loop_s = time.perf_counter() - t0
    ref = np.stack(ref)

    rows = [
        {
            "method": "numpy/scipy loop (float64)",
            "n_spectra": n_loop,
            "seconds": loop_s,
            "spectra_per_s": n_loop / loop_s,
            "compile_s": 0.0,
            "max_abs_diff_vs_numpy": 0.0,
        }
    ]
    for dtype in (jnp.float64, jnp.float32):
        out, seconds, compile_s = run_jax(wave, new_wave, flux, ivar, mask, dtype, args.chunk)
        assert out.dtype == np.dtype(dtype), (out.dtype, dtype)
        both = (ref != 0) & (out[:n_loop] != 0)
        diff = float(np.max(np.abs(out[:n_loop][both] - ref[both])))
        rows.append(
            {
                "method": f"jaxspec, jit over the batch ({np.dtype(dtype).name})",
                "n_spectra": args.n,
                "seconds": seconds,
                "spectra_per_s": args.n / seconds,
                "compile_s": compile_s,
                "max_abs_diff_vs_numpy": diff,
            }
        )
    base = rows[0]["spectra_per_s"]
    for row in rows:
        row["speedup_vs_loop"] = row["spectra_per_s"] / base

    print(
        "\n| method | spectra | time [s] | spectra/s | speed-up vs loop | compile [s] "
        "| max |Δ flux| vs numpy |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['method']} | {r['n_spectra']} | {r['seconds']:.2f} | {r['spectra_per_s']:.0f} | "
            f"{r['speedup_vs_loop']:.1f}x | {r['compile_s']:.2f} | "
            f"{r['max_abs_diff_vs_numpy']:.1e} |"
        )

    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "bench_preprocess",
        "pipeline": "resample -> convolve_resolution(22500->10000) -> "
        "continuum_normalize(cheb3 per chip, 5 iter)",
        "n_pix": int(wave.size),
        "chunk": args.chunk,
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "jax": jax.__version__,
            "numpy": np.__version__,
            "devices": [str(d) for d in jax.devices()],
        },
        "results": rows,
    }
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    os.replace(tmp, args.out)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
