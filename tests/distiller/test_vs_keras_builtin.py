"""Side by side with `keras.distillation`: where it is wrong, we are right.

Each test checks our value against a numpy reference and also checks that
Keras's built-in still shows the defect the README documents. If a built-in
assertion fails, Keras fixed that defect: update the README's comparison table.
"""

import keras
import numpy as np
import pytest

import keras_distill as kd
from tests.distiller import helpers as h

builtin = pytest.importorskip("keras.distillation")


def _builtin(teacher, student, temperature=4.0, loss="kl_divergence", **compile_kwargs):
    term = builtin.LogitsDistillation(temperature=temperature, loss=loss)
    distiller = builtin.Distiller(
        teacher=teacher, student=student, distillation_losses=term, student_loss_weight=0.0
    )
    distiller.compile(optimizer=h.frozen_optimizer(), loss=h.sparse_ce(), **compile_kwargs)
    return distiller, term


def _ours(teacher, student, temperature=4.0, **compile_kwargs):
    distiller = kd.Distiller(teacher=teacher, student=student)
    distiller.compile(
        optimizer=h.frozen_optimizer(),
        student_loss_fn=h.sparse_ce(),
        alpha=0.0,
        temperature=temperature,
        **compile_kwargs,
    )
    return distiller


def _loss(distiller, x, y, **kwargs):
    history = distiller.fit(x, y, batch_size=len(x), epochs=1, verbose=0, **kwargs)
    return history.history["loss"][0]


def test_default_kl_has_softmax_and_t_squared():
    x, y = h.data()
    teacher, student = h.teacher_and_student()
    t, s = teacher.predict(x, verbose=0), student.predict(x, verbose=0)
    reference = h.np_kd(t, s, 4.0).mean()
    np.testing.assert_allclose(_loss(_ours(teacher, student), x, y), reference, rtol=1e-4)
    builtin_distiller, _ = _builtin(teacher, student)
    assert not np.isclose(_loss(builtin_distiller, x, y), reference, rtol=1e-2)


def test_temperature_change_after_tracing_takes_effect():
    x, y = h.data()
    teacher, student = h.teacher_and_student()
    t, s = teacher.predict(x, verbose=0), student.predict(x, verbose=0)
    ours = _ours(teacher, student, temperature=2.0)
    _loss(ours, x, y)
    ours.temperature.assign(8.0)
    np.testing.assert_allclose(_loss(ours, x, y), h.np_kd(t, s, 8.0).mean(), rtol=1e-4)

    builtin_distiller, term = _builtin(teacher, student, temperature=2.0,
                                       loss=keras.losses.KLDivergence())
    first = _loss(builtin_distiller, x, y)
    term.temperature = 8.0  # Read as a Python float when the step was traced.
    assert _loss(builtin_distiller, x, y) == pytest.approx(first)


def test_sample_weight_applies_to_distillation():
    x, y = h.data()
    teacher, student = h.teacher_and_student()
    weights = (np.arange(len(x)) < 8).astype("float32")
    t, s = teacher.predict(x[:8], verbose=0), student.predict(x[:8], verbose=0)
    ours = _loss(_ours(teacher, student), x, y, sample_weight=weights)
    np.testing.assert_allclose(ours, h.np_kd(t, s, 4.0).mean(), rtol=1e-4)

    builtin_distiller, _ = _builtin(teacher, student, loss=keras.losses.KLDivergence())
    weighted = _loss(builtin_distiller, x, y, sample_weight=weights)
    unweighted = _loss(builtin_distiller, x, y)
    assert weighted == pytest.approx(unweighted)


class _Counter(keras.layers.Layer):
    calls = 0

    def call(self, inputs):
        _Counter.calls += 1
        return inputs


def test_evaluate_never_runs_the_teacher():
    x, y = h.data()
    inputs = keras.Input((h.NUM_FEATURES,))
    outputs = keras.layers.Dense(h.NUM_CLASSES)(_Counter()(inputs))
    teacher = keras.Model(inputs, outputs)
    _, student = h.teacher_and_student()
    for distiller, expected_calls in (
        (_ours(teacher, student, run_eagerly=True), 0),
        (_builtin(teacher, student, run_eagerly=True)[0], 1),
    ):
        _Counter.calls = 0
        distiller.evaluate(x, y, batch_size=len(x), verbose=0)
        assert _Counter.calls == expected_calls
