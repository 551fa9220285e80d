"""Emulator accuracy on held-out synthesizer spectra, by architecture and training-set size.

The grids (from ``jaxspec synth-grid``, same wavelengths) are concatenated in the order
given. The last ``--n-test`` spectra are the test set and are never trained on. For each
architecture and each size N in ``--sizes``, an emulator is trained exactly as
``jaxspec train-emulator GRIDS --arch ARCH --max-spectra N --max-steps S`` trains it (the
first N spectra, 10 % of them held out for early stopping) and written to
``--workdir/ARCH_nN.h5``; a rerun reuses a model already there when its training settings,
size and grids match (so the benchmark is resumable, and so is each training through its
checkpoint), and retrains it otherwise. Sizes beyond what the grids
hold besides the test set are cut to that ("as far as the grid goes").

Reported on the test set: median, 95th percentile and maximum of |Δ normalised flux| over
all test pixels, the median per-star maximum, and the error map over Teff–log g (each test
star coloured by its median |Δ|) for the largest size — a PNG.

Usage::

    python benchmarks/bench_emulator_accuracy.py GRID.h5 [GRID2.h5 ...] \\
        --sizes 1000 2500 5000 --max-steps 8000 --workdir emulator-bench

Prints a markdown table and writes ``benchmarks/results/bench_emulator_accuracy.json`` and
``benchmarks/results/bench_emulator_accuracy.png``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from jaxspec.emulators import TrainingConfig, load_emulator, train_emulator
from jaxspec.emulators.training import grid_label_space
from jaxspec.synth.grid import read_grid

RESULTS = Path(__file__).parent / "results"
TARGETS = {"payne": 1e-3, "smooth": 5e-4}


def load_test_set(grids: list[str], n_test: int) -> tuple[np.ndarray, np.ndarray, int, Any]:
    """Labels (free ones) and flux of the last ``n_test`` spectra, and the total count."""
    loaded = [read_grid(p, lazy=True) for p in grids]
    for g in loaded:
        if g.provenance.get("nonfinite_rows"):
            # train_emulator drops such rows before counting --max-spectra, which would
            # shift the training set into the test rows: refuse instead.
            raise SystemExit(f"{g.path} has non-finite spectra; regenerate it first")
    _, _, free = grid_label_space(loaded)
    labels = np.concatenate([g.label_array()[:, free] for g in loaded])
    total = len(labels)
    if n_test >= total:
        raise SystemExit(f"--n-test {n_test} leaves nothing to train on ({total} spectra)")
    flux = []
    need = n_test
    for g in reversed(loaded):
        take = min(need, g.n)
        flux.insert(0, np.asarray(g.flux[g.n - take :], dtype=np.float32))
        need -= take
        if need == 0:
            break
    names = loaded[0].label_names
    return labels[total - n_test :], np.concatenate(flux), total, [names[j] for j in free]


def reusable(path: Path, cfg: TrainingConfig, n: int, grids: list[str]) -> bool:
    """Whether a model already in the work folder is the one this run would train."""
    if not path.exists():
        return False
    prov = load_emulator(path).provenance
    hashes = [read_grid(g, lazy=True).provenance.get("grid_hash") for g in grids]
    used = prov.get("grids", [])
    return (
        prov["training"]["config"] == json.loads(json.dumps(dataclasses.asdict(cfg)))
        and prov.get("n_spectra_used") == n
        and [g["grid_hash"] for g in used] == hashes[: len(used)]
        and sum(g["n"] for g in used) >= n
    )


def evaluate(model_path: Path, labels: np.ndarray, flux: np.ndarray) -> dict[str, Any]:
    emu = load_emulator(model_path)
    t0 = time.perf_counter()
    pred = np.asarray(emu.predict(labels))
    err = np.abs(pred - flux)
    rec = emu.provenance["training"]
    return {
        "model": str(model_path),
        "n_train": rec["n_train"],
        "n_validation": rec["n_validation"],
        "steps": rec["steps"],
        "best_step": rec["best_step"],
        "stopped": rec["stopped"],
        "median_abs": float(np.median(err)),
        "p95_abs": float(np.percentile(err, 95)),
        "max_abs": float(err.max()),
        "median_star_max_abs": float(np.median(err.max(axis=1))),
        "per_star_median_abs": np.median(err, axis=1).tolist(),
        "predict_seconds": time.perf_counter() - t0,
    }


def plot(results: dict, labels: np.ndarray, names: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    archs = list(results)
    fig, axes = plt.subplots(1, len(archs) + 1, figsize=(5 * (len(archs) + 1), 4.2))
    it = names.index("teff") if "teff" in names else 0
    ig = names.index("logg") if "logg" in names else 1 - it
    values = [r[-1]["per_star_median_abs"] for r in results.values()]
    norm = LogNorm(vmin=max(1e-5, min(min(v) for v in values)), vmax=max(max(v) for v in values))
    for ax, arch in zip(axes, archs, strict=False):
        last = results[arch][-1]
        sc = ax.scatter(
            labels[:, it],
            labels[:, ig],
            c=last["per_star_median_abs"],
            norm=norm,
            s=14,
            cmap="viridis",
        )
        ax.set_xlim(labels[:, it].max() + 100, labels[:, it].min() - 100)
        if names[ig] == "logg":  # HR-diagram orientation
            ax.set_ylim(labels[:, ig].max() + 0.2, labels[:, ig].min() - 0.2)
        ax.set_xlabel(names[it])
        ax.set_ylabel(names[ig])
        ax.set_title(f"{arch}, N = {last['n_train'] + last['n_validation']}: per-star median |Δ|")
    fig.colorbar(sc, ax=axes[: len(archs)], label="median |Δ normalised flux|")
    ax = axes[-1]
    for arch in archs:
        sizes = [r["n_train"] + r["n_validation"] for r in results[arch]]
        ax.plot(sizes, [r["median_abs"] for r in results[arch]], "o-", label=f"{arch} median")
        ax.plot(sizes, [r["p95_abs"] for r in results[arch]], "s--", label=f"{arch} 95th pct")
        if arch in TARGETS:
            ax.axhline(TARGETS[arch], color="grey", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training-set size (incl. 10 % validation)")
    ax.set_ylabel("|Δ normalised flux| on the test set")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("grids", nargs="+")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2500, 5000])
    parser.add_argument("--archs", nargs="+", default=["payne", "smooth"])
    parser.add_argument("--n-test", type=int, default=300)
    parser.add_argument("--max-steps", type=int, default=8000)
    parser.add_argument("--workdir", default="emulator-bench")
    parser.add_argument("--output", default=str(RESULTS / "bench_emulator_accuracy.json"))
    args = parser.parse_args()

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    test_labels, test_flux, total, names = load_test_set(args.grids, args.n_test)
    pool = total - args.n_test
    sizes = sorted({min(n, pool) for n in args.sizes})
    results: dict[str, list[dict[str, Any]]] = {}
    for arch in args.archs:
        results[arch] = []
        for n in sizes:
            path = work / f"{arch}_n{n}.h5"
            cfg = TrainingConfig(arch=arch, max_steps=args.max_steps)
            if reusable(path, cfg, n, args.grids):
                print(f"reusing {path} (same settings, data and size)", flush=True)
            else:
                t0 = time.perf_counter()
                train_emulator(args.grids, path, cfg, max_spectra=n, overwrite=True)
                print(f"trained {path} in {time.perf_counter() - t0:.0f} s", flush=True)
            row = evaluate(path, test_labels, test_flux)
            row["size"] = n
            results[arch].append(row)

    print(
        f"\nEmulator accuracy on {args.n_test} held-out synthesizer spectra "
        f"({test_flux.shape[1]} pixels); |Δ normalised flux|\n"
    )
    print(
        "| arch | training-set size | median | 95th percentile | max | median per-star max "
        "| steps (best) |"
    )
    print("|---|---|---|---|---|---|---|")
    for arch, rows in results.items():
        for r in rows:
            print(
                f"| {arch} | {r['size']} | {r['median_abs']:.2e} | {r['p95_abs']:.2e} | "
                f"{r['max_abs']:.2e} | {r['median_star_max_abs']:.2e} | {r['steps']} "
                f"({r['best_step']}) |"
            )
    if len(results) == 2:
        a, b = list(results)
        for ra, rb in zip(results[a], results[b], strict=True):
            print(
                f"\nN = {ra['size']}: {a} median / {b} median = "
                f"{ra['median_abs'] / rb['median_abs']:.2f}"
            )
    png = Path(args.output).with_suffix(".png")
    plot(results, test_labels, names, png)
    out = Path(args.output)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(
        json.dumps(
            {
                "grids": args.grids,
                "n_test": args.n_test,
                "n_total": total,
                "max_steps": args.max_steps,
                "label_names": names,
                "test_labels": test_labels.tolist(),
                "targets_median": TARGETS,
                "results": results,
            },
            indent=1,
        )
    )
    os.replace(tmp, out)
    print(f"\nwrote {out} and {png}")


if __name__ == "__main__":
    main()
