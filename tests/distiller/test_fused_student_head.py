"""A language-model student whose logits are never whole in a train step:
the step never calls the student's head, and it trains to the weights and
logs of the usual step; compiled metrics, other student losses and feature
terms keep the usual step."""

import keras
import numpy as np
import pytest

import keras_distill as kd
from tests.backends import BACKEND
from tests.distiller import helpers

TIME, VOCABULARY = 9, 13


def _token_model(hidden, seed, name, mask_zero=False, scale=0.05):
    keras.utils.set_random_seed(seed)
    initializer = keras.initializers.RandomNormal(stddev=scale)
    tokens = keras.Input((TIME,), dtype="int32")
    x = keras.layers.Embedding(
        VOCABULARY, hidden, embeddings_initializer=initializer, mask_zero=mask_zero
    )(tokens)
    x = keras.layers.Dense(hidden, activation="tanh", name="hidden")(x)
    logits = keras.layers.Dense(VOCABULARY, kernel_initializer=initializer, name="head")(x)
    return keras.Model(tokens, logits, name=name)


def _count_head_calls(model):
    return helpers.count_calls(model.get_layer("head"))


def _data(count=16):
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, VOCABULARY, size=(count, TIME)).astype("int32")
    weights = (rng.random((count, TIME)) > 0.25).astype("float32")
    return tokens, np.roll(tokens, -1, 1), weights


def _fit(student_loss_fn="cross_entropy", metrics=None, mask_zero=False, distillation_loss_fn=None,
         spy=False, jit_compile="auto", labels_shape="flat"):
    teacher = _token_model(16, seed=1, name="teacher", scale=1.0)
    student = _token_model(4, seed=2, name="student", mask_zero=mask_zero)
    calls = _count_head_calls(student) if spy else None
    if student_loss_fn == "cross_entropy":
        student_loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    distiller = kd.Distiller(
        teacher=teacher, student=student, student_loss_fn=student_loss_fn,
        distillation_loss_fn=distillation_loss_fn or kd.losses.KLDivergence(chunk_size=4),
        alpha=0.3, temperature=2.0,
    )
    distiller.compile(optimizer=keras.optimizers.SGD(0.5), metrics=metrics,
                      jit_compile=jit_compile)
    tokens, labels, weights = _data()
    if labels_shape == "trailing_axis":
        labels = labels[..., None]
    history = distiller.fit(tokens, labels, sample_weight=weights, batch_size=8, epochs=2,
                            shuffle=False, verbose=0).history
    return history, student.get_weights(), calls


def _assert_same_training(fused, usual):
    for key in ("loss", "student_loss", "distillation_loss"):
        np.testing.assert_allclose(fused[0][key], usual[0][key], rtol=1e-5)
    for a, b in zip(fused[1], usual[1]):
        np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("mask_zero", [False, True])
def test_the_students_head_is_never_called_and_training_is_the_usual_one(mask_zero):
    fused = _fit(mask_zero=mask_zero, spy=True)
    assert fused[2] == []
    usual = _fit(mask_zero=mask_zero, metrics=["sparse_categorical_accuracy"], spy=True)
    assert usual[2]  # Compiled metrics read the logits: the head runs.
    assert "sparse_categorical_accuracy" in usual[0]
    _assert_same_training(fused, usual)
    assert fused[0]["loss"][1] < fused[0]["loss"][0]  # It learns.


@pytest.mark.skipif(
    BACKEND == "torch",
    reason="jit_compile=True is torch.compile on PyTorch, whose chunks' loop is a Python loop",
)
def test_under_xla_the_chunks_run_in_a_loop_and_train_the_same():
    fused = _fit(jit_compile=True, spy=True)
    assert fused[2] == []
    _assert_same_training(fused, _fit(metrics=["sparse_categorical_accuracy"]))


def test_labels_with_a_trailing_axis_train_as_the_usual_step():
    fused = _fit(labels_shape="trailing_axis", spy=True)
    assert fused[2] == []
    _assert_same_training(fused, _fit(metrics=["sparse_categorical_accuracy"]))


def test_a_student_loss_given_as_a_function_keeps_the_usual_step():
    def cross_entropy(y_true, y_pred):
        return keras.losses.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)

    usual = _fit(student_loss_fn=cross_entropy, spy=True)
    assert usual[2]
    _assert_same_training(_fit(), usual)


def test_terms_other_than_one_kl_divergence_keep_the_usual_step():
    terms = [kd.losses.KLDivergence(chunk_size=4), kd.losses.JensenShannon()]
    assert _fit(distillation_loss_fn=terms, spy=True)[2]
    assert _fit(distillation_loss_fn=kd.losses.KLDivergence(chunk_size=None), spy=True)[2]


def test_without_a_student_loss_the_kl_term_alone_trains_the_usual_way():
    fused = _fit(student_loss_fn=None, spy=True)
    assert fused[2] == []
    usual = _fit(student_loss_fn=None, metrics=["sparse_categorical_accuracy"])
    _assert_same_training(fused, usual)
