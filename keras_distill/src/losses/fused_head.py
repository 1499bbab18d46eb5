"""A student's LM head fused with its losses: logits only chunk by chunk.

A language-model student's logits `(batch, time, vocabulary)` and their
gradient are each as large as everything else of a step together.
`head_losses` takes the student's last hidden states and the weights of its
linear head (`models/lm_head.py: DeferredLogits`, trainable) and computes,
one chunk of positions at a time, both per-position losses of a
distillation step:

- the hard-label cross-entropy `logsumexp(s) - s[y]` (what
  `keras.losses.SparseCategoricalCrossentropy(from_logits=True)` gives), and
- `T^2 * KL(softmax(t / T) || softmax(s / T))` against the teacher's logits
  (a tensor, or `DeferredLogits`).

Under `keras.ops.custom_gradient` the forward pass keeps nothing, and the
backward pass recomputes each chunk's logits to form the gradient of the
upstream-weighted sum with respect to the student's logits,

    g = u_ce * (softmax(s) - onehot(y)) + u_kl * T * (softmax(s / T) - softmax(t / T)),

(times `1 - tanh(z / c)^2` under a logit soft cap `c`), then the gradients
of the hidden states (`g W^T`, chunk by chunk) and of the head's weights
(`h^T g`, summed over chunks). With `sequential=True` the chunks run one
after the other in a loop (`keras.ops.fori_loop`) that carries only the
small gradients, so no tensor of the vocabulary's size per position
outlives a chunk, the student's logits included.
"""

from keras import ops

from keras_distill.src.losses.chunked import auto_chunk_size
from keras_distill.src.losses.softened import kl_from_log_probs
from keras_distill.src.models.lm_head import positions
from keras_distill.src.models.lm_head import time_slice


def _weight_gradient(equation, hidden, gradient):
    """The gradient of the head's kernel from one chunk."""
    if equation == "...d,vd->...v":  # A tied embedding `(vocabulary, features)`.
        return ops.einsum("btv,btd->vd", gradient, hidden)
    return ops.einsum("btd,btv->dv", hidden, gradient)


def _hidden_gradient(equation, gradient, kernel):
    if equation == "...d,vd->...v":
        return ops.einsum("btv,vd->btd", gradient, kernel)
    return ops.einsum("btv,dv->btd", gradient, kernel)


