"""A KerasHub teacher's outputs over a text corpus, cached, then distilled
into a student without the teacher (the usual offline setup)."""

import keras
import numpy as np
import pytest

import keras_distill as kd
from tests.language_models import tiny

tf = pytest.importorskip("tensorflow")


def _fit(teacher, student, data, **fit_kwargs):
    distiller = tiny.distiller(teacher, student, learning_rate=0.5)
    history = distiller.fit(data, epochs=2, verbose=0, **fit_kwargs).history
    return history, student.get_weights()


def _assert_same_training(got, expected):
    for key in ("loss", "student_loss", "distillation_loss"):  # Tiny untrained KL: atol too.
        np.testing.assert_allclose(got[0][key], expected[0][key], rtol=1e-5, atol=1e-7)
    for a, b in zip(got[1], expected[1]):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_a_cache_of_raw_text_trains_the_student_as_online_distillation(tmp_path):
    teacher = tiny.causal_lm(hidden=16, layers=2, seed=1)
    cached = kd.cache_teacher_outputs(
        teacher, tiny.TEXTS, path=tmp_path / "cache", batch_size=4, verbose=0
    )
    (first, y, sample_weight), second = list(cached)
    x, expected_y, expected_weight = tiny.numpy_batch(teacher, tiny.TEXTS[:4])
    for key in ("token_ids", "padding_mask"):
        np.testing.assert_array_equal(first["__inputs__"][key], x[key])
    np.testing.assert_array_equal(y, expected_y)
    np.testing.assert_array_equal(sample_weight, expected_weight)
    np.testing.assert_allclose(
        first["__teacher_outputs__"], keras.ops.convert_to_numpy(teacher(x)), atol=1e-6
    )
    online = _fit(teacher, tiny.causal_lm(hidden=8, seed=2), tiny.TEXTS, batch_size=4,
                  shuffle=False)
    offline = _fit(None, tiny.causal_lm(hidden=8, seed=2), cached)
    _assert_same_training(offline, online)


def test_a_top_k_cache_keeps_the_teachers_largest_token_logits():
    teacher = tiny.causal_lm(hidden=16, layers=2, seed=1)
    cached = kd.cache_teacher_outputs(teacher, tiny.TEXTS, top_k=4, batch_size=8, verbose=0)
    ((inputs, _, _),) = list(cached)
    stored = inputs["__teacher_outputs__"]
    x, _, _ = tiny.numpy_batch(teacher, tiny.TEXTS)
    logits = keras.ops.convert_to_numpy(teacher(x))
    order = np.argsort(-logits, axis=-1)[..., :4]
    np.testing.assert_array_equal(stored["top_k_indices"], order)
    np.testing.assert_allclose(
        stored["top_k_logits"], np.take_along_axis(logits, order, -1), atol=1e-6
    )
    history, _ = _fit(None, tiny.causal_lm(hidden=8, seed=2), cached)
    assert np.isfinite(history["loss"]).all()


def test_a_padded_teacher_embedding_is_cached_over_the_tokenizers_ids():
    size = tiny.tokenizer().vocabulary_size()
    teacher = tiny.causal_lm(hidden=16, layers=2, seed=1, vocabulary_size=size + 6)
    cached = kd.cache_teacher_outputs(teacher, tiny.TEXTS, batch_size=8, verbose=0)
    ((inputs, _, _),) = list(cached)
    assert inputs["__teacher_outputs__"].shape == (8, tiny.SEQUENCE_LENGTH, size)

    def student():
        return tiny.causal_lm(hidden=8, seed=2, vocabulary_size=size + 3)

    online = _fit(teacher, student(), tiny.TEXTS, batch_size=8, shuffle=False)
    _assert_same_training(_fit(None, student(), cached), online)
