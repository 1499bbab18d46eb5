"""A KerasHub `CausalLM` teacher distilled into a smaller one, from raw text."""

import keras
import numpy as np
import pytest

from tests.language_models import tiny

TEMPERATURE = 2.0
ALPHA = 0.3


def _distiller(teacher=None, student=None, **kwargs):
    teacher = teacher or tiny.causal_lm(hidden=16, layers=2, seed=1)
    student = student or tiny.causal_lm(hidden=8, layers=1, seed=2)
    return tiny.distiller(teacher, student, alpha=ALPHA, temperature=TEMPERATURE, **kwargs)


def _fit_arrays(distiller, batch_size, **kwargs):
    """`fit` on `tiny.TEXTS` preprocessed to arrays (no text pipeline)."""
    x, y, sample_weight = tiny.numpy_batch(distiller.student, tiny.TEXTS)
    return distiller.fit(
        x, y, sample_weight=sample_weight, batch_size=batch_size, verbose=0, **kwargs
    ).history


def _numpy_losses(teacher, student, texts, count=None):
    """Masked token KD and cross-entropy, per-token means over the weights."""
    x, y, weights = tiny.numpy_batch(student, texts)
    teacher_logits = keras.ops.convert_to_numpy(teacher(x)).astype("float64")
    student_logits = keras.ops.convert_to_numpy(student(x)).astype("float64")
    cross_entropy = -np.take_along_axis(tiny.log_softmax(student_logits), y[..., None], -1)[..., 0]
    if count is not None:
        teacher_logits, student_logits = teacher_logits[..., :count], student_logits[..., :count]
    log_t = tiny.log_softmax(teacher_logits / TEMPERATURE)
    log_s = tiny.log_softmax(student_logits / TEMPERATURE)
    kl = TEMPERATURE**2 * (np.exp(log_t) * (log_t - log_s)).sum(-1)
    assert weights.min() == 0.0 < weights.max()  # Some positions are padding.
    return (weights * kl).sum() / weights.sum(), (weights * cross_entropy).sum() / weights.sum()


def test_raw_text_trains_through_the_students_preprocessor():
    import tensorflow as tf

    distiller = _distiller()  # Learning rate 0: every fit sees the same weights.
    distillation, student = _numpy_losses(distiller.teacher, distiller.student, tiny.TEXTS)
    forms = {
        "list": (tiny.TEXTS, 8),
        "array": (np.array(tiny.TEXTS), 8),
        "dataset": (tf.data.Dataset.from_tensor_slices(tiny.TEXTS).batch(8), None),
    }
    histories = {}
    for form, (texts, batch_size) in forms.items():
        history = histories[form] = distiller.fit(texts, batch_size=batch_size, verbose=0).history
        np.testing.assert_allclose(
            history["distillation_loss"][0], distillation, rtol=1e-4, err_msg=form
        )
        np.testing.assert_allclose(history["student_loss"][0], student, rtol=1e-5, err_msg=form)
        np.testing.assert_allclose(
            history["loss"][0], ALPHA * student + (1 - ALPHA) * distillation, rtol=1e-5,
            err_msg=form,
        )
    # The preprocessor's own output, passed as data, gives the same losses.
    x, y, sample_weight = distiller.student.preprocessor(tiny.TEXTS)
    ready = distiller.fit(x, y, sample_weight=sample_weight, batch_size=8, verbose=0).history
    for key in ("loss", "student_loss", "distillation_loss"):
        np.testing.assert_allclose(ready[key], histories["list"][key], rtol=1e-6)


def test_padding_never_reaches_a_term():
    distiller = _distiller()
    x, y, sample_weight = tiny.numpy_batch(distiller.student, tiny.TEXTS)
    assert not x["padding_mask"].all()
    base = distiller.fit(x, y, sample_weight=sample_weight, batch_size=8, verbose=0).history
    garbage = dict(x, token_ids=np.where(x["padding_mask"], x["token_ids"], 5))
    changed = distiller.fit(
        garbage, y, sample_weight=sample_weight, batch_size=8, verbose=0
    ).history
    # Causal attention: the positions before the padding never see it.
    for key in ("distillation_loss", "student_loss"):
        np.testing.assert_allclose(changed[key], base[key], rtol=1e-5)


