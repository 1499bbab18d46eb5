"""Sequence-level distillation: training sets of the teacher's generations."""

import keras
import numpy as np
import pytest

import keras_distill as kd
from tests.language_models import tiny

PROMPTS = ["airplane at", "a plane", "airport", "at air at", "plane"]


def _greedy_teacher():
    teacher = tiny.causal_lm(hidden=16, layers=2, seed=1,
                             vocabulary=tiny.GENERATION_VOCABULARY)
    # A larger end-token embedding: some continuations end early.
    embeddings = teacher.backbone.token_embedding.embeddings
    values = keras.ops.convert_to_numpy(embeddings).copy()
    values[-1] *= 3.0
    embeddings.assign(values)
    teacher.compile(sampler="greedy")
    return teacher


def _student():
    return tiny.causal_lm(hidden=8, seed=2, vocabulary=tiny.GENERATION_VOCABULARY)


def _arrays(dataset):
    batches = list(dataset.as_numpy_iterator())
    return tuple(
        {key: np.concatenate([b[0][key] for b in batches]) for key in batches[0][0]}
        if i == 0 else np.concatenate([b[i] for b in batches])
        for i in range(3)
    )


def test_the_sequences_are_the_teachers_greedy_continuations():
    teacher = _greedy_teacher()
    dataset = kd.generate_teacher_dataset(teacher, PROMPTS, batch_size=2)
    x, y, weights = _arrays(dataset)
    assert x["token_ids"].shape == (len(PROMPTS), tiny.SEQUENCE_LENGTH - 1)
    logits = keras.ops.convert_to_numpy(teacher(x))
    words = teacher.preprocessor.tokenizer
    ended = 0
    for row, prompt in enumerate(PROMPTS):
        prompt_length = 1 + len(keras.ops.convert_to_numpy(words(prompt)))  # start token
        # The prompt's tokens are read but never targets.
        assert not weights[row, : prompt_length - 1].any()
        generated = weights[row] == 1
        assert generated[prompt_length - 1]  # The first generated token.
        # Greedy: each generated token is the teacher's argmax after the
        # tokens before it; generation stops after an end token.
        np.testing.assert_array_equal(
            y[row][generated], logits[row][generated].argmax(-1))
        ends = np.flatnonzero(generated & (y[row] == words.end_token_id))
        if len(ends):
            ended += 1
            assert not generated[ends[0] + 1:].any()
            assert not x["padding_mask"][row][ends[0] + 2:].any()
    assert ended > 0
    # The same texts as the teacher's own generate().
    texts = teacher.generate(PROMPTS)
    for row, expected in enumerate(texts):
        ids = np.concatenate([x["token_ids"][row][x["padding_mask"][row]],
                              y[row][-1:][x["padding_mask"][row][-1:]]])
        decoded = np.asarray(words.detokenize(
            [int(i) for i in ids if i != words.end_token_id])).item()
        decoded = decoded.decode() if isinstance(decoded, bytes) else decoded
        assert decoded == str(expected)


def test_with_logits_the_student_trains_without_the_teacher_as_with_it():
    teacher = _greedy_teacher()
    plain = kd.generate_teacher_dataset(teacher, PROMPTS, batch_size=5)
    online = tiny.distiller(teacher, _student())
    expected = online.fit(plain, verbose=0).history
    cached = kd.generate_teacher_dataset(teacher, PROMPTS, batch_size=5, logits=True, verbose=0)
    offline = tiny.distiller(None, _student())
    history = offline.fit(cached, verbose=0).history
    np.testing.assert_allclose(history["student_loss"], expected["student_loss"], rtol=1e-5)
    np.testing.assert_allclose(
        history["distillation_loss"], expected["distillation_loss"], rtol=1e-4)


def test_what_cannot_generate_is_refused():
    teacher = _greedy_teacher()
    with pytest.raises(ValueError, match="teacher"):
        kd.generate_teacher_dataset(keras.Sequential([keras.layers.Dense(2)]), PROMPTS)
    with pytest.raises(ValueError, match="prompts"):
        kd.generate_teacher_dataset(teacher, "a plane")
    with pytest.raises(ValueError, match="dataset.save"):
        kd.generate_teacher_dataset(teacher, PROMPTS, path="/tmp/generations")
