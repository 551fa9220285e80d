"""Label accuracy versus S/N for every regressor, classification versus S/N, saliency checks.

One held-out synthetic test set, the same for every method, at S/N 5, 10, 20, 50, 100, 200.

**Regression** (``--grids``: synthesizer grid files with identical wavelengths, e.g. the
FGK grids of the README). The grids' spectra are pooled and split with a fixed seed into a
training set and ``--n-test`` test spectra. Test spectra get Gaussian noise only (σ = 1/S/N,
one fixed draw per S/N). Methods:

* **Cannon** (``jaxspec.regress.Cannon``, quadratic): trained on the noise-free training
  spectra with ``ivar = 1e4`` (the intrinsic scatter absorbs the rest); test step with its
  default starts, ivar = S/N².
* **CNN** (``jaxspec.regress.SpectrumCNN``): a deep ensemble of ``--cnn-members`` StarNet-style
  networks trained with the package's augmentation (S/N 5–200, RV ±5 km/s, resolution,
  continuum, masked chunks) for at most ``--cnn-epochs`` epochs each.
* **Peers** (the ``[peers]`` extra; each skipped with a note if not installed): trained on one
  noisy copy of each training spectrum (S/N log-uniform in 5–200, like the CNN's
  augmentation), on the first ``--pca`` principal components of the flux (scikit-learn PCA,
  fitted on those noisy copies; the raw 10⁴ pixels make the kernel and tree methods slow and
  no better): ``SVR`` (RBF, one per label, standardised targets; SLAM (Zhang et al. 2020)
  uses SVR per *pixel* as a forward model and inverts it — this is the direct label-space
  use of the same regressor), ``RandomForestRegressor``, ``KNeighborsRegressor`` (distance
  weights), ``XGBRegressor``; and ``thecannon`` (Casey's Cannon 2, PyPI ``annieslasso``),
  quadratic, trained like the jaxspec Cannon on every pixel.

Per method, S/N and label: bias (median error), MAE, robust scatter (1.4826 × median absolute
deviation of the errors) and, for methods that give σ, the fraction of stars with
|error|/σ < 1 (ideal 0.683). Throughput: training wall time and prediction spectra/s.

**Classification** (``--class-grids``: grids over 3500–30000 K): ``SpectralClassifier``
trained with augmentation on a seeded split; held-out spectra with noise only at each S/N:
accuracy of the MK class, of the subclass within ±1, of the luminosity class, the MK-class
confusion matrix and the expected calibration error (15 equal-width bins, top label) with
and without the fitted temperatures.

**Saliency** (``jaxspec.explain``) of the CNN ensemble on ``--n-saliency`` test spectra at
S/N 100: integrated gradients per label; the enrichment of the top 1 % [Fe/H]-saliency
pixels on Fe lines of the shipped line list (window ±λ/2R) over chance, and of the top 1 %
Teff-saliency pixels on the Balmer lines (window ±``--balmer-window`` Å) and on all listed
lines; a saliency plot with the line positions.

Usage (the two parts can run in one call or, as for the stored results, separately)::

    python benchmarks/bench_accuracy_vs_snr.py --grids fgk_r7500_s0.h5 fgk_r7500_s1.h5
    python benchmarks/bench_accuracy_vs_snr.py --class-grids cls_*.h5 \\
        --out benchmarks/results/bench_classification_vs_snr

Trained models are kept in ``--work-dir`` and reused by a rerun (delete them to retrain).
Prints markdown tables and writes ``OUT.json`` and ``OUT.md`` (``--out``, default
``benchmarks/results/bench_accuracy_vs_snr``), with the regression part ``OUT.png`` (robust
scatter against S/N) and ``OUT_saliency.png``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

SNRS = (5, 10, 20, 50, 100, 200)
#: astroNN ApogeeBCNN on APOGEE DR14 at S/N ≈ 20/40/60 (Leung & Bovy 2019, the issue's table).
ASTRONN = {
    "snr": [20, 40, 60],
    "teff": [74.5, 42.0, 29.3],
    "logg": [0.152, 0.085, 0.059],
    "feh": [0.070, 0.035, 0.024],
}
#: The issue's targets for the CNN: {snr: {label: max robust scatter}}.
TARGETS = {
    50: {"teff": 30.0, "logg": 0.06, "feh": 0.03},
    20: {"teff": 70.0, "logg": 0.14, "feh": 0.06},
}
RESULTS = Path(__file__).resolve().parent / "results"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def machine_info() -> dict[str, Any]:
    import jaxspec

    return {
        "platform": jax.devices()[0].platform,
        "device": str(jax.devices()[0]),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxspec": jaxspec.__version__,
        "machine": platform.machine(),
    }


# ---------------------------------------------------------------------------------------
# data


def load_pool(paths: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any, float, list]:
    """Pooled (flux, labels of the free columns, wave, label space, R, grid records)."""
    from jaxspec.emulators.training import grid_label_space
    from jaxspec.synth import read_grid

    grids = [read_grid(p) for p in paths]
    wave = grids[0].wave
    for g in grids[1:]:
        if g.wave.shape != wave.shape or not np.allclose(g.wave, wave, rtol=0, atol=1e-9):
            sys.exit(f"grids {paths} do not share wavelengths")
    space, fixed, free = grid_label_space(grids)
    flux = np.concatenate([np.asarray(g.flux, np.float32) for g in grids])
    labels = np.concatenate([g.label_array() for g in grids])
    res = float(grids[0].provenance.get("synthesizer", {}).get("resolution") or 0.0)
    records = [
        {"path": str(p), "n": g.n, "hash": g.provenance.get("grid_hash")}
        for p, g in zip(paths, grids, strict=True)
    ]
    log(
        f"{len(flux)} spectra x {wave.size} px from {len(paths)} grid(s); "
        f"free labels {space.names}; fixed {fixed}; R={res:g}"
    )
    return flux, labels, wave, space, res, records, free


def split(n: int, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def noisy(flux: np.ndarray, snr: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (flux + rng.standard_normal(flux.shape).astype(np.float32) / snr).astype(np.float32)


def noisy_log_uniform(flux: np.ndarray, lo: float, hi: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    snr = np.exp(rng.uniform(np.log(lo), np.log(hi), len(flux)))
    return (flux + rng.standard_normal(flux.shape).astype(np.float32) / snr[:, None]).astype(
        np.float32
    )


def error_stats(pred: np.ndarray, truth: np.ndarray, sigma: np.ndarray | None, names) -> dict:
    out = {}
    for j, name in enumerate(names):
        err = pred[:, j] - truth[:, j]
        ok = np.isfinite(err)
        e = err[ok]
        med = float(np.median(e))
        row = {
            "bias": med,
            "mae": float(np.mean(np.abs(e))),
            "robust_scatter": float(1.4826 * np.median(np.abs(e - med))),
            "rms": float(np.sqrt(np.mean(e**2))),
            "n": int(ok.sum()),
        }
        if sigma is not None:
            s = sigma[ok, j]
            row["frac_within_1sigma"] = float(np.mean(np.abs(e) < s))
            row["median_sigma"] = float(np.median(s))
        out[name] = row
    return out


# ---------------------------------------------------------------------------------------
# methods: each returns {"train_seconds", "predict": {snr: (pred, sigma or None, seconds)}}


def run_cannon(tr, te_sets, wave, space, args) -> dict:
    from jaxspec.regress import Cannon

    flux_tr, lab_tr = tr
    t0 = time.perf_counter()
    model = Cannon(space, order=2).fit(lab_tr, flux_tr, np.full_like(flux_tr, 1e4), wave=wave)
    train_s = time.perf_counter() - t0
    out = {}
    for snr, f in te_sets.items():
        t0 = time.perf_counter()
        res = model.predict(f, np.full_like(f, float(snr) ** 2))
        out[snr] = (np.asarray(res.labels), np.asarray(res.errors), time.perf_counter() - t0)
    return {"train_seconds": train_s, "predict": out, "n_train": len(flux_tr)}


def run_cnn(tr, val, te_sets, wave, space, res, args) -> tuple[dict, Any]:
    from jaxspec.regress import SpectrumCNN, TrainConfig

    path = Path(args.work_dir) / "cnn.h5"
    flux_tr, lab_tr = tr
    if path.exists():
        model = SpectrumCNN.load(path)
        train_s = float(model.training_record.get("seconds", float("nan")))
        log(f"CNN: reusing {path}")
    else:
        t0 = time.perf_counter()
        model = SpectrumCNN.fit_arrays(
            flux_tr,
            lab_tr,
            wave,
            space,
            res,
            n_members=args.cnn_members,
            train_config=TrainConfig(max_epochs=args.cnn_epochs, patience=args.cnn_patience),
            checkpoint_dir=Path(args.work_dir) / "cnn_ckpt",
            seed=args.seed,
        )
        train_s = time.perf_counter() - t0
        model.save(path, overwrite=True)
    out = {}
    for snr, f in te_sets.items():
        model.predict(f[:8])  # compile outside the timing
        t0 = time.perf_counter()
        r = model.predict(f)
        out[snr] = (np.asarray(r.labels), np.asarray(r.errors), time.perf_counter() - t0)
    return {"train_seconds": train_s, "predict": out, "n_train": len(flux_tr)}, model


def run_sklearn_peers(tr, te_sets, space, args) -> dict[str, dict]:
    try:
        from sklearn.decomposition import PCA
        from sklearn.ensemble import RandomForestRegressor
        from sklearn.neighbors import KNeighborsRegressor
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVR
    except ImportError:
        log(
            "scikit-learn not installed: SVR, random forest and k-NN skipped "
            "(pip install -e '.[peers]')"
        )
        return {}
    flux_tr, lab_tr = tr
    noisy_tr = noisy_log_uniform(flux_tr, 5.0, 200.0, args.seed + 17)
    t0 = time.perf_counter()
    pca = PCA(n_components=args.pca, random_state=args.seed).fit(noisy_tr)
    z_tr = pca.transform(noisy_tr)
    zs = StandardScaler().fit(z_tr)
    z_tr = zs.transform(z_tr)
    pca_s = time.perf_counter() - t0
    ys = StandardScaler().fit(lab_tr)
    y_tr = ys.transform(lab_tr)
    z_te = {}
    for snr, f in te_sets.items():
        t0 = time.perf_counter()
        z_te[snr] = (zs.transform(pca.transform(f)), time.perf_counter() - t0)

    def per_label(make):
        return [make().fit(z_tr, y_tr[:, j]) for j in range(y_tr.shape[1])]

    makers = {
        "SVR (PCA)": lambda: per_label(lambda: SVR(C=10.0, epsilon=0.01, gamma="scale")),
        "random forest (PCA)": lambda: RandomForestRegressor(
            n_estimators=200, min_samples_leaf=2, n_jobs=-1, random_state=args.seed
        ).fit(z_tr, y_tr),
        "k-NN (PCA)": lambda: KNeighborsRegressor(n_neighbors=8, weights="distance").fit(
            z_tr, y_tr
        ),
    }
    try:
        from xgboost import XGBRegressor

        makers["XGBoost (PCA)"] = lambda: XGBRegressor(
            n_estimators=400,
            max_depth=6,
            learning_rate=0.05,
            subsample=0.8,
            tree_method="hist",
            n_jobs=1,
            random_state=args.seed,
        ).fit(z_tr, y_tr)
    except ImportError:
        log("xgboost not installed: XGBoost skipped")
    out = {}
    for name, make in makers.items():
        t0 = time.perf_counter()
        model = make()
        train_s = time.perf_counter() - t0 + pca_s
        preds = {}
        for snr, (z, pca_t) in z_te.items():
            t0 = time.perf_counter()
            if isinstance(model, list):
                y = np.stack([m.predict(z) for m in model], axis=1)
            else:
                y = model.predict(z)
            preds[snr] = (ys.inverse_transform(y), None, time.perf_counter() - t0 + pca_t)
        out[name] = {"train_seconds": train_s, "predict": preds, "n_train": len(flux_tr)}
        log(f"{name}: trained in {train_s:.1f} s")
    return out


def _scalar_scatter_fit(*args: Any, **kwargs: Any) -> tuple:
    """annieslasso's per-pixel fit, returning s² as a float.

    annieslasso 0.2.96 returns ``scipy.optimize.fmin(...)**2``, a 1-element array, and its
    ``CannonModel.train`` assigns it to one element of a float array, which numpy 2
    refuses. The fit itself is unchanged.
    """

    theta, s2, meta = _ORIGINAL_PIXEL_FIT(*args, **kwargs)
    return theta, float(np.ravel(s2)[0]), meta


_ORIGINAL_PIXEL_FIT: Any = None


def run_thecannon(tr, te_sets, wave, space, args) -> dict | None:
    global _ORIGINAL_PIXEL_FIT
    try:
        import thecannon as tc
        import thecannon.fitting
    except ImportError:
        log("thecannon (annieslasso) not installed: skipped")
        return None
    if _ORIGINAL_PIXEL_FIT is None:
        _ORIGINAL_PIXEL_FIT = thecannon.fitting.fit_pixel_fixed_scatter
        thecannon.fitting.fit_pixel_fixed_scatter = _scalar_scatter_fit
    from astropy.table import Table

    flux_tr, lab_tr = tr
    names = list(space.names)
    table = Table({n: lab_tr[:, j] for j, n in enumerate(names)})
    vec = tc.vectorizer.PolynomialVectorizer(names, 2)
    model = tc.CannonModel(
        table, flux_tr.astype(float), np.full(flux_tr.shape, 1e4), vec, dispersion=wave
    )
    t0 = time.perf_counter()
    model.train(threads=args.threads)
    train_s = time.perf_counter() - t0
    out = {}
    for snr, f in te_sets.items():
        f = f[: args.thecannon_n_test]
        t0 = time.perf_counter()
        labels, cov, meta = model.test(
            f.astype(float), np.full(f.shape, float(snr) ** 2), threads=args.threads
        )
        # thecannon's covariance is leastsq's, in its scaled labels (x - fiducial) / scale.
        var = np.clip(np.array([np.diag(c) for c in cov]), 0, None)
        sig = np.sqrt(var) * np.asarray(model._scales)[None, :]
        out[snr] = (np.asarray(labels), sig, time.perf_counter() - t0)
    return {"train_seconds": train_s, "predict": out, "n_train": len(flux_tr)}


# ---------------------------------------------------------------------------------------
# classification


def run_classification(args) -> dict:
    from jaxspec.classify import SpectralClassifier, TrainConfig
    from jaxspec.classify.calibration import confusion_matrix, expected_calibration_error
    from jaxspec.labels import MK_CLASSES, spectral_type
    from jaxspec.synth import read_grid

    grids = [read_grid(p) for p in args.class_grids]
    wave = grids[0].wave
    flux = np.concatenate([np.asarray(g.flux, np.float32) for g in grids])
    lab = np.concatenate([g.label_array() for g in grids])
    names = list(grids[0].label_names)
    teff, logg = lab[:, names.index("teff")], lab[:, names.index("logg")]
    res = float(grids[0].provenance.get("synthesizer", {}).get("resolution") or 0.0)
    n_test = int(round(args.class_test_fraction * len(flux)))
    tr, te = split(len(flux), n_test, args.seed + 1)
    path = Path(args.work_dir) / "classifier.h5"
    if path.exists():
        clf = SpectralClassifier.load(path)
        log(f"classifier: reusing {path}")
        train_s = float(clf.record.get("seconds", float("nan")))
    else:
        t0 = time.perf_counter()
        clf = SpectralClassifier.fit_arrays(
            flux[tr],
            teff[tr],
            logg[tr],
            wave,
            res,
            train_config=TrainConfig(max_epochs=args.class_epochs, patience=args.class_patience),
            seed=args.seed,
            checkpoint=Path(args.work_dir) / "classifier.ckpt.h5",
        )
        train_s = time.perf_counter() - t0
        clf.save(path, overwrite=True)
    uncalibrated = dataclasses.replace(clf, temperatures=(1.0, 1.0))
    truth = spectral_type(teff[te], logg[te])
    counts = {c: int(np.sum(truth.mk_class == c)) for c in MK_CLASSES}
    log(f"classifier test set: {len(te)} spectra, MK classes {counts}")
    out = {
        "n_train": int(len(tr)),
        "n_test": int(len(te)),
        "train_seconds": train_s,
        "test_class_counts": counts,
        "per_snr": {},
    }
    for snr in SNRS:
        f = noisy(flux[te], snr, args.seed + 1000 + snr)
        clf.predict(f[:8])
        t0 = time.perf_counter()
        r = clf.predict(f)
        dt = time.perf_counter() - t0
        raw = uncalibrated.predict(f)
        mk_true = np.asarray(truth.mk_index)
        lum_true = np.asarray(truth.lum_index)
        mk_pred = np.argmax(np.asarray(r.mk_prob), axis=1)
        lum_pred = np.argmax(np.asarray(r.lum_prob), axis=1)
        code_pred = mk_pred * 10 + np.asarray(r.subclass, dtype=float)
        entry = {
            "mk_accuracy": float(np.mean(mk_pred == mk_true)),
            "subclass_within_1": float(np.mean(np.abs(code_pred - np.asarray(truth.code)) <= 1.0)),
            "luminosity_accuracy": float(np.mean(lum_pred == lum_true)),
            "ece_mk": float(expected_calibration_error(np.asarray(r.mk_prob), mk_true)),
            "ece_mk_uncalibrated": float(
                expected_calibration_error(np.asarray(raw.mk_prob), mk_true)
            ),
            "ece_lum": float(expected_calibration_error(np.asarray(r.lum_prob), lum_true)),
            "ece_lum_uncalibrated": float(
                expected_calibration_error(np.asarray(raw.lum_prob), lum_true)
            ),
            "confusion_mk": confusion_matrix(mk_true, mk_pred, len(MK_CLASSES)).tolist(),
            "predict_spectra_per_s": float(len(f) / dt),
        }
        out["per_snr"][snr] = entry
        log(
            f"classification S/N {snr}: MK {entry['mk_accuracy']:.3f}, subclass±1 "
            f"{entry['subclass_within_1']:.3f}, lum {entry['luminosity_accuracy']:.3f}, "
            f"ECE {entry['ece_mk']:.3f} (uncalibrated {entry['ece_mk_uncalibrated']:.3f})"
        )
    out["temperatures"] = {"type": clf.temperatures[0], "luminosity": clf.temperatures[1]}
    out["record"] = {k: v for k, v in clf.record.items() if k != "history"}
    return out


# ---------------------------------------------------------------------------------------
# saliency


def run_saliency(model, flux_te, wave, res, args) -> dict:
    from jaxspec.explain import (
        balmer_lines,
        line_enrichment,
        line_positions,
        plot_saliency,
        saliency,
    )

    f = noisy(flux_te[: args.n_saliency], 100.0, args.seed + 4242)
    names = list(model.label_space.names)
    t0 = time.perf_counter()
    sal = saliency(
        model.flux_function(),
        f,
        method="integrated_gradients",
        steps=32,
        wave=wave,
        output_names=names,
        chunk_size=2,  # 2 spectra × 32 steps at a time bounds the memory
    )
    secs = time.perf_counter() - t0
    fe = line_positions(wave[0], wave[-1], species="Fe")
    every = line_positions(wave[0], wave[-1])
    balmer = balmer_lines(wave[0], wave[-1])
    out = {
        "n_spectra": int(len(f)),
        "seconds": secs,
        "n_fe_lines": int(len(fe.wave)),
        "n_lines": int(len(every.wave)),
        "enrichment": {},
    }
    checks = [
        ("feh", "Fe lines", fe.wave, {"resolution": res}),
        ("teff", "Balmer lines", balmer.wave, {"window_aa": args.balmer_window}),
        ("teff", "all listed lines", every.wave, {"resolution": res}),
        ("teff", "Fe lines", fe.wave, {"resolution": res}),
        ("logg", "all listed lines", every.wave, {"resolution": res}),
    ]
    for label, what, lines, window in checks:
        if label not in names:
            continue
        e = line_enrichment(sal, wave, label, lines, top_fraction=0.01, **window)
        out["enrichment"][f"{label} on {what}"] = {
            "factor": float(e.factor),
            "top_on_lines": float(e.top_on_lines),
            "chance": float(e.chance),
            "p_value": float(e.p_value),
        }
        log(
            f"saliency: top 1% {label} pixels on {what}: {e.top_on_lines:.3f} vs chance "
            f"{e.chance:.3f} -> enrichment {e.factor:.2f}"
        )
    plot_saliency(
        sal,
        wave,
        outputs=names,
        lines={"Fe": fe.wave, "Balmer": balmer.wave},
        flux=f[0],
        path=Path(args.out + "_saliency.png"),
    )
    return out


# ---------------------------------------------------------------------------------------
# reporting


def regression_markdown(results: dict, names: list[str], units: dict[str, str]) -> str:
    lines = []
    for name in names:
        lines.append(
            f"\n**{name}** [{units.get(name, '')}]: robust scatter / bias / MAE "
            "(fraction with |err|/σ < 1)\n"
        )
        lines.append("| method | " + " | ".join(f"S/N {s}" for s in SNRS) + " |")
        lines.append("|---|" + "---|" * len(SNRS))
        for method, r in results.items():
            cells = []
            for s in SNRS:
                st = r["stats"][str(s)][name]
                cell = f"{st['robust_scatter']:.3g} / {st['bias']:+.2g} / {st['mae']:.3g}"
                if "frac_within_1sigma" in st:
                    cell += f" ({st['frac_within_1sigma']:.2f})"
                cells.append(cell)
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines.append("\n**Throughput** (this run, same machine)\n")
    lines.append(
        "| method | training wall [s] | training spectra | test spectra per S/N "
        "| prediction [spectra/s] (S/N 50) |"
    )
    lines.append("|---|---|---|---|---|")
    for method, r in results.items():
        lines.append(
            f"| {method} | {r['train_seconds']:.1f} | {r['n_train']} | {r['n_test']} | "
            f"{r['predict_spectra_per_s']['50']:.4g} |"
        )
    return "\n".join(lines)


def classification_markdown(c: dict) -> str:
    from jaxspec.labels import MK_CLASSES

    lines = [
        "\n**Classification** (held-out spectra, noise only)\n",
        "| S/N | MK accuracy | subclass ±1 | luminosity class | ECE MK (T = 1) "
        "| ECE lum (T = 1) | spectra/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in SNRS:
        e = c["per_snr"][s] if s in c["per_snr"] else c["per_snr"][str(s)]
        lines.append(
            f"| {s} | {e['mk_accuracy']:.3f} | {e['subclass_within_1']:.3f} | "
            f"{e['luminosity_accuracy']:.3f} | "
            f"{e['ece_mk']:.3f} ({e['ece_mk_uncalibrated']:.3f}) | "
            f"{e['ece_lum']:.3f} ({e['ece_lum_uncalibrated']:.3f}) | "
            f"{e['predict_spectra_per_s']:.4g} |"
        )
    e = c["per_snr"][20] if 20 in c["per_snr"] else c["per_snr"]["20"]
    lines.append("\nMK-class confusion matrix at S/N 20 (rows: true, columns: predicted)\n")
    lines.append("| | " + " | ".join(MK_CLASSES) + " |")
    lines.append("|---|" + "---|" * len(MK_CLASSES))
    for name, row in zip(MK_CLASSES, e["confusion_mk"], strict=True):
        lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines)


def plot_errors(results: dict, names: list[str], units: dict[str, str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.8), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        for method, r in results.items():
            y = [r["stats"][str(s)][name]["robust_scatter"] for s in SNRS]
            ax.plot(SNRS, y, "o-", label=method, ms=3)
        if name in ASTRONN:
            ax.plot(ASTRONN["snr"], ASTRONN[name], "k*", ms=9, label="astroNN BCNN (APOGEE)")
        for snr, tgt in TARGETS.items():
            if name in tgt:
                ax.plot([snr], [tgt[name]], "rv", ms=7, label="target (CNN)" if snr == 50 else None)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("S/N per pixel")
        ax.set_ylabel(f"robust scatter [{units.get(name, '')}]")
        ax.set_title(name)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_regression(args: argparse.Namespace, report: dict, md: list[str]) -> None:
    flux, labels, wave, space, res, records, free = load_pool(args.grids)
    lab = labels[:, free]
    names = list(space.names)
    units = dict(zip(names, space.units, strict=True))
    tr, te = split(len(flux), args.n_test, args.seed)
    if args.max_train:
        tr = tr[: args.max_train]
    train = (flux[tr], lab[tr])
    te_sets = {s: noisy(flux[te], s, args.seed + 1000 + s) for s in SNRS}
    truth = lab[te]

    raw: dict[str, dict] = {}
    cnn_model = None
    if "cannon" in args.methods:
        log("training the jaxspec Cannon")
        raw["Cannon (jaxspec)"] = run_cannon(train, te_sets, wave, space, args)
    if "cnn" in args.methods:
        log("training the CNN ensemble")
        raw["CNN ensemble (jaxspec)"], cnn_model = run_cnn(
            train, None, te_sets, wave, space, res, args
        )
    if "sklearn" in args.methods:
        raw.update(run_sklearn_peers(train, te_sets, space, args))
    if "thecannon" in args.methods:
        log("training thecannon (annieslasso)")
        r = run_thecannon(train, te_sets, wave, space, args)
        if r is not None:
            raw["thecannon (annieslasso)"] = r

    results = {}
    for method, r in raw.items():
        stats = {
            str(s): error_stats(pred, truth[: len(pred)], sig, names)
            for s, (pred, sig, _) in r["predict"].items()
        }
        results[method] = {
            "train_seconds": r["train_seconds"],
            "n_train": r["n_train"],
            "n_test": int(len(next(iter(r["predict"].values()))[0])),
            "predict_spectra_per_s": {
                str(s): len(pred) / max(dt, 1e-9) for s, (pred, _, dt) in r["predict"].items()
            },
            "stats": stats,
        }
    report.update(
        {
            "grids": records,
            "labels": names,
            "n_train": int(len(tr)),
            "n_test": int(len(te)),
            "regression": results,
            "targets_cnn": {str(k): v for k, v in TARGETS.items()},
            "astronn_reference": ASTRONN,
        }
    )
    md.append(regression_markdown(results, names, units))
    if results:
        plot_errors(results, names, units, Path(args.out + ".png"))
    if cnn_model is not None:
        report["saliency"] = run_saliency(cnn_model, flux[te], wave, res, args)
        md.append("\n**Saliency (CNN, integrated gradients, S/N 100)**: top 1 % pixels\n")
        md.append("| label on lines | on lines | chance | enrichment | p |")
        md.append("|---|---|---|---|---|")
        for k, e in report["saliency"]["enrichment"].items():
            md.append(
                f"| {k} | {e['top_on_lines']:.3f} | {e['chance']:.3f} | "
                f"{e['factor']:.2f} | {e['p_value']:.2g} |"
            )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--grids", nargs="*", default=[], help="regression grid files")
    p.add_argument("--class-grids", nargs="*", default=[], help="classification grid files")
    p.add_argument("--n-test", type=int, default=512)
    p.add_argument("--max-train", type=int, default=0, help="use at most this many (smoke)")
    p.add_argument("--cnn-members", type=int, default=3)
    p.add_argument("--cnn-epochs", type=int, default=40)
    p.add_argument("--cnn-patience", type=int, default=8)
    p.add_argument("--class-epochs", type=int, default=100)
    p.add_argument("--class-patience", type=int, default=15)
    p.add_argument("--class-test-fraction", type=float, default=0.2)
    p.add_argument("--pca", type=int, default=50)
    p.add_argument("--methods", nargs="+", default=["cannon", "cnn", "sklearn", "thecannon"])
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="thecannon processes (1: annieslasso 0.2.96's worker pool fails to unpickle "
        "its vectorizer and hangs)",
    )
    p.add_argument("--n-saliency", type=int, default=32)
    p.add_argument(
        "--thecannon-n-test",
        type=int,
        default=128,
        help="test spectra per S/N for thecannon (its test step is a scipy fit per star)",
    )
    p.add_argument("--balmer-window", type=float, default=10.0, help="± Å around Balmer lines")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work-dir", default="bench_accuracy_work")
    p.add_argument("--out", default=str(RESULTS / "bench_accuracy_vs_snr"))
    args = p.parse_args(argv)
    Path(args.work_dir).mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(exist_ok=True)
    t_start = time.perf_counter()

    report: dict[str, Any] = {"machine": machine_info(), "args": vars(args)}
    md = ["# Accuracy versus S/N"]
    if args.grids:
        run_regression(args, report, md)
    if args.class_grids:
        report["classification"] = run_classification(args)
        md.append(classification_markdown(report["classification"]))
    report["total_seconds"] = time.perf_counter() - t_start
    text = "\n".join(md)
    print(text)
    Path(args.out + ".md").write_text(text + "\n")
    Path(args.out + ".json").write_text(json.dumps(report, indent=1, default=float) + "\n")
    log(f"wrote {args.out}.json/.md/.png in {report['total_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
