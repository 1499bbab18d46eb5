"""A KerasHub teacher's outputs over a text corpus, cached, then distilled
into a student without the teacher (the usual offline setup)."""

import keras
import numpy as np
import pytest

import keras_distill as kd
from tests.language_models import tiny

tf = pytest.importorskip("tensorflow")


def _fit(teacher, student, x, y=None, **fit_kwargs):
    distiller = tiny.distiller(teacher, student, learning_rate=0.5)
    history = distiller.fit(x, y, epochs=2, verbose=0, **fit_kwargs).history
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
    batches = list(cached)
    assert len(batches) == 2
    x, expected_y, expected_weight = tiny.numpy_batch(teacher, tiny.TEXTS)
    logits = keras.ops.convert_to_numpy(teacher(x))
    for rows, (inputs, y, sample_weight) in zip((slice(0, 4), slice(4, 8)), batches):
        for key in ("token_ids", "padding_mask"):
            np.testing.assert_array_equal(inputs["__inputs__"][key], x[key][rows])
        np.testing.assert_array_equal(y, expected_y[rows])
        np.testing.assert_array_equal(sample_weight, expected_weight[rows])
        np.testing.assert_allclose(inputs["__teacher_outputs__"], logits[rows], atol=1e-6)
    # Online distillation on the same token ids, passed as arrays.
    online = _fit(teacher, tiny.causal_lm(hidden=8, seed=2), x, expected_y,
                  sample_weight=expected_weight, batch_size=4, shuffle=False)
    offline = _fit(None, tiny.causal_lm(hidden=8, seed=2), cached)
    _assert_same_training(offline, online)


def test_a_top_k_cache_keeps_the_teachers_largest_token_logits():
    teacher = tiny.causal_lm(hidden=16, layers=2, seed=1)
    x, y, sample_weight = tiny.numpy_batch(teacher, tiny.TEXTS)
    cached = kd.cache_teacher_outputs(
        teacher, (x, y, sample_weight), top_k=4, batch_size=8, verbose=0
    )
    ((inputs, _, _),) = list(cached)
    stored = inputs["__teacher_outputs__"]
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
    x, y, sample_weight = tiny.numpy_batch(teacher, tiny.TEXTS)
    cached = kd.cache_teacher_outputs(teacher, (x, y, sample_weight), batch_size=8, verbose=0)
    ((inputs, _, _),) = list(cached)
    assert inputs["__teacher_outputs__"].shape == (8, tiny.SEQUENCE_LENGTH, size)

    def student():
        return tiny.causal_lm(hidden=8, seed=2, vocabulary_size=size + 3)

    online = _fit(teacher, student(), x, y, sample_weight=sample_weight, batch_size=8,
                  shuffle=False)
    _assert_same_training(_fit(None, student(), cached), online)
