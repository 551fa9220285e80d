"""SpectralClassifier: probabilities, accuracy, calibration record, files, inputs, compilation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from astropy.table import Table

from jaxspec import Spectrum
from jaxspec.classify import CALIBRATION_REFERENCE, SpectralClassifier, type_bins
from jaxspec.classify import classifier as clf_module
from jaxspec.errors import FileFormatError
from jaxspec.labels import LUMINOSITY_CLASSES, MK_CLASSES, spectral_type


def test_type_bins_follow_the_rounding_of_spectral_type():
    teff = np.geomspace(3500.0, 30000.0, 2000)
    st = spectral_type(teff, 4.0)
    bins = type_bins(st.code)
    np.testing.assert_array_equal(bins // 20, st.mk_index)  # 20 half-subclass bins a class
    np.testing.assert_array_equal((bins % 20) / 2.0, st.subclass)
    np.testing.assert_array_equal(type_bins([-3.0, 69.9, 80.0]), [0, 139, 139])
    np.testing.assert_array_equal(type_bins([39.6, 42.4], bin_width=1.0), [40, 42])
    with pytest.raises(ValueError, match="bin_width"):
        type_bins([42.0], bin_width=0.25)


def test_balanced_weights_are_inverse_class_frequencies():
    index = np.array([0] * 60 + [1] * 30 + [2] * 10 + [3] * 1)
    train = np.arange(index.size - 1)  # class 3 is absent from training
    w = clf_module._balanced(index, train, 5)
    assert np.mean(w[train]) == pytest.approx(1.0)
    # Each class present carries the same total weight in training.
    totals = [w[train][index[train] == c].sum() for c in range(3)]
    np.testing.assert_allclose(totals, totals[0], rtol=1e-6)
    assert w[-1] == 0.0  # no weight for a class never trained on
    heavy = clf_module._balanced(np.array([0] * 99 + [1]), np.arange(100), 2, clip=10.0)
    assert heavy[-1] / heavy[0] == pytest.approx(10.0 / (100 / 198))  # clipped at 10


def test_probabilities_sum_to_one_and_lie_in_the_unit_interval(classifier, test_spectra):
    flux, mask, _, _ = test_spectra
    res = classifier.predict(flux, mask)
    n = flux.shape[0]
    assert res.mk_prob.shape == (n, 7) and res.lum_prob.shape == (n, 5)
    assert res.type_prob.shape == (n, classifier.n_bins) == (n, 140)
    for p in (res.mk_prob, res.lum_prob, res.type_prob):
        assert np.all((p >= 0.0) & (p <= 1.0))
        np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=2e-5)
    # MK probabilities are the sums of their type bins, so the two agree.
    np.testing.assert_allclose(res.mk_prob, res.type_prob.reshape(n, 7, 20).sum(-1), atol=1e-6)
    np.testing.assert_allclose(res.mk_class_prob, res.mk_prob.max(axis=1))
    np.testing.assert_allclose(res.lum_class_prob, res.lum_prob.max(axis=1))
    assert set(res.mk_class) <= set(MK_CLASSES)
    assert set(res.luminosity_class) <= set(LUMINOSITY_CLASSES)
    for label, mk, sub, lum in zip(
        res.label, res.mk_class, res.subclass, res.luminosity_class, strict=True
    ):
        assert label == f"{mk}{sub:g}{lum}"
    assert np.all(res.code_std >= 0) and np.all(np.isfinite(res.code_mean))
    assert np.all(res.masked_fraction[mask.any(axis=1)] > 0)
    table = res.to_table()
    assert isinstance(table, Table) and len(table) == n
    assert table["mk_prob"].shape == (n, 7) and "type_prob" not in table.colnames


def test_mk_accuracy_at_snr_50_is_far_above_chance_and_majority(classifier, test_spectra):
    flux, mask, teff, logg = test_spectra
    truth = spectral_type(teff, logg)
    res = classifier.predict(flux, mask)
    accuracy = float(np.mean(res.mk_class == truth.mk_class))
    _, counts = np.unique(truth.mk_class, return_counts=True)
    majority = counts.max() / counts.sum()  # K types: ~0.45; chance over F/G/K: 1/3
    # The expected type code tracks the truth far better than a constant guess.
    error = np.median(np.abs(res.code_mean - truth.code))
    constant = np.median(np.abs(np.median(truth.code) - truth.code))
    print(
        f"MK accuracy {accuracy:.3f}, majority-class rate {majority:.3f}; median |code error| "
        f"{error:.2f} subclasses (constant guess {constant:.2f})"
    )
    assert accuracy > majority + 0.2, (accuracy, majority)
    assert error < 0.6 * constant, (error, constant)


def test_training_record(classifier, n_train):
    rec = classifier.record
    assert rec["n_train"] + rec["n_validation"] == n_train
    counts = rec["class_counts"]["train"]
    assert sum(counts["mk"].values()) == rec["n_train"]
    assert sum(counts["luminosity"].values()) == rec["n_train"]
    # The emulator covers F, G and K only: no O, B, A or M spectra to learn from.
    assert [counts["mk"][c] for c in "OBAM"] == [0, 0, 0, 0]
    assert min(counts["mk"][c] for c in "FGK") > 200
    assert sum(rec["type_bin_counts_train"]) == rec["n_train"]
    assert 1 <= rec["best_epoch"] <= rec["epochs"] == len(rec["history"])
    t_type, t_lum = classifier.temperatures
    assert rec["temperatures"] == {"type": t_type, "luminosity": t_lum}
    assert 0.1 < t_type < 10 and 0.1 < t_lum < 10
    val = rec["validation"]
    for key in ("ece_before", "ece_after"):
        assert 0 <= val[key]["mk"] <= 1 and 0 <= val[key]["luminosity"] <= 1
    # Temperature scaling minimises the NLL it is fitted on: that of the MK-class
    # probabilities (sums over type bins) for the type head.
    assert val["nll_after"]["mk"] <= val["nll_before"]["mk"] + 1e-9
    assert val["nll_after"]["luminosity"] <= val["nll_before"]["luminosity"] + 1e-9
    print(
        f"T = ({t_type:.3f}, {t_lum:.3f}); ECE mk {val['ece_before']['mk']:.3f} -> "
        f"{val['ece_after']['mk']:.3f}, lum {val['ece_before']['luminosity']:.3f} -> "
        f"{val['ece_after']['luminosity']:.3f}; {rec['seconds_per_epoch']:.2f} s/epoch"
    )


def test_one_spectrum_and_batches_agree_and_compile_once(classifier, test_spectra):
    flux, mask, _, _ = test_spectra
    batch = classifier.predict(flux[:7], mask[:7])
    traces = clf_module._TRACES["probabilities"]
    one = classifier.predict(flux[3], mask[3])
    assert one.mk_prob.shape == (7,) and one.type_prob.shape == (140,)
    assert isinstance(one.label, str) and one.mk_class_prob.shape == ()
    np.testing.assert_allclose(one.type_prob, batch.type_prob[3], rtol=1e-5, atol=1e-7)
    assert clf_module._TRACES["probabilities"] == traces + 1  # batch of 1: a new shape
    traces = clf_module._TRACES["probabilities"]
    for n in (5, 6, 8):  # all padded to 8
        classifier.predict(flux[:n], mask[:n])
    chunked = classifier.predict(flux[:20], mask[:20], batch_size=8)  # 8, 8, 4
    assert clf_module._TRACES["probabilities"] == traces + 1  # only the 4-spectrum tail
    np.testing.assert_allclose(chunked.type_prob[:7], batch.type_prob, rtol=1e-5, atol=1e-7)


def test_flux_function_is_pure_and_differentiable(classifier, test_spectra):
    flux, mask, _, _ = test_spectra
    res = classifier.predict(flux[:2], mask[:2])
    for head, expected in (("mk", res.mk_prob), ("lum", res.lum_prob), ("type", res.type_prob)):
        f = classifier.flux_function(head)
        np.testing.assert_allclose(f(flux[0], mask[0]), expected[0], rtol=1e-5, atol=1e-7)
    f = classifier.flux_function("mk")
    k = int(np.argmax(res.mk_prob[0]))
    grad = jax.jit(jax.grad(lambda x: f(x, mask[0])[k]))(jnp.asarray(flux[0]))
    assert grad.shape == (classifier.n_pix,) and bool(jnp.all(jnp.isfinite(grad)))
    assert float(jnp.max(jnp.abs(grad))) > 0
    assert not np.any(np.asarray(grad)[mask[0]])  # masked pixels carry no information
    with pytest.raises(ValueError, match="head"):
        classifier.flux_function("teff")


def test_save_load_round_trip_gives_identical_probabilities(saved_classifier, test_spectra):
    classifier, path = saved_classifier
    flux, mask, _, _ = test_spectra
    loaded = SpectralClassifier.load(path)
    a = classifier.predict(flux[:16], mask[:16])
    b = loaded.predict(flux[:16], mask[:16])
    for name in ("mk_prob", "lum_prob", "type_prob"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(a.label, b.label)
    assert loaded.temperatures == classifier.temperatures
    assert loaded.wave.dtype == np.float64
    np.testing.assert_array_equal(loaded.wave, classifier.wave)
    assert loaded.resolution == classifier.resolution and loaded.trunk == classifier.trunk
    assert loaded.augment_config == classifier.augment_config
    assert loaded.record["class_counts"] == classifier.record["class_counts"]
    import h5py

    with h5py.File(path) as f:
        assert f.attrs["format"] == "jaxspec.spectral_classifier"
        assert int(f.attrs["format_version"]) == 1
        assert CALIBRATION_REFERENCE in f.attrs["calibration_reference"]
    with pytest.raises(FileExistsError, match="overwrite"):
        classifier.save(path)


def test_damaged_and_foreign_files_are_refused(saved_classifier, tmp_path):
    _, path = saved_classifier
    cut = tmp_path / "cut.h5"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(FileFormatError, match="truncated"):
        SpectralClassifier.load(cut)
    from jaxspec.data import data_path

    with pytest.raises(FileFormatError, match="not a jaxspec spectral classifier file"):
        SpectralClassifier.load(data_path("emulator_fgk_r7500.h5"))
    text = tmp_path / "model.h5"
    text.write_text("not hdf5")
    with pytest.raises(FileFormatError, match="cannot be opened as HDF5"):
        SpectralClassifier.load(text)
    with pytest.raises(FileNotFoundError):
        SpectralClassifier.load(tmp_path / "missing.h5")


def test_bad_inputs_give_clear_errors(classifier, test_spectra):
    flux, mask, _, _ = test_spectra
    with pytest.raises(ValueError, match=r"857 pixels.*Resample onto model\.wave"):
        classifier.predict(flux[:, :800])
    with pytest.raises(ValueError, match=r"857 pixels"):
        classifier.predict(np.ones((2, 3, 857)))
    dead = flux[:4].copy()
    dead[2] = np.nan
    with pytest.raises(ValueError, match=r"spectrum index 2: every pixel is masked"):
        classifier.predict(dead)
    all_masked = np.zeros((4, classifier.n_pix), bool)
    all_masked[1] = True
    with pytest.raises(ValueError, match=r"spectrum index 1: every pixel"):
        classifier.predict(flux[:4], all_masked)
    with pytest.raises(ValueError, match="mask must have the shape"):
        classifier.predict(flux[:4], mask[:3])
    with pytest.raises(ValueError, match="no spectra"):
        classifier.predict(flux[:0])


def test_nan_pixels_are_masked(classifier, test_spectra):
    flux, _, _, _ = test_spectra
    f = flux[:3].copy()
    f[0, 100:140] = np.nan
    explicit = np.zeros(f.shape, bool)
    explicit[0, 100:140] = True
    a = classifier.predict(f)
    b = classifier.predict(np.where(explicit, 1.0, f), explicit)
    np.testing.assert_allclose(a.type_prob, b.type_prob, rtol=1e-6, atol=1e-8)
    assert np.all(np.isfinite(a.type_prob))
    assert a.masked_fraction[0] == pytest.approx(40 / classifier.n_pix)
    assert a.masked_fraction[1] == 0.0


def test_classify_spectra_resamples_onto_the_model_pixels(classifier, emulator_spectra, n_train):
    wave, _, flux, _, _ = emulator_spectra
    rows = flux[n_train : n_train + 4]
    # The same spectra on a finer grid that extends beyond the model's range.
    fine = np.linspace(wave[0] - 5.0, wave[-1] + 5.0, 3 * wave.size)
    fine_flux = np.stack([np.interp(fine, wave, r) for r in rows])
    res = classifier.classify_spectra(Spectrum(fine, fine_flux))
    direct = classifier.predict(rows)
    assert res.mk_prob.shape == (4, 7)
    np.testing.assert_allclose(res.mk_prob, direct.mk_prob, atol=0.05)
    outside = Spectrum(fine + 1000.0, fine_flux)  # same shapes: no new compilation
    with pytest.raises(ValueError, match=r"spectrum index 0, 1, 2, 3: every pixel.*covers"):
        classifier.classify_spectra(outside)
    with pytest.raises(TypeError, match="Spectrum"):
        classifier.classify_spectra(rows)


def test_train_reads_grids_and_checks_them(monkeypatch, emulator_spectra):
    """Grid handling of ``train`` without training (fit_arrays is replaced)."""
    from astropy.table import Table as T

    from jaxspec.synth.grid import Grid

    wave, resolution, flux, teff, logg = emulator_spectra

    def grid(rows, w=wave, res=resolution):
        labels = T({"teff": teff[rows], "logg": logg[rows], "feh": np.zeros(len(rows))})
        prov = {"synthesizer": {"resolution": res}, "grid_hash": "x"}
        return Grid(w, labels, flux[rows], flux[rows], prov, None)

    seen = {}

    def fake_fit(cls, flux_, teff_, logg_, wave_, resolution_, **kwargs):
        seen.update(flux=flux_, teff=teff_, wave=wave_, resolution=resolution_, **kwargs)
        return "trained"

    monkeypatch.setattr(SpectralClassifier, "fit_arrays", classmethod(fake_fit))
    g1, g2 = grid(np.arange(0, 10)), grid(np.arange(10, 25))
    assert SpectralClassifier.train([g1, g2], seed=3, progress=False) == "trained"
    assert seen["flux"].shape == (25, wave.size) and seen["resolution"] == resolution
    np.testing.assert_array_equal(seen["teff"], teff[:25])
    assert seen["seed"] == 3 and len(seen["provenance"]["grids"]) == 2
    with pytest.raises(ValueError, match="other wavelengths"):
        SpectralClassifier.train([g1, grid(np.arange(3), w=wave * 1.001)])
    with pytest.raises(ValueError, match="pass resolution="):
        SpectralClassifier.train([g1, grid(np.arange(3), res=2000.0)])
    SpectralClassifier.train([g1, grid(np.arange(3), res=2000.0)], resolution=2000.0)
    assert seen["resolution"] == 2000.0
    nolabels = Grid(wave, T({"teff": teff[:3]}), flux[:3], flux[:3], {}, None)
    with pytest.raises(ValueError, match=r"lacks label column\(s\) \['logg'\]"):
        SpectralClassifier.train(nolabels, resolution=1.0)
