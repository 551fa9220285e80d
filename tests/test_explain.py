"""Tests of jaxspec.explain: saliency, integrated gradients, line positions and enrichment."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxspec import explain
from jaxspec.explain import (
    Saliency,
    balmer_lines,
    line_enrichment,
    line_positions,
    plot_saliency,
    saliency,
)


@pytest.fixture
def linear(rng):
    w = rng.normal(size=(3, 40))
    x = 1.0 + 0.1 * rng.normal(size=(5, 40))
    return w, x


# ---------------------------------------------------------------------------------- saliency


def test_gradient_of_linear_model_is_w(linear):
    w, x = linear
    f = lambda flux: jnp.asarray(w) @ flux  # noqa: E731
    sal = saliency(f, x, output_names=("teff", "logg", "feh"))
    assert sal.values.shape == (5, 3, 40) and sal.method == "gradient"
    np.testing.assert_allclose(sal.values, np.broadcast_to(w, (5, 3, 40)), rtol=1e-12)
    np.testing.assert_allclose(sal.mean_abs(), np.abs(w), rtol=1e-12)
    np.testing.assert_allclose(sal.output, x @ w.T, rtol=1e-12)
    assert sal.completeness_gap is None
    top = sal.top_pixels("feh", fraction=0.1)
    assert top.tolist() == np.argsort(-np.abs(w[2]))[:4].tolist()
    one = saliency(f, x[0])
    assert one.values.shape == (3, 40) and one.output.shape == (3,)
    np.testing.assert_allclose(one.magnitude, np.abs(w), rtol=1e-12)


def test_integrated_gradients_of_linear_model_are_exact(linear):
    w, x = linear
    f = lambda flux: jnp.asarray(w) @ flux  # noqa: E731
    sal = saliency(f, x, method="integrated_gradients", steps=3)
    np.testing.assert_allclose(sal.values, w[None] * (x - 1.0)[:, None, :], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(sal.completeness_gap, 0.0, atol=1e-12)
    base = np.full(40, 0.5)
    sal = saliency(f, x, method="integrated_gradients", baseline=base, steps=1)
    np.testing.assert_allclose(sal.values, w[None] * (x - base)[:, None, :], rtol=1e-12)
    np.testing.assert_allclose(sal.baseline_output, np.broadcast_to(w @ base, (5, 3)), rtol=1e-12)
    one = saliency(f, x[0], method="ig", steps=2)
    assert one.values.shape == (3, 40) and one.completeness_gap.shape == (3,)


def test_integrated_gradients_completeness_converges(rng):
    w1 = jnp.asarray(rng.normal(size=(16, 40)) / 2)
    w2 = jnp.asarray(rng.normal(size=(2, 16)))
    f = lambda flux: w2 @ jnp.tanh(w1 @ (flux - 1.0) + 0.3)  # noqa: E731
    x = 1.0 + 0.3 * rng.normal(size=(4, 40))
    gaps = []
    for steps in (2, 8, 32):
        sal = saliency(f, x, method="integrated_gradients", steps=steps)
        gaps.append(float(np.max(np.abs(sal.completeness_gap))))
    delta = float(np.max(np.abs(sal.output - sal.baseline_output)))
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 1e-3 * delta
    # the midpoint rule converges as 1/steps²
    assert gaps[1] / gaps[2] > 8


def test_chunked_matches_vmapped_and_compiles_once(rng):
    traces = []
    w = jnp.asarray(rng.normal(size=(2, 30)))

    def f(flux):
        traces.append(1)
        return jnp.tanh(w @ flux)

    x = 1.0 + 0.1 * rng.normal(size=(7, 30))
    a = saliency(f, x, method="ig", steps=4)
    n_traces = len(traces)
    b = saliency(f, x + 0.01, method="integrated_gradients", steps=4)
    assert len(traces) == n_traces  # same f and shapes: no retrace
    c = saliency(f, x, method="ig", steps=4, chunk_size=3)
    np.testing.assert_allclose(c.values, a.values, rtol=1e-9)
    assert not np.allclose(b.values, a.values)
    leaves = jax.tree_util.tree_leaves(a)
    assert len(leaves) == 3 and isinstance(a, Saliency)


# ---------------------------------------------------------------------------- enrichment


def test_enrichment_counts_by_hand():
    wave = np.arange(100.0) + 5000.0
    score = np.zeros(100)
    score[[10, 50]] = [2.0, 1.0]
    e = line_enrichment(score, wave, 0, [5010.0, 5030.0], top_fraction=0.02, window_aa=0.5)
    assert (e.n_top, e.n_top_on_lines, e.n_pix, e.n_pix_on_lines) == (2, 1, 100, 2)
    assert e.top_on_lines == 0.5 and e.chance == 0.02 and e.factor == pytest.approx(25.0)
    assert 0 < e.p_value < 0.05
    e = line_enrichment(score, wave, 0, [5010.0, 5030.0], top_fraction=0.02, window_pix=1)
    assert e.n_pix_on_lines == 6
    for window in ({"resolution": 5010.0}, {"window_kms": 299_792.458 * 0.5 / 5010}):
        e = line_enrichment(score, wave, 0, [5010.0, 5030.0], top_fraction=0.02, **window)
        assert e.n_pix_on_lines == 2 and e.n_top_on_lines == 1


def test_enrichment_on_model_lines_and_chance(rng):
    wave = np.linspace(5000.0, 5200.0, 4001)  # 0.05 Å pixels
    lines = np.sort(rng.uniform(5005, 5195, size=30))
    near = np.abs(wave[:, None] - lines[None]) <= 0.1  # ±2 pixels
    weights = jnp.asarray(near.T * rng.uniform(0.5, 1.5, size=(30, 1)))
    f = lambda flux: jnp.atleast_1d(jnp.sum(jnp.sin(weights @ flux)))  # noqa: E731
    x = 1.0 - 0.2 * rng.uniform(size=(3, wave.size))
    sal = saliency(f, x, wave=wave)
    e = line_enrichment(sal, None, 0, lines, top_fraction=0.02, window_aa=0.1)
    assert e.factor > 5 and e.top_on_lines == 1.0 and e.p_value < 1e-10
    factors = [
        line_enrichment(
            sal, wave, 0, rng.uniform(5000, 5200, size=30), top_fraction=0.02, window_aa=0.1
        ).factor
        for _ in range(40)
    ]
    assert abs(np.mean(factors) - 1.0) < 0.35


# ---------------------------------------------------------------------------- line lists


def test_line_positions_fe_i():
    fe = line_positions(5150, 5350, species="Fe I")
    assert len(fe.wave) > 20
    assert np.all((fe.wave >= 5150) & (fe.wave <= 5350)) and np.all(np.diff(fe.wave) >= 0)
    assert set(fe.species) == {"Fe I"}
    k = np.argmin(np.abs(fe.wave - 5271.0))
    assert abs(fe.wave[k] - 5271.0) < 0.02 and fe.name[k] == "Fe I 5269.54"
    assert fe.strength[k] > 3 and np.all(fe.strength >= 0.0)
    strong = line_positions(5150, 5350, species="Fe I", min_strength=2.0)
    assert set(strong.wave) < set(fe.wave) and np.min(np.abs(strong.wave - 5271.0)) < 0.02
    every = line_positions(5150, 5350, species="Fe", min_strength=None)
    assert {"Fe I", "Fe II"} <= set(every.species) and len(every.wave) > len(fe.wave)


def test_line_positions_species_and_ranking():
    mgfe = line_positions(5150, 5350, species=("Mg I", "fe"))
    assert set(mgfe.species) <= {"Mg I", "Fe I", "Fe II"} and "Mg I" in set(mgfe.species)
    # Mg b 5172.68, 5183.60 (air) are among the strongest lines of the window
    mg = mgfe.wave[mgfe.species == "Mg I"]
    for vac in (5174.12, 5185.05):
        assert np.min(np.abs(mg - vac)) < 0.02
    allsp = line_positions(5150, 5350)
    top = allsp.species[np.argsort(-allsp.strength)[:15]]
    assert set(top) <= {"Fe I", "Mg I", "Cr I", "Ca I", "Ti I", "Fe II", "Ni I"}
    with pytest.raises(ValueError, match="unknown species 'Xx I'"):
        line_positions(5150, 5350, species="Xx I")
    with pytest.raises(ValueError, match="wave_min < wave_max"):
        line_positions(5350, 5150)


def test_balmer_lines():
    b = balmer_lines(4200, 6800)
    assert b.name.tolist() == ["Hγ", "Hβ", "Hα"]
    np.testing.assert_allclose(b.wave, [4341.68, 4862.68, 6564.61])
    assert len(balmer_lines().wave) == 5 and set(b.species) == {"H I"}


# ---------------------------------------------------------------------------------- plot


def test_plot_saliency_writes_png(tmp_path, linear):
    pytest.importorskip("matplotlib")
    w, x = linear
    wave = np.linspace(5150, 5350, 40)
    sal = saliency(lambda flux: jnp.asarray(w) @ flux, x, wave=wave, output_names="abc")
    path = tmp_path / "saliency.png"
    fig = plot_saliency(
        sal,
        outputs=["a", 2],
        lines={"Fe": line_positions(5150, 5350, species="Fe"), "H": [5200.0, 9000.0]},
        flux=x,
        path=path,
    )
    assert path.stat().st_size > 1000 and len(fig.axes) == 3
    with pytest.raises(ValueError, match="need 3 Axes"):
        plot_saliency(sal, outputs=[0, 1], flux=x, ax=fig.axes[:2])


# ------------------------------------------------------------------- a real-ish regressor


def test_ridge_feh_saliency_falls_on_fe_lines(rng):
    from jaxspec.emulators import load_default

    em = load_default().crop(5150, 5350)
    lo, hi = np.asarray(em.label_space.lower), np.asarray(em.label_space.upper)
    labels = lo + (hi - lo) * rng.uniform(size=(500, 4))
    flux = np.asarray(em.predict(labels)) + 0.01 * rng.normal(size=(500, em.n_pix))
    xc, feh = flux - flux.mean(0), labels[:, 2] - labels[:, 2].mean()
    coef = np.linalg.solve(xc.T @ xc + 0.5 * np.eye(em.n_pix), xc.T @ feh)
    f = lambda x: jnp.atleast_1d(jnp.asarray(coef) @ (x - flux.mean(0)) + labels[:, 2].mean())  # noqa: E731
    sal = saliency(f, flux[:20], wave=em.wave, output_names=["feh"])
    fe = line_positions(5150, 5350, species="Fe")
    for fraction in (0.01, 0.05):
        e = line_enrichment(sal, None, "feh", fe, top_fraction=fraction, resolution=em.resolution)
        assert e.factor > 1.5 and e.p_value < 1e-3, e


# -------------------------------------------------------------------------------- errors


def test_bad_inputs_raise_clearly(linear):
    w, x = linear
    f = lambda flux: jnp.asarray(w) @ flux  # noqa: E731
    with pytest.raises(ValueError, match="NaN/inf.*set masked or bad pixels to 1"):
        saliency(f, np.where(np.arange(40) == 3, np.nan, x))
    with pytest.raises(ValueError, match=r"shape \(n_pix,\) or \(n, n_pix\)"):
        saliency(f, x[None])
    with pytest.raises(ValueError, match=r"wave of shape \(40,\)"):
        saliency(f, x, wave=np.arange(39.0))
    with pytest.raises(ValueError, match="baseline must be"):
        saliency(f, x, method="integrated_gradients", baseline=np.ones(39))
    with pytest.raises(ValueError, match="unknown method 'saliency'"):
        saliency(f, x, method="saliency")
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        saliency(f, x, method="integrated_gradients", steps=0)
    with pytest.raises(ValueError, match="f must return a 1-D array.*atleast_1d"):
        saliency(lambda flux: jnp.sum(flux), x)
    with pytest.raises(ValueError, match="f must return a 1-D array"):
        saliency(lambda flux: jnp.outer(flux, flux), x)
    with pytest.raises(ValueError, match="3 outputs but 2 output_names"):
        saliency(f, x, output_names=["a", "b"])
    with pytest.raises(TypeError, match="callable"):
        saliency("model", x)
    sal = saliency(f, x)
    with pytest.raises(ValueError, match="unknown output 'vsini'"):
        sal.top_pixels("vsini")
    with pytest.raises(ValueError, match="no wavelengths"):
        line_enrichment(sal, None, 0, [5000.0])
    with pytest.raises(ValueError, match="give one window"):
        line_enrichment(sal, np.arange(40.0), 0, [5.0], window_aa=1, resolution=5)
    with pytest.raises(ValueError, match="no pixel .* lies within a window"):
        line_enrichment(sal, np.arange(40.0) + 5000, 0, [7000.0])


def test_import_is_light():
    import subprocess
    import sys

    code = "import sys, jaxspec.explain; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert explain.__all__ and "saliency" in explain.__all__
