"""`keras_distill.callbacks`: schedulers that set, validate and log values."""

import csv

import keras
import numpy as np
import pytest

import keras_distill as kd
from keras_distill.callbacks import AlphaScheduler
from keras_distill.callbacks import HyperparameterScheduler
from keras_distill.callbacks import TemperatureScheduler

X = np.random.default_rng(1).normal(size=(8, 4)).astype("float32")
Y = np.arange(8) % 3


def _distiller(**kwargs):
    keras.utils.set_random_seed(0)
    distiller = kd.Distiller(
        teacher=keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)]),
        student=keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)]),
        **kwargs,
    )
    distiller.compile(optimizer="sgd",
                      student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return distiller


def _fit(distiller, callbacks, epochs=3):
    return distiller.fit(X, Y, batch_size=4, epochs=epochs, verbose=0, callbacks=callbacks)


def test_epoch_schedules_are_applied_and_logged(tmp_path, capsys):
    csv_path = tmp_path / "log.csv"
    callbacks = [
        TemperatureScheduler(lambda epoch, temperature: temperature / 2, verbose=1),
        AlphaScheduler(lambda epoch: 0.25 * epoch),
        HyperparameterScheduler("kl_divergence_weight", lambda epoch, weight: weight + 1),
        keras.callbacks.CSVLogger(str(csv_path)),
    ]
    history = _fit(_distiller(temperature=8.0), callbacks).history

    expected = {
        "temperature": [4.0, 2.0, 1.0],
        "alpha": [0.0, 0.25, 0.5],
        "kl_divergence_weight": [2.0, 3.0, 4.0],
    }
    with open(csv_path) as file:
        rows = list(csv.DictReader(file))
    for key, values in expected.items():
        np.testing.assert_allclose(history[key], values, err_msg=key)
        np.testing.assert_allclose([float(row[key]) for row in rows], values, err_msg=key)
    assert "Epoch 2: TemperatureScheduler setting temperature to 2.0." in capsys.readouterr().out


def test_batch_update_accepts_a_keras_schedule():
    schedule = keras.optimizers.schedules.CosineDecay(4.0, decay_steps=4, alpha=0.25)
    seen = []
    callbacks = [
        TemperatureScheduler(schedule, update="batch"),
        keras.callbacks.LambdaCallback(
            on_train_batch_end=lambda batch, logs: seen.append(logs["temperature"])
        ),
    ]
    distiller = _distiller()
    history = _fit(distiller, callbacks).history

    steps = np.arange(6)
    expected = 4.0 * (0.75 * 0.5 * (1 + np.cos(np.pi * np.minimum(steps, 4) / 4)) + 0.25)
    np.testing.assert_allclose(seen, expected, rtol=1e-6)
    np.testing.assert_allclose(history["temperature"], expected[1::2], rtol=1e-6)
    # A second `fit` continues from the global step (6), not from 0.
    _fit(distiller, callbacks, epochs=1)
    np.testing.assert_allclose(seen[6:], [1.0, 1.0], rtol=1e-6)


@pytest.mark.parametrize(
    "scheduler, message",
    [
        (
            TemperatureScheduler(lambda epoch: 2.0 - epoch),
            r"`temperature` .* for epoch=2\. Received: temperature=0\.0\. Expected a finite",
        ),
        (
            AlphaScheduler(lambda step: 0.5 * step, update="batch"),
            r"`alpha` .* for step=3\. Received: alpha=1\.5\. Expected a finite number in \[0, 1\]",
        ),
        (
            HyperparameterScheduler("kl_divergence_weight", lambda epoch: -1.0),
            r"`kl_divergence_weight` .* for epoch=0\. Received: kl_divergence_weight=-1\.0",
        ),
        (
            TemperatureScheduler(lambda epoch: [1.0, 2.0]),
            r"for epoch=0\. Received: temperature=\[1\.0, 2\.0\]",
        ),
        (
            TemperatureScheduler(lambda epoch: "hot"),
            r"for epoch=0\. Received: temperature='hot'",
        ),
        (
            AlphaScheduler(lambda epoch: True),
            r"for epoch=0\. Received: alpha=True",
        ),
    ],
    ids=["zero_temperature", "alpha_above_one", "negative_weight", "list", "string", "bool"],
)
def test_invalid_values_name_the_epoch_or_step(scheduler, message):
    with pytest.raises(ValueError, match=message):
        _fit(_distiller(), [scheduler])


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda: TemperatureScheduler(lambda epoch: 1.0, update="step"),
            r"update='step'.*'epoch' or 'batch'",
        ),
        (lambda: TemperatureScheduler(4.0), r"Received: schedule=4\.0"),
        (lambda: HyperparameterScheduler(None, lambda epoch: 1.0), r"Received: name=None"),
    ],
    ids=["update", "schedule", "name"],
)
def test_invalid_arguments_are_rejected_at_construction(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_unknown_names_and_double_schedules_are_rejected_before_training():
    with pytest.raises(ValueError, match=r"name='temprature'.*'temperature', 'alpha'"):
        _fit(_distiller(), [HyperparameterScheduler("temprature", lambda epoch: 1.0)])
    in_step = _distiller(temperature=keras.optimizers.schedules.CosineDecay(4.0, 10))
    with pytest.raises(ValueError, match=r"`temperature` was given to the Distiller as a schedule"):
        _fit(in_step, [TemperatureScheduler(lambda epoch: 1.0)])
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"Expected a keras_distill\.Distiller"):
        model.fit(X, Y, verbose=0, callbacks=[TemperatureScheduler(lambda epoch: 1.0)])


def test_public_modules():
    assert kd.callbacks.__all__ == [
        "AlphaScheduler",
        "BackupAndRestore",
        "HyperparameterScheduler",
        "TemperatureScheduler",
    ]
    assert kd.schedules.CosineDecay is keras.optimizers.schedules.CosineDecay
    assert {"callbacks", "schedules"} <= set(kd.__all__)
