"""Mixed precision: a float32 teacher, a mixed student, float32 KD math."""

import keras
import numpy as np
import pytest
from keras import ops

import keras_distill as kd
from keras_distill.src.losses.base import OUTPUTS
from tests.scale.scale_helpers import cross_entropy
from tests.scale.scale_helpers import kl_term


def _distiller(policy, **compile_kwargs):
    keras.utils.set_random_seed(0)
    teacher = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    student = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu", dtype=policy),
            keras.layers.Dense(3, dtype=policy),  # float16/bfloat16 logits.
        ]
    )
    distiller = kd.Distiller(teacher=teacher, student=student)
    distiller.compile(
        optimizer=keras.optimizers.Adam(0.01),
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        alpha=0.5,
        temperature=2.0,
        **compile_kwargs,
    )
    return distiller


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype("float32")
    return x, (np.arange(16) % 3).astype("int32")


@pytest.mark.parametrize(
    "policy, scaled", [("mixed_float16", True), ("mixed_bfloat16", False)]
)
def test_mixed_student_trains_without_nan_and_kd_math_is_float32(policy, scaled):
    distiller = _distiller(policy, jit_compile=True)
    # Loss scaling where float16 gradients can underflow; none for bfloat16.
    assert isinstance(distiller.optimizer, keras.optimizers.LossScaleOptimizer) == scaled
    x, y = _data()
    history = distiller.fit(x, y, batch_size=8, epochs=2, verbose=0).history
    assert np.all(np.isfinite(history["loss"]))
    assert history["loss"][1] < history["loss"][0]
    for weight in distiller.student.weights:
        assert weight.dtype == "float32"  # Master weights stay float32.
        assert np.all(np.isfinite(ops.convert_to_numpy(weight)))

    # The loss of a batch equals the float64 numpy value computed from the
    # same (low-precision) logits: the math after the logits is float32.
    teacher_logits = distiller.teacher(x)
    student_logits = distiller.student(x)
    assert keras.backend.standardize_dtype(student_logits.dtype) == policy[6:]
    loss = distiller.compute_loss(
        x=x,
        y=y,
        y_pred=student_logits,
        teacher_outputs={OUTPUTS: teacher_logits},
    )
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    low = ops.convert_to_numpy(ops.cast(student_logits, "float32"))
    expected = 0.5 * cross_entropy(low, y).mean() + 0.5 * kl_term(
        ops.convert_to_numpy(teacher_logits), low, 2.0
    ).mean()
    np.testing.assert_allclose(ops.convert_to_numpy(loss), expected, rtol=1e-5)


def test_large_float16_logits_stay_finite():
    """exp(30) overflows float16 (max 65504); the math is done in float32."""
    teacher = np.array([[30.0, 0.0, -30.0]], dtype="float32")
    student = np.array([[-30.0, 0.0, 30.0]], dtype="float16")
    value = kd.losses.kl_divergence(teacher, student, temperature=1.0)
    assert keras.backend.standardize_dtype(value.dtype) == "float32"
    np.testing.assert_allclose(
        ops.convert_to_numpy(value), kl_term(teacher, student, 1.0), rtol=1e-5
    )


def test_auto_scale_loss_false_keeps_the_optimizer():
    distiller = _distiller("mixed_float16", auto_scale_loss=False)
    assert isinstance(distiller.optimizer, keras.optimizers.Adam)
