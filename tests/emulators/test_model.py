"""Emulator networks and the Emulator wrapper: shapes, transforms, gradients, label checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.test_util import check_grads

from jaxspec.emulators import ARCHITECTURES, Emulator, PayneMLP, Prediction, SmoothMLP
from jaxspec.emulators.networks import LEAKY_SLOPE, build_network, scale_labels
from jaxspec.errors import LabelRangeError
from jaxspec.labels import LabelSpace

SPACE = LabelSpace(
    ("teff", "logg", "feh", "alpha"),
    ("K", "dex", "dex", "dex"),
    (4000, 1, -2.5, -0.2),
    (7000, 5, 0.5, 0.6),
)
WAVE = np.linspace(5000.0, 5010.0, 40)
STARS = np.array([[5777.0, 4.44, 0.0, 0.0], [4500.0, 2.0, -1.0, 0.3], [6800.0, 4.0, 0.4, -0.1]])


@pytest.fixture(params=sorted(ARCHITECTURES))
def emulator(request):
    return Emulator.initialise(request.param, SPACE, WAVE, flux_mean=np.ones(40), seed=1)


def test_payne_is_the_published_architecture():
    net = build_network("payne", 4, 40)
    assert isinstance(net, PayneMLP)
    assert net.hidden1.kernel.shape == (4, 300)
    assert net.hidden2.kernel.shape == (300, 300)
    assert net.output.kernel.shape == (300, 40)
    # Leaky ReLU with The Payne's slope: a network with all-negative pre-activations.
    x = jnp.array([0.1, -0.2, 0.3, 0.0])
    h1 = net.hidden1(x)
    expected = jnp.where(h1 > 0, h1, LEAKY_SLOPE * h1)
    np.testing.assert_allclose(jax.nn.leaky_relu(h1, LEAKY_SLOPE), expected, rtol=1e-6)


def test_smooth_mlp_settings_and_unknown_names():
    net = build_network("smooth", 4, 40, {"hidden": 64, "layers": 2, "head": 16})
    assert isinstance(net, SmoothMLP)
    shapes = [layer.kernel.shape for layer in net.hidden]
    assert shapes == [(4, 64), (64, 64), (64, 16)] and net.output.kernel.shape == (16, 40)
    x = jnp.linspace(-0.5, 0.5, 4)
    h = x
    for layer in net.hidden:
        h = jax.nn.silu(layer(h))
    np.testing.assert_allclose(net(x), net.output(h), rtol=1e-6)
    with pytest.raises(ValueError, match="unknown emulator architecture 'cnn'"):
        build_network("cnn", 4, 40)
    with pytest.raises(ValueError, match="has no setting 'width'"):
        build_network("smooth", 4, 40, {"width": 3})
    with pytest.raises(ValueError, match="positive integer"):
        build_network("payne", 4, 40, {"hidden": 0})


def test_output_bias_starts_at_the_mean_spectrum():
    mean = np.linspace(0.5, 1.0, 40)
    emu = Emulator.initialise("payne", SPACE, WAVE, flux_mean=mean)
    net = nnx.merge(emu.graphdef, emu.params)
    np.testing.assert_allclose(net.output.bias[...], mean, rtol=1e-6)


def test_scaling_maps_the_box_to_plus_minus_half():
    lo, hi = np.array(SPACE.lower), np.array(SPACE.upper)
    np.testing.assert_allclose(scale_labels(lo, lo, hi), -0.5)
    np.testing.assert_allclose(scale_labels(hi, lo, hi), 0.5)


def test_predict_jit_vmap_and_batches_agree(emulator):
    one = np.stack([np.asarray(emulator.predict(s)) for s in STARS])
    batch = np.asarray(emulator.predict(STARS))
    vmapped = np.asarray(jax.vmap(emulator.flux_function())(jnp.asarray(STARS)))
    jitted = np.asarray(jax.jit(emulator.apply)(emulator.params, STARS))
    assert batch.shape == (3, 40) and batch.dtype == np.float32
    np.testing.assert_allclose(one, batch, rtol=2e-6, atol=2e-6)
    np.testing.assert_allclose(vmapped, batch, rtol=2e-6, atol=2e-6)
    np.testing.assert_allclose(jitted, batch, rtol=2e-6, atol=2e-6)
    spec = emulator(STARS[0])
    np.testing.assert_allclose(spec.flux, batch[0], rtol=2e-6, atol=2e-6)
    np.testing.assert_array_equal(spec.wave, WAVE)


def test_label_jacobian_matches_finite_differences(emulator):
    # In float64 weights (the math is the same) and unit-box labels, so one step suits all.
    params64 = jax.tree.map(lambda w: jnp.asarray(w, jnp.float64), emulator.params)

    def flux_of_unit(u):
        return emulator.apply(params64, SPACE.from_unit(u))

    u0 = SPACE.to_unit(jnp.asarray(STARS[1], dtype=jnp.float64))
    assert flux_of_unit(u0).dtype == jnp.float64
    check_grads(flux_of_unit, (u0,), order=2, modes=("fwd", "rev"), eps=1e-5)
    jac = np.asarray(emulator.jacobian(STARS))
    assert jac.shape == (3, 40, 4)
    # The float32 Jacobian of the public method agrees with the float64 one just checked.
    jac64 = jax.jacfwd(lambda x: emulator.apply(params64, x))(jnp.asarray(STARS[1]))
    np.testing.assert_allclose(jac[1], jac64, rtol=1e-3, atol=1e-4 * np.abs(jac64).max())


def test_labels_outside_the_box_raise_or_are_flagged(emulator):
    bad = np.array([[5000.0, 4.0, 0.0, 0.0], [8000.0, 4.0, -3.0, 0.0]])
    with pytest.raises(LabelRangeError, match=r"teff = 8000 K is outside \[4000, 7000\]"):
        emulator.predict(bad)
    with pytest.raises(LabelRangeError, match="extrapolate=True"):
        emulator.predict(bad[1])
    out = emulator.predict(bad, extrapolate=True)
    assert isinstance(out, Prediction)
    np.testing.assert_array_equal(np.asarray(out.outside), [False, True])
    assert out.flux.shape == (2, 40) and np.all(np.isfinite(out.flux))


def test_labels_on_the_box_edges_are_inside(emulator):
    edges = [list(SPACE.lower), list(SPACE.upper)]  # Python floats, as a user types them
    assert emulator.predict(edges).shape == (2, 40)
    np.testing.assert_array_equal(emulator.outside(edges), [False, False])
    assert emulator.jacobian(edges[0]).shape == (40, 4)


def test_jacobian_checks_the_box_and_traced_labels_are_refused(emulator):
    with pytest.raises(LabelRangeError, match="extrapolate=True"):
        emulator.jacobian([8000.0, 4.0, 0.0, 0.0])
    assert emulator.jacobian([8000.0, 4.0, 0.0, 0.0], extrapolate=True).shape == (40, 4)
    with pytest.raises(TypeError, match="Emulator.apply"):
        jax.jit(emulator.predict)(jnp.asarray(STARS[0]))


def test_bad_label_arrays_raise_clear_errors(emulator):
    with pytest.raises(ValueError, match=r"last axis of 4 \(teff, logg, feh, alpha\)"):
        emulator.predict(np.ones((2, 5)))
    with pytest.raises(ValueError, match="NaN or inf"):
        emulator.predict(np.array([5000.0, np.nan, 0.0, 0.0]))


def test_description(emulator):
    assert emulator.n_pix == 40 and emulator.label_names == SPACE.names
    assert emulator.n_params == sum(x.size for x in jax.tree.leaves(emulator.params))
    assert emulator.flops_per_spectrum() > 2 * 300 * 40 * (emulator.arch == "payne")
    assert emulator.arch in repr(emulator)
    with pytest.raises(ValueError, match="strictly increasing"):
        Emulator.initialise("payne", SPACE, WAVE[::-1])


def test_crop_keeps_exact_predictions_of_the_window(tiny_payne):
    lo, hi = tiny_payne.wave[20], tiny_payne.wave[80]
    window = tiny_payne.crop(lo, hi)
    assert window.n_pix == 61 and window.wave[0] == lo and window.wave[-1] == hi
    x = 0.5 * (np.asarray(tiny_payne.label_space.lower) + np.asarray(tiny_payne.label_space.upper))
    np.testing.assert_array_equal(
        np.asarray(window.predict(x)), np.asarray(tiny_payne.predict(x))[20:81]
    )
    if tiny_payne.pixel_error is not None:
        np.testing.assert_array_equal(window.pixel_error, tiny_payne.pixel_error[20:81])
    assert window.n_params < tiny_payne.n_params
    with pytest.raises(ValueError, match="at least two"):
        tiny_payne.crop(1000.0, 1001.0)
