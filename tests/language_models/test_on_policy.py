"""On-policy distillation: the teacher scores the student's own samples."""

import keras
import numpy as np
import pytest

import keras_distill as kd
from tests.language_models import tiny

TEMPERATURE = 2.0
PROMPTS = ["airplane at", "a plane", "airport at", "at"]
RESPONSES = ["airport", " air at air", "plane!", "airplane airport"]
DATA = {"prompts": PROMPTS, "responses": RESPONSES}
MAX_NEW_TOKENS = 3


class SpyTeacher:
    """A teacher that records the token ids it scores (run eagerly)."""

    def __init__(self, model):
        self.model = model
        self.seen = []

    def __call__(self, x, training=False):
        self.seen.append(keras.ops.convert_to_numpy(x["token_ids"]).copy())
        return self.model(x, training=False)


def _models():
    teacher = tiny.causal_lm(hidden=16, layers=2, seed=1, vocabulary=tiny.GENERATION_VOCABULARY)
    student = tiny.causal_lm(hidden=8, layers=1, seed=2, vocabulary=tiny.GENERATION_VOCABULARY)
    return teacher, student


def _distiller(teacher, student, on_policy, learning_rate=0.0, **kwargs):
    distiller = kd.Distiller(
        teacher=teacher, student=student, temperature=TEMPERATURE, alpha=0.3,
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        on_policy=on_policy, teacher_outputs="logits",  # (no first-batch check call)
    )
    distiller.compile(optimizer=keras.optimizers.SGD(learning_rate), **kwargs)
    return distiller


_ENCODED = {}


def _encoded(student):
    """The prompt/response batch as the student's preprocessor encodes it
    (encoded once: tests fit on the arrays, not on a text pipeline)."""
    if not _ENCODED:
        import tensorflow as tf

        from keras_distill.src.models import prompts

        x, y, weights = prompts.preprocess(
            student.preprocessor,
            {key: tf.constant(value) for key, value in DATA.items()},
        )
        _ENCODED["batch"] = (
            {key: keras.ops.convert_to_numpy(value) for key, value in x.items()},
            keras.ops.convert_to_numpy(y), keras.ops.convert_to_numpy(weights))
    return _ENCODED["batch"]


def _fit(distiller, batch_size, epochs=1):
    x, y, weights = _encoded(distiller.student)
    return distiller.fit(x, y, sample_weight=weights, batch_size=batch_size, shuffle=False,
                         epochs=epochs, verbose=0).history


def _greedy(student, x, weights):
    """NumPy greedy continuations: each new token is the student's argmax."""
    ids = x["token_ids"].copy()
    length = ids.shape[1]
    prompt = np.argmax(weights > 0, axis=1) + 1
    end = student.preprocessor.tokenizer.end_token_id
    done = np.zeros(len(ids), bool)
    for position in range(prompt.min(), length):
        logits = keras.ops.convert_to_numpy(student(
            {"token_ids": ids, "padding_mask": np.ones_like(ids, bool)}))
        for row in range(len(ids)):
            if position >= prompt[row] and not done[row]:
                ids[row, position] = logits[row, position - 1].argmax()
                done[row] = ids[row, position] == end
    return ids, prompt


def _log_softmax(z):
    return tiny.log_softmax(z.astype("float64"))


def test_the_teacher_scores_the_students_samples_and_the_loss_is_on_them_only():
    teacher, student = _models()
    spy = SpyTeacher(teacher)
    distiller = _distiller(spy, student, kd.OnPolicy(1.0, MAX_NEW_TOKENS, top_k=1),
                           run_eagerly=True)
    history = _fit(distiller, 4)
    x, _, weights = _encoded(student)
    expected, prompt = _greedy(student, x, weights)
    (seen,) = spy.seen
    positions = np.arange(seen.shape[1])[None, :]
    real = positions < (prompt + MAX_NEW_TOKENS)[:, None]
    end = student.preprocessor.tokenizer.end_token_id
    for row in range(len(seen)):  # Nothing after a generated end token.
        ends = np.flatnonzero((expected[row] == end) & (positions[0] >= prompt[row]))
        if len(ends):
            real[row, ends[0] + 1:] = False
    assert not real.all()  # Some continuations end early, some are cut.
    np.testing.assert_array_equal(np.where(real, seen, -1), np.where(real, expected, -1))
    # T^2 KL on the generated tokens only: each predicted from the one before.
    inputs = {"token_ids": seen, "padding_mask": real}
    t = _log_softmax(keras.ops.convert_to_numpy(teacher(inputs)) / TEMPERATURE)
    s = _log_softmax(keras.ops.convert_to_numpy(student(inputs)) / TEMPERATURE)
    kl = TEMPERATURE**2 * (np.exp(t) * (t - s)).sum(-1)
    generated = (positions >= prompt[:, None]) & real
    target = np.concatenate([generated[:, 1:], np.zeros_like(generated[:, :1])], axis=1)
    assert 0 < target.sum() < target.size
    np.testing.assert_allclose(
        history["distillation_loss"][0], (kl * target).sum() / target.sum(), rtol=1e-4,
        atol=1e-6)  # (float32 sums of values near 1e-3)
    # No student loss on a sampled batch: the loss is (1 - alpha) * KD.
    assert history["student_loss"][0] == 0.0
    np.testing.assert_allclose(history["loss"][0], 0.7 * history["distillation_loss"][0],
                               rtol=1e-5)


