"""The shared network trainer: it learns, keeps the best epoch, and resumes after a kill."""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jaxspec._train as train_module
from jaxspec._modelfile import flat_weights
from jaxspec._nn import ConvTrunk
from jaxspec._train import TrainConfig, train_network
from jaxspec.augment import NO_AUGMENTATION, AugmentConfig

N_PIX = 64


class _Net(nnx.Module):
    def __init__(self, seed=0):
        rngs = nnx.Rngs(seed)
        self.trunk = ConvTrunk(N_PIX, filters=(2, 4), hidden=(16, 8), rngs=rngs)
        self.head = nnx.Linear(8, 1, rngs=rngs)

    def __call__(self, x):
        return self.head(self.trunk(x))[:, 0]


def _loss(model, inputs, targets):
    return jnp.mean((model(inputs) - targets) ** 2)


def _data(n=160, seed=0):
    """Line depth → target: a Gaussian line whose depth is the label."""
    rng = np.random.default_rng(seed)
    wave = np.exp(np.linspace(np.log(5000), np.log(5010), N_PIX))
    depth = rng.uniform(0.1, 0.9, n)
    flux = 1 - depth[:, None] * np.exp(-0.5 * ((wave - 5005) / 0.4) ** 2)
    return wave, flux.astype(np.float32), (depth - 0.5).astype(np.float32)


EPOCHS = 6


def _run(checkpoint=None, epochs=EPOCHS, augment_config=NO_AUGMENTATION):
    wave, flux, y = _data()
    return train_network(
        _Net(),
        _loss,
        flux_train=flux[:128],
        targets_train=y[:128],
        flux_val=flux[128:],
        targets_val=y[128:],
        wave=wave,
        augment_config=augment_config,
        config=TrainConfig(batch_size=16, max_epochs=epochs, learning_rate=1e-2),
        checkpoint=checkpoint,
        progress=False,
    )


@pytest.fixture(scope="module")
def uninterrupted():
    return _run()


def test_training_lowers_the_loss_and_keeps_the_best_epoch(uninterrupted):
    res = uninterrupted
    losses = [h["val_loss"] for h in res.history]
    assert len(losses) == EPOCHS and res.n_train == 128
    assert losses[-1] < 0.5 * losses[0]
    assert res.best_val_loss == min(losses)
    assert res.history[res.best_epoch - 1]["val_loss"] == res.best_val_loss


def test_a_killed_run_resumes_to_the_uninterrupted_result(uninterrupted, tmp_path, monkeypatch):
    reference = flat_weights(nnx.split(uninterrupted.model)[1])
    ckpt = tmp_path / "run.ckpt.h5"
    real_save = train_module._save_checkpoint
    saves = []

    def save_then_die(path, leaves, meta):
        real_save(path, leaves, meta)
        saves.append(meta["epoch"])
        if len(saves) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "_save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        _run(checkpoint=ckpt)
    monkeypatch.setattr(train_module, "_save_checkpoint", real_save)
    with pytest.raises(ValueError, match="another training run"):
        _run(checkpoint=ckpt, augment_config=AugmentConfig(snr_range=(10.0, 20.0)))
    resumed = _run(checkpoint=ckpt)
    assert [h["epoch"] for h in resumed.history] == list(range(1, EPOCHS + 1))
    got = flat_weights(nnx.split(resumed.model)[1])
    for key, value in reference.items():
        np.testing.assert_allclose(got[key], value, rtol=1e-5, atol=1e-6)


def test_bad_settings():
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig(learning_rate=0.0)
    with pytest.raises(ValueError, match="n_pix >= pool"):
        ConvTrunk(2, pool=4, rngs=nnx.Rngs(0))
