"""The forward model: data preparation, the model spectrum, likelihood, priors, gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _stars import interior_labels
from jax.test_util import check_grads

from jaxspec import Spectrum
from jaxspec.infer import ForwardModel, Params
from jaxspec.infer.forward import params_from_vector, params_to_vector
from jaxspec.preprocess.doppler import doppler_factor


def _flat(model, n=None):
    shape = (len(model.segments), model.continuum_order + 1)
    cont = np.zeros(shape if n is None else (n, *shape))
    cont[..., 0] = 1.0
    return cont


def _float64(emulator):
    params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), emulator.params)
    return emulator.with_params(params)


def test_model_at_rest_with_flat_continuum_is_the_emulator(forward_model):
    emu = forward_model.emulator
    labels = interior_labels(forward_model, 1, seed=0)[0]
    data, _ = forward_model.prepare(Spectrum(emu.wave, np.ones(emu.n_pix)))
    p = Params(labels, 0.0, 0.0, _flat(forward_model))
    model, norm, model_var = forward_model.model_parts(emu.params, p, data)
    np.testing.assert_allclose(norm, emu.predict(labels), rtol=0, atol=1e-6)
    np.testing.assert_allclose(model, norm, atol=1e-12)
    np.testing.assert_allclose(np.sqrt(model_var), emu.pixel_error, rtol=1e-5)


def test_doppler_shift_moves_lines_by_the_relativistic_factor(forward_model):
    emu = forward_model.emulator
    labels = interior_labels(forward_model, 1, seed=1)[0]
    data, _ = forward_model.prepare(Spectrum(emu.wave, np.ones(emu.n_pix)))
    rv = 87.5
    p = Params(labels, rv, 0.0, _flat(forward_model))
    _, norm, _ = forward_model.model_parts(emu.params, p, data)
    rest = np.asarray(emu.predict(labels), dtype=np.float64)
    expected = np.interp(emu.wave / float(doppler_factor(rv)), emu.wave, rest)
    good = np.asarray(data.good)
    np.testing.assert_allclose(np.asarray(norm)[good], expected[good], atol=1e-6)


def test_continuum_is_the_chebyshev_polynomial_per_segment(window_emulator):
    a, b = window_emulator.wave[0], window_emulator.wave[-1]
    mid = 0.5 * (a + b)
    fm = ForwardModel(window_emulator, segments=((a, mid), (mid + 1e-6, b)), continuum_order=2)
    data, _ = fm.prepare(Spectrum(window_emulator.wave, np.ones(window_emulator.n_pix)))
    coef = np.array([[1.0, 0.1, -0.05], [2.0, 0.0, 0.2]])
    p = Params(interior_labels(fm, 1, 2)[0], 0.0, 0.0, coef)
    cont = np.asarray(fm.continuum(p, data))
    w = window_emulator.wave
    for s, (lo, hi) in enumerate(fm.segments):
        sel = (w >= lo) & (w <= hi)
        x = (2 * w[sel] - (lo + hi)) / (hi - lo)
        np.testing.assert_allclose(cont[sel], np.polynomial.chebyshev.chebval(x, coef[s]))


def test_prepare_marks_unusable_pixels_and_scales_flux(forward_model):
    emu = forward_model.emulator
    n = emu.n_pix
    flux = np.full(n, 250.0)
    flux[100] = np.nan
    ivar = np.full(n, 4.0)
    ivar[200] = 0.0
    mask = np.zeros(n, bool)
    mask[300] = True
    data, n_good = forward_model.prepare(Spectrum(emu.wave, flux, ivar=ivar, mask=mask))
    good = np.asarray(data.good)
    assert not good[[100, 200, 300]].any()
    # Pixels whose rest wavelength can leave the emulator grid at |RV| <= 300 km/s are out.
    d = float(doppler_factor(300.0))
    edge = (emu.wave / d < emu.wave[0]) | (emu.wave * d > emu.wave[-1])
    assert not good[edge].any() and good[~edge & ~np.isin(np.arange(n), [100, 200, 300])].all()
    assert n_good == good.sum()
    assert float(data.scale) == 250.0
    np.testing.assert_allclose(np.asarray(data.flux)[good], 1.0)
    np.testing.assert_allclose(np.asarray(data.ivar)[good], 4.0 * 250.0**2)


def test_prepare_of_spectrum_outside_the_emulator_range_has_no_good_pixels(forward_model):
    wave = np.linspace(7000.0, 7100.0, 300)
    _, n_good = forward_model.prepare(Spectrum(wave, np.ones(300)))
    assert n_good == 0


def test_log_posterior_gradients_match_finite_differences(forward_model):
    emu = _float64(forward_model.emulator)
    fm = forward_model.replace(emulator=emu, jitter=0.01)
    truth = Params(interior_labels(fm, 1, 3)[0], 20.0, 0.0, _flat(fm))
    spec = fm.simulate(truth, emu.wave, 50.0, jax.random.key(0))
    data, _ = fm.prepare(spec)
    theta = params_to_vector(fm, truth)

    def logp(t):
        return fm.log_posterior(emu.params, params_from_vector(fm, t), data)

    check_grads(jax.jit(logp), (theta,), order=1, modes=("fwd", "rev"), eps=1e-4, rtol=2e-3)


def test_numpyro_model_is_the_same_density_as_the_map_objective(forward_model, stars_snr100):
    from numpyro.infer.util import log_density

    emu = forward_model.emulator
    truth, spec = stars_snr100
    data, _ = forward_model.prepare(spec[0])
    p = Params(truth.labels[0], truth.rv[0], 0.0, truth.continuum[0])
    values = {n: p.labels[i] for i, n in enumerate(forward_model.label_names)}
    values |= {"rv": p.rv, "continuum": p.continuum}
    numpyro_logp, _ = log_density(forward_model.numpyro_model, (emu.params, data), {}, values)
    ours = forward_model.log_posterior(emu.params, p, data)
    np.testing.assert_allclose(float(numpyro_logp), float(ours), rtol=1e-10)


def test_simulated_noise_has_the_stated_variance(forward_model):
    emu = forward_model.emulator
    n = 40
    labels = interior_labels(forward_model, n, seed=4)
    truth = Params(labels, np.zeros(n), np.zeros(n), _flat(forward_model, n))
    spec = forward_model.simulate(truth, emu.wave, 40.0, jax.random.key(1))
    data, _ = forward_model.prepare(spec)
    # prepare() divided each spectrum by its median flux: so is the continuum.
    model, _, model_var = jax.vmap(
        lambda lab, d: forward_model.model_parts(
            emu.params, Params(lab, 0.0, 0.0, _flat(forward_model) / d.scale), d
        )
    )(jnp.asarray(labels), data)
    var = jax.vmap(forward_model.variance)(data, model_var)
    good = np.asarray(data.good)
    pulls = ((np.asarray(data.flux) - np.asarray(model)) / np.sqrt(np.asarray(var)))[good]
    assert abs(pulls.mean()) < 0.02
    assert abs(pulls.std() - 1.0) < 0.02


def test_rotation_and_lsf_make_lines_shallower_and_vsini_zero_is_identity(window_emulator):
    labels = interior_labels(ForwardModel(window_emulator), 1, seed=5)[0]
    base = ForwardModel(window_emulator, fit_vsini=True, vsini_max=60.0)
    data, _ = base.prepare(Spectrum(window_emulator.wave, np.ones(window_emulator.n_pix)))
    good = np.asarray(data.good)

    def norm_of(model):
        return jax.jit(
            lambda v: model.model_parts(
                window_emulator.params, Params(labels, 0.0, v, _flat(model)), data
            )[1]
        )

    def depth(model, vsini):
        return 1.0 - np.asarray(norm_of(model)(vsini))[good]

    plain = 1.0 - np.asarray(window_emulator.predict(labels), dtype=np.float64)[good]
    np.testing.assert_allclose(depth(base, 0.0), plain, atol=2e-3)
    assert depth(base, 40.0).max() < 0.8 * plain.max()
    lsf = ForwardModel(window_emulator, resolution=2000.0)
    assert depth(lsf, 0.0).max() < 0.8 * plain.max()
    # The deepest line core fills in as v sin i grows, smoothly enough for gradients.
    core = int(np.argmax(np.where(good, 1.0 - np.asarray(norm_of(base)(0.0)), -1.0)))
    core_flux = jax.jit(lambda v: norm_of(base)(v)[core])
    grad = float(jax.grad(core_flux)(20.0))
    numeric = float(core_flux(20.01) - core_flux(19.99)) / 0.02
    assert grad > 0
    np.testing.assert_allclose(grad, numeric, rtol=0.05)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"priors": {"mass": None}}, "unknown parameters"),
        ({"resolution": 1e6}, "sharper than the emulator"),
        ({"segments": ((5300.0, 5200.0),)}, "segments"),
        ({"rv_bounds": (10.0, -10.0)}, "rv_bounds"),
        ({"continuum_order": -1}, "continuum_order"),
        ({"jitter": -0.1}, "jitter"),
    ],
)
def test_bad_settings_are_refused(window_emulator, options, match):
    with pytest.raises(ValueError, match=match):
        ForwardModel(window_emulator, **options)


def test_user_prior_changes_the_log_prior(window_emulator):
    import numpyro.distributions as dist

    fm = ForwardModel(window_emulator, priors={"logg": dist.Normal(4.4, 0.1)})
    labels = interior_labels(fm, 1, seed=6)[0]
    near = labels.copy()
    near[1] = 4.4
    far = labels.copy()
    far[1] = 3.4
    lp = [float(fm.log_prior(Params(x, 0.0, 0.0, _flat(fm)))) for x in (near, far)]
    np.testing.assert_allclose(lp[0] - lp[1], 0.5 * (1.0 / 0.1) ** 2, rtol=1e-9)
