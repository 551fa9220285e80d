"""Tests of jaxspec.regress.Cannon on spectra drawn from the Cannon's own model.

The shared data: 3 labels, 200 pixels, a quadratic model with known θ (half of the
non-constant coefficients exactly zero) and known intrinsic scatter (zero at half the
pixels). Shapes are kept equal across tests (1000 training stars, test chunks of 100) so
the compiled training and test programs are reused.
"""

from __future__ import annotations

import h5py
import jax
import numpy as np
import pytest

from jaxspec import FileFormatError, LabelRangeError, SpectrumValidationError
from jaxspec._modelfile import write_model_file
from jaxspec.labels import LabelSpace
from jaxspec.regress import Cannon, CannonResult, _cannon_fit, load_cannon, save_cannon

SPACE = LabelSpace(
    names=("teff", "logg", "feh"),
    units=("K", "dex(cm / s2)", "dex"),
    lower=(4000.0, 1.0, -2.0),
    upper=(7000.0, 5.0, 0.5),
)
N_PIX = 200
N_TRAIN = 1000
SNR_TRAIN = 200.0
CHUNK = 100


def _draw(rng: np.random.Generator, n: int) -> np.ndarray:
    lo, hi = np.array(SPACE.lower), np.array(SPACE.upper)
    return lo + (hi - lo) * (0.1 + 0.8 * rng.random((n, SPACE.n_labels)))


class Truth:
    """A Cannon with known coefficients and scatter, and spectra drawn from it."""

    def __init__(self) -> None:
        rng = np.random.default_rng(42)
        self.train_labels = _draw(rng, N_TRAIN)
        t = Cannon(SPACE).n_terms
        theta = rng.normal(0.0, 0.05, (N_PIX, t))
        theta[:, 0] = 1.0 + rng.normal(0.0, 0.02, N_PIX)
        theta[:, 1:][rng.random((N_PIX, t - 1)) < 0.5] = 0.0
        self.scatter = np.where(rng.random(N_PIX) < 0.5, 0.0, rng.uniform(0.01, 0.03, N_PIX))
        self.model = Cannon(
            SPACE,
            theta=theta,
            scatter=self.scatter,
            label_offset=self.train_labels.mean(0),
            label_scale=self.train_labels.std(0),
            label_quantiles=np.quantile(self.train_labels, np.linspace(0, 1, 21), axis=0),
        )
        self.rng = rng

    def spectra(self, labels: np.ndarray, snr: float, scatter: bool = True) -> tuple:
        clean = np.asarray(self.model.flux(labels))
        sd = np.sqrt(1.0 / snr**2 + (self.scatter**2 if scatter else 0.0))
        flux = clean + self.rng.normal(size=clean.shape) * sd
        return flux, np.full_like(flux, snr**2)


@pytest.fixture(scope="module")
def truth() -> Truth:
    return Truth()


@pytest.fixture(scope="module")
def noisy(truth: Truth) -> dict:
    """Training spectra with noise and intrinsic scatter, and the Cannon trained on them."""
    flux, ivar = truth.spectra(truth.train_labels, SNR_TRAIN)
    model = Cannon(SPACE).fit(truth.train_labels, flux, ivar, wave=np.linspace(5000, 5100, N_PIX))
    return {"flux": flux, "ivar": ivar, "model": model}


@pytest.fixture(scope="module")
def test_set(truth: Truth) -> dict:
    labels = _draw(truth.rng, 3 * CHUNK)
    flux, ivar = truth.spectra(labels, 50.0)
    return {"labels": labels, "flux": flux, "ivar": ivar}


@pytest.fixture(scope="module")
def result(noisy: dict, test_set: dict) -> CannonResult:
    return noisy["model"].predict(test_set["flux"], test_set["ivar"], chunk_size=CHUNK)


# ---- vectorizer --------------------------------------------------------------------------


def test_terms_and_generative_model(truth: Truth) -> None:
    model = Cannon(SPACE.subset(["teff", "logg"]))
    assert model.term_names == ("1", "teff", "logg", "teff^2", "teff*logg", "logg^2")
    assert Cannon(SPACE, order=3).n_terms == 20
    m = truth.model
    labels = _draw(np.random.default_rng(0), 5)
    x = (labels - m.label_offset) / m.label_scale
    v = np.asarray(m.design_matrix(labels))
    expected = np.column_stack(
        [np.ones(5), x, x[:, 0] ** 2, x[:, 0] * x[:, 1], x[:, 0] * x[:, 2], x[:, 1] ** 2,
         x[:, 1] * x[:, 2], x[:, 2] ** 2]
    )  # fmt: skip
    np.testing.assert_allclose(v, expected, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(m.flux(labels)), v @ m.theta.T, rtol=1e-12)
    assert m.flux(labels[0]).shape == (N_PIX,)


