"""Vmapped NUTS and SVI posteriors: agreement with the truth and the Laplace approximation."""

import numpy as np
import pytest

from jaxspec.infer import sample, to_arviz


@pytest.fixture(scope="module")
def nuts_two(forward_model, stars_snr100, map_snr100):
    _, spec = stars_snr100
    sub = map_snr100
    # Two stars of the batch, each with its own adaptation, in one compiled program.
    from jaxspec.infer.map import MapResult

    keep = [0, 3]
    fields = {
        k: (v[keep] if isinstance(v, np.ndarray) else [v[i] for i in keep])
        for k, v in vars(sub).items()
        if k not in ("model", "names")
    }
    init = MapResult(model=sub.model, names=sub.names, **fields)
    from jaxspec import stack

    two = stack([spec[i] for i in keep])
    result = sample(
        two, forward_model, init=init, num_warmup=100, num_samples=100, progress=False, seed=1
    )
    return result, keep


def test_nuts_is_converged_and_agrees_with_truth_and_laplace(stars_snr100, nuts_two):
    truth, _ = stars_snr100
    result, keep = nuts_two
    k = result.model.n_labels
    assert result.samples.shape == (2, 2, 100, len(result.names))
    assert np.all(result.r_hat[:, :k] < 1.05), result.r_hat
    assert np.all(result.ess[:, :k] > 40), result.ess
    assert np.all(result.divergences == 0)
    pulls = (result.labels - truth.labels[keep]) / result.label_sigma
    assert np.all(np.abs(pulls) < 4.0), pulls
    # At SNR 100 the posterior is nearly Gaussian: NUTS and Laplace agree.
    ratio = result.label_sigma / result.map.label_sigma
    assert np.all((ratio > 0.7) & (ratio < 1.4)), ratio
    shift = (result.labels - result.map.labels) / result.map.label_sigma
    assert np.all(np.abs(shift) < 0.5), shift


def test_nuts_catalog_and_arviz_export(nuts_two):
    result, _ = nuts_two
    t = result.table()
    assert t.meta["METHOD"] == "nuts" and t.meta["NCHAINS"] == 2
    for col in ("teff_p16", "teff_p50", "teff_p84", "teff_rhat", "teff_ess", "n_divergent"):
        assert col in t.colnames
    assert np.all(t["teff_p16"] < t["teff_p50"]) and np.all(t["teff_p50"] < t["teff_p84"])
    # Flags follow the diagnostics (R̂ > 1.01 is strict for 2 × 100 draws, so either way).
    assert list(t["flag_rhat"]) == list(np.any(result.r_hat > 1.01, axis=1))
    assert list(t["flag_divergent"]) == list(result.divergences > 0)
    pytest.importorskip("arviz")
    idata = to_arviz(result)
    assert idata.posterior["teff"].shape == (2, 100, 2)
    assert idata.posterior["continuum"].dims == ("chain", "draw", "star", "coef")


@pytest.mark.slow
def test_svi_matches_laplace_at_high_snr(forward_model, stars_snr100, map_snr100):
    _, spec = stars_snr100
    result = sample(
        spec,
        forward_model,
        "svi",
        init=map_snr100,
        svi_steps=300,
        num_samples=400,
        progress=False,
    )
    assert result.samples.shape[:3] == (6, 1, 400)
    shift = (result.labels - map_snr100.labels) / map_snr100.label_sigma
    assert np.all(np.abs(shift) < 0.5), shift
    ratio = result.label_sigma / map_snr100.label_sigma
    assert np.all((ratio > 0.7) & (ratio < 1.4)), ratio


def test_sample_refuses_bad_settings(forward_model, stars_snr100, map_snr100):
    _, spec = stars_snr100
    with pytest.raises(ValueError, match="method"):
        sample(spec, forward_model, "gibbs", init=map_snr100)
    with pytest.raises(ValueError, match="init"):
        sample(spec[0], forward_model, init=map_snr100)
    with pytest.raises(ValueError, match="num_samples"):
        sample(spec, forward_model, init=map_snr100, num_samples=0)
