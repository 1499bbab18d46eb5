"""Schedules survive `.keras` saving and `BackupAndRestore` resumes."""

import keras
import numpy as np
import pytest

import keras_distill as kd

schedules = keras.optimizers.schedules


def _scheduled(make_distiller, seed=0):
    return make_distiller(
        seed=seed,
        temperature=schedules.CosineDecay(4.0, decay_steps=8, alpha=0.25),
        alpha=schedules.PiecewiseConstantDecay([3], [0.2, 0.6]),
        distillation_loss_weights=[schedules.ExponentialDecay(2.0, 4, 0.5)],
    )


def _fit(distiller, data, epochs, callbacks=()):
    x, y = data
    return distiller.fit(
        x, y, batch_size=4, epochs=epochs, shuffle=False, verbose=0, callbacks=list(callbacks)
    )


def test_keras_file_round_trip_keeps_schedules(make_distiller, data, tmp_path):
    distiller = _scheduled(make_distiller)
    _fit(distiller, data, epochs=1)
    path = str(tmp_path / "distiller.keras")
    distiller.save(path)
    loaded = keras.saving.load_model(path)

    for name in ("temperature", "alpha"):
        original, restored = distiller._schedules[name], loaded._schedules[name]
        assert type(restored) is type(original)
        assert restored.get_config() == original.get_config()
    assert sorted(loaded._schedules) == ["alpha", "kl_divergence_weight", "temperature"]
    assert loaded.get_config()["distillation_loss_weights"] == (
        distiller.get_config()["distillation_loss_weights"]
    )
    # Training continues from the saved step with the same schedule values.
    assert int(loaded.optimizer.iterations) == 2
    expected, got = _fit(distiller, data, epochs=1), _fit(loaded, data, epochs=1)
    for key in ("temperature", "alpha", "loss"):
        np.testing.assert_allclose(got.history[key], expected.history[key], rtol=1e-6)
    assert float(loaded.temperature) == pytest.approx(
        float(schedules.CosineDecay(4.0, decay_steps=8, alpha=0.25)(3))
    )


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 2:
            raise RuntimeError("Interrupted before epoch 2.")


def test_backup_and_restore_resumes_every_schedule(make_distiller, data, tmp_path):
    def callbacks():
        return [
            kd.callbacks.TemperatureScheduler(lambda epoch, temperature: temperature + 1.0),
            kd.callbacks.HyperparameterScheduler(
                "kl_divergence_weight", lambda step: 1.0 / (1.0 + step), update="batch"
            ),
        ]

    def make(seed):
        # Temperature by callback, alpha in the step, the weight by batch.
        return make_distiller(
            seed=seed, alpha=schedules.PiecewiseConstantDecay([2, 5], [0.1, 0.5, 0.9])
        )

    uninterrupted = make(seed=0)
    full = _fit(uninterrupted, data, epochs=4, callbacks=callbacks()).history

    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    first = keras.callbacks.History()
    with pytest.raises(RuntimeError, match="Interrupted"):
        _fit(make(seed=0), data, epochs=4, callbacks=[backup, *callbacks(), first, _Interrupt()])
    # A new process: models initialized differently, then restored.
    resumed = make(seed=1)
    second = _fit(resumed, data, epochs=4, callbacks=[backup, *callbacks()]).history

    assert len(first.history["loss"]) == 2 and len(second["loss"]) == 2
    for key in ("temperature", "alpha", "kl_divergence_weight", "loss"):
        np.testing.assert_allclose(
            first.history[key] + second[key], full[key], rtol=1e-6, err_msg=key
        )
    np.testing.assert_allclose(full["temperature"], [4.0, 5.0, 6.0, 7.0])
    assert int(resumed.optimizer.iterations) == 8
    for got, expected in zip(resumed.student.get_weights(), uninterrupted.student.get_weights()):
        np.testing.assert_allclose(got, expected, rtol=1e-6)