# ---- the required exactness test ---------------------------------------------------------


def test_recovers_labels_of_noise_free_spectra(truth: Truth) -> None:
    """Noise-free spectra of the Cannon's own model: θ and labels come back to 1e-6."""
    with jax.enable_x64(True):
        clean = np.asarray(truth.model.flux(truth.train_labels))
        ivar = np.full_like(clean, SNR_TRAIN**2)
        model = Cannon(SPACE).fit(truth.train_labels, clean, ivar)
        np.testing.assert_allclose(model.theta, truth.model.theta, atol=1e-9)
        assert np.all(model.scatter == 0.0)
        labels = _draw(np.random.default_rng(7), CHUNK)
        flux = np.asarray(truth.model.flux(labels))
        res = model.predict(flux, np.full_like(flux, 1e4), chunk_size=CHUNK)
    assert res.labels.dtype == np.float64
    np.testing.assert_allclose(res.labels, labels, rtol=1e-6)
    assert np.all(np.abs(res.labels - labels) / model.label_scale < 1e-6)
    assert res.converged.all()
    assert np.all(res.chi2_red < 1e-12)


# ---- training ----------------------------------------------------------------------------


def test_training_recovers_theta_and_scatter(truth: Truth, noisy: dict) -> None:
    model = noisy["model"]
    assert model.is_trained and model.theta.shape == (N_PIX, model.n_terms)
    assert model.training["n_train"] == N_TRAIN
    # θ within 5 standard errors (from the true noise + scatter) for all 2000 coefficients
    # (the truth uses the same label standardisation, so θ compare directly)
    np.testing.assert_allclose(model.label_scale, truth.model.label_scale)
    v = np.asarray(truth.model.design_matrix(truth.train_labels))
    pulls = []
    for p in range(N_PIX):
        w = 1.0 / (1.0 / SNR_TRAIN**2 + truth.scatter[p] ** 2)
        se = np.sqrt(np.diag(np.linalg.inv(w * v.T @ v)))
        pulls.append((model.theta[p] - truth.model.theta[p]) / se)
    pulls = np.asarray(pulls)
    assert np.abs(pulls).max() < 5.0
    assert 0.85 < pulls.std() < 1.15
    # intrinsic scatter: a few per cent where present, below half the noise where absent
    has = truth.scatter > 0
    rel = model.scatter[has] / truth.scatter[has] - 1.0
    assert np.median(np.abs(rel)) < 0.05
    assert np.abs(rel).max() < 0.2
    assert np.all(model.scatter[~has] < 0.5 / SNR_TRAIN)


def test_training_matches_direct_likelihood_maximum(truth: Truth) -> None:
    """With unequal noise and masked pixels, no nearby (θ, s) has a higher likelihood."""
    rng = np.random.default_rng(3)
    labels = truth.train_labels[:300]
    snr = rng.uniform(20.0, 300.0, (300, 1)) * np.ones((1, 8))
    clean = np.asarray(truth.model.flux(labels))[:, :8]
    flux = clean + rng.normal(size=clean.shape) * np.sqrt(1 / snr**2 + truth.scatter[:8] ** 2)
    ivar = snr**2
    ivar[rng.random(ivar.shape) < 0.1] = 0.0
    flux[rng.random(flux.shape) < 0.02] = np.nan  # NaN flux is masked
    model = Cannon(SPACE).fit(labels, flux, ivar)
    v = np.asarray(model.design_matrix(labels))

    def nll(theta: np.ndarray, s: float, p: int) -> float:
        ok = (ivar[:, p] > 0) & np.isfinite(flux[:, p])
        d = 1.0 / ivar[ok, p] + s**2
        r = flux[ok, p] - v[ok] @ theta
        return 0.5 * np.sum(r * r / d + np.log(d))

    for p in range(8):
        best = nll(model.theta[p], model.scatter[p], p)
        for _ in range(20):
            dt = rng.normal(0.0, 1e-4, model.n_terms)
            ds = rng.normal(0.0, 1e-4)
            assert best <= nll(model.theta[p] + dt, abs(model.scatter[p] + ds), p) + 1e-9


# ---- test step ---------------------------------------------------------------------------


