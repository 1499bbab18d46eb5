"""The Distiller's loss equals a numpy reference, through real fit() calls."""

import keras
import numpy as np
import pytest

import keras_distill as kd
from tests.distiller import helpers as h


@pytest.mark.parametrize("temperature", [1.0, 4.0, 20.0])
def test_kl_divergence_matches_numpy_with_t_squared(temperature):
    rng = np.random.default_rng(0)
    t = rng.normal(size=(5, 7)) * 3
    s = rng.normal(size=(5, 7)) * 3
    got = kd.losses.kl_divergence(t, s, temperature)
    np.testing.assert_allclose(got, h.np_kd(t, s, temperature), rtol=1e-5, atol=1e-6)


def test_kl_divergence_is_stable_for_huge_logits():
    t = np.array([[1e4, -1e4, 0.0]], "float32")
    s = np.array([[-1e4, 1e4, 0.0]], "float32")
    got = np.asarray(kd.losses.kl_divergence(t, s, 1.0))
    np.testing.assert_allclose(got, h.np_kd(t, s, 1.0), rtol=1e-5)
    assert np.all(np.isfinite(got))


def test_kl_divergence_is_zero_for_equal_logits():
    t = np.random.default_rng(1).normal(size=(4, 5)).astype("float32")
    np.testing.assert_allclose(kd.losses.kl_divergence(t, t, 3.0), 0.0, atol=1e-6)


def _frozen_distiller(**compile_kwargs):
    """A Distiller whose optimizer never moves, so logged losses are exact."""
    teacher, student = h.teacher_and_student()
    distiller = kd.Distiller(teacher=teacher, student=student)
    compile_kwargs.setdefault("student_loss_fn", h.sparse_ce())
    distiller.compile(optimizer=h.frozen_optimizer(), **compile_kwargs)
    return distiller, teacher, student


def _fit_one_batch(distiller, x, y=None, sample_weight=None):
    history = distiller.fit(
        x, y, sample_weight=sample_weight, batch_size=len(x), epochs=1, verbose=0
    )
    return {k: v[0] for k, v in history.history.items()}


@pytest.mark.parametrize("temperature,alpha", [(1.0, 0.5), (4.0, 0.1), (20.0, 0.0)])
def test_fit_loss_equals_numpy_reference(temperature, alpha):
    x, y = h.data()
    distiller, teacher, student = _frozen_distiller(
        alpha=alpha,
        temperature=temperature,
    )
    logs = _fit_one_batch(distiller, x, y)
    t, s = teacher.predict(x, verbose=0), student.predict(x, verbose=0)
    kd_value = h.np_kd(t, s, temperature).mean()
    ce_value = h.np_sparse_ce(y, s).mean()
    np.testing.assert_allclose(logs["distillation_loss"], kd_value, rtol=1e-4)
    np.testing.assert_allclose(logs["student_loss"], ce_value, rtol=1e-4)
    np.testing.assert_allclose(
        logs["loss"], alpha * ce_value + (1 - alpha) * kd_value, rtol=1e-4
    )
    assert logs["temperature"] == pytest.approx(temperature)
    assert logs["alpha"] == pytest.approx(alpha)


def test_zero_sample_weight_removes_examples_from_every_term():
    x, y = h.data()
    teacher, student = h.teacher_and_student()
    distiller = kd.Distiller(teacher=teacher, student=student)
    distiller.compile(
        optimizer=h.frozen_optimizer(), student_loss_fn=h.sparse_ce(), temperature=2.0
    )
    weights = np.where(np.arange(len(x)) < 10, 1.0, 0.0).astype("float32")
    # Make the removed examples extreme so any leak would show.
    x_leaky = x.copy()
    x_leaky[10:] *= 100.0
    logs = _fit_one_batch(distiller, x_leaky, y, sample_weight=weights)
    t = teacher.predict(x[:10], verbose=0)
    s = student.predict(x[:10], verbose=0)
    np.testing.assert_allclose(
        logs["distillation_loss"], h.np_kd(t, s, 2.0).mean(), rtol=1e-4
    )
    np.testing.assert_allclose(logs["student_loss"], h.np_sparse_ce(y[:10], s).mean(), rtol=1e-4)


