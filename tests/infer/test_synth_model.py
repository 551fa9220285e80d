"""The physics synthesizer as a forward model (its fits: benchmarks/check_synth_vs_emulator.py)."""

import numpy as np
import pytest

from jaxspec import Spectrum
from jaxspec.infer import ForwardModel, Params, SynthesizerModel
from jaxspec.labels import LabelSpace


@pytest.fixture(scope="module")
def synth_model():
    from jaxspec.synth import Synthesizer

    synth = Synthesizer(
        5160.0,
        5190.0,
        resolution=7500.0,
        bounds={"teff": (4500.0, 6500.0), "logg": (4.0, 4.6), "feh": (-1.5, 0.3)},
    )
    space = LabelSpace(("teff", "feh"), ("K", "dex"), (4500.0, -1.5), (6500.0, 0.3))
    return SynthesizerModel(synth, space, {"logg": 4.4, "alpha": 0.0, "vmic": 1.0})


def test_synthesizer_model_refuses_incomplete_or_unknown_labels():
    space = LabelSpace(("teff", "feh"), ("K", "dex"), (4500.0, -1.5), (6500.0, 0.3))
    with pytest.raises(ValueError, match="neither free nor fixed"):
        SynthesizerModel(None, space, {"logg": 4.4})
    odd = LabelSpace(("teff", "mass"), ("K", ""), (4500.0, 0.5), (6500.0, 2.0))
    with pytest.raises(ValueError, match="not synthesis labels"):
        SynthesizerModel(None, odd, {"logg": 4.4, "feh": 0.0, "alpha": 0.0, "vmic": 1.0})


@pytest.mark.slow
def test_forward_model_around_the_synthesizer_is_its_flux(synth_model):
    fm = ForwardModel(synth_model, rv_bounds=(-50.0, 50.0), continuum_order=1)
    labels = np.array([5600.0, -0.4])
    full = np.array([5600.0, 4.4, -0.4, 0.0, 1.0])
    expected, _ = synth_model.synthesizer.flux(full)
    wave = synth_model.wave
    data, _ = fm.prepare(Spectrum(wave, np.ones(wave.size)))
    cont = np.array([[1.0, 0.0]])
    _, norm, model_var = fm.model_parts((), Params(labels, 0.0, 0.0, cont), data)
    np.testing.assert_allclose(norm, expected, atol=1e-12)
    assert np.all(np.asarray(model_var) == 0.0)  # no emulator error term


@pytest.mark.slow
def test_synthesizer_of_a_cropped_emulator_covers_its_window(window_emulator):
    model = SynthesizerModel.from_emulator(window_emulator)
    np.testing.assert_allclose(model.wave, window_emulator.wave, rtol=1e-12, atol=0)
    assert model.label_names == window_emulator.label_names
