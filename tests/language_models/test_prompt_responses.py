"""Prompt/response data: the prompt is read, only the response is a target."""

import keras
import numpy as np
import pytest

import keras_distill as kd
from keras_distill.src.models import prompts
from tests.language_models import tiny

TEMPERATURE = 2.0
ALPHA = 0.3
PROMPTS = ["airplane at", "a plane", "airport at airplane", "at"]
RESPONSES = ["airport", " air at air", "!", "airplane airport port"]


def _encode(model, prompt_texts=PROMPTS, response_texts=RESPONSES):
    import tensorflow as tf

    x, y, weights = prompts.preprocess(
        model.preprocessor,
        {"prompts": tf.constant(prompt_texts), "responses": tf.constant(response_texts)},
    )
    return ({key: keras.ops.convert_to_numpy(value) for key, value in x.items()},
            keras.ops.convert_to_numpy(y), keras.ops.convert_to_numpy(weights))


def test_only_labels_in_the_response_have_weight():
    model = tiny.causal_lm()
    words = model.preprocessor.tokenizer
    x, y, weights = _encode(model)
    length = tiny.SEQUENCE_LENGTH
    for row, (prompt, response) in enumerate(zip(PROMPTS, RESPONSES)):
        prompt_ids = list(keras.ops.convert_to_numpy(words(prompt)))
        response_ids = list(keras.ops.convert_to_numpy(words(response)))
        # GPT-2: the start and end tokens are both <|endoftext|> (id 0).
        sequence = [0] + prompt_ids + response_ids + [0]
        is_response = [False] * (1 + len(prompt_ids)) + [True] * (len(response_ids) + 1)
        if len(sequence) > length + 1:  # Round-robin truncation keeps both.
            continue
        padded = sequence + [0] * (length + 1 - len(sequence))
        np.testing.assert_array_equal(x["token_ids"][row], padded[:-1])
        np.testing.assert_array_equal(y[row], padded[1:])
        expected = (is_response + [False] * (length + 1 - len(sequence)))[1:]
        np.testing.assert_array_equal(weights[row], np.array(expected, "float32"))
        real = [True] * len(sequence) + [False] * (length + 1 - len(sequence))
        np.testing.assert_array_equal(x["padding_mask"][row], real[:-1])
    assert weights.sum() > 0 and (weights == 0).any()


def test_prompt_tokens_and_padding_never_reach_a_term_online_or_cached():
    teacher = tiny.causal_lm(hidden=16, layers=2, seed=1)
    student = tiny.causal_lm(hidden=8, layers=1, seed=2)
    distiller = tiny.distiller(teacher, student, alpha=ALPHA, temperature=TEMPERATURE)
    x, y, weights = _encode(student)
    t = tiny.log_softmax(keras.ops.convert_to_numpy(teacher(x)).astype("float64") / TEMPERATURE)
    logits = keras.ops.convert_to_numpy(student(x)).astype("float64")
    s = tiny.log_softmax(logits / TEMPERATURE)
    kl = TEMPERATURE**2 * (np.exp(t) * (t - s)).sum(-1)
    cross_entropy = -np.take_along_axis(tiny.log_softmax(logits), y[..., None], -1)[..., 0]
    expected_kl = (weights * kl).sum() / weights.sum()
    expected_ce = (weights * cross_entropy).sum() / weights.sum()
    data = {"prompts": PROMPTS, "responses": RESPONSES}
    history = distiller.fit(data, batch_size=4, verbose=0).history
    np.testing.assert_allclose(history["distillation_loss"][0], expected_kl, rtol=1e-4,
                               atol=1e-6)  # (float32 sums of values near 1e-3)
    np.testing.assert_allclose(history["student_loss"][0], expected_ce, rtol=1e-5)
    # Counting the prompt tokens too would be 100 times the tolerance off.
    unmasked = kl[x["padding_mask"]].mean(), cross_entropy[x["padding_mask"]].mean()
    assert abs(unmasked[0] - expected_kl) > 1e-2 * expected_kl
    assert abs(unmasked[1] - expected_ce) > 1e-3 * expected_ce
    # A cache of the same data trains the student as the teacher online.
    cached = kd.cache_teacher_outputs(teacher, data, batch_size=4, verbose=0)
    offline = tiny.distiller(None, student, alpha=ALPHA, temperature=TEMPERATURE)
    again = offline.fit(cached, verbose=0).history
    np.testing.assert_allclose(again["student_loss"], history["student_loss"], rtol=1e-5)
    np.testing.assert_allclose(
        again["distillation_loss"], history["distillation_loss"], rtol=1e-4, atol=1e-6)


def test_other_keys_and_labels_are_refused():
    distiller = tiny.distiller(tiny.causal_lm(hidden=16, seed=1), tiny.causal_lm(seed=2))
    with pytest.raises(ValueError, match="prompts"):
        distiller.fit({"prompts": PROMPTS, "answers": RESPONSES}, batch_size=4, verbose=0)
    with pytest.raises(ValueError, match="response is the target"):
        distiller.fit({"prompts": PROMPTS, "responses": RESPONSES}, np.zeros((4, 8)),
                      batch_size=4, verbose=0)
