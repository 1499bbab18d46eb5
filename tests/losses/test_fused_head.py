"""A student's LM head fused with its losses: per-position cross-entropy and
T^2-scaled KL against numpy, and the gradients of the hidden states and of
the head's weights against autodiff of the same losses on whole logits."""

import numpy as np
import pytest
from keras import ops

from keras_distill.src.losses.fused_head import head_losses
from keras_distill.src.losses.kd import kl_divergence
from keras_distill.src.models.lm_head import DeferredLogits
from tests.backends import value_and_gradient
from tests.losses import references
from tests.losses.lm_heads import BATCH
from tests.losses.lm_heads import TIME
from tests.losses.lm_heads import VOCABULARY
from tests.losses.lm_heads import heads
from tests.losses.lm_heads import hidden_states

TEMPERATURE = 2.0


def _case(name, seed=3):
    layer, call = heads()[name]
    rng = np.random.default_rng(seed)
    hidden = hidden_states(seed)
    labels = rng.integers(0, VOCABULARY, size=(BATCH, TIME)).astype("int32")
    teacher = rng.normal(size=(BATCH, TIME, VOCABULARY)).astype("float32") * 2
    upstream = rng.uniform(0.1, 1.0, size=(BATCH, TIME, 2)).astype("float32")
    return layer, call, hidden, labels, teacher, upstream


@pytest.mark.parametrize("name", ["dense", "tied", "untied_soft_cap"])
@pytest.mark.parametrize("chunk_size, sequential", [(1, True), (4, True), (9, True), (4, False)])
def test_head_losses_are_the_token_cross_entropy_and_kl_of_the_heads_logits(
    name, chunk_size, sequential
):
    layer, call, hidden, labels, teacher, _ = _case(name)
    logits = ops.convert_to_numpy(call(hidden)).astype("float64")
    cross_entropy, kl = head_losses(
        DeferredLogits(hidden, layer, trainable=True), labels, teacher, TEMPERATURE, chunk_size,
        sequential=sequential,
    )
    picked = np.take_along_axis(references.log_softmax(logits), labels[..., None], -1)[..., 0]
    np.testing.assert_allclose(ops.convert_to_numpy(cross_entropy), -picked, rtol=1e-5)
    np.testing.assert_allclose(
        ops.convert_to_numpy(kl), references.kl(teacher, logits, TEMPERATURE), rtol=1e-4,
        atol=1e-6,
    )


def test_head_losses_without_labels_or_teacher_are_zeros_there():
    layer, _, hidden, labels, teacher, _ = _case("dense")
    student = DeferredLogits(hidden, layer, trainable=True)
    cross_entropy, _ = head_losses(student, None, teacher, TEMPERATURE)
    _, kl = head_losses(student, labels, None, TEMPERATURE)
    assert not np.any(ops.convert_to_numpy(cross_entropy))
    assert not np.any(ops.convert_to_numpy(kl))


def _weighted_total(student, labels, teacher, upstream, fused, sequential=True):
    upstream = ops.convert_to_tensor(upstream)
    if fused:
        cross_entropy, kl = head_losses(
            student, labels, teacher, TEMPERATURE, chunk_size=4, sequential=sequential
        )
    else:
        logits = ops.cast(student.apply(student.hidden, student.kernel, student.bias), "float32")
        picked = ops.take_along_axis(logits, labels[..., None], axis=-1)[..., 0]
        cross_entropy = ops.logsumexp(logits, axis=-1) - picked
        kl = kl_divergence(teacher, logits, TEMPERATURE)
    return ops.sum(upstream[..., 0] * cross_entropy + upstream[..., 1] * kl)


@pytest.mark.parametrize(
    "name, wrt",
    [(name, wrt) for name in ("dense", "tied", "untied_soft_cap") for wrt in ("hidden", "kernel")]
    + [("dense", "bias")],
)
@pytest.mark.parametrize("sequential", [True, False])
def test_head_losses_gradients_are_those_of_the_losses_of_whole_logits(name, wrt, sequential):
    layer, _, hidden, labels, teacher, upstream = _case(name)
    weights = DeferredLogits(hidden, layer, trainable=True)
    start = ops.convert_to_numpy(getattr(weights, wrt))

    def total(fused):
        def function(value):
            student = DeferredLogits(hidden, layer, trainable=True)
            setattr(student, wrt, value)
            return _weighted_total(student, labels, teacher, upstream, fused, sequential)

        return function

    value, gradient = value_and_gradient(total(True), start)
    reference_value, reference_gradient = value_and_gradient(total(False), start)
    np.testing.assert_allclose(value, reference_value, rtol=1e-5)
    np.testing.assert_allclose(gradient, reference_gradient, rtol=1e-4, atol=1e-6)
    assert np.abs(gradient).max() > 1e-3  # The gradient is not trivially zero.