def test_uncertainties_are_calibrated(test_set: dict, result: CannonResult) -> None:
    assert result.converged.all()
    pulls = (result.labels - test_set["labels"]) / result.errors
    assert np.all((pulls.std(axis=0) > 0.8) & (pulls.std(axis=0) < 1.25))
    assert np.all(np.abs(pulls.mean(axis=0)) < 0.25)
    assert np.all(np.abs(result.chi2_red - 1.0) < 0.4)
    np.testing.assert_allclose(
        np.sqrt(np.diagonal(result.covariance, axis1=1, axis2=2)), result.errors
    )


def test_result_table(result: CannonResult) -> None:
    t = result.to_table()
    assert t.colnames[:6] == ["teff", "teff_err", "logg", "logg_err", "feh", "feh_err"]
    assert {"chi2_red", "converged"} <= set(t.colnames)
    assert str(t["teff"].unit) == "K" and str(t["logg_err"].unit) == "dex(cm / s2)"
    np.testing.assert_array_equal(np.asarray(t["feh"]), result.labels[:, 2])


def test_one_compilation_for_many_chunks(noisy: dict, test_set: dict, result: CannonResult) -> None:
    """Chunks are padded to one shape: predicting other star counts does not recompile."""
    before = _cannon_fit.predict_chunk._cache_size()
    model = noisy["model"]
    res = model.predict(test_set["flux"][:250], test_set["ivar"][:250], chunk_size=CHUNK)
    model.predict(test_set["flux"][:130], test_set["ivar"][:130], chunk_size=CHUNK)
    assert _cannon_fit.predict_chunk._cache_size() == before
    np.testing.assert_allclose(res.labels, result.labels[:250], rtol=1e-10)


def test_masked_pixels(noisy: dict, test_set: dict, result: CannonResult) -> None:
    """NaN flux is masked like ivar = 0; a masked spectrum region still gives a fit."""
    flux, ivar = test_set["flux"][:CHUNK].copy(), test_set["ivar"][:CHUNK].copy()
    flux[:, 50:90] = np.nan
    res_nan = noisy["model"].predict(flux, ivar, chunk_size=CHUNK)
    ivar[:, 50:90] = 0.0
    res_ivar = noisy["model"].predict(np.nan_to_num(flux, nan=3.0), ivar, chunk_size=CHUNK)
    np.testing.assert_array_equal(res_nan.labels, res_ivar.labels)
    assert np.all(res_nan.n_pix == N_PIX - 40)
    assert np.all(res_nan.errors > result.errors[:CHUNK])


def _bimodal_model(n_starts_quantiles: np.ndarray) -> Cannon:
    """One label x; flux = 1 + a x² + ε b x (a, b differ): minima near ±x, the true one exact."""
    space = LabelSpace(("x",), ("",), (-3.0,), (3.0,))
    a = np.linspace(0.05, 0.2, 50)
    theta = np.column_stack([np.ones(50), 0.05 * a[::-1], a])
    return Cannon(
        space,
        theta=theta,
        scatter=np.zeros(50),
        label_offset=np.zeros(1),
        label_scale=np.ones(1),
        label_quantiles=n_starts_quantiles,
    )


def test_several_starts_escape_a_wrong_minimum() -> None:
    model = _bimodal_model(np.linspace(-2.0, 2.0, 21)[:, None])
    truth = np.array([[-1.5], [-1.2], [1.4]])
    flux = np.asarray(model.flux(truth))
    ivar = np.full_like(flux, 1e4)
    one = model.predict(flux, ivar, n_starts=1)
    many = model.predict(flux, ivar, n_starts=8)
    # from the mean (x = 0) the slope points to the shallower minimum at +|x|
    assert one.labels[0, 0] > 0 and one.labels[1, 0] > 0 and one.chi2_red[0] > 1.0
    np.testing.assert_allclose(many.labels, truth, atol=1e-6)
    assert np.all(many.chi2_red <= one.chi2_red + 1e-12)
    assert np.all(many.best_start[:2] > 0)


# ---- L1 regularisation ---------------------------------------------------------------------


