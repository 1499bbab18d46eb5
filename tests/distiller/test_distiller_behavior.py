"""Frozen teacher, student-only evaluation, variables without retracing."""

import keras
import numpy as np
import pytest
from keras import ops

import keras_distill as kd
from tests.backends import traced_step
from tests.distiller import helpers as h


class CallCounter(keras.layers.Layer):
    """Identity layer counting its calls in Python (use with run_eagerly)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.calls = 0

    def call(self, inputs):
        self.calls += 1
        return inputs


def _counted(model_units, name, seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((h.NUM_FEATURES,))
    counter = CallCounter(name=f"{name}_counter")
    hidden = keras.layers.Dense(model_units, activation="relu")(counter(inputs))
    hidden = keras.layers.BatchNormalization()(hidden)
    outputs = keras.layers.Dense(h.NUM_CLASSES)(hidden)
    return keras.Model(inputs, outputs, name=name), counter


def _compiled(teacher, student, **kwargs):
    distiller = kd.Distiller(teacher=teacher, student=student)
    distiller.compile(
        optimizer="adam",
        metrics=["accuracy"],
        student_loss_fn=h.sparse_ce(),
        temperature=4.0,
        **kwargs,
    )
    return distiller


def test_teacher_weights_and_batchnorm_stats_are_bit_identical_after_fit():
    x, y = h.data(64)
    teacher, student = h.teacher_and_student(batch_norm=True)
    before = [w.copy() for w in teacher.get_weights()]
    student_before = [w.copy() for w in student.get_weights()]
    distiller = _compiled(teacher, student)
    distiller.fit(x, y, batch_size=16, epochs=2, verbose=0)
    after = teacher.get_weights()
    assert len(before) == len(after) == 8  # 2 x Dense(2) + BN(4 incl. moving stats)
    for old, new in zip(before, after):
        np.testing.assert_array_equal(old, new)
    assert any(not np.array_equal(a, b) for a, b in zip(student_before, student.get_weights()))
    trainable = {id(v) for v in distiller.trainable_weights}
    assert trainable == {id(v) for v in student.trainable_weights}


def test_teacher_runs_once_per_step_and_never_in_evaluate_or_predict():
    x, y = h.data(32)
    teacher, teacher_counter = _counted(16, "teacher", seed=1)
    student, student_counter = _counted(3, "student", seed=2)
    distiller = _compiled(teacher, student, run_eagerly=True)
    distiller.fit(x[:8], y[:8], verbose=0)  # Builds metrics (JAX, PyTorch).
    teacher_counter.calls = student_counter.calls = 0  # Ignore builds.
    distiller.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert teacher_counter.calls == 4
    assert student_counter.calls == 4
    teacher_counter.calls = student_counter.calls = 0
    distiller.evaluate(x, y, batch_size=8, verbose=0)
    distiller.predict(x, batch_size=8, verbose=0)
    assert teacher_counter.calls == 0
    assert student_counter.calls == 8


def test_evaluate_uses_student_in_inference_mode_without_bn_updates():
    x, y = h.data(32)
    teacher, student = h.teacher_and_student(batch_norm=True)
    distiller = _compiled(teacher, student)
    distiller.fit(x, y, batch_size=16, epochs=1, verbose=0)
    before = [w.copy() for w in student.get_weights()]
    results = distiller.evaluate(x, y, verbose=0, return_dict=True)
    for old, new in zip(before, student.get_weights()):
        np.testing.assert_array_equal(old, new)
    logits = student.predict(x, verbose=0)
    np.testing.assert_allclose(
        results["student_loss"], h.np_sparse_ce(y, logits).mean(), rtol=1e-4
    )
    assert results["loss"] == pytest.approx(results["student_loss"])
    np.testing.assert_allclose(distiller.predict(x, verbose=0), logits, rtol=1e-6)
    # Python floats, read from the metrics (whose keys are those of the step).
    assert all(type(value) is float for value in results.values())
    assert distiller.get_metrics_result() == results


def test_history_keys():
    x, y = h.data(32)
    teacher, student = h.teacher_and_student()
    distiller = _compiled(teacher, student)
    history = distiller.fit(x, y, validation_data=(x, y), epochs=1, verbose=0)
    assert set(history.history) == {
        "loss",
        "student_loss",
        "distillation_loss",
        "accuracy",
        "temperature",
        "alpha",
        "val_loss",
        "val_student_loss",
        "val_accuracy",
    }
    assert history.history["val_loss"] == history.history["val_student_loss"]


TRACES = {"kl_divergence": 0}


def trace_counting_kl(teacher_logits, student_logits, temperature):
    TRACES["kl_divergence"] += 1  # Runs once per trace, not per step.
    return kd.losses.kl_divergence(teacher_logits, student_logits, temperature)


@traced_step
def test_assigning_temperature_changes_next_step_without_retracing():
    x, y = h.data(16)
    teacher, student = h.teacher_and_student()
    distiller = kd.Distiller(teacher=teacher, student=student)
    TRACES["kl_divergence"] = 0
    distiller.compile(
        optimizer=h.frozen_optimizer(),
        student_loss_fn=h.sparse_ce(),
        distillation_loss_fn=kd.losses.DistillationLoss(trace_counting_kl),
        temperature=2.0,
    )
    t, s = teacher.predict(x, verbose=0), student.predict(x, verbose=0)
    seen = []
    for temperature in (2.0, 5.0, 11.0):
        distiller.temperature.assign(temperature)
        history = distiller.fit(x, y, batch_size=16, epochs=1, verbose=0)
        seen.append(history.history["distillation_loss"][0])
        np.testing.assert_allclose(seen[-1], h.np_kd(t, s, temperature).mean(), rtol=1e-4)
    assert TRACES["kl_divergence"] == 1
    assert len(set(seen)) == 3


def test_alpha_variable_is_read_at_step_time():
    x, y = h.data(16)
    teacher, student = h.teacher_and_student()
    distiller = kd.Distiller(teacher=teacher, student=student)
    distiller.compile(optimizer=h.frozen_optimizer(), student_loss_fn=h.sparse_ce(), alpha=0.0)
    distiller.alpha.assign(1.0)
    history = distiller.fit(x, y, batch_size=16, epochs=1, verbose=0)
    s = student.predict(x, verbose=0)
    np.testing.assert_allclose(history.history["loss"][0], h.np_sparse_ce(y, s).mean(), rtol=1e-4)


def test_constructor_values_are_used_and_compile_overrides_them():
    teacher, student = h.teacher_and_student()
    distiller = kd.Distiller(teacher=teacher, student=student, temperature=7.0, alpha=0.3)
    distiller.compile(optimizer="sgd", student_loss_fn=h.sparse_ce())
    assert float(distiller.temperature.numpy()) == 7.0
    assert float(distiller.alpha.numpy()) == pytest.approx(0.3)
    distiller.compile(optimizer="sgd", temperature=2.0)
    assert float(distiller.temperature.numpy()) == 2.0
    assert float(distiller.alpha.numpy()) == pytest.approx(0.3)


def test_jit_compile_trains():
    x, y = h.data(32)
    teacher, student = h.teacher_and_student()
    distiller = _compiled(teacher, student, jit_compile=True)
    history = distiller.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert history.history["loss"][1] < history.history["loss"][0]


def test_terminate_on_nan_stops_training():
    x, y = h.data(32)
    inputs = keras.Input((h.NUM_FEATURES,))
    outputs = keras.layers.Lambda(lambda z: z[:, : h.NUM_CLASSES] * np.float32("nan"))(inputs)
    teacher = keras.Model(inputs, outputs, name="nan_teacher")
    _, student = h.teacher_and_student()
    distiller = _compiled(teacher, student)
    history = distiller.fit(
        x,
        y,
        batch_size=8,
        epochs=3,
        verbose=0,
        callbacks=[keras.callbacks.TerminateOnNaN()],
    )
    assert len(history.history["loss"]) == 1
    assert np.isnan(history.history["loss"][0])


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_student_with_float32_teacher(policy):
    x, y = h.data(32)
    teacher = h.mlp(16, "teacher", seed=1)
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        student = h.mlp(3, "student", seed=2)
        distiller = kd.Distiller(teacher=teacher, student=student)
        distiller.compile(optimizer="adam", student_loss_fn=h.sparse_ce(), temperature=4.0)
        history = distiller.fit(x, y, batch_size=8, epochs=2, verbose=0)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert teacher.dtype_policy.name == "float32"
    assert student.dtype_policy.name == policy
    assert np.all(np.isfinite(history.history["loss"]))
    if policy == "mixed_float16":
        assert isinstance(distiller.optimizer, keras.optimizers.LossScaleOptimizer)
    # The distillation math runs in float32 on the low-precision student
    # logits: the logged loss of a frozen step equals numpy on those logits.
    distiller.compile(
        optimizer=h.frozen_optimizer(), student_loss_fn=h.sparse_ce(), temperature=4.0,
        alpha=0.0,
    )
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        logs = distiller.fit(x, y, batch_size=len(x), epochs=1, verbose=0).history
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    t = teacher.predict(x, verbose=0)
    s = student(x)
    assert keras.backend.standardize_dtype(s.dtype) == policy.split("_")[1]
    s = ops.convert_to_numpy(ops.cast(s, "float32"))
    # bfloat16 keeps 8 bits of mantissa: a compiled step may round its logits
    # differently from the eager call.
    np.testing.assert_allclose(
        logs["distillation_loss"][0], h.np_kd(t, s.astype("float64"), 4.0).mean(),
        rtol=1e-4 if policy == "mixed_float16" else 3e-3,
    )
