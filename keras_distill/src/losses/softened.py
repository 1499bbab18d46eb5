"""Temperature softening, logit standardization, and the softmax-loss base."""

from keras import ops

from keras_distill.src.losses.base import DistillationLoss
from keras_distill.src.utils.errors import invalid_argument

# Added to the variance before the square root: keeps the gradient of the
# standard deviation finite when every logit of a row is equal.
_VARIANCE_EPSILON = 1e-12


def standardize_logits(logits, axis=-1):
    """Z-scores logits along `axis`: `(z - mean(z)) / std(z)`.

    Logit standardization (Sun et al., "Logit Standardization in Knowledge
    Distillation", CVPR 2024, https://arxiv.org/abs/2403.01427). The standard
    deviation is the unbiased one (divisor `K - 1`), as in the authors' code.
    Teacher and student are standardized separately, so the student matches
    the teacher's logit *relations* rather than their range.

    Args:
        logits: Tensor `(batch, ..., classes)`.
        axis: The class axis.

    Returns:
        Float32 tensor of the same shape, zero mean and unit std along `axis`.

    Example:

    >>> import numpy as np
    >>> np.round(np.asarray(standardize_logits(np.array([[1.0, 2.0, 3.0]]))), 4)
    array([[-1.,  0.,  1.]], dtype=float32)
    """
    logits = ops.cast(logits, "float32")
    num_classes = ops.cast(ops.shape(logits)[axis], "float32")
    centered = logits - ops.mean(logits, axis=axis, keepdims=True)
    variance = ops.sum(ops.square(centered), axis=axis, keepdims=True) / ops.maximum(
        num_classes - 1.0, 1.0
    )
    return centered / ops.sqrt(variance + _VARIANCE_EPSILON)


def soften(logits, temperature, standardize=False, axis=-1):
    """`logits / T` in float32, standardized first when `standardize`."""
    logits = ops.cast(logits, "float32")
    if standardize:
        logits = standardize_logits(logits, axis=axis)
    return logits / ops.cast(temperature, "float32")


def kl_from_log_probs(log_p, log_q, axis=-1):
    """`KL(p || q) = sum p (log p - log q)` from log-probabilities."""
    return ops.sum(ops.exp(log_p) * (log_p - log_q), axis=axis)


class SoftenedLoss(DistillationLoss):
    """Base of the terms that compare softmax distributions at temperature T.

    Checks the `standardize` option (logit standardization, Sun et al. CVPR
    2024) and passes it to the term's function with its other arguments.
    """

    def __init__(self, fn, temperature=None, standardize=False, name=None, output=None,
                 **kwargs):
        if not isinstance(standardize, bool):
            raise invalid_argument(
                "standardize",
                standardize,
                "True or False",
                "standardize=True z-scores each model's logits before the softmax.",
            )
        super().__init__(
            fn, temperature=temperature, name=name, output=output, standardize=standardize,
            **kwargs,
        )


def check_classes(term, shape, minimum, reason):
    """Raises when the static class axis of `shape` is below `minimum`."""
    if shape is None or shape[-1] is None or shape[-1] >= minimum:
        return
    raise ValueError(
        f"`{term.name}` needs at least {minimum} classes ({reason}). "
        f"Received: output shape={tuple(shape)}. Use a term for one-logit "
        "outputs instead, such as keras_distill.losses.BernoulliKLDivergence."
    )