def test_l1_shrinks_coefficients(truth: Truth, noisy: dict, test_set: dict, result) -> None:
    l1 = 2e4
    sparse = Cannon(SPACE, l1=l1).fit(truth.train_labels, noisy["flux"], noisy["ivar"])
    dense = noisy["model"]
    zeros_sparse = np.sum(sparse.theta[:, 1:] == 0.0)
    assert zeros_sparse > 0.3 * sparse.theta[:, 1:].size
    assert np.sum(dense.theta[:, 1:] == 0.0) == 0
    assert np.abs(sparse.theta[:, 1:]).sum() < np.abs(dense.theta[:, 1:]).sum()
    # the lasso solution beats the unregularised one on the penalised objective
    v = np.asarray(dense.design_matrix(truth.train_labels))
    f, w = noisy["flux"], noisy["ivar"]

    def objective(m: Cannon) -> np.ndarray:
        d = 1.0 / w + m.scatter**2
        r = f - v @ m.theta.T
        return 0.5 * np.sum(r * r / d + np.log(d), axis=0) + l1 * np.abs(m.theta[:, 1:]).sum(1)

    assert np.all(objective(sparse) <= objective(dense) + 1e-6)
    res = sparse.predict(test_set["flux"], test_set["ivar"], chunk_size=CHUNK)
    err_sparse = np.sqrt(np.mean((res.labels - test_set["labels"]) ** 2, axis=0))
    err_dense = np.sqrt(np.mean((result.labels - test_set["labels"]) ** 2, axis=0))
    assert np.all(err_sparse < 1.5 * err_dense)


# ---- float32 -------------------------------------------------------------------------------


def test_float32(truth: Truth, noisy: dict, test_set: dict, result: CannonResult) -> None:
    with jax.enable_x64(False):
        f32 = Cannon(SPACE).fit(
            truth.train_labels, noisy["flux"].astype(np.float32), noisy["ivar"].astype(np.float32)
        )
        res = f32.predict(
            test_set["flux"].astype(np.float32),
            test_set["ivar"].astype(np.float32),
            chunk_size=CHUNK,
        )
    assert f32.theta.dtype == np.float32 and f32.training["dtype"] == "float32"
    np.testing.assert_allclose(f32.theta, noisy["model"].theta, atol=2e-5)
    assert res.converged.all()
    assert np.all(np.abs(res.labels - result.labels) < 0.02 * result.errors)


# ---- files ---------------------------------------------------------------------------------


def test_save_load_round_trip(noisy: dict, test_set: dict, result: CannonResult, tmp_path) -> None:
    model = noisy["model"]
    path = save_cannon(model, tmp_path / "cannon.h5")
    back = load_cannon(path)
    for name in ("theta", "scatter", "wave", "label_offset", "label_scale", "label_quantiles"):
        np.testing.assert_array_equal(getattr(back, name), getattr(model, name))
        assert getattr(back, name).dtype == getattr(model, name).dtype
    assert back.label_space == model.label_space and back.order == 2 and back.l1 == 0.0
    assert back.training == model.training
    res = Cannon.load(path).predict(test_set["flux"], test_set["ivar"], chunk_size=CHUNK)
    np.testing.assert_array_equal(res.labels, result.labels)
    with pytest.raises(FileExistsError):
        model.save(path)
    model.save(path, overwrite=True)
    with h5py.File(path) as f:
        assert f.attrs["format"] == "jaxspec.cannon" and int(f.attrs["format_version"]) == 1


def test_bad_files(noisy: dict, tmp_path) -> None:
    path = noisy["model"].save(tmp_path / "good.h5")
    data = path.read_bytes()
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(FileFormatError, match="truncated"):
        load_cannon(truncated)
    corrupt = tmp_path / "corrupt.h5"
    with h5py.File(path) as f:
        offset = f["theta"].id.get_chunk_info(0).byte_offset  # inside θ's first chunk
    flipped = bytearray(data)
    flipped[offset + 100] ^= 0xFF
    corrupt.write_bytes(bytes(flipped))
    with pytest.raises(FileFormatError, match="corrupt"):
        load_cannon(corrupt)
    other = write_model_file(
        tmp_path / "other.h5", format_name="jaxspec.cnn", format_version=1, attrs={}, arrays={}
    )
    with pytest.raises(FileFormatError, match="not a jaxspec Cannon model file"):
        load_cannon(other)
    m = noisy["model"]
    wrong = write_model_file(
        tmp_path / "wrong.h5",
        format_name="jaxspec.cannon",
        format_version=1,
        attrs={"label_space": SPACE.to_dict(), "order": 3, "l1": 0.0},
        arrays={
            "theta": m.theta,
            "scatter": m.scatter,
            "label_offset": m.label_offset,
            "label_scale": m.label_scale,
            "label_quantiles": m.label_quantiles,
        },
    )
    with pytest.raises(FileFormatError, match="consistent Cannon"):
        load_cannon(wrong)
    with pytest.raises(FileNotFoundError):
        load_cannon(tmp_path / "missing.h5")


