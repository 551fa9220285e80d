"""Tests of the fit figures (jaxspec.infer.plots), on results built without a fit."""

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("corner")

from jaxspec.infer import ForwardModel, MapResult, Params, SampleResult  # noqa: E402
from jaxspec.infer.forward import parameter_names  # noqa: E402
from jaxspec.infer.plots import format_estimate, plot_corner, plot_fit  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"
TRUTH = np.array([[5200.0, 3.2, -0.4, 0.1], [6000.0, 4.3, -1.0, 0.3]])
RV = np.array([25.0, -60.0])


@pytest.fixture(scope="module")
def setup():
    """Two simulated stars, a MapResult at the truth and a SampleResult of Gaussian draws."""
    import jax

    from jaxspec.emulators import load_default

    emulator = load_default().crop(5150, 5250)
    model = ForwardModel(emulator, continuum_order=1)
    cont = np.broadcast_to([[1.0, 0.03]], (2, 1, 2))
    p = Params(TRUTH, RV, np.zeros(2), cont)
    spectra = model.simulate(p, emulator.wave, 40.0, jax.random.key(3))
    # A masked stretch, to be shaded in the figure.
    mask = np.array(spectra.mask)
    mask[:, 200:240] = True
    spectra = spectra.with_mask(mask)
    names = parameter_names(model)
    # Continuum coefficients are in units of the median flux the fit divides by.
    scale = np.asarray(model.prepare(spectra)[0].scale)
    theta = np.concatenate([TRUTH, RV[:, None], cont.reshape(2, -1) / scale[:, None]], axis=1)
    sd = np.array([30.0, 0.05, 0.03, 0.03, 0.5, 1e-3, 1e-3])
    cov = np.broadcast_to(np.diag(sd**2), (2, len(names), len(names))).copy()
    n = 2
    result = MapResult(
        model=model,
        names=names,
        theta=theta,
        cov=cov,
        log_post=np.zeros(n),
        chi2=np.full(n, 500.0),
        n_good=np.full(n, 480),
        converged=np.ones(n, bool),
        hessian_ok=np.ones(n, bool),
        at_edge=np.zeros(n, bool),
        n_iter=np.full(n, 5),
        rv_ccf=RV,
        ccf_peak=np.ones(n),
        starts_agree=np.full(n, 3),
        messages=["", ""],
        object_ids=["star A", "star B"],
        flux_scale=scale,
    )
    rng = np.random.default_rng(1)
    samples = theta[:, None, None, :] + sd * rng.standard_normal((n, 2, 300, len(names)))
    sampled = SampleResult(
        model=model,
        method="nuts",
        names=names,
        samples=samples,
        divergences=np.zeros(n, int),
        r_hat=np.ones((n, len(names))),
        ess=np.full((n, len(names)), 600.0),
        num_steps=np.full(n, 7.0),
        map=result,
        wall_time=1.0,
    )
    return spectra, result, sampled


def test_plot_fit_writes_png_with_flux_and_residual_panels(setup, tmp_path):
    spectra, result, _ = setup
    path = tmp_path / "fit.png"
    fig = plot_fit(result, spectra, index=1, path=path)
    assert path.read_bytes()[:8] == PNG
    assert not list(tmp_path.glob(".*"))  # no temporary file left beside it
    top, bottom = fig.axes
    assert "star B" in top.get_title() and "MAP model" in [t.get_text() for t in top.texts] + [
        h.get_label() for h in top.get_lines()
    ]
    assert top.get_ylabel() == "normalised flux"
    assert "model" in bottom.get_ylabel() and "wavelength" in bottom.get_xlabel()
    # The model follows the data: residuals at the truth are unit-variance noise.
    resid = bottom.get_lines()[0].get_ydata()
    resid = resid[np.isfinite(resid)]
    assert resid.size > 200 and 0.8 < np.std(resid) < 1.2 and abs(np.mean(resid)) < 0.2
    assert len(top.collections) >= 1  # the shaded masked stretch


def test_plot_fit_of_samples_and_flux_units(setup, tmp_path):
    spectra, result, sampled = setup
    scaled = spectra.with_flux(np.asarray(spectra.flux) * 1e-15, np.asarray(spectra.ivar) * 1e30)
    scaled = scaled.with_meta(flux_unit="erg / (s cm2 Angstrom)")
    with pytest.raises(ValueError, match="not the spectra that were fitted"):
        plot_fit(sampled, scaled)
    result = MapResult(**{**result.__dict__, "flux_scale": result.flux_scale * 1e-15})
    sampled = SampleResult(**{**sampled.__dict__, "map": result})
    fig = plot_fit(sampled, scaled, wave_range=(5180, 5200))
    top = fig.axes[0]
    labels = [line.get_label() for line in top.get_lines()]
    assert "posterior-mean model" in labels
    model_line = top.get_lines()[labels.index("posterior-mean model")]
    # Flux in the units of the spectra given: the model is multiplied back by their scale.
    assert top.get_ylabel() == "flux [erg / (s cm2 Angstrom)]"
    assert 0.5e-15 < np.nanmedian(model_line.get_ydata()) < 1.5e-15
    assert np.nanmax(model_line.get_xdata()) <= 5200 and np.nanmin(model_line.get_xdata()) >= 5180


def test_plot_corner_has_label_and_rv_panels_with_units(setup, tmp_path):
    _, result, sampled = setup
    path = tmp_path / "corner.png"
    fig = plot_corner(sampled, index=0, truths=TRUTH[0], path=path)
    assert path.read_bytes()[:8] == PNG
    assert len(fig.axes) == 25  # teff, logg, feh, alpha, rv
    xlabels = [ax.get_xlabel() for ax in fig.axes[-5:]]
    assert xlabels[0] == r"$T_\mathrm{eff}$ [K]" and xlabels[-1] == "RV [km/s]"
    assert "[dex]" in xlabels[1]
    assert "±" in fig.axes[0].get_title()
    # A MapResult is drawn from its Laplace approximation; truths may be a mapping.
    fig = plot_corner(result, index=1, truths={"teff": 6000.0, "rv": -60.0})
    assert "Laplace" in fig._suptitle.get_text()


def test_plot_errors(setup, tmp_path):
    spectra, result, _ = setup
    with pytest.raises(IndexError, match="out of range"):
        plot_fit(result, spectra, index=5)
    with pytest.raises(ValueError, match="image format"):
        plot_fit(result, spectra, path=tmp_path / "fit.xyz")
    assert not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="6 truths for 5"):
        plot_corner(result, truths=np.zeros(6))
    unfit = MapResult(**{**result.__dict__, "messages": ["no usable pixels", ""]})
    with pytest.raises(ValueError, match="not fitted: no usable pixels"):
        plot_fit(unfit, spectra)


def test_format_estimate():
    assert format_estimate(4624.69, 12.3) == "4625 ± 12"
    assert format_estimate(2.45927, 0.0311) == "2.459 ± 0.031"
    assert format_estimate(np.nan, 1.0) == "nan"


def test_missing_matplotlib_says_how_to_install():
    code = (
        "import sys; sys.modules['matplotlib'] = None; sys.modules['matplotlib.figure'] = None\n"
        "from jaxspec.infer.plots import plot_fit\n"
        "try:\n    plot_fit(None, None)\nexcept ImportError as e:\n    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "pip install 'jaxspec-stellar[plot]'" in done.stdout, done.stderr
