"""A small spectral classifier trained once per session on spectra of the shipped FGK emulator.

The emulator (Teff 4000–7000 K, log g 1–5) stands in for a synthetic grid: it gives F, G and
K types of luminosity classes I–V in a second. The network is tiny and trained for a few
epochs; the tests check behaviour and margins over chance, not final accuracy.
"""

import numpy as np
import pytest

#: Spectra trained on (10 % of them held out for early stopping and temperature scaling).
N_TRAIN = 1500
#: Spectra never seen in training, for the accuracy test.
N_TEST = 150  # = the validation set size, so augment reuses its compiled ops
TRUNK = {"filters": (4, 8), "hidden": (64, 32)}


@pytest.fixture(scope="session")
def n_train() -> int:
    """Spectra the session classifier was given (the rest of emulator_spectra is unseen)."""
    return N_TRAIN


@pytest.fixture(scope="session")
def emulator_spectra():
    """(wave, resolution, flux (n, 857), teff, logg) of N_TRAIN + N_TEST emulator spectra."""
    from jaxspec.emulators import load_default

    em = load_default().crop(5150.0, 5350.0)
    rng = np.random.default_rng(11)
    lo, hi = np.asarray(em.label_space.lower), np.asarray(em.label_space.upper)
    labels = lo + (hi - lo) * rng.random((N_TRAIN + N_TEST, len(lo)))
    flux = np.asarray(em.predict(labels), dtype=np.float32)
    return em.wave, float(em.resolution), flux, labels[:, 0], labels[:, 1]


@pytest.fixture(scope="session")
def classifier(emulator_spectra):
    """A SpectralClassifier trained for 6 epochs (a few seconds once compiled)."""
    from jaxspec._train import TrainConfig
    from jaxspec.augment import AugmentConfig
    from jaxspec.classify import SpectralClassifier

    wave, resolution, flux, teff, logg = emulator_spectra
    return SpectralClassifier.fit_arrays(
        flux[:N_TRAIN],
        teff[:N_TRAIN],
        logg[:N_TRAIN],
        wave,
        resolution,
        augment_config=AugmentConfig(snr_range=(20.0, 200.0)),
        train_config=TrainConfig(batch_size=32, max_epochs=6, learning_rate=3e-3),
        trunk=TRUNK,
        seed=1,
        progress=False,
    )


@pytest.fixture(scope="session")
def test_spectra(emulator_spectra):
    """Held-out spectra at S/N 50 with the default augmentation otherwise:
    (flux, mask, teff, logg)."""
    import jax

    from jaxspec.augment import AugmentConfig, augment

    wave, resolution, flux, teff, logg = emulator_spectra
    aug = augment(
        jax.random.key(5),
        flux[N_TRAIN:],
        wave,
        AugmentConfig(snr_range=(50.0, 50.0)),
        resolution=resolution,
    )
    return np.asarray(aug.flux), np.asarray(aug.mask), teff[N_TRAIN:], logg[N_TRAIN:]


@pytest.fixture(scope="session")
def saved_classifier(classifier, tmp_path_factory):
    """(classifier, path of its saved file)."""
    path = tmp_path_factory.mktemp("classifier") / "classifier.h5"
    classifier.save(path)
    return classifier, path