# ---- bad input -----------------------------------------------------------------------------


def test_bad_training_input(truth: Truth, noisy: dict) -> None:
    labels, flux, ivar = truth.train_labels, noisy["flux"], noisy["ivar"]
    fit = Cannon(SPACE).fit
    with pytest.raises(ValueError, match=r"10 terms .* needs more training stars .* got 8"):
        fit(labels[:8], flux[:8], ivar[:8])
    bad = labels[:50].copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"rows \[2\] hold NaN"):
        fit(bad, flux[:50], ivar[:50])
    with pytest.raises(ValueError, match=r"shape \(n_stars, 3\) .* got shape \(50, 2\)"):
        fit(labels[:50, :2], flux[:50], ivar[:50])
    outside = labels[:50].copy()
    outside[0, 0] = 9000.0
    with pytest.raises(LabelRangeError, match="teff = 9000 K is outside"):
        fit(outside, flux[:50], ivar[:50])
    with pytest.raises(SpectrumValidationError, match="one spectrum per training star"):
        fit(labels[:50], flux[:40], ivar[:40])
    with pytest.raises(SpectrumValidationError, match=r"ivar of the shape of flux"):
        fit(labels[:50], flux[:50], ivar[:50, :10])
    with pytest.raises(SpectrumValidationError, match=r"wave of shape \(200,\)"):
        fit(labels[:50], flux[:50], ivar[:50], wave=np.arange(10.0))
    const = labels[:50].copy()
    const[:, 2] = -1.0
    with pytest.raises(ValueError, match=r"\['feh'\] take a single value"):
        fit(const, flux[:50], ivar[:50])
    with pytest.raises(ValueError, match="order must be an integer >= 1"):
        Cannon(SPACE, order=0)
    with pytest.raises(ValueError, match="l1 must be a finite number >= 0"):
        Cannon(SPACE, l1=-1.0)
    with pytest.raises(RuntimeError, match="train it first"):
        Cannon(SPACE).predict(flux[:2], ivar[:2])


def test_bad_test_input(noisy: dict, test_set: dict) -> None:
    model = noisy["model"]
    flux, ivar = test_set["flux"][:4].copy(), test_set["ivar"][:4].copy()
    with pytest.raises(SpectrumValidationError, match="expected flux with 200 pixels .* got 150"):
        model.predict(flux[:, :150], ivar[:, :150])
    ivar[1] = 0.0
    with pytest.raises(SpectrumValidationError, match="star 1 has 0 usable pixels"):
        model.predict(flux, ivar)
    ivar[1] = 1.0
    ivar[2, 7] = -1.0
    with pytest.raises(SpectrumValidationError, match="ivar must be >= 0.*star 2, pixel 7"):
        model.predict(flux, ivar)
    with pytest.raises(ValueError, match="n_starts must be >= 1"):
        model.predict(flux, np.abs(ivar), n_starts=0)


# ---- real-ish spectra ------------------------------------------------------------------------


@pytest.mark.slow
def test_emulated_spectra() -> None:
    """A Cannon trained on 300 emulated spectra (S/N 100) measures held-out Teff to < 100 K.

    Marked slow: loading the emulator and compiling for its 857 pixels take ~5-10 s.
    """
    from jaxspec.emulators import load_default

    em = load_default().crop(5150.0, 5350.0)
    rng = np.random.default_rng(5)
    lo, hi = np.array([5000.0, 3.5, -1.0, 0.0]), np.array([6200.0, 4.7, 0.2, 0.3])
    train = lo + (hi - lo) * rng.random((300, 4))
    test = lo + (hi - lo) * rng.random((100, 4))
    f_train = np.asarray(em.predict(train), dtype=np.float64)
    f_test = np.asarray(em.predict(test), dtype=np.float64)
    f_train += rng.normal(size=f_train.shape) / 100.0
    f_test += rng.normal(size=f_test.shape) / 100.0
    ivar = np.full_like(f_train, 1e4)
    model = Cannon(em.label_space).fit(train, f_train, ivar, wave=em.wave)
    res = model.predict(f_test, ivar[:100])
    rms = np.sqrt(np.mean((res.labels - test) ** 2, axis=0))
    assert rms[0] < 100.0 and rms[1] < 0.15 and rms[2] < 0.1
    assert res.converged.mean() > 0.95
