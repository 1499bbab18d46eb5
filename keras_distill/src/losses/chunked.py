"""Token-level KL divergence in chunks along the sequence, memory-bounded.

For a language model the logits are `(batch, time, vocabulary)`, and every
float32 temporary of the plain formula (softened logits, log-softmax of each
model, their difference, the gradient's softmaxes) is as large as the logits
themselves. `chunked_kl_divergence` computes the same per-position values one
chunk of positions at a time, under `keras.ops.custom_gradient`: the forward
pass keeps nothing for the backward pass, and the backward pass recomputes
each chunk's two softmaxes to form the exact gradient with respect to the
student's logits,

    d/ds [T^2 * KL(softmax(t / T) || softmax(s / T))] = T * (softmax(s / T) - softmax(t / T)),

scaled by the upstream gradient of each position. Beyond the two logits
tensors (the teacher's in its own dtype, e.g. bfloat16) only that gradient
is full-size. The teacher gets no gradient (it is frozen).
"""

from keras import ops

from keras_distill.src.losses.softened import kl_from_log_probs
from keras_distill.src.losses.softened import soften
from keras_distill.src.models.lm_head import DeferredLogits
from keras_distill.src.models.lm_head import positions

# With `chunk_size="auto"`, the positions per chunk: about 2**19 logits per
# example (16 positions of a 32k vocabulary, 4 of a 128k one), so a float32
# temporary of a chunk is 2 MiB per example whatever the vocabulary.
_AUTO_CHUNK_ELEMENTS = 2**19


def auto_chunk_size(classes):
    """Positions per chunk for `classes` logits per position."""
    return max(1, _AUTO_CHUNK_ELEMENTS // int(classes))


def chunk_bounds(length, chunk_size):
    """`(start, end)` of each chunk of `chunk_size` positions of `length`."""
    return [(start, min(start + chunk_size, length)) for start in range(0, length, chunk_size)]


def _log_probabilities(logits, temperature):
    return ops.log_softmax(soften(logits, temperature), axis=-1)


def chunked_kl_divergence(teacher_logits, student_logits, temperature=1.0,
                          chunk_size="auto"):
    """Per-position `T^2 * KL(softmax(t / T) || softmax(s / T))`, in chunks.

    Equal to `kl_divergence` (same values, same gradient with respect to the
    student's logits) for `(batch, time, classes)` logits with a static
    `time` axis.

    Args:
        teacher_logits: Tensor `(batch, time, classes)`, any float dtype, or
            `DeferredLogits` of that shape.
        student_logits: Tensor of the same shape.
        temperature: Float or scalar tensor > 0.
        chunk_size: Positions of the time axis per chunk, or `"auto"`
            (`auto_chunk_size` of the class axis).

    Returns:
        Float32 tensor `(batch, time)`.
    """
    length = student_logits.shape[1]
    if length is None or len(student_logits.shape) != 3:
        raise ValueError(
            "chunked_kl_divergence needs (batch, time, classes) logits with a "
            f"static time axis. Received: shape={tuple(student_logits.shape)}. "
            "Use kl_divergence for other shapes."
        )
    if chunk_size == "auto":
        chunk_size = auto_chunk_size(student_logits.shape[-1])
    chunks = chunk_bounds(length, chunk_size)
    temperature = ops.cast(ops.convert_to_tensor(temperature), "float32")
    if not isinstance(teacher_logits, DeferredLogits):
        teacher_logits = ops.stop_gradient(ops.convert_to_tensor(teacher_logits))

    @ops.custom_gradient
    def forward(student_logits):
        values = []
        for start, end in chunks:
            log_p = _log_probabilities(positions(teacher_logits, start, end - start), temperature)
            log_q = _log_probabilities(student_logits[:, start:end], temperature)
            values.append(kl_from_log_probs(log_p, log_q))
        values = ops.concatenate(values, axis=1) * ops.square(temperature)

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            upstream = ops.cast(upstream, "float32")
            gradients = []
            for start, end in chunks:
                teacher = positions(teacher_logits, start, end - start)
                p = ops.exp(_log_probabilities(teacher, temperature))
                q = ops.exp(_log_probabilities(student_logits[:, start:end], temperature))
                scale = temperature * upstream[:, start:end, None]
                gradients.append(ops.cast((q - p) * scale, student_logits.dtype))
            return ops.concatenate(gradients, axis=1)

        return values, grad

    return forward(student_logits)

