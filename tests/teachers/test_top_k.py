"""Top-k teacher logits: exact round trip, KL error bound on real logits, sequences."""

import numpy as np
import pytest
import tensorflow as tf

import keras_distill as kd
from tests.distiller import helpers as h


def np_softmax(z):
    return np.exp(h.log_softmax(np.asarray(z, "float64")))


def encode_decode(logits, k, fill="uniform", temperature=1.0):
    encoded = kd.teachers.top_k_logits(logits, k, fill=fill)
    return np.asarray(kd.teachers.dense_logits(encoded, logits.shape[-1], temperature))


@pytest.mark.parametrize("shape", [(6, 9), (2, 3, 9)])
def test_top_k_keeps_top_probabilities_and_tail_mass_at_t_1(shape):
    logits = np.random.default_rng(0).normal(size=shape).astype("float32") * 3
    k = 3
    p, p_hat = np_softmax(logits), np_softmax(encode_decode(logits, k))
    top = np.argsort(-logits, axis=-1)[..., :k]
    np.testing.assert_allclose(
        np.take_along_axis(p_hat, top, -1), np.take_along_axis(p, top, -1), atol=1e-6
    )
    tail = np.argsort(-logits, axis=-1)[..., k:]
    tail_hat = np.take_along_axis(p_hat, tail, -1)
    np.testing.assert_allclose(tail_hat, tail_hat[..., :1] * np.ones_like(tail_hat), atol=1e-7)
    # "drop": the teacher renormalized over its top k.
    p_drop = np_softmax(encode_decode(logits, k, fill="drop"))
    expected = np.take_along_axis(p, top, -1)
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(np.take_along_axis(p_drop, top, -1), expected, atol=1e-6)
    assert np.take_along_axis(p_drop, tail, -1).max() == 0.0


def test_top_k_kl_error_is_bounded_on_a_trained_digits_model():
    datasets = pytest.importorskip("sklearn.datasets")
    linear_model = pytest.importorskip("sklearn.linear_model")
    x, y = datasets.load_digits(return_X_y=True)
    x = x / 16.0
    teacher = linear_model.LogisticRegression(C=1.0, max_iter=200).fit(x[:800], y[:800])
    t = teacher.decision_function(x[800:]).astype("float32")  # Real logits.
    # Student: a weaker model (fewer examples, stronger regularization).
    student = linear_model.LogisticRegression(C=0.05, max_iter=200).fit(x[:200], y[:200])
    s = student.decision_function(x[800:]).astype("float32")
    num_classes = 10
    measured = {}
    for k in (1, 3, 5):
        for temperature in (1.0, 4.0):
            dense = np.asarray(kd.losses.kl_divergence(t, s, temperature))
            rebuilt = encode_decode(t, k, temperature=temperature)
            approx = np.asarray(kd.losses.kl_divergence(rebuilt, s, temperature))
            error = np.abs(approx - dense)
            measured[k, temperature] = error.mean() / dense.mean()
            if temperature == 1.0:
                # Exact tail mass m at T=1 gives, per example,
                # |error| <= m * (log(V - k) + range of log q over the tail).
                order = np.argsort(-t, -1)[:, k:]
                mass = np.take_along_axis(np_softmax(t), order, -1).sum(-1)
                log_q = np.take_along_axis(h.log_softmax(s.astype("float64")), order, -1)
                bound = mass * (np.log(num_classes - k) + np.ptp(log_q, axis=-1))
                assert np.all(error <= bound + 1e-4)
    # Measured mean relative errors (digits, 997 examples, 10 classes) at
    # T=1 / T=4: k=1: 6.9% / 21.7%, k=3: 1.0% / 7.2%, k=5: 0.23% / 2.8%.
    assert measured[5, 1.0] < 0.01 and measured[5, 4.0] < 0.05
    assert measured[3, 1.0] < 0.02 and measured[3, 4.0] < 0.10
    for temperature in (1.0, 4.0):
        assert measured[1, temperature] > measured[3, temperature] > measured[5, temperature]


def test_storage_per_example():
    assert kd.teachers.bytes_per_position(10) == 40
    assert kd.teachers.bytes_per_position(10, k=3) == 3 * (4 + 2) + 8
    assert kd.teachers.bytes_per_position(32000, k=8, fill="drop") == 48
    assert kd.teachers.bytes_per_position(100_000, k=8) == 8 * (4 + 4) + 8
    assert kd.teachers.bytes_per_position(32000, dtype="bfloat16") == 64000
    logits = np.zeros((4, 7, 50), "float32")
    encoded = kd.teachers.top_k_logits(logits, 5)
    stored = sum(np.asarray(v).nbytes for v in encoded.values()) / (4 * 7)
    assert stored == kd.teachers.bytes_per_position(50, k=5)


def test_cached_top_k_sequence_outputs_train_like_online():
    # (batch, time, vocab) outputs; with k = vocab - 1 the tail is one class,
    # so the uniform fill is exact and cached KD equals online KD.
    import keras

    vocab, steps = 5, 3

    def model(seed, units):
        keras.utils.set_random_seed(seed)
        return keras.Sequential(
            [keras.Input((steps, 4)), keras.layers.Dense(units, activation="relu"),
             keras.layers.Dense(vocab)]
        )

    x = np.random.default_rng(0).normal(size=(12, steps, 4)).astype("float32")
    data = tf.data.Dataset.from_tensor_slices(x).batch(6)
    teacher = model(1, 8)
    losses = []
    for train_data, top_k in ((data, None), (data, vocab - 1), (data, 2)):
        if top_k is not None:
            train_data = kd.cache_teacher_outputs(teacher, data, top_k=top_k, verbose=0)
        distiller = kd.Distiller(teacher=teacher, student=model(2, 4))
        distiller.compile(optimizer=h.frozen_optimizer(), temperature=2.0)
        losses.append(distiller.fit(train_data, epochs=1, verbose=0).history["loss"][0])
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)
    assert abs(losses[2] - losses[0]) < 0.2 * losses[0]
