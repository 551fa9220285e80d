"""Tests of the CNN deep-ensemble label regressor (jaxspec.regress.cnn)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxspec import FileFormatError, Spectrum
from jaxspec._modelfile import write_model_file
from jaxspec._train import TrainConfig
from jaxspec.augment import AugmentConfig
from jaxspec.regress import CNNResult, SpectrumCNN, cnn_training
from jaxspec.regress import cnn as cnn_module

# A model that learns in seconds: 2 members x 8 epochs of 1200 spectra, StarNet's trunk.
TRAIN = TrainConfig(max_epochs=8, batch_size=64, learning_rate=3e-3)
AUGMENT = AugmentConfig(
    snr_range=(5.0, 300.0),
    rv_max=0.0,
    p_resolution=0.0,
    continuum_order=-1,
    mask_chunks_mean=1.5,
    mask_chunk_max_fraction=0.1,
)

# The tiny grid-file runs: 2 members x 2 epochs, tiny trunk, noise only.
TINY = {
    "n_members": 2,
    "validation_fraction": 0.25,
    "train_config": TrainConfig(max_epochs=2, batch_size=32),
    "augment_config": AugmentConfig(
        snr_range=(20.0, 200.0),
        rv_max=0.0,
        p_resolution=0.0,
        continuum_order=-1,
        mask_chunks_mean=0.0,
    ),
    "trunk": {"filters": (2, 4), "hidden": (16, 8)},
    "progress": False,
}


@pytest.fixture(scope="module")
def cnn(regression_data) -> SpectrumCNN:
    d = regression_data
    return SpectrumCNN.fit_arrays(
        d.flux_train,
        d.labels_train,
        d.wave,
        d.label_space,
        d.resolution,
        n_members=2,
        train_config=TRAIN,
        augment_config=AUGMENT,
        seed=1,
        progress=False,
    )


@pytest.fixture(scope="module")
def tiny_cnn(regression_grid_path) -> SpectrumCNN:
    """Trained from a grid file, uninterrupted (the reference of the resume test)."""
    return SpectrumCNN.train(regression_grid_path, **TINY)


@pytest.fixture(scope="module")
def tiny_flux(regression_grid_path, add_noise):
    from jaxspec.synth.grid import read_grid

    return add_noise(np.asarray(read_grid(regression_grid_path).flux[:20]), 100.0)


# ---- accuracy and uncertainties --------------------------------------------------------------


def test_beats_constant_predictor(cnn, regression_data, add_noise):
    """At S/N 50, the RMSE of Teff is < 0.5 x the std of the test labels (a constant
    predictor's RMSE) and that of [Fe/H] < 0.6 x; measured about 0.3 and 0.3."""
    d = regression_data
    res = cnn.predict(add_noise(d.flux_test, 50.0, seed=1))
    rmse = np.sqrt(np.mean((res.labels - d.labels_test) ** 2, axis=0))
    ratio = rmse / d.labels_test.std(axis=0)
    print("RMSE / std at S/N 50:", dict(zip(cnn.label_names, np.round(ratio, 3), strict=True)))
    assert ratio[0] < 0.5
    assert ratio[cnn.label_space.index("feh")] < 0.6
    assert res.labels.shape == res.errors.shape == (len(d.labels_test), 4)
    assert cnn.training_record["n_train"] + cnn.training_record["n_val"] == len(d.labels_train)


def test_uncertainty_grows_as_snr_drops(cnn, regression_data, add_noise):
    d = regression_data
    lo = cnn.predict(add_noise(d.flux_test, 10.0, seed=2))
    hi = cnn.predict(add_noise(d.flux_test, 200.0, seed=3))
    ratio = np.median(lo.errors, axis=0) / np.median(hi.errors, axis=0)
    print("median sigma(S/N 10) / sigma(S/N 200):", np.round(ratio, 3))
    assert np.all(ratio > 1.0)
    assert ratio[0] > 1.1
    for res in (lo, hi):
        assert np.all(res.epistemic > 0) and np.all(res.aleatoric > 0)
        np.testing.assert_allclose(res.errors**2, res.aleatoric**2 + res.epistemic**2, rtol=1e-6)


def test_masked_chunk_changes_little(cnn, regression_data, add_noise):
    d = regression_data
    flux = add_noise(d.flux_test, 50.0, seed=4)
    n_pix = flux.shape[1]
    mask = np.zeros(flux.shape, bool)
    start = n_pix // 3
    mask[:, start : start + n_pix // 10] = True
    full = cnn.predict(flux)
    masked = cnn.predict(flux, mask)
    shift = np.abs(masked.labels - full.labels) / full.errors
    print("median |shift| / sigma with 10 % masked:", np.round(np.median(shift, axis=0), 3))
    assert np.all(np.median(shift, axis=0) < 0.3)
    # Masked pixels are ignored: their values do not matter, NaN included.
    junk = np.where(mask, np.float32(np.nan), flux)
    np.testing.assert_array_equal(cnn.predict(junk).labels, masked.labels)


def test_nan_pixels_are_masked(cnn, regression_data):
    flux = regression_data.flux_test[:4].copy()
    mask = np.zeros(flux.shape, bool)
    mask[:, 100:110] = True
    flux[mask] = np.nan
    a = cnn.predict(flux)
    b = cnn.predict(np.where(mask, 0.5, flux), mask)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.errors, b.errors)


def test_result_table_and_single_spectrum(cnn, regression_data):
    d = regression_data
    res = cnn.predict(d.flux_test[:5])
    assert isinstance(res, CNNResult)
    table = res.to_table()
    assert table.colnames[:4] == ["teff", "teff_err", "teff_err_aleatoric", "teff_err_epistemic"]
    assert str(table["teff_err"].unit) == "K" and len(table) == 5
    np.testing.assert_allclose(table["logg_err_epistemic"], res.epistemic[:, 1])
    one = cnn.predict(d.flux_test[2])
    assert one.labels.shape == (4,) and one.outside.shape == ()
    np.testing.assert_allclose(one.labels, res.labels[2], rtol=1e-5)
    assert len(one.to_table()) == 1
    lo, hi = np.asarray(cnn.label_space.lower), np.asarray(cnn.label_space.upper)
    np.testing.assert_array_equal(res.outside, ~np.all((res.labels >= lo) & (res.labels <= hi), 1))


def test_outside_is_reported_not_clipped(cnn):
    """A featureless spectrum has no lines: a hot metal-poor extrapolation, flagged."""
    res = cnn.predict(np.ones(cnn.n_pix, np.float32))
    lo, hi = np.asarray(cnn.label_space.lower), np.asarray(cnn.label_space.upper)
    assert bool(res.outside) == bool(np.any((res.labels < lo) | (res.labels > hi)))


def test_predict_compiles_once_per_batch_size(cnn, regression_data):
    flux = regression_data.flux_test
    cnn.predict(flux[:3])
    before = cnn_module._TRACES["moments"]
    cnn.predict(flux[:4])
    cnn.predict(flux[:3])
    cnn.predict(flux[:10], batch_size=4)  # 3 batches of 4, the last one padded
    assert cnn_module._TRACES["moments"] == before
    a = cnn.predict(flux[:10], batch_size=4)
    b = cnn.predict(flux[:10])
    np.testing.assert_allclose(a.labels, b.labels, rtol=1e-5)


def test_predict_spectra_resamples(cnn, regression_data, add_noise):
    d = regression_data
    flux = add_noise(d.flux_test[:8], 100.0, seed=5)
    direct = cnn.predict(flux)
    same = cnn.predict_spectra(Spectrum(d.wave, flux))
    np.testing.assert_array_equal(same.labels, direct.labels)
    # A finer grid that covers the model's: resampled back, nearly the same prediction.
    fine = np.linspace(d.wave[0] - 1.0, d.wave[-1] + 1.0, 2 * d.wave.size + 7)
    fine_flux = np.stack([np.interp(fine, d.wave, f) for f in flux])
    res = cnn.predict_spectra(Spectrum(fine, fine_flux))
    assert np.all(np.median(np.abs(res.labels - direct.labels) / direct.errors, axis=0) < 0.5)
    with pytest.raises(TypeError, match="jaxspec.Spectrum"):
        cnn.predict_spectra(flux)


def test_flux_function_is_pure_jax(cnn, regression_data):
    flux = regression_data.flux_test[0]
    f = cnn.flux_function()
    members = [cnn.flux_function(member=i) for i in range(cnn.n_members)]
    value, grad, each = jax.jit(
        lambda x: (f(x), jax.jacrev(f)(x), jnp.stack([g(x) for g in members]))
    )(flux)
    np.testing.assert_allclose(value, cnn.predict(flux).labels, rtol=2e-5)
    assert grad.shape == (4, cnn.n_pix) and np.all(np.isfinite(grad)) and np.any(grad != 0)
    np.testing.assert_allclose(each.mean(0), value, rtol=2e-5)
    with pytest.raises(ValueError, match="member"):
        cnn.flux_function(member=2)


# ---- bad inputs ------------------------------------------------------------------------------


def test_bad_prediction_inputs(cnn, regression_data):
    flux = regression_data.flux_test[:3].copy()
    with pytest.raises(ValueError, match=r"857 pixels .*resample onto model.wave"):
        cnn.predict(flux[:, :-1])
    flux[1] = np.nan
    with pytest.raises(ValueError, match="spectrum 1 has every pixel masked"):
        cnn.predict(flux)
    with pytest.raises(ValueError, match="every pixel masked"):
        cnn.predict(regression_data.flux_test[0], np.ones(cnn.n_pix, bool))
    with pytest.raises(ValueError, match="mask must have the shape"):
        cnn.predict(flux[:2], np.zeros(cnn.n_pix, bool))
    with pytest.raises(TypeError, match="flux_function"):
        jax.jit(cnn.predict)(flux)


def test_bad_training_inputs(regression_data, regression_grid_path):
    d = regression_data
    with pytest.raises(ValueError, match=r"labels must be \(n_spectra, 4\)"):
        SpectrumCNN.fit_arrays(d.flux_train, d.labels_train[:, :3], d.wave, d.label_space)
    with pytest.raises(ValueError, match="to match wave"):
        SpectrumCNN.fit_arrays(d.flux_train[:, :-1], d.labels_train, d.wave, d.label_space)
    bad = d.flux_train[:10].copy()
    bad[3, 5] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        SpectrumCNN.fit_arrays(bad, d.labels_train[:10], d.wave, d.label_space)
    with pytest.raises(ValueError, match="unknown trunk"):
        SpectrumCNN.fit_arrays(d.flux_train, d.labels_train, d.wave, d.label_space, trunk={"x": 1})
    with pytest.raises(ValueError, match="fixed at 1"):
        SpectrumCNN.train(regression_grid_path, labels=["teff", "vmic"])
    with pytest.raises(ValueError, match="no label 'mgfe'"):
        SpectrumCNN.train(regression_grid_path, labels=["mgfe"])


# ---- grid files, model files, resuming -------------------------------------------------------


def test_train_from_grid_drops_fixed_labels(tiny_cnn, regression_grid_path):
    assert tiny_cnn.label_names == ("teff", "logg", "feh", "alpha")
    assert tiny_cnn.fixed_labels == {"vmic": 1.0}
    assert tiny_cnn.resolution == 7500.0
    rec = tiny_cnn.training_record
    assert (rec["n_train"], rec["n_val"]) == (72, 24)
    assert [m["epochs"] for m in rec["members"]] == [2, 2]
    assert rec["provenance"]["grids"][0]["grid_hash"]
    assert rec["augment_config"] == TINY["augment_config"].to_dict()


def test_save_load_round_trip(tiny_cnn, tiny_flux, tmp_path):
    path = tiny_cnn.save(tmp_path / "cnn.h5")
    loaded = SpectrumCNN.load(path)
    a, b = tiny_cnn.predict(tiny_flux), loaded.predict(tiny_flux)
    for name in ("labels", "errors", "aleatoric", "epistemic", "outside"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert loaded.label_space == tiny_cnn.label_space
    assert loaded.trunk == tiny_cnn.trunk and loaded.augment_config == tiny_cnn.augment_config
    assert loaded.training_record["members"] == tiny_cnn.training_record["members"]
    np.testing.assert_array_equal(loaded.wave, tiny_cnn.wave)
    assert loaded.wave.dtype == np.float64
    with pytest.raises(FileExistsError):
        tiny_cnn.save(path)
    tiny_cnn.save(path, overwrite=True)


def test_load_rejects_other_and_damaged_files(tiny_cnn, tmp_path):
    from jaxspec.data import data_path
    from jaxspec.emulators.default import DEFAULT_EMULATOR_FILE

    path = tiny_cnn.save(tmp_path / "cnn.h5")
    data = path.read_bytes()
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(FileFormatError):
        SpectrumCNN.load(truncated)
    with pytest.raises(FileFormatError, match="jaxspec.cnn_regressor"):
        SpectrumCNN.load(data_path(DEFAULT_EMULATOR_FILE))
    cannon = write_model_file(
        tmp_path / "cannon.h5",
        format_name="jaxspec.cannon",
        format_version=1,
        attrs={"label_space": tiny_cnn.label_space.to_dict()},
        arrays={"theta": np.zeros((3, 4))},
    )
    with pytest.raises(FileFormatError, match="not a jaxspec CNN regressor file"):
        SpectrumCNN.load(cannon)
    with pytest.raises(FileNotFoundError):
        SpectrumCNN.load(tmp_path / "missing.h5")


def test_resume_after_crash_equals_uninterrupted(
    tiny_cnn, tiny_flux, regression_grid_path, tmp_path, monkeypatch
):
    real = cnn_training.train_network
    calls = []

    def crash_after_first(*args, **kwargs):
        if calls:
            raise RuntimeError("simulated crash")
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(cnn_training, "train_network", crash_after_first)
    with pytest.raises(RuntimeError, match="simulated crash"):
        SpectrumCNN.train(regression_grid_path, checkpoint_dir=tmp_path, **TINY)
    assert (tmp_path / "member_0.h5").exists() and not (tmp_path / "member_1.h5").exists()
    assert not (tmp_path / "member_0.ckpt.h5").exists()

    trained = []
    monkeypatch.setattr(
        cnn_training, "train_network", lambda *a, **k: trained.append(1) or real(*a, **k)
    )
    resumed = SpectrumCNN.train(regression_grid_path, checkpoint_dir=tmp_path, **TINY)
    assert len(trained) == 1  # member 0 was loaded, only member 1 trained
    for x, y in zip(
        jax.tree.leaves(resumed.members), jax.tree.leaves(tiny_cnn.members), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    np.testing.assert_array_equal(
        resumed.predict(tiny_flux).labels, tiny_cnn.predict(tiny_flux).labels
    )
    again = SpectrumCNN.train(regression_grid_path, checkpoint_dir=tmp_path, **TINY)
    assert len(trained) == 1  # nothing left to train
    np.testing.assert_array_equal(
        again.predict(tiny_flux).labels, resumed.predict(tiny_flux).labels
    )
    with pytest.raises(ValueError, match="another training run"):
        SpectrumCNN.train(regression_grid_path, checkpoint_dir=tmp_path, **{**TINY, "seed": 9})


def test_repr_and_members(cnn):
    assert "2 members" in repr(cnn) and cnn.n_members == 2
    assert dataclasses.replace(cnn).n_pix == cnn.n_pix