def head_losses(student, labels=None, teacher_logits=None, temperature=1.0,
                chunk_size="auto", sequential=True):
    """Per-position cross-entropy and KL term of a student's deferred logits.

    Args:
        student: `DeferredLogits(..., trainable=True)` of the student: hidden
            states `(batch, time, features)` with a static time axis.
        labels: Int tensor `(batch, time)` (or `(batch, time, 1)`) of class
            ids, or None (no cross-entropy).
        teacher_logits: Tensor `(batch, time, classes)` or `DeferredLogits`,
            or None (no KL term). Never differentiated.
        temperature: Float or scalar tensor > 0, for the KL term.
        chunk_size: Positions per chunk, or `"auto"` (`auto_chunk_size`).
        sequential: Whether the chunks run one after the other in a
            `keras.ops.fori_loop` (the least memory). False unrolls them,
            which TensorFlow without XLA runs faster (its loop updates the
            carried gradients without XLA), at the cost of chunks that may
            run at the same time.

    Returns:
        `(cross_entropy, kl)`: float32 tensors `(batch, time)`, zeros where
        `labels` or `teacher_logits` is None.
    """
    length = student.shape[1]
    if length is None or len(student.shape) != 3:
        raise ValueError(
            "head_losses needs (batch, time, features) hidden states with a "
            f"static time axis. Received: shape={tuple(student.hidden.shape)}."
        )
    classes = student.shape[-1]
    if chunk_size == "auto":
        chunk_size = auto_chunk_size(classes)
    chunk_size = min(chunk_size, length)
    temperature = ops.cast(ops.convert_to_tensor(temperature), "float32")
    if labels is not None:
        labels = ops.stop_gradient(ops.cast(labels, "int32"))
        if len(labels.shape) == 3 and labels.shape[-1] == 1:
            labels = ops.squeeze(labels, axis=-1)  # (batch, time, 1), as Keras's loss takes.
    equation, soft_cap = student.equation, student.soft_cap

    def each_chunk(body, state):
        """`state = body(start, size, state)` for each chunk, in order (in a
        loop when `sequential`: no two chunks' temporaries alive at once)."""
        full, tail = divmod(length, chunk_size)
        if not sequential:
            for index in range(full):
                state = body(index * chunk_size, chunk_size, state)
        else:
            state = ops.fori_loop(
                0, full, lambda index, state: body(index * chunk_size, chunk_size, state), state
            )
        return body(full * chunk_size, tail, state) if tail else state

    def logits_of(hidden, kernel, bias, start, size):
        """Float32 capped logits of a chunk, and the chunk's hidden states."""
        chunk = time_slice(hidden, start, size)
        return ops.cast(student.apply(chunk, kernel, bias), "float32"), chunk

    def teacher_probabilities(start, size, log=False):
        teacher = ops.cast(positions(teacher_logits, start, size), "float32") / temperature
        return ops.log_softmax(teacher, axis=-1) if log else ops.softmax(teacher, axis=-1)

    def chunk_values(logits, start, size):
        cross_entropy = kl = ops.zeros_like(logits[..., 0])
        if labels is not None:
            picked = ops.take_along_axis(logits, time_slice(labels, start, size)[..., None], -1)
            cross_entropy = ops.logsumexp(logits, axis=-1) - picked[..., 0]
        if teacher_logits is not None:
            log_q = ops.log_softmax(logits / temperature, axis=-1)
            kl = kl_from_log_probs(teacher_probabilities(start, size, log=True), log_q)
        return ops.stack([cross_entropy, kl * ops.square(temperature)], axis=-1)

    def chunk_gradient(logits, start, size, upstream):
        upstream = time_slice(upstream, start, size)
        gradient = ops.zeros_like(logits)
        if labels is not None:
            target = ops.one_hot(time_slice(labels, start, size), classes, dtype="float32")
            gradient += upstream[..., 0, None] * (ops.softmax(logits, axis=-1) - target)
        if teacher_logits is not None:
            q = ops.softmax(logits / temperature, axis=-1)
            gradient += (temperature * upstream[..., 1, None]) * (
                q - teacher_probabilities(start, size)
            )
        if soft_cap is not None:
            gradient *= 1.0 - ops.square(logits / soft_cap)
        return gradient

    def forward(hidden, kernel, *bias):
        bias = bias[0] if bias else None

        def values_of(start, size, values):
            logits, _ = logits_of(hidden, kernel, bias, start, size)
            return ops.slice_update(values, (0, start, 0), chunk_values(logits, start, size))

        batch = ops.shape(hidden)[0]
        values = each_chunk(values_of, ops.zeros((batch, length, 2), "float32"))

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            upstream = ops.cast(upstream, "float32")

            def gradients_of(start, size, state):
                hidden_gradient, kernel_gradient, bias_gradient = state
                logits, chunk = logits_of(hidden, kernel, bias, start, size)
                gradient = ops.cast(chunk_gradient(logits, start, size, upstream), kernel.dtype)
                hidden_gradient = ops.slice_update(
                    hidden_gradient, (0, start, 0),
                    ops.cast(_hidden_gradient(equation, gradient, kernel), hidden.dtype),
                )
                kernel_gradient += ops.cast(
                    _weight_gradient(equation, ops.cast(chunk, kernel.dtype), gradient), "float32"
                )
                if bias is not None:
                    bias_gradient += ops.cast(ops.sum(gradient, axis=(0, 1)), "float32")
                return hidden_gradient, kernel_gradient, bias_gradient

            bias_shape = () if bias is None else ops.shape(bias)  # () carries nothing.
            hidden_gradient, kernel_gradient, bias_gradient = each_chunk(gradients_of, (
                ops.zeros_like(hidden),
                ops.zeros(ops.shape(kernel), "float32"),
                ops.zeros(bias_shape, "float32"),
            ))
            gradients = (hidden_gradient, ops.cast(kernel_gradient, kernel.dtype))
            if bias is not None:
                gradients += (ops.cast(bias_gradient, bias.dtype),)
            return gradients

        return values, grad

    inputs = (student.hidden, student.kernel)
    if student.bias is not None:
        inputs += (student.bias,)
    values = ops.custom_gradient(forward)(*inputs)
    return values[..., 0], values[..., 1]
