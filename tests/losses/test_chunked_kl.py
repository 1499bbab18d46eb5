"""Token-level KL in chunks: the values and gradient of the plain formula."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_distill import losses as L
from keras_distill.src.losses import chunked
from keras_distill.src.losses.chunked import chunked_kl_divergence
from tests.backends import value_and_gradient


def _logits(seed, shape=(2, 37, 11), scale=3.0):
    return (np.random.default_rng(seed).normal(size=shape) * scale).astype("float32")


def _numpy_kl(t, s, temperature):
    def log_softmax(z):
        z = z / temperature
        z = z - z.max(-1, keepdims=True)
        return z - np.log(np.exp(z).sum(-1, keepdims=True))

    log_p, log_q = log_softmax(t.astype("float64")), log_softmax(s.astype("float64"))
    return temperature**2 * (np.exp(log_p) * (log_p - log_q)).sum(-1)


@pytest.mark.parametrize("chunk_size", [1, 8, 37, 64])
def test_values_and_gradient_equal_the_plain_formula(chunk_size):
    t, s = _logits(0), _logits(1)
    weights = np.random.default_rng(2).uniform(size=s.shape[:2]).astype("float32")
    temperature = 2.5

    def weighted(fn):
        return lambda x: ops.sum(ops.multiply(fn(x), ops.convert_to_tensor(weights)))

    value, gradient = value_and_gradient(
        weighted(lambda x: chunked_kl_divergence(t, x, temperature, chunk_size)), s
    )
    plain_value, plain_gradient = value_and_gradient(
        weighted(lambda x: L.kl_divergence(t, x, temperature)), s
    )
    np.testing.assert_allclose(value, (_numpy_kl(t, s, temperature) * weights).sum(), rtol=1e-5)
    np.testing.assert_allclose(value, plain_value, rtol=1e-6)
    # T * (softmax(s / T) - softmax(t / T)), scaled by each position's weight.
    np.testing.assert_allclose(gradient, plain_gradient, rtol=1e-5, atol=1e-7)


def test_a_bfloat16_teacher_is_read_chunk_by_chunk_in_float32():
    t, s = _logits(3), _logits(4)
    t16 = ops.cast(t, "bfloat16")
    rounded = ops.convert_to_numpy(ops.cast(t16, "float32"))
    values = ops.convert_to_numpy(chunked_kl_divergence(t16, s, 2.0, chunk_size=5))
    np.testing.assert_allclose(values, _numpy_kl(rounded, s, 2.0), rtol=1e-5, atol=1e-7)


def test_the_kl_term_chunks_sequence_logits_only():
    t, s = _logits(5), _logits(6)
    term = L.KLDivergence()
    assert term.chunk_size == "auto"
    assert chunked.auto_chunk_size(32000) == 16 and chunked.auto_chunk_size(128000) == 4
    np.testing.assert_allclose(
        ops.convert_to_numpy(term(t, s, temperature=3.0)), _numpy_kl(t, s, 3.0), rtol=1e-5
    )
    flat_t, flat_s = t.reshape(-1, 11), s.reshape(-1, 11)  # Not sequences: the plain formula.
    np.testing.assert_allclose(
        ops.convert_to_numpy(term(flat_t, flat_s, temperature=3.0)),
        _numpy_kl(flat_t, flat_s, 3.0),
        rtol=1e-5,
    )
    assert L.KLDivergence(chunk_size=None).get_config()["chunk_size"] is None
    with pytest.raises(ValueError, match="`chunk_size`.*Received: chunk_size=0"):
        L.KLDivergence(chunk_size=0)


def test_a_dynamic_time_axis_is_refused_by_the_chunked_function():
    with pytest.raises(ValueError, match="static time axis"):
        chunked_kl_divergence(
            keras.KerasTensor((2, None, 5)), keras.KerasTensor((2, None, 5)), 1.0
        )