def test_fractional_sample_weights_give_weighted_mean():
    x, y = h.data(n=8)
    teacher, student = h.teacher_and_student()
    distiller = kd.Distiller(teacher=teacher, student=student)
    distiller.compile(optimizer=h.frozen_optimizer(), student_loss_fn=h.sparse_ce())
    weights = np.linspace(0.5, 2.0, len(x)).astype("float32")
    logs = _fit_one_batch(distiller, x, y, sample_weight=weights)
    t, s = teacher.predict(x, verbose=0), student.predict(x, verbose=0)
    expected = np.sum(weights * h.np_kd(t, s, 3.0)) / weights.sum()
    np.testing.assert_allclose(logs["distillation_loss"], expected, rtol=1e-4)


def test_keras_io_example_usage_and_semantics():
    """keras.io's Distiller: keras KLDivergence on softened probabilities * T^2."""
    x, y = h.data()
    teacher, student = h.teacher_and_student()
    distiller = kd.Distiller(student=student, teacher=teacher)
    distiller.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.0),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        distillation_loss_fn=keras.losses.KLDivergence(),
        alpha=0.1,
        temperature=10,
    )
    logs = _fit_one_batch(distiller, x, y)
    t, s = teacher.predict(x, verbose=0), student.predict(x, verbose=0)
    np.testing.assert_allclose(logs["distillation_loss"], h.np_kd(t, s, 10.0).mean(), rtol=1e-3)
    results = distiller.evaluate(x, y, verbose=0, return_dict=True)
    assert set(results) == {"loss", "student_loss", "sparse_categorical_accuracy"}
    expected_acc = np.mean(np.argmax(s, -1) == y)
    assert results["sparse_categorical_accuracy"] == pytest.approx(expected_acc)


def test_loss_is_alias_of_student_loss_fn():
    x, y = h.data()
    teacher, student = h.teacher_and_student()
    distiller = kd.Distiller(teacher=teacher, student=student)
    distiller.compile(optimizer=h.frozen_optimizer(), loss=h.sparse_ce(), alpha=1.0)
    logs = _fit_one_batch(distiller, x, y)
    s = student.predict(x, verbose=0)
    np.testing.assert_allclose(logs["loss"], h.np_sparse_ce(y, s).mean(), rtol=1e-4)
    with pytest.raises(ValueError, match="alias of `student_loss_fn`"):
        distiller.compile(loss=h.sparse_ce(), student_loss_fn=h.sparse_ce())


def test_without_labels_trains_on_distillation_alone():
    x, _ = h.data()
    teacher, student = h.teacher_and_student()
    distiller = kd.Distiller(teacher=teacher, student=student)
    distiller.compile(
        optimizer=h.frozen_optimizer(),
        metrics=["accuracy"],
        student_loss_fn=h.sparse_ce(),
        alpha=0.9,
        temperature=2.0,
    )
    logs = _fit_one_batch(distiller, x)
    t, s = teacher.predict(x, verbose=0), student.predict(x, verbose=0)
    np.testing.assert_allclose(logs["loss"], h.np_kd(t, s, 2.0).mean(), rtol=1e-4)
    assert "student_loss" not in logs and "accuracy" not in logs


def test_several_terms_are_weighted_and_logged_by_name():
    x, y = h.data()
    distiller, teacher, student = _frozen_distiller(
        distillation_loss_fn=[
            kd.losses.KLDivergence(),
            kd.losses.KLDivergence(temperature=1.0, name="kl_t1"),
        ],
        distillation_loss_weights=[1.0, 0.5],
        temperature=4.0,
    )
    logs = _fit_one_batch(distiller, x, y)
    t, s = teacher.predict(x, verbose=0), student.predict(x, verbose=0)
    kl4, kl1 = h.np_kd(t, s, 4.0).mean(), h.np_kd(t, s, 1.0).mean()
    np.testing.assert_allclose(logs["kl_divergence"], kl4, rtol=1e-4)
    np.testing.assert_allclose(logs["kl_t1"], kl1, rtol=1e-4)
    np.testing.assert_allclose(logs["distillation_loss"], kl4 + 0.5 * kl1, rtol=1e-4)


def test_student_loss_honours_ignore_class_mask():
    x, y = h.data()
    y = y.copy()
    y[::2] = -1  # Half the examples are unlabeled.
    teacher, student = h.teacher_and_student()
    distiller = kd.Distiller(teacher=teacher, student=student)
    distiller.compile(
        optimizer=h.frozen_optimizer(),
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, ignore_class=-1
        ),
    )
    logs = _fit_one_batch(distiller, x, y)
    s = student.predict(x, verbose=0)
    expected = h.np_sparse_ce(y[1::2], s[1::2]).mean()
    np.testing.assert_allclose(logs["student_loss"], expected, rtol=1e-4)