def test_a_seed_repeats_the_samples_and_another_seed_changes_them():
    def samples(seed):
        teacher, student = _models()
        spy = SpyTeacher(teacher)
        distiller = _distiller(spy, student, kd.OnPolicy(1.0, seed=seed, temperature=1.5),
                               run_eagerly=True)
        _fit(distiller, 4, epochs=2)
        return np.stack(spy.seen)

    first, again, other = samples(7), samples(7), samples(8)
    np.testing.assert_array_equal(first, again)
    assert (first != other).any()
    # Each step draws new samples: the two epochs see other continuations.
    assert (first[0] != first[1]).any()


def test_fraction_zero_is_off_policy_distillation_exactly():
    histories, weights = [], []
    for on_policy in (None, kd.OnPolicy(0.0, MAX_NEW_TOKENS, seed=0)):
        teacher, student = _models()
        distiller = _distiller(teacher, student, on_policy, learning_rate=0.1)
        histories.append(_fit(distiller, 2, epochs=2))
        weights.append(student.get_weights())
    for key in ("loss", "student_loss", "distillation_loss"):
        assert histories[0][key] == histories[1][key]
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_a_fraction_samples_some_batches_and_keeps_the_others():
    teacher, student = _models()
    spy = SpyTeacher(teacher)
    distiller = _distiller(spy, student, kd.OnPolicy(0.5, MAX_NEW_TOKENS, seed=3),
                           run_eagerly=True)
    _fit(distiller, 1, epochs=2)
    x, _, _ = _encoded(student)
    dataset = [x["token_ids"][i % 4] for i in range(8)]
    kept = [np.array_equal(seen[0], row) for seen, row in zip(spy.seen, dataset)]
    assert len(kept) == 8 and 0 < sum(kept) < 8


def test_the_sampling_state_is_trained_state_and_trains_under_compilation():
    teacher, student = _models()
    distiller = _distiller(teacher, student, kd.OnPolicy(1.0, MAX_NEW_TOKENS, seed=0),
                           learning_rate=0.1)
    before = [keras.ops.convert_to_numpy(v) for v in distiller._sampling.variables]
    history = _fit(distiller, 2, epochs=2)
    after = [keras.ops.convert_to_numpy(v) for v in distiller._sampling.variables]
    assert np.all(np.isfinite(history["loss"]))
    assert history["loss"][0] != history["loss"][1]
    # The sampler's seed advanced in the compiled step (JAX: in its state).
    assert any((a != b).any() for a, b in zip(before, after))
    ids = set(map(id, distiller.non_trainable_variables))
    assert all(id(v) in ids for v in distiller._sampling.variables)


def test_on_policy_round_trips_and_is_saved_with_the_distiller(tmp_path):
    on_policy = kd.OnPolicy(0.25, max_new_tokens=4, temperature=0.7, top_k=5, seed=11)
    again = kd.OnPolicy.from_config(on_policy.get_config())
    assert again.get_config() == on_policy.get_config()
    teacher, student = _models()
    distiller = _distiller(teacher, student, on_policy)
    path = str(tmp_path / "distiller.keras")
    distiller.save(path)
    loaded = keras.models.load_model(path)
    assert loaded._on_policy.get_config() == on_policy.get_config()


def test_what_cannot_sample_is_refused_before_any_step():
    teacher, student = _models()
    for kwargs, match in [({"fraction": 1.5}, "fraction"), ({"max_new_tokens": 0}, "max_new"),
                          ({"temperature": 0}, "temperature"), ({"top_k": 0}, "top_k")]:
        with pytest.raises(ValueError, match=match):
            kd.OnPolicy(**kwargs)
    with pytest.raises(ValueError, match="generates"):
        kd.Distiller(teacher=teacher, student=keras.Sequential([keras.layers.Dense(2)]),
                     on_policy=kd.OnPolicy())
    with pytest.raises(ValueError, match="teacher"):
        kd.Distiller(teacher=None, student=student, on_policy=kd.OnPolicy())
    with pytest.raises(ValueError, match="on_policy"):
        kd.Distiller(teacher=teacher, student=student, on_policy=0.5)
    x, y, weights = _encoded(student)
    cached = kd.cache_teacher_outputs(teacher, (x, y, weights), batch_size=4, verbose=0)
    distiller = _distiller(teacher, student, kd.OnPolicy(1.0))
    with pytest.raises(ValueError, match="cached batch"):
        distiller.fit(cached, verbose=0)
