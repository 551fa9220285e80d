"""Batched MAP fits: recovery of injected labels, Laplace calibration, flags, catalogs."""

import jax
import numpy as np
import pytest
from _stars import simulated_stars

from jaxspec import Spectrum
from jaxspec.infer import FLAG_BITS, cramer_rao, fit_map, write_catalog


def test_injected_labels_are_recovered_within_their_sigma(stars_snr100, map_snr100):
    truth, _ = stars_snr100
    r = map_snr100
    assert r.fitted.all() and r.converged.all() and r.hessian_ok.all()
    pulls = (r.labels - truth.labels) / r.label_sigma
    assert np.all(np.abs(pulls) < 4.0), pulls
    assert np.mean(pulls**2) < 3.0, pulls  # ≈ 1 when the σ are honest
    rv_pull = (r.theta[:, r.names.index("rv")] - truth.rv) / r.sigma[:, r.names.index("rv")]
    assert np.all(np.abs(rv_pull) < 4.0)
    # The cross-correlation start is already within a pixel (~13 km/s) of the truth.
    assert np.all(np.abs(r.rv_ccf - truth.rv) < 13.0)


def test_laplace_sigma_matches_the_cramer_rao_bound_at_high_snr(
    forward_model, stars_snr100, map_snr100
):
    truth, spec = stars_snr100
    ivar = np.asarray(spec.ivar) * np.asarray(map_snr100.flux_scale)[:, None] ** 2  # as fitted
    cont = truth.continuum / np.asarray(map_snr100.flux_scale)[:, None, None]
    crb = cramer_rao(truth.labels, forward_model, ivar, rv=truth.rv, continuum=cont)
    bound = np.sqrt(np.diagonal(crb, axis1=1, axis2=2))
    np.testing.assert_allclose(map_snr100.label_sigma, bound, rtol=0.25)


def test_cramer_rao_scales_with_noise_and_nuisance_parameters_cost(forward_model):
    forward_model = forward_model.replace(use_pixel_error=False)  # pure photon noise
    labels = np.array([5600.0, 4.2, -0.3, 0.1])
    n = forward_model.emulator.n_pix
    low = cramer_rao(labels, forward_model, np.full(n, 50.0**2))
    high = cramer_rao(labels, forward_model, np.full(n, 100.0**2))
    np.testing.assert_allclose(np.sqrt(np.diag(low) / np.diag(high)), 2.0, rtol=1e-6)
    fixed = cramer_rao(labels, forward_model, np.full(n, 50.0**2), nuisance=False)
    assert np.all(np.diag(fixed) <= np.diag(low) * (1 + 1e-9))
    with pytest.raises(ValueError, match="last axis of 4"):
        cramer_rao(labels[:3], forward_model, np.full(n, 1.0))


def test_laplace_intervals_are_calibrated(forward_model):
    truth, spec = simulated_stars(forward_model, 36, 40.0, seed=21)
    # Chunks of 8 (the last one padded) reuse the program compiled for the 6-star fixture.
    r = fit_map(spec, forward_model, batch_size=8, progress=False)
    inner = ~r.at_edge
    pulls = ((r.labels - truth.labels) / r.label_sigma)[inner]
    coverage = np.mean(np.abs(pulls) < 1.0)
    # 68 % expected; ±3 binomial standard errors of ~140 label estimates.
    assert 0.55 < coverage < 0.81, coverage
    assert np.mean(np.abs(pulls) < 2.0) > 0.88


def _same_fit(a, b, sigma):
    """Equal up to the optimiser tolerance (float32 network sums depend on the batch size)."""
    assert np.all(np.abs(a - b) < 0.02 * sigma), (a - b) / sigma


def test_unusable_spectra_give_flagged_rows_and_the_rest_are_unchanged(
    forward_model, stars_snr100, map_snr100
):
    _, spec = stars_snr100
    w = np.asarray(spec.wave)
    good = [spec[i] for i in range(3)]
    flux = np.asarray(good[0].flux)
    ivar = np.asarray(good[0].ivar)
    all_nan = Spectrum(w, np.full_like(flux, np.nan), ivar=ivar)
    zero_ivar = Spectrum(w, flux, ivar=np.zeros_like(ivar))
    masked = Spectrum(w, flux, ivar=ivar, mask=np.ones(flux.shape, bool))
    elsewhere = Spectrum(w + 3000.0, flux, ivar=ivar)
    items = [good[0], all_nan, good[1], zero_ivar, masked, elsewhere, good[2]]
    # Stars of one batch may have their own wavelengths (same pixel count).
    batch = Spectrum(
        *(
            np.stack([np.broadcast_to(getattr(x, a), flux.shape) for x in items])
            for a in ("wave", "flux", "ivar", "mask")
        )
    )
    r = fit_map(batch, forward_model, progress=False)
    t = r.table()
    bad = [1, 3, 4, 5]
    assert list(t["flag_unfit"]) == [i in bad for i in range(7)]
    assert all("no usable pixels" in t["message"][i] for i in bad)
    assert np.all(np.isnan(r.theta[bad]))
    assert np.all(t["flag"][bad] & (1 << FLAG_BITS["flag_unfit"]))
    _same_fit(r.theta[[0, 2, 6]], map_snr100.theta[:3], map_snr100.sigma[:3])


def test_catalog_has_units_flags_and_round_trips(tmp_path, map_snr100):
    from astropy.table import Table

    t = map_snr100.table()
    assert t["teff"].unit == "K" and t["rv_err"].unit == "km / s"
    assert t["corr"].shape == (6, 5, 5)
    np.testing.assert_allclose(np.diagonal(t["corr"], axis1=1, axis2=2), 1.0)
    assert set(FLAG_BITS) <= set(t.colnames) and not t["flag_unfit"].any()
    for suffix in ("fits", "h5", "ecsv"):
        path = write_catalog(t, tmp_path / f"cat.{suffix}")
        back = Table.read(path)
        np.testing.assert_allclose(back["teff"], t["teff"])
        np.testing.assert_allclose(back["corr"], t["corr"])
        assert list(back["flag"]) == list(t["flag"])
    with pytest.raises(FileExistsError):
        write_catalog(t, tmp_path / "cat.fits", overwrite=False)
    with pytest.raises(ValueError, match="fits"):
        write_catalog(t, tmp_path / "cat.txt")
    assert not list(tmp_path.glob(".cat*"))  # no temporary files left behind


def test_bad_inputs_raise_clear_errors(forward_model, stars_snr100):
    _, spec = stars_snr100
    with pytest.raises(TypeError, match="Spectrum"):
        fit_map(np.ones(10), forward_model)
    with pytest.raises(TypeError, match="Emulator"):
        fit_map(spec, object())
    batch2d = jax.tree.map(lambda a: a.reshape(2, 3, -1) if a.ndim == 2 else a, spec)
    with pytest.raises(ValueError, match="1-D batch"):
        fit_map(batch2d, forward_model)
    with pytest.raises(ValueError, match="n_starts"):
        fit_map(spec, forward_model, n_starts=0)