def test_the_students_logits_are_never_whole_and_it_trains_as_the_usual_step():
    fused = _distiller()
    assert fused._student_head is not None  # Backbone and tied token embedding.
    usual = _distiller()
    usual.compile(optimizer=keras.optimizers.SGD(0.5), metrics=["sparse_categorical_accuracy"])
    fused.compile(optimizer=keras.optimizers.SGD(0.5))
    runs = [_fit_arrays(model, 4, shuffle=False) for model in (fused, usual)]  # Two steps.
    assert "sparse_categorical_accuracy" in runs[1]  # The usual step ran there.
    # Chunked sums add float32 values in another order: about 1e-5 relative
    # on a loss of 1e-3 (a missing chunk or T^2 would be off by far more).
    for key in ("loss", "student_loss", "distillation_loss"):
        np.testing.assert_allclose(runs[0][key], runs[1][key], rtol=1e-4)
    for a, b in zip(fused.student.get_weights(), usual.student.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_raw_text_validation_data_evaluate_and_predict():
    distiller = _distiller()
    model, traces = distiller.student, []
    preprocess_samples = model.preprocess_samples
    # Python runs only while TensorFlow traces the preprocessing.
    model.preprocess_samples = lambda *args: traces.append(1) or preprocess_samples(*args)
    history = distiller.fit(
        tiny.TEXTS[:4], batch_size=4, validation_data=tiny.TEXTS[4:], verbose=0
    ).history
    _, student = _numpy_losses(distiller.teacher, distiller.student, tiny.TEXTS[4:])
    np.testing.assert_allclose(history["val_student_loss"][0], student, rtol=1e-5)
    results = distiller.evaluate(tiny.TEXTS[4:], batch_size=4, verbose=0, return_dict=True)
    np.testing.assert_allclose(results["student_loss"], student, rtol=1e-5)
    predictions = distiller.predict(tiny.TEXTS[4:], batch_size=4, verbose=0)
    x, _, _ = tiny.numpy_batch(distiller.student, tiny.TEXTS[4:])
    np.testing.assert_allclose(
        predictions, keras.ops.convert_to_numpy(distiller.student(x)), rtol=1e-5, atol=1e-6
    )
    # One trace for the training, validation, evaluation and prediction pipelines.
    assert len(traces) == 1
    # A changed preprocessor config is traced again.
    model.preprocessor.sequence_length = 6
    assert distiller.predict(tiny.TEXTS[4:], batch_size=4, verbose=0).shape[:2] == (4, 6)
    assert len(traces) == 2
    with pytest.raises(ValueError, match="validation_split"):
        distiller.fit(tiny.TEXTS, validation_split=0.25, verbose=0)


def test_different_vocabulary_sizes_are_refused_with_both_sizes():
    size = tiny.tokenizer().vocabulary_size()
    with pytest.raises(ValueError, match=rf"vocabulary sizes.*={size},.*={size - 1}"):
        _distiller(student=tiny.causal_lm(hidden=8, seed=2, vocabulary_size=size - 1))


def test_different_tokens_are_refused():
    swapped = dict(tiny.VOCABULARY)
    swapped["a"], swapped["i"] = swapped["i"], swapped["a"]
    with pytest.raises(ValueError, match="different tokenizer vocabularies.*first differing id"):
        _distiller(student=tiny.causal_lm(hidden=8, seed=2, vocabulary=swapped))


def test_an_embedding_padded_past_the_tokenizer_compares_the_tokenizers_ids():
    size = tiny.tokenizer().vocabulary_size()
    teacher = tiny.causal_lm(hidden=16, layers=2, seed=1, vocabulary_size=size + 7)
    distiller = _distiller(teacher=teacher)
    history = _fit_arrays(distiller, 8)
    distillation, _ = _numpy_losses(teacher, distiller.student, tiny.TEXTS, count=size)
    np.testing.assert_allclose(history["distillation_loss"][0], distillation, rtol=1e-4)


def test_the_distilled_student_generates_and_saves_to_a_preset(tmp_path):
    keras_hub = tiny.keras_hub
    distiller = _distiller()
    distiller.compile(optimizer=keras.optimizers.Adam(0.01))
    before = [w.copy() for w in distiller.student.get_weights()]
    _fit_arrays(distiller, 4, epochs=2)
    assert any(not np.array_equal(a, b) for a, b in zip(before, distiller.student.get_weights()))
    student = distiller.student
    assert isinstance(student.generate("air", max_length=8), str)
    student.save_to_preset(str(tmp_path / "student"))
    restored = keras_hub.models.CausalLM.from_preset(str(tmp_path / "student"))
    for got, expected in zip(restored.get_weights(), student.get_weights()):
        np.testing.assert_array_equal(got, expected)
    assert restored.preprocessor.tokenizer.get_vocabulary() == (
        student.preprocessor.tokenizer.get_vocabulary()
    )
