"""Top-k teacher logits: compact storage and reconstruction of a distribution.

A cached teacher output of `classes` float32 logits per example (or per time
step) costs `4 * classes` bytes. Top-k storage keeps the `k` largest logits
(float32), their class indices (uint16, or int32 beyond 65,536 classes) and,
with `fill="uniform"`, two float32 summaries of the other logits (their
log-sum-exp and their mean): `6k + 8` bytes for up to 65,536 classes.

Reconstruction with `fill="uniform"` gives every class outside the top k the
same logit `r(T)`, chosen so the tail holds the right probability mass at the
step's temperature `T`. The tail mass at `T` is `(V - k) * exp(r(T) / T)`
with `r(T) = T * log(mean_j exp(l_j / T))`, the tail's log-mean-exp at `T`.
It is exact at `T = 1` (from the stored log-sum-exp) and, for a Gaussian
spread of tail logits with mean `m`, `r(T) = m + (r(1) - m) / T` exactly
(second cumulant), which is what is used at every `T`.
"""

import math

from keras import ops

VALUES = "top_k_logits"
INDICES = "top_k_indices"
TAIL = "tail_logsumexp"
TAIL_MEAN = "tail_mean"
FILLS = ("uniform", "drop")
# A finite "minus infinity": softmax gives it probability 0 at any sane
# temperature, and 0 * log(0)-style products stay finite (0, not NaN).
FLOOR = -1e9


def _index_dtype(num_classes):
    return "uint16" if num_classes <= 2**16 else "int32"


def bytes_per_position(num_classes, k=None, fill="uniform", dtype="float32"):
    """Bytes stored per example (per time step for sequences).

    Args:
        num_classes: Size of the class (vocabulary) axis.
        k: Number of logits kept, or None for dense storage.
        fill: `"uniform"` stores one extra float32 (the tail mass).
        dtype: Storage dtype of the logits.
    """
    value_size = {"float32": 4, "float16": 2, "bfloat16": 2}[dtype]
    if k is None:
        return num_classes * value_size
    index_size = 2 if _index_dtype(num_classes) == "uint16" else 4
    return k * (value_size + index_size) + (8 if fill == "uniform" else 0)


def is_top_k(value):
    """Whether `value` is a top-k structure (a dict with top-k keys)."""
    return isinstance(value, dict) and VALUES in value and INDICES in value


def _scatter_last_axis(base, indices, updates):
    """`base` with `base[..., indices[..., j]] = updates[..., j]`."""
    shape = ops.shape(base)
    num_classes = shape[-1]
    k = ops.shape(indices)[-1]
    flat_base = ops.reshape(base, (-1,))
    rows = ops.size(flat_base) // num_classes
    offsets = ops.expand_dims(ops.arange(rows, dtype="int32") * num_classes, -1)
    positions = ops.reshape(ops.reshape(indices, (rows, k)) + offsets, (-1, 1))
    flat = ops.scatter_update(flat_base, positions, ops.reshape(updates, (-1,)))
    return ops.reshape(flat, shape)


def top_k_logits(logits, k, fill="uniform", dtype="float32"):
    """Compresses logits to their `k` largest values and class indices.

    Args:
        logits: Tensor `(batch, ..., classes)`.
        k: Number of logits kept, `1 <= k < classes`.
        fill: `"uniform"` also keeps the log-sum-exp and the mean of the
            logits outside the top k, so `dense_logits` can restore the tail's
            probability mass (exactly at `T = 1`); `"drop"` keeps nothing more.
        dtype: Storage dtype of the kept logits.

    Returns:
        A dict `{"top_k_logits", "top_k_indices"[, "tail_logsumexp",
        "tail_mean"]}` with shapes `(batch, ..., k)` and `(batch, ...)`.
    """
    logits = ops.cast(logits, "float32")
    num_classes = logits.shape[-1]
    values, indices = ops.top_k(logits, k, sorted=True)
    indices = ops.cast(indices, "int32")
    encoded = {
        VALUES: ops.cast(values, dtype),
        INDICES: ops.cast(indices, _index_dtype(num_classes)),
    }
    if fill == "uniform":
        minus_inf = ops.full(ops.shape(values), -math.inf, dtype="float32")
        tail = _scatter_last_axis(logits, indices, minus_inf)
        encoded[TAIL] = ops.logsumexp(tail, axis=-1)
        top_sum = ops.sum(ops.cast(values, "float32"), axis=-1)
        encoded[TAIL_MEAN] = (ops.sum(logits, axis=-1) - top_sum) / (num_classes - k)
    return encoded


def dense_logits(encoded, num_classes, temperature=1.0):
    """Rebuilds dense teacher logits from a `top_k_logits` structure.

    The `k` kept logits are restored in place. Every other class gets the
    same logit: with a stored tail (`fill="uniform"`) it is `r(T)` (module
    docstring), so `softmax(logits / T)` has the teacher's top-k
    probabilities and spreads the remaining mass uniformly (exact at
    `T = 1`, approximate elsewhere); without one (`fill="drop"`) it is a
    large negative number, so the distribution is the teacher's renormalized
    over its top k.

    Args:
        encoded: Dict from `top_k_logits`.
        num_classes: Size of the class axis (the student's).
        temperature: The temperature the logits will be softened at.

    Returns:
        Float32 tensor `(batch, ..., num_classes)`.
    """
    values = ops.cast(encoded[VALUES], "float32")
    indices = ops.cast(encoded[INDICES], "int32")
    k = values.shape[-1]
    if TAIL in encoded:
        at_one = ops.cast(encoded[TAIL], "float32") - math.log(num_classes - k)
        mean = ops.cast(encoded[TAIL_MEAN], "float32")
        fill = mean + (at_one - mean) / ops.cast(temperature, "float32")
        # Never above the k-th logit (the tail is below it), never -inf.
        fill = ops.clip(fill, FLOOR, values[..., -1])
        fill = ops.expand_dims(fill, -1)
    else:
        fill = ops.full(ops.shape(values)[:-1] + (1,), FLOOR, dtype="float32")
    shape = tuple(ops.shape(values)[:-1]) + (num_classes,)
    return _scatter_last_axis(ops.broadcast_to(fill, shape), indices, values)
