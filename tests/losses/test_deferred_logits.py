"""A teacher's logits from its last hidden states and its head, chunk by
chunk: the head's own logits, the chunked KL's values and gradient, and a
Distiller that never calls the teacher's head in a training step."""

import keras
import numpy as np
import pytest
from keras import ops

import keras_distill as kd
from keras_distill.src.losses.chunked import chunked_kl_divergence
from keras_distill.src.models.lm_head import DeferredLogits
from keras_distill.src.models.lm_head import find_linear_head
from tests.backends import value_and_gradient
from tests.distiller import helpers
from tests.losses.lm_heads import BATCH
from tests.losses.lm_heads import TIME
from tests.losses.lm_heads import VOCABULARY
from tests.losses.lm_heads import heads
from tests.losses.lm_heads import hidden_states


@pytest.mark.parametrize("name", ["dense", "tied", "untied_soft_cap"])
def test_deferred_logits_are_the_heads_logits_chunk_by_chunk(name):
    layer, call = heads()[name]
    hidden = hidden_states()
    expected = ops.convert_to_numpy(call(hidden))
    deferred = DeferredLogits(hidden, layer)
    assert deferred.shape == (BATCH, TIME, VOCABULARY)
    np.testing.assert_allclose(ops.convert_to_numpy(deferred.logits()), expected, atol=1e-5)
    np.testing.assert_allclose(
        ops.convert_to_numpy(deferred.logits(3, 4)), expected[:, 3:7], atol=1e-5
    )
    first = DeferredLogits(hidden, layer, count=10)
    assert first.shape == (BATCH, TIME, 10)
    np.testing.assert_allclose(ops.convert_to_numpy(first.logits()), expected[..., :10], atol=1e-5)


@pytest.mark.parametrize("chunk_size", [1, 4, 9])
def test_chunked_kl_of_deferred_logits_has_the_values_and_gradient_of_dense_ones(chunk_size):
    layer, call = heads()["untied_soft_cap"]
    hidden = hidden_states(1)
    teacher = ops.convert_to_numpy(call(hidden))
    student = np.random.default_rng(2).normal(size=teacher.shape).astype("float32")

    def total(teacher_logits):
        return lambda s: ops.sum(chunked_kl_divergence(teacher_logits, s, 2.0, chunk_size))

    value, gradient = value_and_gradient(total(DeferredLogits(hidden, layer)), student)
    dense_value, dense_gradient = value_and_gradient(total(teacher), student)
    np.testing.assert_allclose(value, dense_value, rtol=1e-5)
    np.testing.assert_allclose(gradient, dense_gradient, rtol=1e-5, atol=1e-7)


def _token_model(hidden, seed, name, linear_activation=False):
    keras.utils.set_random_seed(seed)
    tokens = keras.Input((TIME,), dtype="int32")
    x = keras.layers.Embedding(VOCABULARY, hidden)(tokens)
    x = keras.layers.Dense(hidden, activation="tanh")(x)
    logits = keras.layers.Dense(VOCABULARY, name="head")(x)
    if linear_activation:  # The same function, with no Dense last: not deferred.
        logits = keras.layers.Activation("linear")(logits)
    return keras.Model(tokens, logits, name=name)


def _fit(teacher, distillation_loss_fn=None):
    student = _token_model(4, seed=2, name="student")
    distiller = kd.Distiller(
        teacher=teacher, student=student, distillation_loss_fn=distillation_loss_fn,
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        alpha=0.3, temperature=2.0,
    )
    distiller.compile(optimizer=keras.optimizers.SGD(0.5))
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, VOCABULARY, size=(16, TIME)).astype("int32")
    history = distiller.fit(tokens, np.roll(tokens, -1, 1), batch_size=8, epochs=2,
                            verbose=0).history
    return history["loss"], student.get_weights()


def _count_head_calls(model):
    return helpers.count_calls(model.get_layer("head"))


def test_a_distiller_never_calls_the_teachers_head_and_trains_the_same():
    teacher = _token_model(16, seed=1, name="teacher")
    assert find_linear_head(teacher) is not None
    calls = _count_head_calls(teacher)
    deferred = _fit(teacher)
    assert calls == []
    reference = _token_model(16, seed=1, name="teacher", linear_activation=True)
    assert find_linear_head(reference) is None
    plain = _fit(reference)
    np.testing.assert_allclose(deferred[0], plain[0], rtol=1e-5)
    for a, b in zip(deferred[1], plain[1]):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_terms_that_read_whole_logits_run_the_teachers_head():
    teacher = _token_model(16, seed=1, name="teacher")
    calls = _count_head_calls(teacher)
    _fit(teacher, distillation_loss_fn=kd.losses.JensenShannon())
    assert calls  # Called (at least when the step was traced).


def test_classifiers_are_not_deferred():
    keras.utils.set_random_seed(0)
    classifier = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
    assert find_linear_head(classifier) is None
