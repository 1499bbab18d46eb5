"""Scheduled hyperparameters take effect at the right step, without retracing."""

import keras
import numpy as np
import pytest
from keras import ops

import keras_distill as kd
from tests.backends import traced_step

STEPS = np.arange(6)  # 3 epochs of 2 batches of 4 examples.
BATCHES = [slice(0, 4), slice(4, 8)] * 3


def _fit(distiller, data, callbacks, epochs=3):
    x, y = data
    return distiller.fit(
        x, y, batch_size=4, epochs=epochs, shuffle=False, verbose=0, callbacks=callbacks
    )


def _assert_step_losses(reference, distiller, data, recorder, temperatures, alphas, weights):
    """Each step's loss equals the NumPy loss at that step's hyperparameters."""
    x, y = data
    teacher_weights = distiller.teacher.get_weights()
    for step, batch in zip(STEPS, BATCHES):
        expected = reference(
            teacher_weights, recorder.weights[step], x[batch], y[batch],
            temperatures[step], alphas[step], weights[step],
        )
        assert recorder.losses[step] == pytest.approx(expected, rel=1e-5), step


def test_keras_schedules_take_effect_at_every_step(make_distiller, data, recorder, reference):
    schedules = keras.optimizers.schedules
    distiller = make_distiller(
        temperature=schedules.CosineDecay(4.0, decay_steps=4, alpha=0.25),
        alpha=schedules.PiecewiseConstantDecay([1, 3], [0.9, 0.5, 0.1]),
        distillation_loss_weights=[schedules.ExponentialDecay(2.0, 1, 0.5)],
    )
    history = _fit(distiller, data, [recorder])

    cosine = 0.5 * (1 + np.cos(np.pi * np.minimum(STEPS, 4) / 4))
    temperatures = 4.0 * (0.75 * cosine + 0.25)
    alphas = np.select([STEPS <= 1, STEPS <= 3], [0.9, 0.5], 0.1)
    weights = 2.0 * 0.5**STEPS
    np.testing.assert_allclose(recorder.logged("temperature"), temperatures, rtol=1e-6)
    np.testing.assert_allclose(recorder.logged("alpha"), alphas, rtol=1e-6)
    _assert_step_losses(reference, distiller, data, recorder, temperatures, alphas, weights)
    # Epoch logs (History, CSVLogger, TensorBoard) hold each epoch's last step.
    np.testing.assert_allclose(history.history["temperature"], temperatures[1::2], rtol=1e-6)
    np.testing.assert_allclose(history.history["alpha"], alphas[1::2], rtol=1e-6)
    weight = distiller.hyperparameter_variable("kl_divergence_weight")
    assert float(weight) == pytest.approx(weights[-1])


def test_callbacks_take_effect_at_every_step(make_distiller, data, recorder, reference):
    distiller = make_distiller(temperature=8.0, alpha=0.5)
    callbacks = [
        kd.callbacks.TemperatureScheduler(lambda epoch, temperature: temperature / 2),
        kd.callbacks.AlphaScheduler(lambda step: 0.1 * step, update="batch"),
        recorder,
    ]
    _fit(distiller, data, callbacks)

    temperatures = np.repeat([4.0, 2.0, 1.0], 2)
    alphas = 0.1 * STEPS
    np.testing.assert_allclose(recorder.logged("temperature"), temperatures, rtol=1e-6)
    np.testing.assert_allclose(recorder.logged("alpha"), alphas, rtol=1e-6)
    _assert_step_losses(reference, distiller, data, recorder, temperatures, alphas, np.ones(6))


TRACES = {"kl_divergence": 0}


def counting_kl_divergence(teacher_logits, student_logits, temperature):
    """KL divergence that counts how often the train step is traced."""
    TRACES["kl_divergence"] += 1
    return kd.losses.kl_divergence(teacher_logits, student_logits, temperature)


@traced_step
def test_changing_values_never_retraces(make_distiller, data, recorder):
    TRACES["kl_divergence"] = 0
    distiller = make_distiller(
        distillation_loss_fn=kd.losses.DistillationLoss(
            counting_kl_divergence, name="kl_divergence"
        ),
        distillation_loss_weights=[lambda step: 1.0 + ops.cast(step, "float32")],
    )
    callbacks = [
        kd.callbacks.TemperatureScheduler(lambda epoch: 1.0 + epoch),
        kd.callbacks.AlphaScheduler(lambda step: 0.1 * step, update="batch"),
        recorder,
    ]
    _fit(distiller, data, callbacks)
    assert TRACES["kl_divergence"] == 1
    # A second `fit` with new values reuses the same train function.
    _fit(distiller, data, callbacks, epochs=1)
    assert TRACES["kl_divergence"] == 1
    np.testing.assert_allclose(
        recorder.logged("temperature"), [1, 1, 2, 2, 3, 3, 1, 1], rtol=1e-6
    )
    np.testing.assert_allclose(recorder.logged("alpha"), 0.1 * np.arange(8), rtol=1e-6)
    weight = distiller.hyperparameter_variable("kl_divergence_weight")
    assert float(weight) == 8.0  # 1 + the last step (7).
