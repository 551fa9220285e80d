"""Emulator throughput: forward passes and label Jacobians, against this machine's matmul peak.

Measured in one run, for PayneMLP and SmoothMLP at the default emulator's size (its
pixel count and label count; the weights do not change the cost):

1. this machine's float32 matmul throughput: ``jnp.dot`` of two 2048 × 2048 matrices;
2. per architecture: compile time of the batch-256 forward pass, spectra/s of the jitted
   forward pass at batch 1, 256 and 4096, the achieved GFLOP/s (2 × multiply-adds of the
   dense layers per spectrum) as a fraction of the matmul peak, and spectra/s of the label
   Jacobian (``jacfwd`` vmapped over a batch of 256);
3. the physics synthesizer's seconds per spectrum over the same pixels (timed on batches of
   its own vmapped group size; build and compile excluded), and the emulator's speed-up over
   it at batch 256.

Timings are the median of ``--repeats`` timed calls after a warm-up call.

Usage::

    python benchmarks/bench_emulator_speed.py            # ~2 minutes on 2 CPU cores
    python benchmarks/bench_emulator_speed.py --no-synth # skip the synthesizer reference

Prints a markdown table and writes ``benchmarks/results/bench_emulator_speed.json``.
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
import jax.numpy as jnp
import numpy as np

from jaxspec.emulators import Emulator, load_default
from jaxspec.labels import LabelSpace

RESULTS = Path(__file__).parent / "results"
BATCHES = (1, 256, 4096)


def _timed(fn: Any, *args: Any, repeats: int) -> float:
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def matmul_peak(repeats: int) -> float:
    """GFLOP/s of a float32 2048² matmul (2 n³ flops)."""
    n = 2048
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
    dot = jax.jit(jnp.dot)
    return 2 * n**3 / _timed(dot, a, b, repeats=repeats) / 1e9


def reference_shape() -> tuple[LabelSpace, np.ndarray, float | None, str]:
    """Label space, wavelengths and R of the shipped default emulator (or its design size)."""
    try:
        emu = load_default()
        return emu.label_space, emu.wave, emu.resolution, "default emulator"
    except FileNotFoundError:
        space = LabelSpace(
            ("teff", "logg", "feh", "alpha"),
            ("K", "dex", "dex", "dex"),
            (4000.0, 1.0, -2.5, -0.2),
            (7000.0, 5.0, 0.5, 0.6),
        )
        r = 7500.0
        n = int(np.log(6800.0 / 4200.0) * 3 * r)
        return space, 4200.0 * np.exp(np.arange(n) / (3 * r)), r, "design size"


def bench_arch(arch: str, space, wave, peak: float, repeats: int) -> dict[str, Any]:
    emu = Emulator.initialise(arch, space, wave, flux_mean=np.ones(wave.size), seed=0)
    rng = np.random.default_rng(0)
    lo, hi = np.array(space.lower), np.array(space.upper)
    flops = emu.flops_per_spectrum()
    row: dict[str, Any] = {
        "arch": arch,
        "config": emu.config,
        "n_params": emu.n_params,
        "flops_per_spectrum": flops,
        "mflops_per_spectrum": flops / 1e6,
    }
    forward = jax.jit(emu.apply)
    for batch in BATCHES:
        x = jnp.asarray(lo + rng.random((batch, lo.size)) * (hi - lo), dtype=jnp.float32)
        if batch == 256:
            t0 = time.perf_counter()
            jax.block_until_ready(jax.jit(emu.apply).lower(emu.params, x).compile())
            row["compile_s"] = time.perf_counter() - t0
        t = _timed(forward, emu.params, x, repeats=repeats)
        row[f"forward_b{batch}_spectra_per_s"] = batch / t
        row[f"forward_b{batch}_fraction_of_peak"] = batch * flops / t / 1e9 / peak
    x = jnp.asarray(lo + rng.random((256, lo.size)) * (hi - lo), dtype=jnp.float32)
    jac = jax.jit(jax.vmap(jax.jacfwd(lambda p, s: emu.apply(p, s), argnums=1), (None, 0)))
    row["jacobian_b256_spectra_per_s"] = 256 / _timed(jac, emu.params, x, repeats=repeats)
    return row


def synth_seconds(wave: np.ndarray, resolution: float | None, n: int) -> float:
    """Steady-state seconds per spectrum of the physics synthesizer over the same pixels.

    Timed on batches of the synthesizer's own group size (``Synthesizer.batch_size``
    stars vmapped together), the synthesizer's best case, to compare with the emulator's
    batched forward pass.
    """
    jax.config.update("jax_enable_x64", True)
    try:
        synth = load_default().synthesizer()
    except FileNotFoundError:
        from jaxspec.synth import Synthesizer

        synth = Synthesizer(float(wave[0]), float(wave[-1]) + 0.01, resolution=resolution)
    rng = np.random.default_rng(1)
    lo = np.array([4500.0, 2.0, -1.5, -0.1, 1.0])
    hi = np.array([6500.0, 4.5, 0.3, 0.4, 1.0])
    batch = synth.batch_size
    stars = lo + rng.random((batch, 5)) * (hi - lo)
    jax.block_until_ready(synth.flux(stars))
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        jax.block_until_ready(synth.flux(stars))
        times.append((time.perf_counter() - t0) / batch)
    jax.config.update("jax_enable_x64", False)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--synth-n", type=int, default=2, help="synthesizer batches timed")
    parser.add_argument("--no-synth", action="store_true")
    parser.add_argument("--output", default=str(RESULTS / "bench_emulator_speed.json"))
    args = parser.parse_args()

    space, wave, resolution, source = reference_shape()
    peak = matmul_peak(args.repeats)
    rows = [bench_arch(a, space, wave, peak, args.repeats) for a in ("payne", "smooth")]
    synth_s = None if args.no_synth else synth_seconds(wave, resolution, args.synth_n)

    print(
        f"\nEmulator speed, {wave.size} pixels ({source}, R={resolution}), "
        f"{space.n_labels} labels; {jax.devices()[0].platform} "
        f"({os.cpu_count()} cores); float32 2048² matmul peak {peak:.1f} GFLOP/s\n"
    )
    head = "| quantity | " + " | ".join(r["arch"] for r in rows) + " |"
    print(head)
    print("|---" * (len(rows) + 1) + "|")

    def line(label: str, fmt: str, key: str) -> None:
        print(f"| {label} | " + " | ".join(format(r[key], fmt) for r in rows) + " |")

    line("weights", ",", "n_params")
    line("MFLOP per spectrum", ".2f", "mflops_per_spectrum")
    line("compile, batch 256 [s]", ".2f", "compile_s")
    for b in BATCHES:
        line(f"forward, batch {b} [spectra/s]", ",.0f", f"forward_b{b}_spectra_per_s")
        line(
            f"forward, batch {b}: GFLOP/s ÷ 2048² matmul GFLOP/s",
            ".2f",
            f"forward_b{b}_fraction_of_peak",
        )
    line("label Jacobian, batch 256 [spectra/s]", ",.0f", "jacobian_b256_spectra_per_s")
    if synth_s is not None:
        print(f"| synthesizer, batched [s/spectrum] | {synth_s:.2f} | {synth_s:.2f} |")
        for r in rows:
            r["speedup_vs_synth_b256"] = r["forward_b256_spectra_per_s"] * synth_s
        line("speed-up over the batched synthesizer, batch 256", ",.0f", "speedup_vs_synth_b256")
    result = {
        "machine": {
            "platform": jax.devices()[0].platform,
            "device": str(jax.devices()[0]),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "jax": jax.__version__,
        },
        "reference": source,
        "n_pix": int(wave.size),
        "resolution": resolution,
        "matmul_peak_gflops": peak,
        "synth_seconds_per_spectrum": synth_s,
        "architectures": rows,
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2))
    os.replace(tmp, out)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
